/*
 * compare.c: the expected rows (expect.c) against the destination's, in
 * the destination, column by column.
 *
 * A value is compared by its text as the destination stores it: the
 * expected text goes through the destination type's input and output
 * (e.v::TYPE::text), the destination's through its output (t.col::text).
 * Checksum mode's references hold legacy keys: the destination's uuid is
 * mapped back with ferry.id_map.  A column a repair accounts for is
 * expected to hold the plan's repair value; a column a transform note
 * accounts for, NULL; a re-parented cycle member's parent is not compared.
 *
 * A value the destination type does not take (a dirty row the run did not
 * reject, the source having changed since) would stop the whole query:
 * then the columns holding such values are found, one cast at a time in a
 * PL/pgSQL exception block, and those values are compared as they are.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pgconn.h"
#include "verify.h"

#define FETCH_ROWS 1000

/* t.col with its quoted name */
static void
tcol(buf *sql, const char *alias, const char *column)
{
	buf_printf(sql, "%s.", alias);
	pg_append_ident(sql, column);
}

void
sql_dest_key(buf *sql, const ventity *v, const char *alias, const char *map_alias)
{
	if (v->key_in_target)
	{
		if (v->nkey == 1)
		{
			tcol(sql, alias, v->key[0]);
			buf_puts(sql, "::text");
			return;
		}
		buf_putc(sql, '(');
		for (int k = 0; k < v->nkey; k++)
		{
			if (k)
				buf_puts(sql, " || ',' || ");
			buf_puts(sql, "replace(replace(");
			tcol(sql, alias, v->key[k]);
			buf_puts(sql, "::text, E'\\\\', E'\\\\\\\\'), ',', E'\\\\,')");
		}
		buf_putc(sql, ')');
	}
	else if (map_alias)
		buf_printf(sql, "%s.legacy_id", map_alias);
	else
		buf_puts(sql, "NULL::text");
}

/* the join of the expected row e to its destination row t */
static void
sql_match(buf *sql, const ventity *v)
{
	if (v->uuid)
	{
		tcol(sql, "t", v->uuid);
		buf_puts(sql, " = e._uuid");
		return;
	}
	for (int k = 0; k < v->nkey; k++)
	{
		if (k)
			buf_puts(sql, " AND ");
		tcol(sql, "t", v->key[k]);
		buf_printf(sql, " = e.k%d::%s", k + 1, v->key_type[k]);
	}
}

/* 'name' = ANY(e.arr), false when NULL */
static void
sql_in(buf *sql, const char *arr, const char *column)
{
	buf_puts(sql, "coalesce(");
	pg_append_literal(sql, column);
	buf_printf(sql, " = ANY(e.%s), false)", arr);
}

static bool
is_legacy_ref(const vcol *col, bool legacy)
{
	return legacy && col->kind != VC_VALUE;
}

static void sql_actual(buf *sql, const vcol *col, int i, bool legacy);

/*
 * The expected text of column i.  A column the run repaired (or, from the
 * source, a reference the transform set NULL) is expected to hold the
 * plan's repair value (NULL); it may also hold the value itself, when a
 * later run loaded the row again without the note's cause.
 */
static void
sql_expected(buf *sql, const vcol *col, int i, bool legacy)
{
	buf_puts(sql, "CASE");
	if (col->has_repair)
	{
		buf_puts(sql, " WHEN ");
		sql_in(sql, "_rep", col->name);
		buf_puts(sql, " AND (");
		sql_actual(sql, col, i, legacy);
		buf_puts(sql, ") IS NOT DISTINCT FROM ");
		if (col->repair)
		{
			buf_putc(sql, '(');
			pg_append_literal(sql, col->repair);
			buf_printf(sql, ")::%s::text", col->type);
		}
		else
			buf_puts(sql, "NULL");
		buf_puts(sql, " THEN ");
		sql_actual(sql, col, i, legacy);
	}
	if (legacy)
	{
		buf_puts(sql, " WHEN ");
		sql_in(sql, "_null", col->name);
		buf_puts(sql, " AND (");
		sql_actual(sql, col, i, legacy);
		buf_puts(sql, ") IS NULL THEN NULL");
	}
	buf_puts(sql, " WHEN ");
	sql_in(sql, "_bad", col->name);
	buf_printf(sql, " THEN e.v%d", i + 1);
	if (is_legacy_ref(col, legacy))
		buf_printf(sql, " ELSE e.v%d END", i + 1);
	else
		buf_printf(sql, " ELSE e.v%d::%s::text END", i + 1, col->type);
}

/* the destination's text of column i */
static void
sql_actual(buf *sql, const vcol *col, int i, bool legacy)
{
	if (!is_legacy_ref(col, legacy))
	{
		tcol(sql, "t", col->name);
		buf_puts(sql, "::text");
		return;
	}
	buf_puts(sql, "CASE WHEN ");
	tcol(sql, "t", col->name);
	buf_printf(sql, " IS NOT NULL THEN coalesce(m%d.legacy_id, ", i + 1);
	tcol(sql, "t", col->name);
	if (col->kind == VC_REF)
	{
		buf_puts(sql, "::text || ");
		buf_printf(sql, "' (no migrated %s row has this uuid)') END", col->ref_entity);
	}
	else
	{
		buf_puts(sql, "::text || ' (no migrated ' || coalesce(");
		tcol(sql, "t", col->poly_type);
		buf_puts(sql, "::text, '?') || ' row has this uuid)') END");
	}
}

/* LEFT JOINs of ferry.id_map for the legacy references */
static void
sql_map_joins(buf *sql, const ventity *v, bool legacy)
{
	for (int i = 0; legacy && i < v->ncols; i++)
	{
		const vcol *col = &v->cols[i];

		if (col->kind == VC_VALUE)
			continue;
		buf_printf(sql, " LEFT JOIN ferry.id_map m%d ON m%d.entity = ", i + 1, i + 1);
		if (col->kind == VC_REF)
			pg_append_literal(sql, col->ref_entity);
		else
			tcol(sql, "t", col->poly_type);
		buf_printf(sql, " AND m%d.uuid = ", i + 1);
		tcol(sql, "t", col->name);
	}
}

static void
build_query(buf *sql, const ventity *v, bool legacy)
{
	buf_puts(sql, "DECLARE ferry_verify_cur NO SCROLL CURSOR FOR SELECT e._key, e._uuid::text, ");
	buf_puts(sql, "t.ctid IS NULL");
	for (int i = 0; i < v->ncols; i++)
	{
		buf_printf(sql, ", w.d%d, left(w.x%d, %d), left(w.a%d, %d), ", i + 1, i + 1,
				   VERIFY_SHOW_CHARS + 1, i + 1, VERIFY_SHOW_CHARS + 1);
		sql_in(sql, "_bad", v->cols[i].name);
		buf_puts(sql, ", ");
		sql_in(sql, "_rep", v->cols[i].name);
		buf_puts(sql, ", ");
		sql_in(sql, "_null", v->cols[i].name);
	}
	buf_printf(sql, " FROM pg_temp.ferry_verify_expect e LEFT JOIN %s t ON ", v->target_sql);
	sql_match(sql, v);
	sql_map_joins(sql, v, legacy);
	/* expected and actual once, then whether they differ */
	buf_puts(sql, " CROSS JOIN LATERAL (SELECT ");
	for (int i = 0; i < v->ncols; i++)
	{
		buf_printf(sql, "%sx%d, a%d, x%d IS DISTINCT FROM a%d", i ? ", " : "", i + 1, i + 1,
				   i + 1, i + 1);
		if (legacy)
		{
			buf_puts(sql, " AND NOT ");
			sql_in(sql, "_skip", v->cols[i].name);
		}
		buf_printf(sql, " AS d%d", i + 1);
	}
	if (v->ncols == 0)
		buf_puts(sql, "1 AS none");
	buf_puts(sql, " FROM (SELECT ");
	for (int i = 0; i < v->ncols; i++)
	{
		buf_puts(sql, i ? ", " : "");
		sql_expected(sql, &v->cols[i], i, legacy);
		buf_printf(sql, " AS x%d, ", i + 1);
		sql_actual(sql, &v->cols[i], i, legacy);
		buf_printf(sql, " AS a%d", i + 1);
	}
	if (v->ncols == 0)
		buf_puts(sql, "1 AS none");
	buf_puts(sql, " OFFSET 0) AS xa) AS w WHERE e._disp IS NULL AND (t.ctid IS NULL");
	for (int i = 0; i < v->ncols; i++)
		buf_printf(sql, " OR w.d%d", i + 1);
	buf_puts(sql, v->key_numeric ? ") ORDER BY e._key::numeric" : ") ORDER BY e._key");
}

/* 22xxx (data exception) and 23xxx (a domain's constraint): a value that does not convert */
static bool
conversion_error(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
}

static bool
exec_quiet(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	return ok;
}

/* one fetched batch of differing rows into r */
static void
take_rows(const ventity *v, PGresult *res, vresult *r, vcompare *out)
{
	for (int row = 0; row < PQntuples(res); row++)
	{
		const char *key = PQgetisnull(res, row, 0) ? NULL : PQgetvalue(res, row, 0);
		const char *uuid = PQgetisnull(res, row, 1) ? NULL : PQgetvalue(res, row, 1);
		bool differs = false;

		if (PQgetvalue(res, row, 2)[0] == 't')
		{
			r->missing++;
			out->missing++;
			result_diff(r, VD_MISSING, key, uuid, NULL, NULL, NULL, NULL);
			continue;
		}
		for (int i = 0; i < v->ncols; i++)
		{
			const vcol *col = &v->cols[i];
			int f = 3 + 6 * i;
			buf note;

			if (PQgetvalue(res, row, f)[0] != 't')
				continue;
			differs = true;
			buf_init(&note, 64);
			if (PQgetvalue(res, row, f + 4)[0] == 't')
				buf_printf(&note, "the run repaired this value: expected %s%s%s, or the value",
						   col->repair ? "\"" : "", col->repair ? col->repair : "NULL",
						   col->repair ? "\"" : "");
			else if (PQgetvalue(res, row, f + 5)[0] == 't')
				buf_puts(&note, "the run set this value NULL (a note in ferry.rejects): "
						 "expected NULL, or the value");
			else if (PQgetvalue(res, row, f + 3)[0] == 't')
				buf_puts(&note, "the expected value is not a valid value of the column's type");
			counts_add(&r->different_by, col->name, 1);
			result_diff(r, VD_DIFFERENT, key, uuid, col->name,
						PQgetisnull(res, row, f + 1) ? NULL : PQgetvalue(res, row, f + 1),
						PQgetisnull(res, row, f + 2) ? NULL : PQgetvalue(res, row, f + 2),
						note.len ? buf_cstr(&note) : NULL);
			buf_free(&note);
		}
		if (differs)
		{
			r->different++;
			out->different++;
		}
	}
}

/*
 * Run the comparison into r (a scratch result).  *retry is set when a
 * value did not convert (the transaction is back at the savepoint).
 */
static bool
run_compare(vctx *c, const ventity *v, bool legacy, vresult *r, vcompare *out, bool *retry)
{
	buf sql;
	PGresult *res;
	bool ok = true;

	*retry = false;
	if (!pg_exec(c->dst, "SAVEPOINT ferry_verify_cmp"))
		return false;
	buf_init(&sql, 4096);
	build_query(&sql, v, legacy);
	res = PQexec(c->dst, buf_cstr(&sql));
	buf_free(&sql);
	while (ok)
	{
		ExecStatusType st = PQresultStatus(res);

		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		{
			*retry = conversion_error(res);
			if (!*retry)
				log_error("target: %s", pg_errmsg(c->dst, res));
			ok = false;
		}
		else if (st == PGRES_TUPLES_OK)
		{
			int n = PQntuples(res);

			take_rows(v, res, r, out);
			if (n < FETCH_ROWS)
				break;
		}
		PQclear(res);
		res = ok ? PQexec(c->dst, "FETCH FORWARD 1000 FROM ferry_verify_cur") : NULL;
	}
	PQclear(res);
	if (ok)
		return exec_quiet(c->dst, "CLOSE ferry_verify_cur") &&
			pg_exec(c->dst, "RELEASE SAVEPOINT ferry_verify_cmp");
	if (!exec_quiet(c->dst, "ROLLBACK TO SAVEPOINT ferry_verify_cmp"))
	{
		log_error("target: %s", pg_errmsg(c->dst, NULL));
		*retry = false;
	}
	return false;
}

/*
 * Mark in _bad the expected values that their column's destination type
 * does not take.  A cheap probe finds the columns concerned; only their
 * values are then tried one by one.
 */
static bool
mark_unconvertible(vctx *c, const ventity *v, bool legacy)
{
	buf sql;
	bool ok;

	ok = pg_exec(c->dst, "CREATE OR REPLACE FUNCTION pg_temp.ferry_verify_converts(v text, t text) "
				 "RETURNS boolean LANGUAGE plpgsql AS $f$ BEGIN "
				 "EXECUTE format('SELECT %L::%s', v, t); RETURN true; "
				 "EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN RETURN false; "
				 "END $f$");
	buf_init(&sql, 512);
	for (int i = 0; ok && i < v->ncols; i++)
	{
		const vcol *col = &v->cols[i];
		PGresult *res;

		if (is_legacy_ref(col, legacy))
			continue;
		buf_reset(&sql);
		buf_printf(&sql, "SELECT count(*) FROM pg_temp.ferry_verify_expect e WHERE e._disp IS NULL "
				   "AND e.v%d IS NOT NULL AND e.v%d::%s IS NULL", i + 1, i + 1, col->type);
		if (!pg_exec(c->dst, "SAVEPOINT ferry_verify_probe"))
			break;
		res = PQexec(c->dst, buf_cstr(&sql));
		bool converts = PQresultStatus(res) == PGRES_TUPLES_OK;

		PQclear(res);
		if (!pg_exec(c->dst, converts ? "RELEASE SAVEPOINT ferry_verify_probe"
					 : "ROLLBACK TO SAVEPOINT ferry_verify_probe"))
		{
			ok = false;
			break;
		}
		if (converts)
			continue;
		buf_reset(&sql);
		buf_printf(&sql, "UPDATE pg_temp.ferry_verify_expect e SET _bad = array_append(_bad, ");
		pg_append_literal(&sql, col->name);
		buf_printf(&sql, ") WHERE e._disp IS NULL AND e.v%d IS NOT NULL "
				   "AND NOT pg_temp.ferry_verify_converts(e.v%d, ", i + 1, i + 1);
		pg_append_literal(&sql, col->type);
		buf_puts(&sql, ")");
		ok = pg_exec(c->dst, buf_cstr(&sql));
		log_info("%s: column %s: some expected values are not valid %s values", v->label,
				 col->name, col->type);
	}
	buf_free(&sql);
	return ok;
}

bool
compare_expected(vctx *c, const ventity *v, bool legacy, vresult *r, vcompare *out)
{
	PGresult *res;
	vresult tmp;
	bool retry;

	memset(out, 0, sizeof *out);
	result_init(&tmp, r->entity, NULL, r->mode, r->max_listed - r->ndiffs);
	bool ok = run_compare(c, v, legacy, &tmp, out, &retry);

	if (!ok && retry)
	{
		result_free(&tmp);
		result_init(&tmp, r->entity, NULL, r->mode, r->max_listed - r->ndiffs);
		memset(out, 0, sizeof *out);
		ok = mark_unconvertible(c, v, legacy) && run_compare(c, v, legacy, &tmp, out, &retry);
		if (!ok && retry)
			log_error("target: a value does not convert to its column's type, even after "
					  "the unconvertible ones were set apart");
	}
	if (ok)
		result_merge(r, &tmp);
	result_free(&tmp);
	if (ok)
	{
		res = pg_query(c->dst, "SELECT count(*) FROM pg_temp.ferry_verify_expect WHERE _disp IS NULL",
					   0, NULL);
		if (res == NULL)
			return false;
		out->rows = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
		out->present = out->rows - out->missing;
	}
	return ok;
}

bool
compare_extra(vctx *c, const ventity *v, vresult *r)
{
	buf sql;
	PGresult *res;
	bool ok = true;
	bool map = !v->key_in_target && c->books && v->uuid;

	buf_init(&sql, 1024);
	buf_puts(&sql, "DECLARE ferry_verify_extra NO SCROLL CURSOR FOR SELECT ");
	sql_dest_key(&sql, v, "t", map ? "k" : NULL);
	buf_puts(&sql, ", ");
	if (v->uuid)
	{
		tcol(&sql, "t", v->uuid);
		buf_puts(&sql, "::text, (SELECT min(r._reason) FROM pg_temp.ferry_verify_expect r "
				 "WHERE r._disp = 'rejected' AND r._uuid = ");
		tcol(&sql, "t", v->uuid);
		buf_puts(&sql, ")");
	}
	else
		buf_puts(&sql, "NULL, NULL");
	buf_printf(&sql, " FROM %s t", v->target_sql);
	if (map)
	{
		buf_puts(&sql, " LEFT JOIN ferry.id_map k ON k.entity = ");
		pg_append_literal(&sql, v->name);
		buf_puts(&sql, " AND k.uuid = ");
		tcol(&sql, "t", v->uuid);
	}
	buf_puts(&sql, " WHERE NOT EXISTS (SELECT 1 FROM pg_temp.ferry_verify_expect e "
			 "WHERE e._disp IS NULL AND ");
	sql_match(&sql, v);
	buf_puts(&sql, ") ORDER BY 1");
	if (!pg_exec(c->dst, buf_cstr(&sql)))
	{
		buf_free(&sql);
		return false;
	}
	buf_free(&sql);
	for (;;)
	{
		res = pg_query(c->dst, "FETCH FORWARD 1000 FROM ferry_verify_extra", 0, NULL);
		if (res == NULL)
		{
			ok = false;
			break;
		}
		for (int row = 0; row < PQntuples(res); row++)
		{
			const char *reason = PQgetisnull(res, row, 2) ? NULL : PQgetvalue(res, row, 2);
			buf note;

			buf_init(&note, 64);
			if (reason)
				buf_printf(&note, "the stream sets this row aside (%s), yet it is there", reason);
			r->extra++;
			result_diff(r, VD_EXTRA, PQgetisnull(res, row, 0) ? NULL : PQgetvalue(res, row, 0),
						PQgetisnull(res, row, 1) ? NULL : PQgetvalue(res, row, 1), NULL, NULL, NULL,
						reason ? buf_cstr(&note) : NULL);
			buf_free(&note);
		}
		int n = PQntuples(res);

		PQclear(res);
		if (n < FETCH_ROWS)
			break;
	}
	return exec_quiet(c->dst, "CLOSE ferry_verify_extra") && ok;
}
