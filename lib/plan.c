/*
 * plan.c: read, check, order and write migration plans (man/ferry-plan.5).
 *
 * The format is line based: one directive per line, '#' comment lines,
 * and an "extract" block holding SQL verbatim up to its "end".  The parser
 * stops at the first error and logs it as "FILE:LINE: what is wrong";
 * plan_validate() then says whether a well-formed plan can be run.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "plan.h"
#include "uuid.h"

#define PLAN_VERSION 1

typedef struct parser
{
	const char *name;           /* file name, for messages */
	int lineno;
	plan *p;
	plan_entity *e;             /* entity being read, NULL at top level */
	bool target_given;          /* "target" seen in this entity ("-" leaves NULL) */
	bool seen_header;
} parser;

static void
perr(parser *ps, const char *fmt, ...)
{
	va_list ap;
	buf b;

	buf_init(&b, 128);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	log_error("%s:%d: %s", ps->name, ps->lineno, buf_cstr(&b));
	buf_free(&b);
}

/*
 * A repair value: NULL, 'quoted text' (with '' for a quote, so that an
 * empty string can be said), or the rest of the line as it is.
 */
static char *
repair_value(const char *val)
{
	size_t n = strlen(val);

	while (n > 0 && (val[n - 1] == ' ' || val[n - 1] == '\t'))
		n--;
	if (n == 4 && strncmp(val, "NULL", 4) == 0)
		return NULL;
	if (n >= 2 && val[0] == '\'' && val[n - 1] == '\'')
	{
		buf b;

		buf_init(&b, n);
		for (size_t i = 1; i + 1 < n; i++)
		{
			buf_putc(&b, val[i]);
			if (val[i] == '\'' && val[i + 1] == '\'')
				i++;
		}
		return (char *) buf_cstr(&b);
	}
	return xstrndup(val, n);
}

/* ---- small helpers ---- */

static void
strv_push(int *n, char ***v, const char *s)
{
	*v = xrealloc(*v, sizeof(char *) * (size_t) (*n + 1));
	(*v)[(*n)++] = xstrdup(s);
}

static void
strv_free(int n, char **v)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
todo_push(int *n, char ***v, int **lines, const char *text, int line)
{
	*lines = xrealloc(*lines, sizeof(int) * (size_t) (*n + 1));
	(*lines)[*n] = line;
	strv_push(n, v, text);
}

static bool
is_blank(const char *s)
{
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

static const char *
skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* trailing spaces removed in place */
static void
rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && isspace((unsigned char) s[n - 1]))
		s[--n] = '\0';
}

/*
 * Next token of s: a run of characters up to white space (and up to a
 * comma when commas separate), or a "double-quoted" name with "" for a
 * quote.  Returns false at the end of the line; *tok is malloc'ed.
 */
static bool
next_token(parser *ps, const char **s, bool commas, char **tok, bool *error)
{
	const char *p = *s;
	buf b;

	*error = false;
	while (*p == ' ' || *p == '\t' || (commas && *p == ','))
		p++;
	if (*p == '\0')
	{
		*s = p;
		return false;
	}
	buf_init(&b, 32);
	/*
	 * A run of characters may end in OPTION="quoted name": plan_write()
	 * quotes the column of a tree's depth= as any name, and the parser
	 * must read it back (found by tests/fuzz/fuzz_plan: depth="a b" was
	 * refused, depth="a\fb" read as a column named with its quotes).
	 */
	if (*p != '"')
	{
		while (*p && *p != ' ' && *p != '\t' && !(commas && *p == ',') &&
			   !(*p == '"' && b.len > 0 && b.data[b.len - 1] == '='))
			buf_putc(&b, *p++);
	}
	if (*p == '"')
	{
		p++;
		for (;;)
		{
			if (*p == '\0')
			{
				perr(ps, "unterminated quoted name");
				buf_free(&b);
				*error = true;
				return false;
			}
			if (*p == '"')
			{
				if (p[1] == '"')
				{
					buf_putc(&b, '"');
					p += 2;
					continue;
				}
				p++;
				break;
			}
			buf_putc(&b, *p++);
		}
	}
	buf_cstr(&b);
	*tok = b.data;
	*s = p;
	return true;
}

/* every remaining token of the line into a vector; false on error */
static bool
rest_tokens(parser *ps, const char **s, bool commas, int *n, char ***v)
{
	char *tok;
	bool error;

	*n = 0;
	*v = NULL;
	while (next_token(ps, s, commas, &tok, &error))
	{
		*v = xrealloc(*v, sizeof(char *) * (size_t) (*n + 1));
		(*v)[(*n)++] = tok;
	}
	if (error)
	{
		strv_free(*n, *v);
		*n = 0;
		*v = NULL;
		return false;
	}
	return true;
}

static bool
valid_entity_name(const char *s)
{
	if (*s == '\0' || strcmp(s, "-") == 0)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char) *s) || *s == '_' || *s == '.' || *s == '-' ||
			  *s == '$' || (unsigned char) *s >= 0x80))
			return false;
	return true;
}

char *
plan_default_keyspace(const char *source)
{
	if (source == NULL)
		return NULL;
	if (strncmp(source, "public.", 7) == 0 && source[7] != '\0')
		return xstrdup(source + 7);
	return xstrdup(source);
}

/* "TODO: text" or "TODO text": the text, or NULL when the line is not one */
static const char *
todo_text(const char *trimmed)
{
	if (strncmp(trimmed, "TODO", 4) != 0)
		return NULL;
	if (trimmed[4] == ':')
		return skip_space(trimmed + 5);
	if (trimmed[4] == '\0' || trimmed[4] == ' ' || trimmed[4] == '\t')
		return skip_space(trimmed + 4);
	return NULL;
}

/* ---- entity directives ---- */

static bool
set_once(parser *ps, char **field, const char *what, const char *value)
{
	if (*field != NULL)
	{
		perr(ps, "%s given twice", what);
		return false;
	}
	*field = xstrdup(value);
	return true;
}

static bool
parse_policy(parser *ps, const char *s, missing_policy *out)
{
	if (strcmp(s, "reject") == 0)
		*out = MISSING_REJECT;
	else if (strcmp(s, "null") == 0)
		*out = MISSING_NULL;
	else
	{
		perr(ps, "\"%s\": expected reject or null", s);
		return false;
	}
	return true;
}

static bool
parse_tree_policy(parser *ps, const char *s, tree_policy *out)
{
	if (strcmp(s, "root") == 0)
		*out = TREE_ROOT;
	else if (strcmp(s, "reject") == 0)
		*out = TREE_REJECT;
	else
	{
		perr(ps, "\"%s\": expected root or reject", s);
		return false;
	}
	return true;
}

const char *
plan_ref_kind_name(ref_kind kind)
{
	switch (kind)
	{
		case REF_UUID:
			return "ref";
		case REF_CHECK:
			return "check";
		case REF_DEFER:
			return "defer";
		case REF_FORWARD:
			return "forward";
	}
	return "?";
}

/*
 * defer and forward exist to break cycles: the entity they name may load
 * after theirs, so they are not ordering edges
 */
bool
plan_ref_orders(ref_kind kind)
{
	return kind == REF_UUID || kind == REF_CHECK;
}

static bool
parse_ref(parser *ps, plan_entity *e, ref_kind kind, int n, char **v)
{
	const char *what = plan_ref_kind_name(kind);
	int max = kind == REF_DEFER ? 2 : 3;
	plan_ref r = {0};

	if (n < 2 || n > max)
	{
		perr(ps, kind == REF_DEFER ? "usage: defer COLUMN ENTITY"
			 : "usage: %s COLUMN ENTITY [reject|null]", what);
		return false;
	}
	if (!valid_entity_name(v[1]))
	{
		perr(ps, "%s: \"%s\" is not an entity name", what, v[1]);
		return false;
	}
	for (int i = 0; i < e->nrefs; i++)
		if (strcmp(e->refs[i].column, v[0]) == 0)
		{
			perr(ps, "column \"%s\" already has a ref, check, defer or forward (line %d)",
				 v[0], e->refs[i].line);
			return false;
		}
	r.kind = kind;
	r.on_missing = MISSING_REJECT;
	if (n == 3 && !parse_policy(ps, v[2], &r.on_missing))
		return false;
	r.column = xstrdup(v[0]);
	r.entity = xstrdup(v[1]);
	r.line = ps->lineno;
	e->refs = xrealloc(e->refs, sizeof(plan_ref) * (size_t) (e->nrefs + 1));
	e->refs[e->nrefs++] = r;
	return true;
}

static bool
parse_tree(parser *ps, plan_entity *e, int n, char **v)
{
	plan_tree *t;

	if (e->tree)
	{
		perr(ps, "tree given twice");
		return false;
	}
	if (n < 1)
	{
		perr(ps, "usage: tree PARENTCOL [depth=COL] [orphan=root|reject] [cycle=reject|root]");
		return false;
	}
	t = xcalloc(1, sizeof(plan_tree));
	t->parent_column = xstrdup(v[0]);
	t->orphan = TREE_ROOT;
	t->cycle = TREE_REJECT;
	e->tree = t;
	for (int i = 1; i < n; i++)
	{
		if (strncmp(v[i], "depth=", 6) == 0 && v[i][6])
		{
			free(t->depth_column);
			t->depth_column = xstrdup(v[i] + 6);
		}
		else if (strncmp(v[i], "orphan=", 7) == 0)
		{
			if (!parse_tree_policy(ps, v[i] + 7, &t->orphan))
				return false;
		}
		else if (strncmp(v[i], "cycle=", 6) == 0)
		{
			if (!parse_tree_policy(ps, v[i] + 6, &t->cycle))
				return false;
		}
		else
		{
			perr(ps, "tree: unknown option \"%s\" (depth=COL, orphan=root|reject, cycle=reject|root)",
				 v[i]);
			return false;
		}
	}
	return true;
}

static bool
parse_poly(parser *ps, plan_entity *e, int n, char **v)
{
	plan_poly *pp;

	if (e->poly)
	{
		perr(ps, "poly given twice");
		return false;
	}
	if (n < 2 || n > 3)
	{
		perr(ps, "usage: poly TYPECOL IDCOL [missing=reject|null]");
		return false;
	}
	pp = xcalloc(1, sizeof(plan_poly));
	pp->type_column = xstrdup(v[0]);
	pp->id_column = xstrdup(v[1]);
	pp->on_missing = MISSING_REJECT;
	e->poly = pp;
	if (n == 3)
	{
		if (strncmp(v[2], "missing=", 8) != 0)
		{
			perr(ps, "poly: unknown option \"%s\" (missing=reject|null)", v[2]);
			return false;
		}
		if (!parse_policy(ps, v[2] + 8, &pp->on_missing))
			return false;
	}
	return true;
}

const char *
plan_deletes_name(deletes_policy policy)
{
	return policy == DELETES_KEEP ? "keep" : policy == DELETES_FLAG ? "flag" : "delete";
}

/* deletes delete|keep|flag COLUMN */
static bool
parse_deletes(parser *ps, plan_entity *e, int n, char **v)
{
	if (e->deletes_line)
	{
		perr(ps, "deletes given twice");
		return false;
	}
	if (n >= 1 && strcmp(v[0], "flag") == 0 && n == 2)
	{
		e->deletes = DELETES_FLAG;
		e->deletes_column = xstrdup(v[1]);
	}
	else if (n == 1 && strcmp(v[0], "delete") == 0)
		e->deletes = DELETES_DELETE;
	else if (n == 1 && strcmp(v[0], "keep") == 0)
		e->deletes = DELETES_KEEP;
	else
	{
		perr(ps, "usage: deletes delete|keep|flag COLUMN");
		return false;
	}
	e->deletes_line = ps->lineno;
	return true;
}

/* links FROMCOL TOCOL [cycle=note|reject] */
static bool
parse_links(parser *ps, plan_entity *e, int n, char **v)
{
	plan_links *l;

	if (e->links)
	{
		perr(ps, "links given twice");
		return false;
	}
	if (n < 2 || n > 3)
	{
		perr(ps, "usage: links FROMCOL TOCOL [cycle=note|reject]");
		return false;
	}
	if (strcmp(v[0], v[1]) == 0)
	{
		perr(ps, "links: FROMCOL and TOCOL are the same column \"%s\"", v[0]);
		return false;
	}
	l = xcalloc(1, sizeof(plan_links));
	l->from_column = xstrdup(v[0]);
	l->to_column = xstrdup(v[1]);
	l->cycle = LINKS_NOTE;
	e->links = l;
	if (n == 3)
	{
		if (strcmp(v[2], "cycle=note") == 0)
			l->cycle = LINKS_NOTE;
		else if (strcmp(v[2], "cycle=reject") == 0)
			l->cycle = LINKS_REJECT;
		else
		{
			perr(ps, "links: unknown option \"%s\" (cycle=note|reject)", v[2]);
			return false;
		}
	}
	return true;
}

/* unused COL[,COL...] [in SCHEMA.TABLE] */
static bool
parse_unused(parser *ps, plan_entity *e, int n, char **v)
{
	const char *table = NULL;

	if (n >= 3 && strcmp(v[n - 2], "in") == 0)
	{
		table = v[n - 1];
		n -= 2;
	}
	if (n == 0 || (n >= 1 && strcmp(v[n - 1], "in") == 0))
	{
		perr(ps, "usage: unused COLUMN[,COLUMN...] [in SCHEMA.TABLE]");
		return false;
	}
	for (int i = 0; i < n; i++)
	{
		int k = e->nunused;

		strv_push(&e->nunused, &e->unused_cols, v[i]);
		e->unused_tables = xrealloc(e->unused_tables, sizeof(char *) * (size_t) (k + 1));
		e->unused_tables[k] = table ? xstrdup(table) : NULL;
	}
	return true;
}

static bool
list_directive(parser *ps, const char *what, int n, char **v, int *outn, char ***outv,
			   bool once)
{
	if (n == 0)
	{
		perr(ps, "%s: no column given", what);
		return false;
	}
	if (once && *outn > 0)
	{
		perr(ps, "%s given twice", what);
		return false;
	}
	for (int i = 0; i < n; i++)
		strv_push(outn, outv, v[i]);
	return true;
}

/* one directive line inside "entity"; *extract set when "extract" opens */
static bool
entity_directive(parser *ps, const char *line, bool *extract, bool *end)
{
	plan_entity *e = ps->e;
	const char *s = line;
	const char *t;
	char *word = NULL;
	char **v = NULL;
	int n = 0;
	bool error;
	bool ok = false;

	*extract = *end = false;
	if ((t = todo_text(line)) != NULL)
	{
		todo_push(&e->ntodo, &e->todo, &e->todo_line, t, ps->lineno);
		return true;
	}
	if (!next_token(ps, &s, false, &word, &error))
		return !error;

	if (strcmp(word, "incremental") == 0)
	{
		const char *expr = skip_space(s);

		if (*expr == '\0')
			perr(ps, "usage: incremental EXPR");
		else
			ok = set_once(ps, &e->incremental, "incremental", expr);
		free(word);
		return ok;
	}

	if (strcmp(word, "repair") == 0)
	{
		char *col = NULL;
		bool err2;
		const char *val;

		if (!next_token(ps, &s, false, &col, &err2) || *(val = skip_space(s)) == '\0')
			perr(ps, "usage: repair COLUMN VALUE (VALUE may be NULL)");
		else
		{
			e->repair_cols = xrealloc(e->repair_cols, (size_t) (e->nrepair + 1) * sizeof(char *));
			e->repair_vals = xrealloc(e->repair_vals, (size_t) (e->nrepair + 1) * sizeof(char *));
			e->repair_cols[e->nrepair] = col;
			col = NULL;
			e->repair_vals[e->nrepair] = repair_value(val);
			e->nrepair++;
			ok = true;
		}
		free(col);
		free(word);
		return ok;
	}

	if (strcmp(word, "reason") == 0)
	{
		const char *text = skip_space(s);

		if (*text == '\0')
			perr(ps, "usage: reason TEXT");
		else
			ok = set_once(ps, &e->reason, "reason", text);
		free(word);
		return ok;
	}

	/* lists take COL[,COL...]; others split on white space only */
	bool commas = strcmp(word, "key") == 0 || strcmp(word, "conflict") == 0 ||
		strcmp(word, "drop") == 0 || strcmp(word, "depends") == 0 ||
		strcmp(word, "merges") == 0 || strcmp(word, "unused") == 0 ||
		strcmp(word, "default") == 0 || strcmp(word, "unwatched") == 0;

	if (!rest_tokens(ps, &s, commas, &n, &v))
		goto done;

	if (strcmp(word, "end") == 0)
	{
		if (n != 0)
			perr(ps, "\"end\" takes nothing after it");
		else
			ok = *end = true;
	}
	else if (strcmp(word, "extract") == 0)
	{
		if (n != 0)
			perr(ps, "the query goes on the lines after \"extract\", closed by \"end\"");
		else if (e->extract_sql != NULL)
			perr(ps, "extract given twice");
		else
			ok = *extract = true;
	}
	else if (strcmp(word, "source") == 0 || strcmp(word, "target") == 0 ||
			 strcmp(word, "keyspace") == 0 || strcmp(word, "uuid") == 0)
	{
		if (n != 1)
			perr(ps, "usage: %s %s", word,
				 strcmp(word, "target") == 0 ? "SCHEMA.TABLE | -" :
				 strcmp(word, "source") == 0 ? "SCHEMA.TABLE" :
				 strcmp(word, "uuid") == 0 ? "COLUMN" : "NAME");
		else if (strcmp(word, "source") == 0)
			ok = set_once(ps, &e->source, "source", v[0]);
		else if (strcmp(word, "keyspace") == 0)
			ok = set_once(ps, &e->keyspace, "keyspace", v[0]);
		else if (strcmp(word, "uuid") == 0)
			ok = set_once(ps, &e->uuid_column, "uuid", v[0]);
		else if (ps->target_given)
			perr(ps, "target given twice");
		else
		{
			/* "-": not migrated, stored as NULL */
			e->target = strcmp(v[0], "-") == 0 ? NULL : xstrdup(v[0]);
			ps->target_given = ok = true;
		}
	}
	else if (strcmp(word, "key") == 0)
		ok = list_directive(ps, "key", n, v, &e->nkey, &e->key, true);
	else if (strcmp(word, "conflict") == 0)
		ok = list_directive(ps, "conflict", n, v, &e->nconflict, &e->conflict, true);
	else if (strcmp(word, "drop") == 0)
		ok = list_directive(ps, "drop", n, v, &e->ndrop, &e->drop, false);
	else if (strcmp(word, "depends") == 0)
	{
		ok = true;
		for (int i = 0; i < n && ok; i++)
			if (!valid_entity_name(v[i]))
			{
				perr(ps, "depends: \"%s\" is not an entity name", v[i]);
				ok = false;
			}
		if (ok)
			ok = list_directive(ps, "depends", n, v, &e->ndepends, &e->depends, false);
	}
	else if (strcmp(word, "ref") == 0)
		ok = parse_ref(ps, e, REF_UUID, n, v);
	else if (strcmp(word, "check") == 0)
		ok = parse_ref(ps, e, REF_CHECK, n, v);
	else if (strcmp(word, "defer") == 0)
		ok = parse_ref(ps, e, REF_DEFER, n, v);
	else if (strcmp(word, "forward") == 0)
		ok = parse_ref(ps, e, REF_FORWARD, n, v);
	else if (strcmp(word, "deletes") == 0)
		ok = parse_deletes(ps, e, n, v);
	else if (strcmp(word, "merges") == 0)
		ok = list_directive(ps, "merges", n, v, &e->nmerges, &e->merges, false);
	else if (strcmp(word, "unwatched") == 0)
	{
		if (n == 0)
			perr(ps, "usage: unwatched SCHEMA.TABLE[,...]");
		else
			ok = list_directive(ps, "unwatched", n, v, &e->nunwatched, &e->unwatched, false);
	}
	else if (strcmp(word, "default") == 0)
		ok = list_directive(ps, "default", n, v, &e->ndefaults, &e->defaults, false);
	else if (strcmp(word, "unused") == 0)
		ok = parse_unused(ps, e, n, v);
	else if (strcmp(word, "tree") == 0)
		ok = parse_tree(ps, e, n, v);
	else if (strcmp(word, "poly") == 0)
		ok = parse_poly(ps, e, n, v);
	else if (strcmp(word, "links") == 0)
		ok = parse_links(ps, e, n, v);
	else if (strcmp(word, "entity") == 0)
		perr(ps, "entity \"%s\" (line %d) is not closed by \"end\"", e->name, e->line);
	else
		perr(ps, "unknown directive \"%s\" in entity \"%s\"", word, e->name);
done:
	free(word);
	strv_free(n, v);
	return ok;
}

static bool
top_directive(parser *ps, const char *line)
{
	plan *p = ps->p;
	const char *s = line;
	const char *t;
	char *word = NULL;
	char **v = NULL;
	int n = 0;
	bool error;
	bool ok = false;

	if (!ps->seen_header)
	{
		int version;
		char extra;

		if (sscanf(line, "ferry-plan %d %c", &version, &extra) != 1)
		{
			perr(ps, "not a ferry plan: the first line must be \"ferry-plan %d\"",
				 PLAN_VERSION);
			return false;
		}
		if (version != PLAN_VERSION)
		{
			perr(ps, "plan format version %d is not supported (this ferry reads version %d)",
				 version, PLAN_VERSION);
			return false;
		}
		p->version = version;
		ps->seen_header = true;
		return true;
	}
	if ((t = todo_text(line)) != NULL)
	{
		todo_push(&p->ntodo, &p->todo, &p->todo_line, t, ps->lineno);
		return true;
	}
	if (!next_token(ps, &s, false, &word, &error))
		return !error;
	if (!rest_tokens(ps, &s, strcmp(word, "sources") == 0, &n, &v))
		goto done;
	if (strcmp(word, "sources") == 0)
	{
		if (n == 0)
			perr(ps, "usage: sources SCHEMA[,SCHEMA...]");
		else
		{
			for (int i = 0; i < n; i++)
				strv_push(&p->nsources, &p->sources, v[i]);
			ok = true;
		}
	}
	else if (strcmp(word, "namespace") == 0)
	{
		if (n != 1)
			perr(ps, "usage: namespace UUID");
		else if (!uuid_parse(v[0], p->ns))
			perr(ps, "namespace: \"%s\" is not a UUID", v[0]);
		else
			ok = true;
	}
	else if (strcmp(word, "entity") == 0)
	{
		if (n != 1)
			perr(ps, "usage: entity NAME");
		else if (!valid_entity_name(v[0]))
			perr(ps, "\"%s\" is not a valid entity name (letters, digits, _ . - $)", v[0]);
		else if (plan_find(p, v[0]) != NULL)
			perr(ps, "entity \"%s\" is defined twice (first at line %d)", v[0],
				 plan_find(p, v[0])->line);
		else
		{
			p->entities = xrealloc(p->entities, sizeof(plan_entity) * (size_t) (p->nentities + 1));
			ps->e = &p->entities[p->nentities++];
			memset(ps->e, 0, sizeof(plan_entity));
			ps->e->name = xstrdup(v[0]);
			ps->e->line = ps->lineno;
			ps->target_given = false;
			ok = true;
		}
	}
	else if (strcmp(word, "end") == 0)
		perr(ps, "\"end\" without an entity");
	else if (strcmp(word, "ferry-plan") == 0)
		perr(ps, "\"ferry-plan\" header given twice");
	else
		perr(ps, "unknown directive \"%s\" (expected entity, namespace, sources or TODO)", word);
done:
	free(word);
	strv_free(n, v);
	return ok;
}

/* leading white space of s */
static size_t
indent_of(const char *s)
{
	size_t n = 0;

	while (s[n] == ' ' || s[n] == '\t')
		n++;
	return n;
}

/* join the extract lines, less their common indentation */
static char *
join_extract(int n, char **lines)
{
	size_t common = (size_t) -1;
	const char *ref = NULL;
	buf b;

	while (n > 0 && is_blank(lines[n - 1]))
		n--;
	for (int i = 0; i < n; i++)
	{
		size_t k = 0;

		if (is_blank(lines[i]))
			continue;
		if (ref == NULL)
		{
			ref = lines[i];
			common = indent_of(lines[i]);
			continue;
		}
		while (k < common && lines[i][k] == ref[k])
			k++;
		common = k;
	}
	if (ref == NULL)
		return NULL;
	buf_init(&b, 256);
	for (int i = 0, first = 1; i < n; i++)
	{
		if (first && is_blank(lines[i]))
			continue;
		if (!first)
			buf_putc(&b, '\n');
		first = 0;
		if (!is_blank(lines[i]))
			buf_puts(&b, lines[i] + common);
	}
	buf_cstr(&b);
	return b.data;
}

static void
finish_entity(plan_entity *e)
{
	if (e->keyspace == NULL)
		e->keyspace = e->source ? plan_default_keyspace(e->source) : xstrdup(e->name);
}

plan *
plan_parse(const char *text, size_t len, const char *name)
{
	parser ps = {0};
	plan *p = xcalloc(1, sizeof(plan));
	size_t pos = 0;
	bool in_extract = false;
	size_t extract_indent = 0;
	int nsql = 0;
	char **sql = NULL;
	bool ok = true;
	buf line;

	p->path = xstrdup(name);
	memcpy(p->ns, FERRY_UUID_NAMESPACE, 16);
	ps.name = name;
	ps.p = p;
	buf_init(&line, 256);

	while (pos < len && ok)
	{
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t) (nl - (text + pos)) : len - pos;
		const char *trimmed;

		buf_reset(&line);
		buf_append(&line, text + pos, n);
		pos += n + (nl ? 1 : 0);
		ps.lineno++;
		buf_cstr(&line);
		if (memchr(line.data, '\0', line.len) != NULL)
		{
			perr(&ps, "NUL byte in the plan");
			ok = false;
			break;
		}
		rtrim(line.data);
		trimmed = skip_space(line.data);

		if (in_extract)
		{
			const char *t;

			if (strcmp(trimmed, "end") == 0 &&
				(size_t) (trimmed - line.data) <= extract_indent)
			{
				ps.e->extract_sql = join_extract(nsql, sql);
				ps.e->extract_end = ps.lineno;
				strv_free(nsql, sql);
				nsql = 0;
				sql = NULL;
				in_extract = false;
				if (ps.e->extract_sql == NULL)
				{
					perr(&ps, "entity \"%s\": empty extract query", ps.e->name);
					ok = false;
				}
				continue;
			}
			if ((t = strstr(trimmed, "TODO:")) != NULL)
				todo_push(&ps.e->ntodo, &ps.e->todo, &ps.e->todo_line,
						  skip_space(t + 5), ps.lineno);
			strv_push(&nsql, &sql, line.data);
			continue;
		}
		if (*trimmed == '\0' || *trimmed == '#')
			continue;
		if (ps.e == NULL)
			ok = top_directive(&ps, trimmed);
		else
		{
			bool extract, end;

			ok = entity_directive(&ps, trimmed, &extract, &end);
			if (ok && extract)
			{
				in_extract = true;
				extract_indent = (size_t) (trimmed - line.data);
				ps.e->extract_line = ps.lineno;
			}
			else if (ok && end)
			{
				ps.e->end_line = ps.lineno;
				finish_entity(ps.e);
				ps.e = NULL;
			}
		}
	}
	if (ok && !ps.seen_header)
	{
		ps.lineno = 1;
		perr(&ps, "not a ferry plan: empty, no \"ferry-plan %d\" line", PLAN_VERSION);
		ok = false;
	}
	if (ok && in_extract)
	{
		perr(&ps, "end of file inside the extract query of entity \"%s\" (line %d): "
			 "close it with \"end\"", ps.e->name, ps.e->extract_line);
		ok = false;
	}
	else if (ok && ps.e != NULL)
	{
		perr(&ps, "end of file inside entity \"%s\" (line %d): close it with \"end\"",
			 ps.e->name, ps.e->line);
		ok = false;
	}
	strv_free(nsql, sql);
	buf_free(&line);
	if (!ok)
	{
		plan_free(p);
		return NULL;
	}
	return p;
}

plan *
plan_load(const char *path)
{
	FILE *f = fopen(path, "rb");
	buf b;
	char chunk[65536];
	size_t n;
	plan *p;

	if (f == NULL)
	{
		log_error("cannot open plan \"%s\": %s", path, strerror(errno));
		return NULL;
	}
	buf_init(&b, 65536);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	if (ferror(f))
	{
		log_error("cannot read plan \"%s\": %s", path, strerror(errno));
		fclose(f);
		buf_free(&b);
		return NULL;
	}
	fclose(f);
	p = plan_parse(b.data ? b.data : "", b.len, path);
	buf_free(&b);
	return p;
}

static void
entity_free(plan_entity *e)
{
	free(e->name);
	free(e->source);
	free(e->target);
	free(e->keyspace);
	strv_free(e->nkey, e->key);
	free(e->uuid_column);
	strv_free(e->ndrop, e->drop);
	for (int i = 0; i < e->nrefs; i++)
	{
		free(e->refs[i].column);
		free(e->refs[i].entity);
	}
	free(e->refs);
	if (e->tree)
	{
		free(e->tree->parent_column);
		free(e->tree->depth_column);
		free(e->tree);
	}
	if (e->poly)
	{
		free(e->poly->type_column);
		free(e->poly->id_column);
		free(e->poly);
	}
	if (e->links)
	{
		free(e->links->from_column);
		free(e->links->to_column);
		free(e->links);
	}
	strv_free(e->ndepends, e->depends);
	free(e->incremental);
	strv_free(e->nconflict, e->conflict);
	for (int i = 0; i < e->nrepair; i++)
	{
		free(e->repair_cols[i]);
		free(e->repair_vals[i]);
	}
	free(e->repair_cols);
	free(e->repair_vals);
	free(e->extract_sql);
	strv_free(e->ntodo, e->todo);
	free(e->todo_line);
	strv_free(e->nmerges, e->merges);
	strv_free(e->nunwatched, e->unwatched);
	for (int i = 0; i < e->nunused; i++)
		free(e->unused_tables[i]);
	free(e->unused_tables);
	strv_free(e->nunused, e->unused_cols);
	strv_free(e->ndefaults, e->defaults);
	free(e->reason);
	free(e->deletes_column);
}

void
plan_free(plan *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nentities; i++)
		entity_free(&p->entities[i]);
	free(p->entities);
	strv_free(p->ntodo, p->todo);
	free(p->todo_line);
	strv_free(p->nsources, p->sources);
	free(p->path);
	free(p);
}

plan_entity *
plan_find(const plan *p, const char *name)
{
	if (p == NULL || name == NULL)
		return NULL;
	for (int i = 0; i < p->nentities; i++)
		if (strcmp(p->entities[i].name, name) == 0)
			return &p->entities[i];
	return NULL;
}

static int
entity_index(const plan *p, const char *name)
{
	plan_entity *e = plan_find(p, name);

	return e ? (int) (e - p->entities) : -1;
}

/* ---- dependency graph ---- */

static bool
in_list(int n, char **v, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}


typedef struct edge
{
	int to;
	const plan_ref *why;    /* NULL: depends or poly */
} edge;

typedef struct graph
{
	int n;
	int *nedges;
	edge **edges;
} graph;

static void
add_edge(graph *g, int from, int to, const plan_ref *why)
{
	g->edges[from] = xrealloc(g->edges[from], sizeof(edge) * (size_t) (g->nedges[from] + 1));
	g->edges[from][g->nedges[from]].to = to;
	g->edges[from][g->nedges[from]].why = why;
	g->nedges[from]++;
}

static bool
reaches(const graph *g, int from, int target, char *seen)
{
	if (from == target)
		return true;
	if (seen[from])
		return false;
	seen[from] = 1;
	for (int k = 0; k < g->nedges[from]; k++)
		if (reaches(g, g->edges[from][k].to, target, seen))
			return true;
	return false;
}

/* edges: i -> j when j must be loaded before i (see plan_order) */
static void
graph_build(const plan *p, graph *g)
{
	int n = p->nentities;

	g->n = n;
	g->nedges = xcalloc((size_t) n + 1, sizeof(int));
	g->edges = xcalloc((size_t) n + 1, sizeof(edge *));
	for (int i = 0; i < n; i++)
	{
		const plan_entity *e = &p->entities[i];

		if (e->target == NULL)
			continue;
		for (int r = 0; r < e->nrefs; r++)
		{
			int j;

			if (!plan_ref_orders(e->refs[r].kind))
				continue;
			j = entity_index(p, e->refs[r].entity);
			if (j >= 0 && j != i && p->entities[j].target != NULL)
				add_edge(g, i, j, &e->refs[r]);
		}
		for (int d = 0; d < e->ndepends; d++)
		{
			int j = entity_index(p, e->depends[d]);

			if (j >= 0 && j != i && p->entities[j].target != NULL)
				add_edge(g, i, j, NULL);
		}
	}
	/*
	 * poly: the entities a type column names are known only from the data,
	 * so an entity with a poly loads after every other migrated entity,
	 * except those that themselves depend on it and other poly entities.
	 */
	char *seen = xcalloc((size_t) n + 1, 1);
	int *extra_from = NULL, *extra_to = NULL;
	int nextra = 0;

	for (int i = 0; i < n; i++)
	{
		if (p->entities[i].target == NULL || p->entities[i].poly == NULL)
			continue;
		for (int j = 0; j < n; j++)
		{
			if (j == i || p->entities[j].target == NULL || p->entities[j].poly != NULL)
				continue;
			memset(seen, 0, (size_t) n);
			if (reaches(g, j, i, seen))
				continue;
			extra_from = xrealloc(extra_from, sizeof(int) * (size_t) (nextra + 1));
			extra_to = xrealloc(extra_to, sizeof(int) * (size_t) (nextra + 1));
			extra_from[nextra] = i;
			extra_to[nextra] = j;
			nextra++;
		}
	}
	for (int k = 0; k < nextra; k++)
	{
		bool dup = false;

		for (int m = 0; m < g->nedges[extra_from[k]]; m++)
			if (g->edges[extra_from[k]][m].to == extra_to[k])
				dup = true;
		if (!dup)
			add_edge(g, extra_from[k], extra_to[k], NULL);
	}
	free(extra_from);
	free(extra_to);
	free(seen);
}

static void
graph_free(graph *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->edges[i]);
	free(g->edges);
	free(g->nedges);
}

/*
 * Kahn's algorithm in rounds: round r takes every entity whose
 * dependencies are all placed; its level is one more than the highest
 * level among them.  Returns the number of entities placed; done[] marks
 * them.
 */
static int
toposort(const graph *g, int *order, int *level, char *done)
{
	int n = g->n;
	int placed = 0;
	int *lv = xcalloc((size_t) n + 1, sizeof(int));
	char *ready = xcalloc((size_t) n + 1, 1);

	memset(done, 0, (size_t) n);
	for (;;)
	{
		int nready = 0;

		for (int i = 0; i < n; i++)
		{
			bool ok = !done[i];
			int l = 0;

			for (int k = 0; ok && k < g->nedges[i]; k++)
			{
				int j = g->edges[i][k].to;

				if (!done[j])
					ok = false;
				else if (lv[j] + 1 > l)
					l = lv[j] + 1;
			}
			ready[i] = ok;
			if (ok)
			{
				lv[i] = l;
				nready++;
			}
		}
		if (nready == 0)
			break;
		for (int i = 0; i < n; i++)
			if (ready[i])
			{
				done[i] = 1;
				if (order)
					order[placed] = i;
				if (level)
					level[placed] = lv[i];
				placed++;
			}
	}
	free(lv);
	free(ready);
	return placed;
}

/*
 * Order the placed entities by level, keeping the order of the file
 * within a level.  toposort() already emits round by round, and a
 * round's level can be lower than the round number, so sort stably.
 */
static void
sort_by_level(int n, int *order, int *level)
{
	for (int i = 1; i < n; i++)
	{
		int o = order[i], l = level[i], k = i;

		while (k > 0 && (level[k - 1] > l || (level[k - 1] == l && order[k - 1] > o)))
		{
			order[k] = order[k - 1];
			level[k] = level[k - 1];
			k--;
		}
		order[k] = o;
		level[k] = l;
	}
}

int
plan_find_cycle(const plan *p, int *cycle, const plan_ref **why)
{
	graph g;
	int n = p->nentities;
	char *done = xcalloc((size_t) n + 1, 1);
	int *pos = NULL;
	int len = 0;

	graph_build(p, &g);
	if (toposort(&g, NULL, NULL, done) < n)
	{
		int *path = xcalloc((size_t) n + 1, sizeof(int));
		const plan_ref **pwhy = xcalloc((size_t) n + 1, sizeof(plan_ref *));
		int depth = 0;
		int v = -1;

		pos = xcalloc((size_t) n + 1, sizeof(int));
		for (int i = 0; i < n; i++)
			pos[i] = -1;
		for (int i = 0; i < n && v < 0; i++)
			if (!done[i])
				v = i;
		/* every entity left has an edge to another one left: walk until a repeat */
		while (pos[v] < 0)
		{
			int k;

			pos[v] = depth;
			path[depth] = v;
			for (k = 0; k < g.nedges[v]; k++)
				if (!done[g.edges[v][k].to])
					break;
			pwhy[depth] = g.edges[v][k].why;
			depth++;
			v = g.edges[v][k].to;
		}
		for (int i = pos[v]; i < depth; i++)
		{
			cycle[len] = path[i];
			if (why)
				why[len] = pwhy[i];
			len++;
		}
		free(path);
		free(pwhy);
		free(pos);
	}
	free(done);
	graph_free(&g);
	return len;
}

static void
describe_cycle(const plan *p, int len, const int *cycle, const plan_ref **why, buf *b)
{
	for (int i = 0; i < len; i++)
	{
		const plan_entity *e = &p->entities[cycle[i]];

		buf_printf(b, "%s -> ", e->name);
		if (why[i])
			buf_printf(b, "(%s.%s) ", e->name, why[i]->column);
		else if (e->poly && !in_list(e->ndepends, e->depends,
									 p->entities[cycle[(i + 1) % len]].name))
			buf_puts(b, "(poly) ");
		else
			buf_puts(b, "(depends) ");
	}
	buf_puts(b, p->entities[cycle[0]].name);
}

bool
plan_order(const plan *p, int *order, int *level)
{
	graph g;
	int n = p->nentities;
	char *done = xcalloc((size_t) n + 1, 1);
	int *lv = xcalloc((size_t) n + 1, sizeof(int));
	int *ord = xcalloc((size_t) n + 1, sizeof(int));
	int placed;

	graph_build(p, &g);
	placed = toposort(&g, ord, lv, done);
	graph_free(&g);
	free(done);
	if (placed < n)
	{
		int *cycle = xcalloc((size_t) n + 1, sizeof(int));
		const plan_ref **why = xcalloc((size_t) n + 1, sizeof(plan_ref *));
		int len = plan_find_cycle(p, cycle, why);
		buf b;

		buf_init(&b, 256);
		describe_cycle(p, len, cycle, why, &b);
		log_error("%s: dependency cycle: %s; break it with \"defer COLUMN ENTITY\" "
				  "on a nullable column, or \"forward COLUMN ENTITY\"", p->path ? p->path : "plan",
				  buf_cstr(&b));
		buf_free(&b);
		free(cycle);
		free(why);
		free(lv);
		free(ord);
		return false;
	}
	sort_by_level(n, ord, lv);
	for (int i = 0; i < n; i++)
	{
		order[i] = ord[i];
		if (level)
			level[ord[i]] = lv[i];
	}
	free(lv);
	free(ord);
	return true;
}

/* ---- validation ---- */

static int
problem(const plan *p, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
problem(const plan *p, int line, const char *fmt, ...)
{
	va_list ap;
	buf b;

	buf_init(&b, 128);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (line > 0)
		log_error("%s:%d: %s", p->path ? p->path : "plan", line, buf_cstr(&b));
	else
		log_error("%s: %s", p->path ? p->path : "plan", buf_cstr(&b));
	buf_free(&b);
	return 1;
}

/* a migrated entity that a ref/check/defer/poly/depends may name */
static int
check_target_entity(const plan *p, const plan_entity *e, int line, const char *what,
					const char *name, bool need_uuid)
{
	const plan_entity *t = plan_find(p, name);

	if (t == NULL)
		return problem(p, line, "entity \"%s\": %s names unknown entity \"%s\"",
					   e->name, what, name);
	if (t->target == NULL)
		return problem(p, line, "entity \"%s\": %s names entity \"%s\", which is not migrated "
					   "(target -)", e->name, what, name);
	if (need_uuid && t->uuid_column == NULL)
		return problem(p, line, "entity \"%s\": %s names entity \"%s\", which has no uuid column",
					   e->name, what, name);
	if (need_uuid && t->nkey != 1)
		return problem(p, line, "entity \"%s\": %s names entity \"%s\", whose key has %d columns "
					   "(a reference holds one)", e->name, what, name, t->nkey);
	return 0;
}

/* deletes: on a migrated entity; flag: a column the load does not write */
static int
check_deletes(const plan *p, const plan_entity *e)
{
	if (e->target == NULL)
		return problem(p, e->deletes_line, "entity \"%s\": deletes on an entity that is not migrated",
					   e->name);
	if (e->deletes != DELETES_FLAG)
		return 0;
	const char *c = e->deletes_column;

	if (in_list(e->nkey, e->key, c) || (e->uuid_column && strcmp(e->uuid_column, c) == 0) ||
		(e->tree && e->tree->depth_column && strcmp(e->tree->depth_column, c) == 0))
		return problem(p, e->deletes_line, "entity \"%s\": deletes flag %s: a key, uuid or depth "
					   "column cannot be the flag", e->name, c);
	for (int r = 0; r < e->nrefs; r++)
		if (strcmp(e->refs[r].column, c) == 0)
			return problem(p, e->deletes_line, "entity \"%s\": deletes flag %s: the column is a %s",
						   e->name, c, plan_ref_kind_name(e->refs[r].kind));
	return 0;
}

static const plan_ref *
ref_of_column(const plan_entity *e, const char *column)
{
	for (int r = 0; r < e->nrefs; r++)
		if (strcmp(e->refs[r].column, column) == 0)
			return &e->refs[r];
	return NULL;
}

/* links FROMCOL TOCOL: two references of the entity's rows to one entity */
static int
check_links(const plan *p, const plan_entity *e)
{
	const plan_ref *from = ref_of_column(e, e->links->from_column);
	const plan_ref *to = ref_of_column(e, e->links->to_column);

	if (from == NULL || to == NULL)
		return problem(p, e->line, "entity \"%s\": links %s %s: both columns must be references "
					   "(ref, check, defer or forward) of one entity; \"%s\" is not", e->name,
					   e->links->from_column, e->links->to_column,
					   from == NULL ? e->links->from_column : e->links->to_column);
	if (strcmp(from->entity, to->entity) != 0)
		return problem(p, e->line, "entity \"%s\": links %s %s: the columns reference two entities "
					   "(%s and %s), a link joins rows of one", e->name, from->column, to->column,
					   from->entity, to->entity);
	if (e->tree)
		return problem(p, e->line, "entity \"%s\": links and tree together (a tree's cycles are "
					   "its own: see tree cycle=)", e->name);
	return 0;
}

int
plan_validate(const plan *p)
{
	int problems = 0;

	for (int i = 0; i < p->ntodo; i++)
		problems += problem(p, p->todo_line ? p->todo_line[i] : 0, "TODO: %s", p->todo[i]);
	for (int i = 0; i < p->nentities; i++)
	{
		const plan_entity *e = &p->entities[i];

		for (int t = 0; t < e->ntodo; t++)
			problems += problem(p, e->todo_line ? e->todo_line[t] : e->line,
								"entity \"%s\": TODO: %s", e->name, e->todo[t]);
		if (e->deletes_line)
			problems += check_deletes(p, e);
		if (e->target == NULL)
			continue;
		if (e->nkey == 0)
			problems += problem(p, e->line, "entity \"%s\": no key (key COLUMN[,COLUMN...])",
								e->name);
		if (e->extract_sql == NULL)
			problems += problem(p, e->line, "entity \"%s\": no extract query", e->name);
		if (e->uuid_column && in_list(e->nkey, e->key, e->uuid_column))
			problems += problem(p, e->line, "entity \"%s\": the uuid column \"%s\" is also a key "
								"column", e->name, e->uuid_column);
		for (int r = 0; r < e->nrefs; r++)
		{
			const plan_ref *ref = &e->refs[r];
			const char *what = plan_ref_kind_name(ref->kind);

			problems += check_target_entity(p, e, ref->line, what, ref->entity,
											ref->kind != REF_CHECK);
			if (ref->kind == REF_CHECK && plan_find(p, ref->entity) &&
				plan_find(p, ref->entity)->nkey > 1)
				problems += problem(p, ref->line, "entity \"%s\": check names entity \"%s\", "
									"whose key has several columns", e->name, ref->entity);
			if (e->tree && strcmp(ref->column, e->tree->parent_column) == 0)
				problems += problem(p, ref->line, "entity \"%s\": column \"%s\" is both the tree "
									"parent and a %s", e->name, ref->column, what);
			if (e->poly && (strcmp(ref->column, e->poly->type_column) == 0 ||
							strcmp(ref->column, e->poly->id_column) == 0))
				problems += problem(p, ref->line, "entity \"%s\": column \"%s\" is both in the poly "
									"and a %s", e->name, ref->column, what);
			if ((ref->kind == REF_DEFER || ref->kind == REF_FORWARD) &&
				strcmp(ref->entity, e->name) == 0)
				problems += problem(p, ref->line, "entity \"%s\": %s to itself: use tree",
									e->name, what);
		}
		if (e->tree && e->uuid_column == NULL)
			problems += problem(p, e->line, "entity \"%s\": tree needs a uuid column", e->name);
		if (e->tree && e->nkey != 1)
			problems += problem(p, e->line, "entity \"%s\": tree needs a one-column key", e->name);
		if (e->poly && strcmp(e->poly->type_column, e->poly->id_column) == 0)
			problems += problem(p, e->line, "entity \"%s\": poly type and id columns are the same",
								e->name);
		for (int d = 0; d < e->ndepends; d++)
			problems += check_target_entity(p, e, e->line, "depends", e->depends[d], false);
		if (e->links)
			problems += check_links(p, e);
	}
	/* edges to unknown entities are ignored by the order: check cycles anyway */
	int *order = xcalloc((size_t) p->nentities + 1, sizeof(int));

	if (!plan_order(p, order, NULL))
		problems++;
	free(order);
	return problems;
}

/* ---- writing ---- */

static bool
bare_name(const char *s)
{
	if (*s == '\0' || *s == '"' || *s == '#')
		return false;
	for (; *s; s++)
		if (isspace((unsigned char) *s) || *s == ',' || *s == '"' || (unsigned char) *s < 0x20)
			return false;
	return true;
}

void
plan_write_name(FILE *f, const char *name)
{
	if (bare_name(name))
	{
		fputs(name, f);
		return;
	}
	fputc('"', f);
	for (const char *s = name; *s; s++)
	{
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
write_list(FILE *f, int n, char **v, const char *sep)
{
	for (int i = 0; i < n; i++)
	{
		if (i)
			fputs(sep, f);
		plan_write_name(f, v[i]);
	}
}

static bool
todo_in_extract(const plan_entity *e, int t)
{
	return e->todo_line && e->extract_line > 0 &&
		e->todo_line[t] > e->extract_line && e->todo_line[t] < e->extract_end;
}

void
plan_write(FILE *f, const plan *p)
{
	fprintf(f, "ferry-plan %d\n", PLAN_VERSION);
	if (memcmp(p->ns, FERRY_UUID_NAMESPACE, 16) != 0)
	{
		char u[37];

		uuid_format(p->ns, u);
		fprintf(f, "namespace %s\n", u);
	}
	if (p->nsources)
	{
		fputs("sources ", f);
		write_list(f, p->nsources, p->sources, ",");
		fputc('\n', f);
	}
	for (int i = 0; i < p->ntodo; i++)
		fprintf(f, "TODO: %s\n", p->todo[i]);
	for (int i = 0; i < p->nentities; i++)
	{
		const plan_entity *e = &p->entities[i];

		fputs("\nentity ", f);
		plan_write_name(f, e->name);
		fputc('\n', f);
		if (e->source)
		{
			fputs("  source ", f);
			plan_write_name(f, e->source);
			fputc('\n', f);
		}
		fputs("  target ", f);
		if (e->target)
			plan_write_name(f, e->target);
		else
			fputc('-', f);
		fputc('\n', f);
		if (e->keyspace)
		{
			fputs("  keyspace ", f);
			plan_write_name(f, e->keyspace);
			fputc('\n', f);
		}
		if (e->nkey)
		{
			fputs("  key ", f);
			write_list(f, e->nkey, e->key, ",");
			fputc('\n', f);
		}
		if (e->uuid_column)
		{
			fputs("  uuid ", f);
			plan_write_name(f, e->uuid_column);
			fputc('\n', f);
		}
		for (int k = 0; k < e->ndrop; k++)
		{
			fputs("  drop ", f);
			plan_write_name(f, e->drop[k]);
			fputc('\n', f);
		}
		for (int r = 0; r < e->nrefs; r++)
		{
			const plan_ref *ref = &e->refs[r];

			fprintf(f, "  %s ", plan_ref_kind_name(ref->kind));
			plan_write_name(f, ref->column);
			fputc(' ', f);
			plan_write_name(f, ref->entity);
			if (ref->kind != REF_DEFER)
				fputs(ref->on_missing == MISSING_NULL ? " null" : " reject", f);
			fputc('\n', f);
		}
		if (e->tree)
		{
			fputs("  tree ", f);
			plan_write_name(f, e->tree->parent_column);
			if (e->tree->depth_column)
			{
				fputs(" depth=", f);
				plan_write_name(f, e->tree->depth_column);
			}
			fprintf(f, " orphan=%s cycle=%s\n",
					e->tree->orphan == TREE_ROOT ? "root" : "reject",
					e->tree->cycle == TREE_ROOT ? "root" : "reject");
		}
		if (e->poly)
		{
			fputs("  poly ", f);
			plan_write_name(f, e->poly->type_column);
			fputc(' ', f);
			plan_write_name(f, e->poly->id_column);
			fprintf(f, " missing=%s\n", e->poly->on_missing == MISSING_NULL ? "null" : "reject");
		}
		if (e->links)
		{
			fputs("  links ", f);
			plan_write_name(f, e->links->from_column);
			fputc(' ', f);
			plan_write_name(f, e->links->to_column);
			fprintf(f, " cycle=%s\n", e->links->cycle == LINKS_REJECT ? "reject" : "note");
		}
		if (e->ndepends)
		{
			fputs("  depends ", f);
			write_list(f, e->ndepends, e->depends, " ");
			fputc('\n', f);
		}
		if (e->incremental)
			fprintf(f, "  incremental %s\n", e->incremental);
		if (e->deletes_line || e->deletes != DELETES_DELETE)
		{
			fprintf(f, "  deletes %s", plan_deletes_name(e->deletes));
			if (e->deletes == DELETES_FLAG)
			{
				fputc(' ', f);
				plan_write_name(f, e->deletes_column);
			}
			fputc('\n', f);
		}
		for (int r = 0; r < e->nrepair; r++)
		{
			/*
			 * quoted when it must be, as the parser reads it: written bare,
			 * "a b" came back as column a (tests/fuzz/fuzz_plan checks this)
			 */
			fputs("  repair ", f);
			plan_write_name(f, e->repair_cols[r]);
			fputc(' ', f);
			if (e->repair_vals[r] == NULL)
				fputs("NULL\n", f);
			else
			{
				fputc('\'', f);
				for (const char *c = e->repair_vals[r]; *c; c++)
				{
					if (*c == '\'')
						fputc('\'', f);
					fputc(*c, f);
				}
				fputs("'\n", f);
			}
		}
		if (e->nconflict)
		{
			fputs("  conflict ", f);
			write_list(f, e->nconflict, e->conflict, ",");
			fputc('\n', f);
		}
		if (e->reason)
			fprintf(f, "  reason %s\n", e->reason);
		if (e->nmerges)
		{
			fputs("  merges ", f);
			write_list(f, e->nmerges, e->merges, ",");
			fputc('\n', f);
		}
		if (e->nunwatched)
		{
			fputs("  unwatched ", f);
			write_list(f, e->nunwatched, e->unwatched, ",");
			fputc('\n', f);
		}
		for (int u = 0; u < e->nunused; u++)
		{
			fputs("  unused ", f);
			plan_write_name(f, e->unused_cols[u]);
			if (e->unused_tables[u])
			{
				fputs(" in ", f);
				plan_write_name(f, e->unused_tables[u]);
			}
			fputc('\n', f);
		}
		if (e->ndefaults)
		{
			fputs("  default ", f);
			write_list(f, e->ndefaults, e->defaults, ",");
			fputc('\n', f);
		}
		for (int t = 0; t < e->ntodo; t++)
			if (!todo_in_extract(e, t))
				fprintf(f, "  TODO: %s\n", e->todo[t]);
		if (e->extract_sql)
		{
			const char *s = e->extract_sql;

			fputs("  extract\n", f);
			while (*s)
			{
				const char *nl = strchr(s, '\n');
				size_t n = nl ? (size_t) (nl - s) : strlen(s);

				if (n > 0)
					fprintf(f, "    %.*s\n", (int) n, s);
				else
					fputc('\n', f);
				s += n + (nl ? 1 : 0);
			}
			fputs("  end\n", f);
		}
		fputs("end\n", f);
	}
}

/* ---- coverage ---- */

bool
plan_lists_unused(const plan_entity *e, const char *table, const char *column)
{
	for (int i = 0; i < e->nunused; i++)
	{
		const char *t = e->unused_tables[i] ? e->unused_tables[i] : e->source;

		if (strcmp(e->unused_cols[i], column) != 0)
			continue;
		if (table == NULL ? e->unused_tables[i] == NULL : (t && strcmp(t, table) == 0))
			return true;
	}
	return false;
}

bool
plan_lists_default(const plan_entity *e, const char *column)
{
	return in_list(e->ndefaults, e->defaults, column);
}
