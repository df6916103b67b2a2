/*
 * tree.c: ferry-verify's checks of a tree entity (see tree.h).
 *
 * Everything is one SQL statement per check; what cannot be compared in
 * SQL (groups of the source against groups of the destination: two
 * databases) is compared here after mapping the source's legacy keys to
 * the UUIDs the transform gives them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "tree.h"
#include "uuid.h"

#define SAMPLES 10

typedef struct vt_ctx
{
	PGconn *src;
	PGconn *dst;
	const plan *p;
	const plan_entity *e;
	const char *run;
	const char *name;
	buf t;                   /* quoted target table */
	buf id;                  /* quoted uuid column */
	buf par;                 /* quoted parent column */
	buf dep;                 /* quoted depth column, empty if none */
	buf key;                 /* quoted legacy key column of the target, or the uuid column */
	bool has_key;            /* the target keeps the legacy key */
	buf sql;
	int failed;
} vt_ctx;

/* a group: its key (for matching) and label (for messages) and count */
typedef struct group
{
	char *key;
	char *label;
	long long n;
} group;

static int
cmp_group(const void *a, const void *b)
{
	return strcmp(((const group *) a)->key, ((const group *) b)->key);
}

static void
free_groups(group *g, int n)
{
	for (int i = 0; i < n; i++)
	{
		free(g[i].key);
		free(g[i].label);
	}
	free(g);
}

static verify_tree_fn on_result;
static void *on_result_ctx;

void
verify_tree_on_result(verify_tree_fn fn, void *ctx)
{
	on_result = fn;
	on_result_ctx = ctx;
}

static void
result_line(vt_ctx *c, const char *check, bool ok, const char *what)
{
	if (on_result)
		on_result(on_result_ctx, check, ok, what ? what : "");
	printf("%s: tree %s: %s%s%s\n", c->name, check, ok ? "ok" : "FAILED", what && *what ? ", " : "",
		   what ? what : "");
	if (!ok)
		c->failed++;
	event_emit("verify_tree", "\"check\":\"%s\",\"ok\":%s", check, ok ? "true" : "false");
}

/*
 * A query returning (count(*) OVER (), sample) rows: 0 rows is a pass.
 * Prints the check's line; false on a database error.
 */
static bool
sample_check(vt_ctx *c, const char *check, const char *sql, int nparams, const char *const *params,
			 const char *problem)
{
	PGresult *res = pg_query(c->dst, sql, nparams, params);
	buf what;

	if (res == NULL)
		return false;
	buf_init(&what, 256);
	if (PQntuples(res) > 0)
	{
		buf_printf(&what, "%s %s: ", PQgetvalue(res, 0, 0), problem);
		for (int i = 0; i < PQntuples(res); i++)
			buf_printf(&what, "%s%s", i ? ", " : "", PQgetvalue(res, i, 1));
		if (atoll(PQgetvalue(res, 0, 0)) > PQntuples(res))
			buf_puts(&what, ", ...");
	}
	result_line(c, check, PQntuples(res) == 0, buf_cstr(&what));
	PQclear(res);
	buf_free(&what);
	return true;
}

static bool
target_has_column(vt_ctx *c, const char *column)
{
	char *qualified = pg_qualified(c->e->target);
	const char *params[2] = {qualified, column};
	PGresult *res = pg_query(c->dst, "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) "
							 "AND attname = $2 AND attnum > 0 AND NOT attisdropped", 2, params);
	bool has = res && PQntuples(res) == 1;

	PQclear(res);
	free(qualified);
	return has;
}

/* ---- the destination alone ---- */

static bool
check_parents(vt_ctx *c)
{
	buf *s = &c->sql;

	buf_reset(s);
	buf_printf(s, "SELECT count(*) OVER (), c.%s::text FROM %s c WHERE c.%s IS NOT NULL AND NOT EXISTS "
			   "(SELECT 1 FROM %s p WHERE p.%s = c.%s) ORDER BY c.%s LIMIT %d",
			   c->key.data, c->t.data, c->par.data, c->t.data, c->id.data, c->par.data,
			   c->key.data, SAMPLES);
	return sample_check(c, "parents", buf_cstr(s), 0, NULL, "rows whose parent is not in the table");
}

static bool
check_depth(vt_ctx *c)
{
	buf *s = &c->sql;

	buf_reset(s);
	buf_printf(s, "SELECT count(*) OVER (), c.%s::text FROM %s c LEFT JOIN %s p ON p.%s = c.%s "
			   "WHERE c.%s IS NULL OR (c.%s IS NULL AND c.%s <> 0) "
			   "OR (p.%s IS NOT NULL AND c.%s <> p.%s + 1) ORDER BY c.%s LIMIT %d",
			   c->key.data, c->t.data, c->t.data, c->id.data, c->par.data,
			   c->dep.data, c->par.data, c->dep.data,
			   c->id.data, c->dep.data, c->dep.data, c->key.data, SAMPLES);
	return sample_check(c, "depth", buf_cstr(s), 0, NULL,
						"rows whose depth is not their parent's + 1 (roots: 0)");
}

static bool
check_cycles(vt_ctx *c)
{
	buf *s = &c->sql;

	buf_reset(s);
	buf_printf(s, "WITH RECURSIVE r AS (SELECT %s AS id FROM %s WHERE %s IS NULL "
			   "UNION ALL SELECT x.%s FROM %s x JOIN r ON x.%s = r.id) "
			   "SELECT count(*) OVER (), c.%s::text FROM %s c WHERE NOT EXISTS "
			   "(SELECT 1 FROM r WHERE r.id = c.%s) ORDER BY c.%s LIMIT %d",
			   c->id.data, c->t.data, c->par.data, c->id.data, c->t.data, c->par.data,
			   c->key.data, c->t.data, c->id.data, c->key.data, SAMPLES);
	return sample_check(c, "cycles", buf_cstr(s), 0, NULL,
						"rows no root leads to (a parent cycle, or below a missing parent)");
}

static bool
check_entities(vt_ctx *c)
{
	const plan_poly *poly = c->e->poly;
	buf *s = &c->sql;
	buf type, eid, what;
	PGresult *res;
	bool ok = true;

	buf_init(&type, 64);
	buf_init(&eid, 64);
	buf_init(&what, 256);
	pg_append_ident(&type, poly->type_column);
	pg_append_ident(&eid, poly->id_column);
	buf_cstr(&type);
	buf_cstr(&eid);
	buf_reset(s);
	buf_printf(s, "SELECT %s, count(*) FROM %s GROUP BY 1 ORDER BY 1", type.data, c->t.data);
	res = pg_query(c->dst, buf_cstr(s), 0, NULL);
	if (res == NULL)
		ok = false;
	for (int i = 0; ok && i < PQntuples(res); i++)
	{
		const char *tname = PQgetisnull(res, i, 0) ? NULL : PQgetvalue(res, i, 0);
		const plan_entity *te = tname ? plan_find(c->p, tname) : NULL;
		buf check;

		buf_init(&check, 64);
		buf_printf(&check, "entity %s", tname ? tname : "NULL");
		if (te == NULL || te->target == NULL)
		{
			buf_reset(&what);
			buf_printf(&what, "%s rows name an entity the plan does not migrate", PQgetvalue(res, i, 1));
			result_line(c, buf_cstr(&check), false, buf_cstr(&what));
			buf_free(&check);
			continue;
		}
		buf tt, tu;

		buf_init(&tt, 64);
		buf_init(&tu, 64);
		pg_append_qualified(&tt, te->target);
		pg_append_ident(&tu, te->uuid_column ? te->uuid_column : "id");
		buf_cstr(&tt);
		buf_cstr(&tu);
		buf_reset(s);
		buf_printf(s, "SELECT count(*) OVER (), c.%s::text FROM %s c WHERE c.%s = $1 AND NOT EXISTS "
				   "(SELECT 1 FROM %s t WHERE t.%s = c.%s) ORDER BY c.%s LIMIT %d",
				   c->key.data, c->t.data, type.data, tt.data, tu.data, eid.data, c->key.data, SAMPLES);

		const char *params[1] = {tname};

		ok = sample_check(c, buf_cstr(&check), buf_cstr(s), 1, params,
						  "rows whose entity_id is not in the entity's table");
		buf_free(&tt);
		buf_free(&tu);
		buf_free(&check);
	}
	PQclear(res);
	buf_free(&type);
	buf_free(&eid);
	buf_free(&what);
	return ok;
}

/* ---- against the source ---- */

/*
 * The legacy ids ferry.rejects holds for the entity (disposition, and
 * reasons when not NULL), as a text[] literal.  Rejected rows count from
 * every run, as long as the destination does not have them: an
 * incremental run re-reads only what changed, and a row set aside by the
 * full run is still missing after it; a row rejected once and loaded by a
 * later run is not missing.
 */
static char *
reject_ids(vt_ctx *c, const char *disposition, const char *reasons)
{
	const char *params[3] = {c->e->name, disposition, reasons};
	buf *s = &c->sql;
	PGresult *res;
	char *ids;

	buf_reset(s);
	buf_puts(s, "SELECT coalesce(array_agg(DISTINCT r.legacy_id), '{}')::text FROM ferry.rejects r "
			 "WHERE r.entity = $1 AND r.disposition = $2 AND r.legacy_id IS NOT NULL "
			 "AND ($3::text IS NULL OR r.reason = ANY(string_to_array($3, ',')))");
	if (strcmp(disposition, "rejected") == 0)
	{
		if (c->has_key)
			buf_printf(s, " AND NOT EXISTS (SELECT 1 FROM %s t WHERE t.%s::text = r.legacy_id)",
					   c->t.data, c->key.data);
		else
			buf_puts(s, " AND NOT EXISTS (SELECT 1 FROM ferry.id_map m "
					 "WHERE m.entity = r.entity AND m.legacy_id = r.legacy_id)");
	}
	res = pg_query(c->dst, buf_cstr(s), 3, params);
	if (res == NULL)
		return NULL;
	ids = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return ids;
}

static group *
groups_of(PGresult *res, int *n)
{
	group *g = xcalloc((size_t) PQntuples(res) + 1, sizeof *g);

	*n = PQntuples(res);
	for (int i = 0; i < *n; i++)
	{
		g[i].key = xstrdup(PQgetvalue(res, i, 0));
		g[i].label = xstrdup(PQgetvalue(res, i, 1));
		g[i].n = atoll(PQgetvalue(res, i, 2));
	}
	qsort(g, (size_t) *n, sizeof *g, cmp_group);
	return g;
}

/* compare groups of the source with groups of the destination; print the check's line */
static void
compare_groups(vt_ctx *c, const char *check, const char *what, const char *whats,
			   group *a, int na, group *b, int nb)
{
	int i = 0, j = 0, bad = 0;
	long long total = 0;
	buf msg;

	buf_init(&msg, 256);
	for (int k = 0; k < na; k++)
		total += a[k].n;
	while (i < na || j < nb)
	{
		int cmp = i >= na ? 1 : j >= nb ? -1 : strcmp(a[i].key, b[j].key);
		long long sn = cmp <= 0 ? a[i].n : 0, dn = cmp >= 0 ? b[j].n : 0;
		const char *label = cmp <= 0 ? a[i].label : b[j].label;

		if (sn != dn)
		{
			if (bad < 5)
				buf_printf(&msg, "%s%s %s: source %lld, destination %lld", bad ? "; " : "", what,
						   label, sn, dn);
			bad++;
		}
		if (cmp <= 0)
			i++;
		if (cmp >= 0)
			j++;
	}
	if (bad > 5)
		buf_puts(&msg, "; ...");
	if (bad == 0)
		buf_printf(&msg, "%d %s, %lld rows (source less rejects = destination)", na, whats, total);
	else
	{
		buf tmp;

		buf_init(&tmp, msg.len + 64);
		buf_printf(&tmp, "%d %s differ: %s", bad, whats, msg.data);
		buf_reset(&msg);
		buf_puts(&msg, tmp.data);
		buf_free(&tmp);
	}
	result_line(c, check, bad == 0, buf_cstr(&msg));
	buf_free(&msg);
}

static bool
check_entity_counts(vt_ctx *c, const char *rejected, int *code)
{
	const plan_poly *poly = c->e->poly;
	buf *s = &c->sql;
	buf type, eid, skey;
	PGresult *res;
	group *a, *b;
	int na, nb;
	const char *params[1] = {rejected};

	buf_init(&type, 64);
	buf_init(&eid, 64);
	buf_init(&skey, 64);
	pg_append_ident(&type, poly->type_column);
	pg_append_ident(&eid, poly->id_column);
	pg_append_ident(&skey, c->e->key[0]);
	buf_cstr(&type);
	buf_cstr(&eid);
	buf_cstr(&skey);
	buf_reset(s);
	buf_printf(s, "SELECT q.%s, q.%s::text, count(*) FROM (%s\n) AS q WHERE NOT (q.%s::text = ANY($1::text[])) "
			   "GROUP BY 1, 2", type.data, eid.data, c->e->extract_sql, skey.data);
	res = pg_query(c->src, buf_cstr(s), 1, params);
	if (res == NULL)
	{
		*code = FERRY_EXIT_SOURCE;
		goto done;
	}
	/* the source's (type, legacy id) -> (type, uuid) as the transform maps it */
	na = PQntuples(res);
	a = xcalloc((size_t) na + 1, sizeof *a);
	for (int i = 0; i < na; i++)
	{
		const char *tname = PQgetisnull(res, i, 0) ? "NULL" : PQgetvalue(res, i, 0);
		const char *legacy = PQgetvalue(res, i, 1);
		const plan_entity *te = plan_find(c->p, tname);
		char u[37] = "?";
		buf k;

		if (te && te->keyspace && !PQgetisnull(res, i, 1))
			uuid_for_key(c->p->ns, te->keyspace, legacy, strlen(legacy), u);
		buf_init(&k, 64);
		buf_printf(&k, "%s|%s", tname, u);
		a[i].key = xstrdup(k.data);
		buf_reset(&k);
		buf_printf(&k, "%s %s", tname, legacy);
		a[i].label = xstrdup(k.data);
		a[i].n = atoll(PQgetvalue(res, i, 2));
		buf_free(&k);
	}
	qsort(a, (size_t) na, sizeof *a, cmp_group);
	PQclear(res);

	buf_reset(s);
	buf_printf(s, "SELECT coalesce(%s, 'NULL') || '|' || coalesce(%s::text, '?'), "
			   "coalesce(%s, 'NULL') || ' ' || coalesce(%s::text, 'NULL'), count(*) FROM %s GROUP BY 1, 2",
			   type.data, eid.data, type.data, eid.data, c->t.data);
	res = pg_query(c->dst, buf_cstr(s), 0, NULL);
	if (res == NULL)
	{
		free_groups(a, na);
		*code = FERRY_EXIT_TARGET;
		goto done;
	}
	b = groups_of(res, &nb);
	PQclear(res);
	compare_groups(c, "per entity", "entity", "entities", a, na, b, nb);
	free_groups(a, na);
	free_groups(b, nb);
done:
	buf_free(&type);
	buf_free(&eid);
	buf_free(&skey);
	return *code == FERRY_EXIT_OK;
}

/*
 * Threads: a source row starts a thread when its parent is NULL, or not
 * among the source rows left once the rejected ones are taken out (the
 * transform makes such rows roots: orphan_root, parent_rejected).  Rows
 * of a parent cycle (and below) have no root in the source: when the
 * cycle policy loaded them (cycle=root), the destination's threads rooted
 * at a repaired cycle member are left out as well.
 */
static bool
check_thread_counts(vt_ctx *c, const char *rejected, const char *cycle_ids, int *code)
{
	buf *s = &c->sql;
	buf skey, spar;
	PGresult *res;
	group *a, *b;
	int na, nb;
	const char *params[1] = {rejected};

	buf_init(&skey, 64);
	buf_init(&spar, 64);
	pg_append_ident(&skey, c->e->key[0]);
	pg_append_ident(&spar, c->e->tree->parent_column);
	buf_cstr(&skey);
	buf_cstr(&spar);
	buf_reset(s);
	buf_printf(s, "WITH RECURSIVE q AS (SELECT q0.%s AS k, q0.%s AS p FROM (%s\n) AS q0 "
			   "WHERE NOT (q0.%s::text = ANY($1::text[]))), "
			   "t AS (SELECT q.k, q.k AS root FROM q WHERE q.p IS NULL OR NOT EXISTS "
			   "(SELECT 1 FROM q x WHERE x.k = q.p) "
			   "UNION ALL SELECT q.k, t.root FROM q JOIN t ON q.p = t.k) "
			   "SELECT root::text, count(*) FROM t GROUP BY 1",
			   skey.data, spar.data, c->e->extract_sql, skey.data);
	res = pg_query(c->src, buf_cstr(s), 1, params);
	if (res == NULL)
	{
		*code = FERRY_EXIT_SOURCE;
		goto done;
	}
	na = PQntuples(res);
	a = xcalloc((size_t) na + 1, sizeof *a);
	for (int i = 0; i < na; i++)
	{
		const char *root = PQgetvalue(res, i, 0);
		char u[37];

		uuid_for_key(c->p->ns, c->e->keyspace, root, strlen(root), u);
		a[i].key = xstrdup(u);
		a[i].label = xstrdup(root);
		a[i].n = atoll(PQgetvalue(res, i, 1));
	}
	qsort(a, (size_t) na, sizeof *a, cmp_group);
	PQclear(res);

	/* the uuids of the repaired cycle members: threads rooted there are not compared */
	buf cyc;

	buf_init(&cyc, 256);
	buf_putc(&cyc, '{');
	if (cycle_ids && strlen(cycle_ids) > 2)
	{
		char *ids = xstrdup(cycle_ids + 1), *save = NULL;

		ids[strlen(ids) - 1] = '\0';
		for (char *tok = strtok_r(ids, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		{
			char u[37];

			if (*tok == '"')
			{
				tok++;
				tok[strlen(tok) - 1] = '\0';
			}
			uuid_for_key(c->p->ns, c->e->keyspace, tok, strlen(tok), u);
			buf_printf(&cyc, "%s%s", cyc.len > 1 ? "," : "", u);
		}
		free(ids);
	}
	buf_putc(&cyc, '}');

	const char *dparams[1] = {buf_cstr(&cyc)};

	buf_reset(s);
	buf_printf(s, "WITH RECURSIVE t AS (SELECT %s AS id, %s AS root, %s AS label FROM %s "
			   "WHERE %s IS NULL AND NOT (%s = ANY($1::uuid[])) "
			   "UNION ALL SELECT x.%s, t.root, t.label FROM %s x JOIN t ON x.%s = t.id) "
			   "SELECT root::text, label::text, count(*) FROM t GROUP BY 1, 2",
			   c->id.data, c->id.data, c->key.data, c->t.data, c->par.data, c->id.data,
			   c->id.data, c->t.data, c->par.data);
	res = pg_query(c->dst, buf_cstr(s), 1, dparams);
	buf_free(&cyc);
	if (res == NULL)
	{
		free_groups(a, na);
		*code = FERRY_EXIT_TARGET;
		goto done;
	}
	b = groups_of(res, &nb);
	PQclear(res);
	compare_groups(c, "per thread", "thread", "threads", a, na, b, nb);
	free_groups(a, na);
	free_groups(b, nb);
done:
	buf_free(&skey);
	buf_free(&spar);
	return *code == FERRY_EXIT_OK;
}

int
verify_tree(PGconn *src, PGconn *dst, const plan *p, const plan_entity *e, const char *run)
{
	vt_ctx c;
	int code = FERRY_EXIT_OK;
	const plan_tree *tr = e->tree;

	if (tr == NULL || e->target == NULL || e->nkey != 1)
	{
		log_error("entity \"%s\" has no tree to check (tree directive, a target, a one-column key)",
				  e->name);
		return FERRY_EXIT_USAGE;
	}
	memset(&c, 0, sizeof c);
	c.src = src;
	c.dst = dst;
	c.p = p;
	c.e = e;
	c.run = run;
	c.name = e->name;
	buf_init(&c.t, 64);
	buf_init(&c.id, 32);
	buf_init(&c.par, 32);
	buf_init(&c.dep, 32);
	buf_init(&c.key, 32);
	buf_init(&c.sql, 1024);
	pg_append_qualified(&c.t, e->target);
	pg_append_ident(&c.id, e->uuid_column ? e->uuid_column : "id");
	pg_append_ident(&c.par, tr->parent_column);
	if (tr->depth_column)
		pg_append_ident(&c.dep, tr->depth_column);
	/* samples name rows by their legacy key when the target keeps it */
	c.has_key = target_has_column(&c, e->key[0]);
	pg_append_ident(&c.key, c.has_key ? e->key[0] : e->uuid_column ? e->uuid_column : "id");
	buf_cstr(&c.t);
	buf_cstr(&c.id);
	buf_cstr(&c.par);
	buf_cstr(&c.dep);
	buf_cstr(&c.key);

	char *rejected = NULL, *cycles = NULL;

	if (!check_parents(&c))
		goto target_error;
	if (c.dep.len && !check_depth(&c))
		goto target_error;
	if (c.dep.len && c.failed == 0)
	{
		printf("%s: tree cycles: ok, none (every depth is its parent's + 1)\n", c.name);
		if (on_result)
			on_result(on_result_ctx, "cycles", true, "none (every depth is its parent's + 1)");
	}
	else if (!check_cycles(&c))
		goto target_error;
	if (e->poly && !check_entities(&c))
		goto target_error;
	if ((rejected = reject_ids(&c, "rejected", NULL)) == NULL ||
		(cycles = reject_ids(&c, "repaired", "parent_cycle,self_parent")) == NULL)
		goto target_error;
	if (e->poly && e->extract_sql && !check_entity_counts(&c, rejected, &code))
		goto done;
	if (e->extract_sql)
		check_thread_counts(&c, rejected, cycles, &code);
	goto done;
target_error:
	code = FERRY_EXIT_TARGET;
done:
	free(rejected);
	free(cycles);
	if (code == FERRY_EXIT_OK && c.failed)
		code = FERRY_EXIT_VERIFY;
	buf_free(&c.t);
	buf_free(&c.id);
	buf_free(&c.par);
	buf_free(&c.dep);
	buf_free(&c.key);
	buf_free(&c.sql);
	return code;
}
