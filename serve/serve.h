/*
 * serve.h: what ferry-serve's parts share (see man/ferry-serve.1 and
 * docs/operations.md).
 *
 * ferry-serve answers HTTP requests about ferry's runs, read only, from
 * the books in the target ("ferry" schema).  Each part has one job:
 *
 *   ferry-serve.c  options into a serve_spec, then http_serve()
 *   http.c         libmicrohttpd: limits, TLS, routing, status codes, the request log
 *   tokens.c       the bearer tokens: the file's rules, constant-time lookup
 *   pool.c         a few connections to the target, shared by the request threads
 *   books.c        what each endpoint reads from the books (a run's status
 *                  and its metrics: lib/runstatus.h, as ferry-books makes them)
 *   openapi.c      the OpenAPI document of the endpoints
 */
#ifndef FERRY_SERVE_H
#define FERRY_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "buf.h"
#include "runstatus.h"

/*
 * A token file or TLS key that others could read (group or other bits
 * set, or not owned by the user): ferry-serve refuses to start.  Only
 * ferry-serve has this refusal, so it is kept here, after lib/exitcode.h's.
 */
#define SERVE_EXIT_INSECURE 10

/* ---- the command line ---- */

typedef struct serve_spec
{
	const char *listen;          /* HOST:PORT, [V6]:PORT (default 127.0.0.1:9471) */
	const char *tokens_file;
	const char *tls_cert;        /* both or neither */
	const char *tls_key;
	const char *target;          /* conninfo; NULL: $FERRY_TARGET, then PG* */
	const char *share_dir;       /* where status.sql is */
	int max_connections;         /* HTTP connections at once */
	int client_timeout;          /* seconds a connection may stay idle */
	int db_connections;          /* connections to the target */
	int statement_timeout_ms;    /* of each query */
} serve_spec;

/* ---- tokens.c ---- */

enum
{
	SCOPE_METRICS = 1,
	SCOPE_READ = 2
};

typedef struct token_set token_set;

/*
 * Read the token file: "SCOPE TOKEN" lines (# comments, blank lines).
 * Refuses (logged, exit code in *code) a file not owned by the user or
 * readable by others (SERVE_EXIT_INSECURE), unreadable (FERRY_EXIT_IO),
 * or malformed (FERRY_EXIT_USAGE).
 */
token_set *tokens_load(const char *path, int *code);
/* the scopes (bits) of a presented token; 0 for none.  Constant time in the token. */
int tokens_scopes(const token_set *t, const char *token, size_t len);
size_t tokens_count(const token_set *t);
void tokens_free(token_set *t);
/* a secret file's ownership and mode are the user's alone (else logged, false) */
bool secret_file_ok(int fd, const char *path, const char *what);

/* ---- pool.c ---- */

typedef struct db_pool db_pool;

db_pool *pool_new(const char *conninfo, int size, int statement_timeout_ms);
/*
 * A connection of the pool, connected; NULL when none is free within a
 * few seconds (*busy set) or the target cannot be reached (logged, once
 * a minute).
 */
PGconn *pool_take(db_pool *p, bool *busy);
/* give it back; broken: the session is gone or in a bad state (closed) */
void pool_give(db_pool *p, PGconn *conn, bool broken);
void pool_free(db_pool *p);

/* ---- books.c ---- */

/*
 * What a reading of the books gives the HTTP layer: a status code and a
 * body (JSON, or Prometheus text for the metrics).
 */
typedef struct reply
{
	int status;
	buf body;
	const char *content_type;
	const char *challenge;       /* WWW-Authenticate of a 401 or 403 */
} reply;

/* healthz: the target answers and has the books */
void books_health(db_pool *p, reply *r);
/* one run as "ferry status RUN --json" prints it */
void books_run(db_pool *p, const char *run, reply *r);
/* the runs, latest first, after the run "after" (keyset), at most limit */
void books_runs(db_pool *p, const char *after, long limit, reply *r);
/* a run's rejects, after the reject id "after", filtered */
void books_rejects(db_pool *p, const char *run, const char *entity, const char *reason,
				   long long after, long limit, reply *r);
/* the run's last verify report (WORKDIR/verify.json of ferry verify) */
void books_verify(db_pool *p, const char *run, reply *r);
/* the latest run's metrics */
void books_metrics(db_pool *p, reply *r);

/* an error reply: {"error": message} */
void reply_error(reply *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- openapi.c ---- */

extern const char openapi_json[];

/* ---- http.c ---- */

/* serve until SIGINT or SIGTERM; returns the exit code */
int http_serve(const serve_spec *spec, token_set *tokens, db_pool *pool);

#endif
