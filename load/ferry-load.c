/*
 * ferry-load: write a ferry stream into a destination table with COPY,
 * in batches, each committed in its own transaction with its id
 * mappings, rejects and checkpoint.
 *
 *   ferry-load [--target CONNINFO] --table TABLE [FILE]
 *   ferry-load [--target CONNINFO] --plan FILE --entity NAME [--run ID] [FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "bulk.h"
#include "cli.h"
#include "exitcode.h"
#include "forward.h"
#include "load.h"
#include "log.h"
#include "pgconn.h"
#include "plan.h"

enum
{
	OPT_TARGET = 1000,
	OPT_TABLE,
	OPT_PLAN,
	OPT_ENTITY,
	OPT_FIXUP,
	OPT_MODE,
	OPT_CONFLICT,
	OPT_MIN_BATCH,
	OPT_MAX_BATCH,
	OPT_BATCH_BYTES,
	OPT_TARGET_MS,
	OPT_RESUME,
	OPT_NO_ID_MAP,
	OPT_REJECTS,
	OPT_TRIGGERS,
	OPT_NO_SEQUENCES,
	OPT_SYNC_COMMIT,
	OPT_REPAIR,
	OPT_PHASE,
	OPT_EXPECTED,
	OPT_CHECK_SESSION,
	OPT_NO_BULK,
	OPT_REBUILD
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
			"Usage: ferry-load [OPTIONS] (--table TABLE | --plan FILE --entity NAME) [FILE]\n"
			"Write a ferry stream (FILE or standard input) into a destination table with COPY,\n"
			"in batches of one transaction each.  Rows the destination refuses are isolated and\n"
			"set aside as rejects, with PostgreSQL's reason; the rest of their batch still lands.\n\n"
			"      --target CONNINFO  destination database (default $FERRY_TARGET, then PG*)\n"
			"  -t, --table TABLE      destination table (schema.table)\n"
			"      --plan FILE        a ferry plan, with --entity NAME: the entity's target table\n"
			"      --entity NAME      entity name for the id map, rejects and checkpoints\n"
			"      --fixup            the fix-up step of deferred columns (same as --mode update)\n"
			"      --mode MODE        insert (default), upsert (by --conflict or the stream's key),\n"
			"                         skip (insert only rows not there yet), update (by uuid)\n"
			"      --conflict COLS    unique columns for upsert\n"
			"      --min-batch N      smallest batch in rows (default 500)\n"
			"      --max-batch N      largest batch in rows (default 2000)\n"
			"      --batch-bytes N    a batch ends when its COPY data reaches N bytes (default 16 MB)\n"
			"      --target-ms N      batch latency the adaptive sizing aims at (default 250)\n"
			"      --resume           continue after the records the checkpoint of (run, entity)\n"
			"                         says are loaded: replay the same stream\n"
			"      --phase NAME       checkpoint name (default load, or fixup): parallel loads of\n"
			"                         parts of one entity each keep their own (load/1, load/2 ...)\n"
			"      --expected ROWS    the rows the stream should bring (the source's estimate):\n"
			"                         the progress line shows an ETA\n"
			"      --no-id-map        do not record legacy id -> uuid in ferry.id_map\n"
			"      --rejects FILE     also append rejects as JSON lines to FILE\n"
			"      --triggers MODE    auto (default): session_replication_role = replica when the\n"
			"                         role may set it, else triggers and FK checks stay on;\n"
			"                         replica: require it; on: keep triggers and FK checks on\n"
			"      --no-sequences     do not reset sequences of loaded serial columns\n"
			"      --repair COL=VALUE when the destination refuses a value of COL (it does not parse,\n"
			"                         or breaks NOT NULL), load VALUE there instead (NULL for NULL)\n"
			"                         and record a note with the original row; repeatable\n"
			"      --synchronous-commit  wait for each commit to be flushed (default: off; a crash\n"
			"                         of the server then loses at most the last batches, which\n"
			"                         the checkpoint does not count either)\n"
			"      --no-bulk          no bulk load: keep every index of an empty table while loading\n"
			"                         (by default they are dropped and built again at the end)\n"
			"      --rebuild-indexes  only build again the indexes and keys that bulk loads dropped\n"
			"                         and ferry.bulk_indexes still lists (a load killed before its\n"
			"                         end); load nothing\n"
			"      --check-session    only check that the target gives this connection a server\n"
			"                         session of its own (not a transaction-mode pooler): print\n"
			"                         \"session\" (exit 0) or \"pooler\" (exit 4), load nothing\n\n%s",
			CLI_COMMON_USAGE);
	exit(code);
}


/* a repair of column col: value NULL is SQL NULL; kept in COPY text */
static void
push_repair(load_spec *spec, const char *col, size_t collen, const char *value)
{
	buf v;

	buf_init(&v, 32);
	if (value == NULL)
		buf_puts(&v, "\\N");
	else
	{
		ferry_value val = fv_str(value, strlen(value));

		copytext_append_value(&v, &val);
	}
	spec->repair_cols = xrealloc(spec->repair_cols, (size_t) (spec->nrepair + 1) * sizeof(char *));
	spec->repair_vals = xrealloc(spec->repair_vals, (size_t) (spec->nrepair + 1) * sizeof(char *));
	spec->repair_cols[spec->nrepair] = xstrndup(col, collen);
	spec->repair_vals[spec->nrepair] = xstrdup(buf_cstr(&v));
	spec->nrepair++;
	buf_free(&v);
}

/* --repair COL=VALUE ("NULL" is NULL) */
static void
add_repair(load_spec *spec, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg)
		die(FERRY_EXIT_USAGE, "--repair needs COLUMN=VALUE, not \"%s\"", arg);
	push_repair(spec, arg, (size_t) (eq - arg), strcmp(eq + 1, "NULL") == 0 ? NULL : eq + 1);
}

/*
 * A transaction-mode pooler (PgBouncer, Supavisor on port 6543) hands each
 * transaction to any server session: session settings, temporary tables
 * and the batch protocol would silently go wrong.  Refuse it, before
 * anything is written (pg_session_check tells it by its behaviour).
 * Returns the exit code: 0 for a session of our own.
 */
static int
refuse_pooler(PGconn *conn, const char *conninfo)
{
	char why[256];

	switch (pg_session_check(conn, conninfo, why, sizeof why))
	{
		case PG_SESSION_OK:
			return FERRY_EXIT_OK;
		case PG_SESSION_POOLED:
			log_error("target: %s looks like a transaction-mode connection pooler (%s); "
					  "ferry-load needs a session: " PG_POOLER_ADVICE, pg_describe(conn), why);
			return FERRY_EXIT_TARGET;
		default:
			return FERRY_EXIT_TARGET;
	}
}

/*
 * --check-session: only the check above, for the driver (ferry init, run
 * and resume): "session" or "pooler" on stdout, and the exit code.
 */
static int
check_session_only(const char *target)
{
	PGconn *conn = pg_connect(target, "target", "ferry-load");
	int code;

	if (conn == NULL)
		return FERRY_EXIT_TARGET;
	code = refuse_pooler(conn, target);
	PQfinish(conn);
	if (code == FERRY_EXIT_OK)
		puts("session");
	else if (code == FERRY_EXIT_TARGET)
		puts("pooler");
	return code;
}

static bool
ferry_schema_present(PGconn *conn)
{
	PGresult *res = pg_query(conn, "SELECT to_regclass('ferry.checkpoints') IS NOT NULL", 0, NULL);
	bool present = res && PQgetvalue(res, 0, 0)[0] == 't';

	PQclear(res);
	return present;
}

static bool
has_table(PGconn *conn, const char *name)
{
	const char *params[1] = {name};
	PGresult *res = pg_query(conn, "SELECT to_regclass($1) IS NOT NULL", 1, params);
	bool present = res && PQgetvalue(res, 0, 0)[0] == 't';

	PQclear(res);
	return present;
}

/* --rebuild-indexes: what bulk loads dropped and did not build again (bulk.h) */
static int
rebuild_only(const char *target)
{
	PGconn *conn = pg_connect(target, "target", "ferry-load");
	int code = FERRY_EXIT_OK;

	if (conn == NULL)
		return FERRY_EXIT_TARGET;
	/* a role that cannot read the list (least privilege) cannot have written it */
	PGresult *res = pg_query(conn, "SELECT to_regclass('ferry.bulk_indexes') IS NOT NULL AND "
							 "has_table_privilege('ferry.bulk_indexes', 'SELECT')", 0, NULL);

	if (res == NULL)
		code = FERRY_EXIT_TARGET;
	else if (PQgetvalue(res, 0, 0)[0] == 't')
		code = bulk_rebuild(conn, NULL);
	PQclear(res);
	PQfinish(conn);
	return code;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"target", required_argument, NULL, OPT_TARGET},
		{"table", required_argument, NULL, 't'},
		{"plan", required_argument, NULL, OPT_PLAN},
		{"entity", required_argument, NULL, OPT_ENTITY},
		{"fixup", no_argument, NULL, OPT_FIXUP},
		{"mode", required_argument, NULL, OPT_MODE},
		{"conflict", required_argument, NULL, OPT_CONFLICT},
		{"min-batch", required_argument, NULL, OPT_MIN_BATCH},
		{"max-batch", required_argument, NULL, OPT_MAX_BATCH},
		{"batch-bytes", required_argument, NULL, OPT_BATCH_BYTES},
		{"target-ms", required_argument, NULL, OPT_TARGET_MS},
		{"resume", no_argument, NULL, OPT_RESUME},
		{"no-id-map", no_argument, NULL, OPT_NO_ID_MAP},
		{"rejects", required_argument, NULL, OPT_REJECTS},
		{"triggers", required_argument, NULL, OPT_TRIGGERS},
		{"no-sequences", no_argument, NULL, OPT_NO_SEQUENCES},
		{"synchronous-commit", no_argument, NULL, OPT_SYNC_COMMIT},
		{"repair", required_argument, NULL, OPT_REPAIR},
		{"phase", required_argument, NULL, OPT_PHASE},
		{"expected", required_argument, NULL, OPT_EXPECTED},
		{"check-session", no_argument, NULL, OPT_CHECK_SESSION},
		{"no-bulk", no_argument, NULL, OPT_NO_BULK},
		{"rebuild-indexes", no_argument, NULL, OPT_REBUILD},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0}
	};
	cli_common common = {0};
	load_spec spec = {
		.phase = "load", .mode = LOAD_INSERT, .min_batch = 500, .max_batch = 2000,
		.max_batch_bytes = 16 << 20, .target_ms = 250, .id_map = true, .reset_sequences = true,
		.expected = -1
	};
	const char *target = getenv("FERRY_TARGET");
	const char *plan_file = NULL, *entity_name = NULL, *mode = NULL, *conflict = NULL;
	const char *triggers = "auto";
	bool sync_commit = false, check_session = false, bulk = true, rebuild = false;
	const char *phase = NULL;
	int opt;

	log_init(argv[0]);
	while ((opt = getopt_long(argc, argv, "t:" CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_TARGET: target = optarg; break;
			case 't': spec.target = optarg; break;
			case OPT_PLAN: plan_file = optarg; break;
			case OPT_ENTITY: entity_name = optarg; break;
			case OPT_FIXUP: spec.phase = "fixup"; spec.mode = LOAD_UPDATE; break;
			case OPT_MODE: mode = optarg; break;
			case OPT_CONFLICT: conflict = optarg; break;
			case OPT_MIN_BATCH: spec.min_batch = (int) cli_int("--min-batch", optarg); break;
			case OPT_MAX_BATCH: spec.max_batch = (int) cli_int("--max-batch", optarg); break;
			case OPT_BATCH_BYTES: spec.max_batch_bytes = (size_t) cli_int("--batch-bytes", optarg); break;
			case OPT_TARGET_MS: spec.target_ms = (int) cli_int("--target-ms", optarg); break;
			case OPT_RESUME: spec.resume = true; break;
			case OPT_NO_ID_MAP: spec.id_map = false; break;
			case OPT_REJECTS: spec.rejects_file = optarg; break;
			case OPT_TRIGGERS: triggers = optarg; break;
			case OPT_NO_SEQUENCES: spec.reset_sequences = false; break;
			case OPT_SYNC_COMMIT: sync_commit = true; break;
			case OPT_REPAIR: add_repair(&spec, optarg); break;
			case OPT_PHASE: phase = optarg; break;
			case OPT_EXPECTED: spec.expected = cli_int("--expected", optarg); break;
			case OPT_CHECK_SESSION: check_session = true; break;
			case OPT_NO_BULK: bulk = false; break;
			case OPT_REBUILD: rebuild = true; break;
			default:
				if (!cli_common_option(&common, opt, optarg, usage))
					usage(FERRY_EXIT_USAGE);
		}
	}
	if (argc - optind > 1)
		die(FERRY_EXIT_USAGE, "too many arguments (one input file at most)");
	if (check_session)
		exit(check_session_only(target));
	if (rebuild)
		exit(rebuild_only(target));
	if (mode)
	{
		if (strcmp(mode, "insert") == 0) spec.mode = LOAD_INSERT;
		else if (strcmp(mode, "upsert") == 0) spec.mode = LOAD_UPSERT;
		else if (strcmp(mode, "skip") == 0) spec.mode = LOAD_SKIP;
		else if (strcmp(mode, "update") == 0) spec.mode = LOAD_UPDATE;
		else
			die(FERRY_EXIT_USAGE, "--mode must be insert, upsert, skip or update, not \"%s\"", mode);
	}
	if (phase)
		spec.phase = phase;
	if (strcmp(triggers, "auto") && strcmp(triggers, "replica") && strcmp(triggers, "on"))
		die(FERRY_EXIT_USAGE, "--triggers must be auto, replica or on, not \"%s\"", triggers);
	if (spec.min_batch < 1 || spec.max_batch < spec.min_batch)
		die(FERRY_EXIT_USAGE, "batch sizes: need 1 <= --min-batch <= --max-batch");
	if (!!spec.target + !!plan_file != 1)
		die(FERRY_EXIT_USAGE, "give one of --table or --plan (see --help)");
	if (plan_file && !entity_name)
		die(FERRY_EXIT_USAGE, "--plan needs --entity NAME");
	cli_common_start(&common);
	spec.run = common.run;
	event_set_context(common.run, entity_name);

	plan *p = NULL;
	plan_entity *e = NULL;

	if (plan_file)
	{
		p = plan_load(plan_file);
		if (p == NULL)
			exit(FERRY_EXIT_USAGE);
		e = plan_find(p, entity_name);
		if (e == NULL)
			die(FERRY_EXIT_USAGE, "%s: no entity \"%s\"", plan_file, entity_name);
		if (e->target == NULL)
			die(FERRY_EXIT_USAGE, "%s: entity \"%s\" is not migrated (target -)", plan_file, entity_name);
		spec.target = e->target;
		if (e->tree)
			spec.parent_column = e->tree->parent_column;
		for (int i = 0; i < e->nrepair; i++)
			push_repair(&spec, e->repair_cols[i], strlen(e->repair_cols[i]), e->repair_vals[i]);
		if (!conflict && e->nconflict)
		{
			spec.nconflict = e->nconflict;
			spec.conflict = e->conflict;
		}
	}
	if (conflict)
		spec.conflict = cli_split_commas(conflict, &spec.nconflict);

	ferry_input *in = in_open(optind < argc ? argv[optind] : NULL);

	if (in == NULL)
		exit(FERRY_EXIT_IO);
	ferry_reader *r = reader_open(in);

	if (r == NULL)
		exit(FERRY_EXIT_STREAM);

	const ferry_header *h = reader_header(r);

	/* a spool file of another entity or run (left over, or mixed up) is not loaded */
	if (!reader_expect(r, entity_name, common.run))
		exit(FERRY_EXIT_STREAM);
	spec.entity = entity_name ? entity_name : h->entity;
	if (spec.nconflict == 0 && h->nkey > 0)
	{
		spec.nconflict = h->nkey;
		spec.conflict = h->key;
	}

	PGconn *conn = pg_connect(target, "target", "ferry-load");

	if (conn == NULL)
		exit(FERRY_EXIT_TARGET);
	int pooled = refuse_pooler(conn, target);

	if (pooled != FERRY_EXIT_OK)
		exit(pooled);
	/* on, not the server's default: --synchronous-commit promises the wait */
	if (!pg_exec(conn, sync_commit ? "SET synchronous_commit = on" : "SET synchronous_commit = off"))
		exit(FERRY_EXIT_TARGET);
	bool fk_checks_on = true;

	if (strcmp(triggers, "on") != 0)
	{
		PGresult *res = PQexec(conn, "SET session_replication_role = replica");
		bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;

		fk_checks_on = !ok;
		if (!ok && strcmp(triggers, "replica") == 0)
			die(FERRY_EXIT_TARGET, "target: cannot set session_replication_role = replica: %s",
				pg_errmsg(conn, res));
		if (!ok)
			log_warn("target: cannot set session_replication_role = replica (%s): loading with "
					 "triggers and foreign-key checks on", pg_errmsg(conn, res));
		else
			log_info("target: session_replication_role = replica: triggers and foreign-key "
					 "checks are off for this load; ferry checks references itself");
		PQclear(res);
	}
	/* forward references need the foreign keys they would trip off (the fix-up has none) */
	if (e && strcmp(spec.phase, "fixup") != 0 && !forward_loadable(conn, e, fk_checks_on))
		exit(strcmp(triggers, "on") == 0 ? FERRY_EXIT_USAGE : FERRY_EXIT_TARGET);
	/* the ferry schema's tables are keyed by run and entity: without both, keep no books */
	spec.bookkeeping = spec.run && spec.entity && ferry_schema_present(conn);
	if (!spec.bookkeeping && spec.run && spec.entity)
		log_warn("target: no ferry schema (run \"ferry init\"): no checkpoints, id map or rejects table");
	else if (spec.run && !spec.entity)
		log_warn("target: no entity (--entity, or the stream's): no checkpoints, id map or rejects table");
	spec.bulk = bulk && !fk_checks_on && spec.bookkeeping && has_table(conn, "ferry.bulk_indexes");
	if (spec.resume && !spec.bookkeeping)
		die(FERRY_EXIT_USAGE, "--resume needs --run, an entity and the ferry schema in the target (ferry init)");

	load_stats st;
	int code = load_stream(conn, &spec, r, &st);

	PQfinish(conn);
	reader_free(r);
	in_close(in);
	if (code == FERRY_EXIT_OK)
	{
		uint64_t rejects = st.rejected + st.passed_rejects;

		log_info("%s: %llu rows loaded, %llu rejected (%llu by the load), %llu notes, %llu batches",
				 spec.target, (unsigned long long) st.loaded, (unsigned long long) rejects,
				 (unsigned long long) st.rejected, (unsigned long long) st.notes,
				 (unsigned long long) st.batches);
		if (rejects > 0)
			code = FERRY_EXIT_REJECTS;
	}
	if (p)
		plan_free(p);
	return code;
}
