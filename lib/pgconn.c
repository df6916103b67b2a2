/*
 * pgconn.c: connections, queries and quoting, in one place.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "log.h"
#include "pgconn.h"

/* session settings that make PostgreSQL's text output exact and stable */
static const char *session_setup =
	"SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
	"SET TimeZone = 'UTC'; SET extra_float_digits = 3; "
	"SET client_encoding = 'UTF8'; SET bytea_output = 'hex'";

/* per connection, the role we print in messages */
typedef struct conn_role
{
	PGconn *conn;
	char role[16];
	char desc[256];
	bool lost_told;      /* the loss of this connection has been reported */
} conn_role;

static conn_role roles[8];

static conn_role *
role_of(PGconn *conn)
{
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (roles[i].conn == conn)
			return &roles[i];
	return NULL;
}

/* libpq messages end with a newline and may span lines: make them one line */
static const char *
one_line(const char *msg, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *p = msg; *p && o + 1 < outlen; p++)
	{
		if (*p == '\n')
		{
			/* skip "LINE 1: ..." and caret lines of a query error */
			if (strncmp(p + 1, "LINE ", 5) == 0 || p[1] == '\0')
				break;
			out[o++] = ' ';
			/* libpq indents its continuation lines with a tab */
			while (p[1] == '\t')
				p++;
		}
		else if (*p != '\r')
			out[o++] = *p;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

PGconn *
pg_connect(const char *conninfo, const char *role, const char *appname)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {conninfo ? conninfo : "", appname, NULL};
	/* expand_dbname: the dbname value may be a full conninfo or URI */
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	char msg[1024];

	if (conn == NULL)
	{
		log_error("cannot connect to the %s: out of memory", role);
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		const char *db = PQdb(conn);

		log_error("cannot connect to the %s database%s%s%s: %s", role,
				  db && *db ? " \"" : "", db && *db ? db : "", db && *db ? "\"" : "",
				  one_line(PQerrorMessage(conn), msg, sizeof msg));
		PQfinish(conn);
		return NULL;
	}
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (roles[i].conn == NULL)
		{
			roles[i].conn = conn;
			snprintf(roles[i].role, sizeof roles[i].role, "%s", role);
			break;
		}
	if (!pg_exec(conn, session_setup))
	{
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

const char *
pg_describe(PGconn *conn)
{
	conn_role *r = role_of(conn);
	static char fallback[256];
	char *out = r ? r->desc : fallback;
	const char *host = PQhost(conn);

	snprintf(r ? r->desc : fallback, sizeof fallback, "host=%s port=%s dbname=%s user=%s",
			 host && *host ? host : "(socket)", PQport(conn), PQdb(conn), PQuser(conn));
	return out;
}

/*
 * The session is gone: the connection broke, or the server ended it (a
 * FATAL error: pg_terminate_backend, a shutdown, idle_session_timeout).
 */
static bool
conn_lost(PGconn *conn, const PGresult *res)
{
	const char *sev = res ? PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;

	return PQstatus(conn) == CONNECTION_BAD ||
		(sev && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0));
}

const char *
pg_errmsg(PGconn *conn, const PGresult *res)
{
	static char msg[2048];
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char tmp[2048];

	if (primary)
	{
		/* the server's own words: primary message, then its detail if any */
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

		snprintf(tmp, sizeof tmp, "%s%s%s", primary, detail ? ": " : "", detail ? detail : "");
	}
	else
	{
		const char *m = res ? PQresultErrorMessage(res) : NULL;

		if (m == NULL || *m == '\0')
			m = PQerrorMessage(conn);
		snprintf(tmp, sizeof tmp, "%s", m);
	}
	int off = 0;

	if (conn && conn_lost(conn, res))
	{
		/* say so: the server's words alone do not tell that the session is over */
		conn_role *r = role_of(conn);
		const char *db = PQdb(conn);

		off = snprintf(msg, 256, "lost the connection to database \"%s\": ", db ? db : "");
		if (off < 0 || off > 255)
			off = 255;
		if (r)
			r->lost_told = true;
	}
	one_line(tmp, msg + off, sizeof msg - (size_t) off);
	return msg;
}

static const char *
role_name(PGconn *conn)
{
	conn_role *r = role_of(conn);

	return r ? r->role : "database";
}

/* a session whose loss has been reported: it cannot work again, and says nothing new */
static bool
lost_and_told(PGconn *conn)
{
	conn_role *r = role_of(conn);

	return r && r->lost_told;
}

bool
pg_exec(PGconn *conn, const char *sql)
{
	if (lost_and_told(conn))
		return false;

	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

	if (!ok)
		log_error("%s: %s", role_name(conn), pg_errmsg(conn, res));
	PQclear(res);
	return ok;
}

PGresult *
pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	if (lost_and_told(conn))
		return NULL;

	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		log_error("%s: %s", role_name(conn), pg_errmsg(conn, res));
		PQclear(res);
		return NULL;
	}
	return res;
}

void
pg_append_ident(buf *b, const char *ident)
{
	buf_putc(b, '"');
	for (const char *p = ident; *p; p++)
	{
		if (*p == '"')
			buf_putc(b, '"');
		buf_putc(b, *p);
	}
	buf_putc(b, '"');
}

void
pg_append_literal(buf *b, const char *lit)
{
	bool backslash = strchr(lit, '\\') != NULL;

	/* E'' so that the meaning does not depend on standard_conforming_strings */
	if (backslash)
		buf_putc(b, 'E');
	buf_putc(b, '\'');
	for (const char *p = lit; *p; p++)
	{
		if (*p == '\'' || (*p == '\\' && backslash))
			buf_putc(b, *p);
		buf_putc(b, *p);
	}
	buf_putc(b, '\'');
}

char *
pg_qualified(const char *name)
{
	buf b;

	buf_init(&b, strlen(name) + 8);
	pg_append_qualified(&b, name);
	buf_cstr(&b);
	return b.data;
}

void
pg_append_qualified(buf *b, const char *name)
{
	const char *dot = strchr(name, '.');

	if (dot == NULL)
	{
		pg_append_ident(b, name);
		return;
	}
	char *schema = xstrndup(name, (size_t) (dot - name));

	pg_append_ident(b, schema);
	buf_putc(b, '.');
	pg_append_ident(b, dot + 1);
	free(schema);
}

/* ---- is this one server session, or a transaction pooler? ---- */

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wait until conn's socket is ready (for reading, or writing), at most until deadline */
static bool
wait_socket(PGconn *conn, bool for_write, int64_t deadline)
{
	struct pollfd p = {.fd = PQsocket(conn), .events = for_write ? POLLOUT : POLLIN};
	int64_t left = deadline - monotonic_ms();

	if (p.fd < 0 || left <= 0)
		return false;
	return poll(&p, 1, (int) left) > 0;
}

/* a connection for the probe, given up at deadline (NULL then, or on failure) */
static PGconn *
connect_within(const char *conninfo, int64_t deadline)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *vals[] = {conninfo ? conninfo : "", "ferry-session-probe", NULL};
	PGconn *c = PQconnectStartParams(keys, vals, 1);
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	while (c && PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED)
	{
		if (!wait_socket(c, st == PGRES_POLLING_WRITING, deadline))
			break;
		st = PQconnectPoll(c);
	}
	if (c && (st != PGRES_POLLING_OK || PQstatus(c) != CONNECTION_OK))
	{
		PQfinish(c);
		c = NULL;
	}
	return c;
}

/* one statement (its own transaction) on the probe connection, NULL if not answered by deadline */
static PGresult *
query_within(PGconn *c, const char *sql, int64_t deadline)
{
	PGresult *res, *last = NULL;

	if (!PQsendQuery(c, sql))
		return NULL;
	while (PQisBusy(c))
		if (!wait_socket(c, false, deadline) || !PQconsumeInput(c))
			return NULL;  /* the caller closes c, which ends the query */
	while ((res = PQgetResult(c)) != NULL)
	{
		PQclear(last);
		last = res;
	}
	if (PQresultStatus(last) != PGRES_TUPLES_OK || PQntuples(last) != 1)
	{
		PQclear(last);
		return NULL;
	}
	return last;
}

#define PROBE_SETTING "ferry.session_probe"

/*
 * Through a transaction-mode pooler the server session under a client
 * connection may change between two transactions, but an idle pooler
 * (PgBouncer 1.18 in transaction mode, any pool size) hands the same
 * connection the same server session every time: the session it released
 * last (server_round_robin = 0, its default: the idle list is a stack),
 * so a check made on one connection alone passes.  So a second connection
 * B comes in between two transactions of conn (A):
 *   A: its backend pid and a session setting with a random token;
 *   B: two transactions, each reading its pid and that setting;
 *   A: two more transactions, reading them again.
 * A direct connection or a session-mode pooler keeps each client on its own
 * server session for its life, so B never sees A's pid or token and its own
 * pid never changes, and A keeps its pid and token.  A transaction pooler
 * hands B the session A just released (a stack: PgBouncer's default), or
 * hands B's two transactions two different idle sessions (a queue:
 * server_round_robin = 1, when more than one is idle), or, with other
 * clients about, gives A another session: each is a proof.  B never holds
 * a transaction open, so a pool of one server cannot block; B's queries are
 * given up after a few seconds (a session-mode pool that is full makes B
 * wait for a server): then A's own transactions decide.
 */
pg_session
pg_session_check(PGconn *conn, const char *conninfo, char *why, size_t whylen)
{
	static const char *read_sql =
		"SELECT pg_backend_pid(), current_setting('" PROBE_SETTING "', true)";
	PGresult *res;
	char token[64];
	long pid_a;

	why[0] = '\0';
	/* Supabase's transaction pooler (Supavisor and its PgBouncer) */
	if (strcmp(PQport(conn), "6543") == 0)
	{
		snprintf(why, whylen, "port 6543");
		return PG_SESSION_POOLED;
	}
	res = pg_query(conn, "SELECT pg_backend_pid(), set_config('" PROBE_SETTING "', "
				   "md5(random()::text || clock_timestamp()::text), false)", 0, NULL);
	if (res == NULL)
		return PG_SESSION_ERROR;
	pid_a = atol(PQgetvalue(res, 0, 0));
	snprintf(token, sizeof token, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);

	int64_t deadline = monotonic_ms() + 5000;
	PGconn *b = connect_within(conninfo, deadline);
	long pid_b = 0;

	for (int i = 0; b && i < 2 && !why[0]; i++)
	{
		res = query_within(b, read_sql, deadline);
		if (res == NULL)
			break;
		long pid = atol(PQgetvalue(res, 0, 0));

		if (pid == pid_a || strcmp(PQgetvalue(res, 0, 1), token) == 0)
			snprintf(why, whylen, "another connection ran in this one's server session, backend pid %ld",
					 pid_a);
		else if (pid_b && pid != pid_b)
			snprintf(why, whylen, "two transactions of one connection ran in server sessions "
					 "%ld and %ld", pid_b, pid);
		pid_b = pid;
		PQclear(res);
	}
	PQfinish(b);

	for (int i = 0; i < 2 && !why[0]; i++)
	{
		res = pg_query(conn, read_sql, 0, NULL);
		if (res == NULL)
			return PG_SESSION_ERROR;
		long pid = atol(PQgetvalue(res, 0, 0));

		if (pid != pid_a)
			snprintf(why, whylen, "two transactions of one connection ran in server sessions "
					 "%ld and %ld", pid_a, pid);
		else if (strcmp(PQgetvalue(res, 0, 1), token) != 0)
			snprintf(why, whylen, "a session setting was lost between two transactions");
		PQclear(res);
	}
	return why[0] ? PG_SESSION_POOLED : PG_SESSION_OK;
}

/* COPY (sql) TO STDOUT, each line (without its newline) to fn */
bool
pg_copy_lines(PGconn *conn, const char *role, const char *sql, pg_line_fn fn, void *ctx)
{
	buf copy;
	PGresult *res;
	char *line;
	int len;
	bool ok = true;

	buf_init(&copy, strlen(sql) + 32);
	buf_printf(&copy, "COPY (%s) TO STDOUT", sql);
	res = PQexec(conn, buf_cstr(&copy));
	buf_free(&copy);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		log_error("%s: %s", role, pg_errmsg(conn, res));
		PQclear(res);
		return false;
	}
	PQclear(res);
	while ((len = PQgetCopyData(conn, &line, 0)) > 0)
	{
		size_t n = (size_t) len;

		if (n && line[n - 1] == '\n')
			n--;
		if (ok && !fn(ctx, line, n))
			ok = false;
		PQfreemem(line);
	}
	if (len == -2)
	{
		log_error("%s: %s", role, pg_errmsg(conn, NULL));
		ok = false;
	}
	while ((res = PQgetResult(conn)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			log_error("%s: %s", role, pg_errmsg(conn, res));
			ok = false;
		}
		PQclear(res);
	}
	return ok;
}
