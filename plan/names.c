/*
 * names.c: naming conventions of ferry-plan, and SQL quoting.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "pgconn.h"

bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

char *
pluralize(const char *word)
{
	size_t n = strlen(word);
	buf b;

	buf_init(&b, n + 4);
	if (n >= 2 && word[n - 1] == 'y' && !strchr("aeiou", word[n - 2]))
	{
		buf_append(&b, word, n - 1);
		buf_puts(&b, "ies");
	}
	else if (ends_with(word, "s") || ends_with(word, "x") || ends_with(word, "z") ||
			 ends_with(word, "ch") || ends_with(word, "sh"))
	{
		buf_puts(&b, word);
		buf_puts(&b, "es");
	}
	else
	{
		buf_puts(&b, word);
		buf_putc(&b, 's');
	}
	buf_cstr(&b);
	return b.data;
}

static bool
in_set(const char *name, const char *const *set)
{
	for (int i = 0; set[i]; i++)
		if (strcmp(name, set[i]) == 0)
			return true;
	return false;
}

bool
is_creation_name(const char *name)
{
	static const char *const set[] = {
		"created_at", "created", "create_date", "created_on", "creation_date",
		"date_created", "inserted_at", "date_joined", NULL
	};

	return in_set(name, set);
}

bool
is_update_name(const char *name)
{
	static const char *const set[] = {
		"updated_at", "updated", "modified", "modified_at", "last_update",
		"last_modified", "date_modified", "updated_on", "update_date", NULL
	};

	return in_set(name, set);
}

bool
is_integer_type(const char *base)
{
	return strcmp(base, "int2") == 0 || strcmp(base, "int4") == 0 || strcmp(base, "int8") == 0;
}

/* skip a "::type" cast chain: type names, spaces, typmods, [] */
static const char *
skip_casts(const char *p)
{
	while (p[0] == ':' && p[1] == ':')
	{
		p += 2;
		while (*p && (isalnum((unsigned char) *p) || *p == '_' || *p == ' ' || *p == '"' ||
					  *p == '.' || *p == '[' || *p == ']'))
			p++;
		if (*p == '(')
		{
			/* a typmod: digits and commas only */
			p++;
			while (isdigit((unsigned char) *p) || *p == ',' || *p == ' ')
				p++;
			if (*p != ')')
				return NULL;
			p++;
			while (*p == '[' || *p == ']')
				p++;
		}
	}
	return p;
}

bool
constant_default(const char *def, char **text, bool *quoted)
{
	const char *p = def;
	int parens = 0;
	buf b;

	if (def == NULL)
		return false;
	while (*p == '(')
		p++, parens++;
	buf_init(&b, 32);
	if (*p == '\'')
	{
		p++;
		for (;;)
		{
			if (*p == '\0')
			{
				buf_free(&b);
				return false;
			}
			if (*p == '\'' && p[1] == '\'')
			{
				buf_putc(&b, '\'');
				p += 2;
				continue;
			}
			if (*p == '\'')
			{
				p++;
				break;
			}
			buf_putc(&b, *p++);
		}
		*quoted = true;
	}
	else
	{
		const char *start = p;

		if (*p == '-')
			p++;
		while (isdigit((unsigned char) *p) || *p == '.')
			p++;
		if (p > start && (p[-1] != '-'))
			buf_append(&b, start, (size_t) (p - start));
		else if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0)
		{
			size_t n = p[0] == 't' ? 4 : 5;

			buf_append(&b, p, n);
			p += n;
		}
		else
		{
			buf_free(&b);
			return false;
		}
		*quoted = false;
	}
	/* casts and closing parentheses, in any mix */
	for (;;)
	{
		const char *q = skip_casts(p);

		if (q == NULL)
			break;
		p = q;
		if (*p == ')' && parens > 0)
		{
			parens--;
			p++;
			continue;
		}
		break;
	}
	buf_cstr(&b);
	/* 'now', 'today' ... are evaluated when the row is inserted */
	if (*p != '\0' || parens != 0 ||
		(*quoted && (strcmp(b.data, "now") == 0 || strcmp(b.data, "today") == 0 ||
					 strcmp(b.data, "tomorrow") == 0 || strcmp(b.data, "yesterday") == 0)))
	{
		buf_free(&b);
		return false;
	}
	*text = b.data;
	return true;
}

static bool
is_keyword(const catalog *cat, const char *name)
{
	int lo = 0, hi = cat->nkeywords - 1;

	/* pg_get_keywords() ordered by word (C collation of ASCII words) */
	while (lo <= hi)
	{
		int mid = (lo + hi) / 2;
		int c = strcmp(cat->keywords[mid], name);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

void
sql_ident(buf *b, const catalog *cat, const char *name)
{
	bool plain = (*name >= 'a' && *name <= 'z') || *name == '_';
	bool control = false;

	for (const char *p = name; plain && *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '$'))
			plain = false;
	for (const char *p = name; *p; p++)
		control |= (unsigned char) *p < 0x20;
	if (plain && !is_keyword(cat, name))
		buf_puts(b, name);
	else if (control)
	{
		/*
		 * a newline (any control character) would break the plan's lines,
		 * and the indentation of the extract query would join the name:
		 * U&"a\000Ab", the escape being the backslash
		 */
		buf_puts(b, "U&\"");
		for (const char *p = name; *p; p++)
		{
			if ((unsigned char) *p < 0x20)
				buf_printf(b, "\\%04X", (unsigned char) *p);
			else
			{
				if (*p == '"' || *p == '\\')
					buf_putc(b, *p);
				buf_putc(b, *p);
			}
		}
		buf_putc(b, '"');
	}
	else
		pg_append_ident(b, name);
}

void
sql_table(buf *b, const catalog *cat, const cat_table *t)
{
	sql_ident(b, cat, t->schema);
	buf_putc(b, '.');
	sql_ident(b, cat, t->name);
}

void
sql_literal(buf *b, const char *s)
{
	pg_append_literal(b, s);
}
