/*
 * jsonfmt.c: JSON printed again as jq 1.6 prints it (see jsonfmt.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonfmt.h"

void
json_format_number(double d, char *out)
{
	char e[40], digits[20];
	int prec, exp10, nd = 0;

	if (d == 0)
	{
		strcpy(out, signbit(d) ? "-0" : "0");
		return;
	}
	/* the fewest significant digits that read back as d (jq's dtoa, mode 0) */
	for (prec = 1; prec <= 17; prec++)
	{
		snprintf(e, sizeof e, "%.*e", prec - 1, d);
		if (strtod(e, NULL) == d)
			break;
	}
	const char *p = e;
	char *o = out;
	if (*p == '-')
		*o++ = *p++;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	exp10 = atoi(p + 1);
	int decpt = exp10 + 1;
	if (decpt <= -4 || decpt > nd + 15)
	{
		*o++ = digits[0];
		if (nd > 1)
		{
			*o++ = '.';
			memcpy(o, digits + 1, (size_t) nd - 1);
			o += nd - 1;
		}
		sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
		return;
	}
	if (decpt <= 0)
	{
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -decpt; i++)
			*o++ = '0';
		memcpy(o, digits, (size_t) nd);
		o += nd;
	}
	else
	{
		for (int i = 0; i < nd || i < decpt; i++)
		{
			if (i == decpt)
				*o++ = '.';
			*o++ = i < nd ? digits[i] : '0';
		}
	}
	*o = '\0';
}

typedef struct reader
{
	const char *p;
	int indent;
	buf *out;
} reader;

static void
skip_space(reader *r)
{
	while (*r->p == ' ' || *r->p == '\n' || *r->p == '\t' || *r->p == '\r')
		r->p++;
}

static void
newline(reader *r, int depth)
{
	if (r->indent == 0)
		return;
	buf_putc(r->out, '\n');
	for (int i = 0; i < depth * r->indent; i++)
		buf_putc(r->out, ' ');
}

static bool value(reader *r, int depth);

static bool
string(reader *r)
{
	const char *start = r->p++;
	while (*r->p && *r->p != '"')
		r->p += *r->p == '\\' && r->p[1] ? 2 : 1;
	if (*r->p != '"')
		return false;
	r->p++;
	buf_append(r->out, start, (size_t) (r->p - start));
	return true;
}

/* an object or array: its members, each on its own line when indented */
static bool
container(reader *r, int depth, char close)
{
	r->p++;
	skip_space(r);
	if (*r->p == close)
	{
		r->p++;
		buf_putc(r->out, close == '}' ? '{' : '[');
		buf_putc(r->out, close);
		return true;
	}
	buf_putc(r->out, close == '}' ? '{' : '[');
	for (;;)
	{
		newline(r, depth + 1);
		skip_space(r);
		if (close == '}')
		{
			if (*r->p != '"' || !string(r))
				return false;
			skip_space(r);
			if (*r->p++ != ':')
				return false;
			buf_puts(r->out, r->indent ? ": " : ":");
		}
		if (!value(r, depth + 1))
			return false;
		skip_space(r);
		if (*r->p == ',')
		{
			r->p++;
			buf_putc(r->out, ',');
			continue;
		}
		if (*r->p != close)
			return false;
		r->p++;
		newline(r, depth);
		buf_putc(r->out, close);
		return true;
	}
}

static bool
value(reader *r, int depth)
{
	skip_space(r);
	char c = *r->p;
	if (c == '{' || c == '[')
		return container(r, depth, c == '{' ? '}' : ']');
	if (c == '"')
		return string(r);
	if (c == '-' || (c >= '0' && c <= '9'))
	{
		char *end, num[40];
		double d = strtod(r->p, &end);
		if (end == r->p)
			return false;
		r->p = end;
		json_format_number(d, num);
		buf_puts(r->out, num);
		return true;
	}
	static const char *const words[] = {"true", "false", "null"};
	for (int i = 0; i < 3; i++)
		if (strncmp(r->p, words[i], strlen(words[i])) == 0)
		{
			buf_puts(r->out, words[i]);
			r->p += strlen(words[i]);
			return true;
		}
	return false;
}

bool
json_reformat(const char *in, int indent, buf *out)
{
	reader r = {in, indent, out};
	if (!value(&r, 0))
		return false;
	skip_space(&r);
	if (indent)
		buf_putc(out, '\n');
	return *r.p == '\0';
}
