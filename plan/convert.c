/*
 * convert.c: the SQL expression of a destination column from a source
 * column, with the type conversions that cannot fail.
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

/* ---- SQL expressions ---- */

void
col_ref(gen *g, buf *b, const char *alias, const cat_table *t, int c)
{
	buf_puts(b, alias);
	buf_putc(b, '.');
	sql_ident(b, g->scat, t->cols[c].name);
}

bool
is_json(const char *base)
{
	return strcmp(base, "json") == 0 || strcmp(base, "jsonb") == 0;
}

static bool
is_text_like(const cat_column *c)
{
	return c->category == 'S';
}

bool
types_fit(const cat_column *s, const cat_column *d, bool strict)
{
	bool s_time = strcmp(s->base, "date") == 0 || starts_with(s->base, "timestamp");

	if (strcmp(s->base, d->base) == 0)
		return true;
	if (s->category == d->category && d->category == 'D')
		/* among dates and times: a date or timestamp into a timestamp */
		return s_time && starts_with(d->base, "timestamp");
	if (s->category == d->category && d->category == 'U')
		/* json and jsonb, not json and uuid */
		return is_json(s->base) && is_json(d->base);
	if (s->category == d->category)
		return true;
	/* what convert() turns: Y/N and 1/0 flags, JSON and lists kept in text */
	if (strcmp(d->base, "bool") == 0 && (is_text_like(s) || is_integer_type(s->base)))
		return true;
	if (is_text_like(s) && (is_json(d->base) || d->category == 'A'))
		return true;
	/* text the load's input function parses */
	return !strict && is_text_like(s);
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
void
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
