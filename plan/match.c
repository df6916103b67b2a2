/*
 * match.c: which source table(s) feed each destination table: legacy key
 * columns, then names; merged tables; source tables left over.
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

/* ---- conventions on source tables ---- */

/*
 * An app prefix ("dispatch", "auth" in dispatch_order, auth_user) is the
 * part before the first '_' of a source table name when no source table
 * is named like the prefix itself, singular or plural (pagila's film and
 * film_actor share "film", which is a table: no prefix there; nor is
 * "order" in order_items beside a table orders).
 */
static bool
is_app_prefix(const gen *g, const char *name, size_t len)
{
	char *prefix = xstrndup(name, len);
	bool app = true;

	for (int i = 0; i < g->scat->ntables && app; i++)
	{
		const cat_table *t = &g->scat->tables[i];

		if (t->selected && same_noun(t->name, prefix))
			app = false;
	}
	free(prefix);
	return app;
}

/* model name: the table name without its app prefix */
const char *
model_of(const gen *g, const cat_table *s)
{
	const char *us = strchr(s->name, '_');

	if (us && us[1] && is_app_prefix(g, s->name, (size_t) (us - s->name)))
		return us + 1;
	return s->name;
}

/*
 * Is d named after s?  full: by s's whole name; else by its model name
 * (the name less its app prefix); singular or plural either way round
 * (categories <- category, category <- categories).
 */
static bool
name_matches_as(const gen *g, const cat_table *s, const cat_table *d, bool full)
{
	return same_noun(d->name, full ? s->name : model_of(g, s));
}

static bool
name_matches(const gen *g, const cat_table *s, const cat_table *d)
{
	return name_matches_as(g, s, d, true) || name_matches_as(g, s, d, false);
}

/* a Django content-type shaped table: (app_label, model) */
bool
is_content_type_table(const cat_table *t)
{
	return table_column(t, "app_label") >= 0 && table_column(t, "model") >= 0;
}

/* ---- entity names ---- */

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

/*
 * The destination column legacy_<noun>_id, noun singular or plural either
 * way round (us_states: legacy_us_state_id; category: legacy_categories_id),
 * the exact spelling first; -1 if none.
 */
static int
legacy_id_column(const cat_table *d, const char *noun)
{
	char *exact = fmt("legacy_%s_id", noun);
	int c = table_column(d, exact);
	const size_t pre = strlen("legacy_"), post = strlen("_id");

	free(exact);
	for (int k = 0; c < 0 && k < d->ncols; k++)
	{
		const char *dn = d->cols[k].name;
		size_t n = strlen(dn);
		char *word;

		if (n <= pre + post || !starts_with(dn, "legacy_") || !ends_with(dn, "_id"))
			continue;
		word = xstrndup(dn + pre, n - pre - post);
		if (same_noun(word, noun))
			c = k;
		free(word);
	}
	return c;
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
			int c = table_column(d, n);

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
		int cands[3];
		bool full[3];
		int ncand = 0;
		bool found = false;

		/* legacy_<model>_id, legacy_<table>_id, legacy_<key column> */
		full[ncand] = strcmp(model, s->name) == 0;
		cands[ncand++] = legacy_id_column(d, model);
		if (strcmp(model, s->name) != 0)
		{
			full[ncand] = true;
			cands[ncand++] = legacy_id_column(d, s->name);
		}
		if (s->npk == 1 && strcmp(s->cols[s->pk[0]].name, "id") != 0)
		{
			char *n = fmt("legacy_%s", s->cols[s->pk[0]].name);

			full[ncand] = false;
			cands[ncand++] = table_column(d, n);
			free(n);
		}
		for (int i = 0; i < ncand && !found; i++)
		{
			int c = cands[i];

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
		return found;
	}
	return false;
}

/* does table a reference table b through a foreign key? */
bool
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

void
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
void
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
				char *one = singularize(model);

				e->keyname[k] = s->npk == 1 ? fmt("legacy_%s_id", one)
					: fmt("legacy_%s", s->cols[s->pk[k]].name);
				free(one);
				/* a destination column of that name would collide */
				if (table_column(e->dst, e->keyname[k]) >= 0)
					e->keydest[k] = table_column(e->dst, e->keyname[k]);
			}
		}
	}
}

/* source tables that feed nothing: not migrated, said why */
void
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
		/* target -, and why (the plan's "reason") */
		if (merged_into)
			e->pe.reason = fmt("merged into %s (see that entity's query), not migrated on its own",
							   merged_into);
		else if (is_content_type_table(s))
			e->pe.reason = xstrdup("a content-type lookup (app_label, model): generic relations "
								   "read it in their extract query (poly)");
		else if (starts_with(s->name, "django_"))
			e->pe.reason = xstrdup("a Django framework table");
		else
		{
			e->pe.reason = xstrdup("no destination table matches it");
			entity_todo(g, e, "map %s to a destination table (target, key, uuid, extract) or "
						"confirm it is not migrated by deleting this TODO", s->qname);
		}
		flatten(e->pe.reason, strlen(e->pe.reason));
	}
}

/* a destination table nobody feeds */
void
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
