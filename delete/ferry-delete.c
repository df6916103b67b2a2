/*
 * ferry-delete: rows gone from the source, gone from the destination
 * (man/ferry-delete.1).
 *
 *   ferry-delete --plan FILE --entity NAME --run ID [--snapshot ID] [--batch N]
 *   ferry-delete --plan FILE --freeze FILE [--lock-timeout S] [--check-only]
 *
 * The first form is one step of an incremental run, after the loads, in
 * reverse dependency order: the keys the destination holds from earlier
 * runs and the source no longer has (gone.c), then the entity's "deletes"
 * policy on them (apply.c), recorded in ferry.deletes, ferry.checkpoints
 * (phase "delete") and ferry.entity_runs.deletes.  Run again after a kill,
 * it finds what is left to do; a step that completed says so and exits.
 * The second form guards a cutover (freeze.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "delete.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "plan.h"

enum
{
	OPT_SOURCE = 1000,
	OPT_TARGET,
	OPT_PLAN,
	OPT_ENTITY,
	OPT_SNAPSHOT,
	OPT_BATCH,
	OPT_FREEZE,
	OPT_LOCK_TIMEOUT,
	OPT_CHECK_ONLY,
	OPT_SUMMARY
};

static void
usage(int code)
{
	fprintf(code ? stderr : stdout,
			"Usage: ferry-delete --plan FILE --entity NAME --run ID [OPTIONS]\n"
			"       ferry-delete --plan FILE --freeze FILE [--lock-timeout S] [--check-only]\n"
			"       ferry-delete --summary --run ID\n"
			"Apply the plan's deletes policy (delete, keep, flag) to the rows the destination\n"
			"holds from earlier runs whose legacy key the source no longer has; or, with\n"
			"--freeze, hold the source tables of the plan still for a cutover.\n\n"
			"Options:\n"
			"      --source CONNINFO     source database (default $FERRY_SOURCE, then PG*)\n"
			"      --target CONNINFO     destination database (default $FERRY_TARGET, then PG*)\n"
			"      --plan FILE           the plan; --entity NAME: the entity\n"
			"      --snapshot ID         read the source's keys in this exported snapshot\n"
			"      --batch N             keys a transaction (default 1000)\n"
			"      --freeze FILE         lock the source tables in SHARE mode (or, when the role\n"
			"                            may not, check that no session writes to them), write\n"
			"                            \"locked|checked<TAB>TABLES\" to FILE, hold until stopped\n"
			"      --lock-timeout S      --freeze: wait at most S seconds for writers (default 10)\n"
			"      --check-only          --freeze: check the sessions, take no lock\n"
			"      --summary             the deletes of run --run, one line an entity, and each\n"
			"                            delete refused with its reason\n\n%s"
			"10: --freeze found sessions writing to the source.\n",
			CLI_COMMON_USAGE);
	exit(code);
}

/* how the destination's rows of earlier runs are told: key columns, or uuids */
static bool
describe(PGconn *dst, const plan_entity *e, dentity *d)
{
	char *qualified = pg_qualified(e->target);
	const char *params[1];
	PGresult *res;

	params[0] = qualified;
	res = pg_query(dst, "SELECT a.attname FROM pg_attribute a "
							 "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
							 1, params);
	bool has_keys = true, has_uuid = false;

	free(qualified);
	if (res == NULL)
		return false;
	if (PQntuples(res) == 0)
	{
		log_error("target: table %s does not exist", e->target);
		PQclear(res);
		return false;
	}
	for (int k = 0; k < e->nkey; k++)
	{
		bool found = false, dropped = false;

		for (int i = 0; i < PQntuples(res) && !found; i++)
			found = strcmp(PQgetvalue(res, i, 0), e->key[k]) == 0;
		for (int i = 0; i < e->ndrop; i++)
			dropped = dropped || strcmp(e->drop[i], e->key[k]) == 0;
		has_keys = has_keys && found && !dropped;
	}
	for (int i = 0; e->uuid_column && i < PQntuples(res); i++)
		has_uuid = has_uuid || strcmp(PQgetvalue(res, i, 0), e->uuid_column) == 0;
	PQclear(res);

	/* the table as ferry.deletes names it (and as rollback.sql reads it back) */
	qualified = pg_qualified(e->target);
	params[0] = qualified;
	res = pg_query(dst, "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
				   "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)",
				   1, params);
	free(qualified);
	if (res == NULL)
		return false;
	d->target_sql = xstrdup(PQgetvalue(res, 0, 0));
	d->target_name = xstrdup(d->target_sql);
	PQclear(res);
	if (has_keys)
	{
		d->mode = MODE_KEY;
		d->nkey = e->nkey;
		d->key = e->key;
	}
	else if (has_uuid)
	{
		d->mode = MODE_UUID;
		d->nkey = 1;
		d->key = (char **) &e->uuid_column;
	}
	else
	{
		log_error("%s: the destination has neither the key columns nor a uuid column: the rows of "
				  "earlier runs cannot be told from the others (give the entity a uuid column, keep "
				  "its key, or \"deletes keep\")", e->name);
		return false;
	}
	if (e->deletes == DELETES_FLAG)
	{
		buf f;

		buf_init(&f, 64);
		pg_append_ident(&f, e->deletes_column);
		d->flag_sql = xstrdup(buf_cstr(&f));
		buf_free(&f);
	}
	return true;
}

/* in UUID mode another entity loading the same table would make its rows look gone */
static const plan_entity *
table_shared(const plan *p, const plan_entity *e)
{
	for (int i = 0; i < p->nentities; i++)
	{
		const plan_entity *o = &p->entities[i];

		if (o != e && o->target && strcmp(o->target, e->target) == 0)
			return o;
	}
	return NULL;
}

/* deletes run with foreign keys and triggers on: the destination's rules apply */
static bool
rules_on(PGconn *dst)
{
	PGresult *res = pg_query(dst, "SELECT current_setting('session_replication_role')", 0, NULL);
	bool origin;

	if (res == NULL)
		return false;
	origin = strcmp(PQgetvalue(res, 0, 0), "origin") == 0;
	PQclear(res);
	if (!origin && !pg_exec(dst, "SET session_replication_role = origin"))
	{
		log_error("target: deletes need foreign keys and triggers on (session_replication_role "
				  "origin), and the role's default is another it may not change");
		return false;
	}
	return pg_exec(dst, "SET client_min_messages = warning");
}

/* done in an earlier attempt?  (its checkpoint is complete) */
static int
done_before(PGconn *dst, const dspec *s)
{
	const char *params[2] = {s->run, s->e->name};
	PGresult *res = pg_query(dst, "SELECT to_regclass('ferry.deletes') IS NOT NULL AND EXISTS (SELECT 1 "
							 "FROM pg_attribute WHERE attrelid = to_regclass('ferry.entity_runs') "
							 "AND attname = 'deletes' AND NOT attisdropped)", 0, NULL);
	int done;

	if (res == NULL)
		return -1;
	done = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!done)
	{
		log_error("the target's ferry schema has no ferry.deletes: run \"ferry init\" again (it adds "
				  "what is missing)");
		return -1;
	}
	res = pg_query(dst, "SELECT complete, rows_loaded, rows_rejected FROM ferry.checkpoints "
				   "WHERE run_id = $1 AND entity = $2 AND phase = 'delete'", 2, params);
	if (res == NULL)
		return -1;
	done = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	if (done)
		log_result("%s: deletes done in an earlier attempt (%s rows, %s refused)", s->e->name,
				   PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	PQclear(res);
	/* what an earlier attempt found refused or kept is found again */
	if (!done)
	{
		res = pg_query(dst, "DELETE FROM ferry.deletes WHERE run_id = $1 AND entity = $2 "
					   "AND action IN ('refused', 'kept')", 2, params);
		if (res == NULL)
			return -1;
		PQclear(res);
	}
	return done;
}

static int
delete_entity(const dspec *s, PGconn **srcp, PGconn **dstp)
{
	dentity d = {0};
	dcounts c = {0};
	PGconn *src = *srcp, *dst = *dstp;
	int code = FERRY_EXIT_TARGET, done;

	/* the connections of the entities before this one, else new ones */
	if (dst == NULL)
	{
		*dstp = dst = pg_connect(s->target, "target", "ferry-delete");
		if (dst == NULL || !rules_on(dst))
			goto out;
	}
	if ((done = done_before(dst, s)) != 0)
	{
		code = done > 0 ? FERRY_EXIT_OK : FERRY_EXIT_TARGET;
		goto out;
	}
	if (!describe(dst, s->e, &d))
	{
		code = PQstatus(dst) == CONNECTION_OK ? FERRY_EXIT_USAGE : FERRY_EXIT_TARGET;
		goto out;
	}
	const plan_entity *other = d.mode == MODE_UUID ? table_shared(s->p, s->e) : NULL;

	if (other)
	{
		log_error("%s: entity %s loads the same table, and the destination has no key column to tell "
				  "their rows apart (keep the key column, or \"deletes keep\")", s->e->name, other->name);
		code = FERRY_EXIT_USAGE;
		goto out;
	}
	if (src == NULL && (*srcp = src = pg_connect(s->source, "source", "ferry-delete")) == NULL)
	{
		code = FERRY_EXIT_SOURCE;
		goto out;
	}
	event_emit("delete_start", "\"policy\":\"%s\",\"by\":\"%s\"", plan_deletes_name(s->e->deletes),
			   d.mode == MODE_KEY ? "key" : "uuid");
	code = gone_find(src, dst, s, &d);
	if (code == FERRY_EXIT_OK)
		code = apply_policy(dst, s, &d, &c);
	if (code == FERRY_EXIT_OK)
	{
		log_result("%s: %lld gone from the source: %lld deleted, %lld cascaded, %lld set null, "
				   "%lld flagged, %lld kept, %lld refused", s->e->name, (long long) d.gone,
				   (long long) c.deleted, (long long) c.cascaded, (long long) c.set_null,
				   (long long) c.flagged, (long long) c.kept, (long long) c.refused);
		event_emit("delete_end", "\"exit\":0,\"gone\":%lld,\"deleted\":%lld,\"cascaded\":%lld,"
				   "\"set_null\":%lld,\"flagged\":%lld,\"kept\":%lld,\"refused\":%lld,\"batches\":%lld",
				   (long long) d.gone, (long long) c.deleted, (long long) c.cascaded,
				   (long long) c.set_null, (long long) c.flagged, (long long) c.kept,
				   (long long) c.refused, (long long) c.batches);
	}
	else
		event_emit("delete_end", "\"exit\":%d", code);
out:
	free(d.target_sql);
	free(d.target_name);
	free(d.flag_sql);
	return code;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONGOPTS,
		{"source", required_argument, NULL, OPT_SOURCE},
		{"target", required_argument, NULL, OPT_TARGET},
		{"plan", required_argument, NULL, OPT_PLAN},
		{"entity", required_argument, NULL, OPT_ENTITY},
		{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
		{"batch", required_argument, NULL, OPT_BATCH},
		{"freeze", required_argument, NULL, OPT_FREEZE},
		{"lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT},
		{"check-only", no_argument, NULL, OPT_CHECK_ONLY},
		{"summary", no_argument, NULL, OPT_SUMMARY},
		{NULL, 0, NULL, 0}
	};
	cli_common common = {0};
	dspec s = {.batch = 1000, .source = getenv("FERRY_SOURCE"), .target = getenv("FERRY_TARGET")};
	const char *plan_file = NULL, *entity = NULL, *freeze = NULL;
	long lock_timeout = 10;
	bool check_only = false, summary = false;
	int opt, code;

	log_init("ferry-delete");
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_SOURCE: s.source = optarg; break;
			case OPT_TARGET: s.target = optarg; break;
			case OPT_PLAN: plan_file = optarg; break;
			case OPT_ENTITY: entity = optarg; break;
			case OPT_SNAPSHOT: s.snapshot = optarg; break;
			case OPT_BATCH: s.batch = cli_int("--batch", optarg); break;
			case OPT_FREEZE: freeze = optarg; break;
			case OPT_LOCK_TIMEOUT: lock_timeout = cli_int("--lock-timeout", optarg); break;
			case OPT_CHECK_ONLY: check_only = true; break;
			case OPT_SUMMARY: summary = true; break;
			default:
				if (!cli_common_option(&common, opt, optarg, usage))
					usage(FERRY_EXIT_USAGE);
		}
	}
	if (optind < argc)
		die(FERRY_EXIT_USAGE, "unexpected argument \"%s\"", argv[optind]);
	if (summary)
	{
		if (common.run == NULL)
			die(FERRY_EXIT_USAGE, "--summary needs --run ID");
		cli_common_start(&common);
		PGconn *dst = pg_connect(s.target, "target", "ferry-delete");

		code = dst ? deletes_summary(dst, common.run) : FERRY_EXIT_TARGET;
		if (dst)
			PQfinish(dst);
		return code;
	}
	if (plan_file == NULL)
		die(FERRY_EXIT_USAGE, "--plan FILE is required");
	if (freeze == NULL && (entity == NULL || common.run == NULL))
		die(FERRY_EXIT_USAGE, "--entity NAME and --run ID are required (or --freeze FILE)");
	if (s.batch < 1 || lock_timeout < 1 || lock_timeout > 86400)
		die(FERRY_EXIT_USAGE, "--batch and --lock-timeout need a positive number");
	s.run = common.run;
	cli_common_start(&common);

	plan *p = plan_load(plan_file);

	if (p == NULL)
		return FERRY_EXIT_USAGE;
	s.p = p;
	if (freeze)
	{
		PGconn *src = pg_connect(s.source, "source", "ferry-delete");

		code = src ? freeze_source(src, p, freeze, (int) lock_timeout, check_only) : FERRY_EXIT_SOURCE;
		if (src)
			PQfinish(src);
		plan_free(p);
		return code;
	}
	/* ENTITY[,ENTITY...]: one after the other (the driver's reverse order),
	 * in one process; the first that fails stops the rest */
	int nnames = 0;
	char **names = cli_split_commas(entity, &nnames);

	code = FERRY_EXIT_OK;
	for (int i = 0; i < nnames && code == FERRY_EXIT_OK; i++)
		if (plan_find(p, names[i]) == NULL)
		{
			log_error("the plan has no entity \"%s\"", names[i]);
			code = FERRY_EXIT_USAGE;
		}
	PGconn *src = NULL, *dst = NULL;

	for (int i = 0; i < nnames && code == FERRY_EXIT_OK; i++)
	{
		s.e = plan_find(p, names[i]);
		event_set_context(s.run, s.e->name);
		if (s.e->target == NULL || s.e->nkey == 0 || s.e->extract_sql == NULL)
			log_info("%s: not migrated: no deletes", s.e->name);
		else if ((code = delete_entity(&s, &src, &dst)) != FERRY_EXIT_OK && nnames > 1)
			log_error("%s: the deletes stopped at this entity (exit %d)", s.e->name, code);
	}
	if (src)
		PQfinish(src);
	if (dst)
		PQfinish(dst);
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	event_close();
	plan_free(p);
	return code;
}
