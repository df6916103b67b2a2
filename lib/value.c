/*
 * value.c: values, PostgreSQL type kinds, COPY TEXT parsing and escaping.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "value.h"

ferry_kind
kind_of_type(const char *t)
{
	if (t == NULL)
		return FK_STR;
	if (strcmp(t, "boolean") == 0)
		return FK_BOOL;
	if (strcmp(t, "smallint") == 0 || strcmp(t, "integer") == 0 ||
		strcmp(t, "bigint") == 0 || strcmp(t, "oid") == 0)
		return FK_INT;
	if (strcmp(t, "real") == 0)
		return FK_FLOAT4;
	if (strcmp(t, "double precision") == 0)
		return FK_FLOAT8;
	if (strcmp(t, "bytea") == 0)
		return FK_BYTEA;
	return FK_STR;
}

static const char hexdigits[] = "0123456789abcdef";

static void
append_float(buf *out, double f, bool single)
{
	if (isnan(f))
		buf_puts(out, "NaN");
	else if (isinf(f))
		buf_puts(out, f > 0 ? "Infinity" : "-Infinity");
	else
	{
		/* enough digits to read back the same bits */
		buf_grow(out, 32);
		out->len += (size_t) snprintf(out->data + out->len, 32, single ? "%.9g" : "%.17g",
									  single ? (double) (float) f : f);
	}
}

static void
append_int(buf *out, int64_t i)
{
	char tmp[24];
	char *p = tmp + sizeof tmp;
	uint64_t u = i < 0 ? (uint64_t) 0 - (uint64_t) i : (uint64_t) i;

	do
	{
		*--p = (char) ('0' + u % 10);
		u /= 10;
	} while (u);
	if (i < 0)
		*--p = '-';
	buf_append(out, p, (size_t) (tmp + sizeof tmp - p));
}

void
value_to_text(const ferry_value *v, buf *out)
{
	switch (v->t)
	{
		case FV_NULL:
			break;
		case FV_BOOL:
			buf_putc(out, v->u.b ? 't' : 'f');
			break;
		case FV_INT:
			append_int(out, v->u.i);
			break;
		case FV_FLOAT32:
			append_float(out, v->u.f, true);
			break;
		case FV_FLOAT64:
			append_float(out, v->u.f, false);
			break;
		case FV_STR:
			buf_append(out, v->u.s.p, v->u.s.len);
			break;
		case FV_BIN:
			buf_grow(out, 2 + 2 * v->u.s.len);
			out->data[out->len++] = '\\';
			out->data[out->len++] = 'x';
			for (size_t i = 0; i < v->u.s.len; i++)
			{
				unsigned char c = (unsigned char) v->u.s.p[i];

				out->data[out->len++] = hexdigits[c >> 4];
				out->data[out->len++] = hexdigits[c & 15];
			}
			break;
	}
}

/* ---- COPY TEXT ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* undo COPY TEXT escapes of p[0..n) into dst; returns the length written */
static size_t
copy_unescape(const char *p, size_t n, char *dst)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++)
	{
		char c = p[i];

		if (c != '\\' || i + 1 == n)
		{
			dst[o++] = c;
			continue;
		}
		c = p[++i];
		switch (c)
		{
			case 'b': dst[o++] = '\b'; break;
			case 'f': dst[o++] = '\f'; break;
			case 'n': dst[o++] = '\n'; break;
			case 'r': dst[o++] = '\r'; break;
			case 't': dst[o++] = '\t'; break;
			case 'v': dst[o++] = '\v'; break;
			case 'x':
				if (i + 1 < n && hexval(p[i + 1]) >= 0)
				{
					int v = hexval(p[++i]);

					if (i + 1 < n && hexval(p[i + 1]) >= 0)
						v = v * 16 + hexval(p[++i]);
					dst[o++] = (char) v;
				}
				else
					dst[o++] = 'x';
				break;
			default:
				if (c >= '0' && c <= '7')
				{
					int v = c - '0';

					for (int k = 0; k < 2 && i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7'; k++)
						v = v * 8 + (p[++i] - '0');
					dst[o++] = (char) v;
				}
				else
					dst[o++] = c;
				break;
		}
	}
	return o;
}

static bool
parse_int(const char *p, size_t n, int64_t *out)
{
	bool neg = false;
	uint64_t u = 0;
	size_t i = 0;

	if (n == 0)
		return false;
	if (p[0] == '-' || p[0] == '+')
	{
		neg = p[0] == '-';
		i = 1;
		if (n == 1)
			return false;
	}
	for (; i < n; i++)
	{
		unsigned d = (unsigned) (p[i] - '0');

		if (d > 9)
			return false;
		if (u > (UINT64_MAX - d) / 10)
			return false;
		u = u * 10 + d;
	}
	if (neg)
	{
		if (u > (uint64_t) INT64_MAX + 1)
			return false;
		*out = (int64_t) (0 - u);
	}
	else
	{
		if (u > (uint64_t) INT64_MAX)
			return false;
		*out = (int64_t) u;
	}
	return true;
}

bool
copytext_parse_field(const char *p, size_t n, ferry_kind kind,
					 buf *scratch, ferry_value *v, buf *err)
{
	if (n == 2 && p[0] == '\\' && p[1] == 'N')
	{
		*v = fv_null();
		return true;
	}
	/* unescape only when needed: most fields have no backslash */
	if (memchr(p, '\\', n) != NULL)
	{
		buf_grow(scratch, n);
		char *dst = scratch->data + scratch->len;
		size_t m = copy_unescape(p, n, dst);

		scratch->len += m;
		p = dst;
		n = m;
	}
	switch (kind)
	{
		case FK_STR:
			*v = fv_str(p, n);
			return true;
		case FK_BOOL:
			if (n == 1 && (p[0] == 't' || p[0] == 'f'))
			{
				*v = fv_bool(p[0] == 't');
				return true;
			}
			break;
		case FK_INT:
			v->t = FV_INT;
			if (parse_int(p, n, &v->u.i))
				return true;
			break;
		case FK_FLOAT4:
		case FK_FLOAT8:
			{
				char tmp[64];
				char *end;

				if (n == 0 || n >= sizeof tmp)
					break;
				memcpy(tmp, p, n);
				tmp[n] = '\0';
				errno = 0;
				if (kind == FK_FLOAT4)
				{
					v->t = FV_FLOAT32;
					v->u.f = strtof(tmp, &end);
				}
				else
				{
					v->t = FV_FLOAT64;
					v->u.f = strtod(tmp, &end);
				}
				/* ERANGE on denormals is fine: the value is still exact */
				if (*end == '\0')
					return true;
				break;
			}
		case FK_BYTEA:
			if (n >= 2 && p[0] == '\\' && p[1] == 'x' && n % 2 == 0)
			{
				size_t m = (n - 2) / 2;
				char *dst;
				bool in_scratch = p >= scratch->data && p < scratch->data + scratch->len;

				if (in_scratch)
				{
					/* decode in place over the unescaped text: stays within the row's room */
					dst = (char *) p;
					scratch->len = (size_t) (p - scratch->data);
				}
				else
				{
					buf_grow(scratch, m);
					dst = scratch->data + scratch->len;
				}

				for (size_t i = 0; i < m; i++)
				{
					int hi = hexval(p[2 + 2 * i]), lo = hexval(p[3 + 2 * i]);

					if (hi < 0 || lo < 0)
						goto bad;
					dst[i] = (char) (hi * 16 + lo);
				}
				scratch->len += m;
				v->t = FV_BIN;
				v->u.s.p = dst;
				v->u.s.len = m;
				return true;
			}
			break;
	}
bad:
	buf_reset(err);
	buf_printf(err, "cannot read \"%.*s\" as %s", (int) (n > 40 ? 40 : n), p,
			   kind == FK_BOOL ? "boolean" : kind == FK_INT ? "integer" :
			   kind == FK_BYTEA ? "bytea (hex)" : "float");
	return false;
}

bool
copytext_parse_row(const char *line, size_t n, const ferry_kind *kinds,
				   int ncols, buf *scratch, ferry_value *vals, buf *err)
{
	/*
	 * Reserve room for the whole row up front: unescaped values are never
	 * longer than their escaped text, so scratch never moves while the
	 * values of this row point into it.
	 */
	buf_reset(scratch);
	buf_grow(scratch, n + 1);

	const char *p = line;
	const char *end = line + n;
	int col = 0;

	for (;;)
	{
		const char *tab = memchr(p, '\t', (size_t) (end - p));
		const char *fend = tab ? tab : end;

		if (col >= ncols)
		{
			buf_reset(err);
			buf_printf(err, "COPY row has more than %d fields", ncols);
			return false;
		}
		if (!copytext_parse_field(p, (size_t) (fend - p), kinds[col], scratch, &vals[col], err))
		{
			buf_printf(err, " (column %d)", col + 1);
			return false;
		}
		col++;
		if (tab == NULL)
			break;
		p = tab + 1;
	}
	if (col != ncols)
	{
		buf_reset(err);
		buf_printf(err, "COPY row has %d fields, expected %d", col, ncols);
		return false;
	}
	return true;
}

/* the escape letter of a byte COPY TEXT must escape, or 0 */
static const char copy_escapes[256] = {
	['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
};

/* append s escaped for COPY TEXT: room for the worst case, then one pass */
static void
copy_escape(buf *out, const char *s, size_t n)
{
	buf_grow(out, 2 * n);

	char *o = out->data + out->len;
	const unsigned char *p = (const unsigned char *) s, *end = p + n;

	while (p < end)
	{
		char e = copy_escapes[*p];

		if (e)
		{
			*o++ = '\\';
			*o++ = e;
		}
		else
			*o++ = (char) *p;
		p++;
	}
	out->len = (size_t) (o - out->data);
}

void
copytext_append_value(buf *out, const ferry_value *v)
{
	switch (v->t)
	{
		case FV_NULL:
			buf_append(out, "\\N", 2);
			break;
		case FV_STR:
			copy_escape(out, v->u.s.p, v->u.s.len);
			break;
		case FV_BIN:
			/* \x in the value is \\x in COPY TEXT */
			buf_putc(out, '\\');
			value_to_text(v, out);
			break;
		default:
			value_to_text(v, out);
			break;
	}
}

void
value_to_json(const ferry_value *v, buf *out)
{
	switch (v->t)
	{
		case FV_NULL:
			buf_puts(out, "null");
			break;
		case FV_BOOL:
			buf_puts(out, v->u.b ? "true" : "false");
			break;
		case FV_INT:
			append_int(out, v->u.i);
			break;
		case FV_FLOAT32:
		case FV_FLOAT64:
			if (isnan(v->u.f) || isinf(v->u.f))
			{
				/* JSON has no NaN or Infinity: say it as PostgreSQL does */
				buf_putc(out, '"');
				append_float(out, v->u.f, false);
				buf_putc(out, '"');
			}
			else
				append_float(out, v->u.f, v->t == FV_FLOAT32);
			break;
		case FV_STR:
			buf_json_string(out, v->u.s.p, v->u.s.len);
			break;
		case FV_BIN:
			{
				buf tmp;

				buf_init(&tmp, 2 * v->u.s.len + 4);
				value_to_text(v, &tmp);
				buf_json_string(out, tmp.data, tmp.len);
				buf_free(&tmp);
				break;
			}
	}
}

bool
value_equal(const ferry_value *a, const ferry_value *b)
{
	if (a->t != b->t)
		return false;
	switch (a->t)
	{
		case FV_NULL:
			return true;
		case FV_BOOL:
			return a->u.b == b->u.b;
		case FV_INT:
			return a->u.i == b->u.i;
		case FV_FLOAT32:
		case FV_FLOAT64:
			return memcmp(&a->u.f, &b->u.f, sizeof a->u.f) == 0 ||
				(isnan(a->u.f) && isnan(b->u.f));
		case FV_STR:
		case FV_BIN:
			return a->u.s.len == b->u.s.len &&
				(a->u.s.len == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0);
	}
	return false;
}
