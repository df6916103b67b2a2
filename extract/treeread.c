/*
 * treeread.c: the closure of changed rows in a tree, in memory.
 *
 * Per row of the table: its key and parent (8 bytes each), a slot of the
 * key index (4), its parent's row (4), a place in the children lists (8)
 * and a mark (1): about 33 bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pgconn.h"
#include "treeread.h"

#define NONE INT64_MIN

typedef struct links
{
	int64_t *key;
	int64_t *parent;        /* NONE: a root */
	size_t n;
	size_t cap;
	uint32_t *slots;        /* key index: row + 1, 0 = empty */
	size_t nslots;
} links;

static bool
parse_int64(const char *p, size_t n, int64_t *out)
{
	int64_t v = 0;
	bool neg = false;
	size_t i = 0;

	if (n == 0 || n > 19)
		return false;
	if (p[0] == '-')
	{
		neg = true;
		if (++i == n)
			return false;
	}
	for (; i < n; i++)
	{
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = neg ? -v : v;
	return true;
}

static inline uint64_t
mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	return x ^ (x >> 33);
}

/* row of a key, -1 if none */
static long
find(const links *l, int64_t k)
{
	size_t s = mix((uint64_t) k) & (l->nslots - 1);

	while (l->slots[s])
	{
		if (l->key[l->slots[s] - 1] == k)
			return (long) l->slots[s] - 1;
		s = (s + 1) & (l->nslots - 1);
	}
	return -1;
}

/* what copy_pairs' lines go to */
typedef struct
{
	links *l;
	bool pairs;
	bool parsed; /* every value so far an integer */
} pair_reader;

/* one line of copy_pairs: its key and, for pairs, its parent (\N: none) */
static bool
read_pair(void *ctx, const char *line, size_t n)
{
	pair_reader *r = ctx;
	links *l = r->l;
	const char *tab = memchr(line, '\t', n);
	size_t kn = tab ? (size_t) (tab - line) : n;
	int64_t k, p = NONE;

	if (!parse_int64(line, kn, &k))
		return r->parsed = false;
	if (r->pairs && tab)
	{
		size_t pn = n - kn - 1;

		if (!(pn == 2 && tab[1] == '\\' && tab[2] == 'N') && !parse_int64(tab + 1, pn, &p))
			return r->parsed = false;
	}
	if (l->n == l->cap)
	{
		l->cap = l->cap ? 2 * l->cap : 4096;
		l->key = xrealloc(l->key, l->cap * sizeof *l->key);
		l->parent = xrealloc(l->parent, l->cap * sizeof *l->parent);
	}
	l->key[l->n] = k;
	l->parent[l->n] = p;
	l->n++;
	return true;
}

/*
 * Run COPY (sql) and hand each line's two fields (the second may be
 * absent) to the arrays.  Returns 1, 0 if a value is not an integer, -1
 * on error.
 */
static int
copy_pairs(PGconn *conn, const char *sql, links *l, bool pairs)
{
	pair_reader r = {l, pairs, true};

	if (!pg_copy_lines(conn, "source", sql, read_pair, &r))
		return r.parsed ? -1 : 0;
	return 1;
}

static void
links_free(links *l)
{
	free(l->key);
	free(l->parent);
	free(l->slots);
	memset(l, 0, sizeof *l);
}

int
tree_read_keys(PGconn *conn, const extract_spec *spec, buf *out, long long *count)
{
	links all = {0}, changed = {0};
	buf sql, key, parent;
	int rc;

	buf_init(&sql, 1024);
	buf_init(&key, 64);
	buf_init(&parent, 64);
	pg_append_ident(&key, spec->key[0]);
	pg_append_ident(&parent, spec->tree_parent);

	/* every row's key and parent, narrow */
	buf_printf(&sql, "SELECT q.%s, q.%s FROM (\n", buf_cstr(&key), buf_cstr(&parent));
	buf_puts(&sql, spec->query);
	buf_puts(&sql, "\n) AS q");
	rc = copy_pairs(conn, buf_cstr(&sql), &all, true);
	if (rc == 1)
	{
		/* the changed rows, by the run's incremental condition */
		buf_reset(&sql);
		buf_printf(&sql, "SELECT q.%s FROM (\n", buf_cstr(&key));
		buf_puts(&sql, spec->query);
		buf_puts(&sql, "\n) AS q WHERE ");
		extract_append_changed(&sql, spec);
		rc = copy_pairs(conn, buf_cstr(&sql), &changed, false);
	}
	buf_free(&sql);
	buf_free(&key);
	buf_free(&parent);
	if (rc != 1)
	{
		links_free(&all);
		links_free(&changed);
		return rc;
	}

	size_t n = all.n;

	all.nslots = 16;
	while (all.nslots < 2 * n + 2)
		all.nslots *= 2;
	all.slots = xcalloc(all.nslots, sizeof *all.slots);
	for (size_t i = 0; i < n; i++)
	{
		size_t s = mix((uint64_t) all.key[i]) & (all.nslots - 1);

		while (all.slots[s])
			s = (s + 1) & (all.nslots - 1);
		all.slots[s] = (uint32_t) i + 1;
	}

	/* parent rows, and the children lists (CSR) to walk down */
	int32_t *prow = xmalloc((n ? n : 1) * sizeof *prow);
	uint32_t *first = xcalloc(n + 1, sizeof *first);
	uint32_t *kids = xmalloc((n ? n : 1) * sizeof *kids);
	uint8_t *mark = xcalloc(n ? n : 1, 1);
	uint32_t *queue = xmalloc((n ? n : 1) * sizeof *queue);

	for (size_t i = 0; i < n; i++)
	{
		prow[i] = all.parent[i] == NONE ? -1 : (int32_t) find(&all, all.parent[i]);
		if (prow[i] >= 0)
			first[prow[i] + 1]++;
	}
	for (size_t i = 0; i < n; i++)
		first[i + 1] += first[i];
	{
		uint32_t *fill = xmalloc((n ? n : 1) * sizeof *fill);

		memcpy(fill, first, n * sizeof *fill);
		for (size_t i = 0; i < n; i++)
			if (prow[i] >= 0)
				kids[fill[prow[i]]++] = (uint32_t) i;
		free(fill);
	}

	size_t qn = 0;

	for (size_t c = 0; c < changed.n; c++)
	{
		long r = find(&all, changed.key[c]);

		if (r < 0 || mark[r] == 1)
			continue;

		bool walked = mark[r] == 2;     /* an ancestor of a row seen already */

		mark[r] = 1;
		queue[qn++] = (uint32_t) r;
		/* up: the chain of ancestors, until a root, a missing parent or a row seen */
		for (long a = walked ? -1 : prow[r]; a >= 0 && !mark[a]; a = prow[a])
			mark[a] = 2;
	}
	/* down: every descendant of a changed row */
	for (size_t h = 0; h < qn; h++)
		for (uint32_t k = first[queue[h]]; k < first[queue[h] + 1]; k++)
			if (mark[kids[k]] != 1)
			{
				mark[kids[k]] = 1;
				queue[qn++] = kids[k];
			}

	long long taken = 0;

	buf_putc(out, '{');
	for (size_t i = 0; i < n; i++)
		if (mark[i])
		{
			buf_printf(out, "%s%lld", taken ? "," : "", (long long) all.key[i]);
			taken++;
		}
	buf_putc(out, '}');
	buf_cstr(out);
	log_info("tree read: %zu changed rows, %lld with their ancestors and descendants, of %zu",
			 changed.n, taken, n);
	*count = taken;
	free(prow);
	free(first);
	free(kids);
	free(mark);
	free(queue);
	links_free(&all);
	links_free(&changed);
	return 1;
}
