/*
 * refs.c: referential integrity of an entity's destination table.
 *
 * Loads run with session_replication_role = replica (ferry-load(1)): the
 * destination's foreign keys are not checked as rows arrive, so a
 * reference to nothing is possible in principle.  Every foreign key
 * constraint of the table is checked here, row by row in SQL (MATCH
 * SIMPLE: a row with a NULL in the key does not reference anything), and
 * so is every reference the plan maps (ref, defer, forward) that no constraint
 * covers, against the uuid column of the referenced entity's table.  Each
 * orphan is listed with its legacy key, column and value.
 */
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "text.h"
#include "verify.h"

#define ORPHANS_LISTED 1000

/* the orphans of one reference: rows of the table whose cols name no row of parent(pcols) */
static bool
orphans(vctx *c, const ventity *v, vresult *r, const char *what, int n, char **cols,
		const char *parent_sql, char **pcols, const char *parent_label)
{
	buf sql;
	PGresult *res;
	bool map = !v->key_in_target && c->books && v->uuid;

	buf_init(&sql, 1024);
	buf_puts(&sql, "SELECT count(*) OVER (), ");
	sql_dest_key(&sql, v, "t", map ? "k" : NULL);
	buf_puts(&sql, ", ");
	if (v->uuid)
	{
		buf_puts(&sql, "t.");
		pg_append_ident(&sql, v->uuid);
		buf_puts(&sql, "::text");
	}
	else
		buf_puts(&sql, "NULL");
	buf_puts(&sql, ", concat_ws(', '");
	for (int i = 0; i < n; i++)
	{
		buf_puts(&sql, ", t.");
		pg_append_ident(&sql, cols[i]);
		buf_puts(&sql, "::text");
	}
	buf_printf(&sql, ") FROM %s t", v->target_sql);
	if (map)
	{
		buf_puts(&sql, " LEFT JOIN ferry.id_map k ON k.entity = ");
		pg_append_literal(&sql, v->name);
		buf_puts(&sql, " AND k.uuid = t.");
		pg_append_ident(&sql, v->uuid);
	}
	buf_puts(&sql, " WHERE ");
	for (int i = 0; i < n; i++)
	{
		buf_puts(&sql, "t.");
		pg_append_ident(&sql, cols[i]);
		buf_puts(&sql, " IS NOT NULL AND ");
	}
	buf_printf(&sql, "NOT EXISTS (SELECT 1 FROM %s p WHERE ", parent_sql);
	for (int i = 0; i < n; i++)
	{
		if (i)
			buf_puts(&sql, " AND ");
		buf_puts(&sql, "p.");
		pg_append_ident(&sql, pcols[i]);
		buf_puts(&sql, " = t.");
		pg_append_ident(&sql, cols[i]);
	}
	buf_printf(&sql, ") ORDER BY 2 LIMIT %d", ORPHANS_LISTED);
	res = pg_query(c->dst, buf_cstr(&sql), 0, NULL);
	buf_free(&sql);
	if (res == NULL)
		return false;

	long long total = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : 0;
	buf col, detail;

	buf_init(&col, 64);
	buf_init(&detail, 128);
	for (int i = 0; i < n; i++)
		buf_printf(&col, "%s%s", i ? "," : "", cols[i]);
	buf_cstr(&col);
	for (int i = 0; i < PQntuples(res); i++)
		result_diff(r, VD_ORPHAN, PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1),
					PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2), col.data,
					parent_label, PQgetvalue(res, i, 3), NULL);
	r->orphans += total;
	if (total)
		buf_printf(&detail, "%lld rows reference no row of %s", total, parent_label);
	else
		buf_printf(&detail, "every reference is to a row of %s", parent_label);
	buf_reset(&col);
	buf_printf(&col, "%s %s", what, v->target);
	log_info("%s: %s: %s", v->label, buf_cstr(&col), buf_cstr(&detail));
	buf_free(&col);
	buf_free(&detail);
	PQclear(res);
	return true;
}

/* parse a name[] as text ({a,"b c"}) into n strings */
static char **
name_array(const char *lit, int *n)
{
	char **out = NULL;
	const char *p = lit + (*lit == '{');

	*n = 0;
	while (*p && *p != '}')
	{
		buf b;

		buf_init(&b, 32);
		if (*p == '"')
		{
			for (p++; *p && *p != '"'; p++)
			{
				if (*p == '\\' && p[1])
					p++;
				buf_putc(&b, *p);
			}
			if (*p == '"')
				p++;
		}
		else
			for (; *p && *p != ',' && *p != '}'; p++)
				buf_putc(&b, *p);
		out = xrealloc(out, (size_t) (*n + 1) * sizeof *out);
		out[(*n)++] = (char *) buf_cstr(&b);
		if (*p == ',')
			p++;
	}
	return out;
}

static void
free_names(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
verify_refs(vctx *c, const ventity *v, vresult *r)
{
	char *qualified = pg_qualified(v->target);
	const char *params[1] = {qualified};
	PGresult *res;
	int code = FERRY_EXIT_OK;
	buf covered;

	/* the table's foreign keys: columns, referenced table (regclass text is quoted) and columns */
	res = pg_query(c->dst,
				   "SELECT c.conname, c.confrelid::regclass::text, "
				   "(SELECT array_agg(a.attname ORDER BY k.i) FROM unnest(c.conkey) WITH ORDINALITY "
				   " AS k(n, i) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n)::text, "
				   "(SELECT array_agg(a.attname ORDER BY k.i) FROM unnest(c.confkey) WITH ORDINALITY "
				   " AS k(n, i) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n)::text "
				   "FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid = to_regclass($1) "
				   "ORDER BY c.conname", 1, params);
	free(qualified);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	buf_init(&covered, 256);
	buf_putc(&covered, '\n');
	for (int i = 0; i < PQntuples(res) && code == FERRY_EXIT_OK; i++)
	{
		int n, np;
		char **cols = name_array(PQgetvalue(res, i, 2), &n);
		char **pcols = name_array(PQgetvalue(res, i, 3), &np);
		buf what;

		buf_init(&what, 64);
		buf_printf(&what, "foreign key %s of", PQgetvalue(res, i, 0));
		if (n != np || n == 0 ||
			!orphans(c, v, r, buf_cstr(&what), n, cols, PQgetvalue(res, i, 1), pcols,
					 PQgetvalue(res, i, 1)))
			code = FERRY_EXIT_TARGET;
		if (n >= 1)
			buf_printf(&covered, "%s\n", cols[0]);
		free_names(cols, n);
		free_names(pcols, np);
		buf_free(&what);
	}
	PQclear(res);
	buf_cstr(&covered);

	/* the plan's references no constraint covers: against the referenced entity's uuids */
	for (int i = 0; code == FERRY_EXIT_OK && v->e && v->p && i < v->e->nrefs; i++)
	{
		const plan_ref *ref = &v->e->refs[i];
		const plan_entity *to = plan_find(v->p, ref->entity);
		buf needle, parent;
		char *col[1], *pcol[1];

		bool dropped = false;

		for (int d = 0; d < v->e->ndrop; d++)
			dropped |= strcmp(v->e->drop[d], ref->column) == 0;
		if (ref->kind == REF_CHECK || dropped || to == NULL || to->target == NULL ||
			to->uuid_column == NULL)
			continue;
		buf_init(&needle, 64);
		buf_printf(&needle, "\n%s\n", ref->column);
		if (strstr(covered.data, buf_cstr(&needle)) == NULL)
		{
			buf_init(&parent, 64);
			pg_append_qualified(&parent, to->target);
			col[0] = ref->column;
			pcol[0] = to->uuid_column;
			if (!orphans(c, v, r, "plan reference (no constraint) of", 1, col, buf_cstr(&parent),
						 pcol, to->target))
				code = FERRY_EXIT_TARGET;
			buf_free(&parent);
		}
		buf_free(&needle);
	}
	buf_free(&covered);
	return code;
}
