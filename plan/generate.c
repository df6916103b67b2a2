/*
 * generate.c: from two catalogs to a plan a DBA can read and edit.
 *
 * 1. match each destination table to its source table(s): by legacy key
 *    column (legacy_<model>_id, legacy_<col> for each column of a
 *    composite key), then by name (strip the app prefix, pluralise);
 *    a second legacy key column of another source table means that table
 *    merges in (LEFT JOIN on the foreign key between the two);
 * 2. map each destination column to a source expression, by name and by
 *    convention, converting types in SQL only where the conversion cannot
 *    fail (anything that can fail on a dirty row is left to the load's
 *    input functions, so that one bad row is rejected alone);
 * 3. foreign keys become ref / check / tree / poly directives, cycles are
 *    broken with defer on a nullable column, and entities are written in
 *    load order.
 * Whatever it cannot infer is written as a TODO.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "log.h"
#include "names.h"
#include "pgconn.h"
#include "plan.h"

#define MAXKEY 16
#define MAXMERGE 8

typedef struct kmatch
{
	cat_table *s;
	int nkey;
	int keycols[MAXKEY];       /* source key columns */
	int destcols[MAXKEY];      /* destination columns holding them */
	bool composite;
	bool partial;              /* one column of a longer primary key */
} kmatch;

typedef struct merge
{
	cat_table *t;
	char alias[16];
	int tcol;                  /* join column in t */
	int scol;                  /* join column in the main table */
	int keycol;                /* t's one-column primary key */
	int destcol;               /* destination column for that key, -1 if none */
	bool *used;
} merge;

typedef enum dc_state
{
	DC_UNSET = 0,
	DC_UUID,                   /* computed by the transform */
	DC_DEPTH,                  /* computed by the transform (tree depth) */
	DC_FED,                    /* expr */
	DC_TODO,                   /* NULL placeholder with a TODO */
	DC_GENERATED               /* generated or identity column: never loaded */
} dc_state;

typedef struct dcol
{
	dc_state state;
	char *expr;
	char *comment;             /* SQL comment on the line, may be NULL */
	const char *alias;         /* source alias feeding it (NULL: computed) */
	cat_table *stab;
	int scol;
	bool nullable;             /* the source value may be NULL */
	bool is_ref;               /* a legacy key mapped by the transform */
} dcol;

typedef struct gen_entity
{
	char *name;
	cat_table *src;            /* main source, NULL for a skeleton */
	cat_table *dst;            /* NULL: not migrated */
	int nkm;
	kmatch *km;                /* legacy key matches of dst */
	int nkey;
	int keycols[MAXKEY];
	int keydest[MAXKEY];       /* destination column, -1: a drop column */
	char *keyname[MAXKEY];     /* output column name */
	int nmerge;
	merge merges[MAXMERGE];
	bool *used;                /* main source columns used */
	dcol *dc;                  /* per destination column */
	cat_table *ct;             /* content-type table of a poly */
	int ct_col;                /* column of src referencing it */
	int uuidcol;               /* destination uuid primary key, -1 if none */
	plan_entity pe;
	buf notes;                 /* '#' lines written above the entity */
	buf sql;                   /* the extract query */
	const char *match_how;     /* "legacy key column ...", "name" */
	bool skeleton;
	bool name_matched;
} gen_entity;

typedef struct gen
{
	PGconn *src;
	const catalog *scat;
	const catalog *tcat;
	const gen_options *o;
	int nent;
	gen_entity *ents;
	int todos;
	int deferred;
	buf cycle_notes;
} gen;

/* ---- small helpers ---- */

static void
strv_push(int *n, char ***v, const char *s)
{
	*v = xrealloc(*v, sizeof(char *) * (size_t) (*n + 1));
	(*v)[(*n)++] = xstrdup(s);
}

static char *
fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *
fmt(const char *f, ...)
{
	va_list ap;
	buf b;

	buf_init(&b, 64);
	va_start(ap, f);
	buf_vprintf(&b, f, ap);
	va_end(ap);
	buf_cstr(&b);
	return b.data;
}

static void
note(gen_entity *e, const char *f, ...) __attribute__((format(printf, 2, 3)));

/* control characters (a newline in a column name) would break the plan's lines */
static void
flatten(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) p[i] < 0x20)
			p[i] = ' ';
}

static void
note(gen_entity *e, const char *f, ...)
{
	va_list ap;
	size_t start;

	buf_puts(&e->notes, "# ");
	start = e->notes.len;
	va_start(ap, f);
	buf_vprintf(&e->notes, f, ap);
	va_end(ap);
	flatten(e->notes.data + start, e->notes.len - start);
	buf_putc(&e->notes, '\n');
}

static void
entity_todo(gen *g, gen_entity *e, const char *f, ...) __attribute__((format(printf, 3, 4)));

static void
entity_todo(gen *g, gen_entity *e, const char *f, ...)
{
	va_list ap;
	buf b;

	buf_init(&b, 128);
	va_start(ap, f);
	buf_vprintf(&b, f, ap);
	va_end(ap);
	flatten(b.data, b.len);
	strv_push(&e->pe.ntodo, &e->pe.todo, buf_cstr(&b));
	buf_free(&b);
	g->todos++;
}

static bool
is_first_schema(const gen *g, const char *schema)
{
	return g->o->ntarget_schemas > 0 && strcmp(g->o->target_schemas[0], schema) == 0;
}

static bool
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const char *
rows_text(double rows)
{
	static char b[64];

	if (rows < 0)
		return "never analyzed: row count unknown";
	snprintf(b, sizeof b, "~%.0f rows", rows);
	return b;
}

/* ---- conventions on source tables ---- */

/*
 * An app prefix ("dispatch", "auth" in dispatch_order, auth_user) is the
 * part before the first '_' of a source table name when no source table
 * is named like the prefix itself or its plural (pagila's film and
 * film_actor share "film", which is a table: no prefix there; nor is
 * "order" in order_items beside a table orders).
 */
static bool
is_app_prefix(const gen *g, const char *name, size_t len)
{
	char *prefix = xstrndup(name, len);
	char *plural = pluralize(prefix);
	bool app = true;

	for (int i = 0; i < g->scat->ntables && app; i++)
	{
		const cat_table *t = &g->scat->tables[i];

		if (t->selected && (strcmp(t->name, prefix) == 0 || strcmp(t->name, plural) == 0))
			app = false;
	}
	free(prefix);
	free(plural);
	return app;
}

/* model name: the table name without its app prefix */
static const char *
model_of(const gen *g, const cat_table *s)
{
	const char *us = strchr(s->name, '_');

	if (us && us[1] && is_app_prefix(g, s->name, (size_t) (us - s->name)))
		return us + 1;
	return s->name;
}

/*
 * Is d named after s?  full: by s's whole name (as is or pluralised);
 * else by its model name (the name less its app prefix).
 */
static bool
name_matches_as(const gen *g, const cat_table *s, const cat_table *d, bool full)
{
	const char *n = full ? s->name : model_of(g, s);
	char *pl = pluralize(n);
	bool match = strcmp(d->name, n) == 0 || strcmp(d->name, pl) == 0;

	free(pl);
	return match;
}

static bool
name_matches(const gen *g, const cat_table *s, const cat_table *d)
{
	return name_matches_as(g, s, d, true) || name_matches_as(g, s, d, false);
}

/* a Django content-type shaped table: (app_label, model) */
static bool
is_content_type_table(const cat_table *t)
{
	return table_column(t, "app_label") >= 0 && table_column(t, "model") >= 0;
}

/* ---- entities ---- */

static gen_entity *
new_entity(gen *g)
{
	gen_entity *e;

	g->ents = xrealloc(g->ents, sizeof(gen_entity) * (size_t) (g->nent + 1));
	e = &g->ents[g->nent++];
	memset(e, 0, sizeof(*e));
	buf_init(&e->notes, 256);
	buf_init(&e->sql, 1024);
	e->ct_col = -1;
	return e;
}

static gen_entity *
entity_of_dst(gen *g, const cat_table *d)
{
	for (int i = 0; i < g->nent; i++)
		if (g->ents[i].dst == d)
			return &g->ents[i];
	return NULL;
}

/* the migrated entity fed by source table s (first target schema first) */
static gen_entity *
entity_of_src(gen *g, const cat_table *s)
{
	gen_entity *found = NULL;

	for (int i = 0; i < g->nent; i++)
	{
		gen_entity *e = &g->ents[i];

		if (e->src != s || e->dst == NULL)
			continue;
		if (found == NULL || (is_first_schema(g, e->dst->schema) &&
							  !is_first_schema(g, found->dst->schema)))
			found = e;
	}
	return found;
}

static bool
name_taken(const gen *g, const char *name)
{
	for (int i = 0; i < g->nent; i++)
		if (g->ents[i].name && strcmp(g->ents[i].name, name) == 0)
			return true;
	return false;
}

/*
 * An entity name made of a table name: what entity names may not hold
 * (quotes, white space, punctuation but _ . - $: see ferry-plan(5)) becomes
 * _, so that any table name gives a name the plan can be read back with.
 */
static char *
entity_name_of(const char *table)
{
	char *n = xstrdup(*table && strcmp(table, "-") != 0 ? table : "_");

	for (char *p = n; *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '_' || *p == '.' || *p == '-' || *p == '$' ||
			  (unsigned char) *p >= 0x80))
			*p = '_';
	return n;
}

static char *
dst_entity_name(const gen *g, const cat_table *d)
{
	char *base = entity_name_of(is_first_schema(g, d->schema) ? d->name : d->qname);
	char *n = xstrdup(base);

	/* two names that differ only in what became _ */
	for (int i = 2; name_taken(g, n); i++)
	{
		free(n);
		n = fmt("%s_%d", base, i);
	}
	free(base);
	return n;
}

/* ---- step 1: legacy key columns ---- */

static int
dest_col(const cat_table *d, const char *name)
{
	return table_column(d, name);
}

/* does destination d hold the legacy key of source s? */
static bool
key_match(const gen *g, const cat_table *s, const cat_table *d, kmatch *m)
{
	memset(m, 0, sizeof(*m));
	m->s = (cat_table *) s;
	if (s->npk >= 2 && s->npk <= MAXKEY)
	{
		bool all = true;

		for (int k = 0; k < s->npk && all; k++)
		{
			char *n = fmt("legacy_%s", s->cols[s->pk[k]].name);
			int c = dest_col(d, n);

			free(n);
			m->keycols[k] = s->pk[k];
			m->destcols[k] = c;
			all = c >= 0;
		}
		if (all)
		{
			m->nkey = s->npk;
			m->composite = true;
			return true;
		}
	}
	if (s->npk >= 1)
	{
		const char *model = model_of(g, s);
		char *cands[3];
		bool full[3];
		int ncand = 0;
		bool found = false;

		full[ncand] = strcmp(model, s->name) == 0;
		cands[ncand++] = fmt("legacy_%s_id", model);
		if (strcmp(model, s->name) != 0)
		{
			full[ncand] = true;
			cands[ncand++] = fmt("legacy_%s_id", s->name);
		}
		if (s->npk == 1 && strcmp(s->cols[s->pk[0]].name, "id") != 0)
		{
			full[ncand] = false;
			cands[ncand++] = fmt("legacy_%s", s->cols[s->pk[0]].name);
		}
		for (int i = 0; i < ncand && !found; i++)
		{
			int c = dest_col(d, cands[i]);

			if (c < 0)
				continue;
			if (s->npk == 1)
			{
				m->keycols[0] = s->pk[0];
				found = true;
			}
			else if (full[i])
			{
				/*
				 * a composite primary key that holds the row's id and more
				 * (pagila's partitioned payment: payment_date, payment_id)
				 */
				for (int k = 0; k < s->npk && !found; k++)
				{
					const char *pn = s->cols[s->pk[k]].name;
					char *idn = fmt("%s_id", s->name);

					if (strcmp(pn, "id") == 0 || strcmp(pn, idn) == 0)
					{
						m->keycols[0] = s->pk[k];
						m->partial = found = true;
					}
					free(idn);
				}
			}
			if (found)
			{
				m->destcols[0] = c;
				m->nkey = 1;
			}
		}
		for (int i = 0; i < ncand; i++)
			free(cands[i]);
		return found;
	}
	return false;
}

/* does table a reference table b through a foreign key? */
static bool
references(const cat_table *a, const cat_table *b)
{
	for (int f = 0; f < a->nfk; f++)
		if (a->fks[f].ref == b)
			return true;
	return false;
}

/*
 * How much the other matches' tables hang off m's table: 100 for each with
 * a unique foreign key to it (a one-to-one extension, like a user profile
 * of a user), 1 for each with any foreign key to it.  A table the others
 * merely look up (a content type) gets little; its name decides.
 */
static int
children_score(const kmatch *ms, int n, int self)
{
	int score = 0;

	for (int i = 0; i < n; i++)
	{
		bool any = false, one = false;

		if (i == self)
			continue;
		for (int f = 0; f < ms[i].s->nfk; f++)
		{
			const cat_fk *fk = &ms[i].s->fks[f];

			if (fk->ref != ms[self].s)
				continue;
			any = true;
			if (table_is_unique(ms[i].s, fk->ncols, fk->cols))
				one = true;
		}
		score += (one ? 100 : 0) + (any ? 1 : 0);
	}
	return score;
}

/*
 * A one-to-one join between main and t: a unique foreign key column of t
 * referencing main's key, or a unique column of main referencing t's key.
 */
static bool
find_join(const cat_table *main, const cat_table *t, int *tcol, int *scol)
{
	for (int f = 0; f < t->nfk; f++)
	{
		const cat_fk *fk = &t->fks[f];

		if (fk->ref == main && fk->ncols == 1 && table_is_unique(t, 1, fk->cols))
		{
			*tcol = fk->cols[0];
			*scol = fk->refcols[0];
			return true;
		}
	}
	for (int f = 0; f < main->nfk; f++)
	{
		const cat_fk *fk = &main->fks[f];

		if (fk->ref == t && fk->ncols == 1 && table_is_unique(main, 1, fk->cols))
		{
			*scol = fk->cols[0];
			*tcol = fk->refcols[0];
			return true;
		}
	}
	return false;
}

static void
match_destinations(gen *g)
{
	for (int i = 0; i < g->tcat->ntables; i++)
	{
		cat_table *d = &g->tcat->tables[i];
		gen_entity *e;
		kmatch *ms = NULL;
		int nm = 0;
		int main = -1;

		if (!d->selected)
			continue;
		for (int j = 0; j < g->scat->ntables; j++)
		{
			cat_table *s = &g->scat->tables[j];
			kmatch m;

			if (s->selected && key_match(g, s, d, &m))
			{
				ms = xrealloc(ms, sizeof(kmatch) * (size_t) (nm + 1));
				ms[nm++] = m;
			}
		}
		e = new_entity(g);
		e->dst = d;
		e->name = dst_entity_name(g, d);
		e->km = ms;
		e->nkm = nm;
		if (nm == 0)
			continue;
		/* a composite key match wins: its columns are not keys of other tables */
		for (int k = 0; k < nm; k++)
			if (ms[k].composite && (main < 0 || name_matches(g, ms[k].s, d)))
				main = k;
		if (main >= 0)
		{
			int n = 0;

			for (int k = 0; k < nm; k++)
			{
				bool overlap = false;

				for (int a = 0; k != main && a < ms[k].nkey; a++)
					for (int b = 0; b < ms[main].nkey; b++)
						if (ms[k].destcols[a] == ms[main].destcols[b])
							overlap = true;
				if (!overlap)
					ms[n++] = ms[k];
				if (k == main)
					main = n - 1;
			}
			nm = e->nkm = n;
		}
		else
		{
			int best = -1;

			for (int k = 0; k < nm; k++)
			{
				/* the table the others extend one-to-one, else the one named like the destination */
				int score = children_score(ms, nm, k) + (name_matches(g, ms[k].s, d) ? 10 : 0);

				if (score > best)
				{
					best = score;
					main = k;
				}
			}
		}
		e->src = ms[main].s;
		e->nkey = ms[main].nkey;
		for (int k = 0; k < e->nkey; k++)
		{
			e->keycols[k] = ms[main].keycols[k];
			e->keydest[k] = ms[main].destcols[k];
			e->keyname[k] = xstrdup(d->cols[ms[main].destcols[k]].name);
		}
		e->match_how = "legacy key";
		if (ms[main].partial)
		{
			buf pk;

			buf_init(&pk, 64);
			for (int k = 0; k < e->src->npk; k++)
				buf_printf(&pk, "%s%s", k ? ", " : "", e->src->cols[e->src->pk[k]].name);
			note(e, "legacy key: %s alone, one column of the primary key (%s) of %s; "
				 "the load's unique constraint on %s catches duplicates",
				 e->src->cols[e->keycols[0]].name, buf_cstr(&pk), e->src->qname, e->keyname[0]);
			buf_free(&pk);
		}
		/* the other legacy keys: tables merged in one-to-one, or TODOs */
		for (int k = 0; k < nm; k++)
		{
			int tcol, scol;
			merge *mg;

			if (k == main || ms[k].nkey != 1 || e->nmerge >= MAXMERGE)
				continue;
			if (!find_join(e->src, ms[k].s, &tcol, &scol))
				continue;       /* left for build_columns to explain */
			mg = &e->merges[e->nmerge];
			memset(mg, 0, sizeof(*mg));
			mg->t = ms[k].s;
			if (e->nmerge == 0)
				snprintf(mg->alias, sizeof mg->alias, "m");
			else
				snprintf(mg->alias, sizeof mg->alias, "m%d", e->nmerge + 1);
			mg->tcol = tcol;
			mg->scol = scol;
			mg->keycol = ms[k].keycols[0];
			mg->destcol = ms[k].destcols[0];
			mg->used = xcalloc((size_t) mg->t->ncols + 1, sizeof(bool));
			e->nmerge++;
		}
	}
}

/* destinations without a legacy key column: by name */
static void
match_by_name(gen *g)
{
	for (int i = 0; i < g->nent; i++)
	{
		gen_entity *e = &g->ents[i];

		if (e->dst == NULL || e->src != NULL)
			continue;
		/* the whole name first (users <- user), then the model (users <- auth_user) */
		for (int j = 0; j < 2 * g->scat->ntables && e->src == NULL; j++)
		{
			cat_table *s = &g->scat->tables[j % g->scat->ntables];

			if (!s->selected || s->npk == 0 || s->npk > MAXKEY ||
				!name_matches_as(g, s, e->dst, j < g->scat->ntables))
				continue;
			e->src = s;
			e->name_matched = true;
			e->match_how = "name";
			e->nkey = s->npk;
			for (int k = 0; k < s->npk; k++)
			{
				const char *model = model_of(g, s);

				e->keycols[k] = s->pk[k];
				e->keydest[k] = -1;
				e->keyname[k] = s->npk == 1 ? fmt("legacy_%s_id", model)
					: fmt("legacy_%s", s->cols[s->pk[k]].name);
				/* a destination column of that name would collide */
				if (table_column(e->dst, e->keyname[k]) >= 0)
					e->keydest[k] = table_column(e->dst, e->keyname[k]);
			}
		}
	}
}

/* source tables that feed nothing: not migrated, said why */
static void
unmatched_sources(gen *g)
{
	for (int j = 0; j < g->scat->ntables; j++)
	{
		cat_table *s = &g->scat->tables[j];
		gen_entity *e;
		const char *merged_into = NULL;
		bool used = false;

		if (!s->selected)
			continue;
		for (int i = 0; i < g->nent && !used; i++)
		{
			if (g->ents[i].src == s && g->ents[i].dst != NULL)
				used = true;
			for (int m = 0; m < g->ents[i].nmerge; m++)
				if (g->ents[i].merges[m].t == s)
					merged_into = g->ents[i].name;
		}
		if (used)
			continue;
		{
			char *n = entity_name_of(strcmp(s->schema, "public") == 0 ? s->name : s->qname);

			/* a destination entity may already have that name */
			if (name_taken(g, n))
			{
				char *n2 = fmt("%s.source", n);

				free(n);
				n = n2;
			}
			e = new_entity(g);
			e->src = s;
			e->name = n;
		}
		if (merged_into)
			note(e, "not migrated on its own: merged into %s (see that entity's query)", merged_into);
		else if (is_content_type_table(s))
			note(e, "not migrated: a content-type lookup (app_label, model); generic relations "
				 "read it in their extract query (poly)");
		else if (starts_with(s->name, "django_"))
			note(e, "not migrated: a Django framework table");
		else
		{
			note(e, "no destination table found for %s (%s)", s->qname, rows_text(s->rows));
			entity_todo(g, e, "map %s to a destination table (target, key, uuid, extract) or "
						"confirm it is not migrated by deleting this TODO", s->qname);
		}
	}
}

/* ---- SQL expressions ---- */

static void
col_ref(gen *g, buf *b, const char *alias, const cat_table *t, int c)
{
	buf_puts(b, alias);
	buf_putc(b, '.');
	sql_ident(b, g->scat, t->cols[c].name);
}

static bool
is_json(const char *base)
{
	return strcmp(base, "json") == 0 || strcmp(base, "jsonb") == 0;
}

static bool
is_text_like(const cat_column *c)
{
	return c->category == 'S';
}

/* the default value, rendered for a coalesce with an expression of category cat */
static void
default_literal(buf *b, const char *text, bool quoted, char cat)
{
	if (!quoted && ((cat == 'N' && strcmp(text, "true") != 0 && strcmp(text, "false") != 0) ||
					(cat == 'B' && (strcmp(text, "true") == 0 || strcmp(text, "false") == 0))))
		buf_puts(b, text);
	else
		sql_literal(b, text);
}

/*
 * The expression for destination column dc from source column sc of
 * table st under alias; nullable: the source value may be NULL.  Never a
 * cast that can fail: the load's input function parses what it must.
 */
static void
convert(gen *g, const char *alias, const cat_table *st, int sc, const cat_column *dc,
		bool nullable, buf *expr, buf *why)
{
	const cat_column *c = &st->cols[sc];
	char *dtext = NULL;
	bool quoted = false;
	bool fill = dc->notnull && nullable && constant_default(dc->def, &dtext, &quoted);
	buf ref, core;
	char core_cat = c->category;

	buf_init(&ref, 64);
	buf_init(&core, 128);
	col_ref(g, &ref, alias, st, sc);

	if (strcmp(dc->base, "bool") == 0 && strcmp(c->base, "bool") != 0 &&
		(is_text_like(c) || is_integer_type(c->base)))
	{
		const char *r = buf_cstr(&ref);

		buf_puts(expr, "CASE ");
		if (fill)
		{
			buf_printf(expr, "WHEN %s IS NULL THEN ", r);
			default_literal(expr, dtext, quoted, 'B');
			buf_puts(expr, "\n     ");
		}
		if (is_text_like(c))
		{
			buf_printf(expr, "WHEN %s IN ('Y', 'y', 'T', 't', '1') THEN true\n"
					   "     WHEN %s IN ('N', 'n', 'F', 'f', '0') THEN false END", r, r);
			buf_printf(why, "%s Y/N flag -> boolean, any other value gives NULL%s",
					   c->type, fill ? " (NULL gives the default)" : "");
		}
		else
		{
			buf_printf(expr, "WHEN %s = 1 THEN true WHEN %s = 0 THEN false END", r, r);
			buf_printf(why, "%s 1/0 -> boolean, any other value gives NULL", c->type);
		}
		buf_free(&ref);
		buf_free(&core);
		free(dtext);
		return;
	}

	if (strcmp(dc->base, "timestamptz") == 0 && strcmp(c->base, "timestamp") == 0)
	{
		buf_printf(&core, "%s AT TIME ZONE ", buf_cstr(&ref));
		sql_literal(&core, g->o->timezone);
		buf_printf(why, "timestamp read as %s", g->o->timezone);
	}
	else if (strcmp(dc->base, "timestamptz") == 0 && strcmp(c->base, "date") == 0)
	{
		buf_printf(&core, "%s::timestamp AT TIME ZONE ", buf_cstr(&ref));
		sql_literal(&core, g->o->timezone);
		buf_printf(why, "date -> midnight in %s", g->o->timezone);
	}
	else if (strcmp(dc->base, "timestamp") == 0 && strcmp(c->base, "timestamptz") == 0)
	{
		buf_printf(&core, "%s AT TIME ZONE ", buf_cstr(&ref));
		sql_literal(&core, g->o->timezone);
		buf_printf(why, "timestamptz as local time in %s", g->o->timezone);
	}
	else if (is_json(dc->base) && !is_json(c->base) && is_text_like(c))
	{
		buf_puts(&core, buf_cstr(&ref));
		buf_printf(why, "JSON in %s -> %s: parsed by the load, invalid JSON rejects the row",
				   c->type, dc->type);
	}
	else if (dc->category == 'A' && c->category != 'A' && is_text_like(c))
	{
		buf_printf(&core, "'{' || %s || '}'", buf_cstr(&ref));
		buf_printf(why, "comma-separated %s -> %s ('' gives {}): parsed by the load, "
				   "a bad list rejects the row", c->type, dc->type);
		core_cat = 'S';
	}
	else if (is_integer_type(dc->base) && ends_with(dc->name, "_cents") &&
			 c->category == 'N' && !is_integer_type(c->base))
	{
		buf_printf(&core, "round(%s * 100)", buf_cstr(&ref));
		buf_printf(why, "%s -> cents", c->type);
	}
	else if (strcmp(c->base, "bpchar") == 0 && dc->category == 'S' &&
			 strcmp(dc->base, "bpchar") != 0)
	{
		buf_printf(&core, "%s::text", buf_cstr(&ref));
		buf_printf(why, "%s -> %s: trailing blanks dropped", c->type, dc->type);
		core_cat = 'S';
	}
	else
		buf_puts(&core, buf_cstr(&ref));

	if (fill)
	{
		buf_printf(expr, "coalesce(%s, ", buf_cstr(&core));
		default_literal(expr, dtext, quoted, core_cat);
		buf_putc(expr, ')');
		if (why->len)
			buf_puts(why, "; ");
		buf_puts(why, "NULL -> the column's default");
	}
	else
		buf_puts(expr, buf_cstr(&core));
	buf_free(&ref);
	buf_free(&core);
	free(dtext);
}

/* ---- step 2: columns ---- */

typedef struct srcpos
{
	const char *alias;
	cat_table *t;
	int col;
	bool nullable;
	bool *used;
} srcpos;

/* the tables of an entity's query: main first, then merged ones */
static int
entity_tables(gen_entity *e, srcpos *out)
{
	int n = 0;

	out[n].alias = "s";
	out[n].t = e->src;
	out[n].used = e->used;
	n++;
	for (int m = 0; m < e->nmerge; m++)
	{
		out[n].alias = e->merges[m].alias;
		out[n].t = e->merges[m].t;
		out[n].used = e->merges[m].used;
		n++;
	}
	return n;
}

/* a source column by name in the entity's tables (main first) */
static bool
find_named(gen_entity *e, const char *name, srcpos *pos)
{
	srcpos tabs[MAXMERGE + 1];
	int nt = entity_tables(e, tabs);

	for (int i = 0; i < nt; i++)
	{
		int c = table_column(tabs[i].t, name);

		if (c >= 0)
		{
			*pos = tabs[i];
			pos->col = c;
			pos->nullable = i > 0 || !tabs[i].t->cols[c].notnull;
			return true;
		}
	}
	return false;
}

static void
feed(gen *g, gen_entity *e, int d, const srcpos *p, const char *rename)
{
	dcol *x = &e->dc[d];
	buf expr, why;

	buf_init(&expr, 128);
	buf_init(&why, 128);
	if (rename && *rename)
		buf_puts(&why, rename);
	if (why.len)
		buf_puts(&why, "; ");
	convert(g, p->alias, p->t, p->col, &e->dst->cols[d], p->nullable, &expr, &why);
	/* "rename; " with no conversion after it */
	if (why.len >= 2 && why.data[why.len - 2] == ';' && why.data[why.len - 1] == ' ')
		why.len -= 2;
	x->state = DC_FED;
	x->expr = (char *) buf_cstr(&expr);
	x->alias = p->alias;
	x->stab = p->t;
	x->scol = p->col;
	x->nullable = p->nullable;
	p->used[p->col] = true;
	if (why.len)
		x->comment = xstrdup(buf_cstr(&why));
	buf_free(&why);
}

static void
feed_ref(gen *g, gen_entity *e, int d, const srcpos *p, const char *why)
{
	dcol *x = &e->dc[d];
	buf expr;

	buf_init(&expr, 64);
	col_ref(g, &expr, p->alias, p->t, p->col);
	x->state = DC_FED;
	x->expr = (char *) buf_cstr(&expr);
	x->alias = p->alias;
	x->stab = p->t;
	x->scol = p->col;
	x->nullable = p->nullable;
	x->is_ref = true;
	p->used[p->col] = true;
	if (why && *why)
		x->comment = xstrdup(why);
}

static void
todo_column(gen *g, gen_entity *e, int d, const char *text)
{
	dcol *x = &e->dc[d];

	x->state = DC_TODO;
	x->expr = xstrdup("NULL");
	x->comment = fmt("TODO: %s", text);
	g->todos++;
}

/* unused source columns, for TODO hints and the notes */
static char *
unused_columns(gen_entity *e, bool qualified)
{
	srcpos tabs[MAXMERGE + 1];
	int nt = entity_tables(e, tabs);
	buf b;

	buf_init(&b, 128);
	for (int i = 0; i < nt; i++)
		for (int c = 0; c < tabs[i].t->ncols; c++)
			if (!tabs[i].used[c])
			{
				if (b.len)
					buf_puts(&b, ", ");
				if (qualified || i > 0)
					buf_printf(&b, "%s.", tabs[i].t->name);
				buf_puts(&b, tabs[i].t->cols[c].name);
			}
	buf_cstr(&b);
	return b.data;
}

/* a destination column's foreign key to another destination table */
static cat_fk *
dst_fk(const cat_table *d, int c)
{
	return table_fk_on(d, c);
}

static bool
is_uuid_col(const cat_column *c)
{
	return strcmp(c->base, "uuid") == 0;
}

/*
 * The string literals of the CHECK constraints of d that name column col
 * (entity_type IN ('orders', ...)): the only values it may take.  0 if none.
 */
static int
check_literals(const cat_table *d, const char *col, char ***out)
{
	int n = 0;

	*out = NULL;
	for (int k = 0; k < d->nchecks; k++)
	{
		const char *def = d->checks[k];
		const char *hit = strstr(def, col);

		if (hit == NULL)
			continue;
		for (const char *q = strchr(def, '\''); q; q = strchr(q, '\''))
		{
			buf b;

			buf_init(&b, 32);
			for (q++; *q; q++)
			{
				if (*q == '\'' && q[1] == '\'')
				{
					buf_putc(&b, '\'');
					q++;
					continue;
				}
				if (*q == '\'')
					break;
				buf_putc(&b, *q);
			}
			strv_push(&n, out, buf_cstr(&b));
			buf_free(&b);
			if (*q)
				q++;
		}
	}
	return n;
}

/* generic relation: (<p>_type, <p>_id) in the destination, content type + object id in the source */
static void
map_poly(gen *g, gen_entity *e)
{
	cat_table *d = e->dst, *s = e->src;
	int ctcol = -1, objcol = -1, tcol = -1, icol = -1;
	cat_table *ct = NULL;

	for (int f = 0; f < s->nfk && ct == NULL; f++)
	{
		const cat_fk *fk = &s->fks[f];
		const char *n;

		if (fk->ncols != 1 || fk->ref == NULL || !is_content_type_table(fk->ref))
			continue;
		n = s->cols[fk->cols[0]].name;
		if (ends_with(n, "content_type_id"))
		{
			char *obj = fmt("%.*sobject_id", (int) (strlen(n) - strlen("content_type_id")), n);

			objcol = table_column(s, obj);
			free(obj);
			if (objcol >= 0)
			{
				ct = fk->ref;
				ctcol = fk->cols[0];
			}
		}
	}
	if (ct == NULL)
		return;
	for (int c = 0; c < d->ncols && tcol < 0; c++)
	{
		const cat_column *tc = &d->cols[c];
		char *idn;
		int ic;

		if (!ends_with(tc->name, "_type") || tc->category != 'S' || e->dc[c].state != DC_UNSET ||
			table_column(s, tc->name) >= 0)
			continue;
		idn = fmt("%.*s_id", (int) (strlen(tc->name) - 5), tc->name);
		ic = table_column(d, idn);
		free(idn);
		if (ic >= 0 && is_uuid_col(&d->cols[ic]) && dst_fk(d, ic) == NULL &&
			e->dc[ic].state == DC_UNSET && table_column(s, d->cols[ic].name) < 0)
		{
			tcol = c;
			icol = ic;
		}
	}
	if (tcol < 0)
		return;

	/* the content types, mapped to the entities their tables migrate to */
	buf q, expr, unmapped;
	PGresult *res;
	int mapped = 0;

	buf_init(&q, 128);
	buf_init(&expr, 512);
	buf_init(&unmapped, 128);
	buf_puts(&q, "SELECT app_label, model FROM ");
	sql_table(&q, g->scat, ct);
	buf_puts(&q, " ORDER BY app_label, model LIMIT 10000");
	res = pg_query(g->src, buf_cstr(&q), 0, NULL);
	char **allowed = NULL;
	int nallowed = check_literals(d, d->cols[tcol].name, &allowed);
	buf refused;
	int nrefused = 0;

	buf_init(&refused, 128);
	buf_puts(&expr, "CASE");
	for (int r = 0; res && r < PQntuples(res); r++)
	{
		const char *app = PQgetvalue(res, r, 0), *model = PQgetvalue(res, r, 1);
		char *tname = fmt("%s_%s", app, model);
		cat_table *t = catalog_find(g->scat, ct->schema, tname);
		gen_entity *te;
		bool ok = nallowed == 0;

		if (t == NULL)
			t = catalog_find(g->scat, NULL, tname);
		te = t ? entity_of_src(g, t) : NULL;
		for (int a = 0; te && a < nallowed && !ok; a++)
			ok = strcmp(allowed[a], te->name) == 0;
		if (te && !ok)
		{
			if (nrefused < 6)
				buf_printf(&refused, "%s%s.%s", refused.len ? ", " : "", app, model);
			nrefused++;
		}
		else if (te && te->pe.uuid_column != NULL && te->nkey == 1)
		{
			buf_puts(&expr, mapped ? "\n     WHEN ct.app_label = " : " WHEN ct.app_label = ");
			sql_literal(&expr, app);
			buf_puts(&expr, " AND ct.model = ");
			sql_literal(&expr, model);
			buf_puts(&expr, " THEN ");
			sql_literal(&expr, te->name);
			mapped++;
		}
		else
		{
			if (unmapped.len)
				buf_puts(&unmapped, ", ");
			buf_printf(&unmapped, "%s.%s", app, model);
		}
		free(tname);
	}
	if (res)
		PQclear(res);
	buf_puts(&expr, mapped ? " END" : " WHEN false THEN NULL END");

	e->ct = ct;
	e->ct_col = ctcol;
	e->used[ctcol] = true;
	e->used[objcol] = true;
	e->dc[tcol].state = DC_FED;
	e->dc[tcol].expr = (char *) buf_cstr(&expr);
	e->dc[tcol].alias = "ct";
	e->dc[tcol].comment = fmt("%s -> the destination entity of its content type", s->cols[ctcol].name);
	e->dc[icol].state = DC_FED;
	{
		buf r;

		buf_init(&r, 64);
		col_ref(g, &r, "s", s, objcol);
		e->dc[icol].expr = (char *) buf_cstr(&r);
	}
	e->dc[icol].alias = "s";
	e->dc[icol].is_ref = true;
	e->dc[icol].comment = fmt("legacy key of the row of that entity");
	e->pe.poly = xcalloc(1, sizeof(plan_poly));
	e->pe.poly->type_column = xstrdup(d->cols[tcol].name);
	e->pe.poly->id_column = xstrdup(d->cols[icol].name);
	e->pe.poly->on_missing = d->cols[icol].notnull ? MISSING_REJECT : MISSING_NULL;
	note(e, "generic relation: (%s, %s) -> (%s, %s) through %s: the type is the name of the "
		 "entity the content type's table migrates to%s", s->cols[ctcol].name,
		 s->cols[objcol].name, d->cols[tcol].name, d->cols[icol].name, ct->qname,
		 res ? "" : " (could not read the content types: fill the CASE by hand)");
	if (nrefused > 6)
		buf_printf(&refused, " and %d more", nrefused - 6);
	if (refused.len)
		note(e, "%d content types left out, as the CHECK constraint on %s does not allow their "
			 "entity: %s", nrefused, d->cols[tcol].name, buf_cstr(&refused));
	if (unmapped.len)
		note(e, "content types with no migrated table: %s", buf_cstr(&unmapped));
	if (refused.len || unmapped.len)
		note(e, "rows on those get a NULL %s%s", d->cols[tcol].name,
			 d->cols[tcol].notnull ? " and are rejected by the load" : "");
	for (int a = 0; a < nallowed; a++)
		free(allowed[a]);
	free(allowed);
	buf_free(&refused);
	if (res == NULL)
		entity_todo(g, e, "could not read %s: write the CASE mapping content types to entities",
					ct->qname);
	buf_free(&q);
	buf_free(&unmapped);
}

/* source column for destination FK column d referencing entity te */
static bool
find_fk_source(gen *g, gen_entity *e, int d, gen_entity *te, bool loose, srcpos *pos, buf *why)
{
	const char *dn = e->dst->cols[d].name;
	srcpos tabs[MAXMERGE + 1];
	int nt = entity_tables(e, tabs);

	if (!loose)
	{
		char *alt;

		if (find_named(e, dn, pos))
			return true;
		alt = fmt("%s_id", dn);
		if (find_named(e, alt, pos))
		{
			buf_printf(why, "<- %s", alt);
			free(alt);
			return true;
		}
		free(alt);
		if (ends_with(dn, "_code"))
		{
			alt = fmt("%.*s_id", (int) (strlen(dn) - 5), dn);
			if (find_named(e, alt, pos))
			{
				buf_printf(why, "<- %s", alt);
				free(alt);
				return true;
			}
			free(alt);
		}
		return false;
	}
	if (te == NULL || te->src == NULL)
		return false;
	/* the only unused source column with a foreign key to te's source table */
	for (int i = 0; i < nt; i++)
	{
		int found = -1, count = 0;

		for (int f = 0; f < tabs[i].t->nfk; f++)
		{
			const cat_fk *fk = &tabs[i].t->fks[f];

			if (fk->ncols == 1 && fk->ref == te->src && !tabs[i].used[fk->cols[0]] &&
				fk->cols[0] != found)
			{
				found = fk->cols[0];
				count++;
			}
		}
		if (count == 1)
		{
			*pos = tabs[i];
			pos->col = found;
			pos->nullable = i > 0 || !tabs[i].t->cols[found].notnull;
			buf_printf(why, "<- %s (foreign key to %s)", tabs[i].t->cols[found].name, te->src->name);
			return true;
		}
		if (count > 1)
		{
			buf_printf(why, "several columns of %s reference %s", tabs[i].t->name, te->src->name);
			return false;
		}
	}
	/* <model>_id without a foreign key (legacy columns often lack one) */
	{
		char *alt = fmt("%s_id", model_of(g, te->src));
		bool ok = find_named(e, alt, pos) && !pos->used[pos->col] &&
			table_fk_on(pos->t, pos->col) == NULL;

		if (ok)
			buf_printf(why, "<- %s (no foreign key in the source; matched by name)", alt);
		free(alt);
		return ok;
	}
}

/* ordinary columns: same name, then renaming conventions; the main table first */
static bool
find_plain_source(gen_entity *e, int d, srcpos *pos, buf *why)
{
	const cat_column *dc = &e->dst->cols[d];
	const char *dn = dc->name;
	srcpos tabs[MAXMERGE + 1];
	int nt = entity_tables(e, tabs);

	for (int i = 0; i < nt; i++)
	{
		const cat_table *t = tabs[i].t;
		char *alt = NULL;
		int c = table_column(t, dn);

		/* is_X boolean <- X, and X <- is_X */
		if (c < 0 && strcmp(dc->base, "bool") == 0)
		{
			alt = starts_with(dn, "is_") ? xstrdup(dn + 3) : fmt("is_%s", dn);
			c = table_column(t, alt);
		}
		/* X_cents <- X */
		if (c < 0 && ends_with(dn, "_cents"))
		{
			free(alt);
			alt = fmt("%.*s", (int) (strlen(dn) - 6), dn);
			c = table_column(t, alt);
		}
		/* X_code <- X (a code under its bare name) */
		if (c < 0 && ends_with(dn, "_code") && dc->category == 'S')
		{
			free(alt);
			alt = fmt("%.*s", (int) (strlen(dn) - 5), dn);
			c = table_column(t, alt);
			if (c >= 0 && t->cols[c].category != 'S')
				c = -1;
		}
		/* X_at timestamp <- X */
		if (c < 0 && ends_with(dn, "_at") && dc->category == 'D')
		{
			free(alt);
			alt = fmt("%.*s", (int) (strlen(dn) - 3), dn);
			c = table_column(t, alt);
			if (c >= 0 && t->cols[c].category != 'D')
				c = -1;
		}
		/* creation / last change timestamps under another usual name */
		for (int k = 0; c < 0 && k < t->ncols; k++)
		{
			const char *sn = t->cols[k].name;

			if ((is_creation_name(dn) && is_creation_name(sn)) ||
				(is_update_name(dn) && is_update_name(sn)))
				c = k;
		}
		free(alt);
		if (c >= 0)
		{
			*pos = tabs[i];
			pos->col = c;
			pos->nullable = i > 0 || !t->cols[c].notnull;
			if (strcmp(t->cols[c].name, dn) != 0)
				buf_printf(why, "<- %s", t->cols[c].name);
			return true;
		}
	}
	return false;
}

static void
add_ref(gen_entity *e, const char *col, const char *entity, ref_kind kind, missing_policy pol)
{
	plan_ref r = {0};

	r.column = xstrdup(col);
	r.entity = xstrdup(entity);
	r.kind = kind;
	r.on_missing = pol;
	e->pe.refs = xrealloc(e->pe.refs, sizeof(plan_ref) * (size_t) (e->pe.nrefs + 1));
	e->pe.refs[e->pe.nrefs++] = r;
}

/* the entity's creation expression, to stand in for a missing change time */
static int
creation_column(gen_entity *e)
{
	for (int d = 0; d < e->dst->ncols; d++)
		if (is_creation_name(e->dst->cols[d].name) && e->dc[d].state == DC_FED &&
			!e->dc[d].nullable && !e->dc[d].is_ref)
			return d;
	return -1;
}

static void map_columns(gen *g, gen_entity *e);
static void map_references(gen *g, gen_entity *e);
static void finish_columns(gen *g, gen_entity *e);

/* every destination column of a migrated entity: where it comes from */
static void
build_columns(gen *g, gen_entity *e)
{
	cat_table *d = e->dst, *s = e->src;
	buf why;
	int uuidcol = -1;

	e->uuidcol = -1;
	e->used = xcalloc((size_t) s->ncols + 1, sizeof(bool));
	for (int m = 0; m < e->nmerge; m++)
		if (e->merges[m].used == NULL)
			e->merges[m].used = xcalloc((size_t) e->merges[m].t->ncols + 1, sizeof(bool));
	e->dc = xcalloc((size_t) d->ncols + 1, sizeof(dcol));
	buf_init(&why, 128);

	e->pe.name = xstrdup(e->name);
	e->pe.source = xstrdup(s->qname);
	e->pe.target = xstrdup(d->qname);
	e->pe.keyspace = plan_default_keyspace(s->qname);

	/* generated columns, the uuid primary key, the legacy key */
	for (int c = 0; c < d->ncols; c++)
		if (d->cols[c].generated)
			e->dc[c].state = DC_GENERATED;
	if (d->npk == 1 && is_uuid_col(&d->cols[d->pk[0]]))
	{
		e->uuidcol = uuidcol = d->pk[0];
		e->dc[uuidcol].state = DC_UUID;
		if (e->pe.uuid_column == NULL)
			e->pe.uuid_column = xstrdup(d->cols[uuidcol].name);
	}
	for (int k = 0; k < e->nkey; k++)
	{
		strv_push(&e->pe.nkey, &e->pe.key, e->keyname[k]);
		e->used[e->keycols[k]] = true;
		if (e->keydest[k] >= 0)
		{
			dcol *x = &e->dc[e->keydest[k]];
			buf r;

			buf_init(&r, 64);
			col_ref(g, &r, "s", s, e->keycols[k]);
			x->state = DC_FED;
			x->expr = (char *) buf_cstr(&r);
			x->alias = "s";
			x->stab = s;
			x->scol = e->keycols[k];
			x->comment = fmt("legacy key");
		}
		else
			strv_push(&e->pe.ndrop, &e->pe.drop, e->keyname[k]);
	}
	for (int m = 0; m < e->nmerge; m++)
	{
		merge *mg = &e->merges[m];

		mg->used[mg->tcol] = true;
		e->used[mg->scol] = true;
		if (mg->destcol >= 0)
		{
			dcol *x = &e->dc[mg->destcol];
			buf r;

			buf_init(&r, 64);
			col_ref(g, &r, mg->alias, mg->t, mg->keycol);
			x->state = DC_FED;
			x->expr = (char *) buf_cstr(&r);
			x->alias = mg->alias;
			x->nullable = true;
			x->comment = fmt("legacy key of %s (NULL when there is no row)", mg->t->name);
			mg->used[mg->keycol] = true;
		}
		note(e, "merged: %s, one row per %s row at most (LEFT JOIN on %s.%s = %s.%s)",
			 mg->t->qname, s->name, mg->t->name, mg->t->cols[mg->tcol].name, s->name,
			 s->cols[mg->scol].name);
	}
	/* legacy keys of other tables that could not be merged one-to-one */
	for (int k = 0; k < e->nkm; k++)
	{
		kmatch *m = &e->km[k];
		int dcn;
		bool merged = false;

		if (m->s == s || m->nkey != 1)
			continue;
		for (int mm = 0; mm < e->nmerge; mm++)
			if (e->merges[mm].t == m->s)
				merged = true;
		dcn = m->destcols[0];
		if (merged || e->dc[dcn].state != DC_UNSET)
			continue;
		if (!references(m->s, s))
		{
			/*
			 * s references m->s (a lookup, like a content type): the column
			 * only looks like a legacy key of m->s; it is not a merge
			 */
			note(e, "%s looks like the legacy key of %s, which %s references: not a merged "
				 "table, so it is left out", d->cols[dcn].name, m->s->qname, s->name);
			continue;
		}
		{
			char *t = fmt("%s holds keys of %s, which has no one-to-one foreign key with %s: "
						  "write the expression (a subquery) or remove this line if it stays NULL",
						  d->cols[dcn].name, m->s->qname, s->qname);

			todo_column(g, e, dcn, t);
			free(t);
		}
	}

	/* the primary key is also a foreign key (profiles.id = auth.users.id) */
	if (uuidcol >= 0)
	{
		cat_fk *fk = dst_fk(d, uuidcol);
		gen_entity *te = fk ? entity_of_dst(g, fk->ref) : NULL;

		if (te && te != e)
		{
			/*
			 * Checked like a reference: with foreign-key checks off during the
			 * load, a row whose twin was rejected (a user whose auth.users row
			 * could not load) must be rejected too, not loaded dangling.
			 */
			if (e->pe.nkey == 1)
				add_ref(e, e->pe.key[0], te->name, REF_CHECK, MISSING_REJECT);
			else
				strv_push(&e->pe.ndepends, &e->pe.depends, te->name);
			if (te->src == s)
				note(e, "%s.%s references %s: both come from %s and share its keyspace, so "
					 "the UUIDs are equal", d->name, d->cols[uuidcol].name, te->name, s->qname);
			else
				entity_todo(g, e, "%s.%s references %s (%s), fed from another source table: "
							"the UUIDs differ unless both use the same keyspace and key",
							d->name, d->cols[uuidcol].name, te->name, fk->ref->qname);
		}
	}

	buf_free(&why);
	map_columns(g, e);
	map_references(g, e);
	finish_columns(g, e);
}

/* destination columns from source columns, by name and convention */
static void
map_columns(gen *g, gen_entity *e)
{
	cat_table *d = e->dst, *s = e->src;
	buf why;

	buf_init(&why, 128);
	/* 1. foreign keys by name */
	for (int c = 0; c < d->ncols; c++)
	{
		cat_fk *fk;
		srcpos p;

		if (e->dc[c].state != DC_UNSET || (fk = dst_fk(d, c)) == NULL || fk->ref == d)
			continue;
		buf_reset(&why);
		if (find_fk_source(g, e, c, entity_of_dst(g, fk->ref), false, &p, &why))
		{
			buf_cstr(&why);
			feed_ref(g, e, c, &p, why.len ? why.data : NULL);
		}
	}
	/* 2. ordinary columns by name and convention */
	for (int c = 0; c < d->ncols; c++)
	{
		srcpos p;

		if (e->dc[c].state != DC_UNSET || dst_fk(d, c) != NULL)
			continue;
		buf_reset(&why);
		if (find_plain_source(e, c, &p, &why))
			feed(g, e, c, &p, buf_cstr(&why));
	}
	/* 3. generic relation */
	map_poly(g, e);
	/* 4. foreign keys by the source's foreign keys, and self references */
	for (int c = 0; c < d->ncols; c++)
	{
		cat_fk *fk;
		srcpos p;

		if (e->dc[c].state != DC_UNSET || (fk = dst_fk(d, c)) == NULL)
			continue;
		buf_reset(&why);
		if (fk->ref == d)
		{
			/* the parent: same name, or the source's own self reference */
			if (find_named(e, d->cols[c].name, &p))
				feed_ref(g, e, c, &p, NULL);
			else
			{
				int self = -1, n = 0;

				for (int f = 0; f < s->nfk; f++)
					if (s->fks[f].ref == s && s->fks[f].ncols == 1)
						self = s->fks[f].cols[0], n++;
				if (n == 1 && !e->used[self])
				{
					p.alias = "s";
					p.t = s;
					p.col = self;
					p.used = e->used;
					p.nullable = true;
				{
					char *w = fmt("<- %s", s->cols[self].name);

					feed_ref(g, e, c, &p, w);
					free(w);
				}
				}
			}
			continue;
		}
		if (find_fk_source(g, e, c, entity_of_dst(g, fk->ref), true, &p, &why))
			feed_ref(g, e, c, &p, buf_cstr(&why));
	}

	buf_free(&why);
}

/* refs, checks and the tree from the destination's foreign keys */
static void
map_references(gen *g, gen_entity *e)
{
	cat_table *d = e->dst;


	for (int c = 0; c < d->ncols; c++)
	{
		cat_fk *fk = dst_fk(d, c);
		gen_entity *te;
		const cat_column *dc = &d->cols[c];

		if (fk == NULL || c == e->uuidcol || e->dc[c].state != DC_FED)
			continue;
		te = entity_of_dst(g, fk->ref);
		if (fk->ref == d)
		{
			if (e->pe.tree)
			{
				entity_todo(g, e, "second self reference %s: only one tree per entity; map it "
							"by hand", dc->name);
				continue;
			}
			e->pe.tree = xcalloc(1, sizeof(plan_tree));
			e->pe.tree->parent_column = xstrdup(dc->name);
			e->pe.tree->orphan = dc->notnull ? TREE_REJECT : TREE_ROOT;
			e->pe.tree->cycle = TREE_REJECT;
			for (int k = 0; k < d->ncols; k++)
				if ((strcmp(d->cols[k].name, "depth") == 0 || strcmp(d->cols[k].name, "level") == 0) &&
					is_integer_type(d->cols[k].base) && e->dc[k].state == DC_UNSET)
				{
					e->pe.tree->depth_column = xstrdup(d->cols[k].name);
					e->dc[k].state = DC_DEPTH;
					break;
				}
			note(e, "tree: %s is a self reference; parents load before their children%s",
				 dc->name, e->pe.tree->depth_column ? ", depth computed by the transform" : "");
			continue;
		}
		if (te == NULL)
			continue;
		if (te->nkey > 1)
		{
			entity_todo(g, e, "%s references %s, whose legacy key has %d columns: map it by hand",
						dc->name, te->name, te->nkey);
			continue;
		}
		{
			const cat_table *t = fk->ref;
			bool to_uuid = t->npk == 1 && fk->refcols[0] == t->pk[0] && is_uuid_col(&t->cols[t->pk[0]]);

			add_ref(e, dc->name, te->name, to_uuid ? REF_UUID : REF_CHECK,
					dc->notnull ? MISSING_REJECT : MISSING_NULL);
			if (!to_uuid)
			{
				char *c2 = fmt("%s%s%s", e->dc[c].comment ? e->dc[c].comment : "",
							   e->dc[c].comment ? "; " : "", "natural key, kept as is");

				free(e->dc[c].comment);
				e->dc[c].comment = c2;
			}
		}
	}

}

/* what is left: defaults, stand-ins, or TODOs */
static void
finish_columns(gen *g, gen_entity *e)
{
	cat_table *d = e->dst;
	buf omitted;

	buf_init(&omitted, 128);
	for (int c = 0; c < d->ncols; c++)
	{
		const cat_column *dc = &d->cols[c];
		dcol *x = &e->dc[c];

		if (x->state == DC_GENERATED)
		{
			if (omitted.len)
				buf_puts(&omitted, ", ");
			buf_printf(&omitted, "%s (generated)", dc->name);
			continue;
		}
		if (x->state != DC_UNSET)
			continue;
		if (dst_fk(d, c) && dst_fk(d, c)->ncols > 1 && dc->notnull)
		{
			char *t = fmt("%s is part of a multi-column foreign key: map it by hand", dc->name);

			todo_column(g, e, c, t);
			free(t);
		}
		else if (is_update_name(dc->name) && dc->notnull && creation_column(e) >= 0)
		{
			int cc = creation_column(e);

			x->state = DC_FED;
			x->expr = xstrdup(e->dc[cc].expr);
			x->comment = fmt("no source column: the creation time (%s) stands in for the last change",
							 d->cols[cc].name);
		}
		else if (dc->notnull && dc->def == NULL)
		{
			char *un = unused_columns(e, false);
			char *t = fmt("%s %s NOT NULL has no default and no source column%s%s", dc->name,
						  dc->type, *un ? "; unused source columns: " : "", un);

			todo_column(g, e, c, t);
			free(t);
			free(un);
		}
		else
		{
			if (omitted.len)
				buf_puts(&omitted, ", ");
			buf_puts(&omitted, dc->name);
		}
	}
	/* a NOT NULL change time fed from a nullable source: fall back on the creation time */
	for (int c = 0; c < d->ncols; c++)
	{
		const cat_column *dc = &d->cols[c];
		dcol *x = &e->dc[c];
		char *dtext;
		bool quoted;
		int cc;

		if (x->state != DC_FED || x->is_ref || !x->nullable || !dc->notnull || dc->category != 'D' ||
			!is_update_name(dc->name) || (cc = creation_column(e)) < 0 || cc == c)
			continue;
		if (constant_default(dc->def, &dtext, &quoted))
		{
			/* the constant default was taken by convert() already */
			free(dtext);
			continue;
		}
		{
			char *ex = fmt("coalesce(%s, %s)", x->expr, e->dc[cc].expr);
			char *cm = fmt("%s%sNULL -> %s", x->comment ? x->comment : "", x->comment ? "; " : "",
						   d->cols[cc].name);

			free(x->expr);
			free(x->comment);
			x->expr = ex;
			x->comment = cm;
		}
	}
	if (omitted.len)
		note(e, "left to their default (no source column): %s", buf_cstr(&omitted));
	buf_free(&omitted);
}

/* ---- the query ---- */

static void
append_item(buf *b, const char *expr, const char *as, bool same_name, bool last, const char *comment,
			bool first)
{
	const char *indent = "       ";
	buf line;

	buf_init(&line, 128);
	buf_puts(&line, first ? "SELECT " : indent);
	for (const char *p = expr; *p; p++)
	{
		buf_putc(&line, *p);
		if (*p == '\n')
			buf_puts(&line, indent);
	}
	if (!same_name)
		buf_printf(&line, " AS %s", as);
	if (!last)
		buf_putc(&line, ',');
	if (comment && *comment)
	{
		size_t start = line.len + 5;

		buf_printf(&line, "  -- %s", comment);
		flatten(line.data + start, line.len - start);
	}
	buf_puts(b, buf_cstr(&line));
	buf_putc(b, '\n');
	buf_free(&line);
}

/* does "alias.col" (quoted as needed) output a column named name? */
static bool
outputs_name(gen *g, const char *expr, const char *name)
{
	const char *dot = strchr(expr, '.');
	buf b;
	bool same;

	if (dot == NULL || strchr(expr, ' ') || strchr(expr, '('))
		return false;
	buf_init(&b, 64);
	sql_ident(&b, g->scat, name);
	same = strcmp(dot + 1, buf_cstr(&b)) == 0;
	buf_free(&b);
	return same;
}

static void
build_query(gen *g, gen_entity *e)
{
	cat_table *d = e->dst;
	int nitems = 0, done = 0;
	buf as;

	buf_init(&as, 64);
	for (int k = 0; k < e->nkey; k++)
		if (e->keydest[k] < 0)
			nitems++;
	for (int c = 0; c < d->ncols; c++)
		if (e->dc[c].state == DC_FED || e->dc[c].state == DC_TODO)
			nitems++;
	for (int k = 0; k < e->nkey; k++)
	{
		buf r;

		if (e->keydest[k] >= 0)
			continue;
		buf_init(&r, 64);
		col_ref(g, &r, "s", e->src, e->keycols[k]);
		buf_reset(&as);
		sql_ident(&as, g->scat, e->keyname[k]);
		append_item(&e->sql, buf_cstr(&r), buf_cstr(&as), false, done + 1 == nitems,
					"legacy key (not a destination column: drop)", done == 0);
		done++;
		buf_free(&r);
	}
	for (int c = 0; c < d->ncols; c++)
	{
		dcol *x = &e->dc[c];

		if (x->state != DC_FED && x->state != DC_TODO)
			continue;
		buf_reset(&as);
		sql_ident(&as, g->scat, d->cols[c].name);
		append_item(&e->sql, x->expr, buf_cstr(&as), outputs_name(g, x->expr, d->cols[c].name),
					done + 1 == nitems, x->comment, done == 0);
		done++;
	}
	if (nitems == 0)
		buf_puts(&e->sql, "SELECT\n");
	buf_puts(&e->sql, "  FROM ");
	sql_table(&e->sql, g->scat, e->src);
	buf_puts(&e->sql, " AS s\n");
	for (int m = 0; m < e->nmerge; m++)
	{
		merge *mg = &e->merges[m];

		buf_puts(&e->sql, "  LEFT JOIN ");
		sql_table(&e->sql, g->scat, mg->t);
		buf_printf(&e->sql, " AS %s ON ", mg->alias);
		col_ref(g, &e->sql, mg->alias, mg->t, mg->tcol);
		buf_puts(&e->sql, " = ");
		col_ref(g, &e->sql, "s", e->src, mg->scol);
		buf_putc(&e->sql, '\n');
	}
	if (e->ct)
	{
		buf_puts(&e->sql, "  LEFT JOIN ");
		sql_table(&e->sql, g->scat, e->ct);
		buf_puts(&e->sql, " AS ct ON ct.id = ");
		col_ref(g, &e->sql, "s", e->src, e->ct_col);
		buf_putc(&e->sql, '\n');
	}
	buf_free(&as);
	e->pe.extract_sql = xstrdup(buf_cstr(&e->sql));

	/* incremental: the change time, else the creation time, of the output */
	{
		const char *upd = NULL, *cre = NULL;

		for (int c = 0; c < d->ncols; c++)
		{
			if (e->dc[c].state != DC_FED || e->dc[c].is_ref)
				continue;
			if (!upd && is_update_name(d->cols[c].name) && d->cols[c].category == 'D')
				upd = d->cols[c].name;
			if (!cre && is_creation_name(d->cols[c].name) && d->cols[c].category == 'D')
				cre = d->cols[c].name;
		}
		if (upd && cre)
			e->pe.incremental = fmt("coalesce(q.%s, q.%s)", upd, cre);
		else if (upd || cre)
			e->pe.incremental = fmt("q.%s", upd ? upd : cre);
	}
	/* what the source has that nobody reads */
	{
		char *un = unused_columns(e, false);

		if (*un)
			note(e, "source columns not migrated: %s", un);
		free(un);
	}
}

/* a destination table nobody feeds */
static void
skeleton(gen *g, gen_entity *e)
{
	cat_table *d = e->dst;

	e->skeleton = true;
	e->pe.name = xstrdup(e->name);
	e->pe.target = xstrdup(d->qname);
	e->pe.keyspace = xstrdup(e->name);
	if (d->npk == 1 && is_uuid_col(&d->cols[d->pk[0]]))
		e->pe.uuid_column = xstrdup(d->cols[d->pk[0]].name);
	note(e, "no source table feeds %s (no legacy key column, no table of a matching name)",
		 d->qname);
	entity_todo(g, e, "no source table for %s: give source, keyspace, key and an extract query "
				"(its columns: %s...), or delete this entity if the table stays empty",
				d->qname, d->ncols > 0 ? d->cols[0].name : "");
}

/* ---- cycles ---- */

static void
break_cycles(gen *g)
{
	for (int round = 0; round < 1000; round++)
	{
		plan p = {0};
		int *cycle = xcalloc((size_t) g->nent + 1, sizeof(int));
		const plan_ref **why = xcalloc((size_t) g->nent + 1, sizeof(plan_ref *));
		int n, pick = -1;

		p.nentities = g->nent;
		p.entities = xcalloc((size_t) g->nent + 1, sizeof(plan_entity));
		for (int i = 0; i < g->nent; i++)
			p.entities[i] = g->ents[i].pe;
		n = plan_find_cycle(&p, cycle, why);
		if (n == 0)
		{
			free(p.entities);
			free(cycle);
			free(why);
			return;
		}
		/* defer a nullable foreign key of the cycle */
		for (int i = 0; i < n && pick < 0; i++)
			if (why[i] && why[i]->kind == REF_UUID && why[i]->on_missing == MISSING_NULL)
				pick = i;
		if (pick < 0)
			for (int i = 0; i < n && pick < 0; i++)
				if (why[i] && why[i]->kind == REF_UUID)
					pick = i;
		{
			buf desc;

			buf_init(&desc, 256);
			for (int i = 0; i < n; i++)
			{
				buf_printf(&desc, "%s", g->ents[cycle[i]].name);
				if (why[i])
					buf_printf(&desc, ".%s", why[i]->column);
				buf_puts(&desc, " -> ");
			}
			buf_puts(&desc, g->ents[cycle[0]].name);
			if (pick < 0)
			{
				/* an edge we cannot defer (depends, check): leave it to the DBA */
				gen_entity *e = &g->ents[cycle[0]];

				entity_todo(g, e, "dependency cycle %s cannot be broken with defer: "
							"edit depends/check by hand", buf_cstr(&desc));
				log_warn("dependency cycle %s: no foreign key to defer (TODO left)", buf_cstr(&desc));
				/* drop the edges out of it so that ordering goes on */
				for (int k = 0; k < e->pe.ndepends; k++)
					free(e->pe.depends[k]);
				free(e->pe.depends);
				e->pe.depends = NULL;
				e->pe.ndepends = 0;
				for (int r = 0; r < e->pe.nrefs; r++)
					if (e->pe.refs[r].kind == REF_CHECK)
						e->pe.refs[r].kind = REF_DEFER;
			}
			else
			{
				gen_entity *e = &g->ents[cycle[pick]];
				plan_ref *r = (plan_ref *) why[pick];
				bool nullable = r->on_missing == MISSING_NULL;

				r->kind = REF_DEFER;
				g->deferred++;
				note(e, "cycle %s: %s.%s is loaded NULL and set once %s is loaded (defer)",
					 buf_cstr(&desc), e->name, r->column, r->entity);
				buf_printf(&g->cycle_notes, "# cycle %s: broken with \"defer %s %s\" in %s\n",
						   buf_cstr(&desc), r->column, r->entity, e->name);
				log_warn("foreign key cycle %s: %s.%s deferred (loaded NULL, set after %s)",
						 buf_cstr(&desc), e->name, r->column, r->entity);
				if (!nullable)
				{
					entity_todo(g, e, "%s.%s is NOT NULL in the destination but must be deferred to "
								"break the cycle %s: make it nullable or load this cycle by hand",
								e->name, r->column, buf_cstr(&desc));
					log_warn("cycle %s has no nullable foreign key: TODO left in %s",
							 buf_cstr(&desc), e->name);
				}
			}
			buf_free(&desc);
		}
		free(p.entities);
		free(cycle);
		free(why);
	}
}

/* ---- writing ---- */

static void
write_name(buf *b, const char *name)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	plan_write_name(f, name);
	fclose(f);
	buf_append(b, out, len);
	free(out);
}

static void
write_entity(gen *g, buf *b, gen_entity *e)
{
	plan_entity *pe = &e->pe;

	(void) g;
	buf_puts(b, "\n# ---------------------------------------------------------------------\n");
	if (e->dst && e->src)
	{
		buf_printf(b, "# %s <- %s (%s)", e->dst->qname, e->src->qname, rows_text(e->src->rows));
		if (e->match_how && strcmp(e->match_how, "name") == 0)
			buf_puts(b, ", matched by name");
		else if (e->nkey > 0 && e->keydest[0] >= 0)
			buf_printf(b, ", matched by legacy key %s", e->keyname[0]);
		buf_putc(b, '\n');
	}
	else if (e->src)
		buf_printf(b, "# %s (%s)\n", e->src->qname, rows_text(e->src->rows));
	else if (e->dst)
		buf_printf(b, "# %s\n", e->dst->qname);
	buf_puts(b, buf_cstr(&e->notes));
	if (e->dst && e->dst->ntriggers > 0)
	{
		buf_puts(b, "# destination triggers: ");
		for (int t = 0; t < e->dst->ntriggers; t++)
			buf_printf(b, "%s%s", t ? ", " : "", e->dst->triggers[t]);
		buf_putc(b, '\n');
	}
	buf_puts(b, "entity ");
	write_name(b, pe->name ? pe->name : e->name);
	buf_putc(b, '\n');
	if (e->src)
	{
		buf_puts(b, "  source ");
		write_name(b, e->src->qname);
		buf_putc(b, '\n');
	}
	buf_puts(b, "  target ");
	if (e->dst)
		write_name(b, e->dst->qname);
	else
		buf_putc(b, '-');
	buf_putc(b, '\n');
	if (e->dst == NULL)
	{
		for (int t = 0; t < pe->ntodo; t++)
			buf_printf(b, "  TODO: %s\n", pe->todo[t]);
		buf_puts(b, "end\n");
		return;
	}
	if (pe->keyspace)
	{
		buf_puts(b, "  keyspace ");
		write_name(b, pe->keyspace);
		buf_putc(b, '\n');
	}
	if (pe->nkey)
	{
		buf_puts(b, "  key ");
		for (int k = 0; k < pe->nkey; k++)
		{
			if (k)
				buf_putc(b, ',');
			write_name(b, pe->key[k]);
		}
		buf_putc(b, '\n');
	}
	if (pe->uuid_column)
	{
		buf_puts(b, "  uuid ");
		write_name(b, pe->uuid_column);
		buf_putc(b, '\n');
	}
	for (int k = 0; k < pe->ndrop; k++)
	{
		buf_puts(b, "  drop ");
		write_name(b, pe->drop[k]);
		buf_putc(b, '\n');
	}
	for (int r = 0; r < pe->nrefs; r++)
	{
		plan_ref *ref = &pe->refs[r];

		buf_puts(b, ref->kind == REF_UUID ? "  ref " : ref->kind == REF_CHECK ? "  check " : "  defer ");
		write_name(b, ref->column);
		buf_putc(b, ' ');
		write_name(b, ref->entity);
		if (ref->kind != REF_DEFER)
			buf_puts(b, ref->on_missing == MISSING_NULL ? " null" : " reject");
		buf_putc(b, '\n');
	}
	if (pe->tree)
	{
		buf_puts(b, "  tree ");
		write_name(b, pe->tree->parent_column);
		if (pe->tree->depth_column)
		{
			buf_puts(b, " depth=");
			write_name(b, pe->tree->depth_column);
		}
		buf_printf(b, " orphan=%s cycle=%s\n", pe->tree->orphan == TREE_ROOT ? "root" : "reject",
				   pe->tree->cycle == TREE_ROOT ? "root" : "reject");
	}
	if (pe->poly)
	{
		buf_puts(b, "  poly ");
		write_name(b, pe->poly->type_column);
		buf_putc(b, ' ');
		write_name(b, pe->poly->id_column);
		buf_printf(b, " missing=%s\n", pe->poly->on_missing == MISSING_NULL ? "null" : "reject");
	}
	if (pe->ndepends)
	{
		buf_puts(b, "  depends");
		for (int k = 0; k < pe->ndepends; k++)
		{
			buf_putc(b, ' ');
			write_name(b, pe->depends[k]);
		}
		buf_putc(b, '\n');
	}
	if (pe->incremental)
		buf_printf(b, "  incremental %s\n", pe->incremental);
	for (int t = 0; t < pe->ntodo; t++)
		buf_printf(b, "  TODO: %s\n", pe->todo[t]);
	if (pe->extract_sql)
	{
		const char *s = pe->extract_sql;

		buf_puts(b, "  extract\n");
		while (*s)
		{
			const char *nl = strchr(s, '\n');
			size_t n = nl ? (size_t) (nl - s) : strlen(s);

			if (n)
			{
				buf_puts(b, "    ");
				buf_append(b, s, n);
			}
			buf_putc(b, '\n');
			s += n + (nl ? 1 : 0);
		}
		buf_puts(b, "  end\n");
	}
	buf_puts(b, "end\n");
}

static void
entity_free(gen_entity *e)
{
	plan_entity *pe = &e->pe;

	free(e->name);
	free(e->km);
	for (int k = 0; k < e->nkey; k++)
		free(e->keyname[k]);
	for (int m = 0; m < e->nmerge; m++)
		free(e->merges[m].used);
	free(e->used);
	if (e->dc)
		for (int c = 0; e->dst && c < e->dst->ncols; c++)
		{
			free(e->dc[c].expr);
			free(e->dc[c].comment);
		}
	free(e->dc);
	buf_free(&e->notes);
	buf_free(&e->sql);
	free(pe->name);
	free(pe->source);
	free(pe->target);
	free(pe->keyspace);
	for (int k = 0; k < pe->nkey; k++)
		free(pe->key[k]);
	free(pe->key);
	free(pe->uuid_column);
	for (int k = 0; k < pe->ndrop; k++)
		free(pe->drop[k]);
	free(pe->drop);
	for (int r = 0; r < pe->nrefs; r++)
	{
		free(pe->refs[r].column);
		free(pe->refs[r].entity);
	}
	free(pe->refs);
	if (pe->tree)
	{
		free(pe->tree->parent_column);
		free(pe->tree->depth_column);
		free(pe->tree);
	}
	if (pe->poly)
	{
		free(pe->poly->type_column);
		free(pe->poly->id_column);
		free(pe->poly);
	}
	for (int k = 0; k < pe->ndepends; k++)
		free(pe->depends[k]);
	free(pe->depends);
	free(pe->incremental);
	free(pe->extract_sql);
	for (int t = 0; t < pe->ntodo; t++)
		free(pe->todo[t]);
	free(pe->todo);
}

bool
plan_generate(PGconn *src, const catalog *scat, const catalog *tcat, const gen_options *o,
			  buf *out, gen_stats *stats)
{
	gen g = {0};
	int *order;
	int nmig = 0, nnot = 0, nskel = 0;

	g.src = src;
	g.scat = scat;
	g.tcat = tcat;
	g.o = o;
	buf_init(&g.cycle_notes, 256);

	match_destinations(&g);
	match_by_name(&g);
	unmatched_sources(&g);

	/* uuid columns first: refs and poly look at other entities' */
	for (int i = 0; i < g.nent; i++)
	{
		gen_entity *e = &g.ents[i];

		if (e->dst && e->src && e->dst->npk == 1 && is_uuid_col(&e->dst->cols[e->dst->pk[0]]))
			e->pe.uuid_column = xstrdup(e->dst->cols[e->dst->pk[0]].name);
	}
	for (int i = 0; i < g.nent; i++)
	{
		gen_entity *e = &g.ents[i];

		if (e->dst && e->src)
			build_columns(&g, e);
	}
	for (int i = 0; i < g.nent; i++)
	{
		gen_entity *e = &g.ents[i];

		if (e->dst && e->src)
			build_query(&g, e);
		else if (e->dst)
			skeleton(&g, e);
		else
		{
			e->pe.name = xstrdup(e->name);
			e->pe.source = xstrdup(e->src->qname);
			e->pe.keyspace = plan_default_keyspace(e->src->qname);
		}
	}
	break_cycles(&g);

	/* load order */
	{
		plan p = {0};

		p.path = (char *) "generated plan";
		p.nentities = g.nent;
		p.entities = xcalloc((size_t) g.nent + 1, sizeof(plan_entity));
		for (int i = 0; i < g.nent; i++)
			p.entities[i] = g.ents[i].pe;
		order = xcalloc((size_t) g.nent + 1, sizeof(int));
		if (!plan_order(&p, order, NULL))
		{
			for (int i = 0; i < g.nent; i++)
				order[i] = i;
		}
		free(p.entities);
	}

	for (int i = 0; i < g.nent; i++)
	{
		if (g.ents[i].dst == NULL)
			nnot++;
		else
		{
			nmig++;
			if (g.ents[i].src == NULL)
				nskel++;
		}
	}

	buf_puts(out, "# ferry migration plan (format: man 5 ferry-plan), written by \"ferry-plan generate\"");
	if (o->generated_at)
		buf_printf(out, " on %s", o->generated_at);
	buf_puts(out, ".\n");
	buf_printf(out, "# source: %s", o->source_desc ? o->source_desc : "(unknown)");
	if (o->nsource_schemas)
	{
		buf_puts(out, ", schemas");
		for (int i = 0; i < o->nsource_schemas; i++)
			buf_printf(out, " %s", o->source_schemas[i]);
	}
	buf_putc(out, '\n');
	buf_printf(out, "# target: %s, schemas", o->target_desc ? o->target_desc : "(unknown)");
	for (int i = 0; i < o->ntarget_schemas; i++)
		buf_printf(out, " %s", o->target_schemas[i]);
	buf_puts(out, " (and the tables they reference)\n");
	buf_printf(out, "# legacy timestamp values are read in time zone %s\n", o->timezone);
	buf_printf(out, "# %d entities: %d migrated (%d without a source table), %d not migrated; "
			   "%d TODOs\n", g.nent, nmig, nskel, nnot, g.todos);
	if (g.todos)
		buf_puts(out, "# \"ferry-plan check\" lists the TODOs; \"ferry run\" refuses the plan until none "
				 "is left.\n");
	buf_puts(out, "#\n# Each entity's extract query outputs the destination's column names; the "
			 "transform computes the\n# uuid column from the key, maps ref/tree/poly columns to "
			 "UUIDs, and the load writes the rest.\n# Conversions that can fail on a dirty row "
			 "(casts, JSON, arrays) are left to the load, which\n# rejects that row alone. "
			 "Entities are written in load order.\n");
	if (g.cycle_notes.len)
	{
		buf_puts(out, "#\n");
		buf_puts(out, buf_cstr(&g.cycle_notes));
	}
	buf_puts(out, "\nferry-plan 1\n");
	for (int i = 0; i < g.nent; i++)
		if (g.ents[order[i]].dst != NULL)
			write_entity(&g, out, &g.ents[order[i]]);
	if (nnot)
	{
		buf_puts(out, "\n# =====================================================================\n"
				 "# Source tables that are not migrated\n");
		for (int i = 0; i < g.nent; i++)
			if (g.ents[order[i]].dst == NULL)
				write_entity(&g, out, &g.ents[order[i]]);
	}

	if (stats)
	{
		stats->entities = g.nent;
		stats->migrated = nmig;
		stats->not_migrated = nnot;
		stats->skeletons = nskel;
		stats->todos = g.todos;
		stats->deferred = g.deferred;
	}
	free(order);
	for (int i = 0; i < g.nent; i++)
		entity_free(&g.ents[i]);
	free(g.ents);
	buf_free(&g.cycle_notes);
	return true;
}
