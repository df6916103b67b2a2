/*
 * step.c: the steps of a run in ferry.entity_runs (an entity, or the
 * fix-up of a deferred column "offices:billing_address_id"), the key
 * ranges of a split one, and the events of its stages in ferry.audit_log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "books.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "watch.h"
#include "plan.h"

static int
exec_params(books *b, const char *sql, int n, const char *const *p)
{
	PGresult *res = pg_query(b->target, sql, n, p);
	PQclear(res);
	return res ? FERRY_EXIT_OK : FERRY_EXIT_TARGET;
}

/* "a\nb\n" of argv[from..argc-1] */
static void
lines_of(buf *out, int argc, char **argv, int from)
{
	for (int i = from; i < argc; i++)
	{
		buf_puts(out, argv[i]);
		buf_putc(out, '\n');
	}
}

/*
 * The rows a full run's entities should bring, from the source catalog:
 * reltuples, or the count of a table of at most 64 MB never analysed.  A
 * read-only query a table that never waits long; a failure only loses
 * the estimates.  est[i] is -1 where unknown.
 */
static void
estimate_rows(books *b, const plan *pl, int n, char **steps, int64_t *est)
{
	for (int i = 0; i < n; i++)
		est[i] = -1;
	PGconn *src = books_source(b);
	if (src == NULL)
		return;
	PQclear(PQexec(src, "SET lock_timeout = '2s'; SET statement_timeout = '20s'"));
	for (int i = 0; i < n; i++)
	{
		if (strchr(steps[i], ':'))
			continue;
		const plan_entity *e = plan_find(pl, steps[i]);
		if (e == NULL || e->source == NULL || e->target == NULL)
			continue;
		char *qname = pg_qualified(e->source);
		const char *p[1] = {qname};
		PGresult *res = PQexecParams(src,
			"SELECT CASE WHEN c.reltuples > 0 OR (c.reltuples = 0 AND c.relpages > 0) THEN c.reltuples::bigint "
			"            WHEN c.relkind IN ('r', 'm') AND pg_relation_size(c.oid) <= 64 * 1024 * 1024 THEN -2 END, "
			"       c.oid::regclass::text "
			"FROM pg_class c WHERE c.oid = to_regclass($1)", 1, NULL, p, NULL, NULL, 0);
		free(qname);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		{
			est[i] = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			if (est[i] == -2)
			{
				buf q;
				buf_init(&q, 128);
				buf_puts(&q, "SELECT count(*) FROM ");
				buf_puts(&q, PQgetvalue(res, 0, 1));   /* regclass text: quoted as needed */
				PGresult *cnt = PQexec(src, buf_cstr(&q));
				est[i] = PQresultStatus(cnt) == PGRES_TUPLES_OK ? strtoll(PQgetvalue(cnt, 0, 0), NULL, 10) : -1;
				PQclear(cnt);
				buf_free(&q);
			}
		}
		PQclear(res);
	}
}

/*
 * steps RUN KIND PLAN STEP...: every step of the run in ferry.entity_runs,
 * pending until it begins, with the rows it should bring (a full run:
 * the source's estimate; unknown in an incremental run).  Steps that have
 * a row already (resume) keep it.
 */
int
books_steps(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc < 4)
		return FERRY_EXIT_USAGE;
	int n = argc - 4;
	int64_t *est = xcalloc((size_t) (n > 0 ? n : 1), sizeof *est);
	for (int i = 0; i < n; i++)
		est[i] = -1;
	if (strcmp(argv[2], "full") == 0)
	{
		plan *pl = plan_load(argv[3]);
		if (pl)
		{
			estimate_rows(b, pl, n, argv + 4, est);
			plan_free(pl);
		}
	}
	buf names, rows;
	buf_init(&names, 1024);
	buf_init(&rows, 256);
	lines_of(&names, argc, argv, 4);
	for (int i = 0; i < n; i++)
	{
		if (est[i] >= 0)
			buf_printf(&rows, "%" PRId64, est[i]);
		buf_putc(&rows, '\n');
	}
	free(est);
	const char *p[3] = {argv[1], buf_cstr(&names), buf_cstr(&rows)};
	int rc = exec_params(b,
		"INSERT INTO ferry.entity_runs (run_id, entity, status, expected_rows) "
		"SELECT $1, s, 'pending', nullif(r, '')::bigint "
		"FROM unnest(string_to_array(rtrim($2, E'\\n'), E'\\n'), string_to_array(rtrim($3, E'\\n'), E'\\n')) x(s, r) "
		"WHERE s IS NOT NULL "
		"ON CONFLICT (run_id, entity) DO UPDATE "
		"SET expected_rows = coalesce(ferry.entity_runs.expected_rows, excluded.expected_rows)", 3, p);
	buf_free(&names);
	buf_free(&rows);
	return rc;
}

/*
 * step-begin RUN STEP: "STATE EXPECTED INCREMENTAL KEY TARGET": the state
 * an earlier attempt left (pending the first time) and the rows expected;
 * then, from the session's plan (verb "plan"), the entity's incremental
 * expression, key columns (comma-joined) and target.  The step is then
 * running, unless it is done (a resume skips it).
 */
int
books_step_begin(books *b, int argc, char **argv, buf *reply)
{
	if (argc != 3)
		return FERRY_EXIT_USAGE;
	const char *p[2] = {argv[1], argv[2]};
	PGresult *res = pg_query(b->target,
		"SELECT status, coalesce(expected_rows::text, '') FROM ferry.entity_runs WHERE run_id = $1 AND entity = $2",
		2, p);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	books_state from = BS_PENDING;
	char expected[32] = "";
	if (PQntuples(res) == 1)
	{
		if (!books_state_parse(PQgetvalue(res, 0, 0), &from))
			from = BS_NSTATES;
		snprintf(expected, sizeof expected, "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	buf_printf(reply, "\t%s\t%s", books_state_name(from), expected);
	char *entity = xstrndup(argv[2], strcspn(argv[2], ":"));
	const plan_entity *e = b->plan ? plan_find(b->plan, entity) : NULL;
	free(entity);
	buf_printf(reply, "\t%s\t", e && e->incremental ? e->incremental : "");
	for (int k = 0; e && k < e->nkey; k++)
		buf_printf(reply, "%s%s", k ? "," : "", e->key[k]);
	buf_printf(reply, "\t%s", e && e->target ? e->target : "");
	if (from == BS_DONE)
		return FERRY_EXIT_OK;
	if (!books_step_move_ok(from, BS_RUNNING))
	{
		log_error("step %s of run %s is %s: it cannot begin", argv[2], argv[1], books_state_name(from));
		return FERRY_EXIT_INTERNAL;
	}
	return exec_params(b,
		"INSERT INTO ferry.entity_runs (run_id, entity, status, started_at, attempt_started_at) "
		"VALUES ($1, $2, 'running', now(), now()) "
		"ON CONFLICT (run_id, entity) DO UPDATE SET status = 'running', "
		"    started_at = coalesce(ferry.entity_runs.started_at, now()), attempt_started_at = now(), "
		"    finished_at = NULL", 2, p);
}

/* the text of the events file FILE in out ("" when there is none: a stage
 * that never started wrote none); false (logged) when it cannot be read */
static bool
read_events(const char *file, buf *out)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		if (errno == ENOENT)
			return true;
		log_error("cannot read the events of %s: %s", file, strerror(errno));
		return false;
	}
	ssize_t n;
	do
	{
		buf_grow(out, 65536);
		n = read(fd, out->data + out->len, 65536);
		if (n > 0)
			out->len += (size_t) n;
	} while (n > 0 || (n < 0 && errno == EINTR));
	int err = errno;
	close(fd);
	if (n < 0)
		log_error("cannot read the events of %s: %s", file, strerror(err));
	return n == 0;
}

/*
 * The JSON lines of FILE into ferry.audit_log (tagged with STEP when
 * given), in one statement that also says, in peaks when not NULL, the
 * peak memory of each program of those events in kB
 * ("ferry-extract=N,ferry-load=N", "-" for none).
 */
bool
books_import_events(books *b, const char *file, const char *step, buf *peaks)
{
	buf text;
	buf_init(&text, 4096);
	if (!read_events(file, &text))
	{
		buf_free(&text);
		return false;
	}
	const char *p[2] = {buf_cstr(&text), step ? step : ""};
	PGresult *res = pg_query(b->target,
		"WITH e AS (SELECT line::jsonb AS j FROM unnest(string_to_array($1, E'\\n')) line WHERE line <> ''), "
		"ins AS (INSERT INTO ferry.audit_log (ts, run_id, program, entity, event, data) "
		"        SELECT (j->>'ts')::timestamptz, j->>'run', j->>'prog', j->>'entity', j->>'event', "
		"               CASE WHEN $2 = '' THEN j ELSE j || jsonb_build_object('step', $2) END FROM e) "
		"SELECT coalesce((SELECT string_agg(p || '=' || kb, ',' ORDER BY p) FROM ( "
		"    SELECT j->>'prog' AS p, max((j->>'max_rss_kb')::bigint) AS kb FROM e "
		"    WHERE j->>'event' LIKE '%\\_end' AND j ? 'max_rss_kb' GROUP BY 1) m), '-')", 2, p);
	buf_free(&text);
	if (res == NULL)
		return false;
	if (peaks)
		buf_puts(peaks, PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
}

/* plan FILE: the run's plan, read once for the fields of every step */
int
books_plan(books *b, int argc, char **argv, buf *reply)
{
	(void) argc;
	(void) reply;
	if (b->plan)
		plan_free(b->plan);
	b->plan = plan_load(argv[1]);
	return b->plan ? FERRY_EXIT_OK : FERRY_EXIT_USAGE;
}

/* "FILE.recorded": a file recorded is never recorded again */
static void
mark_recorded(const char *file)
{
	char *to = NULL;
	if (asprintf(&to, "%s.recorded", file) > 0)
	{
		if (rename(file, to) != 0 && errno != ENOENT)
			log_warn("cannot rename %s: %s", file, strerror(errno));
		free(to);
	}
}

/* import FILE: the driver's own events at the end of an attempt */
int
books_import(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc != 2)
		return FERRY_EXIT_USAGE;
	if (!pg_exec(b->target, "BEGIN"))
		return FERRY_EXIT_TARGET;
	if (!books_import_events(b, argv[1], NULL, NULL) || !pg_exec(b->target, "COMMIT"))
	{
		PQclear(PQexec(b->target, "ROLLBACK"));
		return FERRY_EXIT_TARGET;
	}
	mark_recorded(argv[1]);
	return FERRY_EXIT_OK;
}

/*
 * step-finish RUN STEP STATE PHASE EVENTS: the step done, failed or
 * interrupted, in one transaction with the events of its stages (tagged
 * with the step) and its counts from the checkpoints of its load (a split
 * entity has one a part: load/1, load/2 ...).  Replies "LOADED REJECTED
 * REPAIRED PEAKS SECONDS", PEAKS the peak memory of each stage in kB
 * (ferry-extract=N,ferry-load=N ..., "-" for none), SECONDS the attempt's.
 * A failed step names the stage that failed and its exit code (WHO EXIT).
 * The driver's events file gets entity_done, entity_failed or
 * entity_interrupted once the books say so.
 */
int
books_step_finish(books *b, int argc, char **argv, buf *reply)
{
	books_state to;
	if ((argc != 6 && argc != 8) || !books_state_parse(argv[3], &to) || !books_step_move_ok(BS_RUNNING, to))
		return FERRY_EXIT_USAGE;
	const char *p[4] = {argv[1], argv[2], argv[3], argv[4]};
	if (!pg_exec(b->target, "BEGIN"))
		return FERRY_EXIT_TARGET;
	PGresult *res = NULL;
	buf peaks;
	buf_init(&peaks, 64);
	/* the counts only when the load left checkpoints (k.n > 0); the reply
	 * from the row as updated, or as it is when it was not running */
	static const char *const reply_cols =
		"coalesce(loaded_rows, 0), coalesce(rejected_rows, 0), coalesce(noted_rows, 0), "
		"floor(extract(epoch FROM finished_at - coalesce(attempt_started_at, started_at)))::bigint";
	buf sql;
	buf_init(&sql, 2048);
	buf_printf(&sql,
		"UPDATE ferry.entity_runs r SET status = $3, finished_at = now(), "
		/* done without a checkpoint: a step that ran no stage (nothing changed), 0 rows */
		"    loaded_rows = CASE WHEN k.n > 0 THEN k.rows_loaded WHEN $3 = 'done' THEN coalesce(r.loaded_rows, 0) "
		"                  ELSE r.loaded_rows END, "
		"    rejected_rows = CASE WHEN k.n > 0 THEN k.rows_rejected WHEN $3 = 'done' THEN coalesce(r.rejected_rows, 0) "
		"                    ELSE r.rejected_rows END, "
		"    source_rows = CASE WHEN k.n > 0 THEN k.rows_loaded + k.rows_rejected "
		"                  WHEN $3 = 'done' THEN coalesce(r.source_rows, 0) ELSE r.source_rows END, "
		"    expected_rows = CASE WHEN $3 = 'done' AND k.n > 0 THEN k.rows_loaded + k.rows_rejected "
		"                         ELSE r.expected_rows END, "
		"    noted_rows = CASE WHEN k.n > 0 THEN (SELECT count(*) FROM ferry.rejects x WHERE x.run_id = $1 "
		"                  AND x.entity = split_part($2, ':', 1) AND x.disposition = 'repaired' "
		"                  AND (x.phase = $4 OR x.phase LIKE $4 || '/%%')) ELSE r.noted_rows END, "
		"    max_key = CASE WHEN k.n > 0 THEN k.last_key ELSE r.max_key END "
		"FROM (SELECT count(*) AS n, sum(rows_loaded) AS rows_loaded, sum(rows_rejected) AS rows_rejected, "
		"             (array_agg(last_key ORDER BY length(last_key) DESC, last_key DESC))[1] AS last_key "
		"      FROM ferry.checkpoints WHERE run_id = $1 AND entity = split_part($2, ':', 1) "
		"        AND (phase = $4 OR phase LIKE $4 || '/%%')) k "
		"WHERE r.run_id = $1 AND r.entity = $2 AND r.status = 'running' RETURNING %s", reply_cols);
	bool ok = books_import_events(b, argv[5], argv[2], &peaks) &&
		(res = pg_query(b->target, buf_cstr(&sql), 4, p)) != NULL;
	buf_free(&sql);
	if (ok && PQntuples(res) == 0)
	{
		PQclear(res);
		buf q;
		buf_init(&q, 256);
		buf_printf(&q, "SELECT %s FROM ferry.entity_runs WHERE run_id = $1 AND entity = $2", reply_cols);
		ok = (res = pg_query(b->target, buf_cstr(&q), 2, p)) != NULL;
		buf_free(&q);
	}
	ok = ok && pg_exec(b->target, "COMMIT");
	if (!ok)
	{
		PQclear(res);
		buf_free(&peaks);
		PQclear(PQexec(b->target, "ROLLBACK"));
		return FERRY_EXIT_TARGET;
	}
	mark_recorded(argv[5]);
	if (PQntuples(res) == 1)
	{
		const char *loaded = PQgetvalue(res, 0, 0), *rejected = PQgetvalue(res, 0, 1);
		const char *noted = PQgetvalue(res, 0, 2), *secs = PQgetvalue(res, 0, 3);
		buf_printf(reply, "\t%s\t%s\t%s\t%s\t%s", loaded, rejected, noted, buf_cstr(&peaks), secs);
		event_set_context(argv[1], argv[2]);
		if (to == BS_DONE)
			event_emit("entity_done", "\"loaded\":%s,\"rejected\":%s,\"noted\":%s,\"seconds\":%s",
					   loaded, rejected, noted, secs[0] ? secs : "0");
		else if (to == BS_FAILED && argc == 8)
		{
			buf f;
			buf_init(&f, 64);
			buf_puts(&f, "\"stage\":");
			buf_json_string(&f, argv[6], strlen(argv[6]));
			buf_printf(&f, ",\"exit\":%d", atoi(argv[7]));
			event_emit("entity_failed", "%s", buf_cstr(&f));
			buf_free(&f);
		}
		else
			event_emit(to == BS_FAILED ? "entity_failed" : "entity_interrupted", NULL);
	}
	PQclear(res);
	buf_free(&peaks);
	return FERRY_EXIT_OK;
}

/*
 * step-end RUN STEP PHASE EVENTS pipes|spool RC_EXTRACT RC_TRANSFORM RC_LOAD:
 * blame and step-finish in one request (one round trip a step): the step
 * done when no stage failed, else failed with the stage blamed.  Replies
 * "EXIT STAGE" then step-finish's fields.
 */
int
books_step_end(books *b, int argc, char **argv, buf *reply)
{
	(void) argc;
	const char *who;
	int rc = books_blame(argv[5][0] == 'p', atoi(argv[6]), atoi(argv[7]), atoi(argv[8]), &who);
	char code[16];
	snprintf(code, sizeof code, "%d", rc);
	char *fin[8] = {"step-finish", argv[1], argv[2], rc ? "failed" : "done", argv[3], argv[4], (char *) who, code};
	buf_printf(reply, "\t%d\t%s", rc, who);
	return books_step_finish(b, rc ? 8 : 6, fin, reply);
}

/*
 * clear-attempt RUN ENTITY PHASE: a failed or killed attempt's rejects
 * and checkpoint forgotten before it is done again.  A killed load of the
 * step may still be committing its last batch in the server: its session
 * holds the step's lock (ferry-load) while it lives, so wait for it.
 */
int
books_clear_attempt(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc != 4)
		return FERRY_EXIT_USAGE;
	const char *p[3] = {argv[1], argv[2], argv[3]};
	int rc = exec_params(b,
		"SELECT pg_advisory_lock(k), pg_advisory_unlock(k) "
		"FROM (SELECT hashtextextended('ferry load ' || $1 || ' ' || $2 || ' ' || $3, 0) AS k) s", 3, p);
	if (rc == FERRY_EXIT_OK)
		rc = exec_params(b, "DELETE FROM ferry.rejects WHERE run_id = $1 AND entity = $2 AND phase = $3", 3, p);
	if (rc == FERRY_EXIT_OK)
		rc = exec_params(b, "DELETE FROM ferry.checkpoints WHERE run_id = $1 AND entity = $2 AND phase = $3", 3, p);
	return rc;
}

/* part-complete RUN ENTITY PHASE: "t" when the part's checkpoint says its whole stream is loaded */
int
books_part_complete(books *b, int argc, char **argv, buf *reply)
{
	if (argc != 4)
		return FERRY_EXIT_USAGE;
	const char *p[3] = {argv[1], argv[2], argv[3]};
	PGresult *res = pg_query(b->target,
		"SELECT coalesce((SELECT complete FROM ferry.checkpoints WHERE run_id = $1 AND entity = $2 AND phase = $3), false)",
		3, p);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	buf_printf(reply, "\t%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return FERRY_EXIT_OK;
}

/*
 * unwatched STEP: for an incremental run, the source tables the entity's
 * extract reads that its incremental expression does not watch (watch.h),
 * ", "-separated; nothing when none: the driver reads the entity whole
 * when there are some.
 */
int
books_unwatched(books *b, int argc, char **argv, buf *reply)
{
	if (argc != 2)
		return FERRY_EXIT_USAGE;
	char *entity = xstrndup(argv[1], strcspn(argv[1], ":"));
	const plan_entity *e = b->plan ? plan_find(b->plan, entity) : NULL;
	free(entity);
	buf_putc(reply, '\t');
	if (e == NULL)
		return FERRY_EXIT_OK;
	PGconn *src = books_source(b);
	if (src == NULL)
		return FERRY_EXIT_SOURCE;
	buf err;
	buf_init(&err, 128);
	bool ok = watch_unwatched(src, e, reply, &err);
	if (!ok)
		log_error("entity %s: cannot trace what its incremental expression watches: %s", e->name,
				  buf_cstr(&err));
	buf_free(&err);
	return ok ? FERRY_EXIT_OK : FERRY_EXIT_SOURCE;
}

/*
 * max-key STEP PREV_RUN KEY TARGET: for an incremental run, the highest
 * legacy key of an entity loaded so far: from the target's key column
 * when it has one (an index lookup), else from ferry.id_map (as a number
 * when every key is one), else the last key of the previous run.  Not the
 * checkpoint's last key alone: a tree loads parents first, so its last key
 * is not its highest.  Nothing for a composite key.  (A key lower than the
 * highest only reads again rows an upsert finds equal.)
 */
int
books_max_key(books *b, int argc, char **argv, buf *reply)
{
	if (argc != 5)
		return FERRY_EXIT_USAGE;
	const char *step = argv[1], *prev = argv[2], *key = argv[3], *target = argv[4];
	buf_putc(reply, '\t');
	if (strchr(key, ',') || key[0] == '\0')
		return FERRY_EXIT_OK;
	char *qtarget = pg_qualified(target);
	const char *p[2] = {qtarget, key};
	PGresult *res = pg_query(b->target,
		"SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) "
		"               AND attname = $2 AND attnum > 0 AND NOT attisdropped)", 2, p);
	if (res == NULL)
	{
		free(qtarget);
		return FERRY_EXIT_TARGET;
	}
	bool has_key = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	buf sql;
	buf_init(&sql, 512);
	buf_puts(&sql, "SELECT coalesce((");
	if (has_key)
	{
		buf_puts(&sql, "SELECT max(");
		pg_append_ident(&sql, key);
		buf_printf(&sql, ")::text FROM %s", qtarget);
	}
	else
		buf_puts(&sql, "SELECT NULL::text");
	buf_puts(&sql, "), (SELECT CASE WHEN bool_and(legacy_id ~ '^-?[0-9]+$') THEN max(legacy_id::numeric)::text END "
				   "     FROM ferry.id_map WHERE entity = split_part($1, ':', 1)), "
				   "(SELECT max_key FROM ferry.entity_runs WHERE run_id = $2 AND entity = $1), "
				   /* an incremental step with nothing changed loads nothing and
				    * records no key: the last one a run that is done recorded */
				   "(SELECT e.max_key FROM ferry.entity_runs e JOIN ferry.runs r USING (run_id) "
				   " WHERE e.entity = $1 AND e.max_key IS NOT NULL AND r.status = 'done' "
				   " ORDER BY e.finished_at DESC LIMIT 1), '')");
	free(qtarget);
	const char *q[2] = {step, prev};
	res = pg_query(b->target, buf_cstr(&sql), 2, q);
	buf_free(&sql);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	buf_puts(reply, PQgetvalue(res, 0, 0));
	PQclear(res);
	return FERRY_EXIT_OK;
}

/*
 * split PLAN ENTITY PARTS MIN_ROWS SNAPSHOT FILE: with --split N, an
 * entity of at least MIN_ROWS rows and a single integer key (not a tree)
 * is cut into key ranges, their bounds read in the run's snapshot; the
 * conditions are kept in FILE (a resume cuts the same ranges).  Replies
 * how many parts (1: not split).
 */
int
books_split(books *b, int argc, char **argv, buf *reply)
{
	if (argc != 7)
		return FERRY_EXIT_USAGE;
	const char *file = argv[6];
	FILE *f = fopen(file, "r");
	if (f)
	{
		int n = 0, c;
		while ((c = getc(f)) != EOF)
			n += c == '\n';
		fclose(f);
		if (n > 0)
		{
			buf_printf(reply, "\t%d", n);
			return FERRY_EXIT_OK;
		}
	}
	int parts = atoi(argv[3]);
	plan *pl = plan_load(argv[1]);
	if (pl == NULL)
		return FERRY_EXIT_USAGE;
	const plan_entity *e = plan_find(pl, argv[2]);
	if (e == NULL || e->tree || e->nkey != 1 || e->extract_sql == NULL || parts < 2)
	{
		plan_free(pl);
		buf_puts(reply, "\t1");
		return FERRY_EXIT_OK;
	}
	PGconn *src = books_source(b);
	if (src == NULL)
	{
		plan_free(pl);
		return FERRY_EXIT_SOURCE;
	}
	buf sql, qkey;
	buf_init(&sql, 1024);
	buf_init(&qkey, 64);
	buf_puts(&qkey, "q.");
	pg_append_ident(&qkey, e->key[0]);
	buf_printf(&sql, "SELECT count(*), min(%s)::text, max(%s)::text, pg_typeof(min(%s))::text FROM (\n%s\n) AS q",
			   buf_cstr(&qkey), buf_cstr(&qkey), buf_cstr(&qkey), e->extract_sql);
	plan_free(pl);
	int rc = FERRY_EXIT_OK;
	bool ok = pg_exec(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (ok && argv[5][0])
	{
		buf set;
		buf_init(&set, 128);
		buf_puts(&set, "SET TRANSACTION SNAPSHOT ");
		pg_append_literal(&set, argv[5]);
		ok = pg_exec(src, buf_cstr(&set));
		buf_free(&set);
	}
	PGresult *res = ok ? pg_query(src, buf_cstr(&sql), 0, NULL) : NULL;
	PQclear(PQexec(src, "ROLLBACK"));
	buf_free(&sql);
	int n = 1;
	if (res == NULL)
		rc = FERRY_EXIT_SOURCE;
	else if (!PQgetisnull(res, 0, 1) && strtoll(PQgetvalue(res, 0, 0), NULL, 10) >= strtoll(argv[4], NULL, 10) &&
			 (strcmp(PQgetvalue(res, 0, 3), "integer") == 0 || strcmp(PQgetvalue(res, 0, 3), "bigint") == 0 ||
			  strcmp(PQgetvalue(res, 0, 3), "smallint") == 0))
	{
		char **conds = xcalloc((size_t) parts, sizeof *conds);
		n = books_key_ranges(strtoll(PQgetvalue(res, 0, 1), NULL, 10), strtoll(PQgetvalue(res, 0, 2), NULL, 10),
							 parts, buf_cstr(&qkey), conds);
		FILE *out = n > 1 ? fopen(file, "w") : NULL;
		if (n > 1 && out == NULL)
		{
			log_error("cannot write %s: %s", file, strerror(errno));
			rc = FERRY_EXIT_IO;
		}
		for (int i = 0; i < n; i++)
		{
			if (out)
				fprintf(out, "%s\n", conds[i]);
			free(conds[i]);
		}
		if (out && fclose(out) != 0)
			rc = FERRY_EXIT_IO;
		free(conds);
		if (n < 1)
			n = 1;
	}
	PQclear(res);
	buf_free(&qkey);
	if (rc == FERRY_EXIT_OK)
		buf_printf(reply, "\t%d", n);
	return rc;
}
