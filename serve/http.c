/*
 * http.c: ferry-serve's HTTP side, on libmicrohttpd.
 *
 * A thread for each connection, at most --max-connections of them; a
 * connection idle for --client-timeout seconds is closed; a request whose
 * line and headers do not fit in REQUEST_MEMORY bytes is refused by the
 * library (414, 431); a request with a body is refused (413).  Every
 * request is answered here: the route, then its token and scope, then its
 * parameters, then the books.  One line a request goes to stderr when it
 * is done: client, method, path, status, bytes, time, scope.  The
 * Authorization header is never logged, and no query value but the
 * documented parameters'.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "buf.h"
#include "exitcode.h"
#include "log.h"
#include "serve.h"

/* the request line and headers of a request must fit in this (the library's pool) */
#define REQUEST_MEMORY (16 * 1024)
/* a run id, an entity or a reason in a request: at most this many bytes */
#define NAME_MAX_BYTES 200
#define RUNS_LIMIT_MAX 100
#define RUNS_LIMIT_DEFAULT 20
#define REJECTS_LIMIT_MAX 1000
#define REJECTS_LIMIT_DEFAULT 100

typedef struct server
{
	const serve_spec *spec;
	token_set *tokens;
	db_pool *pool;
} server;

/* one request, from the access handler's first call to its completion */
typedef struct request
{
	int64_t started;            /* now_us() */
	char method[12];
	buf line;                   /* path and query as logged */
	int status;
	size_t bytes;
	const char *scope;          /* the scope it was served under, or NULL */
} request;

/* ---- small helpers ---- */

/* valid UTF-8 without control characters, 1 to max bytes */
static bool
name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	const unsigned char *p = (const unsigned char *) s;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n;)
	{
		unsigned char c = p[i];
		int more;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef)
			more = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			more = 3;
		else
			return false;
		if (i + (size_t) more >= n)
			return false;
		for (int k = 1; k <= more; k++)
			if ((p[i + (size_t) k] & 0xc0) != 0x80)
				return false;
		/* overlong, surrogates and beyond U+10FFFF */
		if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] > 0x9f) ||
			(c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] > 0x8f))
			return false;
		i += (size_t) more + 1;
	}
	return true;
}

/* a count within [1, max]: digits only */
static bool
parse_limit(const char *s, long max, long *out)
{
	long v = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 9 || strspn(s, "0123456789") != strlen(s))
		return false;
	v = strtol(s, NULL, 10);
	if (v < 1 || v > max)
		return false;
	*out = v;
	return true;
}

/* a reject id: digits only, at most 18 of them */
static bool
parse_id(const char *s, long long *out)
{
	if (s == NULL || *s == '\0' || strlen(s) > 18 || strspn(s, "0123456789") != strlen(s))
		return false;
	*out = strtoll(s, NULL, 10);
	return true;
}

/* bytes a log line can show as they are; others as %XX; at most LOG_VALUE_MAX of them */
#define LOG_VALUE_MAX 120
static void
log_escaped(buf *b, const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if (++n > LOG_VALUE_MAX)
		{
			buf_puts(b, "...");
			break;
		}
		else if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '%' || *p == '\\' || *p == '?' || *p == '&')
			buf_printf(b, "%%%02X", *p);
		else
			buf_putc(b, (char) *p);
}

/* ---- query parameters ---- */

#define MAX_PARAMS 8

typedef struct params
{
	const char *const *allowed;     /* the names this route takes */
	int n;
	const char *name[MAX_PARAMS];
	const char *value[MAX_PARAMS];  /* NULL: given without a value */
	const char *bad;                /* the first name unknown or repeated */
	bool repeated;
	int seen;                       /* parameters given, for the log line */
	request *rq;
} params;

static enum MHD_Result
collect_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	params *p = cls;
	bool known = false;

	(void) kind;
	for (const char *const *a = p->allowed; a && *a; a++)
		known = known || strcmp(*a, key) == 0;
	/* the log line shows the documented parameters only, never anything else given */
	buf_putc(&p->rq->line, p->seen++ ? '&' : '?');
	log_escaped(&p->rq->line, key);
	if (known && value)
	{
		buf_putc(&p->rq->line, '=');
		log_escaped(&p->rq->line, value);
	}
	else if (value)
		buf_puts(&p->rq->line, "=(not shown)");
	if (p->bad)
		return MHD_YES;
	if (!known)
	{
		p->bad = key;
		return MHD_YES;
	}
	for (int i = 0; i < p->n; i++)
		if (strcmp(p->name[i], key) == 0)
		{
			p->bad = key;
			p->repeated = true;
			return MHD_YES;
		}
	if (p->n < MAX_PARAMS)
	{
		p->name[p->n] = key;
		p->value[p->n] = value;
		p->n++;
	}
	return MHD_YES;
}

/* a parameter's value; NULL when absent or empty */
static const char *
param(const params *p, const char *name)
{
	for (int i = 0; i < p->n; i++)
		if (strcmp(p->name[i], name) == 0)
			return p->value[i] && *p->value[i] ? p->value[i] : NULL;
	return NULL;
}

/* ---- authentication ---- */

/*
 * The scopes of the request's bearer token: 0 with a 401 reply when there
 * is none or it is not known, the scope's name when it has need, else a
 * 403 reply.
 */
static bool
authorised(server *srv, struct MHD_Connection *con, request *rq, int need, reply *r)
{
	const char *h = MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	r->challenge = "Bearer realm=\"ferry\"";
	if (h == NULL)
	{
		reply_error(r, 401, "a bearer token is needed (Authorization: Bearer TOKEN)");
		return false;
	}
	if (strncasecmp(h, "Bearer ", 7) != 0)
	{
		reply_error(r, 401, "only bearer tokens are accepted (Authorization: Bearer TOKEN)");
		return false;
	}
	const char *tok = h + 7;

	while (*tok == ' ')
		tok++;
	size_t len = strlen(tok);

	while (len > 0 && tok[len - 1] == ' ')
		len--;

	int scopes = tokens_scopes(srv->tokens, tok, len);

	if (scopes == 0)
	{
		r->challenge = "Bearer realm=\"ferry\", error=\"invalid_token\"";
		reply_error(r, 401, "the bearer token is not valid");
		return false;
	}
	if (!(scopes & need))
	{
		r->challenge = need == SCOPE_METRICS
			? "Bearer realm=\"ferry\", error=\"insufficient_scope\", scope=\"metrics\""
			: "Bearer realm=\"ferry\", error=\"insufficient_scope\", scope=\"read\"";
		reply_error(r, 403, "the token's scope does not cover this (it needs scope \"%s\")",
					need == SCOPE_METRICS ? "metrics" : "read");
		return false;
	}
	rq->scope = need == SCOPE_METRICS ? "metrics" : "read";
	return true;
}

/* ---- routes ---- */

static const char *const no_params[] = {NULL};
static const char *const runs_params[] = {"limit", "after", NULL};
static const char *const rejects_params[] = {"entity", "reason", "limit", "after", NULL};

/* GET a path: fills r */
static void
route(server *srv, struct MHD_Connection *con, request *rq, const char *url, reply *r)
{
	char run[NAME_MAX_BYTES + 2] = "";
	const char *sub = NULL;
	int need = 0;
	const char *const *allowed = no_params;
	params p = {.rq = rq};

	if (strcmp(url, "/healthz") == 0 || strcmp(url, "/openapi.json") == 0)
		;
	else if (strcmp(url, "/metrics") == 0)
		need = SCOPE_METRICS;
	else if (strcmp(url, "/runs") == 0)
		need = SCOPE_READ, allowed = runs_params;
	else if (strncmp(url, "/runs/", 6) == 0)
	{
		/* /runs/{id}, /runs/{id}/rejects, /runs/{id}/verify */
		const char *id = url + 6;
		const char *slash = strchr(id, '/');
		size_t idlen = slash ? (size_t) (slash - id) : strlen(id);

		need = SCOPE_READ;
		sub = slash ? slash + 1 : "";
		if (strcmp(sub, "") != 0 && strcmp(sub, "rejects") != 0 && strcmp(sub, "verify") != 0)
		{
			reply_error(r, 404, "no such path (see /openapi.json)");
			return;
		}
		if (strcmp(sub, "rejects") == 0)
			allowed = rejects_params;
		if (idlen > NAME_MAX_BYTES)
			idlen = NAME_MAX_BYTES + 1;
		memcpy(run, id, idlen);
		run[idlen] = '\0';
	}
	else
	{
		reply_error(r, 404, "no such path (see /openapi.json)");
		return;
	}

	if (need && !authorised(srv, con, rq, need, r))
		return;

	p.allowed = allowed;
	MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, collect_param, &p);
	if (p.bad)
	{
		char shown[64] = "";

		if (name_ok(p.bad, 40))
			snprintf(shown, sizeof shown, " \"%s\"", p.bad);
		reply_error(r, 400, p.repeated ? "parameter%s given twice" : "unknown parameter%s (see /openapi.json)",
					shown);
		return;
	}

	if (strcmp(url, "/healthz") == 0)
	{
		books_health(srv->pool, r);
		return;
	}
	if (strcmp(url, "/openapi.json") == 0)
	{
		r->status = 200;
		r->content_type = "application/json";
		buf_puts(&r->body, openapi_json);
		return;
	}
	if (need == SCOPE_METRICS)
	{
		books_metrics(srv->pool, r);
		return;
	}

	const char *limit_s = param(&p, "limit"), *after_s = param(&p, "after");
	long limit;

	if (sub == NULL)
	{
		/* /runs */
		if (limit_s == NULL)
			limit = RUNS_LIMIT_DEFAULT;
		else if (!parse_limit(limit_s, RUNS_LIMIT_MAX, &limit))
		{
			reply_error(r, 400, "limit: a whole number from 1 to %d", RUNS_LIMIT_MAX);
			return;
		}
		if (after_s && !name_ok(after_s, NAME_MAX_BYTES))
		{
			reply_error(r, 400, "after: a run id of 1 to %d bytes of UTF-8 without control characters",
						NAME_MAX_BYTES);
			return;
		}
		books_runs(srv->pool, after_s, limit, r);
		return;
	}
	if (!name_ok(run, NAME_MAX_BYTES))
	{
		reply_error(r, 400, "a run id has 1 to %d bytes of UTF-8 without control characters",
					NAME_MAX_BYTES);
		return;
	}
	if (strcmp(sub, "") == 0)
		books_run(srv->pool, run, r);
	else if (strcmp(sub, "verify") == 0)
		books_verify(srv->pool, run, r);
	else
	{
		const char *entity = param(&p, "entity"), *reason = param(&p, "reason");
		long long after = 0;

		if (limit_s == NULL)
			limit = REJECTS_LIMIT_DEFAULT;
		else if (!parse_limit(limit_s, REJECTS_LIMIT_MAX, &limit))
		{
			reply_error(r, 400, "limit: a whole number from 1 to %d", REJECTS_LIMIT_MAX);
			return;
		}
		if (after_s && !parse_id(after_s, &after))
		{
			reply_error(r, 400, "after: the id of a reject (next_after of the page before)");
			return;
		}
		if ((entity && !name_ok(entity, NAME_MAX_BYTES)) || (reason && !name_ok(reason, 1000)))
		{
			reply_error(r, 400, "entity and reason: UTF-8 without control characters, "
						"at most %d and 1000 bytes", NAME_MAX_BYTES);
			return;
		}
		books_rejects(srv->pool, run, entity, reason, after, limit, r);
	}
}

static enum MHD_Result
send_reply(struct MHD_Connection *con, request *rq, reply *r)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(r->body.len, r->body.data, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ok;

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
							r->content_type ? r->content_type : "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if ((r->status == 401 || r->status == 403) && r->challenge)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->challenge);
	else if (r->status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	else if (r->status == 503)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	rq->status = r->status;
	rq->bytes = r->body.len;
	ok = MHD_queue_response(con, (unsigned int) r->status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *con, const char *url, const char *method,
		   const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	server *srv = cls;
	request *rq = *con_cls;
	reply r = {0};
	enum MHD_Result ok;

	(void) version;
	(void) upload_data;
	if (rq)
	{
		/* a body arriving after the reply (413) is dropped */
		*upload_data_size = 0;
		return MHD_YES;
	}
	rq = xcalloc(1, sizeof *rq);
	*con_cls = rq;
	rq->started = now_us();
	snprintf(rq->method, sizeof rq->method, "%s", method);
	buf_init(&rq->line, 128);
	log_escaped(&rq->line, url);
	buf_init(&r.body, 4096);

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		reply_error(&r, 405, "only GET and HEAD: this service reads only");
	else if (MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
			 (MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) &&
			  strcmp(MHD_lookup_connection_value(con, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH), "0") != 0))
		reply_error(&r, 413, "a request body is not accepted");
	else if (url[0] != '/' || !name_ok(url, REQUEST_MEMORY))
		reply_error(&r, 400, "the path must be UTF-8 without control characters");
	else
		route(srv, con, rq, url, &r);
	ok = send_reply(con, rq, &r);
	buf_free(&r.body);
	return ok;
}

static const char *
peer_of(struct MHD_Connection *con, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	snprintf(out, n, "-");
	if (ci && ci->client_addr)
	{
		socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
			: sizeof(struct sockaddr_in);

		if (getnameinfo(ci->client_addr, len, out, (socklen_t) n, NULL, 0, NI_NUMERICHOST) != 0)
			snprintf(out, n, "?");
	}
	return out;
}

/* the request's log line */
static void
on_completed(void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	request *rq = *con_cls;
	char peer[64];
	static const char *const why[] = {"", " (error)", " (timed out)", " (shutdown)", " (read error)",
									  " (client gone)"};

	(void) cls;
	if (rq == NULL)
		return;
	*con_cls = NULL;
	log_result("%s \"%s %s\" %d %zu %.1fms %s%s", peer_of(con, peer, sizeof peer), rq->method,
			   buf_cstr(&rq->line), rq->status, rq->bytes, (double) (now_us() - rq->started) / 1000.0,
			   rq->scope ? rq->scope : "-", (unsigned) toe < 6 ? why[toe] : " (ended)");
	buf_free(&rq->line);
	free(rq);
}

/* the library's own messages (a connection refused at the limit, a TLS handshake failed ...) */
static void
on_library_message(void *cls, const char *fmt, va_list ap)
{
	buf b;

	(void) cls;
	buf_init(&b, 256);
	buf_vprintf(&b, fmt, ap);
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
		b.len--;
	log_warn("http: %s", buf_cstr(&b));
	buf_free(&b);
}

/* %XX decoded, as the library does, but %00 becomes a control character the checks refuse */
static size_t
unescape(void *cls, struct MHD_Connection *con, char *s)
{
	char *w = s;

	(void) cls;
	(void) con;
	for (const char *p = s; *p; p++)
	{
		if (p[0] == '%' && isxdigit((unsigned char) p[1]) && isxdigit((unsigned char) p[2]))
		{
			char hex[3] = {p[1], p[2], 0};
			char c = (char) strtol(hex, NULL, 16);

			*w++ = c ? c : 0x7f;
			p += 2;
		}
		else
			*w++ = *p;
	}
	*w = '\0';
	return (size_t) (w - s);
}

/* ---- the daemon ---- */

/* HOST:PORT or [V6]:PORT into an address */
static bool
parse_listen(const char *listen, struct sockaddr_storage *addr, bool *v6)
{
	char host[256];
	const char *port;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res;

	if (listen[0] == '[')
	{
		const char *end = strchr(listen, ']');

		if (end == NULL || end[1] != ':' || (size_t) (end - listen - 1) >= sizeof host)
			return false;
		snprintf(host, sizeof host, "%.*s", (int) (end - listen - 1), listen + 1);
		port = end + 2;
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	}
	else
	{
		const char *colon = strrchr(listen, ':');

		if (colon == NULL || (size_t) (colon - listen) >= sizeof host || colon == listen)
			return false;
		snprintf(host, sizeof host, "%.*s", (int) (colon - listen), listen);
		port = colon + 1;
		if (strchr(host, ':'))
			return false;
	}
	if (*port == '\0' || strlen(port) > 5 || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
		return false;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return false;
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return true;
}

/* a PEM file into memory; the key must be the user's alone */
static char *
read_pem(const char *path, const char *what, bool secret, int *code)
{
	FILE *f = fopen(path, "r");
	buf b;
	char chunk[4096];
	size_t n;

	if (f == NULL)
	{
		log_error("cannot open the %s \"%s\": %s", what, path, strerror(errno));
		*code = FERRY_EXIT_IO;
		return NULL;
	}
	if (secret && !secret_file_ok(fileno(f), path, what))
	{
		fclose(f);
		*code = SERVE_EXIT_INSECURE;
		return NULL;
	}
	buf_init(&b, 8192);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1 << 20))
		buf_append(&b, chunk, n);
	fclose(f);
	if (b.len == 0 || b.len >= (1 << 20) || strstr(buf_cstr(&b), "-----BEGIN ") == NULL)
	{
		log_error("the %s \"%s\" is not a PEM file", what, path);
		buf_free(&b);
		*code = FERRY_EXIT_USAGE;
		return NULL;
	}
	return b.data;
}

int
http_serve(const serve_spec *spec, token_set *tokens, db_pool *pool)
{
	server srv = {.spec = spec, .tokens = tokens, .pool = pool};
	struct sockaddr_storage addr = {0};
	bool v6 = false;
	char *cert = NULL, *key = NULL;
	int code = FERRY_EXIT_OK;
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;

	if (!parse_listen(spec->listen, &addr, &v6))
	{
		log_error("--listen \"%s\": not HOST:PORT or [IPV6]:PORT", spec->listen);
		return FERRY_EXIT_USAGE;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	if (spec->tls_cert)
	{
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		{
			log_error("this libmicrohttpd has no TLS: --tls-cert cannot be used");
			return FERRY_EXIT_USAGE;
		}
		cert = read_pem(spec->tls_cert, "TLS certificate", false, &code);
		if (cert)
			key = read_pem(spec->tls_key, "TLS key", true, &code);
		if (key == NULL)
		{
			free(cert);
			return code;
		}
		flags |= MHD_USE_TLS;
	}

	/* SIGINT and SIGTERM are waited for by this thread only */
	sigset_t stop;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct MHD_OptionItem opts[] = {
		{MHD_OPTION_SOCK_ADDR, 0, &addr},
		{MHD_OPTION_CONNECTION_LIMIT, spec->max_connections, NULL},
		{MHD_OPTION_CONNECTION_TIMEOUT, spec->client_timeout, NULL},
		{MHD_OPTION_CONNECTION_MEMORY_LIMIT, REQUEST_MEMORY, NULL},
		{MHD_OPTION_NOTIFY_COMPLETED, (intptr_t) on_completed, NULL},
		{MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t) unescape, NULL},
		{cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
		{cert ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
		{MHD_OPTION_END, 0, NULL},
	};
	/* the logger first: the library's messages about the other options go through it */
	struct MHD_Daemon *d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &srv,
											MHD_OPTION_EXTERNAL_LOGGER, on_library_message, NULL,
											MHD_OPTION_ARRAY, opts, MHD_OPTION_END);

	if (d == NULL)
	{
		log_error("cannot listen on %s (the reason is above: an address in use or not this host's, "
				  "a certificate and key that do not match)", spec->listen);
		free(cert);
		if (key)
			memset(key, 0, strlen(key));
		free(key);
		return FERRY_EXIT_USAGE;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char host[128];

	if (getnameinfo((struct sockaddr *) &addr, v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
					host, sizeof host, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(host, sizeof host, "?");
	log_result("listening on %s://%s%s%s:%u (%zu tokens, at most %d connections)", cert ? "https" : "http",
			   v6 ? "[" : "", host, v6 ? "]" : "", info ? (unsigned) info->port : 0,
			   tokens_count(tokens), spec->max_connections);

	int sig = 0;

	while (sigwait(&stop, &sig) != 0)
		;
	log_result("stopping (signal %d)", sig);
	MHD_stop_daemon(d);
	free(cert);
	if (key)
		memset(key, 0, strlen(key));
	free(key);
	return FERRY_EXIT_OK;
}
