/*
 * pgconn.h: everything libpq, in one place.
 *
 * Connections take a libpq conninfo string or URI; NULL or "" means the
 * PG* environment.  Passwords come from .pgpass, service files or
 * PGPASSWORD: ferry never prints a conninfo, only host, port and dbname.
 * Every session gets the settings that make text output exact and stable:
 * DateStyle ISO, IntervalStyle postgres, TimeZone UTC, extra_float_digits 3,
 * client_encoding UTF8.
 */
#ifndef FERRY_PGCONN_H
#define FERRY_PGCONN_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "buf.h"

/*
 * role is "source" or "target" (used in messages); on failure, logs
 * "cannot connect to <role> (host=.. dbname=..): <libpq message>" and
 * returns NULL.
 */
PGconn *pg_connect(const char *conninfo, const char *role, const char *appname);
/* "host=... port=... dbname=... user=..." of a live connection, for messages */
const char *pg_describe(PGconn *conn);
/* run a command; false on error (logged with the role) */
bool pg_exec(PGconn *conn, const char *sql);
/* run a query with text params; NULL on error (logged) */
PGresult *pg_query(PGconn *conn, const char *sql, int nparams, const char *const *params);
/* the server's message of a failed result, on one line (no trailing newline) */
const char *pg_errmsg(PGconn *conn, const PGresult *res);
/* quoted identifier / literal appended to b (dies on out of memory) */
void pg_append_ident(buf *b, const char *ident);
void pg_append_literal(buf *b, const char *lit);
/* "schema.table" or "table" -> quoted qualified name */
void pg_append_qualified(buf *b, const char *name);
/*
 * The same as a new string: what to_regclass() and ::regclass are given,
 * as they parse an SQL name (a raw "public.Orders" would find public.orders,
 * and a quote or space in a name is a syntax error)
 */
char *pg_qualified(const char *name);

/*
 * Whether conn keeps one server session from start to end (a direct
 * connection, or a session-mode pooler), as every ferry program needs, or
 * hands each transaction to whichever server session is free (a
 * transaction- or statement-mode pooler: PgBouncer, Supavisor, Odyssey).
 * conninfo is what conn was opened with: a second connection is opened
 * with it for a moment.  POOLED puts what was seen in why (for the
 * message); ERROR has been logged.  Call it before anything is written.
 */
typedef enum pg_session
{
	PG_SESSION_OK,
	PG_SESSION_POOLED,
	PG_SESSION_ERROR
} pg_session;

pg_session pg_session_check(PGconn *conn, const char *conninfo, char *why, size_t whylen);

/* what to do about a pooled connection, for the end of a refusal */
#define PG_POOLER_ADVICE \
	"connect directly to PostgreSQL (Supabase: port 5432, the direct or session-mode " \
	"connection string)"

/*
 * COPY (SQL) TO STDOUT on CONN, each line without its newline to FN(CTX,
 * LINE, LEN) (COPY's text format); a false from FN stops the use of the
 * lines, not the read (the COPY still ends); errors said as "ROLE: ...".
 */
typedef bool (*pg_line_fn)(void *ctx, const char *line, size_t len);
bool pg_copy_lines(PGconn *conn, const char *role, const char *sql, pg_line_fn fn, void *ctx);

#endif
