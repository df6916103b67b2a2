/*
 * pgconn.c: connections, queries and quoting, in one place.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
