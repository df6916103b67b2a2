/*
 * generate.c: from two catalogs to a plan a DBA can read and edit.
 *
 * 1. match each destination table to its source table(s) (match.c): by
 *    legacy key column (legacy_<model>_id, legacy_<col> for each column of
 *    a composite key), then by name (strip the app prefix, pluralise);
 *    a second legacy key column of another source table means that table
 *    merges in (LEFT JOIN on the foreign key between the two);
 * 2. map each destination column to a source expression (columns.c), by
 *    name and by convention, converting types in SQL only where the
 *    conversion cannot fail (convert.c: anything that can fail on a dirty
 *    row is left to the load's input functions, so that one bad row is
 *    rejected alone);
 * 3. foreign keys become ref / check / tree / poly directives, cycles are
 *    broken with defer on a nullable column (refs.c);
 * 4. the extract query is written (query.c), and the entities in load
 *    order (write.c).
 * Whatever it cannot infer is written as a TODO.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "log.h"
#include "names.h"
#include "pgconn.h"
#include "watch.h"

/* ---- small helpers ---- */

void
strv_push(int *n, char ***v, const char *s)
{
	*v = xrealloc(*v, sizeof(char *) * (size_t) (*n + 1));
	(*v)[(*n)++] = xstrdup(s);
}

char *
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

/* control characters (a newline in a column name) would break the plan's lines */
void
flatten(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) p[i] < 0x20)
			p[i] = ' ';
}

void
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

void
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

bool
is_first_schema(const gen *g, const char *schema)
{
	return g->o->ntarget_schemas > 0 && strcmp(g->o->target_schemas[0], schema) == 0;
}

const char *
rows_text(double rows)
{
	static char b[64];

	if (rows < 0)
		return "never analyzed: row count unknown";
	snprintf(b, sizeof b, "~%.0f rows", rows);
	return b;
}

/* ---- entities ---- */

gen_entity *
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

gen_entity *
entity_of_dst(gen *g, const cat_table *d)
{
	for (int i = 0; i < g->nent; i++)
		if (g->ents[i].dst == d)
			return &g->ents[i];
	return NULL;
}

/* the migrated entity fed by source table s (first target schema first) */
gen_entity *
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
	for (int k = 0; k < pe->nmerges; k++)
		free(pe->merges[k]);
	free(pe->merges);
	for (int k = 0; k < pe->nunused; k++)
	{
		free(pe->unused_cols[k]);
		free(pe->unused_tables[k]);
		free(e->unused_why[k]);
	}
	free(pe->unused_cols);
	free(pe->unused_tables);
	free(e->unused_why);
	for (int k = 0; k < pe->ndefaults; k++)
		free(pe->defaults[k]);
	free(pe->defaults);
	free(e->default_why);
	free(pe->reason);
}

/*
 * An entity whose query reads tables its change time does not watch
 * (watch.h): a note, as an incremental run will read it whole.  A query
 * the source cannot plan yet (a TODO in it) gets none: its TODO is said.
 */
static void
unwatched_note(gen *g, gen_entity *e)
{
	buf tables, err;

	if (g->src == NULL || e->dst == NULL || e->src == NULL)
		return;
	buf_init(&tables, 128);
	buf_init(&err, 64);
	if (watch_unwatched(g->src, &e->pe, &tables, &err) && tables.len)
		note(e, "its extract reads %s, which its incremental expression does not watch: an incremental "
			 "run reads it whole (\"unwatched\" with those tables if changes there alone need not be seen)",
			 buf_cstr(&tables));
	buf_free(&tables);
	buf_free(&err);
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
		{
			cover_entity(&g, e);
			build_query(&g, e);
		}
		else if (e->dst)
			skeleton(&g, e);
		else
		{
			e->pe.name = xstrdup(e->name);
			e->pe.source = xstrdup(e->src->qname);
		}
	}
	break_cycles(&g);
	for (int i = 0; i < g.nent; i++)
		unwatched_note(&g, &g.ents[i]);

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

	write_plan(&g, out, order, nmig, nskel, nnot);

	if (stats)
	{
		stats->entities = g.nent;
		stats->migrated = nmig;
		stats->not_migrated = nnot;
		stats->skeletons = nskel;
		stats->todos = g.todos;
		stats->deferred = g.deferred;
		stats->forwarded = g.forwarded;
	}
	free(order);
	for (int i = 0; i < g.nent; i++)
		entity_free(&g.ents[i]);
	free(g.ents);
	buf_free(&g.cycle_notes);
	return true;
}
