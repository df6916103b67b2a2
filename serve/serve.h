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
 *   psqlscript.c   a psql script (\set, \if, \gset, :'var') run with bound parameters
 *   books.c        what each endpoint reads from the books
 *   metrics.c      a run as Prometheus text (the families of "ferry run --metrics")
 *   openapi.c      the OpenAPI document of the endpoints
 */
#ifndef FERRY_SERVE_H
#define FERRY_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "buf.h"

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

/* ---- psqlscript.c ---- */

typedef struct psql_vars
{
	int n, cap;
	char **name;
	char **value;
} psql_vars;

void psql_var_set(psql_vars *v, const char *name, const char *value);
const char *psql_var_get(const psql_vars *v, const char *name);
void psql_vars_free(psql_vars *v);

/*
 * Run a psql script on conn the way "psql -v NAME=VALUE -f FILE" would,
 * for the subset ferry's scripts use: \set, \if :{?var} / \else / \endif,
 * statements ending in ";" or "\gset", and :'var' / :var, which become
 * bound parameters ($1 ...), never text of the query.  *last gets the
 * result of the last statement that returned rows (NULL if none).  false:
 * a failed statement (*last holds its result, to be read and cleared) or
 * a script outside that subset (err says what).
 */
bool psql_script_run(PGconn *conn, const char *script, psql_vars *vars, PGresult **last,
					 char *err, size_t errlen);

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

/* load the SQL the books are read with (status.sql); false: logged */
bool books_init(const char *share_dir);
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

/*
 * The one function that knows how a run's status object is made (status.sql
 * today).  detail as status.sql's; run "" for the latest.  Returns the JSON
 * in out (empty: no such run); false on a database error (*res holds it).
 */
bool books_status_json(PGconn *conn, const char *run, bool detail, buf *out, PGresult **res);

/* an error reply: {"error": message} */
void reply_error(reply *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- metrics.c ---- */

/*
 * The Prometheus text of a run from its status object (detail 1): the
 * same families, labels and values as "ferry run --metrics" writes.
 * min_success in percent, memory_limit in bytes.
 */
bool metrics_text(PGconn *conn, const char *status_json, const char *min_success,
				  const char *memory_limit, buf *out, PGresult **res);

/* ---- openapi.c ---- */

extern const char openapi_json[];

/* ---- http.c ---- */

/* serve until SIGINT or SIGTERM; returns the exit code */
int http_serve(const serve_spec *spec, token_set *tokens, db_pool *pool);

#endif
