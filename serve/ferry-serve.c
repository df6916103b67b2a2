/*
 * ferry-serve: ferry's runs over HTTP, read only (man/ferry-serve.1).
 *
 *   ferry-serve --tokens FILE [--listen HOST:PORT] [--target CONNINFO]
 *               [--tls-cert FILE --tls-key FILE]
 *
 * GET /metrics (Prometheus), /runs, /runs/{id} (the object of "ferry status
 * RUN --json"), /runs/{id}/rejects, /runs/{id}/verify, /healthz,
 * /openapi.json; bearer tokens with a scope (metrics, read) from a file
 * only the user can read.  The books are read from the target with a role
 * that needs only SELECT on schema ferry (docs/operations.md).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exitcode.h"
#include "log.h"
#include "serve.h"

enum
{
	OPT_LISTEN = 1000,
	OPT_TOKENS,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TARGET,
	OPT_SHARE,
	OPT_MAX_CONNECTIONS,
	OPT_CLIENT_TIMEOUT,
	OPT_DB_CONNECTIONS,
	OPT_QUERY_TIMEOUT,
	OPT_SERVE_VERSION
};

static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
			"Usage: ferry-serve --tokens FILE [OPTIONS]\n"
			"Answer HTTP requests about ferry's runs from the books in the target, read only:\n"
			"GET /metrics, /runs, /runs/{id}, /runs/{id}/rejects, /runs/{id}/verify, /healthz,\n"
			"/openapi.json.\n\n"
			"Options:\n"
			"      --tokens FILE         bearer tokens, one \"SCOPE TOKEN\" a line (scopes: metrics,\n"
			"                            read); the file must be yours and mode 600 or stricter\n"
			"      --listen HOST:PORT    address to listen on (default 127.0.0.1:9471; [::1]:PORT;\n"
			"                            port 0: any free port, said on stderr)\n"
			"      --target CONNINFO     the database holding the books (default $FERRY_TARGET,\n"
			"                            then PG*); no password here: ~/.pgpass, PGPASSFILE, a\n"
			"                            service file or PGPASSWORD\n"
			"      --tls-cert FILE, --tls-key FILE   serve HTTPS (PEM; the key mode 600)\n"
			"      --share DIR           where status.sql is (default $FERRY_SHARE, then beside\n"
			"                            the program)\n"
			"      --max-connections N   HTTP connections at once (default 32)\n"
			"      --client-timeout S    close a connection idle this long (default 10)\n"
			"      --db-connections N    connections to the target (default 4)\n"
			"      --query-timeout S     statement_timeout of each query (default 10)\n"
			"  -q, --quiet               errors only (no request log); -v: more\n"
			"  -h, --help                this help; --version: the version\n"
			"Exit codes: 0 stopped by SIGTERM or SIGINT, 1 internal, 2 usage, 8 a file could\n"
			"not be read, 10 the token file or TLS key could be read by others.\n");
	exit(code);
}

/* a count within [min, max] */
static int
int_option(const char *opt, const char *arg, int min, int max)
{
	long v = cli_int(opt, arg);

	if (v < min || v > max)
		die(FERRY_EXIT_USAGE, "option %s needs a number from %d to %d, not \"%s\"", opt, min, max, arg);
	return (int) v;
}

/* the conninfo must not carry a password: it would be on the command line */
static void
check_target(const char *conninfo, bool from_argv)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);

	if (opts == NULL)
	{
		die(FERRY_EXIT_USAGE, "%s is not a connection string or URI%s%s",
			from_argv ? "--target" : "FERRY_TARGET", err ? ": " : "", err ? err : "");
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (from_argv && strcmp(o->keyword, "password") == 0 && o->val && *o->val)
		{
			PQconninfoFree(opts);
			die(FERRY_EXIT_USAGE, "--target holds a password, which any user can read on the "
				"command line: give it through ~/.pgpass, PGPASSFILE, a service file or PGPASSWORD");
		}
	PQconninfoFree(opts);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"tokens", required_argument, NULL, OPT_TOKENS},
		{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
		{"tls-key", required_argument, NULL, OPT_TLS_KEY},
		{"target", required_argument, NULL, OPT_TARGET},
		{"share", required_argument, NULL, OPT_SHARE},
		{"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
		{"client-timeout", required_argument, NULL, OPT_CLIENT_TIMEOUT},
		{"db-connections", required_argument, NULL, OPT_DB_CONNECTIONS},
		{"query-timeout", required_argument, NULL, OPT_QUERY_TIMEOUT},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_SERVE_VERSION},
		{NULL, 0, NULL, 0}
	};
	serve_spec spec = {
		.listen = "127.0.0.1:9471",
		.max_connections = 32,
		.client_timeout = 10,
		.db_connections = 4,
		.statement_timeout_ms = 10000,
	};
	int opt, verbosity = 0;

	log_init(argv[0]);
	while ((opt = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_LISTEN:
				spec.listen = optarg;
				break;
			case OPT_TOKENS:
				spec.tokens_file = optarg;
				break;
			case OPT_TLS_CERT:
				spec.tls_cert = optarg;
				break;
			case OPT_TLS_KEY:
				spec.tls_key = optarg;
				break;
			case OPT_TARGET:
				spec.target = optarg;
				break;
			case OPT_SHARE:
				spec.share_dir = optarg;
				break;
			case OPT_MAX_CONNECTIONS:
				spec.max_connections = int_option("--max-connections", optarg, 1, 10000);
				break;
			case OPT_CLIENT_TIMEOUT:
				spec.client_timeout = int_option("--client-timeout", optarg, 1, 3600);
				break;
			case OPT_DB_CONNECTIONS:
				spec.db_connections = int_option("--db-connections", optarg, 1, 100);
				break;
			case OPT_QUERY_TIMEOUT:
				spec.statement_timeout_ms = 1000 * int_option("--query-timeout", optarg, 1, 3600);
				break;
			case 'q':
				verbosity--;
				break;
			case 'v':
				verbosity++;
				break;
			case 'h':
				usage(0);
				break;
			case OPT_SERVE_VERSION:
				printf("ferry-serve %s\n", FERRY_VERSION);
				return 0;
			default:
				usage(FERRY_EXIT_USAGE);
		}
	}
	log_set_level(log_get_level() + verbosity);
	if (optind < argc)
		die(FERRY_EXIT_USAGE, "unexpected argument \"%s\" (see --help)", argv[optind]);
	if (spec.tokens_file == NULL)
		die(FERRY_EXIT_USAGE, "--tokens FILE is required: every endpoint but /healthz and "
			"/openapi.json needs a bearer token");
	if ((spec.tls_cert == NULL) != (spec.tls_key == NULL))
		die(FERRY_EXIT_USAGE, "--tls-cert and --tls-key go together");
	if (spec.target)
		check_target(spec.target, true);
	else
	{
		spec.target = getenv("FERRY_TARGET");
		check_target(spec.target, false);
	}

	int code = FERRY_EXIT_OK;
	token_set *tokens = tokens_load(spec.tokens_file, &code);

	if (tokens == NULL)
		return code;
	if (!run_status_init(spec.share_dir))
	{
		tokens_free(tokens);
		return FERRY_EXIT_IO;
	}

	db_pool *pool = pool_new(spec.target, spec.db_connections, spec.statement_timeout_ms);

	code = http_serve(&spec, tokens, pool);
	pool_free(pool);
	tokens_free(tokens);
	return code;
}
