/*
 * sqlident.c: a scanner of SQL text for its identifiers (sqlident.h),
 * following PostgreSQL's lexer (scan.l) where it matters: what is a
 * string, a comment, an identifier, and how a bare identifier is folded.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sqlident.h"

static bool
ident_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static bool
ident_cont(unsigned char c)
{
	return ident_start(c) || isdigit(c) || c == '$';
}

static void
add(sql_idents *ids, char *name, size_t offset)
{
	ids->v = xrealloc(ids->v, sizeof(sql_ident) * (size_t) (ids->n + 1));
	ids->v[ids->n].name = name;
	ids->v[ids->n].offset = offset;
	ids->n++;
}

/* the end of a 'string' starting at s (just after the quote); backslash: E'' */
static const char *
skip_string(const char *s, bool backslash)
{
	while (*s)
	{
		if (backslash && *s == '\\' && s[1])
			s += 2;
		else if (*s == '\'' && s[1] == '\'')
			s += 2;
		else if (*s == '\'')
			return s + 1;
		else
			s++;
	}
	return s;
}

/* a dollar quote's tag at s ("$$" or "$tag$"): its length, 0 if s is not one */
static size_t
dollar_tag(const char *s)
{
	size_t n = 1;

	if (s[0] != '$')
		return 0;
	if (s[1] == '$')
		return 2;
	if (!ident_start((unsigned char) s[1]))
		return 0;
	while (s[n] && s[n] != '$')
	{
		if (!ident_cont((unsigned char) s[n]) || s[n] == '$')
			return 0;
		n++;
	}
	return s[n] == '$' ? n + 1 : 0;
}

void
sql_idents_scan(const char *sql, sql_idents *out)
{
	const char *s = sql;

	out->n = 0;
	out->v = NULL;
	while (*s)
	{
		unsigned char c = (unsigned char) *s;
		size_t tag;

		if (c == '-' && s[1] == '-')
		{
			while (*s && *s != '\n')
				s++;
		}
		else if (c == '/' && s[1] == '*')
		{
			int depth = 1;

			s += 2;
			while (*s && depth > 0)
			{
				if (s[0] == '/' && s[1] == '*')
					depth++, s += 2;
				else if (s[0] == '*' && s[1] == '/')
					depth--, s += 2;
				else
					s++;
			}
		}
		else if (c == '\'')
			s = skip_string(s + 1, false);
		else if ((c == 'E' || c == 'e') && s[1] == '\'')
			s = skip_string(s + 2, true);
		else if ((c == 'B' || c == 'b' || c == 'X' || c == 'x' || c == 'N' || c == 'n') &&
				 s[1] == '\'')
			s = skip_string(s + 2, false);
		else if ((c == 'U' || c == 'u') && s[1] == '&' && s[2] == '\'')
			s = skip_string(s + 3, false);
		else if ((tag = dollar_tag(s)) > 0)
		{
			/* $tag$ ... $tag$: a string */
			const char *end = NULL;

			for (const char *t = s + tag; *t && end == NULL; t++)
				if (strncmp(t, s, tag) == 0)
					end = t + tag;
			s = end ? end : s + strlen(s);
		}
		else if (c == '$')
		{
			/* $1: a parameter */
			s++;
			while (isdigit((unsigned char) *s))
				s++;
		}
		else if (c == '"' || ((c == 'U' || c == 'u') && s[1] == '&' && s[2] == '"'))
		{
			/* "quoted": as written, "" is one quote (U&"..." escapes are left as they are) */
			size_t at = (size_t) (s - sql);
			buf b;

			s += c == '"' ? 1 : 3;
			buf_init(&b, 32);
			while (*s)
			{
				if (*s == '"' && s[1] == '"')
				{
					buf_putc(&b, '"');
					s += 2;
				}
				else if (*s == '"')
				{
					s++;
					break;
				}
				else
					buf_putc(&b, *s++);
			}
			buf_cstr(&b);
			add(out, b.data, at);
		}
		else if (ident_start(c))
		{
			/* bare: ASCII letters folded to lower case, as PostgreSQL does in UTF-8 */
			const char *start = s;
			char *name;

			while (ident_cont((unsigned char) *s))
				s++;
			name = xstrndup(start, (size_t) (s - start));
			for (char *p = name; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char) (*p - 'A' + 'a');
			add(out, name, (size_t) (start - sql));
		}
		else if (isdigit(c))
		{
			/* a number, with its exponent or a trailing identifier-like tail (1e5, 0x1F) */
			while (isalnum((unsigned char) *s) || *s == '.' || *s == '_')
				s++;
		}
		else
			s++;
	}
}

void
sql_idents_free(sql_idents *ids)
{
	for (int i = 0; i < ids->n; i++)
		free(ids->v[i].name);
	free(ids->v);
	ids->n = 0;
	ids->v = NULL;
}

bool
sql_idents_has(const sql_idents *ids, const char *name)
{
	return sql_idents_last(ids, name) >= 0;
}

long
sql_idents_last(const sql_idents *ids, const char *name)
{
	for (int i = ids->n - 1; i >= 0; i--)
		if (strcmp(ids->v[i].name, name) == 0)
			return (long) ids->v[i].offset;
	return -1;
}
