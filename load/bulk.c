/*
 * bulk.c: drop the indexes a load into an empty table can do without,
 * saved first in ferry.bulk_indexes; build them again at the end.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bulk.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"

/*
 * What could be dropped, as (part, ord, kind, name, on_table, definition,
 * drop statement, referencing table): part "index" for a non-unique index,
 * "uuid" for the uuid column's unique key, "fk" for a foreign key that
 * references it (ref_table: the referencing table when it is another one).
 * Run with search_path = pg_catalog, so that every name in a definition
 * is qualified and the definition means the same in any session.
 */
static const char *const candidates_sql =
	"WITH t AS (SELECT $1::regclass AS oid), "
	"keyed AS (SELECT EXISTS (SELECT 1 FROM pg_index i, t WHERE i.indrelid = t.oid "
	"    AND i.indisunique AND i.indimmediate AND i.indisvalid AND i.indpred IS NULL "
	"    AND i.indexprs IS NULL AND $3::text[] IS NOT NULL "
	"    AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a "
	"         WHERE a.attrelid = t.oid AND a.attnum = ANY (i.indkey)) "
	"      = (SELECT array_agg(k ORDER BY k) FROM unnest($3::text[]) k)) AS ok), "
	"uuidx AS (SELECT i.indexrelid, i.indrelid FROM pg_index i, t, keyed "
	"  WHERE keyed.ok AND i.indrelid = t.oid AND i.indisunique AND i.indnatts = 1 "
	"    AND i.indpred IS NULL AND i.indexprs IS NULL "
	"    AND (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = t.oid "
	"         AND a.attnum = i.indkey[0]) = $2 "
	"    AND NOT EXISTS (SELECT 1 FROM pg_constraint x WHERE x.conindid = i.indexrelid "
	"                    AND x.contype = 'x')) "
	"SELECT 'index', 1, 'index', ci.relname, format('%I.%I', n.nspname, ct.relname), "
	"       pg_get_indexdef(i.indexrelid), format('DROP INDEX %I.%I', n.nspname, ci.relname), NULL "
	"FROM pg_index i JOIN t ON i.indrelid = t.oid JOIN pg_class ci ON ci.oid = i.indexrelid "
	"JOIN pg_class ct ON ct.oid = i.indrelid JOIN pg_namespace n ON n.oid = ct.relnamespace "
	"WHERE NOT i.indisunique AND NOT i.indisexclusion AND i.indisvalid "
	"  AND NOT EXISTS (SELECT 1 FROM pg_constraint x WHERE x.conindid = i.indexrelid "
	"                  AND x.conrelid = i.indrelid) "
	"UNION ALL "
	"SELECT 'uuid', 1, CASE WHEN c.oid IS NULL THEN 'index' ELSE 'constraint' END, "
	"       coalesce(c.conname, ci.relname), format('%I.%I', n.nspname, ct.relname), "
	"       CASE WHEN c.oid IS NULL THEN pg_get_indexdef(u.indexrelid) "
	"            ELSE format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', n.nspname, ct.relname, "
	"                        c.conname, pg_get_constraintdef(c.oid)) END, "
	"       CASE WHEN c.oid IS NULL THEN format('DROP INDEX %I.%I', n.nspname, ci.relname) "
	"            ELSE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', n.nspname, ct.relname, "
	"                        c.conname) END, NULL "
	"FROM uuidx u JOIN pg_class ci ON ci.oid = u.indexrelid JOIN pg_class ct ON ct.oid = u.indrelid "
	"JOIN pg_namespace n ON n.oid = ct.relnamespace "
	"LEFT JOIN pg_constraint c ON c.conindid = u.indexrelid AND c.conrelid = u.indrelid "
	"     AND c.contype IN ('p', 'u') "
	"UNION ALL "
	"SELECT 'fk', 2, 'constraint', c.conname, format('%I.%I', n.nspname, r.relname), "
	"       format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', n.nspname, r.relname, c.conname, "
	"              pg_get_constraintdef(c.oid)), "
	"       format('ALTER TABLE %I.%I DROP CONSTRAINT %I', n.nspname, r.relname, c.conname), "
	"       CASE WHEN c.conrelid <> u.indrelid THEN format('%I.%I', n.nspname, r.relname) END "
	"FROM uuidx u JOIN pg_constraint c ON c.conindid = u.indexrelid AND c.contype = 'f' "
	"JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace "
	"ORDER BY 2, 1, 4";

enum { C_PART, C_ORD, C_KIND, C_NAME, C_ON, C_DEF, C_DROP, C_REF };

/* "{a,b}" of the key columns, for $3 */
static char *
key_array(const bulk_target *t)
{
	buf b;

	buf_init(&b, 64);
	buf_putc(&b, '{');
	for (int k = 0; k < t->nkey; k++)
	{
		if (k)
			buf_putc(&b, ',');
		buf_putc(&b, '"');
		for (const char *p = t->key[k]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				buf_putc(&b, '\\');
			buf_putc(&b, *p);
		}
		buf_putc(&b, '"');
	}
	buf_putc(&b, '}');
	buf_cstr(&b);
	return b.data;
}

/* does the table (quoted, qualified) hold a row? -1 on error */
static int
has_rows(PGconn *conn, const char *table_sql)
{
	buf sql;
	PGresult *res;
	int has;

	buf_init(&sql, 128);
	buf_printf(&sql, "SELECT EXISTS (SELECT 1 FROM %s)", table_sql);
	res = pg_query(conn, buf_cstr(&sql), 0, NULL);
	buf_free(&sql);
	if (res == NULL)
		return -1;
	has = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return has;
}

/*
 * The lock a foreign key's drop takes on the referencing table, without
 * waiting: 1 taken, 0 in use by another session, -1 on an error (logged).
 */
static int
lock_nowait(PGconn *conn, const char *table_sql)
{
	buf sql;
	PGresult *res;
	int got;

	if (!pg_exec(conn, "SAVEPOINT ferry_bulk_lock"))
		return -1;
	buf_init(&sql, 128);
	buf_printf(&sql, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE NOWAIT", table_sql);
	res = PQexec(conn, buf_cstr(&sql));
	buf_free(&sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
		got = 1;
	else
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		got = state && strcmp(state, "55P03") == 0 ? 0 : -1;
		if (got < 0)
			log_error("target: %s", pg_errmsg(conn, res));
	}
	PQclear(res);
	if (got == 0 && !pg_exec(conn, "ROLLBACK TO SAVEPOINT ferry_bulk_lock"))
		return -1;
	if (got >= 0 && !pg_exec(conn, "RELEASE SAVEPOINT ferry_bulk_lock"))
		return -1;
	return got;
}

static bool
save_and_drop(PGconn *conn, const bulk_target *t, PGresult *cand, bool with_uuid, int *dropped,
			  bool *not_owner)
{
	/* save every definition first (same transaction), then drop: foreign keys, key, indexes */
	for (int r = 0; r < PQntuples(cand); r++)
	{
		if (!with_uuid && strcmp(PQgetvalue(cand, r, C_PART), "index") != 0)
			continue;
		const char *params[8] = {t->table_sql, PQgetvalue(cand, r, C_NAME), PQgetvalue(cand, r, C_ON),
			PQgetvalue(cand, r, C_KIND), PQgetvalue(cand, r, C_ORD), PQgetvalue(cand, r, C_DEF),
			t->run, t->entity};
		PGresult *res = pg_query(conn, "INSERT INTO ferry.bulk_indexes (target, name, on_table, kind, "
								 "ord, definition, run_id, entity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
								 8, params);

		if (res == NULL)
			return false;
		PQclear(res);
	}
	for (int pass = 0; pass < 3; pass++)
	{
		static const char *const order[3] = {"fk", "uuid", "index"};

		for (int r = 0; r < PQntuples(cand); r++)
		{
			if (strcmp(PQgetvalue(cand, r, C_PART), order[pass]) != 0 || (!with_uuid && pass < 2))
				continue;
			PGresult *res = PQexec(conn, PQgetvalue(cand, r, C_DROP));

			if (PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

				/* a loading role that does not own the table: an ordinary load */
				if (state && strcmp(state, "42501") == 0)
				{
					log_info("bulk load of %s: not for this role (%s): an ordinary load",
							 t->table_sql, pg_errmsg(conn, res));
					*not_owner = true;
				}
				else
					log_error("target: %s", pg_errmsg(conn, res));
				PQclear(res);
				return false;
			}
			PQclear(res);
			log_info("bulk load of %s: %s %s dropped until the end of the load", t->table_sql,
					 PQgetvalue(cand, r, C_KIND), PQgetvalue(cand, r, C_NAME));
			(*dropped)++;
		}
	}
	return true;
}

bool
bulk_begin(PGconn *conn, const bulk_target *t, int *dropped)
{
	PGresult *cand = NULL;
	buf sql;
	bool ok = false, with_uuid = true, not_owner = false;
	char *keys = t->nkey > 0 ? key_array(t) : NULL;
	int rows;

	*dropped = 0;
	/*
	 * only the table's owner drops and builds its indexes, and only when it
	 * may create them again (an index needs CREATE on its schema): another
	 * role loads as usual, never leaving a table without its keys
	 */
	PGresult *own = pg_query(conn, "SELECT pg_has_role(relowner, 'USAGE') "
							 "AND has_schema_privilege(relnamespace, 'CREATE') FROM pg_class "
							 "WHERE oid = $1::regclass", 1, (const char *[]) {t->table_sql});

	if (own == NULL || PQntuples(own) != 1 || PQgetvalue(own, 0, 0)[0] != 't')
	{
		if (own && PQntuples(own) == 1)
			log_info("bulk load of %s: this role does not own it, or may not create in its schema: "
					 "an ordinary load", t->table_sql);
		ok = own != NULL;
		PQclear(own);
		free(keys);
		return ok;
	}
	PQclear(own);
	buf_init(&sql, 128);
	if (!pg_exec(conn, "BEGIN") || !pg_exec(conn, "SET LOCAL search_path = pg_catalog"))
		goto done;
	/* nobody writes the table between the look and the drop */
	buf_printf(&sql, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", t->table_sql);
	if (!pg_exec(conn, buf_cstr(&sql)) || (rows = has_rows(conn, t->table_sql)) < 0)
		goto done;
	if (rows)
	{
		ok = true;            /* rows already: an ordinary load */
		goto done;
	}
	cand = pg_query(conn, candidates_sql, 3, (const char *[]) {t->table_sql, t->uuid_column, keys});
	if (cand == NULL)
		goto done;
	/*
	 * The uuid key goes only when every other table that references it is
	 * empty, and free: its lock is taken without waiting (a session using
	 * that table keeps the key where it is rather than make the load wait).
	 */
	for (int r = 0; r < PQntuples(cand) && with_uuid; r++)
		if (!PQgetisnull(cand, r, C_REF))
		{
			const char *ref = PQgetvalue(cand, r, C_REF);
			int free_lock = lock_nowait(conn, ref), ref_rows = 0;

			if (free_lock < 0 || (free_lock && (ref_rows = has_rows(conn, ref)) < 0))
				goto done;
			if (!free_lock || ref_rows)
			{
				log_info("bulk load of %s: its key %s stays (%s references it and %s)",
						 t->table_sql, t->uuid_column, ref, free_lock ? "has rows" : "is in use");
				with_uuid = false;
			}
		}
	ok = save_and_drop(conn, t, cand, with_uuid, dropped, &not_owner);
	if (!ok && not_owner)
	{
		ok = true;            /* rolled back below: nothing dropped */
		*dropped = 0;
	}
done:
	PQclear(cand);
	buf_free(&sql);
	free(keys);
	if (ok && *dropped > 0)
		ok = pg_exec(conn, "COMMIT");
	else
		PQclear(PQexec(conn, "ROLLBACK"));
	if (ok && *dropped > 0)
		event_emit("bulk_begin", "\"dropped\":%d", *dropped);
	return ok;
}

/* ---- rebuilding ---- */

static bool
still_missing(PGconn *conn, const char *kind, const char *name, const char *on_table, bool *missing)
{
	const char *params[2] = {on_table, name};
	PGresult *res = pg_query(conn, strcmp(kind, "index") == 0
							 ? "SELECT NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = $2 "
							 "AND c.relnamespace = (SELECT relnamespace FROM pg_class WHERE oid = $1::regclass))"
							 : "SELECT NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = $1::regclass "
							 "AND conname = $2)", 2, params);

	if (res == NULL)
		return false;
	*missing = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return true;
}

/*
 * One item, in a transaction with the deletion of its row.  A foreign key
 * whose rows do not all hold (ferry loads with the checks off: an orphan
 * verify reports) comes back NOT VALID rather than not at all.
 */
static bool
rebuild_one(PGconn *conn, const char *target, const char *name, const char *on_table,
			const char *kind, const char *def, bool is_fk)
{
	bool missing = true;
	const char *params[2] = {on_table, name};
	PGresult *res;

	if (!pg_exec(conn, "BEGIN") || !pg_exec(conn, "SET LOCAL search_path = pg_catalog") ||
		!still_missing(conn, kind, name, on_table, &missing))
		goto fail;
	if (missing)
	{
		res = PQexec(conn, def);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			if (!is_fk || state == NULL || strcmp(state, "23503") != 0)
			{
				log_error("target: rebuilding %s %s of %s: %s", kind, name, target, pg_errmsg(conn, res));
				PQclear(res);
				goto fail;
			}
			log_warn("target: foreign key %s of %s does not hold for every row (%s): added NOT VALID; "
					 "see ferry verify", name, on_table, pg_errmsg(conn, res));
			PQclear(res);
			buf nv;

			buf_init(&nv, strlen(def) + 16);
			buf_printf(&nv, "%s NOT VALID", def);
			bool ok = pg_exec(conn, "ROLLBACK") && pg_exec(conn, "BEGIN") &&
				pg_exec(conn, "SET LOCAL search_path = pg_catalog") && pg_exec(conn, nv.data);

			buf_free(&nv);
			if (!ok)
				goto fail;
		}
		else
			PQclear(res);
	}
	res = pg_query(conn, "DELETE FROM ferry.bulk_indexes WHERE on_table = $1 AND name = $2", 2, params);
	if (res == NULL)
		goto fail;
	PQclear(res);
	if (!pg_exec(conn, "COMMIT"))
		return false;
	log_info("bulk load of %s: %s %s %s", target, kind, name, missing ? "built again" : "was there already");
	return true;
fail:
	PQclear(PQexec(conn, "ROLLBACK"));
	return false;
}

/*
 * One rebuilder a table at a time: a load finishing and "ferry-load
 * --rebuild-indexes" started by a resume may meet.
 */
#define TABLE_LOCK "hashtextextended('ferry bulk ' || $1, 0)"

/*
 * A table another session writes (a killed load's batch still committing
 * in the server) cannot have an index built before that session ends: say
 * so when it is still in use after a second, then wait for it (TARGET is
 * SQL, quoted; a backend that is only ending is not worth a word)
 */
static void
say_if_in_use(PGconn *conn, const char *target)
{
	buf sql;
	PGresult *res;

	buf_init(&sql, 128);
	buf_printf(&sql, "BEGIN; SET LOCAL lock_timeout = '1s'; LOCK TABLE %s IN SHARE MODE", target);
	res = PQexec(conn, buf_cstr(&sql));
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (state && strcmp(state, "55P03") == 0)  /* lock_not_available: the timeout */
			log_warn("target: another session is using %s (an earlier attempt still committing?): "
					 "waiting for it to end", target);
	}
	PQclear(res);
	PQclear(PQexec(conn, "ROLLBACK"));
	buf_free(&sql);
}

static int
rebuild_table(PGconn *conn, const char *target)
{
	const char *params[1] = {target};
	PGresult *res;

	say_if_in_use(conn, target);
	res = pg_query(conn, "SELECT pg_advisory_lock(" TABLE_LOCK ")", 1, params);
	int code = FERRY_EXIT_OK, n = 0;
	int64_t started = now_us();

	if (res == NULL)
		return FERRY_EXIT_TARGET;
	PQclear(res);
	res = pg_query(conn, "SELECT name, on_table, kind, definition, ord = 2 FROM ferry.bulk_indexes "
				   "WHERE target = $1 ORDER BY ord, name", 1, params);
	if (res == NULL)
		code = FERRY_EXIT_TARGET;
	for (int r = 0; res && r < PQntuples(res) && code == FERRY_EXIT_OK; r++, n++)
		if (!rebuild_one(conn, target, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
						 PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4)[0] == 't'))
			code = FERRY_EXIT_TARGET;
	PQclear(res);
	res = pg_query(conn, "SELECT pg_advisory_unlock(" TABLE_LOCK ")", 1, params);
	PQclear(res);
	if (code == FERRY_EXIT_OK && n > 0)
		event_emit("bulk_rebuild", "\"rebuilt\":%d,\"ms\":%lld", n,
				   (long long) ((now_us() - started) / 1000));
	return code;
}

int
bulk_rebuild(PGconn *conn, const char *table_sql)
{
	const char *params[1] = {table_sql};
	PGresult *res;
	int code = FERRY_EXIT_OK;

	/* index builds sort: give them memory (and the server's parallel workers) */
	if (!pg_exec(conn, "SET maintenance_work_mem = '512MB'"))
		return FERRY_EXIT_TARGET;
	res = pg_query(conn, "SELECT DISTINCT target FROM ferry.bulk_indexes "
				   "WHERE $1::text IS NULL OR target = $1 ORDER BY 1", 1, params);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	for (int r = 0; r < PQntuples(res); r++)
	{
		int c = rebuild_table(conn, PQgetvalue(res, r, 0));

		if (c != FERRY_EXIT_OK)
			code = c;
	}
	PQclear(res);
	PQclear(PQexec(conn, "RESET maintenance_work_mem"));
	return code;
}
