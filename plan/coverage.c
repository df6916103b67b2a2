/*
 * coverage.c: what the plan leaves out, said in the plan (ferry-plan(5),
 * COVERAGE).  Every source column of an entity's tables that its query
 * does not read is listed "unused", with why; every destination column it
 * does not feed is listed "default", unless a source column and a
 * destination column are both left over: that is a question only a
 * person can answer (a renamed column?), so it is a TODO naming both.
 */
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "names.h"

/* the other migrated entity reading column col of source table t, NULL if none */
static const gen_entity *
read_elsewhere(const gen *g, const gen_entity *self, const cat_table *t, int col)
{
	for (int i = 0; i < g->nent; i++)
	{
		const gen_entity *o = &g->ents[i];

		if (o == self || o->dst == NULL || o->used == NULL)
			continue;
		if (o->src == t && o->used[col])
			return o;
		for (int m = 0; m < o->nmerge; m++)
			if (o->merges[m].t == t && o->merges[m].used[col])
				return o;
	}
	return NULL;
}

/* does some entity migrate rows of t (as its source, or merged)? */
static bool
is_migrated(const gen *g, const cat_table *t)
{
	for (int i = 0; i < g->nent; i++)
	{
		const gen_entity *o = &g->ents[i];

		if (o->dst == NULL)
			continue;
		if (o->src == t)
			return true;
		for (int m = 0; m < o->nmerge; m++)
			if (o->merges[m].t == t)
				return true;
	}
	return false;
}

/*
 * Why source column col of t is rightly left out of this entity, or NULL
 * when nothing says so (it might feed a destination column).
 */
static char *
decided_reason(const gen *g, const gen_entity *e, const cat_table *t, int col)
{
	const gen_entity *o = read_elsewhere(g, e, t, col);
	const cat_fk *fk;

	if (o)
		return fmt("goes to %s", o->name);
	fk = table_fk_on(t, col);
	if (fk && fk->ref && !is_migrated(g, fk->ref))
		return fmt("a legacy key of %s, which is not migrated", fk->ref->qname);
	return NULL;
}

static void
add_unused(gen_entity *e, const srcpos *p, int i, const char *why)
{
	plan_entity *pe = &e->pe;
	int k = pe->nunused;

	strv_push(&pe->nunused, &pe->unused_cols, p->t->cols[p->col].name);
	pe->unused_tables = xrealloc(pe->unused_tables, sizeof(char *) * (size_t) (k + 1));
	pe->unused_tables[k] = i > 0 ? xstrdup(p->t->qname) : NULL;
	e->unused_why = xrealloc(e->unused_why, sizeof(char *) * (size_t) (k + 1));
	e->unused_why[k] = xstrdup(why);
	flatten(e->unused_why[k], strlen(why));
}

/* a source column as a TODO names it: "birth_date", or "table.col" for a merged table's */
static void
name_source(buf *b, const srcpos *tabs, int i, int col)
{
	if (i > 0)
		buf_printf(b, "%s.", tabs[i].t->name);
	buf_puts(b, tabs[i].t->cols[col].name);
}

/*
 * What the query outputs for destination column c: a reference (a uuid
 * column with a foreign key to a migrated entity) is fed the legacy key
 * of that entity, so it takes what that key's source column holds.
 */
static const cat_column *
fed_like(gen *g, const cat_table *d, int c)
{
	const cat_fk *fk = dst_fk(d, c);
	const gen_entity *te = fk && fk->ref != d ? entity_of_dst(g, fk->ref) : NULL;

	if (te && te->src && te->nkey == 1 && is_uuid_col(&d->cols[c]))
		return &te->src->cols[te->keycols[0]];
	return &d->cols[c];
}

/* "source column a is" / "source columns a, b are" */
static void
list_phrase(buf *b, const char *what, int n, const char *names, const char *verb1, const char *verbn)
{
	buf_printf(b, "%s column%s %s %s", what, n == 1 ? "" : "s", names, n == 1 ? verb1 : verbn);
}

/*
 * The destination columns left over (not fed, not computed, not asked
 * about already) and the source columns left over (not read, no reason to
 * leave them out) of one entity: a pair whose types could fit is a
 * question: one TODO for each group of columns linked by such pairs,
 * naming them all (birth_date and date_of_birth, whatever their names).
 * A destination column in no pair is left to its default; a source column
 * in no pair is listed unused (by the caller).
 */
static void
ask_leftovers(gen *g, gen_entity *e, srcpos *tabs, int nt, char ***why, bool **asked)
{
	cat_table *d = e->dst;
	int nd = 0, ns = 0;
	int *dcols = xcalloc((size_t) d->ncols + 1, sizeof(int));
	int *stab = NULL, *scol = NULL;
	int *dgroup, *sgroup, ngroups = 0;
	bool *fit;

	for (int c = 0; c < d->ncols; c++)
		if (e->dc[c].state == DC_UNSET && !e->dc[c].asked)
			dcols[nd++] = c;
	for (int i = 0; i < nt; i++)
		for (int k = 0; k < tabs[i].t->ncols; k++)
			if (!tabs[i].used[k] && why[i][k] == NULL)
			{
				stab = xrealloc(stab, sizeof(int) * (size_t) (ns + 1));
				scol = xrealloc(scol, sizeof(int) * (size_t) (ns + 1));
				stab[ns] = i;
				scol[ns++] = k;
			}
	fit = xcalloc((size_t) (nd * ns) + 1, sizeof(bool));
	for (int a = 0; a < nd; a++)
	{
		const cat_column *like = fed_like(g, d, dcols[a]);

		for (int s = 0; s < ns; s++)
			fit[a * ns + s] = types_fit(&tabs[stab[s]].t->cols[scol[s]], like, false);
	}

	/* groups: connected by fitting pairs (labels spread until nothing changes) */
	dgroup = xcalloc((size_t) nd + 1, sizeof(int));
	sgroup = xcalloc((size_t) ns + 1, sizeof(int));
	for (int a = 0; a < nd; a++)
	{
		bool grew = true;
		bool any = false;

		if (dgroup[a])
			continue;
		for (int s = 0; s < ns; s++)
			any |= fit[a * ns + s];
		if (!any)
			continue;
		dgroup[a] = ++ngroups;
		while (grew)
		{
			grew = false;
			for (int x = 0; x < nd; x++)
				for (int s = 0; s < ns; s++)
					if (fit[x * ns + s] && (dgroup[x] == ngroups) != (sgroup[s] == ngroups))
					{
						dgroup[x] = sgroup[s] = ngroups;
						grew = true;
					}
		}
	}

	for (int gi = 1; gi <= ngroups; gi++)
	{
		buf dn, sn, t, refs;
		int nds = 0, nss = 0;

		buf_init(&dn, 64);
		buf_init(&sn, 64);
		buf_init(&t, 256);
		buf_init(&refs, 64);
		for (int a = 0; a < nd; a++)
			if (dgroup[a] == gi)
			{
				const cat_fk *fk = dst_fk(d, dcols[a]);
				const gen_entity *te = fk && fk->ref != d ? entity_of_dst(g, fk->ref) : NULL;

				buf_printf(&dn, "%s%s", nds++ ? ", " : "", d->cols[dcols[a]].name);
				if (te && fed_like(g, d, dcols[a]) != &d->cols[dcols[a]])
					buf_printf(&refs, "; %s references %s: feeding it takes \"ref %s %s\" too",
							   d->cols[dcols[a]].name, te->name, d->cols[dcols[a]].name, te->name);
			}
		for (int s = 0; s < ns; s++)
			if (sgroup[s] == gi)
			{
				if (nss++)
					buf_puts(&sn, ", ");
				name_source(&sn, tabs, stab[s], scol[s]);
				asked[stab[s]][scol[s]] = true;
			}
		buf_cstr(&dn);
		buf_cstr(&sn);
		if (nds == 1 && nss == 1)
			entity_todo(g, e, "source column %s is not migrated and destination column %s is left "
						"to its default: feed %s from %s in the query, or list them under unused / "
						"default%s", sn.data, dn.data, dn.data, sn.data, buf_cstr(&refs));
		else
		{
			list_phrase(&t, "source", nss, sn.data, "is not migrated", "are not migrated");
			buf_puts(&t, " and ");
			list_phrase(&t, "destination", nds, dn.data, "is left to its default",
						"are left to their default");
			entity_todo(g, e, "%s: feed a destination column from the source column that holds "
						"its value in the query, or list them under unused / default%s", buf_cstr(&t),
						buf_cstr(&refs));
		}
		buf_free(&refs);
		buf_free(&dn);
		buf_free(&sn);
		buf_free(&t);
	}
	for (int a = 0; a < nd; a++)
		if (dgroup[a] == 0)
			strv_push(&e->pe.ndefaults, &e->pe.defaults, d->cols[dcols[a]].name);
	free(dcols);
	free(stab);
	free(scol);
	free(fit);
	free(dgroup);
	free(sgroup);
}

void
cover_entity(gen *g, gen_entity *e)
{
	srcpos tabs[MAXMERGE + 1];
	int nt = entity_tables(e, tabs);
	char **why[MAXMERGE + 1];  /* per table, per column: a decided reason, or NULL */
	bool *asked[MAXMERGE + 1]; /* per table, per column: named by a TODO */

	for (int m = 0; m < e->nmerge; m++)
		strv_push(&e->pe.nmerges, &e->pe.merges, e->merges[m].t->qname);
	for (int i = 0; i < nt; i++)
	{
		why[i] = xcalloc((size_t) tabs[i].t->ncols + 1, sizeof(char *));
		asked[i] = xcalloc((size_t) tabs[i].t->ncols + 1, sizeof(bool));
		for (int c = 0; c < tabs[i].t->ncols; c++)
			if (!tabs[i].used[c])
				why[i][c] = decided_reason(g, e, tabs[i].t, c);
	}

	ask_leftovers(g, e, tabs, nt, why, asked);
	if (e->pe.ndefaults)
		e->default_why = xstrdup("no source column feeds them: left to their default");

	/* each source column left over, with why; those a TODO names are not listed */
	for (int i = 0; i < nt; i++)
	{
		for (int c = 0; c < tabs[i].t->ncols; c++)
		{
			srcpos p = tabs[i];

			p.col = c;
			/* named by a TODO: listing them would answer it */
			if (tabs[i].used[c] || asked[i][c] || (e->unused_asked && why[i][c] == NULL))
				continue;
			add_unused(e, &p, i, why[i][c] ? why[i][c] : "no destination column for it");
		}
		for (int c = 0; c < tabs[i].t->ncols; c++)
			free(why[i][c]);
		free(why[i]);
		free(asked[i]);
	}
}
