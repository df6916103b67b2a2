/*
 * freeze.c: the guard of a cutover (ferry-delete --freeze FILE): no
 * session writes to the source tables of the plan while the last run reads
 * them and verification compares them.
 *
 * Where the role may, LOCK TABLE ... IN SHARE MODE on every source table
 * (each entity's source and merges): it waits for the write transactions
 * under way (at most --lock-timeout) and then holds every new write back
 * until this process ends, while reads go on.  The run's snapshot is taken
 * after it, so that it holds every committed write.  Where the role may not
 * (no UPDATE, DELETE or TRUNCATE privilege on a table), the locks granted
 * to other sessions are checked instead: a transaction that has written to
 * a source table and not ended holds ROW EXCLUSIVE on it.  A session that
 * writes between two checks is not seen by this check; verification, which
 * reads the source again at the end, is.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "delete.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "pgconn.h"

/* the plan's source tables that exist, as a regclass[] literal's text */
static char *
source_tables(PGconn *src, const plan *p, int *n)
{
	buf list, lit;
	PGresult *res;
	char *out = NULL;

	buf_init(&list, 1024);
	buf_putc(&list, '{');
	for (int i = 0; i < p->nentities; i++)
	{
		const plan_entity *e = &p->entities[i];

		for (int m = -1; m < e->nmerges; m++)
		{
			const char *t = m < 0 ? e->source : e->merges[m];

			if (t == NULL)
				continue;
			char *q = pg_qualified(t);

			if (list.len > 1)
				buf_putc(&list, ',');
			buf_putc(&list, '"');
			for (const char *c = q; *c; c++)
			{
				if (*c == '"' || *c == '\\')
					buf_putc(&list, '\\');
				buf_putc(&list, *c);
			}
			buf_putc(&list, '"');
			free(q);
		}
	}
	buf_putc(&list, '}');
	buf_init(&lit, list.len + 64);
	const char *params[1] = {buf_cstr(&list)};

	res = pg_query(src, "SELECT coalesce(array_agg(DISTINCT r ORDER BY r)::text, '{}'), count(DISTINCT r) "
				   "FROM unnest($1::text[]) t, LATERAL (SELECT to_regclass(t)::text AS r) x "
				   "WHERE r IS NOT NULL", 1, params);
	if (res)
	{
		out = xstrdup(PQgetvalue(res, 0, 0));
		*n = atoi(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	buf_free(&list);
	buf_free(&lit);
	return out;
}

/* the sessions holding a write lock on a source table: one line each; how many */
static int
writers(PGconn *src, const char *tables)
{
	const char *params[1] = {tables};
	PGresult *res = pg_query(src,
		"SELECT l.pid, coalesce(a.usename, '?'), coalesce(nullif(a.application_name, ''), '?'), "
		"       coalesce(host(a.client_addr), 'local'), string_agg(DISTINCT l.relation::regclass::text, ', '), "
		"       coalesce(a.state, '?') "
		"FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
		"WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_backend_pid() "
		"  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
		"  AND l.mode IN ('RowExclusiveLock', 'ShareRowExclusiveLock', 'ExclusiveLock', "
		"                 'AccessExclusiveLock') "
		"  AND l.relation = ANY ($1::regclass[]) "
		"GROUP BY 1, 2, 3, 4, 6 ORDER BY 1", 1, params);
	int n;

	if (res == NULL)
		return -1;
	n = PQntuples(res);
	for (int i = 0; i < n; i++)
		log_error("source: session %s (user %s, application %s, from %s, %s) writes to %s",
				  PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
				  PQgetvalue(res, i, 3), PQgetvalue(res, i, 5), PQgetvalue(res, i, 4));
	PQclear(res);
	return n;
}

int
freeze_source(PGconn *src, const plan *p, const char *ready_file, int lock_timeout_s, bool check_only)
{
	int ntables = 0, nw;
	char *tables = source_tables(src, p, &ntables);
	const char *how = "checked";
	buf sql;

	if (tables == NULL)
		return FERRY_EXIT_SOURCE;
	buf_init(&sql, 1024);
	if (!check_only && ntables > 0)
	{
		buf_printf(&sql, "BEGIN; SET LOCAL lock_timeout = '%ds'; "
				   "SELECT format('LOCK TABLE %%s IN SHARE MODE', string_agg(t::text, ', ')) "
				   "FROM unnest(", lock_timeout_s);
		pg_append_literal(&sql, tables);
		buf_puts(&sql, "::regclass[]) t");
		PGresult *res = PQexec(src, buf_cstr(&sql));

		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			char *lock = xstrdup(PQgetvalue(res, 0, 0));

			PQclear(res);
			res = PQexec(src, lock);
			free(lock);
		}
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (PQresultStatus(res) == PGRES_COMMAND_OK)
			how = "locked";
		else if (state && strcmp(state, "55P03") == 0)
		{
			/* the lock waited past --lock-timeout: a write transaction is open */
			PQclear(res);
			pg_exec(src, "ROLLBACK");
			writers(src, tables);
			log_error("source: the source tables are being written (no SHARE lock within %d s): "
					  "stop the application, then run the cutover again", lock_timeout_s);
			free(tables);
			buf_free(&sql);
			return FERRY_EXIT_WRITERS;
		}
		else if (state && strcmp(state, "42501") == 0)
			log_info("source: the role may not lock the source tables (%s); checking the "
					 "sessions instead", pg_errmsg(src, res));
		else
		{
			log_error("source: %s", pg_errmsg(src, res));
			PQclear(res);
			free(tables);
			buf_free(&sql);
			return FERRY_EXIT_SOURCE;
		}
		PQclear(res);
		if (strcmp(how, "locked") != 0)
			pg_exec(src, "ROLLBACK");
	}
	buf_free(&sql);
	if (strcmp(how, "checked") == 0)
	{
		nw = writers(src, tables);
		if (nw != 0)
		{
			free(tables);
			if (nw < 0)
				return FERRY_EXIT_SOURCE;
			log_error("source: %d session%s still write%s to the source tables: stop the application, "
					  "then run the cutover again", nw, nw == 1 ? "" : "s", nw == 1 ? "s" : "");
			return FERRY_EXIT_WRITERS;
		}
	}
	free(tables);

	buf line;

	buf_init(&line, 64);
	buf_printf(&line, "%s\t%d\n", how, ntables);
	if (!write_file_atomic(ready_file, line.data, line.len))
		return FERRY_EXIT_IO;
	buf_free(&line);
	log_info("source: %d tables %s; holding until stopped", ntables, how);

	/* hold until terminated, or until the process that started us is gone */
	pid_t parent = getppid();

	while (!io_interrupted && getppid() == parent)
	{
		sleep(1);
		if (!PQconsumeInput(src) || PQstatus(src) != CONNECTION_OK)
		{
			log_error("source: %s (the session holding the cutover's locks)", pg_errmsg(src, NULL));
			return FERRY_EXIT_SOURCE;
		}
	}
	if (strcmp(how, "locked") == 0)
		pg_exec(src, "COMMIT");
	return FERRY_EXIT_OK;
}
