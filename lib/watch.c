/*
 * watch.c: the tables an extract reads against those its incremental
 * expression watches (watch.h).
 *
 * Two EXPLAINs, no row read: the extract query (every table it reads),
 * and the expression over it (the tables it reads columns of).  The plan's
 * JSON is taken apart by the source itself (jsonpath), not by a parser of
 * ours: a query with the JSON as its parameter, which a read-only
 * transaction may run.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pgconn.h"
#include "watch.h"

/* a string literal at p ('...', '' inside): the character after it */
static const char *
skip_literal(const char *p)
{
	for (p++; *p; p++)
		if (*p == '\'')
		{
			if (p[1] != '\'')
				return p + 1;
			p++;
		}
	return p;
}

static bool
ident_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static bool
ident_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

bool
watch_qualifies(const char *text, const char *name)
{
	size_t nlen = strlen(name);
	buf id;
	bool found = false;

	buf_init(&id, 64);
	for (const char *p = text; *p && !found;)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '\'')
		{
			p = skip_literal(p);
			continue;
		}
		if (c != '"' && !ident_start(c))
		{
			/* a number or a parameter ($1, 1.5e3) is not a name */
			if (isdigit(c) || c == '$')
				for (p++; isalnum((unsigned char) *p) || *p == '.' || *p == '_'; p++)
					;
			else
				p++;
			continue;
		}
		buf_reset(&id);
		if (c == '"')
		{
			for (p++; *p; p++)
			{
				if (*p == '"')
				{
					if (p[1] != '"')
					{
						p++;
						break;
					}
					p++;
				}
				buf_putc(&id, *p);
			}
		}
		else
			for (; ident_char((unsigned char) *p); p++)
				buf_putc(&id, *p);
		found = *p == '.' && id.len == nlen && memcmp(id.data, name, nlen) == 0;
	}
	buf_free(&id);
	return found;
}

/* does text hold word, not inside a longer number or name? */
static bool
has_word(const char *text, const char *word, size_t len)
{
	for (const char *p = text; (p = strstr(p, word)) != NULL; p++)
	{
		bool before = p > text && ident_char((unsigned char) p[-1]) && word[0] != '$';
		bool after = ident_char((unsigned char) p[len]) && p[len] != '$';

		if (!before && !after)
			return true;
	}
	return false;
}

bool
watch_mentions_subplan(const char *text, const char *name)
{
	const char *paren = strstr(name, " (returns ");
	size_t base = paren ? (size_t) (paren - name) : strlen(name);
	char *word = xstrndup(name, base);
	bool found = has_word(text, word, base);

	free(word);
	/* an InitPlan's value is one of its parameters ($0) in PostgreSQL 15 */
	for (const char *p = paren ? paren + 10 : NULL; p && *p == '$' && !found;)
	{
		size_t n = 1 + strspn(p + 1, "0123456789");

		word = xstrndup(p, n);
		found = has_word(text, word, n);
		free(word);
		p += n;
		p += *p == ',';
	}
	return found;
}

typedef struct names
{
	int n;
	char **v;
} names;

static void
names_add(names *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return;
	s->v = xrealloc(s->v, (size_t) (s->n + 1) * sizeof(char *));
	s->v[s->n++] = xstrdup(name);
}

static bool
names_has(const names *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

static void
names_free(names *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The scans of a plan (JSON): "r" ALIAS TABLE for each table scanned, "s"
 * SUBPLAN TABLE for each table under a subplan, and "o" OUTPUT: the top
 * node's output expressions
 */
static const char *const plan_nodes_sql =
	"WITH n AS (SELECT x FROM jsonb_path_query($1::jsonb, 'strict $.**') x WHERE jsonb_typeof(x) = 'object') "
	"SELECT 'r', coalesce(x->>'Alias', ''), concat_ws('.', x->>'Schema', x->>'Relation Name') "
	"  FROM n WHERE x ? 'Relation Name' "
	"UNION ALL "
	"SELECT 's', n.x->>'Subplan Name', concat_ws('.', r->>'Schema', r->>'Relation Name') "
	"  FROM n, jsonb_path_query(n.x, 'strict $.**') r "
	" WHERE n.x ? 'Subplan Name' AND jsonb_typeof(r) = 'object' AND r ? 'Relation Name' "
	"UNION ALL "
	"SELECT 'o', coalesce((SELECT string_agg(o, ' ') "
	"  FROM jsonb_array_elements_text($1::jsonb -> 0 -> 'Plan' -> 'Output') o), ''), ''";

/* EXPLAIN (VERBOSE, FORMAT JSON) SELECT WHAT FROM (QUERY) AS q, then its scans; NULL: err said */
static PGresult *
explain(PGconn *src, const char *what, const char *query, buf *err)
{
	buf sql;
	size_t len = strlen(query);
	PGresult *res, *nodes = NULL;

	/* a trailing semicolon breaks the subquery (extract.c's wrapping) */
	while (len > 0 && (query[len - 1] == ';' || isspace((unsigned char) query[len - 1])))
		len--;
	buf_init(&sql, len + 128);
	buf_printf(&sql, "EXPLAIN (VERBOSE, FORMAT JSON) SELECT %s FROM (\n", what);
	buf_append(&sql, query, len);
	buf_puts(&sql, "\n) AS q");
	res = PQexecParams(src, buf_cstr(&sql), 0, NULL, NULL, NULL, NULL, 0);
	buf_free(&sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
	{
		const char *json = PQgetvalue(res, 0, 0);

		nodes = PQexecParams(src, plan_nodes_sql, 1, NULL, &json, NULL, NULL, 0);
		if (PQresultStatus(nodes) != PGRES_TUPLES_OK)
		{
			buf_puts(err, pg_errmsg(src, nodes));
			PQclear(nodes);
			nodes = NULL;
		}
	}
	else
		buf_puts(err, pg_errmsg(src, res));
	PQclear(res);
	return nodes;
}

bool
watch_unwatched(PGconn *src, const plan_entity *e, buf *out, buf *err)
{
	names reads = {0}, watched = {0}, gone = {0};
	PGresult *all, *expr = NULL;
	bool keys;
	const char *output = "";

	if (e->incremental == NULL || e->extract_sql == NULL)
		return true;
	keys = strcmp(e->incremental, "keys") == 0;
	if ((all = explain(src, "*", e->extract_sql, err)) == NULL)
		return false;
	if (!keys)
	{
		buf what;

		buf_init(&what, 64);
		buf_printf(&what, "(%s)", e->incremental);
		expr = explain(src, buf_cstr(&what), e->extract_sql, err);
		buf_free(&what);
		if (expr == NULL)
		{
			PQclear(all);
			return false;
		}
	}
	for (int i = 0; i < PQntuples(all); i++)
		if (strcmp(PQgetvalue(all, i, 0), "r") == 0)
			names_add(&reads, PQgetvalue(all, i, 2));
	/* append-only: the new keys of its own table are what it watches */
	if (keys && e->source)
		names_add(&watched, e->source);
	for (int i = 0; expr && i < PQntuples(expr); i++)
		if (strcmp(PQgetvalue(expr, i, 0), "o") == 0)
			output = PQgetvalue(expr, i, 1);
	for (int i = 0; expr && i < PQntuples(expr); i++)
	{
		const char *kind = PQgetvalue(expr, i, 0), *name = PQgetvalue(expr, i, 1);

		if ((strcmp(kind, "r") == 0 && *name && watch_qualifies(output, name)) ||
			(strcmp(kind, "s") == 0 && watch_mentions_subplan(output, name)))
			names_add(&watched, PQgetvalue(expr, i, 2));
	}
	for (int i = 0; i < reads.n; i++)
	{
		bool listed = false;

		for (int k = 0; k < e->nunwatched && !listed; k++)
			listed = strcmp(e->unwatched[k], reads.v[i]) == 0;
		if (!listed && !names_has(&watched, reads.v[i]))
			names_add(&gone, reads.v[i]);
	}
	if (gone.n > 1)
		qsort(gone.v, (size_t) gone.n, sizeof(char *), cmp_name);
	for (int i = 0; i < gone.n; i++)
		buf_printf(out, "%s%s", i ? ", " : "", gone.v[i]);
	names_free(&reads);
	names_free(&watched);
	names_free(&gone);
	PQclear(all);
	PQclear(expr);
	return true;
}
