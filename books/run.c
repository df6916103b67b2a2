/*
 * run.c: a run in ferry.runs: recorded (pending), started (running),
 * finished (done, failed, interrupted) with its totals.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"

static bool
exec_params(books *b, const char *sql, int n, const char *const *p)
{
	PGresult *res = pg_query(b->target, sql, n, p);
	bool ok = res != NULL;
	PQclear(res);
	return ok;
}

bool
books_move_run(books *b, const char *run, books_state to)
{
	const char *p[2] = {run, books_state_name(to)};
	PGresult *res = pg_query(b->target, "SELECT status FROM ferry.runs WHERE run_id = $1", 1, p);
	if (res == NULL)
		return false;
	if (PQntuples(res) == 0)
	{
		log_error("no run \"%s\"", run);
		PQclear(res);
		return false;
	}
	books_state from;
	if (!books_state_parse(PQgetvalue(res, 0, 0), &from) || !books_run_move_ok(from, to))
	{
		log_error("run %s is %s: it cannot become %s", run, PQgetvalue(res, 0, 0), books_state_name(to));
		PQclear(res);
		return false;
	}
	PQclear(res);
	const char *q[3] = {run, books_state_name(to), books_state_name(from)};
	/* the steps a run leaves running end as it does */
	if ((to == BS_INTERRUPTED || to == BS_FAILED) &&
		!exec_params(b, "UPDATE ferry.entity_runs SET status = $2, finished_at = now() "
					 "WHERE run_id = $1 AND status = 'running'", 2, q))
		return false;
	return exec_params(b,
		"UPDATE ferry.runs SET status = $2, "
		"finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE coalesce(finished_at, now()) END "
		"WHERE run_id = $1 AND status = $3", 3, q);
}

/* run-new RUN KIND PLAN_FILE PLAN_SHA256 WORKDIR SPOOL(t|f) SINCE */
int
books_run_new(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc != 8)
		return FERRY_EXIT_USAGE;
	char pid[32];
	snprintf(pid, sizeof pid, "%ld", b->pid);
	const char *p[9] = {argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argv[7],
						b->host ? b->host : "", pid};
	PGresult *res = PQexecParams(b->target,
		"INSERT INTO ferry.runs (run_id, kind, status, plan_file, plan_sha256, workdir, spool, since, "
		"                        driver_host, driver_pid) "
		"VALUES ($1, $2, 'pending', $3, $4, $5, $6 = 't', nullif($7, '')::timestamptz, $8, $9::int)",
		9, NULL, p, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok)
		log_error("cannot record the run (does run %s exist already?): %s", argv[1], pg_errmsg(b->target, res));
	PQclear(res);
	return ok ? FERRY_EXIT_OK : FERRY_EXIT_TARGET;
}

/*
 * full-check RUN ENTITY...: a new full run RUN is refused at once when
 * that run exists already, or on a destination that already holds rows of
 * these entities (each would be rejected as a duplicate): said with the
 * run that loaded them and what to do instead
 */
int
books_full_check(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	const char *r[1] = {argv[1]};
	PGresult *res = pg_query(b->target, "SELECT 1 FROM ferry.runs WHERE run_id = $1", 1, r);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	bool exists = PQntuples(res) > 0;
	PQclear(res);
	if (exists)
	{
		log_error("cannot record the run (does run %s exist already?)", argv[1]);
		return FERRY_EXIT_TARGET;
	}
	buf list;
	buf_init(&list, 256);
	for (int i = 2; i < argc; i++)
	{
		buf_puts(&list, argv[i]);
		buf_putc(&list, '\n');
	}
	const char *p[1] = {buf_cstr(&list)};
	res = pg_query(b->target,
		"SELECT m.entity, m.run_id, r.status FROM unnest(string_to_array(rtrim($1, E'\\n'), E'\\n')) e(entity) "
		"CROSS JOIN LATERAL (SELECT entity, run_id FROM ferry.id_map WHERE entity = e.entity LIMIT 1) m "
		"LEFT JOIN ferry.runs r ON r.run_id = m.run_id LIMIT 1", 1, p);
	buf_free(&list);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	int rc = FERRY_EXIT_OK;
	if (PQntuples(res) > 0)
	{
		const char *run = PQgetvalue(res, 0, 1), *status = PQgetvalue(res, 0, 2);
		if (strcmp(status, "done") == 0)
			log_error("run: the destination already holds the rows of run %s (entity %s ...): a second full run "
					  "would refuse each as a duplicate; bring what changed with ferry run --incremental, "
					  "or undo run %s first (ferry rollback %s)", run, PQgetvalue(res, 0, 0), run, run);
		else
			log_error("run: the destination already holds the rows of run %s (entity %s ..., a run %s): "
					  "finish it with ferry resume %s, or undo it (ferry rollback %s); then ferry run --incremental",
					  run, PQgetvalue(res, 0, 0), status[0] ? status : "gone", run, run);
		rc = FERRY_EXIT_USAGE;
	}
	PQclear(res);
	return rc;
}

/* since OVERLAP_SECONDS: "PREV_RUN SINCE" of an incremental run, nothing without a done run */
static int
since(books *b, int argc, char **argv, buf *reply)
{
	if (argc != 2)
		return FERRY_EXIT_USAGE;
	const char *p[1] = {argv[1]};
	PGresult *res = pg_query(b->target,
		"SELECT run_id, source_time - make_interval(secs => $1::int) FROM ferry.runs "
		"WHERE status = 'done' AND source_time IS NOT NULL ORDER BY source_time DESC LIMIT 1", 1, p);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	if (PQntuples(res) == 1)
		buf_printf(reply, "\t%s\t%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return FERRY_EXIT_OK;
}

int
books_since(books *b, int argc, char **argv, buf *reply)
{
	return since(b, argc, argv, reply);
}

/* run-start RUN SNAPSHOT SOURCE_TIME: the run (pending, failed, interrupted) running */
int
books_run_start(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc != 4)
		return FERRY_EXIT_USAGE;
	if (!books_move_run(b, argv[1], BS_RUNNING))
		return FERRY_EXIT_USAGE;
	char pid[32];
	snprintf(pid, sizeof pid, "%ld", b->pid);
	const char *p[5] = {argv[1], argv[2], argv[3], b->host ? b->host : "", pid};
	PGresult *res = pg_query(b->target,
		"UPDATE ferry.runs SET snapshot = nullif($2, ''), "
		"source_time = coalesce(source_time, nullif($3, '')::timestamptz), "
		"driver_host = $4, driver_pid = $5::int, attempt_started_at = now() WHERE run_id = $1 RETURNING kind", 5, p);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	buf f;
	buf_init(&f, 128);
	buf_puts(&f, "\"kind\":");
	buf_json_string(&f, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
	buf_puts(&f, ",\"snapshot\":");
	buf_json_string(&f, argv[2], strlen(argv[2]));
	event_set_context(argv[1], NULL);
	event_emit("run_start", "%s", buf_cstr(&f));
	buf_free(&f);
	PQclear(res);
	return FERRY_EXIT_OK;
}

/*
 * run-finish RUN STATE: the run done, failed or interrupted, with its
 * totals: the rows its entities brought (a fix-up step updates rows its
 * entity brought) and every row it rejected (a fix-up step's too, so that
 * the total is the rejects by reason).  Only a done run has a success
 * rate: loaded rows whose fix-up did not fail, per source row.  An
 * incremental run counts the rows it rejected for the first time: a row
 * read again that an earlier run rejected for the same reason is not a
 * new failure.  Replies the success rate ("" without one).  The events
 * file gets run_end, run_failed (with EXIT when given) or run_interrupted.
 */
int
books_run_finish(books *b, int argc, char **argv, buf *reply)
{
	books_state to;
	if ((argc != 3 && argc != 4) || !books_state_parse(argv[2], &to))
		return FERRY_EXIT_USAGE;
	if (!books_move_run(b, argv[1], to))
		return FERRY_EXIT_USAGE;
	const char *p[2] = {argv[1], argv[2]};
	PGresult *res = pg_query(b->target,
		"UPDATE ferry.runs r SET finished_at = now(), "
		"    source_rows = t.src, loaded_rows = t.loaded, rejected_rows = t.rej, "
		"    success_rate = CASE WHEN $2 <> 'done' THEN NULL "
		"                        WHEN t.loaded + t.erej - t.again > 0 "
		"                        THEN round(100.0 * greatest(t.loaded - t.frej, 0) / (t.loaded + t.erej - t.again), 4) "
		"                        ELSE 100 END "
		"FROM (SELECT coalesce(sum(source_rows) FILTER (WHERE entity NOT LIKE '%:%'), 0) AS src, "
		"             coalesce(sum(loaded_rows) FILTER (WHERE entity NOT LIKE '%:%'), 0) AS loaded, "
		"             coalesce(sum(rejected_rows), 0) AS rej, "
		"             coalesce(sum(rejected_rows) FILTER (WHERE entity NOT LIKE '%:%'), 0) AS erej, "
		"             coalesce(sum(rejected_rows) FILTER (WHERE entity LIKE '%:%'), 0) AS frej, "
		"             (SELECT count(*) FROM ferry.rejects x JOIN ferry.runs xr ON xr.run_id = x.run_id "
		"              WHERE x.run_id = $1 AND x.disposition = 'rejected' AND xr.kind = 'incremental' "
		"                AND x.phase NOT LIKE 'fixup%' "
		"                AND EXISTS (SELECT 1 FROM ferry.rejects y JOIN ferry.runs yr ON yr.run_id = y.run_id "
		"                            WHERE y.entity = x.entity AND y.legacy_id = x.legacy_id "
		"                              AND y.reason = x.reason AND y.disposition = 'rejected' "
		"                              AND yr.started_at < xr.started_at AND yr.status <> 'rolled_back')) AS again "
		"      FROM ferry.entity_runs WHERE run_id = $1) t "
		"WHERE r.run_id = $1 RETURNING coalesce(r.success_rate::text, '')", 2, p);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	if (PQntuples(res) == 1)
		buf_printf(reply, "\t%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	event_set_context(argv[1], NULL);
	if (to == BS_DONE)
		event_emit("run_end", NULL);
	else if (to == BS_FAILED && argc == 4)
		event_emit("run_failed", "\"exit\":%d", atoi(argv[3]));
	else
		event_emit(to == BS_FAILED ? "run_failed" : "run_interrupted", NULL);
	return FERRY_EXIT_OK;
}

/*
 * resumable [RUN]: "RUN STATUS KIND WORKDIR SINCE PREV_RUN" of the run to
 * resume: RUN, or the latest still running or interrupted (killed, even
 * before its first step), or failed after a step began (a run that failed
 * at its start has nothing to resume)
 */
int
books_resumable(books *b, int argc, char **argv, buf *reply)
{
	const char *p[1] = {argc > 1 ? argv[1] : ""};
	PGresult *res = pg_query(b->target,
		"SELECT r.run_id, r.status, r.kind, coalesce(r.workdir, ''), coalesce(r.since::text, ''), "
		"       coalesce((SELECT x.run_id FROM ferry.runs x WHERE x.status = 'done' AND x.source_time IS NOT NULL "
		"                 AND x.started_at < r.started_at ORDER BY x.source_time DESC LIMIT 1), ''), "
		"       EXISTS (SELECT 1 FROM ferry.entity_runs e WHERE e.run_id = r.run_id AND e.status <> 'pending') "
		"FROM ferry.runs r "
		"WHERE CASE WHEN $1 <> '' THEN r.run_id = $1 "
		"           ELSE r.status IN ('running', 'interrupted') OR (r.status = 'failed' AND EXISTS "
		"                (SELECT 1 FROM ferry.entity_runs e WHERE e.run_id = r.run_id AND e.status <> 'pending')) END "
		"ORDER BY r.started_at DESC LIMIT 1", 1, p);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	int rc = FERRY_EXIT_OK;
	if (PQntuples(res) == 0)
	{
		if (p[0][0])
			log_error("resume: no run \"%s\"", p[0]);
		else
			log_error("resume: no unfinished run");
		rc = FERRY_EXIT_USAGE;
	}
	else if (strcmp(PQgetvalue(res, 0, 1), "rolled_back") == 0)
	{
		log_error("resume: run %s was rolled back", p[0]);
		rc = FERRY_EXIT_USAGE;
	}
	else if (strcmp(PQgetvalue(res, 0, 1), "failed") == 0 && PQgetvalue(res, 0, 6)[0] != 't')
	{
		log_error("resume: run %s failed at its start, before any step: nothing to resume (start a new run)",
				  PQgetvalue(res, 0, 0));
		rc = FERRY_EXIT_USAGE;
	}
	else
		for (int i = 0; i < 6; i++)
			buf_printf(reply, "\t%s", PQgetvalue(res, 0, i));
	PQclear(res);
	return rc;
}
