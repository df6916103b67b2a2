/*
 * keyset.c: open-addressing hash sets of legacy keys.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "buf.h"
#include "keyset.h"
#include "log.h"
#include "pgconn.h"

struct keyset
{
	bool strings;            /* false while every key is an integer */
	size_t count;
	size_t cap;              /* slots, a power of two */
	int64_t *ints;           /* integer mode: slots, INT64_MIN = empty */
	uint32_t *offs;          /* string mode: arena offset + 1, 0 = empty */
	buf arena;               /* string mode: length-prefixed keys */
};

#define EMPTY_INT INT64_MIN

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

static bool
as_int(const char *p, size_t n, int64_t *out)
{
	int64_t v = 0;
	size_t i = 0;
	bool neg = false;

	if (n == 0 || n > 18)
		return false;
	if (p[0] == '-')
	{
		neg = true;
		i = 1;
		if (n == 1)
			return false;
	}
	/* canonical decimal only: "007" must stay a string key */
	if (p[i] == '0' && n > i + 1)
		return false;
	for (; i < n; i++)
	{
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*out = neg ? -v : v;
	return *out != EMPTY_INT;
}

keyset *
keyset_new(void)
{
	keyset *ks = xcalloc(1, sizeof *ks);

	ks->cap = 1024;
	ks->ints = xmalloc(ks->cap * sizeof *ks->ints);
	for (size_t i = 0; i < ks->cap; i++)
		ks->ints[i] = EMPTY_INT;
	return ks;
}

static const char *
arena_key(const keyset *ks, uint32_t off, size_t *len)
{
	const char *p = ks->arena.data + off - 1;
	uint32_t n;

	memcpy(&n, p, sizeof n);
	*len = n;
	return p + sizeof n;
}

static void str_insert(keyset *ks, const char *key, size_t len);

static void
grow(keyset *ks)
{
	size_t oldcap = ks->cap;

	ks->cap *= 2;
	if (!ks->strings)
	{
		int64_t *old = ks->ints;

		ks->ints = xmalloc(ks->cap * sizeof *ks->ints);
		for (size_t i = 0; i < ks->cap; i++)
			ks->ints[i] = EMPTY_INT;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i] != EMPTY_INT)
			{
				size_t s = mix((uint64_t) old[i]) & (ks->cap - 1);

				while (ks->ints[s] != EMPTY_INT)
					s = (s + 1) & (ks->cap - 1);
				ks->ints[s] = old[i];
			}
		free(old);
	}
	else
	{
		uint32_t *old = ks->offs;

		ks->offs = xcalloc(ks->cap, sizeof *ks->offs);
		for (size_t i = 0; i < oldcap; i++)
			if (old[i])
			{
				size_t len;
				const char *k = arena_key(ks, old[i], &len);
				size_t s = XXH3_64bits(k, len) & (ks->cap - 1);

				while (ks->offs[s])
					s = (s + 1) & (ks->cap - 1);
				ks->offs[s] = old[i];
			}
		free(old);
	}
}

/* switch from integer to string mode: re-add every integer as text */
static void
to_strings(keyset *ks)
{
	int64_t *old = ks->ints;
	size_t oldcap = ks->cap;

	ks->strings = true;
	ks->ints = NULL;
	ks->count = 0;
	ks->offs = xcalloc(ks->cap, sizeof *ks->offs);
	buf_init(&ks->arena, 4096);
	for (size_t i = 0; i < oldcap; i++)
		if (old[i] != EMPTY_INT)
		{
			char tmp[24];
			int n = snprintf(tmp, sizeof tmp, "%lld", (long long) old[i]);

			str_insert(ks, tmp, (size_t) n);
		}
	free(old);
}

static void
str_insert(keyset *ks, const char *key, size_t len)
{
	if ((ks->count + 1) * 2 > ks->cap)
		grow(ks);
	size_t s = XXH3_64bits(key, len) & (ks->cap - 1);

	while (ks->offs[s])
	{
		size_t l;
		const char *k = arena_key(ks, ks->offs[s], &l);

		if (l == len && memcmp(k, key, len) == 0)
			return;
		s = (s + 1) & (ks->cap - 1);
	}
	if (ks->arena.len + len + 8 > UINT32_MAX)
		die(1, "too many string keys for one key set (over 4 GB)");
	uint32_t n = (uint32_t) len;

	ks->offs[s] = (uint32_t) ks->arena.len + 1;
	buf_append(&ks->arena, &n, sizeof n);
	buf_append(&ks->arena, key, len);
	ks->count++;
}

void
keyset_add(keyset *ks, const char *key, size_t len)
{
	int64_t v;

	if (!ks->strings && !as_int(key, len, &v))
		to_strings(ks);
	if (ks->strings)
	{
		str_insert(ks, key, len);
		return;
	}
	if ((ks->count + 1) * 2 > ks->cap)
		grow(ks);
	size_t s = mix((uint64_t) v) & (ks->cap - 1);

	while (ks->ints[s] != EMPTY_INT)
	{
		if (ks->ints[s] == v)
			return;
		s = (s + 1) & (ks->cap - 1);
	}
	ks->ints[s] = v;
	ks->count++;
}

bool
keyset_has(const keyset *ks, const char *key, size_t len)
{
	if (!ks->strings)
	{
		int64_t v;

		if (!as_int(key, len, &v))
			return false;
		size_t s = mix((uint64_t) v) & (ks->cap - 1);

		while (ks->ints[s] != EMPTY_INT)
		{
			if (ks->ints[s] == v)
				return true;
			s = (s + 1) & (ks->cap - 1);
		}
		return false;
	}
	size_t s = XXH3_64bits(key, len) & (ks->cap - 1);

	while (ks->offs[s])
	{
		size_t l;
		const char *k = arena_key(ks, ks->offs[s], &l);

		if (l == len && memcmp(k, key, len) == 0)
			return true;
		s = (s + 1) & (ks->cap - 1);
	}
	return false;
}

size_t
keyset_count(const keyset *ks)
{
	return ks->count;
}

size_t
keyset_bytes(const keyset *ks)
{
	return ks->strings ? ks->cap * sizeof *ks->offs + ks->arena.cap
		: ks->cap * sizeof *ks->ints;
}

/* a line of the key COPY: keys are plain values (no tab), NULL keys mean nothing */
static bool
add_copied_key(void *ctx, const char *line, size_t n)
{
	keyset *ks = ctx;

	if (n == 2 && line[0] == '\\' && line[1] == 'N')
		return true;
	if (!memchr(line, '\\', n))
	{
		keyset_add(ks, line, n);
		return true;
	}
	/* unescape the rare key with a backslash */
	buf tmp;

	buf_init(&tmp, n + 1);
	for (size_t i = 0; i < n; i++)
	{
		char c = line[i];

		if (c == '\\' && i + 1 < n)
		{
			c = line[++i];
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
		}
		buf_putc(&tmp, c);
	}
	keyset_add(ks, tmp.data, tmp.len);
	buf_free(&tmp);
	return true;
}

bool
keyset_load(keyset *ks, PGconn *conn, const char *role, const char *sql)
{
	return pg_copy_lines(conn, role, sql, add_copied_key, ks);
}

void
keyset_free(keyset *ks)
{
	if (ks == NULL)
		return;
	free(ks->ints);
	free(ks->offs);
	if (ks->strings)
		buf_free(&ks->arena);
	free(ks);
}
