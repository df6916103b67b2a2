/*
 * test_verify.c: ferry-verify's pure logic.
 *
 * The bisection of checksum mode (verify/bisect.c) runs here against two
 * in-memory "databases" that answer its questions (totals, thresholds,
 * buckets, rows) as the SQL of verify/sides.c does; whatever is changed,
 * deleted or added on one side must be found, exactly, and without
 * comparing most rows one by one.  Also: buckets, thresholds, leaves, the
 * legacy key text, values cut for display, array literals, the result's
 * counts and success rate, and the report.
 *
 * The verify/ files are compiled in (the Makefile links unit tests with
 * lib/ only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../verify/bisect.c"
#include "../../verify/report.c"
#include "../../verify/result.c"
#include "../../verify/text.c"
#include "tap.h"

/* ---- an in-memory side: rows of (key, hash) ---- */

typedef struct mrow
{
	char key[32];
	unsigned long long h;
} mrow;

typedef struct mdb
{
	mrow *rows;
	int n;
} mdb;

typedef struct mctx
{
	mdb src;
	mdb dst;
	bool numeric;
	int calls;
	char found[4096];       /* "kind:key " of every row found, in order */
	int nfound;
} mctx;

static void
mdb_add(mdb *d, const char *key, unsigned long long h)
{
	d->rows = xrealloc(d->rows, (size_t) (d->n + 1) * sizeof *d->rows);
	snprintf(d->rows[d->n].key, sizeof d->rows[d->n].key, "%s", key);
	d->rows[d->n].h = h;
	d->n++;
}

static int
mdb_find(const mdb *d, const char *key)
{
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->rows[i].key, key) == 0)
			return i;
	return -1;
}

static void
mdb_del(mdb *d, const char *key)
{
	int i = mdb_find(d, key);

	if (i >= 0)
		d->rows[i] = d->rows[--d->n];
}

/* a row's hash covers its key too (md5(ROW(key, values...)) in sides.c) */
static unsigned long long
row_hash(const mrow *r)
{
	unsigned long long h = 1469598103934665603ULL;

	for (const char *p = r->key; *p; p++)
		h = (h ^ (unsigned char) *p) * 1099511628211ULL;
	/* mixed, as md5's bits are: a changed value moves the sum at random */
	h ^= r->h;
	h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
	h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
	return h ^ (h >> 31);
}

static bool
in_seg(const mctx *m, const char *k, const char *lo, const char *hi)
{
	return (lo == NULL || key_cmp(k, lo, m->numeric) >= 0) && (hi == NULL || key_cmp(k, hi, m->numeric) < 0);
}

static bool
m_totals(void *ctx, bool source, const char *lo, const char *hi, long long *n, char *sum, size_t len)
{
	mctx *m = ctx;
	const mdb *d = source ? &m->src : &m->dst;
	unsigned long long s = 0;

	m->calls++;
	*n = 0;
	for (int i = 0; i < d->n; i++)
		if (in_seg(m, d->rows[i].key, lo, hi))
		{
			(*n)++;
			s += row_hash(&d->rows[i]);
		}
	snprintf(sum, len, "%llu", s);
	return true;
}

static bool mnumeric;

static int
cmp_keyp(const void *a, const void *b)
{
	return key_cmp(*(char *const *) a, *(char *const *) b, mnumeric);
}

/* percentile_disc(i / fanout) of the side's keys in the segment */
static char **
m_thresholds(void *ctx, bool source, const char *lo, const char *hi, int fanout, int *n)
{
	mctx *m = ctx;
	const mdb *d = source ? &m->src : &m->dst;
	char **keys = xcalloc((size_t) d->n + 1, sizeof *keys), **t;
	int nk = 0;

	m->calls++;
	for (int i = 0; i < d->n; i++)
		if (in_seg(m, d->rows[i].key, lo, hi))
			keys[nk++] = d->rows[i].key;
	mnumeric = m->numeric;
	qsort(keys, (size_t) nk, sizeof *keys, cmp_keyp);
	t = xcalloc((size_t) fanout + 1, sizeof *t);
	*n = 0;
	for (int i = 1; i < fanout && nk > 0; i++)
	{
		int at = (int) ((double) i / fanout * nk + 0.999999) - 1;

		t[(*n)++] = xstrdup(keys[at < 0 ? 0 : at]);
	}
	free(keys);
	return t;
}

static vbucket *
m_buckets(void *ctx, bool source, const char *lo, const char *hi, char *const *t, int mth, int *n)
{
	mctx *m = ctx;
	const mdb *d = source ? &m->src : &m->dst;
	long long *cnt = xcalloc((size_t) mth + 1, sizeof *cnt);
	unsigned long long *sum = xcalloc((size_t) mth + 1, sizeof *sum);
	vbucket *out = xcalloc((size_t) mth + 1, sizeof *out);

	m->calls++;
	for (int i = 0; i < d->n; i++)
	{
		int b = 0;

		if (!in_seg(m, d->rows[i].key, lo, hi))
			continue;
		/* width_bucket: how many thresholds are <= the key */
		while (b < mth && key_cmp(t[b], d->rows[i].key, m->numeric) <= 0)
			b++;
		cnt[b]++;
		sum[b] += row_hash(&d->rows[i]);
	}
	*n = 0;
	for (int b = 0; b <= mth; b++)
		if (cnt[b])
		{
			out[*n].b = b;
			out[*n].n = cnt[b];
			snprintf(out[*n].sum, sizeof out[*n].sum, "%llu", sum[b]);
			(*n)++;
		}
	free(cnt);
	free(sum);
	return out;
}

static vleaf *
m_rows(void *ctx, bool source, const char *lo, const char *hi, int *n)
{
	mctx *m = ctx;
	const mdb *d = source ? &m->src : &m->dst;
	vleaf *out = xcalloc((size_t) d->n + 1, sizeof *out);

	m->calls++;
	*n = 0;
	for (int i = 0; i < d->n; i++)
		if (in_seg(m, d->rows[i].key, lo, hi))
		{
			out[*n].key = xstrdup(d->rows[i].key);
			snprintf(out[*n].hash, sizeof out[*n].hash, "%llx", row_hash(&d->rows[i]));
			out[*n].uuid = source ? NULL : xstrdup("u");
			(*n)++;
		}
	return out;
}

static void
m_found(void *ctx, vdiff_kind kind, const vleaf *a, const vleaf *b)
{
	mctx *m = ctx;
	size_t len = strlen(m->found);

	snprintf(m->found + len, sizeof m->found - len, "%s:%s ", vdiff_kind_name(kind),
			 a ? a->key : b->key);
	m->nfound++;
}

static const bisect_ops mops = {m_totals, NULL, m_thresholds, m_buckets, m_rows, m_found};

static unsigned long long
hash_of(int i)
{
	unsigned long long x = (unsigned long long) i * 0x9E3779B97F4A7C15ULL;

	x ^= x >> 29;
	return x * 0xBF58476D1CE4E5B9ULL;
}

static void
mctx_init(mctx *m, int n, bool numeric, const char *prefix)
{
	memset(m, 0, sizeof *m);
	m->numeric = numeric;
	for (int i = 1; i <= n; i++)
	{
		char k[32];

		snprintf(k, sizeof k, "%s%d", prefix, i);
		mdb_add(&m->src, k, hash_of(i));
		mdb_add(&m->dst, k, hash_of(i));
	}
}

static void
mctx_free(mctx *m)
{
	free(m->src.rows);
	free(m->dst.rows);
}

/* brute force: every key of either side whose row differs, as "kind:key " in key order */
static void
expected(const mctx *m, char *out, size_t len)
{
	char **keys = xcalloc((size_t) (m->src.n + m->dst.n) + 1, sizeof *keys);
	int nk = 0;

	out[0] = '\0';
	for (int i = 0; i < m->src.n; i++)
		keys[nk++] = m->src.rows[i].key;
	for (int i = 0; i < m->dst.n; i++)
		if (mdb_find(&m->src, m->dst.rows[i].key) < 0)
			keys[nk++] = m->dst.rows[i].key;
	mnumeric = m->numeric;
	qsort(keys, (size_t) nk, sizeof *keys, cmp_keyp);
	for (int i = 0; i < nk; i++)
	{
		int a = mdb_find(&m->src, keys[i]), b = mdb_find(&m->dst, keys[i]);
		const char *kind = a < 0 ? "extra" : b < 0 ? "missing"
			: m->src.rows[a].h != m->dst.rows[b].h ? "different" : NULL;

		if (kind)
			snprintf(out + strlen(out), len - strlen(out), "%s:%s ", kind, keys[i]);
	}
	free(keys);
}

static void
test_bisection(void)
{
	mctx m;
	bisect_stats st;
	char want[4096];
	int rc;

	/* identical: two totals, nothing else */
	mctx_init(&m, 5000, true, "");
	rc = bisect_run(&mops, &m, true, 16, 64, &st);
	ok(rc == 0 && m.nfound == 0 && m.calls == 2 && st.splits == 0,
	   "bisect: identical sides: 2 calls (the totals), nothing found");
	mctx_free(&m);

	/* each kind of corruption, in 10000 rows */
	mctx_init(&m, 10000, true, "");
	m.dst.rows[mdb_find(&m.dst, "37")].h ^= 1;
	mdb_del(&m.dst, "38");
	mdb_add(&m.dst, "99999", 42);
	m.dst.rows[mdb_find(&m.dst, "5000")].h = 7;
	mdb_add(&m.dst, "0", 1);
	rc = bisect_run(&mops, &m, true, 16, 64, &st);
	expected(&m, want, sizeof want);
	ok(rc == 0 && strcmp(m.found, "extra:0 different:37 missing:38 different:5000 extra:99999 ") == 0 &&
	   strcmp(m.found, want) == 0, "bisect: changed, deleted, added rows found exactly, in key order: %s",
	   m.found);
	ok(st.leaf_rows < 2000, "bisect: %lld of 20000 rows compared one by one (%lld splits, %lld leaves)",
	   st.leaf_rows, st.splits, st.leaves);
	mctx_free(&m);

	/* a block deleted, the same rows under other keys past the source's last key */
	mctx_init(&m, 3000, true, "");
	for (int i = 1000; i < 1200; i++)
	{
		char k[16];

		snprintf(k, sizeof k, "%d", i);
		mdb_del(&m.dst, k);
		snprintf(k, sizeof k, "%d", 20000 + i);
		mdb_add(&m.dst, k, hash_of(i));
	}
	rc = bisect_run(&mops, &m, true, 8, 32, &st);
	expected(&m, want, sizeof want);
	ok(rc == 0 && m.nfound == 400 && strcmp(m.found, want) == 0,
	   "bisect: 200 rows missing in a block, 200 extra past the source's last key: %d found", m.nfound);
	mctx_free(&m);

	/* text keys in "C" order ("k10" < "k2"), fanout 2 */
	mctx_init(&m, 2000, false, "k");
	m.dst.rows[mdb_find(&m.dst, "k1999")].h ^= 4;
	mdb_del(&m.dst, "k2");
	mdb_add(&m.dst, "k", 3);
	mdb_add(&m.dst, "k\xc3\xa9", 3);
	rc = bisect_run(&mops, &m, false, 2, 16, &st);
	expected(&m, want, sizeof want);
	ok(rc == 0 && strcmp(m.found, want) == 0 && strcmp(m.found, "extra:k different:k1999 missing:k2 extra:k\xc3\xa9 ") == 0,
	   "bisect: text keys in C order, fanout 2: %s", m.found);
	mctx_free(&m);

	/* everything different: every row found, none twice */
	mctx_init(&m, 500, true, "");
	for (int i = 0; i < m.dst.n; i++)
		m.dst.rows[i].h++;
	rc = bisect_run(&mops, &m, true, 16, 8, &st);
	ok(rc == 0 && m.nfound == 500, "bisect: every row different: %d found", m.nfound);
	mctx_free(&m);

	/* an empty source, an empty destination */
	mctx_init(&m, 300, true, "");
	m.src.n = 0;
	rc = bisect_run(&mops, &m, true, 16, 8, &st);
	ok(rc == 0 && m.nfound == 300 && strncmp(m.found, "extra:1 extra:2 ", 16) == 0,
	   "bisect: empty source: every destination row extra");
	mctx_free(&m);
	mctx_init(&m, 300, true, "");
	m.dst.n = 0;
	rc = bisect_run(&mops, &m, true, 16, 8, &st);
	ok(rc == 0 && m.nfound == 300 && strncmp(m.found, "missing:1 missing:2 ", 20) == 0,
	   "bisect: empty destination: every source row missing");
	mctx_free(&m);

	/* random corruption, several seeds: always exactly the brute-force differences */
	bool all = true;

	for (unsigned seed = 1; seed <= 20; seed++)
	{
		mctx_init(&m, 4000, true, "");
		srand(seed);
		for (int c = 0; c < 30; c++)
		{
			char k[16];
			int r = rand() % 3, i = 1 + rand() % 4000;

			snprintf(k, sizeof k, "%d", r == 2 ? 4000 + rand() % 8000 : i);
			if (r == 0 && mdb_find(&m.dst, k) >= 0)
				m.dst.rows[mdb_find(&m.dst, k)].h ^= (unsigned long long) rand() + 1;
			else if (r == 1)
				mdb_del(&m.dst, k);
			else if (mdb_find(&m.dst, k) < 0)
				mdb_add(&m.dst, k, (unsigned long long) rand());
		}
		rc = bisect_run(&mops, &m, true, 2 + (int) seed % 15, 1 + (int) seed * 7, &st);
		expected(&m, want, sizeof want);
		if (rc != 0 || strcmp(m.found, want) != 0)
		{
			all = false;
			printf("# seed %u: found %s\n# expected %s\n", seed, m.found, want);
		}
		mctx_free(&m);
	}
	ok(all, "bisect: 20 random corruptions (fanout 2-16, leaf 8-141): exactly the differences");
}

/* ---- the pieces ---- */

static void
found_into(void *ctx, vdiff_kind kind, const vleaf *a, const vleaf *b)
{
	buf *out = ctx;

	buf_printf(out, "%s:%s ", vdiff_kind_name(kind), a ? a->key : b->key);
}

static void
test_leaves(void)
{
	vleaf a[4] = {{"10", "aa", NULL}, {"9", "bb", NULL}, {"11", "cc", NULL}, {"2", "dd", NULL}};
	vleaf b[4] = {{"9", "bb", NULL}, {"11", "cX", NULL}, {"12", "ee", NULL}, {"2", "dd", NULL}};
	buf out;

	buf_init(&out, 64);
	leaf_diff(a, 4, b, 4, true, found_into, &out);
	ok(strcmp(buf_cstr(&out), "missing:10 different:11 extra:12 ") == 0,
	   "leaf: numeric keys sorted as numbers: %s", out.data);
	buf_reset(&out);
	leaf_diff(a, 4, b, 4, false, found_into, &out);
	ok(strcmp(buf_cstr(&out), "missing:10 different:11 extra:12 ") == 0, "leaf: text keys, C order");
	buf_free(&out);
}

static void
test_buckets(void)
{
	vbucket a[3] = {{0, 10, "100"}, {1, 5, "50"}, {3, 2, "7"}};
	vbucket b[3] = {{3, 2, "8"}, {0, 10, "100"}, {2, 1, "1"}};
	int out[6];
	long long an[6], bn[6];
	int n = buckets_differ(a, 3, b, 3, out, an, bn);

	ok(n == 3 && out[0] == 1 && out[1] == 2 && out[2] == 3, "buckets: 1 (one side), 2 (other side), 3 (sum)");
	ok(an[0] == 5 && bn[0] == 0 && an[1] == 0 && bn[1] == 1 && an[2] == 2 && bn[2] == 2,
	   "buckets: row counts of each side");
	ok(buckets_differ(a, 3, a, 3, out, an, bn) == 0, "buckets: equal sides, none");

	char *t[6];
	const char *lo, *hi;

	t[0] = xstrdup("10");
	t[1] = xstrdup("9");
	t[2] = xstrdup("9");
	t[3] = xstrdup("3");
	t[4] = xstrdup("50");
	t[5] = xstrdup("2");
	n = thresholds_clean(t, 6, "3", "50", true);
	ok(n == 2 && strcmp(t[0], "9") == 0 && strcmp(t[1], "10") == 0,
	   "thresholds: numeric order, duplicates and bounds dropped");
	bucket_range("3", "50", t, n, 0, &lo, &hi);
	ok(strcmp(lo, "3") == 0 && strcmp(hi, "9") == 0, "bucket 0: [lo, t0)");
	bucket_range("3", "50", t, n, 2, &lo, &hi);
	ok(strcmp(lo, "10") == 0 && strcmp(hi, "50") == 0, "bucket m: [t(m-1), hi)");
	bucket_range(NULL, NULL, t, n, 1, &lo, &hi);
	ok(strcmp(lo, "9") == 0 && strcmp(hi, "10") == 0, "bucket i: [t(i-1), t(i))");
	bucket_range(NULL, NULL, t, n, 0, &lo, &hi);
	ok(lo == NULL, "bucket 0 of an unbounded segment: unbounded below");
	for (int i = 0; i < n; i++)
		free(t[i]);
}

static void
test_text(void)
{
	buf b;
	char long_ascii[200], long_utf8[400];

	buf_init(&b, 64);
	key_text_append(&b, 0, 1, "a,b\\c", 5);
	ok(strcmp(buf_cstr(&b), "a,b\\c") == 0, "key text: one part as it is");
	buf_reset(&b);
	key_text_append(&b, 0, 2, "a,b", 3);
	key_text_append(&b, 1, 2, "c\\d", 3);
	ok(strcmp(buf_cstr(&b), "a\\,b,c\\\\d") == 0, "key text: composite parts escaped, joined by ,");

	memset(long_ascii, 'x', 100);
	long_ascii[100] = '\0';
	buf_reset(&b);
	display_value(&b, long_ascii, VERIFY_SHOW_CHARS);
	ok(b.len == 63 && strcmp(buf_cstr(&b) + 60, "...") == 0, "display: cut at 60 characters, then ...");
	for (int i = 0; i < 100; i++)
		memcpy(long_utf8 + 2 * i, "\xc3\xa9", 2);
	long_utf8[200] = '\0';
	buf_reset(&b);
	display_value(&b, long_utf8, VERIFY_SHOW_CHARS);
	ok(b.len == 123 && memcmp(b.data + 118, "\xc3\xa9...", 5) == 0,
	   "display: 60 characters of UTF-8, none split");
	buf_reset(&b);
	display_value(&b, "short", VERIFY_SHOW_CHARS);
	ok(strcmp(buf_cstr(&b), "short") == 0, "display: a short value as it is");

	buf_reset(&b);
	array_start(&b);
	array_add(&b, "", 0);
	array_add(&b, "a\"b", 3);
	array_add(&b, "c\\d,{}", 6);
	array_add(&b, "NULL", 4);
	ok(strcmp(array_finish(&b), "{\"\",\"a\\\"b\",\"c\\\\d,{}\",\"NULL\"}") == 0,
	   "array literal: every element quoted, quotes and backslashes escaped: %s", b.data);
	buf_free(&b);
}

static void
test_result(void)
{
	vresult r;
	buf json;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	result_init(&r, "orders", "public.orders", "checksum", 2);
	r.source_rows = 1000;
	r.loaded = 990;
	r.rejected = 10;
	counts_add(&r.rejected_by, "missing_reference", 6);
	counts_add(&r.rejected_by, "invalid_input", 4);
	counts_add(&r.rejected_by, "missing_reference", 0);
	ok(r.rejected_by.n == 2 && counts_total(&r.rejected_by) == 10, "counts: by name, added up");
	ok(result_clean(&r) && result_success(&r) > 98.99 && result_success(&r) < 99.01,
	   "result: clean, 99%% intact");
	r.different = 1;
	counts_add(&r.different_by, "total", 1);
	result_diff(&r, VD_DIFFERENT, "37", "u-37", "total", "12.50", NULL, NULL);
	result_diff(&r, VD_MISSING, "38", "u-38", NULL, NULL, NULL, NULL);
	result_diff(&r, VD_EXTRA, "39", NULL, NULL, NULL, NULL, NULL);
	ok(!result_clean(&r) && r.ndiffs == 2, "result: a difference fails it; listed up to max_listed");
	ok(result_success(&r) > 98.89 && result_success(&r) < 98.91, "result: a different row is not intact");

	buf_init(&json, 1024);
	report_json(&json, &r, 1, "run1", 99.5, false);
	ok(strstr(json.data, "\"rejected_by_reason\":{\"missing_reference\":6,\"invalid_input\":4}") &&
	   strstr(json.data, "{\"kind\":\"different\",\"key\":\"37\",\"uuid\":\"u-37\",\"column\":\"total\","
			  "\"expected\":\"12.50\",\"actual\":null}") &&
	   strstr(json.data, "\"totals\":{\"source_rows\":1000,\"loaded\":990") &&
	   strstr(json.data, "\"ok\":false}\n"), "report: JSON counts, reasons, differences, totals");

	f = open_memstream(&text, &len);
	report_print(f, &r, 20);
	fclose(f);
	ok(strstr(text, "orders: source 1000 (now), loaded 990, rejected 10, repaired 0; missing 0, extra 0, "
			  "different 1, orphans 0: FAILED") != NULL &&
	   strstr(text, "orders:   different: key 37: total: expected \"12.50\", found NULL\n") != NULL &&
	   strstr(text, "orders:   missing: key 38 (uuid u-38)\n") != NULL,
	   "report: terminal summary and differences");
	free(text);
	buf_free(&json);
	result_free(&r);
}

int
main(void)
{
	test_text();
	test_buckets();
	test_leaves();
	test_bisection();
	test_result();
	return tap_done();
}
