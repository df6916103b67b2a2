/*
 * names.c: naming conventions of ferry-plan, and SQL quoting.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

static char *irregular_form(const char *word, bool plural);

char *
pluralize(const char *word)
{
	size_t n = strlen(word);
	char *irr = irregular_form(word, true);
	buf b;

	if (irr)
		return irr;
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

/* ---- singular and plural ---- */

/* irregular plurals that table and column names use */
static const char *const irregular[][2] = {
	{"person", "people"}, {"child", "children"}, {"man", "men"}, {"woman", "women"},
	{"mouse", "mice"}, {"foot", "feet"}, {"tooth", "teeth"},
	{"criterion", "criteria"}, {"analysis", "analyses"}, {"index", "indices"},
	{NULL, NULL}
};

/* the last word of a name: "us_states" -> "states" (its offset) */
static size_t
last_word(const char *name)
{
	const char *us = strrchr(name, '_');

	return us && us[1] ? (size_t) (us + 1 - name) : 0;
}

/* the irregular form of word's last word, or NULL (plural: from singular to plural) */
static char *
irregular_form(const char *word, bool plural)
{
	size_t at = last_word(word);

	for (int i = 0; irregular[i][0]; i++)
		if (strcmp(word + at, irregular[i][plural ? 0 : 1]) == 0)
		{
			buf b;

			buf_init(&b, strlen(word) + 8);
			buf_append(&b, word, at);
			buf_puts(&b, irregular[i][plural ? 1 : 0]);
			buf_cstr(&b);
			return b.data;
		}
	return NULL;
}

char *
singularize(const char *word)
{
	size_t n = strlen(word);
	char *irr = irregular_form(word, false);

	if (irr)
		return irr;
	/* categories -> category, but keys, days stay with their vowel */
	if (n > 4 && ends_with(word, "ies"))
	{
		char *s = xstrndup(word, n - 3 + 1);

		s[n - 3] = 'y';
		return s;
	}
	/*
	 * "es" after s, x, z, ch, sh: addresses, statuses, boxes, churches;
	 * but "es" after a single s or z is usually e + s: houses, cases, sizes
	 */
	if (n > 3 && ends_with(word, "es"))
	{
		const char *stem_end = word + n - 2;	/* the "es" */

		bool us_stem = ends_with(word, "uses") && (n == 4 || !strchr("aeiou", word[n - 5]));

		if (ends_with(word, "sses") || us_stem || ends_with(word, "xes") ||
			ends_with(word, "ches") || ends_with(word, "shes") || ends_with(word, "zzes"))
			return xstrndup(word, (size_t) (stem_end - word));
		return xstrndup(word, n - 1);
	}
	/* a plain s, but not ss (address), us (status), is (analysis) */
	if (n > 1 && word[n - 1] == 's' && !ends_with(word, "ss") && !ends_with(word, "us") &&
		!ends_with(word, "is"))
		return xstrndup(word, n - 1);
	return xstrdup(word);
}

bool
same_noun(const char *a, const char *b)
{
	char *forms[4];
	bool same;

	if (strcmp(a, b) == 0)
		return true;
	forms[0] = pluralize(a);
	forms[1] = pluralize(b);
	forms[2] = singularize(a);
	forms[3] = singularize(b);
	same = strcmp(forms[0], b) == 0 || strcmp(forms[1], a) == 0 || strcmp(forms[2], forms[3]) == 0;
	for (int i = 0; i < 4; i++)
		free(forms[i]);
	return same;
}

/* ---- column names that say the same thing ---- */

/* abbreviations a legacy schema uses, and the words they stand for */
static const char *const abbrev[][3] = {
	{"no", "number", NULL}, {"num", "number", NULL}, {"nbr", "number", NULL}, {"nr", "number", NULL},
	{"qty", "quantity", NULL}, {"amt", "amount", NULL}, {"dob", "date", "birth"},
	{"desc", "description", NULL}, {"descr", "description", NULL}, {"addr", "address", NULL},
	{"msg", "message", NULL}, {"cnt", "count", NULL}, {"pct", "percent", NULL},
	{"dt", "date", NULL}, {"ts", "timestamp", NULL}, {"tel", "phone", NULL},
	{"telephone", "phone", NULL}, {"cust", "customer", NULL}, {"acct", "account", NULL},
	{"dept", "department", NULL}, {"org", "organization", NULL}, {"ref", "reference", NULL},
	{"info", "information", NULL}, {"img", "image", NULL}, {"fname", "first", "name"},
	{"lname", "last", "name"}, {"pwd", "password", NULL}, {"passwd", "password", NULL},
	{NULL, NULL, NULL}
};

/* words that carry no meaning of their own in a column name */
static const char *const filler[] = {"of", "the", "a", "an", "is", "has", "for", NULL};

/* a time suffix or prefix: shipped_at, shipped_on, ship_date say the same */
static const char *const time_word[] = {"at", "on", "date", "time", "timestamp", NULL};

#define MAXTOKENS 16

typedef struct tokens
{
	int n;
	char *w[MAXTOKENS];
} tokens;

static void
add_token(tokens *t, const char *w, size_t len)
{
	char *word = xstrndup(w, len);
	char *one;

	for (char *p = word; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	if (in_set(word, filler) || t->n >= MAXTOKENS)
	{
		free(word);
		return;
	}
	one = singularize(word);
	free(word);
	/* a set: once each */
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->w[i], one) == 0)
		{
			free(one);
			return;
		}
	t->w[t->n++] = one;
}

static void
name_tokens(const char *name, tokens *t)
{
	t->n = 0;
	for (const char *p = name; *p;)
	{
		size_t len = strcspn(p, "_");

		if (len > 0)
		{
			bool expanded = false;

			for (int a = 0; abbrev[a][0] && !expanded; a++)
				if (strlen(abbrev[a][0]) == len && strncasecmp(p, abbrev[a][0], len) == 0)
				{
					add_token(t, abbrev[a][1], strlen(abbrev[a][1]));
					if (abbrev[a][2])
						add_token(t, abbrev[a][2], strlen(abbrev[a][2]));
					expanded = true;
				}
			if (!expanded)
				add_token(t, p, len);
		}
		p += len;
		if (*p == '_')
			p++;
	}
}

static void
tokens_free(tokens *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->w[i]);
	t->n = 0;
}

/* are the words of a, less those in skip (NULL: none), the words of b less those? */
static bool
same_words(const tokens *a, const tokens *b, const char *const *skip)
{
	int na = 0, nb = 0;

	for (int i = 0; i < a->n; i++)
	{
		bool found = false;

		if (skip && in_set(a->w[i], skip))
			continue;
		na++;
		for (int j = 0; j < b->n && !found; j++)
			found = strcmp(a->w[i], b->w[j]) == 0;
		if (!found)
			return false;
	}
	for (int j = 0; j < b->n; j++)
		if (!(skip && in_set(b->w[j], skip)))
			nb++;
	return na > 0 && na == nb;
}

bool
similar_names(const char *a, const char *b)
{
	tokens ta, tb;
	bool similar;

	name_tokens(a, &ta);
	name_tokens(b, &tb);
	similar = same_words(&ta, &tb, NULL) || same_words(&ta, &tb, time_word);
	tokens_free(&ta);
	tokens_free(&tb);
	return similar;
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
