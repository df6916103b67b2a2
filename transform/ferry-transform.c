/*
 * ferry-transform: map legacy keys to UUIDs, check references, route
 * rejects, order trees.  Reads a ferry stream (stdin or FILE, plain or
 * spool), writes one (stdout or -o FILE).
 *
 *   ferry-transform --plan FILE --entity NAME [--target CONNINFO]
 *                   [--source CONNINFO [--snapshot ID]] [FILE]
 *   ferry-transform --key COLS --keyspace KS --uuid COL [--ref COL=KS]... [FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "exitcode.h"
#include "legacykey.h"
#include "log.h"
#include "pgconn.h"
#include "sourcekeys.h"
#include "transform.h"
#include "tree.h"
#include "uuid.h"

enum
{
	OPT_PLAN = 1000,
	OPT_ENTITY,
	OPT_TARGET,
	OPT_SOURCE,
	OPT_SNAPSHOT,
	OPT_NO_CHECK,
	OPT_FIXUP,
	OPT_RENAME,
	OPT_DROP,
	OPT_KEY,
	OPT_KEYSPACE,
	OPT_UUID,
	OPT_REF,
	OPT_NAMESPACE,
	OPT_ORPHANS,
	OPT_CYCLES,
	OPT_REJECTED_PARENT,
	OPT_MISSING_OBJECT,
	OPT_TMPDIR
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
			"Usage: ferry-transform [OPTIONS] [FILE]\n"
			"Map legacy keys to UUIDs, check references against the destination, route rows\n"
			"that cannot be loaded to the stream's rejects.  Reads FILE or standard input.\n\n"
			"      --plan FILE        a ferry plan; with --entity NAME, everything below comes from it\n"
			"      --entity NAME      the plan entity\n"
			"      --target CONNINFO  destination database, to check references against the keys\n"
			"                         it holds (default $FERRY_TARGET; without one, no check)\n"
			"      --source CONNINFO  source database, to check forward references against the\n"
			"                         keys of their entity's extract query (default $FERRY_SOURCE;\n"
			"                         without one, forward references are not checked)\n"
			"      --snapshot ID      read those keys in this exported snapshot (the run's)\n"
			"      --no-check         do not check references\n"
			"      --fixup            the fix-up step: emit the uuid and the deferred columns only\n"
			"      --rename OLD=NEW   rename a column\n"
			"      --drop COL         drop a column\n"
			"      --key COLS         legacy key columns (default: from the stream header)\n"
			"      --keyspace KS      UUID key space of the rows (default: from the header)\n"
			"      --uuid COL         column to fill with UUIDv5(namespace, KS/key)\n"
			"      --ref COL=KS       COL holds a legacy key of key space KS: map it to its UUID\n"
			"      --namespace UUID   UUIDv5 namespace (default: the plan's, or ferry's)\n"
			"Trees and generic relations (plan directives tree and poly; see ferry-tree(7)):\n"
			"      --orphans root|reject      parent missing: load as a root with a note\n"
			"                                 (default, or the plan's orphan=), or reject\n"
			"      --cycles reject|root       parent cycle: reject it and what hangs below\n"
			"                                 (default, or the plan's cycle=), or break it\n"
			"      --rejected-parent root|reject  parent rejected by the transform: load the\n"
			"                                 child as a root with a note (default), or reject\n"
			"      --missing-object reject|null   generic relation to a row that is gone:\n"
			"                                 reject (default, or the plan's missing=) or NULL\n"
			"      --tmpdir DIR       spool of rows waiting for their parent, and of a link entity's\n"
			"                         rows under cycle=reject (default $TMPDIR, /tmp)\n\n%s",
			CLI_COMMON_USAGE);
	exit(code);
}

/* state for loading key sets of plan entities from the target (and the source) */
typedef struct keys_ctx
{
	PGconn *conn;
	const plan *p;
	const char **names;      /* poly: entity names by index */
	keyset **cache;          /* per plan entity */
	/* forward references: keys of the source, connected to when first needed */
	const char *source;      /* conninfo ("": the PG* environment) */
	const char *snapshot;    /* NULL: a snapshot of our own */
	PGconn *src;
	keyset **src_cache;      /* per plan entity */
} keys_ctx;

/* SQL returning the legacy keys an entity has in the destination, as text */
static char *
keys_sql(PGconn *conn, const plan_entity *e)
{
	buf b;
	bool in_target = e->target != NULL && e->nkey > 0;

	buf_init(&b, 256);
	if (in_target)
	{
		/* do the key columns exist in the target table? */
		char *qualified = pg_qualified(e->target);

		buf_puts(&b, "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(");
		pg_append_literal(&b, qualified);
		free(qualified);
		buf_puts(&b, ") AND NOT attisdropped AND attname IN (");
		for (int k = 0; k < e->nkey; k++)
		{
			if (k)
				buf_putc(&b, ',');
			pg_append_literal(&b, e->key[k]);
		}
		buf_putc(&b, ')');
		PGresult *res = pg_query(conn, buf_cstr(&b), 0, NULL);

		in_target = res && atoi(PQgetvalue(res, 0, 0)) == e->nkey;
		PQclear(res);
	}
	buf_reset(&b);
	if (in_target)
	{
		buf_puts(&b, "SELECT ");
		for (int k = 0; k < e->nkey; k++)
		{
			/* the legacy key as ferry spells it (lib/legacykey.h) */
			buf col;
			buf_init(&col, 64);
			pg_append_ident(&col, e->key[k]);
			buf_puts(&col, "::text");
			legacy_key_append_sql(&b, k, e->nkey, buf_cstr(&col));
			buf_free(&col);
		}
		buf_puts(&b, " FROM ");
		pg_append_qualified(&b, e->target);
	}
	else
	{
		buf_puts(&b, "SELECT legacy_id FROM ferry.id_map WHERE entity = ");
		pg_append_literal(&b, e->name);
	}
	return (char *) buf_cstr(&b);
}

static keyset *
entity_keys(keys_ctx *kc, const plan_entity *e)
{
	int i = (int) (e - kc->p->entities);

	if (kc->conn == NULL)
		return NULL;
	if (kc->cache[i] == NULL)
	{
		char *sql = keys_sql(kc->conn, e);
		keyset *ks = keyset_new();

		if (!keyset_load(ks, kc->conn, "target", sql))
			die(FERRY_EXIT_TARGET, "cannot read the keys of \"%s\" from the target", e->name);
		log_info("%s: %zu keys in the destination (%zu kB)", e->name, keyset_count(ks),
				 keyset_bytes(ks) / 1024);
		kc->cache[i] = ks;
		free(sql);
	}
	return kc->cache[i];
}

/* a ref's keys, loaded when its first value comes */
static keyset *
ref_keys(void *ctx, const char *entity)
{
	keys_ctx *kc = ctx;

	return entity_keys(kc, plan_find(kc->p, entity));
}

/* a forward ref's keys: the keys of its entity's extract query, in the source */
static keyset *
forward_keys(void *ctx, const char *entity)
{
	keys_ctx *kc = ctx;
	const plan_entity *e = plan_find(kc->p, entity);
	int i = (int) (e - kc->p->entities);

	if (kc->src_cache[i] == NULL)
	{
		char *sql;
		keyset *ks = keyset_new();

		if (kc->src == NULL && (kc->src = source_open(kc->source, kc->snapshot)) == NULL)
			exit(FERRY_EXIT_SOURCE);
		if ((sql = source_keys_sql(kc->src, e)) == NULL || !keyset_load(ks, kc->src, "source", sql))
			die(FERRY_EXIT_SOURCE, "cannot read the keys of \"%s\" from the source", e->name);
		log_info("%s: %zu keys in the source, for forward references (%zu kB)", e->name,
				 keyset_count(ks), keyset_bytes(ks) / 1024);
		kc->src_cache[i] = ks;
		free(sql);
	}
	return kc->src_cache[i];
}

static keyset *
poly_keys(void *ctx, int entity)
{
	keys_ctx *kc = ctx;

	return entity_keys(kc, plan_find(kc->p, kc->names[entity]));
}

static int
tree_policy_arg(const char *opt, const char *arg)
{
	if (strcmp(arg, "root") == 0)
		return TREE_ROOT;
	if (strcmp(arg, "reject") == 0)
		return TREE_REJECT;
	die(FERRY_EXIT_USAGE, "%s: expected root or reject, not \"%s\"", opt, arg);
}

static void
add_pair(const char *arg, const char *opt, char ***from, char ***to, int *n)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg || eq[1] == '\0')
		die(FERRY_EXIT_USAGE, "%s needs NAME=VALUE, not \"%s\"", opt, arg);
	*from = xrealloc(*from, (size_t) (*n + 1) * sizeof **from);
	*to = xrealloc(*to, (size_t) (*n + 1) * sizeof **to);
	(*from)[*n] = xstrndup(arg, (size_t) (eq - arg));
	(*to)[*n] = xstrdup(eq + 1);
	(*n)++;
}


static bool
has_forward(const plan_entity *e)
{
	for (int i = 0; i < e->nrefs; i++)
		if (e->refs[i].kind == REF_FORWARD)
			return true;
	return false;
}

/* fill the spec from a plan entity */
static void
spec_from_plan(transform_spec *s, const plan *p, const plan_entity *e, keys_ctx *kc)
{
	memcpy(s->ns, p->ns, 16);
	s->entity = e->name;
	s->keyspace = e->keyspace;
	s->nkey = e->nkey;
	s->key = e->key;
	s->uuid_column = e->uuid_column;
	s->ndrop = e->ndrop;
	s->drop = e->drop;
	s->tree = e->tree;
	s->links = e->links;
	s->refs = xcalloc((size_t) (e->nrefs ? e->nrefs : 1), sizeof *s->refs);
	for (int i = 0; i < e->nrefs; i++)
	{
		const plan_ref *pr = &e->refs[i];
		const plan_entity *t = plan_find(p, pr->entity);
		tf_ref *r = &s->refs[s->nrefs++];

		if (t == NULL)
			die(FERRY_EXIT_USAGE, "%s: entity \"%s\": ref %s points to unknown entity \"%s\"",
				p->path, e->name, pr->column, pr->entity);
		r->column = pr->column;
		r->entity = t->name;
		r->keyspace = t->keyspace;
		r->kind = pr->kind;
		r->on_missing = pr->on_missing;
		/* a forward column is checked against the source: its target loads later */
		if (pr->kind == REF_FORWARD && kc->source)
		{
			r->load_keys = forward_keys;
			r->load_ctx = kc;
		}
		/* a deferred column is checked in the fix-up step, when its target is loaded */
		else if (pr->kind != REF_FORWARD && (pr->kind != REF_DEFER || s->fixup) && kc->conn)
		{
			r->load_keys = ref_keys;
			r->load_ctx = kc;
		}
	}
	/* a tree's own keys (with depths) are read by tree_options_load */
	if (e->poly)
	{
		tf_poly *poly = xcalloc(1, sizeof *poly);

		poly->type_column = e->poly->type_column;
		poly->id_column = e->poly->id_column;
		poly->on_missing = e->poly->on_missing;
		for (int i = 0; i < p->nentities; i++)
		{
			const plan_entity *t = &p->entities[i];

			if (t->target == NULL || t == e)
				continue;
			poly->entities = xrealloc(poly->entities, (size_t) (poly->nentities + 1) * sizeof(char *));
			poly->keyspaces = xrealloc(poly->keyspaces, (size_t) (poly->nentities + 1) * sizeof(char *));
			poly->entities[poly->nentities] = t->name;
			poly->keyspaces[poly->nentities] = t->keyspace;
			poly->nentities++;
		}
		poly->keys = xcalloc((size_t) (poly->nentities ? poly->nentities : 1), sizeof *poly->keys);
		kc->names = (const char **) poly->entities;
		if (kc->conn)
		{
			poly->load_keys = poly_keys;
			poly->load_ctx = kc;
		}
		s->poly = poly;
	}
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, OPT_PLAN},
		{"entity", required_argument, NULL, OPT_ENTITY},
		{"target", required_argument, NULL, OPT_TARGET},
		{"source", required_argument, NULL, OPT_SOURCE},
		{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
		{"no-check", no_argument, NULL, OPT_NO_CHECK},
		{"fixup", no_argument, NULL, OPT_FIXUP},
		{"rename", required_argument, NULL, OPT_RENAME},
		{"drop", required_argument, NULL, OPT_DROP},
		{"key", required_argument, NULL, OPT_KEY},
		{"keyspace", required_argument, NULL, OPT_KEYSPACE},
		{"uuid", required_argument, NULL, OPT_UUID},
		{"ref", required_argument, NULL, OPT_REF},
		{"namespace", required_argument, NULL, OPT_NAMESPACE},
		{"orphans", required_argument, NULL, OPT_ORPHANS},
		{"cycles", required_argument, NULL, OPT_CYCLES},
		{"rejected-parent", required_argument, NULL, OPT_REJECTED_PARENT},
		{"missing-object", required_argument, NULL, OPT_MISSING_OBJECT},
		{"tmpdir", required_argument, NULL, OPT_TMPDIR},
		CLI_COMMON_LONGOPTS,
		{NULL, 0, NULL, 0}
	};
	cli_common common = {0};
	transform_spec spec;
	const char *plan_file = NULL, *entity_name = NULL, *target = getenv("FERRY_TARGET");
	const char *source = getenv("FERRY_SOURCE"), *snapshot = NULL;
	const char *key_list = NULL, *ns = NULL;
	bool no_check = false;
	char **ref_cols = NULL, **ref_ks = NULL;
	int nref = 0;
	int opt;
	/* tree and generic-relation policies given on the command line (-1: the plan's) */
	int orphans = -1, cycles = -1, rejected_parent = -1, missing_object = -1;
	const char *tmpdir = NULL;
	tree_options topts;

	memset(&spec, 0, sizeof spec);
	memcpy(spec.ns, FERRY_UUID_NAMESPACE, 16);
	log_init(argv[0]);
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORTOPTS, longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case OPT_PLAN: plan_file = optarg; break;
			case OPT_ENTITY: entity_name = optarg; break;
			case OPT_TARGET: target = optarg; break;
			case OPT_SOURCE: source = optarg; break;
			case OPT_SNAPSHOT: snapshot = optarg; break;
			case OPT_NO_CHECK: no_check = true; break;
			case OPT_FIXUP: spec.fixup = true; break;
			case OPT_RENAME:
				add_pair(optarg, "--rename", &spec.rename_from, &spec.rename_to, &spec.nrename);
				break;
			case OPT_DROP:
				spec.drop = xrealloc(spec.drop, (size_t) (spec.ndrop + 1) * sizeof *spec.drop);
				spec.drop[spec.ndrop++] = optarg;
				break;
			case OPT_KEY: key_list = optarg; break;
			case OPT_KEYSPACE: spec.keyspace = optarg; break;
			case OPT_UUID: spec.uuid_column = optarg; break;
			case OPT_REF: add_pair(optarg, "--ref", &ref_cols, &ref_ks, &nref); break;
			case OPT_NAMESPACE: ns = optarg; break;
			case OPT_ORPHANS: orphans = tree_policy_arg("--orphans", optarg); break;
			case OPT_CYCLES: cycles = tree_policy_arg("--cycles", optarg); break;
			case OPT_REJECTED_PARENT:
				rejected_parent = tree_policy_arg("--rejected-parent", optarg);
				break;
			case OPT_MISSING_OBJECT:
				if (strcmp(optarg, "reject") == 0)
					missing_object = MISSING_REJECT;
				else if (strcmp(optarg, "null") == 0)
					missing_object = MISSING_NULL;
				else
					die(FERRY_EXIT_USAGE, "--missing-object: expected reject or null, not \"%s\"", optarg);
				break;
			case OPT_TMPDIR: tmpdir = spec.tmpdir = optarg; break;
			default:
				if (!cli_common_option(&common, opt, optarg, usage))
					usage(FERRY_EXIT_USAGE);
		}
	}
	if (argc - optind > 1)
		die(FERRY_EXIT_USAGE, "too many arguments (one input file at most)");
	if (plan_file && !entity_name)
		die(FERRY_EXIT_USAGE, "--plan needs --entity NAME");
	if (plan_file && (spec.nrename || spec.ndrop || key_list || spec.keyspace || spec.uuid_column || nref))
		die(FERRY_EXIT_USAGE, "--rename, --drop, --key, --keyspace, --uuid and --ref come from the plan: "
			"edit the plan, or leave --plan out");
	if (ns && !uuid_parse(ns, spec.ns))
		die(FERRY_EXIT_USAGE, "--namespace: \"%s\" is not a UUID", ns);
	cli_common_start(&common);
	event_set_context(common.run, entity_name);

	/* open the input first: a bad stream is reported before anything else */
	ferry_input *in = in_open(optind < argc ? argv[optind] : NULL);

	if (in == NULL)
		exit(FERRY_EXIT_IO);
	ferry_reader *r = reader_open(in);

	if (r == NULL)
		exit(FERRY_EXIT_STREAM);

	const ferry_header *h = reader_header(r);
	plan *p = NULL;
	keys_ctx kc = {0};

	/* an extract of another entity or run (left over, or mixed up) is not transformed */
	if (!reader_expect(r, entity_name, common.run))
		exit(FERRY_EXIT_STREAM);

	if (plan_file)
	{
		p = plan_load(plan_file);
		if (p == NULL)
			exit(FERRY_EXIT_USAGE);
		plan_entity *e = plan_find(p, entity_name);

		if (e == NULL)
			die(FERRY_EXIT_USAGE, "%s: no entity \"%s\"", plan_file, entity_name);
		if (!no_check && target)
		{
			kc.conn = pg_connect(target, "target", "ferry-transform");
			if (kc.conn == NULL)
				exit(FERRY_EXIT_TARGET);
		}
		else if (!no_check)
			log_warn("no --target: references are mapped but not checked");
		if (!no_check && source == NULL && has_forward(e))
			log_warn("no --source: forward references are mapped but not checked");
		kc.p = p;
		kc.cache = xcalloc((size_t) p->nentities + 1, sizeof *kc.cache);
		kc.src_cache = xcalloc((size_t) p->nentities + 1, sizeof *kc.src_cache);
		kc.source = no_check ? NULL : source;
		kc.snapshot = snapshot;
		spec_from_plan(&spec, p, e, &kc);
		if (ns && !uuid_parse(ns, spec.ns))
			exit(FERRY_EXIT_USAGE);
		if (spec.poly && missing_object >= 0)
			spec.poly->on_missing = (missing_policy) missing_object;
		if (e->tree && !spec.fixup)
		{
			tree_options_init(&topts, e->tree);
			if (orphans >= 0)
				topts.orphan = (tree_policy) orphans;
			if (cycles >= 0)
				topts.cycle = (tree_policy) cycles;
			if (rejected_parent >= 0)
				topts.rejected_parent = (tree_policy) rejected_parent;
			topts.tmpdir = tmpdir;
			if (kc.conn && !tree_options_load(&topts, kc.conn, e))
				die(FERRY_EXIT_TARGET, "cannot read what the target has of \"%s\"", e->name);
			spec.tree_opts = &topts;
		}
	}
	else
	{
		if (key_list)
			spec.key = cli_split_commas(key_list, &spec.nkey);
		else
		{
			/* the header's key columns, under their new names */
			spec.nkey = h->nkey;
			spec.key = xcalloc((size_t) (h->nkey ? h->nkey : 1), sizeof *spec.key);
			for (int k = 0; k < h->nkey; k++)
			{
				spec.key[k] = h->key[k];
				for (int i = 0; i < spec.nrename; i++)
					if (strcmp(spec.rename_from[i], h->key[k]) == 0)
						spec.key[k] = spec.rename_to[i];
			}
		}
		if (!spec.keyspace)
			spec.keyspace = h->keyspace;
		if (!spec.entity)
			spec.entity = entity_name ? entity_name : h->entity;
		spec.refs = xcalloc((size_t) (nref ? nref : 1), sizeof *spec.refs);
		for (int i = 0; i < nref; i++)
		{
			spec.refs[i].column = ref_cols[i];
			spec.refs[i].entity = ref_ks[i];
			spec.refs[i].keyspace = ref_ks[i];
			spec.refs[i].kind = REF_UUID;
		}
		spec.nrefs = nref;
	}

	ferry_output *out = cli_open_output(&common);
	transform_stats st;
	int64_t started = now_us();
	event_emit("transform_start", "\"fixup\":%s", spec.fixup ? "true" : "false");
	int code = transform_stream(&spec, r, out, common.run, &st);

	if (code == FERRY_EXIT_OK && !out_commit(out))
		code = FERRY_EXIT_IO;
	else if (code != FERRY_EXIT_OK)
		out_abort(out);
	if (code == FERRY_EXIT_OK)
	{
		event_emit("transform_end", "\"rows_in\":%llu,\"rows_out\":%llu,\"rejected\":%llu,\"noted\":%llu,"
				   "\"ms\":%lld",
				   (unsigned long long) st.rows_in, (unsigned long long) st.rows_out,
				   (unsigned long long) st.rejected, (unsigned long long) st.noted,
				   (long long) ((now_us() - started) / 1000));
		log_info("%llu rows in, %llu out, %llu rejected, %llu noted",
				 (unsigned long long) st.rows_in, (unsigned long long) st.rows_out,
				 (unsigned long long) st.rejected, (unsigned long long) st.noted);
	}
	if (spec.tree_opts)
		tree_options_free(&topts);
	if (kc.conn)
		PQfinish(kc.conn);
	if (kc.src)
		PQfinish(kc.src);
	if (p)
	{
		for (int i = 0; i < p->nentities; i++)
		{
			keyset_free(kc.cache[i]);
			keyset_free(kc.src_cache[i]);
		}
		free(kc.cache);
		free(kc.src_cache);
		if (spec.poly)
		{
			free(spec.poly->entities);
			free(spec.poly->keyspaces);
			free(spec.poly->keys);
			free(spec.poly);
		}
		free(spec.refs);
		plan_free(p);
	}
	reader_free(r);
	in_close(in);
	return code;
}
