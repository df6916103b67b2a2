/*
 * write.c: the plan text: a header of comments, then each entity with its
 * notes, in load order; not-migrated source tables last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "gen.h"
#include "log.h"
#include "uuid.h"

/*
 * The directives are written by lib/plan.c's plan_write(), the writer the
 * stages' parser is tested against (round trip, fuzzing), one entity at a
 * time; this file adds the comments a person reads: the header, the notes
 * above each entity, and the reason above each "unused" and "default"
 * line (plan_write writes each unused column on a line of its own).
 */

/* plan_write() of p into b, less its first line ("ferry-plan 1") */
static char *
plan_text(const plan *p)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL)
		die(FERRY_EXIT_INTERNAL, "open_memstream: out of memory");
	plan_write(f, p);
	if (fclose(f) != 0)
		die(FERRY_EXIT_INTERNAL, "open_memstream: out of memory");
	return text;
}

/* the entity's directives, with its comments above the lines they explain */
static void
write_directives(buf *b, const gen_entity *e)
{
	plan one = {0};
	char *text, *s;
	const char *last_why = NULL;
	int unused = 0;
	bool in_extract = false;

	memcpy(one.ns, FERRY_UUID_NAMESPACE, sizeof one.ns);
	one.nentities = 1;
	one.entities = (plan_entity *) &e->pe;
	text = plan_text(&one);
	/* "ferry-plan 1\n\nentity ...": from the entity on */
	s = strstr(text, "\nentity ");
	for (s = s ? s + 1 : text; *s;)
	{
		char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t) (nl - s) : strlen(s);

		if (!in_extract && strncmp(s, "  unused ", 9) == 0 && unused < e->pe.nunused)
		{
			const char *why = e->unused_why ? e->unused_why[unused] : NULL;

			if (why && (last_why == NULL || strcmp(why, last_why) != 0))
				buf_printf(b, "  # %s\n", why);
			last_why = why;
			unused++;
		}
		else if (!in_extract && strncmp(s, "  default ", 10) == 0 && e->default_why)
			buf_printf(b, "  # %s\n", e->default_why);
		else if (!in_extract && strncmp(s, "  extract", 9) == 0)
			in_extract = true;
		buf_append(b, s, n);
		buf_putc(b, '\n');
		s += n + (nl ? 1 : 0);
	}
	free(text);
}

static void
write_entity(buf *b, const gen_entity *e)
{
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
	buf_puts(b, buf_cstr((buf *) &e->notes));
	if (e->dst && e->dst->ntriggers > 0)
	{
		buf_puts(b, "# destination triggers: ");
		for (int t = 0; t < e->dst->ntriggers; t++)
			buf_printf(b, "%s%s", t ? ", " : "", e->dst->triggers[t]);
		buf_putc(b, '\n');
	}
	write_directives(b, e);
}

/* the schemas of the source tables read, in catalog order: the plan's "sources" */
static void
source_schemas(const gen *g, int *n, char ***v)
{
	*n = 0;
	*v = NULL;
	for (int i = 0; i < g->scat->ntables; i++)
	{
		const cat_table *t = &g->scat->tables[i];
		bool seen = false;

		if (!t->selected)
			continue;
		for (int k = 0; k < *n && !seen; k++)
			seen = strcmp((*v)[k], t->schema) == 0;
		if (!seen)
			strv_push(n, v, t->schema);
	}
}

void
write_plan(gen *g, buf *out, const int *order, int nmig, int nskel, int nnot)
{
	const gen_options *o = g->o;

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
			   "%d TODOs\n", g->nent, nmig, nskel, nnot, g->todos);
	if (g->todos)
		buf_puts(out, "# \"ferry-plan check\" lists the TODOs; \"ferry run\" refuses the plan until none "
				 "is left.\n");
	buf_puts(out, "#\n# Each entity's extract query outputs the destination's column names; the "
			 "transform computes the\n# uuid column from the key, maps ref/tree/poly columns to "
			 "UUIDs, and the load writes the rest.\n# Conversions that can fail on a dirty row "
			 "(casts, JSON, arrays) are left to the load, which\n# rejects that row alone. "
			 "Entities are written in load order.\n");
	if (g->cycle_notes.len)
	{
		buf_puts(out, "#\n");
		buf_puts(out, buf_cstr(&g->cycle_notes));
	}
	{
		plan top = {0};
		char *text;

		memcpy(top.ns, FERRY_UUID_NAMESPACE, sizeof top.ns);
		source_schemas(g, &top.nsources, &top.sources);
		text = plan_text(&top);
		buf_putc(out, '\n');
		buf_puts(out, text);
		free(text);
		for (int i = 0; i < top.nsources; i++)
			free(top.sources[i]);
		free(top.sources);
	}
	for (int i = 0; i < g->nent; i++)
		if (g->ents[order[i]].dst != NULL)
			write_entity(out, &g->ents[order[i]]);
	if (nnot)
	{
		buf_puts(out, "\n# =====================================================================\n"
				 "# Source tables that are not migrated\n");
		for (int i = 0; i < g->nent; i++)
			if (g->ents[order[i]].dst == NULL)
				write_entity(out, &g->ents[order[i]]);
	}
}
