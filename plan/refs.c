/*
 * refs.c: references between entities: ref / check / tree from the
 * destination's foreign keys, generic relations (poly), and the
 * foreign-key cycles broken with defer.
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
void
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

void
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

/* refs, checks and the tree from the destination's foreign keys */
void
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

/* ---- cycles ---- */

/* the destination's foreign key behind ref r of entity e, NULL if none */
static const cat_fk *
ref_fk(const gen_entity *e, const plan_ref *r)
{
	int c = table_column(e->dst, r->column);

	return c >= 0 ? dst_fk(e->dst, c) : NULL;
}

/*
 * How much an edge of a cycle is worth breaking with forward: 2 when its
 * destination foreign key is DEFERRABLE (the DBA marked it as the edge that
 * may point ahead), 1 more when the source's own foreign key is (the legacy
 * schema broke the cycle there too).  DEFERRABLE alone does not let the
 * rows in: each batch commits before the other entity loads (forward_ref).
 */
static int
forward_score(const gen_entity *e, const plan_ref *r)
{
	const cat_fk *fk = ref_fk(e, r);
	int c = table_column(e->dst, r->column);
	int score = fk && fk->deferrable ? 2 : 0;

	if (c >= 0 && e->dc && e->dc[c].stab)
	{
		const cat_fk *sfk = table_fk_on(e->dc[c].stab, e->dc[c].scol);

		if (sfk && sfk->deferrable)
			score++;
	}
	return score;
}

/*
 * A cycle whose foreign keys are all NOT NULL: the edge to write as
 * "forward", the same whatever the order the entities were read in: the
 * best forward_score(), then the first by entity and column name.  -1 if
 * the cycle has no ref edge (depends, check).
 */
static int
forward_edge(gen *g, const int *cycle, const plan_ref **why, int n)
{
	int pick = -1, best = -1;

	for (int i = 0; i < n; i++)
	{
		const gen_entity *e = &g->ents[cycle[i]];
		int score, byname;

		if (why[i] == NULL || why[i]->kind != REF_UUID)
			continue;
		score = forward_score(e, why[i]);
		byname = pick < 0 ? -1 : strcmp(e->name, g->ents[cycle[pick]].name);
		if (byname == 0)
			byname = strcmp(why[i]->column, why[pick]->column);
		if (pick < 0 || score > best || (score == best && byname < 0))
		{
			pick = i;
			best = score;
		}
	}
	return pick;
}

/*
 * What the destination must allow for forward ref r of e: a reference to
 * a row not loaded yet.  Each batch commits on its own, before r's entity
 * is loaded, so a foreign key on the column needs its checks off during
 * the load, DEFERRABLE or not (as ferry-load and preflight decide).
 */
static char *
forward_needs(const gen_entity *e, const plan_ref *r)
{
	const cat_fk *fk = ref_fk(e, r);

	if (fk == NULL)
		return fmt("the destination has no foreign key on %s: nothing to allow", r->column);
	return fmt("the destination must accept a reference to a row not loaded yet: foreign-key checks "
			   "off during the load (session_replication_role = replica, ferry-load's default when "
			   "the role may set it); %s is %s", fk->name,
			   fk->deferrable ? "DEFERRABLE, not enough on its own: each batch commits before "
			   "the other entity is loaded" : "not DEFERRABLE");
}

/* break the cycle desc at ref r of e, a NOT NULL column: forward */
static void
forward_ref(gen *g, gen_entity *e, plan_ref *r, const char *desc)
{
	char *needs = forward_needs(e, r);

	r->kind = REF_FORWARD;
	g->forwarded++;
	note(e, "cycle %s: %s.%s is NOT NULL: loaded with the UUID computed from its legacy key before "
		 "%s is loaded, the key checked against %s's rows in the source (forward); %s", desc, e->name,
		 r->column, r->entity, r->entity, needs);
	buf_printf(&g->cycle_notes, "# cycle %s: broken with \"forward %s %s\" in %s\n", desc, r->column,
			   r->entity, e->name);
	log_warn("foreign key cycle %s: %s.%s forward (NOT NULL: its UUID from the legacy key, before %s "
			 "is loaded)", desc, e->name, r->column, r->entity);
	free(needs);
}

void
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
		/* defer a nullable foreign key of the cycle, else forward a NOT NULL one */
		for (int i = 0; i < n && pick < 0; i++)
			if (why[i] && why[i]->kind == REF_UUID && why[i]->on_missing == MISSING_NULL)
				pick = i;
		if (pick < 0)
			pick = forward_edge(g, cycle, why, n);
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

				entity_todo(g, e, "dependency cycle %s cannot be broken with defer "
							"or forward: edit depends/check by hand", buf_cstr(&desc));
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
			else if (why[pick]->on_missing == MISSING_NULL)
			{
				gen_entity *e = &g->ents[cycle[pick]];
				plan_ref *r = (plan_ref *) why[pick];

				r->kind = REF_DEFER;
				g->deferred++;
				note(e, "cycle %s: %s.%s is loaded NULL and set once %s is loaded (defer)",
					 buf_cstr(&desc), e->name, r->column, r->entity);
				buf_printf(&g->cycle_notes, "# cycle %s: broken with \"defer %s %s\" in %s\n",
						   buf_cstr(&desc), r->column, r->entity, e->name);
				log_warn("foreign key cycle %s: %s.%s deferred (loaded NULL, set after %s)",
						 buf_cstr(&desc), e->name, r->column, r->entity);
			}
			else
				forward_ref(g, &g->ents[cycle[pick]], (plan_ref *) why[pick], buf_cstr(&desc));
			buf_free(&desc);
		}
		free(p.entities);
		free(cycle);
		free(why);
	}
}
