/*
 * write.c: the plan text: a header of comments, then each entity with its
 * notes, in load order; not-migrated source tables last.
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
	buf_puts(out, "\nferry-plan 1\n");
	for (int i = 0; i < g->nent; i++)
		if (g->ents[order[i]].dst != NULL)
			write_entity(g, out, &g->ents[order[i]]);
	if (nnot)
	{
		buf_puts(out, "\n# =====================================================================\n"
				 "# Source tables that are not migrated\n");
		for (int i = 0; i < g->nent; i++)
			if (g->ents[order[i]].dst == NULL)
				write_entity(g, out, &g->ents[order[i]]);
	}
}
