/*
 * expect.c: the expected rows, in a temporary table of the destination.
 *
 * Values are kept as text, exactly as the stream (or the source) has them;
 * compare.c converts them with the destination type's input and output in
 * SQL.  Each row carries its legacy key and uuid, and what the run said
 * about it in ferry.rejects: rejected (not compared), repaired (the
 * columns whose value the load replaced), noted by the transform (columns
 * it set NULL or re-parented, known only when the rows come from the
 * source).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgconn.h"
#include "text.h"
#include "value.h"
#include "verify.h"

#define EXPECT_FLUSH (1 << 20)

struct vexpect
{
	PGconn *dst;
	const ventity *v;
	bool legacy;
	bool copying;
	buf line;
	long long rows;
};

static void
append_field(buf *out, const char *s)
{
	ferry_value v = s ? fv_str(s, strlen(s)) : fv_null();

	copytext_append_value(out, &v);
}

vexpect *
expect_new(PGconn *dst, const ventity *v, bool legacy)
{
	buf sql;
	vexpect *x;

	buf_init(&sql, 512);
	buf_puts(&sql, "DROP TABLE IF EXISTS pg_temp.ferry_verify_expect; "
			 "CREATE TEMP TABLE ferry_verify_expect (_key text, _uuid uuid, _disp text, "
			 "_reason text, _rep text[], _null text[], _skip text[], _bad text[]");
	for (int k = 0; k < v->nkey; k++)
		buf_printf(&sql, ", k%d text", k + 1);
	for (int i = 0; i < v->ncols; i++)
		buf_printf(&sql, ", v%d text", i + 1);
	buf_puts(&sql, ")");
	if (!pg_exec(dst, buf_cstr(&sql)))
	{
		buf_free(&sql);
		return NULL;
	}
	buf_free(&sql);
	x = xcalloc(1, sizeof *x);
	x->dst = dst;
	x->v = v;
	x->legacy = legacy;
	buf_init(&x->line, EXPECT_FLUSH + 4096);
	return x;
}

static bool
flush(vexpect *x)
{
	if (!x->copying)
	{
		PGresult *res = PQexec(x->dst, "COPY pg_temp.ferry_verify_expect FROM STDIN");

		if (PQresultStatus(res) != PGRES_COPY_IN)
		{
			log_error("target: %s", pg_errmsg(x->dst, res));
			PQclear(res);
			return false;
		}
		PQclear(res);
		x->copying = true;
	}
	if (x->line.len > 0 && PQputCopyData(x->dst, x->line.data, (int) x->line.len) != 1)
	{
		log_error("target: %s", pg_errmsg(x->dst, NULL));
		return false;
	}
	buf_reset(&x->line);
	return true;
}

bool
expect_add(vexpect *x, const char *disp, const char *reason, const char *key, const char *uuid,
		   const char *const *vals, const char *const *keyvals)
{
	const ventity *v = x->v;

	append_field(&x->line, key);
	buf_putc(&x->line, '\t');
	append_field(&x->line, uuid);
	buf_putc(&x->line, '\t');
	append_field(&x->line, disp);
	buf_putc(&x->line, '\t');
	append_field(&x->line, reason);
	buf_puts(&x->line, "\t\\N\t\\N\t\\N\t\\N");
	for (int k = 0; k < v->nkey; k++)
	{
		buf_putc(&x->line, '\t');
		append_field(&x->line, keyvals ? keyvals[k] : NULL);
	}
	for (int i = 0; i < v->ncols; i++)
	{
		buf_putc(&x->line, '\t');
		append_field(&x->line, vals ? vals[i] : NULL);
	}
	buf_putc(&x->line, '\n');
	x->rows++;
	return x->line.len < EXPECT_FLUSH || flush(x);
}

static bool
end_copy(vexpect *x)
{
	PGresult *res;
	bool ok = true;

	if (!flush(x))
		return false;
	if (PQputCopyEnd(x->dst, NULL) != 1)
	{
		log_error("target: %s", pg_errmsg(x->dst, NULL));
		return false;
	}
	while ((res = PQgetResult(x->dst)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			log_error("target: %s", pg_errmsg(x->dst, res));
			ok = false;
		}
		PQclear(res);
	}
	x->copying = false;
	return ok;
}

/* run an UPDATE/INSERT with the entity ($1) and maybe a second text parameter */
static bool
mark(vexpect *x, const char *sql, int nparams, const char *second)
{
	const char *params[2] = {x->v->name, second};
	PGresult *res = pg_query(x->dst, sql, nparams, params);

	PQclear(res);
	return res != NULL;
}

bool
expect_finish(vexpect *x, vctx *c)
{
	const ventity *v = x->v;

	if (!end_copy(x))
		return false;
	if (c->books && c->run)
	{
		buf repair;

		/* rows the run set aside: accounted as rejects, not compared */
		if (!mark(x, "UPDATE pg_temp.ferry_verify_expect e SET _disp = 'rejected', _reason = r.reason "
				  "FROM pg_temp.ferry_verify_books r WHERE e._disp IS NULL AND r.entity = $1 "
				  "AND r.disposition = 'rejected' AND r.legacy_id = e._key", 1, NULL))
			return false;
		/* the load's repairs (the stream has the transform's notes itself) */
		if (!x->legacy &&
			!mark(x, "INSERT INTO pg_temp.ferry_verify_expect (_key, _disp, _reason) "
				  "SELECT legacy_id, 'note', reason FROM pg_temp.ferry_verify_books WHERE entity = $1 "
				  "AND disposition = 'repaired' AND stage = $2", 2, "load"))
			return false;
		/* the columns a value_repaired note names: the destination has the plan's value */
		buf_init(&repair, 128);
		array_start(&repair);
		for (int i = 0; i < v->ncols; i++)
			if (v->cols[i].has_repair)
				array_add(&repair, v->cols[i].name, strlen(v->cols[i].name));
		array_finish(&repair);
		if (repair.len > 2 &&
			!mark(x, "UPDATE pg_temp.ferry_verify_expect e SET _rep = x.cols FROM "
				  "(SELECT r.legacy_id, array_agg(DISTINCT col) AS cols FROM pg_temp.ferry_verify_books r, "
				  "unnest($2::text[]) AS col WHERE r.entity = $1 "
				  "AND r.disposition = 'repaired' AND r.reason = 'value_repaired' "
				  "AND (starts_with(r.detail, col || ': ') OR strpos(r.detail, '; ' || col || ': ') > 0) "
				  "GROUP BY 1) x WHERE e._disp IS NULL AND e._key = x.legacy_id", 2, repair.data))
		{
			buf_free(&repair);
			return false;
		}
		buf_free(&repair);
		/*
		 * Rows from the source: what the transform did to a row it noted.
		 * reference_set_null names its column; a tree row loaded as a root
		 * (orphan_root, parent_rejected, self_parent) has no parent; a
		 * parent_cycle member may have another parent (ferry-tree(7)).
		 */
		if (x->legacy &&
			(!mark(x, "UPDATE pg_temp.ferry_verify_expect e SET _null = x.cols FROM "
				   "(SELECT r.legacy_id, array_agg(DISTINCT CASE WHEN r.reason = 'reference_set_null' "
				   "THEN split_part(r.detail, ' = ', 1) ELSE $2 END) AS cols FROM pg_temp.ferry_verify_books r "
				   "WHERE r.entity = $1 AND r.disposition = 'repaired' "
				   "AND (r.reason = 'reference_set_null' OR ($2::text IS NOT NULL AND r.reason IN "
				   "('orphan_root', 'parent_rejected', 'self_parent'))) GROUP BY 1) x "
				   "WHERE e._disp IS NULL AND e._key = x.legacy_id", 2, v->parent) ||
			 !mark(x, "UPDATE pg_temp.ferry_verify_expect e SET _skip = ARRAY[$2::text] "
				   "FROM pg_temp.ferry_verify_books r WHERE e._disp IS NULL AND $2::text IS NOT NULL "
				   "AND r.entity = $1 AND r.disposition = 'repaired' "
				   "AND r.reason = 'parent_cycle' AND r.legacy_id = e._key", 2, v->parent)))
			return false;
	}
	return pg_exec(x->dst, "CREATE INDEX ON pg_temp.ferry_verify_expect (_uuid); "
				   "CREATE INDEX ON pg_temp.ferry_verify_expect (_key); "
				   "ANALYZE pg_temp.ferry_verify_expect");
}

void
expect_free(vexpect *x)
{
	if (x == NULL)
		return;
	buf_free(&x->line);
	free(x);
}
