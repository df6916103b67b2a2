/*
 * columns.c: where each destination column of a migrated entity comes
 * from (a source column by name or convention, a legacy key, a default, or
 * a TODO).
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

int
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
char *
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
cat_fk *
dst_fk(const cat_table *d, int c)
{
	return table_fk_on(d, c);
}

bool
is_uuid_col(const cat_column *c)
{
	return strcmp(c->base, "uuid") == 0;
}

/* source column for destination FK column d referencing entity te */
static bool
find_fk_source(gen_entity *e, int d, gen_entity *te, bool loose, srcpos *pos, buf *why)
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
	/*
	 * Not by the name of te alone (user_id for author_id, both meaning
	 * users): without a foreign key in the source, that is a guess, which
	 * coverage turns into a TODO naming both columns.
	 */
	return false;
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
static void match_similar(gen *g, gen_entity *e);
static void finish_columns(gen *g, gen_entity *e);

/* every destination column of a migrated entity: where it comes from */
void
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
			 * only looks like a legacy key of m->s; it is not a merge, and
			 * finish_columns asks what it holds
			 */
			note(e, "%s looks like the legacy key of %s, which %s references: not a merged "
				 "table", d->cols[dcn].name, m->s->qname, s->name);
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
	match_similar(g, e);
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
		if (find_fk_source(e, c, entity_of_dst(g, fk->ref), false, &p, &why))
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
		if (find_fk_source(e, c, entity_of_dst(g, fk->ref), true, &p, &why))
			feed_ref(g, e, c, &p, buf_cstr(&why));
	}

	buf_free(&why);
}

/*
 * A plain destination column (no foreign key, not computed) that no
 * convention fed: a candidate for name similarity, or a leftover.
 */
static bool
is_plain_leftover(const gen_entity *e, int c)
{
	return e->dc[c].state == DC_UNSET && dst_fk(e->dst, c) == NULL && c != e->uuidcol;
}

/*
 * Renamed columns: a destination column left over whose name says the
 * same as that of exactly one source column left over (birth_date ->
 * date_of_birth), and the other way round, with types that fit, is fed
 * from it, and the plan says so: a note above the entity and a comment on
 * the query line.  Anything less certain is left to coverage (a TODO).
 */
static void
match_similar(gen *g, gen_entity *e)
{
	cat_table *d = e->dst;
	srcpos tabs[MAXMERGE + 1];
	int nt = entity_tables(e, tabs);
	buf matched;

	buf_init(&matched, 64);
	for (int c = 0; c < d->ncols; c++)
	{
		srcpos hit = {0};
		int nhit = 0, back = 0;

		if (!is_plain_leftover(e, c) || starts_with(d->cols[c].name, "legacy_"))
			continue;
		for (int i = 0; i < nt; i++)
			for (int k = 0; k < tabs[i].t->ncols; k++)
				if (!tabs[i].used[k] && similar_names(tabs[i].t->cols[k].name, d->cols[c].name) &&
					types_fit(&tabs[i].t->cols[k], &d->cols[c], true))
				{
					hit = tabs[i];
					hit.col = k;
					hit.nullable = i > 0 || !tabs[i].t->cols[k].notnull;
					nhit++;
				}
		if (nhit != 1)
			continue;
		/* and that source column says the same as no other destination column */
		for (int c2 = 0; c2 < d->ncols; c2++)
			if (is_plain_leftover(e, c2) && similar_names(hit.t->cols[hit.col].name, d->cols[c2].name))
				back++;
		if (back != 1)
			continue;
		{
			char *why = fmt("matched by name similarity: %s", hit.t->cols[hit.col].name);

			feed(g, e, c, &hit, why);
			free(why);
		}
		buf_printf(&matched, "%s%s <- %s", matched.len ? ", " : "", d->cols[c].name,
				   hit.t->cols[hit.col].name);
	}
	if (matched.len)
		note(e, "matched by name similarity (check them): %s", buf_cstr(&matched));
	buf_free(&matched);
}

/*
 * The legacy_* destination columns no convention fed: never left NULL in
 * silence, one TODO for those of the entity, naming each, and the source
 * columns that have their names less legacy_ (legacy_amount: amount), a
 * hint only: a column of that name may hold something else.
 */
static void
ask_legacy(gen *g, gen_entity *e)
{
	cat_table *d = e->dst;
	buf cols, same;
	int n = 0;

	buf_init(&cols, 64);
	buf_init(&same, 64);
	for (int c = 0; c < d->ncols; c++)
	{
		srcpos p;

		if (e->dc[c].state != DC_UNSET || !starts_with(d->cols[c].name, "legacy_"))
			continue;
		e->dc[c].asked = true;
		buf_printf(&cols, "%s%s (%s)", n++ ? ", " : "", d->cols[c].name, d->cols[c].type);
		if (d->cols[c].name[7] && find_named(e, d->cols[c].name + 7, &p))
			buf_printf(&same, "%s%s", same.len ? ", " : "", p.t->cols[p.col].name);
	}
	buf_cstr(&same);
	if (n == 1)
		entity_todo(g, e, "destination column %s is named like a legacy key or value, but no "
					"convention feeds it%s%s%s: feed it in the query, or list it under default "
					"if it stays NULL", buf_cstr(&cols), same.len ? " (source column " : "",
					same.data, same.len ? " has its name less legacy_)" : "");
	else if (n > 1)
		entity_todo(g, e, "destination columns %s are named like legacy keys or values, but no "
					"convention feeds them%s%s%s: feed them in the query, or list them under "
					"default if they stay NULL", buf_cstr(&cols),
					same.len ? " (source columns with their names less legacy_: " : "", same.data,
					same.len ? ")" : "");
	buf_free(&cols);
	buf_free(&same);
}

/*
 * What is left: stand-ins, and TODOs for what cannot be left to a default
 * (NOT NULL without one, a legacy_* column nothing feeds).  The rest stays
 * unset for coverage.
 */
static void
finish_columns(gen *g, gen_entity *e)
{
	cat_table *d = e->dst;

	for (int c = 0; c < d->ncols; c++)
	{
		const cat_column *dc = &d->cols[c];
		dcol *x = &e->dc[c];

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

			e->unused_asked |= *un != '\0';
			todo_column(g, e, c, t);
			free(t);
			free(un);
		}
	}
	ask_legacy(g, e);
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
}
