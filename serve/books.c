/*
 * books.c: what each endpoint of ferry-serve reads from ferry's books.
 *
 * A run's status object comes from scripts/sql/status.sql, the very file
 * "ferry status --json" runs, read from the share directory at start
 * (lib/runstatus.c: run_status_json is the one function that knows it).
 * The other queries are ferry-serve's own; every value from a request is a bound
 * parameter.  Each function fills a reply: 200 and JSON, 404 when there
 * is no such run, 503 when the target cannot answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "serve.h"

/* a verify report larger than this is not served */
#define VERIFY_REPORT_MAX (64L << 20)
/* what the driver assumes when a run's workdir does not say (scripts/ferry) */
#define DEFAULT_MIN_SUCCESS "99.5"
#define DEFAULT_MEMORY_LIMIT "536870912"

#define OID_TEXT 25
#define OID_INT4 23
#define OID_INT8 20

/* ---- replies ---- */

void
reply_error(reply *r, int status, const char *fmt, ...)
{
	va_list ap;
	buf msg;

	buf_init(&msg, 128);
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	r->status = status;
	r->content_type = "application/json";
	buf_reset(&r->body);
	buf_puts(&r->body, "{\"error\":");
	buf_json_string(&r->body, msg.data, msg.len);
	buf_printf(&r->body, ",\"status\":%d}\n", status);
	buf_free(&msg);
}

static void
reply_json(reply *r, const char *json, size_t len)
{
	r->status = 200;
	r->content_type = "application/json";
	buf_reset(&r->body);
	buf_append(&r->body, json, len);
	if (len == 0 || json[len - 1] != '\n')
		buf_putc(&r->body, '\n');
}

/* ---- errors of the target ---- */

static const char *
one_line(const char *msg, char *out, size_t n)
{
	size_t o = 0;

	for (const char *c = msg ? msg : ""; *c && o + 1 < n; c++)
		out[o++] = (*c == '\n' || *c == '\r' || *c == '\t') ? ' ' : *c;
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

/*
 * A failed query: the reply says what an operator can act on, the log has
 * the server's words.  Returns whether the session is unusable.
 */
static bool
query_failed(reply *r, PGconn *c, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[600];
	bool broken = PQstatus(c) != CONNECTION_OK;

	one_line(res ? PQresultErrorMessage(res) : PQerrorMessage(c), msg, sizeof msg);
	if (msg[0] == '\0')
		one_line(PQerrorMessage(c), msg, sizeof msg);
	log_error("target: %s: %s", what, msg);
	if (state == NULL)
		state = "";
	if (broken || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
		strncmp(state, "53", 2) == 0)
	{
		reply_error(r, 503, "the target database is unavailable");
		broken = true;
	}
	else if (strcmp(state, "57014") == 0)
		reply_error(r, 503, "the query took longer than the statement timeout");
	else if (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0)
		reply_error(r, 503, "the target has no ferry schema (run \"ferry init\")");
	else if (strcmp(state, "42703") == 0)
		reply_error(r, 503, "the target's ferry schema is older than this ferry (run \"ferry init\")");
	else if (strcmp(state, "42501") == 0)
		reply_error(r, 503, "the role cannot read the books (see ferry-serve(1), GRANTS)");
	else
		reply_error(r, 500, "the books could not be read (see the server's log)");
	return broken;
}

/* a connection, or a 503 reply */
static PGconn *
take(db_pool *p, reply *r)
{
	bool busy;
	PGconn *c = pool_take(p, &busy);

	if (c == NULL && busy)
		reply_error(r, 503, "every connection to the target is busy: try again");
	else if (c == NULL)
		reply_error(r, 503, "the target database is unavailable");
	return c;
}

/* PQexecParams with typed text parameters; NULL and a reply on error */
static PGresult *
query(PGconn *c, reply *r, bool *broken, const char *what, const char *sql, int n,
	  const Oid *types, const char *const *vals)
{
	PGresult *res = PQexecParams(c, sql, n, types, vals, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		*broken = query_failed(r, c, res, what);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* the status of one run into r; false: r holds an error reply */
static bool
status_into(PGconn *c, const char *run, bool detail, buf *json, reply *r, bool *broken)
{
	PGresult *res;

	if (run_status_json(c, run, detail, json, &res))
		return true;
	if (res)
	{
		*broken = query_failed(r, c, res, "status.sql");
		PQclear(res);
	}
	else
		reply_error(r, 500, "status.sql could not be run (see the server's log)");
	return false;
}

/* ---- the endpoints ---- */

void
books_health(db_pool *p, reply *r)
{
	PGconn *c = take(p, r);
	bool broken = false;

	if (c == NULL)
		return;
	PGresult *res = query(c, r, &broken, "healthz",
						  "SELECT to_regclass('ferry.runs') IS NOT NULL "
						  "AND has_table_privilege('ferry.runs', 'SELECT')", 0, NULL, NULL);

	if (res)
	{
		if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		{
			r->status = 200;
			r->content_type = "application/json";
			buf_reset(&r->body);
			buf_puts(&r->body, "{\"status\":\"ok\"}\n");
		}
		else
			reply_error(r, 503, "the target has no ferry schema this role can read");
		PQclear(res);
	}
	pool_give(p, c, broken);
}

void
books_run(db_pool *p, const char *run, reply *r)
{
	PGconn *c = take(p, r);
	bool broken = false;
	buf json;

	if (c == NULL)
		return;
	buf_init(&json, 4096);
	if (status_into(c, run, false, &json, r, &broken))
	{
		if (json.len == 0)
			reply_error(r, 404, "no run \"%s\"", run);
		else
			reply_json(r, json.data, json.len);
	}
	buf_free(&json);
	pool_give(p, c, broken);
}

void
books_runs(db_pool *p, const char *after, long limit, reply *r)
{
	PGconn *c = take(p, r);
	bool broken = false;
	char lim[24];
	const Oid types[] = {OID_TEXT, OID_INT4};
	const char *vals[] = {after, lim};

	if (c == NULL)
		return;
	/* one more than asked: whether there is a next page */
	snprintf(lim, sizeof lim, "%ld", limit + 1);
	PGresult *res = query(c, r, &broken, "runs",
						  "SELECT run_id, $1::text IS NULL OR EXISTS (SELECT 1 FROM ferry.runs WHERE run_id = $1) "
						  "FROM (SELECT 1) one LEFT JOIN LATERAL ("
						  "  SELECT run_id, started_at FROM ferry.runs r "
						  "  WHERE $1::text IS NULL OR (r.started_at, r.run_id) < "
						  "        (SELECT started_at, run_id FROM ferry.runs WHERE run_id = $1) "
						  "  ORDER BY started_at DESC, run_id DESC LIMIT $2) x ON true "
						  "ORDER BY x.started_at DESC, x.run_id DESC",
						  2, types, vals);

	if (res == NULL)
	{
		pool_give(p, c, broken);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 1), "t") != 0)
	{
		reply_error(r, 400, "after: no run \"%s\" to list the runs after", after);
		PQclear(res);
		pool_give(p, c, broken);
		return;
	}
	/* each run as status.sql makes it, so that a run has one shape everywhere */
	buf body, json;
	int rows = PQgetisnull(res, 0, 0) ? 0 : PQntuples(res);
	int shown = rows > limit ? (int) limit : rows;
	bool ok = true;

	buf_init(&body, 16384);
	buf_init(&json, 4096);
	buf_puts(&body, "{\"runs\":[");
	for (int i = 0; ok && i < shown; i++)
	{
		ok = status_into(c, PQgetvalue(res, i, 0), false, &json, r, &broken);
		if (ok && json.len > 0)
		{
			if (body.data[body.len - 1] != '[')
				buf_putc(&body, ',');
			buf_append(&body, json.data, json.len);
		}
	}
	if (ok)
	{
		buf_puts(&body, "],\"limit\":");
		buf_printf(&body, "%ld,\"next_after\":", limit);
		if (rows > limit)
		{
			const char *last = PQgetvalue(res, shown - 1, 0);

			buf_json_string(&body, last, strlen(last));
		}
		else
			buf_puts(&body, "null");
		buf_putc(&body, '}');
		reply_json(r, body.data, body.len);
	}
	buf_free(&json);
	buf_free(&body);
	PQclear(res);
	pool_give(p, c, broken);
}

/* does the run exist?  false: r holds the reply (404, or an error) */
static bool
run_exists(PGconn *c, const char *run, reply *r, bool *broken, char **workdir)
{
	const Oid types[] = {OID_TEXT};
	const char *vals[] = {run};
	PGresult *res = query(c, r, broken, "runs",
						  "SELECT workdir FROM ferry.runs WHERE run_id = $1", 1, types, vals);

	if (res == NULL)
		return false;
	if (PQntuples(res) == 0)
	{
		reply_error(r, 404, "no run \"%s\"", run);
		PQclear(res);
		return false;
	}
	if (workdir)
		*workdir = PQgetisnull(res, 0, 0) ? NULL : xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
}

void
books_rejects(db_pool *p, const char *run, const char *entity, const char *reason, long long after,
			  long limit, reply *r)
{
	PGconn *c = take(p, r);
	bool broken = false;
	char aft[24], lim[24];
	const Oid types[] = {OID_TEXT, OID_TEXT, OID_TEXT, OID_INT8, OID_INT4};
	const char *vals[] = {run, entity, reason, aft, lim};

	if (c == NULL)
		return;
	if (!run_exists(c, run, r, &broken, NULL))
	{
		pool_give(p, c, broken);
		return;
	}
	snprintf(aft, sizeof aft, "%lld", after);
	snprintf(lim, sizeof lim, "%ld", limit);
	/* keyset pagination on the reject's id: a page is the same whatever was added since */
	PGresult *res = query(c, r, &broken, "rejects",
						  "WITH page AS ("
						  "  SELECT x.*, row_number() OVER (ORDER BY x.id) AS n FROM ("
						  "    SELECT * FROM ferry.rejects"
						  "    WHERE run_id = $1 AND ($2 IS NULL OR entity = $2)"
						  "      AND ($3 IS NULL OR reason = $3) AND id > $4"
						  "    ORDER BY id LIMIT $5 + 1) x) "
						  "SELECT jsonb_build_object("
						  "  'run', $1, 'entity', $2, 'reason', $3, 'after', $4, 'limit', $5,"
						  "  'rejects', coalesce(jsonb_agg(jsonb_build_object("
						  "      'id', id, 'entity', entity, 'legacy_id', legacy_id, 'stage', stage,"
						  "      'phase', phase, 'reason', reason, 'detail', detail,"
						  "      'disposition', disposition, 'row_data', row_data, 'created_at', created_at)"
						  "    ORDER BY id) FILTER (WHERE n <= $5), '[]'::jsonb),"
						  "  'next_after', CASE WHEN count(*) > $5 THEN max(id) FILTER (WHERE n <= $5) END)"
						  "FROM page",
						  5, types, vals);

	if (res)
	{
		reply_json(r, PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)));
		PQclear(res);
	}
	pool_give(p, c, broken);
}

/* the file's text (at most max bytes) or NULL with errno-ish why */
static char *
read_report(const char *path, size_t *len, const char **why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;

	*why = NULL;
	if (fd < 0)
	{
		*why = errno == ENOENT ? NULL : strerror(errno);
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > VERIFY_REPORT_MAX)
	{
		*why = "not a regular file of at most 64 MB";
		close(fd);
		return NULL;
	}
	char *text = xmalloc((size_t) st.st_size + 1);
	size_t got = 0;
	ssize_t n;

	while (got < (size_t) st.st_size && (n = read(fd, text + got, (size_t) st.st_size - got)) > 0)
		got += (size_t) n;
	close(fd);
	text[got] = '\0';
	*len = got;
	return text;
}

void
books_verify(db_pool *p, const char *run, reply *r)
{
	PGconn *c = take(p, r);
	bool broken = false;
	char *workdir = NULL;

	if (c == NULL)
		return;
	if (!run_exists(c, run, r, &broken, &workdir))
	{
		pool_give(p, c, broken);
		return;
	}
	if (workdir == NULL)
	{
		reply_error(r, 404, "run \"%s\" has no working directory, where ferry verify writes its report", run);
		pool_give(p, c, broken);
		return;
	}
	/* "ferry verify" writes the merged report of a run to WORKDIR/verify.json */
	buf path;
	size_t len = 0;
	const char *why;

	buf_init(&path, 256);
	buf_printf(&path, "%s/verify.json", workdir);
	char *text = read_report(path.data, &len, &why);

	if (text == NULL)
	{
		if (why)
			log_error("cannot read the verify report \"%s\": %s", path.data, why);
		reply_error(r, 404, "no verify report of run \"%s\" (%s%s%s on this host)", run, path.data,
					why ? ": " : "", why ? why : " does not exist");
	}
	else
	{
		/* the server parses it: valid JSON, a verify report, of this run */
		const Oid types[] = {OID_TEXT, OID_TEXT};
		const char *vals[] = {text, run};
		PGresult *res = PQexecParams(c,
									 "SELECT j->>'ferry' = 'verify' AND j->>'run' IS NOT DISTINCT FROM $2, "
									 "       coalesce(j->>'run', '(none)') "
									 "FROM (SELECT $1::jsonb AS j) s", 2, types, vals, NULL, NULL, 0);
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
			strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			reply_json(r, text, len);
		else if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			reply_error(r, 404, "%s is not a verify report of run \"%s\" (its run: %s)", path.data, run,
						PQgetvalue(res, 0, 1));
		else if (state && strncmp(state, "22", 2) == 0)
		{
			log_error("the verify report \"%s\" is not valid JSON", path.data);
			reply_error(r, 500, "the verify report of run \"%s\" is not valid JSON", run);
		}
		else
			broken = query_failed(r, c, res, "verify report");
		PQclear(res);
		free(text);
	}
	buf_free(&path);
	free(workdir);
	pool_give(p, c, broken);
}

/* the first line of WORKDIR/NAME if it is a number, else def */
static void
run_setting(const char *workdir, const char *name, bool integer, const char *def, char *out, size_t n)
{
	char path[PATH_MAX], line[64];
	FILE *f;

	snprintf(out, n, "%s", def);
	if (workdir == NULL || snprintf(path, sizeof path, "%s/%s", workdir, name) >= (int) sizeof path ||
		(f = fopen(path, "r")) == NULL)
		return;
	if (fgets(line, sizeof line, f))
	{
		size_t len = strcspn(line, "\n");
		size_t digits = strspn(line, "0123456789");
		bool ok = digits > 0 && (digits == len || (!integer && line[digits] == '.' &&
												 strspn(line + digits + 1, "0123456789") == len - digits - 1 &&
												 len > digits + 1));

		line[len] = '\0';
		if (ok && len < n)
			memcpy(out, line, len + 1);
	}
	fclose(f);
}

void
books_metrics(db_pool *p, reply *r)
{
	PGconn *c = take(p, r);
	bool broken = false;
	buf json;

	if (c == NULL)
		return;
	buf_init(&json, 8192);
	/* the latest run, as "ferry status" shows it, in detail as --metrics reads it */
	if (status_into(c, "", true, &json, r, &broken))
	{
		r->status = 200;
		r->content_type = "text/plain; version=0.0.4; charset=utf-8";
		buf_reset(&r->body);
		if (json.len > 0)
		{
			/* --min-success and --max-memory of the run, kept in its workdir by the driver */
			const Oid types[] = {OID_TEXT};
			const char *vals[] = {buf_cstr(&json)};
			PGresult *res = query(c, r, &broken, "metrics",
								  "SELECT $1::jsonb->>'workdir'", 1, types, vals);

			if (res)
			{
				char min[32], limit[32];
				const char *wd = PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0);

				run_setting(wd, "min-success", false, DEFAULT_MIN_SUCCESS, min, sizeof min);
				run_setting(wd, "max-memory", true, DEFAULT_MEMORY_LIMIT, limit, sizeof limit);
				PQclear(res);
				if (!run_metrics_text(c, buf_cstr(&json), min, limit, &r->body, &res))
				{
					broken = query_failed(r, c, res, "metrics");
					PQclear(res);
				}
			}
		}
	}
	buf_free(&json);
	pool_give(p, c, broken);
}
