/*
 * ferry-plan: write, check and read migration plans (man/ferry-plan.1).
 *
 *   ferry-plan generate [--source CONNINFO] [--target CONNINFO] [-o FILE] ...
 *   ferry-plan check FILE [--live | --source CONNINFO --target CONNINFO]
 *   ferry-plan order FILE [--levels] [--with FIELD,...]
 *   ferry-plan get FILE ENTITY FIELD
 *   ferry-plan list FILE [--source]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "catalog.h"
#include "cli.h"
#include "coverage.h"
#include "exitcode.h"
#include "generate.h"
#include "io.h"
#include "log.h"
#include "pgconn.h"
#include "plan.h"
#include "uuid.h"
#include "watch.h"

enum
{
	OPT_SOURCE = 1000,
	OPT_TARGET,
	OPT_SOURCE_SCHEMA,
	OPT_TARGET_SCHEMA,
	OPT_TIMEZONE,
	OPT_LEVELS,
	OPT_NO_DATE
};

static void
usage(int code)
{
	FILE *f = code == 0 ? stdout : stderr;

	fprintf(f,
			"Usage: ferry-plan COMMAND [OPTIONS]\n"
			"Write, check and read ferry migration plans (format: man 5 ferry-plan).\n"
			"\n"
			"Commands:\n"
			"  generate [OPTIONS]           read both catalogs and write a plan\n"
			"      --source CONNINFO        legacy database (default $FERRY_SOURCE, else PG* variables)\n"
			"      --target CONNINFO        destination database (default $FERRY_TARGET)\n"
			"      --source-schema S        source schema to plan (repeatable; default: every user schema)\n"
			"      --target-schema S        destination schema (repeatable; default public); the tables\n"
			"                               they reference through foreign keys come along\n"
			"      --timezone TZ            time zone of legacy timestamp values (default UTC)\n"
			"      --no-date                no generation date in the header\n"
			"  -o, --output FILE            write the plan to FILE (atomically) instead of stdout\n"
			"  check FILE                   list every problem (TODOs left, unknown entities, cycles);\n"
			"                               exit 0 only when the plan can run\n"
			"      --source CONNINFO        and against the live databases (preflight): every extract\n"
			"      --target CONNINFO        query prepared on the source (no row read), its columns and\n"
			"                               types against the destination's, coverage (man 5 ferry-plan);\n"
			"                               one not given: $FERRY_SOURCE / $FERRY_TARGET, else PG*\n"
			"      --live                   the same with $FERRY_SOURCE and $FERRY_TARGET\n"
			"  order FILE [--levels] [--with FIELD,...]\n"
			"                               migrated entities in load order, one per line, with the\n"
			"                               fix-up steps of deferred columns as ENTITY:COLUMN lines;\n"
			"                               --levels prefixes each line with its level (lines of one\n"
			"                               level do not depend on each other); --with FIELD,...\n"
			"                               appends one-line fields of get to each entity, tab-separated\n"
			"  get FILE ENTITY FIELD        print one field of an entity: name source target keyspace\n"
			"                               key uuid drop refs ref check defer forward tree poly\n"
			"                               depends incremental deletes conflict extract todo line\n"
			"                               migrated;\n"
			"                               ENTITY \"-\": namespace, todo\n"
			"  list FILE [--source]         every entity: NAME TARGET (\"-\" when not migrated)\n"
			"                               [SOURCE] (the source table, \"-\" when none)\n"
			"\n"
			"Options:\n"
			"  -q, --quiet / -v, --verbose  less / more on stderr\n"
			"  -h, --help                   this help;  --version: print the version\n"
			"\n"
			"Exit codes: 0 ok, 1 internal error, 2 usage or plan not runnable, 3 source database,\n"
			"4 target database, 8 file error.\n");
	exit(code);
}

/* "host=H dbname=D" of a connection: never the password, never the whole conninfo */
static char *
describe(PGconn *conn)
{
	const char *host = PQhost(conn);
	buf b;

	buf_init(&b, 128);
	if (host == NULL || *host == '\0' || *host == '/')
		buf_printf(&b, "local socket, dbname=%s", PQdb(conn));
	else
		buf_printf(&b, "host=%s dbname=%s", host, PQdb(conn));
	buf_cstr(&b);
	return b.data;
}

static void
strv_add(int *n, char ***v, const char *s)
{
	*v = xrealloc(*v, sizeof(char *) * (size_t) (*n + 1));
	(*v)[(*n)++] = (char *) s;
}

static int
cmd_generate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"source", required_argument, NULL, OPT_SOURCE},
		{"target", required_argument, NULL, OPT_TARGET},
		{"source-schema", required_argument, NULL, OPT_SOURCE_SCHEMA},
		{"target-schema", required_argument, NULL, OPT_TARGET_SCHEMA},
		{"timezone", required_argument, NULL, OPT_TIMEZONE},
		{"no-date", no_argument, NULL, OPT_NO_DATE},
		{"output", required_argument, NULL, 'o'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	const char *source = getenv("FERRY_SOURCE");
	const char *target = getenv("FERRY_TARGET");
	const char *output = NULL;
	gen_options o = {0};
	bool no_date = false;
	int verbosity = 0;
	int opt;

	o.timezone = "UTC";
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_SOURCE: source = optarg; break;
			case OPT_TARGET: target = optarg; break;
			case OPT_SOURCE_SCHEMA: strv_add(&o.nsource_schemas, &o.source_schemas, optarg); break;
			case OPT_TARGET_SCHEMA: strv_add(&o.ntarget_schemas, &o.target_schemas, optarg); break;
			case OPT_TIMEZONE: o.timezone = optarg; break;
			case OPT_NO_DATE: no_date = true; break;
			case 'o': output = optarg; break;
			case 'q': verbosity = -1; break;
			case 'v': verbosity++; break;
			case 'h': usage(0); break;
			default: usage(FERRY_EXIT_USAGE);
		}
	}
	if (optind < argc)
		die(FERRY_EXIT_USAGE, "generate: unexpected argument \"%s\"", argv[optind]);
	if (*o.timezone == '\0')
		die(FERRY_EXIT_USAGE, "--timezone: empty time zone");
	log_set_level(log_get_level() + verbosity);
	if (o.ntarget_schemas == 0)
		strv_add(&o.ntarget_schemas, &o.target_schemas, "public");

	PGconn *sconn = pg_connect(source, "source", "ferry-plan");

	if (sconn == NULL)
		exit(FERRY_EXIT_SOURCE);

	PGconn *tconn = pg_connect(target, "target", "ferry-plan");

	if (tconn == NULL)
	{
		PQfinish(sconn);
		exit(FERRY_EXIT_TARGET);
	}

	/* the time zone must exist: ask the source, which evaluates the queries */
	{
		const char *params[1] = {o.timezone};
		PGresult *res = pg_query(sconn, "SELECT now() AT TIME ZONE $1", 1, params);

		if (res == NULL)
		{
			log_error("--timezone \"%s\" is not a time zone the source knows", o.timezone);
			PQfinish(sconn);
			PQfinish(tconn);
			exit(FERRY_EXIT_USAGE);
		}
		PQclear(res);
	}

	catalog scat, tcat;

	if (!catalog_read(sconn, o.nsource_schemas, o.source_schemas, false, &scat))
	{
		log_error("cannot read the source catalog");
		exit(FERRY_EXIT_SOURCE);
	}
	if (!catalog_read(tconn, o.ntarget_schemas, o.target_schemas, true, &tcat))
	{
		log_error("cannot read the target catalog");
		exit(FERRY_EXIT_TARGET);
	}
	{
		int ns = 0, nt = 0;

		for (int i = 0; i < scat.ntables; i++)
			ns += scat.tables[i].selected;
		for (int i = 0; i < tcat.ntables; i++)
			nt += tcat.tables[i].selected;
		if (ns == 0)
			die(FERRY_EXIT_SOURCE, "no table in the source%s", o.nsource_schemas ? " schemas given" : "");
		if (nt == 0)
			die(FERRY_EXIT_TARGET, "no table in the target schemas given");
		log_info("%d source tables, %d destination tables", ns, nt);
	}

	char *sdesc = describe(sconn), *tdesc = describe(tconn);
	char when[64];
	gen_stats st = {0};
	buf out;

	if (!no_date)
	{
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
		o.generated_at = when;
	}
	o.source_desc = sdesc;
	o.target_desc = tdesc;
	buf_init(&out, 1 << 16);
	if (!plan_generate(sconn, &scat, &tcat, &o, &out, &st))
		exit(FERRY_EXIT_INTERNAL);

	/* what we write must read back: a bug here would surface in every stage */
	{
		plan *p = plan_parse(out.data, out.len, output ? output : "(generated plan)");

		if (p == NULL)
		{
			log_error("internal error: the generated plan does not parse");
			exit(FERRY_EXIT_INTERNAL);
		}
		plan_free(p);
	}
	if (output && strcmp(output, "-") != 0)
	{
		if (!write_file_atomic(output, out.data, out.len))
			exit(FERRY_EXIT_IO);
	}
	else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0)
		die(FERRY_EXIT_IO, "cannot write the plan: %s", strerror(errno));

	{
		char forwarded[64] = "";

		/* "M with forward" only when there are: the line is otherwise as it was */
		if (st.forwarded)
			snprintf(forwarded, sizeof forwarded, ", %d with forward", st.forwarded);
		log_result("%d entities: %d migrated (%d without a source table), %d not migrated, "
				   "%d cycle%s broken with defer%s, %d TODO%s%s", st.entities, st.migrated,
				   st.skeletons, st.not_migrated, st.deferred, st.deferred == 1 ? "" : "s",
				   forwarded, st.todos, st.todos == 1 ? "" : "s",
				   st.todos ? " (ferry-plan check lists them)" : "");
	}
	buf_free(&out);
	free(sdesc);
	free(tdesc);
	catalog_free(&scat);
	catalog_free(&tcat);
	free(o.source_schemas);
	free(o.target_schemas);
	PQfinish(sconn);
	PQfinish(tconn);
	return FERRY_EXIT_OK;
}

/* load a plan or exit: 8 when it cannot be read, 2 when it does not parse */
static plan *
load_or_die(const char *path)
{
	plan *p;

	if (access(path, R_OK) != 0)
		die(FERRY_EXIT_IO, "cannot read plan \"%s\": %s", path, strerror(errno));
	p = plan_load(path);
	if (p == NULL)
		exit(FERRY_EXIT_USAGE);
	return p;
}

/*
 * Preflight: the plan against the live databases (lib/coverage.c), every
 * problem on its own line; the source is only read (queries prepared in a
 * read-only transaction), the target only asked.  Returns the number of
 * problems, or -1 when a database could not be read (exit code in *code).
 */
/*
 * The entities whose extract reads tables their incremental expression
 * does not watch (watch.h): one note line each in notes, said after the
 * verdict.  False (logged) when the source cannot plan a query.
 */
static bool
unwatched_notes(const plan *p, const char *path, PGconn *src, buf *notes)
{
	buf tables, err;
	bool ok = true;

	buf_init(&tables, 128);
	buf_init(&err, 128);
	for (int i = 0; i < p->nentities && ok; i++)
	{
		const plan_entity *e = &p->entities[i];

		buf_reset(&tables);
		if (e->target == NULL)
			continue;
		if (!watch_unwatched(src, e, &tables, &err))
		{
			log_error("%s:%d: entity \"%s\": cannot trace what its incremental expression watches: %s",
					  path, e->line, e->name, buf_cstr(&err));
			ok = false;
		}
		else if (tables.len)
			buf_printf(notes, "%s:%d: note: entity \"%s\" reads %s, which its incremental expression "
					   "does not watch: an incremental run reads it whole (\"unwatched\" in the plan "
					   "if changes there alone need not be seen)\n", path, e->line, e->name, buf_cstr(&tables));
	}
	buf_free(&tables);
	buf_free(&err);
	return ok;
}

static int
check_live(const plan *p, const char *path, const char *source, const char *target, int *code,
		   buf *notes)
{
	PGconn *sconn, *tconn;
	catalog scat, tcat;
	cov_findings fs = {0};
	cov_sides sides;
	int n;

	if ((sconn = pg_connect(source, "source", "ferry-plan")) == NULL)
	{
		*code = FERRY_EXIT_SOURCE;
		return -1;
	}
	if ((tconn = pg_connect(target, "target", "ferry-plan")) == NULL)
	{
		PQfinish(sconn);
		*code = FERRY_EXIT_TARGET;
		return -1;
	}
	if (!catalog_read(sconn, 0, NULL, false, &scat))
	{
		log_error("cannot read the source catalog");
		*code = FERRY_EXIT_SOURCE;
		return -1;
	}
	if (!catalog_read(tconn, 0, NULL, false, &tcat))
	{
		log_error("cannot read the target catalog");
		*code = FERRY_EXIT_TARGET;
		return -1;
	}
	sides.scat = &scat;
	sides.tcat = &tcat;
	sides.src = sconn;
	sides.dst = tconn;
	if (!coverage_plan(p, &sides, &fs))
	{
		*code = PQstatus(sconn) != CONNECTION_OK ? FERRY_EXIT_SOURCE : FERRY_EXIT_TARGET;
		return -1;
	}
	for (int i = 0; i < fs.n; i++)
	{
		buf line;

		buf_init(&line, 256);
		coverage_line(&line, path, &fs.v[i]);
		log_error("%s", buf_cstr(&line));
		buf_free(&line);
	}
	n = fs.n;
	if (n == 0)
		n = unwatched_notes(p, path, sconn, notes) ? 0 : -1;
	coverage_free(&fs);
	catalog_free(&scat);
	catalog_free(&tcat);
	PQfinish(sconn);
	PQfinish(tconn);
	return n;
}

/* the entities an incremental run cannot read by change: said, with their count */
static void
whole_reads(const plan *p, const char *path)
{
	buf names;
	int n = 0;

	buf_init(&names, 256);
	for (int i = 0; i < p->nentities; i++)
		if (p->entities[i].target && p->entities[i].incremental == NULL)
			buf_printf(&names, "%s%s", n++ ? ", " : "", p->entities[i].name);
	if (n)
		log_result("%s: note: an incremental run reads %d entit%s whole (no change time and no "
				   "\"incremental keys\"): %s", path, n, n == 1 ? "y" : "ies", buf_cstr(&names));
	buf_free(&names);
}

static int
cmd_check(int argc, char **argv)
{
	static const char *use = "usage: ferry-plan check FILE [--live | --source CONNINFO --target CONNINFO]";
	const char *path = NULL, *source = NULL, *target = NULL;
	bool live = false;
	plan *p;
	int problems, migrated = 0;
	buf notes;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--live") == 0)
			live = true;
		else if ((strcmp(argv[i], "--source") == 0 || strcmp(argv[i], "--target") == 0) &&
				 i + 1 < argc)
		{
			*(argv[i][2] == 's' ? &source : &target) = argv[i + 1];
			live = true;
			i++;
		}
		else if (strncmp(argv[i], "--source=", 9) == 0)
			source = argv[i] + 9, live = true;
		else if (strncmp(argv[i], "--target=", 9) == 0)
			target = argv[i] + 9, live = true;
		else if (path == NULL && argv[i][0] != '-')
			path = argv[i];
		else
			die(FERRY_EXIT_USAGE, "%s", use);
	}
	if (path == NULL)
		die(FERRY_EXIT_USAGE, "%s", use);
	/* live: a connection not given is $FERRY_SOURCE / $FERRY_TARGET, else the PG* variables */
	if (live && source == NULL)
		source = getenv("FERRY_SOURCE");
	if (live && target == NULL)
		target = getenv("FERRY_TARGET");
	p = load_or_die(path);
	buf_init(&notes, 256);
	problems = plan_validate(p);
	for (int i = 0; i < p->nentities; i++)
		migrated += p->entities[i].target != NULL;
	if (live)
	{
		int code = FERRY_EXIT_OK, found = check_live(p, path, source, target, &code, &notes);

		if (found < 0)
		{
			buf_free(&notes);
			plan_free(p);
			return code == FERRY_EXIT_OK ? FERRY_EXIT_SOURCE : code;
		}
		problems += found;
	}
	if (problems)
	{
		log_error("%s: %d problem%s: the plan cannot run %s", path, problems,
				  problems == 1 ? "" : "s", live ? "on these databases" : "yet");
		buf_free(&notes);
		plan_free(p);
		return FERRY_EXIT_USAGE;
	}
	log_result("%s: ok, %d entities (%d migrated)%s", path, p->nentities, migrated,
			   live ? ", every query prepared on the source and every column accounted for" : "");
	whole_reads(p, path);
	for (char *line = notes.len ? (char *) buf_cstr(&notes) : NULL, *nl; line && *line; line = nl + 1)
	{
		nl = strchr(line, '\n');
		*nl = '\0';
		log_result("%s", line);
	}
	buf_free(&notes);
	plan_free(p);
	return FERRY_EXIT_OK;
}

typedef struct order_item
{
	int level;
	int kind;        /* 0 entity, 1 fix-up */
	int seq;
	const plan_entity *e;
	const plan_ref *r;
} order_item;

static int
cmp_item(const void *a, const void *b)
{
	const order_item *x = a, *y = b;

	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind - y->kind;
	return x->seq - y->seq;
}

/*
 * The value of a one-line field of E into OUT (empty when the entity has
 * none; "-" for the target of an entity not migrated); false when FIELD
 * is not one of them.  What "get" prints and "order --with" appends.
 */
static bool
one_line_field(const plan_entity *e, const char *field, buf *out)
{
	const char *text = NULL;

	if (strcmp(field, "name") == 0)
		text = e->name;
	else if (strcmp(field, "source") == 0)
		text = e->source;
	else if (strcmp(field, "target") == 0)
		text = e->target ? e->target : "-";
	else if (strcmp(field, "migrated") == 0)
		text = e->target ? "yes" : "no";
	else if (strcmp(field, "keyspace") == 0)
		text = e->keyspace;
	else if (strcmp(field, "uuid") == 0)
		text = e->uuid_column;
	else if (strcmp(field, "key") == 0 || strcmp(field, "conflict") == 0)
	{
		bool conflict = field[0] == 'c' && e->nconflict;
		int n = conflict ? e->nconflict : e->nkey;
		char **v = conflict ? e->conflict : e->key;

		for (int i = 0; i < n; i++)
			buf_printf(out, "%s%s", i ? "," : "", v[i]);
		return true;
	}
	else if (strcmp(field, "deletes") == 0)
	{
		buf_printf(out, "%s%s%s", plan_deletes_name(e->deletes), e->deletes_column ? " " : "",
				   e->deletes_column ? e->deletes_column : "");
		return true;
	}
	else
		return false;
	if (text)
		buf_puts(out, text);
	return true;
}

static int
cmd_order(int argc, char **argv)
{
	const char *path = NULL, *with = NULL;
	bool levels = false;
	plan *p;
	int *order, *level, *pos;
	order_item *items;
	int n = 0;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--levels") == 0)
			levels = true;
		else if (strcmp(argv[i], "--with") == 0 && i + 1 < argc)
			with = argv[++i];
		else if (path == NULL && argv[i][0] != '-')
			path = argv[i];
		else
			die(FERRY_EXIT_USAGE, "usage: ferry-plan order FILE [--levels] [--with FIELD,...]");
	}
	if (path == NULL)
		die(FERRY_EXIT_USAGE, "usage: ferry-plan order FILE [--levels] [--with FIELD,...]");
	p = load_or_die(path);
	order = xcalloc((size_t) p->nentities + 1, sizeof(int));
	level = xcalloc((size_t) p->nentities + 1, sizeof(int));
	pos = xcalloc((size_t) p->nentities + 1, sizeof(int));
	if (!plan_order(p, order, level))
		exit(FERRY_EXIT_USAGE);
	for (int i = 0; i < p->nentities; i++)
		pos[order[i]] = i;
	items = xcalloc((size_t) p->nentities * 2 + 16, sizeof(order_item));
	int cap = p->nentities * 2 + 16;

	for (int i = 0; i < p->nentities; i++)
	{
		const plan_entity *e = &p->entities[order[i]];

		if (e->target == NULL)
			continue;
		items[n].level = level[order[i]];
		items[n].kind = 0;
		items[n].seq = i;
		items[n].e = e;
		n++;
		for (int r = 0; r < e->nrefs; r++)
		{
			const plan_entity *t;
			int ti;

			if (e->refs[r].kind != REF_DEFER || (t = plan_find(p, e->refs[r].entity)) == NULL ||
				t->target == NULL)
				continue;
			ti = (int) (t - p->entities);
			if (n >= cap)
			{
				cap *= 2;
				items = xrealloc(items, sizeof(order_item) * (size_t) cap);
			}
			/* after both: one level above the later of the two */
			items[n].level = (level[order[i]] > level[ti] ? level[order[i]] : level[ti]) + 1;
			items[n].kind = 1;
			items[n].seq = (pos[ti] > i ? pos[ti] : i) * 1000 + r;
			items[n].e = e;
			items[n].r = &e->refs[r];
			n++;
		}
	}
	qsort(items, (size_t) n, sizeof(order_item), cmp_item);
	buf line;

	buf_init(&line, 256);
	for (int i = 0; i < n; i++)
	{
		buf_reset(&line);
		if (levels)
			buf_printf(&line, "%d ", items[i].level);
		if (items[i].kind == 0)
		{
			buf_puts(&line, items[i].e->name);
			/* the fields asked for, each after a tab */
			for (const char *f = with; f && *f;)
			{
				size_t flen = strcspn(f, ",");
				char *name = xstrndup(f, flen);

				buf_putc(&line, '\t');
				if (!one_line_field(items[i].e, name, &line))
					die(FERRY_EXIT_USAGE, "order --with: \"%s\" is not a one-line field "
						"(name source target migrated keyspace key uuid conflict deletes)", name);
				free(name);
				f += flen + (f[flen] == ',');
			}
		}
		else
			buf_printf(&line, "%s:%s", items[i].e->name, items[i].r->column);
		printf("%s\n", buf_cstr(&line));
	}
	buf_free(&line);
	free(items);
	free(order);
	free(level);
	free(pos);
	plan_free(p);
	if (fflush(stdout) != 0)
		die(FERRY_EXIT_IO, "cannot write: %s", strerror(errno));
	return FERRY_EXIT_OK;
}

static void
print_list(int n, char **v, const char *sep)
{
	for (int i = 0; i < n; i++)
		printf("%s%s", i ? sep : "", v[i]);
	if (n)
		putchar('\n');
}

static void
print_refs(const plan_entity *e, int kind)
{
	for (int r = 0; r < e->nrefs; r++)
	{
		const plan_ref *ref = &e->refs[r];

		if (kind >= 0 && (int) ref->kind != kind)
			continue;
		if (kind >= 0 && ref->kind == REF_DEFER)
			printf("%s %s\n", ref->column, ref->entity);
		else if (kind >= 0)
			printf("%s %s %s\n", ref->column, ref->entity,
				   ref->on_missing == MISSING_NULL ? "null" : "reject");
		else
			printf("%s %s %s %s\n", ref->column, ref->entity, plan_ref_kind_name(ref->kind),
				   ref->kind == REF_DEFER ? "-" : ref->on_missing == MISSING_NULL ? "null" : "reject");
	}
}

static int
cmd_get(int argc, char **argv)
{
	plan *p;
	const plan_entity *e;
	const char *f;

	if (argc != 4)
		die(FERRY_EXIT_USAGE, "usage: ferry-plan get FILE ENTITY FIELD");
	p = load_or_die(argv[1]);
	f = argv[3];
	if (strcmp(argv[2], "-") == 0)
	{
		if (strcmp(f, "namespace") == 0)
		{
			char u[37];

			uuid_format(p->ns, u);
			printf("%s\n", u);
		}
		else if (strcmp(f, "todo") == 0)
			print_list(p->ntodo, p->todo, "\n");
		else
			die(FERRY_EXIT_USAGE, "get: unknown plan field \"%s\" (namespace, todo)", f);
		plan_free(p);
		return FERRY_EXIT_OK;
	}
	e = plan_find(p, argv[2]);
	if (e == NULL)
		die(FERRY_EXIT_USAGE, "%s: no entity \"%s\"", argv[1], argv[2]);
	buf value;

	buf_init(&value, 64);
	if (one_line_field(e, f, &value))
	{
		if (value.len)
			printf("%s\n", buf_cstr(&value));
	}
	else if (strcmp(f, "drop") == 0)
		print_list(e->ndrop, e->drop, ",");
	else if (strcmp(f, "refs") == 0)
		print_refs(e, -1);
	else if (strcmp(f, "ref") == 0)
		print_refs(e, REF_UUID);
	else if (strcmp(f, "check") == 0)
		print_refs(e, REF_CHECK);
	else if (strcmp(f, "defer") == 0)
		print_refs(e, REF_DEFER);
	else if (strcmp(f, "forward") == 0)
		print_refs(e, REF_FORWARD);
	else if (strcmp(f, "tree") == 0)
	{
		if (e->tree)
			printf("%s depth=%s orphan=%s cycle=%s\n", e->tree->parent_column,
				   e->tree->depth_column ? e->tree->depth_column : "-",
				   e->tree->orphan == TREE_ROOT ? "root" : "reject",
				   e->tree->cycle == TREE_ROOT ? "root" : "reject");
	}
	else if (strcmp(f, "poly") == 0)
	{
		if (e->poly)
			printf("%s %s missing=%s\n", e->poly->type_column, e->poly->id_column,
				   e->poly->on_missing == MISSING_NULL ? "null" : "reject");
	}
	else if (strcmp(f, "depends") == 0)
		print_list(e->ndepends, e->depends, " ");
	else if (strcmp(f, "incremental") == 0)
	{
		if (e->incremental)
			printf("%s\n", e->incremental);
	}
	else if (strcmp(f, "extract") == 0)
	{
		if (e->extract_sql)
			printf("%s\n", e->extract_sql);
	}
	else if (strcmp(f, "todo") == 0)
		print_list(e->ntodo, e->todo, "\n");
	else if (strcmp(f, "line") == 0)
		printf("%d\n", e->line);
	else
		die(FERRY_EXIT_USAGE, "get: unknown field \"%s\" (see ferry-plan --help)", f);
	buf_free(&value);
	plan_free(p);
	if (fflush(stdout) != 0)
		die(FERRY_EXIT_IO, "cannot write: %s", strerror(errno));
	return FERRY_EXIT_OK;
}

static int
cmd_list(int argc, char **argv)
{
	plan *p;
	bool source = argc == 3 && strcmp(argv[2], "--source") == 0;

	if (argc != 2 && !source)
		die(FERRY_EXIT_USAGE, "usage: ferry-plan list FILE [--source]");
	p = load_or_die(argv[1]);
	for (int i = 0; i < p->nentities; i++)
	{
		const plan_entity *e = &p->entities[i];

		/* with --source, tabs: a table's name may hold spaces */
		printf("%s%c%s", e->name, source ? '\t' : ' ', e->target ? e->target : "-");
		if (source)
			printf("\t%s", e->source ? e->source : "-");
		putchar('\n');
	}
	plan_free(p);
	return FERRY_EXIT_OK;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	log_init(argv[0]);
	io_install_signal_handlers();
	if (argc < 2)
		usage(FERRY_EXIT_USAGE);
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
		usage(0);
	if (strcmp(cmd, "--version") == 0)
	{
		printf("ferry-plan %s\n", FERRY_VERSION);
		return 0;
	}
	/* -q / -v before the command */
	while (argc > 2 && (strcmp(cmd, "-q") == 0 || strcmp(cmd, "-v") == 0))
	{
		log_set_level(log_get_level() + (cmd[1] == 'v' ? 1 : -1));
		argv++;
		argc--;
		cmd = argv[1];
	}
	if (strcmp(cmd, "generate") == 0)
		return cmd_generate(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "order") == 0)
		return cmd_order(argc - 1, argv + 1);
	if (strcmp(cmd, "get") == 0)
		return cmd_get(argc - 1, argv + 1);
	if (strcmp(cmd, "list") == 0)
		return cmd_list(argc - 1, argv + 1);
	log_error("unknown command \"%s\" (generate, check, order, get, list; see --help)", cmd);
	return FERRY_EXIT_USAGE;
}
