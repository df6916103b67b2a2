/*
 * jsoncheck.c: a JSON syntax check without allocation (a nesting stack of
 * bits), for values on their way to json/jsonb columns.
 */
#include <stdint.h>
#include <string.h>

#include "jsoncheck.h"

#define MAX_DEPTH 4096          /* deeper: let the server decide */

typedef struct jscan
{
	const unsigned char *p;
	const unsigned char *end;
} jscan;

static void
skip_ws(jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool
is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
scan_string(jscan *s)
{
	s->p++;                     /* the opening quote */
	while (s->p < s->end)
	{
		unsigned char c = *s->p++;

		if (c == '"')
			return true;
		if (c < 0x20)
			return false;       /* control characters must be escaped */
		if (c == '\\')
		{
			if (s->p >= s->end)
				return false;
			c = *s->p++;
			if (c == 'u')
			{
				if (s->end - s->p < 4 || !is_hex(s->p[0]) || !is_hex(s->p[1]) ||
					!is_hex(s->p[2]) || !is_hex(s->p[3]))
					return false;
				s->p += 4;
			}
			else if (!strchr("\"\\/bfnrt", c) || c == '\0')
				return false;
		}
	}
	return false;
}

static bool
scan_number(jscan *s)
{
	const unsigned char *start;

	if (s->p < s->end && *s->p == '-')
		s->p++;
	if (s->p >= s->end)
		return false;
	if (*s->p == '0')
		s->p++;
	else if (*s->p >= '1' && *s->p <= '9')
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
	else
		return false;
	if (s->p < s->end && *s->p == '.')
	{
		start = ++s->p;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
		if (s->p == start)
			return false;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E'))
	{
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		start = s->p;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
		if (s->p == start)
			return false;
	}
	return true;
}

static bool
scan_literal(jscan *s, const char *word)
{
	size_t n = strlen(word);

	if ((size_t) (s->end - s->p) < n || memcmp(s->p, word, n) != 0)
		return false;
	s->p += n;
	return true;
}

/* a scalar value at s->p, or the opening of a container (not consumed) */
static bool
scan_scalar(jscan *s)
{
	switch (*s->p)
	{
		case '"': return scan_string(s);
		case 't': return scan_literal(s, "true");
		case 'f': return scan_literal(s, "false");
		case 'n': return scan_literal(s, "null");
		default: return scan_number(s);
	}
}

bool
json_text_valid(const char *text, size_t n)
{
	jscan s = {(const unsigned char *) text, (const unsigned char *) text + n};
	uint8_t stack[MAX_DEPTH / 8] = {0};  /* 1 bit a level: 1 = object, 0 = array */
	int depth = 0;

	/* each turn reads one value, then what follows it in its container */
	for (;;)
	{
		skip_ws(&s);
		if (s.p >= s.end)
			return false;
		if (*s.p == '{' || *s.p == '[')
		{
			bool object = *s.p == '{';

			if (depth >= MAX_DEPTH)
				return true;    /* too deep to judge here */
			if (object)
				stack[depth / 8] |= (uint8_t) (1u << (depth % 8));
			else
				stack[depth / 8] &= (uint8_t) ~(1u << (depth % 8));
			depth++;
			s.p++;
			skip_ws(&s);
			if (s.p < s.end && *s.p == (object ? '}' : ']'))
			{
				s.p++;
				depth--;
				goto after_value;
			}
			if (object)
			{
				if (s.p >= s.end || *s.p != '"' || !scan_string(&s))
					return false;
				skip_ws(&s);
				if (s.p >= s.end || *s.p++ != ':')
					return false;
			}
			continue;
		}
		if (!scan_scalar(&s))
			return false;
after_value:
		for (;;)
		{
			skip_ws(&s);
			if (depth == 0)
				return s.p == s.end;
			if (s.p >= s.end)
				return false;

			bool object = (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;

			if (*s.p == ',')
			{
				s.p++;
				if (object)
				{
					skip_ws(&s);
					if (s.p >= s.end || *s.p != '"' || !scan_string(&s))
						return false;
					skip_ws(&s);
					if (s.p >= s.end || *s.p++ != ':')
						return false;
				}
				break;          /* read the next value */
			}
			if (*s.p == (object ? '}' : ']'))
			{
				s.p++;
				depth--;
				continue;       /* the container was a value of its parent */
			}
			return false;
		}
	}
}
