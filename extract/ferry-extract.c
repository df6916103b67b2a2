/*
 * ferry-extract: stream a table or a query out of the source database.
 *
 *   ferry-extract [--source CONNINFO] --table TABLE [-o FILE]
 *   ferry-extract [--source CONNINFO] --query SQL [--key COLS] [-o FILE]
 *   ferry-extract [--source CONNINFO] --plan FILE --entity NAME [-o FILE]
 *   ferry-extract [--source CONNINFO] --export-snapshot FILE
 *
 * Rows are read with COPY in one REPEATABLE READ transaction (or in the
 * exported snapshot given with --snapshot) and written as a ferry stream
 * on standard output or, atomically, to a zstd spool file.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "exitcode.h"
#include "extract.h"
#include "treeread.h"
#include "log.h"
#include "pgconn.h"
#include "plan.h"

enum
{
	OPT_SOURCE = 1000,
	OPT_PLAN,
	OPT_ENTITY,
	OPT_WHERE,
	OPT_KEY,
	OPT_NO_ORDER,
	OPT_KEYSPACE,
	OPT_SNAPSHOT,
	OPT_AFTER_KEY,
	OPT_SINCE,
	OPT_MAX_KEY,
	OPT_INCREMENTAL,
	OPT_LIMIT,
	OPT_EXPORT_SNAPSHOT,
	OPT_COUNT
};

static void
usage(int code)
{
	if (code)
	{
		/* getopt has named the option at fault; the usage is one --help away */
		fprintf(stderr, "Try '%s --help' for more information.\n", log_progname());
		exit(code);
	}
	fprintf(stdout,
			"Usage: ferry-extract [OPTIONS] (--table TABLE | --query SQL | --plan FILE --entity NAME)\n"
			"Stream rows out of the source database with COPY, as a ferry record stream.\n\n"
			"      --source CONNINFO   source database (libpq conninfo or URI; default $FERRY_SOURCE,\n"
			"                          then the PG* environment)\n"
			"  -t, --table TABLE       a whole table (ordered by its primary key)\n"
			"  -Q, --query SQL         any SELECT\n"
			"      --plan FILE         a ferry plan, with --entity NAME: the entity's extract query\n"
			"      --entity NAME       entity name (written in the stream header)\n"
			"      --where COND        only rows where COND holds (SQL over the query's columns, alias q)\n"
			"      --key COLS          legacy key columns (comma-separated): rows come ordered by them\n"
			"      --no-order          do not sort by the key\n"
			"      --keyspace NAME     UUID key space written in the header\n"
			"      --snapshot ID       read in this exported snapshot (pg_export_snapshot())\n"
			"      --after-key K       only rows whose (single-column) key is greater than K\n"
			"      --since TS          incremental: rows changed at or after TS (and rows whose\n"
			"                          change time is NULL); needs the plan's incremental expression\n"
			"                          or --incremental EXPR\n"
			"      --max-key K         incremental: also rows whose key is greater than K; without\n"
			"                          an incremental expression, only those (new rows)\n"
			"      --limit N           at most N rows\n"
			"      --count             print the number of rows the query returns, and exit\n"
			"      --export-snapshot FILE  export a snapshot, write \"ID<TAB>SOURCE_TIME\" to FILE,\n"
			"                          and hold it until terminated (or until the parent exits)\n\n%s",
			CLI_COMMON_USAGE);
	exit(code);
}


/*
 * the primary key columns of a table, a row each (a name may hold a comma):
 * their number, -1 on error (logged)
 */
static int
primary_key_of(PGconn *conn, const char *table, char ***key)
{
	char *qualified = pg_qualified(table);
	const char *params[1] = {qualified};
	PGresult *res = pg_query(conn,
							 "SELECT a.attname "
							 "FROM pg_index i "
							 "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
							 "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
							 "WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.n",
							 1, params);
	int n;

	free(qualified);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	*key = xcalloc((size_t) n + 1, sizeof **key);
	for (int i = 0; i < n; i++)
		(*key)[i] = xstrdup(PQgetvalue(res, i, 0));
	PQclear(res);
	return n;
}

/* planner's row estimate of a table, -1 if unknown */
static long long
estimate_rows(PGconn *conn, const char *table)
{
	PGresult *res;
	long long n = -1;

	if (table == NULL)
		return -1;

	char *qualified = pg_qualified(table);
	const char *params[1] = {qualified};

	res = PQexecParams(conn, "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)",
					   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	free(qualified);
	return n;
}

/* --export-snapshot: hold a snapshot for the other extracts of a run */
static int
export_snapshot(PGconn *conn, const char *file)
{
	PGresult *res;
	buf b;

	if (!pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
		return FERRY_EXIT_SOURCE;
	res = pg_query(conn, "SELECT pg_export_snapshot(), now()", 0, NULL);
	if (res == NULL)
		return FERRY_EXIT_SOURCE;
	buf_init(&b, 128);
	buf_printf(&b, "%s\t%s\n", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	if (!write_file_atomic(file, b.data, b.len))
		return FERRY_EXIT_IO;
	buf_free(&b);
	log_info("snapshot exported to \"%s\"; holding it", file);

	/* hold until terminated, or until the process that started us is gone */
	pid_t parent = getppid();

	while (!io_interrupted && getppid() == parent)
	{
		sleep(1);
		/*
		 * notice a lost connection: PQstatus alone does not, without a read
		 * (the extracts that follow cannot use the snapshot any more)
		 */
		if (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK)
		{
			log_error("source: %s (the session holding the snapshot)", pg_errmsg(conn, NULL));
			return FERRY_EXIT_SOURCE;
		}
	}
	pg_exec(conn, "COMMIT");
	return FERRY_EXIT_OK;
}

static volatile sig_atomic_t stop_holding;

static void
on_term(int sig)
{
	(void) sig;
	io_interrupted = 1;
	stop_holding = 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"source", required_argument, NULL, OPT_SOURCE},
		{"table", required_argument, NULL, 't'},
		{"query", required_argument, NULL, 'Q'},
		{"plan", required_argument, NULL, OPT_PLAN},
		{"entity", required_argument, NULL, OPT_ENTITY},
		{"where", required_argument, NULL, OPT_WHERE},
		{"key", required_argument, NULL, OPT_KEY},
		{"no-order", no_argument, NULL, OPT_NO_ORDER},
		{"keyspace", required_argument, NULL, OPT_KEYSPACE},
		{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
		{"after-key", required_argument, NULL, OPT_AFTER_KEY},
		{"since", required_argument, NULL, OPT_SINCE},
		{"max-key", required_argument, NULL, OPT_MAX_KEY},
		{"incremental", required_argument, NULL, OPT_INCREMENTAL},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"count", no_argument, NULL, OPT_COUNT},
		{"export-snapshot", required_argument, NULL, OPT_EXPORT_SNAPSHOT},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0}
	};
	cli_common common = {0};
	const char *source = getenv("FERRY_SOURCE");
	const char *table = NULL, *query = NULL, *plan_file = NULL, *entity_name = NULL;
	const char *key_list = NULL, *keyspace = NULL, *snapshot = NULL, *export_file = NULL;
	bool no_order = false, count_only = false;
	bool key_owned = false;   /* spec.key was split here (else it is the plan's) */
	extract_spec spec = {.limit = -1, .expected = -1};
	int opt;

	log_init(argv[0]);
	while ((opt = getopt_long(argc, argv, "t:Q:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_SOURCE: source = optarg; break;
			case 't': table = optarg; break;
			case 'Q': query = optarg; break;
			case OPT_PLAN: plan_file = optarg; break;
			case OPT_ENTITY: entity_name = optarg; break;
			case OPT_WHERE: spec.where = optarg; break;
			case OPT_KEY: key_list = optarg; break;
			case OPT_NO_ORDER: no_order = true; break;
			case OPT_KEYSPACE: keyspace = optarg; break;
			case OPT_SNAPSHOT: snapshot = optarg; break;
			case OPT_AFTER_KEY: spec.after_key = optarg; break;
			case OPT_SINCE: spec.since = optarg; break;
			case OPT_MAX_KEY: spec.max_key = optarg; break;
			case OPT_INCREMENTAL: spec.incremental = optarg; break;
			case OPT_LIMIT: spec.limit = cli_int("--limit", optarg); break;
			case OPT_COUNT: count_only = true; break;
			case OPT_EXPORT_SNAPSHOT: export_file = optarg; break;
			default:
				if (!cli_common_option(&common, opt, optarg, usage))
					usage(FERRY_EXIT_USAGE);
		}
	}
	if (optind < argc)
		die(FERRY_EXIT_USAGE, "unexpected argument \"%s\"", argv[optind]);
	if (!export_file && !!table + !!query + !!plan_file != 1)
		die(FERRY_EXIT_USAGE, "give one of --table, --query or --plan (see --help)");
	if (plan_file && !entity_name)
		die(FERRY_EXIT_USAGE, "--plan needs --entity NAME");
	cli_common_start(&common);

	plan *p = NULL;
	plan_entity *e = NULL;
	ferry_header h;

	header_init(&h);
	if (plan_file)
	{
		p = plan_load(plan_file);
		if (p == NULL)
			exit(FERRY_EXIT_USAGE);
		e = plan_find(p, entity_name);
		if (e == NULL)
			die(FERRY_EXIT_USAGE, "%s: no entity \"%s\"", plan_file, entity_name);
		if (e->extract_sql == NULL)
			die(FERRY_EXIT_USAGE, "%s: entity \"%s\" has no extract query", plan_file, entity_name);
		if (e->ntodo > 0)
			die(FERRY_EXIT_USAGE, "%s: entity \"%s\" still has a TODO: %s",
				plan_file, entity_name, e->todo[0]);
		query = e->extract_sql;
		spec.nkey = e->nkey;
		spec.key = e->key;
		/* "incremental keys": an append-only entity, read by new keys (--max-key) */
		if (!spec.incremental && e->incremental && strcmp(e->incremental, "keys") != 0)
			spec.incremental = e->incremental;
		if (e->tree)
			spec.tree_parent = e->tree->parent_column;
		h.source = e->source ? xstrdup(e->source) : NULL;
		h.keyspace = e->keyspace ? xstrdup(e->keyspace) : NULL;
	}
	if (spec.since && !spec.incremental)
		die(FERRY_EXIT_USAGE, "--since needs an incremental expression (plan or --incremental)");
	if ((spec.after_key || spec.max_key) && spec.nkey > 1)
		die(FERRY_EXIT_USAGE, "--after-key and --max-key need a single-column key");
	event_set_context(common.run, entity_name);

	PGconn *conn = pg_connect(source, "source", "ferry-extract");

	if (conn == NULL)
		exit(FERRY_EXIT_SOURCE);

	if (export_file)
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_term;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		int code = export_snapshot(conn, export_file);

		PQfinish(conn);
		exit(code);
	}

	buf base;

	buf_init(&base, 256);
	if (table)
	{
		char *qualified = pg_qualified(table);
		const char *params[1] = {qualified};
		PGresult *res = pg_query(conn, "SELECT to_regclass($1) IS NOT NULL", 1, params);

		free(qualified);
		if (res == NULL)
			exit(FERRY_EXIT_SOURCE);
		if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
			die(FERRY_EXIT_SOURCE, "source: table \"%s\" does not exist (%s)", table,
				pg_describe(conn));
		PQclear(res);
		buf_puts(&base, "SELECT * FROM ");
		pg_append_qualified(&base, table);
		query = buf_cstr(&base);
		if (!key_list)
		{
			char **pk = NULL;
			int npk = primary_key_of(conn, table, &pk);

			if (npk < 0)
				exit(FERRY_EXIT_SOURCE);
			if (npk > 0)
			{
				spec.key = pk;
				spec.nkey = npk;
				key_owned = true;
			}
			else
				free(pk);
		}
		h.source = xstrdup(table);
	}
	if (key_list)
	{
		/* replaces the plan's key (not ours to free); the table's is not read then */
		spec.key = cli_split_commas(key_list, &spec.nkey);
		key_owned = true;
	}
	spec.query = query;
	spec.order_by_key = !no_order && spec.nkey > 0;
	if (!h.source)
		h.source = xstrdup("query");
	if (keyspace)
	{
		free(h.keyspace);
		h.keyspace = xstrdup(keyspace);
	}
	if (!h.keyspace && table)
		h.keyspace = plan_default_keyspace(table);   /* as a plan's entity gets it */
	if (entity_name)
		h.entity = xstrdup(entity_name);
	if (common.run)
		h.run = xstrdup(common.run);
	if (spec.nkey > 0)
		header_set_key(&h, spec.nkey, spec.key);
	if (spec.order_by_key)
		h.order = xstrdup("key");
	spec.expected = estimate_rows(conn, table ? table : (e ? e->source : NULL));

	/* one consistent read: the run's exported snapshot, or our own */
	if (!pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
		exit(FERRY_EXIT_SOURCE);
	if (snapshot)
	{
		buf s;

		buf_init(&s, 64);
		buf_puts(&s, "SET TRANSACTION SNAPSHOT ");
		pg_append_literal(&s, snapshot);

		PGresult *res = PQexec(conn, buf_cstr(&s));

		/* the usual cause: the session holding it (ferry run's) has ended */
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			die(FERRY_EXIT_SOURCE, "source: cannot read in the snapshot %s: %s (the session that "
				"exported it must still be open)", snapshot, pg_errmsg(conn, res));
		PQclear(res);
		buf_free(&s);
	}

	/* an incremental read of a tree: the closure of the changed rows, in memory */
	buf tree_keys;

	buf_init(&tree_keys, 64);
	if (spec.incremental && spec.since && spec.tree_parent && spec.nkey == 1)
	{
		long long n = 0;
		int rc = tree_read_keys(conn, &spec, &tree_keys, &n);

		if (rc < 0)
			exit(FERRY_EXIT_SOURCE);
		if (rc == 1)
			spec.tree_keys = tree_keys.data;
	}

	if (count_only)
	{
		char *sql = extract_sql(&spec);
		buf c;

		buf_init(&c, 256);
		buf_printf(&c, "SELECT count(*) FROM (%s) AS counted", sql);
		PGresult *res = pg_query(conn, buf_cstr(&c), 0, NULL);

		if (res == NULL)
			exit(FERRY_EXIT_SOURCE);
		printf("%s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
		free(sql);
		buf_free(&c);
		PQfinish(conn);
		header_free(&h);
		buf_free(&base);
		if (key_owned)
		{
			for (int i = 0; i < spec.nkey; i++)
				free(spec.key[i]);
			free(spec.key);
		}
		if (p)
			plan_free(p);
		return FERRY_EXIT_OK;
	}

	ferry_output *out = cli_open_output(&common);
	ferry_writer *w = writer_new(out);
	long long rows = 0;
	int code = extract_run(conn, &spec, &h, w, &rows);

	if (code == FERRY_EXIT_OK && !writer_end(w))
		code = FERRY_EXIT_IO;
	if (code == FERRY_EXIT_OK && !out_commit(out))
		code = FERRY_EXIT_IO;
	else if (code != FERRY_EXIT_OK)
		out_abort(out);
	writer_free(w);
	pg_exec(conn, "COMMIT");
	PQfinish(conn);
	if (code == FERRY_EXIT_OK)
		log_info("%lld rows extracted", rows);
	header_free(&h);
	buf_free(&base);
	if (key_owned)
	{
		for (int i = 0; i < spec.nkey; i++)
			free(spec.key[i]);
		free(spec.key);
	}
	if (p)
		plan_free(p);
	return code;
}
