/*
 * treemap.c: a sorted run of increasing keys plus a hash table for the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "buf.h"
#include "treemap.h"

#define EMPTY INT64_MIN

struct treemap
{
	bool int_keys;
	/* keys that came in increasing order */
	int64_t *run_keys;
	int32_t *run_vals;
	size_t run_n;
	size_t run_cap;
	/* the others: open addressing, linear probing, EMPTY = free slot */
	int64_t *h_keys;
	int32_t *h_vals;
	size_t h_n;
	size_t h_cap;            /* a power of two, or 0 */
	/* INT64_MIN cannot sit in the hash table: its own slot */
	bool has_min;
	int32_t min_val;
};

static inline uint64_t
mix(uint64_t x)
{
	/* splitmix64 finaliser */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

treemap *
treemap_new(bool int_keys)
{
	treemap *m = xcalloc(1, sizeof *m);

	m->int_keys = int_keys;
	return m;
}

bool
treemap_int_keys(const treemap *m)
{
	return m->int_keys;
}

/* canonical decimal int64 ("-12", not "012" nor "+12") */
static bool
parse_int(const char *p, size_t n, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0;
	uint64_t limit;

	if (n == 0 || n > 20)
		return false;
	if (p[0] == '-')
	{
		neg = true;
		if (++i == n)
			return false;
	}
	if (p[i] == '0' && n > i + 1)
		return false;
	limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
	for (; i < n; i++)
	{
		unsigned d;

		if (p[i] < '0' || p[i] > '9')
			return false;
		d = (unsigned) (p[i] - '0');
		if (v > (limit - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg && v == 0)
		return false;           /* "-0" is not canonical */
	*out = neg ? (int64_t) (0 - v) : (int64_t) v;
	return true;
}

static int64_t
hash_key(const char *p, size_t n)
{
	int64_t h = (int64_t) XXH3_64bits(p, n);

	return h;
}

bool
treemap_key(const treemap *m, const char *p, size_t n, int64_t *k)
{
	if (m->int_keys)
		return parse_int(p, n, k);
	*k = hash_key(p, n);
	return true;
}

static int32_t *
run_find(treemap *m, int64_t k)
{
	size_t lo = 0, hi = m->run_n;

	while (lo < hi)
	{
		size_t mid = lo + (hi - lo) / 2;

		if (m->run_keys[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->run_n && m->run_keys[lo] == k ? &m->run_vals[lo] : NULL;
}

static int32_t *
hash_find(treemap *m, int64_t k)
{
	if (m->h_cap == 0)
		return NULL;
	size_t mask = m->h_cap - 1;
	size_t s = mix((uint64_t) k) & mask;

	while (m->h_keys[s] != EMPTY)
	{
		if (m->h_keys[s] == k)
			return &m->h_vals[s];
		s = (s + 1) & mask;
	}
	return NULL;
}

int32_t *
treemap_find(treemap *m, int64_t k)
{
	int32_t *v;

	if (k == EMPTY)
		return m->has_min ? &m->min_val : NULL;
	if (m->run_n && k <= m->run_keys[m->run_n - 1] && (v = run_find(m, k)) != NULL)
		return v;
	return hash_find(m, k);
}

static void
hash_insert(treemap *m, int64_t k, int32_t v)
{
	size_t mask = m->h_cap - 1;
	size_t s = mix((uint64_t) k) & mask;

	while (m->h_keys[s] != EMPTY)
		s = (s + 1) & mask;
	m->h_keys[s] = k;
	m->h_vals[s] = v;
}

static void
hash_grow(treemap *m)
{
	int64_t *old_keys = m->h_keys;
	int32_t *old_vals = m->h_vals;
	size_t old_cap = m->h_cap;

	m->h_cap = old_cap ? old_cap * 2 : 1024;
	m->h_keys = xmalloc(m->h_cap * sizeof *m->h_keys);
	m->h_vals = xmalloc(m->h_cap * sizeof *m->h_vals);
	for (size_t i = 0; i < m->h_cap; i++)
		m->h_keys[i] = EMPTY;
	for (size_t i = 0; i < old_cap; i++)
		if (old_keys[i] != EMPTY)
			hash_insert(m, old_keys[i], old_vals[i]);
	free(old_keys);
	free(old_vals);
}

void
treemap_put(treemap *m, int64_t k, int32_t v)
{
	if (k == EMPTY)
	{
		m->has_min = true;
		m->min_val = v;
		return;
	}
	if (m->run_n == 0 || k > m->run_keys[m->run_n - 1])
	{
		if (m->run_n == m->run_cap)
		{
			/* large blocks are mmap'ed: glibc grows them with mremap, no copy */
			m->run_cap = m->run_cap ? m->run_cap * 2 : 4096;
			m->run_keys = xrealloc(m->run_keys, m->run_cap * sizeof *m->run_keys);
			m->run_vals = xrealloc(m->run_vals, m->run_cap * sizeof *m->run_vals);
		}
		m->run_keys[m->run_n] = k;
		m->run_vals[m->run_n++] = v;
		return;
	}
	/* at most 3/4 full */
	if ((m->h_n + 1) * 4 > m->h_cap * 3)
		hash_grow(m);
	hash_insert(m, k, v);
	m->h_n++;
}

void
treemap_to_hashed(treemap *m)
{
	treemap old = *m;
	char tmp[24];

	if (!m->int_keys)
		return;
	memset(m, 0, sizeof *m);
	m->int_keys = false;
	for (size_t i = 0; i < old.run_n; i++)
	{
		int n = snprintf(tmp, sizeof tmp, "%lld", (long long) old.run_keys[i]);

		treemap_put(m, hash_key(tmp, (size_t) n), old.run_vals[i]);
	}
	for (size_t i = 0; i < old.h_cap; i++)
		if (old.h_keys[i] != EMPTY)
		{
			int n = snprintf(tmp, sizeof tmp, "%lld", (long long) old.h_keys[i]);

			treemap_put(m, hash_key(tmp, (size_t) n), old.h_vals[i]);
		}
	if (old.has_min)
	{
		int n = snprintf(tmp, sizeof tmp, "%lld", (long long) EMPTY);

		treemap_put(m, hash_key(tmp, (size_t) n), old.min_val);
	}
	free(old.run_keys);
	free(old.run_vals);
	free(old.h_keys);
	free(old.h_vals);
}

size_t
treemap_count(const treemap *m)
{
	return m->run_n + m->h_n + (m->has_min ? 1 : 0);
}

size_t
treemap_bytes(const treemap *m)
{
	return m->run_cap * (sizeof *m->run_keys + sizeof *m->run_vals) +
		m->h_cap * (sizeof *m->h_keys + sizeof *m->h_vals);
}

void
treemap_free(treemap *m)
{
	if (m == NULL)
		return;
	free(m->run_keys);
	free(m->run_vals);
	free(m->h_keys);
	free(m->h_vals);
	free(m);
}
