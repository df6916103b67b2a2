/*
 * bisect.c: buckets, thresholds and leaves of checksum mode (see bisect.h).
 */
#include <stdlib.h>
#include <string.h>

#include "bisect.h"
#include "buf.h"

int
buckets_differ(const vbucket *a, int na, const vbucket *b, int nb, int *out,
			   long long *an, long long *bn)
{
	int n = 0;

	/* every bucket number of either side, once, ascending */
	for (int k = 0; k < na + nb; k++)
	{
		int num = k < na ? a[k].b : b[k - na].b;
		const vbucket *x = NULL, *y = NULL;
		bool seen = false;

		for (int i = 0; i < n && !seen; i++)
			seen = out[i] == num;
		for (int i = 0; i < na && x == NULL; i++)
			if (a[i].b == num)
				x = &a[i];
		for (int i = 0; i < nb && y == NULL; i++)
			if (b[i].b == num)
				y = &b[i];
		if (seen || (x && y && x->n == y->n && strcmp(x->sum, y->sum) == 0))
			continue;
		/* keep out sorted */
		int at = n;

		while (at > 0 && out[at - 1] > num)
		{
			out[at] = out[at - 1];
			an[at] = an[at - 1];
			bn[at] = bn[at - 1];
			at--;
		}
		out[at] = num;
		an[at] = x ? x->n : 0;
		bn[at] = y ? y->n : 0;
		n++;
	}
	return n;
}

int
key_cmp(const char *a, const char *b, bool numeric)
{
	if (numeric)
	{
		long long x = strtoll(a, NULL, 10), y = strtoll(b, NULL, 10);

		return x < y ? -1 : x > y;
	}
	return strcmp(a, b);
}

static bool sort_numeric;

static int
cmp_str(const void *a, const void *b)
{
	return key_cmp(*(char *const *) a, *(char *const *) b, sort_numeric);
}

int
thresholds_clean(char **t, int m, const char *lo, const char *hi, bool numeric)
{
	int n = 0;

	sort_numeric = numeric;
	qsort(t, (size_t) m, sizeof *t, cmp_str);
	for (int i = 0; i < m; i++)
	{
		bool keep = (n == 0 || key_cmp(t[n - 1], t[i], numeric) != 0) &&
			(lo == NULL || key_cmp(t[i], lo, numeric) > 0) &&
			(hi == NULL || key_cmp(t[i], hi, numeric) < 0);

		if (keep)
			t[n++] = t[i];
		else
			free(t[i]);
	}
	return n;
}

void
bucket_range(const char *lo, const char *hi, char *const *t, int m, int i,
			 const char **blo, const char **bhi)
{
	*blo = i == 0 ? lo : t[i - 1];
	*bhi = i == m ? hi : t[i];
}

static int
cmp_leaf(const void *a, const void *b)
{
	return key_cmp(((const vleaf *) a)->key, ((const vleaf *) b)->key, sort_numeric);
}

void
leaf_diff(vleaf *a, int na, vleaf *b, int nb, bool numeric, leaf_fn fn, void *ctx)
{
	int i = 0, j = 0;

	sort_numeric = numeric;
	qsort(a, (size_t) na, sizeof *a, cmp_leaf);
	qsort(b, (size_t) nb, sizeof *b, cmp_leaf);
	while (i < na || j < nb)
	{
		int c = i >= na ? 1 : j >= nb ? -1 : key_cmp(a[i].key, b[j].key, numeric);

		if (c < 0)
			fn(ctx, VD_MISSING, &a[i++], NULL);
		else if (c > 0)
			fn(ctx, VD_EXTRA, NULL, &b[j++]);
		else
		{
			if (strcmp(a[i].hash, b[j].hash) != 0)
				fn(ctx, VD_DIFFERENT, &a[i], &b[j]);
			i++;
			j++;
		}
	}
}

void
leaf_free(vleaf *rows, int n)
{
	for (int i = 0; rows && i < n; i++)
	{
		free(rows[i].key);
		free(rows[i].uuid);
	}
	free(rows);
}

typedef struct seg
{
	char *lo;               /* NULL: unbounded */
	char *hi;
	long long ns;           /* rows on each side */
	long long nd;
} seg;

typedef struct segstack
{
	seg *s;
	int n;
	int cap;
} segstack;

static void
push(segstack *st, const char *lo, const char *hi, long long ns, long long nd)
{
	if (st->n == st->cap)
	{
		st->cap = st->cap ? 2 * st->cap : 32;
		st->s = xrealloc(st->s, (size_t) st->cap * sizeof *st->s);
	}
	st->s[st->n].lo = lo ? xstrdup(lo) : NULL;
	st->s[st->n].hi = hi ? xstrdup(hi) : NULL;
	st->s[st->n].ns = ns;
	st->s[st->n].nd = nd;
	st->n++;
}

/* a small segment: row hash by row hash */
static int
leaf(const bisect_ops *ops, void *ctx, bool numeric, const seg *s, bisect_stats *stats)
{
	int na = 0, nb = 0;
	vleaf *a = ops->rows(ctx, true, s->lo, s->hi, &na), *b;

	if (a == NULL)
		return 1;
	if ((b = ops->rows(ctx, false, s->lo, s->hi, &nb)) == NULL)
	{
		leaf_free(a, na);
		return 2;
	}
	stats->leaves++;
	stats->leaf_rows += na + nb;
	leaf_diff(a, na, b, nb, numeric, ops->found, ctx);
	leaf_free(a, na);
	leaf_free(b, nb);
	return 0;
}

/* split a differing segment at thresholds from its bigger side; push the differing parts */
static int
split(const bisect_ops *ops, void *ctx, bool numeric, int fanout, const seg *s, segstack *st,
	  bisect_stats *stats)
{
	bool source = s->ns >= s->nd;
	int m = 0, na = 0, nb = 0, code = 0;
	char **t = ops->thresholds(ctx, source, s->lo, s->hi, fanout, &m);
	vbucket *a = NULL, *b = NULL;

	if (t == NULL)
		return source ? 1 : 2;
	m = thresholds_clean(t, m, s->lo, s->hi, numeric);
	if (m == 0)
	{
		/* one key (or none) to split at: compare the rows */
		free(t);
		return leaf(ops, ctx, numeric, s, stats);
	}
	stats->splits++;
	if ((a = ops->buckets(ctx, true, s->lo, s->hi, t, m, &na)) == NULL)
		code = 1;
	else if ((b = ops->buckets(ctx, false, s->lo, s->hi, t, m, &nb)) == NULL)
		code = 2;
	if (code == 0)
	{
		int *which = xcalloc((size_t) (na + nb) + 1, sizeof *which);
		long long *an = xcalloc((size_t) (na + nb) + 1, sizeof *an);
		long long *bn = xcalloc((size_t) (na + nb) + 1, sizeof *bn);
		int nd = buckets_differ(a, na, b, nb, which, an, bn);

		/* pushed last first: popped in key order */
		for (int i = nd - 1; i >= 0; i--)
		{
			const char *lo, *hi;

			bucket_range(s->lo, s->hi, t, m, which[i], &lo, &hi);
			push(st, lo, hi, an[i], bn[i]);
		}
		free(which);
		free(an);
		free(bn);
	}
	free(a);
	free(b);
	for (int i = 0; i < m; i++)
		free(t[i]);
	free(t);
	return code;
}

int
bisect_run(const bisect_ops *ops, void *ctx, bool numeric, int fanout, int leafmax,
		   bisect_stats *stats)
{
	long long ns, nd;
	char ss[48], ds[48];
	segstack st = {0};
	int code = 0;

	memset(stats, 0, sizeof *stats);
	if (!ops->totals(ctx, true, NULL, NULL, &ns, ss, sizeof ss))
		return 1;
	if (!ops->totals(ctx, false, NULL, NULL, &nd, ds, sizeof ds))
		return 2;
	if (ns == nd && strcmp(ss, ds) == 0)
		return 0;
	if (ops->narrow && !ops->narrow(ctx))
		return 2;
	push(&st, NULL, NULL, ns, nd);
	while (st.n > 0 && code == 0)
	{
		seg s = st.s[--st.n];

		if (s.ns > leafmax || s.nd > leafmax)
			code = split(ops, ctx, numeric, fanout, &s, &st, stats);
		else
			code = leaf(ops, ctx, numeric, &s, stats);
		free(s.lo);
		free(s.hi);
	}
	while (st.n > 0)
	{
		st.n--;
		free(st.s[st.n].lo);
		free(st.s[st.n].hi);
	}
	free(st.s);
	return code;
}
