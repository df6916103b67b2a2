/*
 * lock.c: one run at a time per target.
 *
 * Every command that writes the destination (run, resume, rollback, the
 * cleanup phases that write) takes one session-level advisory lock of the
 * target database, hashtextextended('ferry target', 0), in a session that
 * lives as long as the command: ferry-books' own.  A crashed driver takes
 * its ferry-books with it (its stdin closes, or the same kill ends both),
 * the session ends and the server lets the lock go: nothing to clean up.
 * Who holds it is written in ferry.lock_holders (keyed by the session's
 * backend pid) so that a refusal can name the run, host and pid.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"

#define TARGET_KEY "hashtextextended('ferry target', 0)"

/* the holder of the target's lock, from pg_locks and its row of ferry.lock_holders */
static const char *holder_sql =
	"SELECT l.pid, h.what, h.host, h.pid, to_char(h.since, 'YYYY-MM-DD HH24:MI:SS'), a.application_name "
	"FROM pg_locks l "
	"LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
	"LEFT JOIN LATERAL (SELECT * FROM ferry.lock_holders x WHERE x.backend_pid = l.pid "
	"                   ORDER BY x.since DESC LIMIT 1) h ON true "
	"WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
	"  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
	"  AND l.classid::bigint = (" TARGET_KEY " >> 32) & 4294967295 "
	"  AND l.objid::bigint = " TARGET_KEY " & 4294967295 "
	"  AND l.pid <> pg_backend_pid()";

/* the same without ferry.lock_holders (a schema older than version 3) */
static const char *holder_sql_old =
	"SELECT l.pid, NULL, NULL, NULL, NULL, a.application_name "
	"FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
	"WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
	"  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
	"  AND l.classid::bigint = (" TARGET_KEY " >> 32) & 4294967295 "
	"  AND l.objid::bigint = " TARGET_KEY " & 4294967295 "
	"  AND l.pid <> pg_backend_pid()";

static bool
have_holders_table(books *b)
{
	PGresult *res = pg_query(b->target, "SELECT to_regclass('ferry.lock_holders') IS NOT NULL", 0, NULL);
	bool yes = res && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return yes;
}

/* holder fields: host and pid of its ferry process (when known) */
typedef struct holder
{
	bool found;
	char host[256];
	long pid;
} holder;

static void
describe_holder(books *b, buf *out, holder *h)
{
	PGresult *res = pg_query(b->target, have_holders_table(b) ? holder_sql : holder_sql_old, 0, NULL);
	memset(h, 0, sizeof *h);
	if (res == NULL || PQntuples(res) == 0)
	{
		PQclear(res);
		return;
	}
	h->found = true;
	if (!PQgetisnull(res, 0, 1))
	{
		snprintf(h->host, sizeof h->host, "%s", PQgetvalue(res, 0, 2));
		h->pid = atol(PQgetvalue(res, 0, 3));
		buf_printf(out, "%s is in progress: ferry pid %s on %s holds the target since %s",
				   PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 2),
				   PQgetvalue(res, 0, 4));
	}
	else
		buf_printf(out, "another ferry is in progress: the session of backend pid %s (%s) holds the target",
				   PQgetvalue(res, 0, 0), PQgetisnull(res, 0, 5) ? "?" : PQgetvalue(res, 0, 5));
	PQclear(res);
}

void
books_lock_holder(books *b, buf *out)
{
	holder h;
	describe_holder(b, out, &h);
}

static bool
try_lock(books *b, const char *sql)
{
	PGresult *res = pg_query(b->target, sql, 0, NULL);
	bool got = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return got;
}

/*
 * The runs whose process is gone (no session holds their run lock):
 * running -> interrupted, pending -> failed.  Only the holder of the
 * target's lock does this, so no live run can be among them.
 */
static bool
settle_orphans(books *b)
{
	/* no books yet (ferry cleanup before ferry init): nothing to settle */
	PGresult *res = pg_query(b->target, "SELECT to_regclass('ferry.runs') IS NOT NULL", 0, NULL);
	bool books_there = res && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!books_there)
		return res != NULL;
	res = pg_query(b->target, "SELECT run_id, status FROM ferry.runs WHERE status IN ('running', 'pending')", 0, NULL);
	if (res == NULL)
		return false;
	bool ok = true;
	for (int i = 0; i < PQntuples(res) && ok; i++)
	{
		const char *p[1] = {PQgetvalue(res, i, 0)};
		PGresult *got = pg_query(b->target,
			"SELECT pg_try_advisory_lock(hashtextextended('ferry run ' || $1, 0))", 1, p);
		bool orphan = got && PQgetvalue(got, 0, 0)[0] == 't';
		PQclear(got);
		if (!orphan)
			continue;
		PQclear(pg_query(b->target, "SELECT pg_advisory_unlock(hashtextextended('ferry run ' || $1, 0))", 1, p));
		ok = books_move_run(b, p[0], strcmp(PQgetvalue(res, i, 1), "running") == 0 ? BS_INTERRUPTED : BS_FAILED);
	}
	PQclear(res);
	return ok;
}

int
books_lock(books *b, const char *what, const char *run)
{
	bool got = try_lock(b, "SELECT pg_try_advisory_lock(" TARGET_KEY ")");
	if (!got)
	{
		buf why;
		holder h;
		buf_init(&why, 256);
		describe_holder(b, &why, &h);
		/*
		 * a driver of this host killed a moment ago (its pid is gone) may
		 * leave its session's backend behind a moment: wait for it, 10 s
		 */
		if (h.found && h.pid > 0 && b->host && strcmp(h.host, b->host) == 0 &&
			kill((pid_t) h.pid, 0) != 0 && errno == ESRCH)
		{
			pg_exec(b->target, "SET lock_timeout = '10s'");
			PGresult *res = pg_query(b->target, "SELECT pg_advisory_lock(" TARGET_KEY ")", 0, NULL);
			got = res && PQresultStatus(res) == PGRES_TUPLES_OK;
			PQclear(res);
			pg_exec(b->target, "RESET lock_timeout");
		}
		if (!got)
		{
			if (why.len == 0)
				buf_puts(&why, "another ferry holds the target");
			log_error("%s", buf_cstr(&why));
			buf_free(&why);
			return FERRY_EXIT_USAGE;
		}
		buf_free(&why);
	}
	b->locked = true;
	/* the run's own lock too: "ferry status" tells a live run by it */
	if (run && run[0])
	{
		const char *p[1] = {run};
		PGresult *res = pg_query(b->target,
			"SELECT pg_try_advisory_lock(hashtextextended('ferry run ' || $1, 0))", 1, p);
		bool mine = res && PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
		if (!mine)
		{
			log_error("run %s is in progress: a ferry of an earlier version holds it", run);
			return FERRY_EXIT_USAGE;
		}
	}
	if (have_holders_table(b))
	{
		char pid[32];
		snprintf(pid, sizeof pid, "%ld", b->pid);
		const char *p[4] = {what, b->host ? b->host : "?", pid, run && run[0] ? run : NULL};
		PGresult *res = pg_query(b->target,
			"WITH gone AS (DELETE FROM ferry.lock_holders h WHERE NOT EXISTS "
			"  (SELECT 1 FROM pg_stat_activity a WHERE a.pid = h.backend_pid)) "
			"INSERT INTO ferry.lock_holders (backend_pid, what, host, pid, run_id) "
			"VALUES (pg_backend_pid(), $1, $2, $3::int, $4) "
			"ON CONFLICT (backend_pid) DO UPDATE SET what = $1, host = $2, pid = $3::int, run_id = $4, since = now()",
			4, p);
		bool ok = res != NULL;
		PQclear(res);
		if (!ok)
			return FERRY_EXIT_TARGET;
	}
	return settle_orphans(b) ? FERRY_EXIT_OK : FERRY_EXIT_TARGET;
}
