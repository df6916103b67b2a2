/*
 * ferry-verify: check that an entity arrived whole.
 *
 *   ferry-verify --source S --target T --plan FILE --entity NAME [--run ID]
 *   ferry-verify --source S --target T --source-table A --target-table B
 *
 * Counts: the rows the source has (the entity's extract query, or the
 * table) against the rows the destination has, less the rows set aside as
 * rejects by the run.  Exit 0 when they agree, 7 when they do not.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "plan.h"
#include "tree.h"

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
	OPT_NO_TREE
};

static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
			"Usage: ferry-verify [OPTIONS] (--plan FILE --entity NAME | --source-table A --target-table B)\n"
			"Compare the rows of one entity in the source and in the destination.\n\n"
			"      --source CONNINFO     source database (default $FERRY_SOURCE, then PG*)\n"
			"      --target CONNINFO     destination database (default $FERRY_TARGET, then PG*)\n"
			"      --plan FILE           a ferry plan; with --entity NAME, the entity to check\n"
			"      --source-table A      source table (without a plan)\n"
			"      --target-table B      destination table (without a plan)\n"
			"      --run ID              count the rows this run set aside as rejected\n"
			"      --snapshot ID         count the source in this exported snapshot\n"
			"      --tree                also check the entity's tree (default for an entity\n"
			"                            with a tree directive; see ferry-tree(7))\n"
			"      --no-tree             counts only\n\n%s",
			CLI_COMMON_USAGE);
	exit(code);
}

static long long
count_rows(PGconn *conn, const char *from_sql)
{
	buf b;
	PGresult *res;
	long long n;

	buf_init(&b, 256);
	buf_printf(&b, "SELECT count(*) FROM %s", from_sql);
	res = pg_query(conn, buf_cstr(&b), 0, NULL);
	buf_free(&b);
	if (res == NULL)
		return -1;
	n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

int
main(int argc, char **argv)
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
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0}
	};
	cli_common common = {0};
	const char *source = getenv("FERRY_SOURCE"), *target = getenv("FERRY_TARGET");
	const char *plan_file = NULL, *entity_name = NULL, *source_table = NULL, *target_table = NULL;
	const char *snapshot = NULL;
	int opt, tree = -1;         /* -1: when the entity has a tree */
	const plan_entity *tree_entity = NULL;

	log_init(argv[0]);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_SOURCE: source = optarg; break;
			case OPT_TARGET: target = optarg; break;
			case OPT_PLAN: plan_file = optarg; break;
			case OPT_ENTITY: entity_name = optarg; break;
			case OPT_SOURCE_TABLE: source_table = optarg; break;
			case OPT_TARGET_TABLE: target_table = optarg; break;
			case OPT_SNAPSHOT: snapshot = optarg; break;
			case OPT_TREE: tree = 1; break;
			case OPT_NO_TREE: tree = 0; break;
			default:
				if (!cli_common_option(&common, opt, optarg, usage))
					usage(FERRY_EXIT_USAGE);
		}
	}
	if (optind < argc)
		die(FERRY_EXIT_USAGE, "unexpected argument \"%s\"", argv[optind]);
	if (plan_file ? !entity_name : !(source_table && target_table))
		die(FERRY_EXIT_USAGE, "give --plan FILE --entity NAME, or --source-table and --target-table");
	cli_common_start(&common);
	event_set_context(common.run, entity_name);

	buf src_from, dst_from;
	plan *p = NULL;
	const char *name = entity_name;

	buf_init(&src_from, 512);
	buf_init(&dst_from, 128);
	if (plan_file)
	{
		p = plan_load(plan_file);
		if (p == NULL)
			exit(FERRY_EXIT_USAGE);
		plan_entity *e = plan_find(p, entity_name);

		if (e == NULL)
			die(FERRY_EXIT_USAGE, "%s: no entity \"%s\"", plan_file, entity_name);
		if (e->target == NULL || e->extract_sql == NULL)
			die(FERRY_EXIT_USAGE, "%s: entity \"%s\" is not migrated", plan_file, entity_name);
		buf_printf(&src_from, "(%s) AS q", e->extract_sql);
		pg_append_qualified(&dst_from, e->target);
		if (tree == 1 && e->tree == NULL)
			die(FERRY_EXIT_USAGE, "%s: entity \"%s\" has no tree directive", plan_file, entity_name);
		if (tree != 0 && e->tree)
			tree_entity = e;
	}
	else
	{
		pg_append_qualified(&src_from, source_table);
		pg_append_qualified(&dst_from, target_table);
		name = target_table;
	}

	PGconn *src = pg_connect(source, "source", "ferry-verify");

	if (src == NULL)
		exit(FERRY_EXIT_SOURCE);
	PGconn *dst = pg_connect(target, "target", "ferry-verify");

	if (dst == NULL)
		exit(FERRY_EXIT_TARGET);
	if (snapshot)
	{
		buf s;

		buf_init(&s, 64);
		buf_puts(&s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT ");
		pg_append_literal(&s, snapshot);
		if (!pg_exec(src, buf_cstr(&s)))
			exit(FERRY_EXIT_SOURCE);
		buf_free(&s);
	}

	long long nsrc = count_rows(src, buf_cstr(&src_from));

	if (nsrc < 0)
		exit(FERRY_EXIT_SOURCE);
	long long ndst = count_rows(dst, buf_cstr(&dst_from));

	if (ndst < 0)
		exit(FERRY_EXIT_TARGET);

	long long nrej = 0;

	if (common.run && entity_name)
	{
		const char *params[2] = {common.run, entity_name};
		PGresult *res = pg_query(dst, "SELECT count(*) FROM ferry.rejects WHERE run_id = $1 "
								 "AND entity = $2 AND disposition = 'rejected'", 2, params);

		if (res == NULL)
			exit(FERRY_EXIT_TARGET);
		nrej = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	bool ok = nsrc == ndst + nrej;

	printf("%s: source %lld, destination %lld, rejected %lld: %s\n", name, nsrc, ndst, nrej,
		   ok ? "ok" : nsrc > ndst + nrej ? "rows missing" : "rows extra");
	event_emit("verify_counts", "\"source\":%lld,\"target\":%lld,\"rejected\":%lld,\"ok\":%s",
			   nsrc, ndst, nrej, ok ? "true" : "false");
	int code = ok ? FERRY_EXIT_OK : FERRY_EXIT_VERIFY;

	if (tree_entity)
	{
		int tcode = verify_tree(src, dst, p, tree_entity, common.run);

		if (tcode != FERRY_EXIT_OK && (code == FERRY_EXIT_OK || tcode != FERRY_EXIT_VERIFY))
			code = tcode;
	}
	PQfinish(src);
	PQfinish(dst);
	buf_free(&src_from);
	buf_free(&dst_from);
	if (p)
		plan_free(p);
	return code;
}
