/*
 * ferry-verify: check that an entity arrived whole (man/ferry-verify.1).
 *
 *   ferry-verify --plan FILE --entity NAME [--run ID]           checksum mode
 *   ... | ferry-verify --rows --plan FILE --entity NAME [FILE]  row mode
 *   ferry-verify --source-table A --target-table B              counts mode
 *
 * Row mode compares each row of the transformed stream with the
 * destination row of the same uuid; checksum mode compares hashes of key
 * ranges computed in each database and narrows the ranges that differ
 * down to rows.  Both account for the rows the run rejected and repaired
 * (ferry.rejects), check the table's foreign keys and, for an entity with
 * a tree, the tree (tree.c), and report counts, differences and the
 * success rate on stdout and as JSON (--report FILE).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "buf.h"
#include "cli.h"
#include "counts.h"
#include "exitcode.h"
#include "io.h"
#include "linkcheck.h"
#include "log.h"
#include "pgconn.h"
#include "plan.h"
#include "tree.h"
#include "verify.h"

enum
{
	OPT_SOURCE = 1000,
	OPT_TARGET,
	OPT_PLAN,
	OPT_ENTITY,
	OPT_SOURCE_TABLE,
	OPT_TARGET_TABLE,
	OPT_SNAPSHOT,
	OPT_TREE,
	OPT_NO_TREE,
	OPT_ROWS,
	OPT_CHECKSUM,
	OPT_FIXUP,
	OPT_REPORT,
	OPT_MIN_SUCCESS,
	OPT_SHOW,
	OPT_MAX_LISTED,
	OPT_FANOUT,
	OPT_LEAF,
	OPT_NO_REFS,
	OPT_NO_COVERAGE
};

static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
			"Usage: ferry-verify [OPTIONS] --plan FILE --entity NAME [--rows [STREAM]]\n"
			"       ferry-verify [OPTIONS] --source-table A --target-table B\n"
			"Check an entity in the destination against the source: rows missing, extra and\n"
			"different (which column, both values), rejects and repairs of the run, foreign keys,\n"
			"the tree of a tree entity, and the success rate.\n\n"
			"Modes:\n"
			"      --checksum            hash key ranges in both databases, narrow down the ranges\n"
			"                            that differ to rows (default with --plan)\n"
			"      --rows                read the transformed stream (STREAM, or standard input)\n"
			"                            and compare it row by row; a STREAM argument implies it\n"
			"      --fixup               with --rows: the stream of the fix-up step (deferred columns)\n"
			"      --source-table A, --target-table B   counts only, without a plan\n\n"
			"Options:\n"
			"      --source CONNINFO     source database (default $FERRY_SOURCE, then PG*)\n"
			"      --target CONNINFO     destination database (default $FERRY_TARGET, then PG*)\n"
			"      --plan FILE           the plan; --entity NAME: the entity to check\n"
			"      --run ID              rejects and repairs of this run (default: the latest run)\n"
			"      --snapshot ID         read the source in this exported snapshot\n"
			"      --report FILE         write the JSON report to FILE (atomically)\n"
			"      --min-success PCT     exit 7 when fewer rows arrived intact (default 0: the bar\n"
			"                            is the whole run's, which \"ferry verify\" sets to 99.5)\n"
			"      --show N              differences printed (default 20)\n"
			"      --max-listed N        differences kept in the report (default 1000)\n"
			"      --segments N          checksum: ranges per split (default 16)\n"
			"      --leaf N              checksum: rows per side compared one by one (default 128)\n"
			"      --no-refs             do not check foreign keys\n"
			"      --no-coverage         do not check what the plan may have missed (legacy keys,\n"
			"                            columns left over on both sides, columns NULL in every row)\n"
			"      --tree / --no-tree    the tree checks (default: for an entity with a tree)\n\n%s",
			CLI_COMMON_USAGE);
	exit(code);
}

static double
parse_pct(const char *arg)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end || end == arg || v < 0 || v > 100)
		die(FERRY_EXIT_USAGE, "--min-success needs a percentage (0 to 100), not \"%s\"", arg);
	return v;
}

static void
tree_result(void *ctx, const char *check, bool ok, const char *detail)
{
	buf name;

	buf_init(&name, 32);
	buf_printf(&name, "tree %s", check);
	result_check(ctx, buf_cstr(&name), ok, detail);
	buf_free(&name);
}

/* both sessions in one snapshot each: every query sees the same rows */
static void
begin(PGconn *src, PGconn *dst, const char *snapshot)
{
	if (src)
	{
		buf s;

		buf_init(&s, 128);
		buf_puts(&s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
		if (snapshot)
		{
			buf_puts(&s, "; SET TRANSACTION SNAPSHOT ");
			pg_append_literal(&s, snapshot);
		}
		if (!pg_exec(src, buf_cstr(&s)))
			exit(FERRY_EXIT_SOURCE);
		buf_free(&s);
	}
	if (dst && !pg_exec(dst, "SET client_min_messages = warning; "
						"BEGIN ISOLATION LEVEL REPEATABLE READ"))
		exit(FERRY_EXIT_TARGET);
}

typedef struct opts
{
	const char *source;
	const char *target;
	const char *plan_file;
	const char *entity;
	const char *source_table;
	const char *target_table;
	const char *snapshot;
	const char *report;
	const char *stream;
	int tree;               /* -1: when the entity has a tree */
	bool rows;
	bool checksum;
	bool fixup;
	bool refs;
	bool coverage;
	double min_success;
	int show;
	int max_listed;
	int fanout;
	int leaf;
} opts;

static void
parse(int argc, char **argv, opts *o, cli_common *common)
{
	static const struct option longopts[] = {
		{"source", required_argument, NULL, OPT_SOURCE},
		{"target", required_argument, NULL, OPT_TARGET},
		{"plan", required_argument, NULL, OPT_PLAN},
		{"entity", required_argument, NULL, OPT_ENTITY},
		{"source-table", required_argument, NULL, OPT_SOURCE_TABLE},
		{"target-table", required_argument, NULL, OPT_TARGET_TABLE},
		{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
		{"tree", no_argument, NULL, OPT_TREE},
		{"no-tree", no_argument, NULL, OPT_NO_TREE},
		{"rows", no_argument, NULL, OPT_ROWS},
		{"checksum", no_argument, NULL, OPT_CHECKSUM},
		{"fixup", no_argument, NULL, OPT_FIXUP},
		{"report", required_argument, NULL, OPT_REPORT},
		{"min-success", required_argument, NULL, OPT_MIN_SUCCESS},
		{"show", required_argument, NULL, OPT_SHOW},
		{"max-listed", required_argument, NULL, OPT_MAX_LISTED},
		{"segments", required_argument, NULL, OPT_FANOUT},
		{"leaf", required_argument, NULL, OPT_LEAF},
		{"no-refs", no_argument, NULL, OPT_NO_REFS},
		{"no-coverage", no_argument, NULL, OPT_NO_COVERAGE},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0}
	};
	int opt;

	memset(o, 0, sizeof *o);
	o->source = getenv("FERRY_SOURCE");
	o->target = getenv("FERRY_TARGET");
	o->tree = -1;
	o->refs = true;
	o->coverage = true;
	o->min_success = 0;
	o->show = 20;
	o->max_listed = 1000;
	o->fanout = 16;
	o->leaf = 128;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_SOURCE: o->source = optarg; break;
			case OPT_TARGET: o->target = optarg; break;
			case OPT_PLAN: o->plan_file = optarg; break;
			case OPT_ENTITY: o->entity = optarg; break;
			case OPT_SOURCE_TABLE: o->source_table = optarg; break;
			case OPT_TARGET_TABLE: o->target_table = optarg; break;
			case OPT_SNAPSHOT: o->snapshot = optarg; break;
			case OPT_TREE: o->tree = 1; break;
			case OPT_NO_TREE: o->tree = 0; break;
			case OPT_ROWS: o->rows = true; break;
			case OPT_CHECKSUM: o->checksum = true; break;
			case OPT_FIXUP: o->fixup = true; break;
			case OPT_REPORT: o->report = optarg; break;
			case OPT_MIN_SUCCESS: o->min_success = parse_pct(optarg); break;
			case OPT_SHOW: o->show = (int) cli_int("--show", optarg); break;
			case OPT_MAX_LISTED: o->max_listed = (int) cli_int("--max-listed", optarg); break;
			case OPT_FANOUT: o->fanout = (int) cli_int("--segments", optarg); break;
			case OPT_LEAF: o->leaf = (int) cli_int("--leaf", optarg); break;
			case OPT_NO_REFS: o->refs = false; break;
			case OPT_NO_COVERAGE: o->coverage = false; break;
			default:
				if (!cli_common_option(common, opt, optarg, usage))
					usage(FERRY_EXIT_USAGE);
		}
	}
	if (optind < argc)
	{
		o->stream = argv[optind++];
		o->rows = true;
	}
	if (optind < argc)
		die(FERRY_EXIT_USAGE, "unexpected argument \"%s\"", argv[optind]);
	if (o->rows && o->checksum)
		die(FERRY_EXIT_USAGE, "--rows and --checksum are two modes: give one");
	if (o->fixup && !o->rows)
		die(FERRY_EXIT_USAGE, "--fixup goes with --rows (the stream of the fix-up step)");
	if (o->fanout < 2)
		die(FERRY_EXIT_USAGE, "--segments needs 2 or more");
	if (o->leaf < 1)
		die(FERRY_EXIT_USAGE, "--leaf needs 1 or more");
	if (o->rows ? !((o->plan_file && o->entity) || o->target_table)
		: o->plan_file ? !o->entity : !(o->source_table && o->target_table))
		die(FERRY_EXIT_USAGE, "give --plan FILE --entity NAME (checksum or --rows), "
			"--rows --target-table B, or --source-table A --target-table B");
}

/* counts mode, as before plans existed */
static int
tables_mode(const opts *o, const cli_common *common)
{
	PGconn *src = pg_connect(o->source, "source", "ferry-verify"), *dst;
	int code;

	if (src == NULL)
		exit(FERRY_EXIT_SOURCE);
	if ((dst = pg_connect(o->target, "target", "ferry-verify")) == NULL)
		exit(FERRY_EXIT_TARGET);
	if (o->snapshot)
		begin(src, NULL, o->snapshot);
	code = verify_counts(src, dst, o->source_table, o->target_table, common->run, o->entity);
	PQfinish(src);
	PQfinish(dst);
	return code;
}

static bool
write_report(const char *path, const vresult *r, const char *run, double min, bool passed)
{
	buf json;
	bool ok;

	buf_init(&json, 4096);
	report_json(&json, r, 1, run, min, passed);
	ok = write_file_atomic(path, json.data, json.len);
	buf_free(&json);
	return ok;
}

int
main(int argc, char **argv)
{
	cli_common common = {0};
	opts o;
	plan *p = NULL;
	const plan_entity *e = NULL;
	vctx c;
	vresult r;
	int code;
	char *run = NULL;

	log_init(argv[0]);
	parse(argc, argv, &o, &common);
	cli_common_start(&common);
	event_set_context(common.run, o.entity);
	if (o.source_table && !o.rows && !o.plan_file)
		return tables_mode(&o, &common);

	if (o.plan_file)
	{
		if ((p = plan_load(o.plan_file)) == NULL)
			exit(FERRY_EXIT_USAGE);
		if ((e = plan_find(p, o.entity)) == NULL)
			die(FERRY_EXIT_USAGE, "%s: no entity \"%s\"", o.plan_file, o.entity);
		if (e->target == NULL || (e->extract_sql == NULL && !o.rows))
			die(FERRY_EXIT_USAGE, "%s: entity \"%s\" is not migrated", o.plan_file, o.entity);
		if (o.tree == 1 && e->tree == NULL)
			die(FERRY_EXIT_USAGE, "%s: entity \"%s\" has no tree directive", o.plan_file, o.entity);
	}
	bool tree = e && e->tree && o.tree != 0 && !o.fixup;
	bool coverage = e && o.coverage && !o.fixup;

	memset(&c, 0, sizeof c);
	c.p = p;
	c.fanout = o.fanout;
	c.leaf = o.leaf;
	c.max_listed = o.max_listed;
	c.refs = o.refs;
	/* row mode needs the source only for the tree and coverage checks */
	if (!o.rows || tree || coverage)
	{
		if ((c.src = pg_connect(o.source, "source", "ferry-verify")) == NULL)
			exit(FERRY_EXIT_SOURCE);
		c.snapshot = o.snapshot != NULL;
	}
	if ((c.dst = pg_connect(o.target, "target", "ferry-verify")) == NULL)
		exit(FERRY_EXIT_TARGET);
	begin(c.src, c.dst, o.snapshot);
	if (!books_present(c.dst, &c.books))
		exit(FERRY_EXIT_TARGET);
	if (common.run)
		run = xstrdup(common.run);
	else if (c.books)
		run = books_last_run(c.dst);
	c.run = run;
	if (!books_view(&c))
		exit(FERRY_EXIT_TARGET);
	if (c.books && run)
		log_info("rejects and repairs of run %s", run);
	else
		log_warn("no run to account for (no ferry schema or no run in the destination): "
				 "every row set aside counts as missing");

	const char *label = e ? e->name : o.entity ? o.entity : o.target_table;

	result_init(&r, label, e ? e->target : o.target_table,
				o.fixup ? "fixup" : o.rows ? "rows" : "checksum", o.max_listed);
	if (o.rows)
		code = verify_rows(&c, e, o.target_table, o.entity, o.stream, o.fixup, &r);
	else
		code = verify_checksum(&c, e, &r);
	if (code == FERRY_EXIT_OK && c.books && !o.fixup && !run_counts(&c, r.entity, &r))
		code = FERRY_EXIT_TARGET;
	if (code == FERRY_EXIT_OK && c.snapshot)
		r.source_when = "snapshot";
	if (code == FERRY_EXIT_OK && coverage)
		code = verify_coverage(&c, e, &r);
	if (code == FERRY_EXIT_OK && tree)
	{
		int tcode;

		verify_tree_on_result(tree_result, &r);
		tcode = verify_tree(c.src, c.dst, p, e, run);
		verify_tree_on_result(NULL, NULL);
		if (tcode != FERRY_EXIT_OK && tcode != FERRY_EXIT_VERIFY)
			code = tcode;
	}
	if (code == FERRY_EXIT_OK && e && e->links && !o.fixup)
		code = verify_links(c.dst, e, c.books, &r);
	if (code == FERRY_EXIT_OK)
	{
		bool clean = result_clean(&r);
		double success = result_success(&r);
		bool passed = clean && success >= o.min_success;

		report_print(stdout, &r, o.show);
		if (success < o.min_success)
			printf("%s: success %.2f%% is under the minimum of %.2f%%\n", r.entity, success,
				   o.min_success);
		fflush(stdout);
		event_emit("verify", "\"mode\":\"%s\",\"source\":%lld,\"loaded\":%lld,\"rejected\":%lld,"
				   "\"missing\":%lld,\"extra\":%lld,\"different\":%lld,\"orphans\":%lld,\"ok\":%s",
				   r.mode, r.source_rows, r.loaded, r.rejected, r.missing, r.extra, r.different,
				   r.orphans, passed ? "true" : "false");
		if (o.report && !write_report(o.report, &r, run, o.min_success, passed))
			code = FERRY_EXIT_IO;
		else if (!passed)
			code = FERRY_EXIT_VERIFY;
	}
	if (c.dst)
		PQclear(PQexec(c.dst, "ROLLBACK"));
	if (c.src)
		PQclear(PQexec(c.src, "ROLLBACK"));
	PQfinish(c.src);
	PQfinish(c.dst);
	result_free(&r);
	free(run);
	if (p)
		plan_free(p);
	return code;
}
