/*
 * keyset.c: the source's legacy keys as 8-byte values in a sorted array
 * (8 bytes a key), and the values of key texts and UUIDs.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "buf.h"
#include "delete.h"

void
keyset_init(keyset *s)
{
	memset(s, 0, sizeof *s);
}

void
keyset_free(keyset *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}

void
keyset_add(keyset *s, int64_t v)
{
	if (s->n == s->cap)
	{
		/* grow by half: the peak stays near 8 bytes a key, not 16 */
		s->cap = s->cap < 1024 ? 1024 : s->cap + s->cap / 2;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = v;
	s->sorted = false;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return (x > y) - (x < y);
}

bool
keyset_has(keyset *s, int64_t v)
{
	if (!s->sorted)
	{
		if (s->n > 1)
			qsort(s->v, s->n, sizeof *s->v, cmp64);
		s->sorted = true;
	}
	size_t lo = 0, hi = s->n;

	while (lo < hi)
	{
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->v[lo] == v;
}

int64_t
key_value(const char *key, size_t len)
{
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0;

	if (len > 0 && key[0] == '-')
	{
		neg = true;
		i = 1;
	}
	/* a canonical integer of at most 18 digits is its own value */
	bool number = len > i && len - i <= 18 && !(key[i] == '0' && len > i + 1) &&
		!(neg && len == 2 && key[1] == '0');

	for (size_t j = i; number && j < len; j++)
	{
		if (key[j] < '0' || key[j] > '9')
			number = false;
		else
			v = v * 10 + (uint64_t) (key[j] - '0');
	}
	if (number)
		return neg ? -(int64_t) v : (int64_t) v;
	return (int64_t) XXH3_64bits(key, len);
}

int64_t
uuid_value(const uint8_t u[16])
{
	int64_t v;

	memcpy(&v, u, sizeof v);
	return v;
}

/* one column of a COPY text line, unescaped, appended to out */
static void
unescape(const char *s, size_t n, buf *out)
{
	for (size_t i = 0; i < n; i++)
	{
		char c = s[i];

		if (c == '\\' && i + 1 < n)
		{
			c = s[++i];
			c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' :
				c == 'f' ? '\f' : c == 'v' ? '\v' : c;
		}
		buf_putc(out, c);
	}
}

bool
copy_line_key(const char *line, size_t len, int ncols, buf *out)
{
	buf part;
	const char *p = line, *end = line + len;
	bool ok = true;

	buf_reset(out);
	buf_init(&part, 64);
	for (int col = 0; col < ncols && ok; col++)
	{
		const char *tab = memchr(p, '\t', (size_t) (end - p));
		const char *stop = tab ? tab : end;

		if (stop - p == 2 && p[0] == '\\' && p[1] == 'N')
			ok = false;
		else if (ncols == 1)
			unescape(p, (size_t) (stop - p), out);
		else
		{
			/* a composite key: "," and "\" of a part escaped, parts joined by "," */
			buf_reset(&part);
			unescape(p, (size_t) (stop - p), &part);
			if (col > 0)
				buf_putc(out, ',');
			for (size_t i = 0; i < part.len; i++)
			{
				if (part.data[i] == ',' || part.data[i] == '\\')
					buf_putc(out, '\\');
				buf_putc(out, part.data[i]);
			}
		}
		p = tab ? tab + 1 : end;
	}
	buf_free(&part);
	return ok;
}
