/*
 * query.c: the extract query of an entity, one output column a line with
 * its comment, and its incremental expression.
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

void
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
}
