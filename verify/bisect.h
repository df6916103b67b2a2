/*
 * bisect.h: the pure part of checksum mode (bisect.c; tests/unit/test_verify.c).
 *
 * The rows of an entity are ordered by their legacy key: a bigint when the
 * key is one integer column, else the key's text in the "C" collation, the
 * same order in both databases.  A segment is a key range [lo, hi), NULL
 * meaning unbounded.  A segment is split at thresholds t[0] < ... < t[m-1]
 * taken from its rows: bucket i (as width_bucket numbers them) is
 * [t[i-1], t[i]), bucket 0 starts at lo and bucket m ends at hi.  Each
 * database returns the count and hash sum of every non-empty bucket; the
 * buckets that differ are split again, down to leaves small enough to
 * compare row hash by row hash.
 */
#ifndef FERRY_VERIFY_BISECT_H
#define FERRY_VERIFY_BISECT_H

#include <stdbool.h>

#include "verify.h"

typedef struct vbucket
{
	int b;              /* bucket number */
	long long n;        /* rows */
	char sum[48];       /* sum of the rows' 64-bit hashes, as text */
} vbucket;

/*
 * Bucket numbers whose count or sum differ between a (source) and b
 * (destination), ascending, into out (room for na + nb); their row counts
 * on each side into an and bn.  Returns how many.
 */
int buckets_differ(const vbucket *a, int na, const vbucket *b, int nb, int *out,
				   long long *an, long long *bn);

/* keys compare as integers (numeric) or bytes ("C" collation) */
int key_cmp(const char *a, const char *b, bool numeric);

/*
 * Sort and deduplicate thresholds (freeing the duplicates) and drop those
 * outside (lo, hi); returns how many are left.
 */
int thresholds_clean(char **t, int m, const char *lo, const char *hi, bool numeric);

/* the range of bucket i of thresholds t[0..m-1] inside [lo, hi) */
void bucket_range(const char *lo, const char *hi, char *const *t, int m, int i,
				  const char **blo, const char **bhi);

typedef struct vleaf
{
	char *key;          /* legacy key text (decimal for numeric keys) */
	char hash[33];
	char *uuid;         /* the destination row's uuid (may be NULL) */
} vleaf;

/*
 * Rows of a leaf on both sides (any order; sorted here): fn is called with
 * VD_MISSING for a key only in a (b NULL), VD_EXTRA for a key only in b
 * (a NULL), and VD_DIFFERENT for a key in both with different hashes, in
 * key order.
 */
typedef void (*leaf_fn) (void *ctx, vdiff_kind kind, const vleaf *a, const vleaf *b);
void leaf_diff(vleaf *a, int na, vleaf *b, int nb, bool numeric, leaf_fn fn, void *ctx);
void leaf_free(vleaf *rows, int n);

/*
 * The two databases, as the bisection sees them.  source: the source side
 * (else the destination).  lo, hi: the segment [lo, hi), NULL unbounded.
 * Each returns false / NULL on an error (logged).
 */
typedef struct bisect_ops
{
	/* rows and hash sum of a side over the segment */
	bool (*totals) (void *ctx, bool source, const char *lo, const char *hi, long long *n,
					char *sum, size_t sumlen);
	/* called once, when the totals differ, before the first range query */
	bool (*narrow) (void *ctx);
	/* keys of a side in the segment cutting it into about fanout parts (malloc'ed) */
	char **(*thresholds) (void *ctx, bool source, const char *lo, const char *hi, int fanout, int *n);
	/* count and hash sum per bucket of thresholds t[0..m-1] (malloc'ed) */
	vbucket *(*buckets) (void *ctx, bool source, const char *lo, const char *hi, char *const *t,
						 int m, int *n);
	/* the rows of a side in the segment (malloc'ed, freed with leaf_free) */
	vleaf *(*rows) (void *ctx, bool source, const char *lo, const char *hi, int *n);
	/* a row found different (leaf_diff's callback) */
	leaf_fn found;
} bisect_ops;

typedef struct bisect_stats
{
	long long splits;
	long long leaves;
	long long leaf_rows;      /* rows compared one by one, both sides */
} bisect_stats;

/*
 * Find every row that differs between the two sides: compare the totals,
 * then split differing segments at thresholds from their bigger side
 * (fanout parts) until a segment holds at most leaf rows on each side,
 * whose rows are then compared by hash.  Returns 0, or 1 when a source
 * call failed, 2 when a destination call failed.
 */
int bisect_run(const bisect_ops *ops, void *ctx, bool numeric, int fanout, int leaf,
			   bisect_stats *stats);

#endif
