/*
 * bisect.c: buckets, thresholds and leaves of checksum mode (see bisect.h).
 */
#include <stdlib.h>
#include <string.h>

#include "bisect.h"

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
