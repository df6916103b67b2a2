/*
 * test_tree.c: the transform's tree builder (transform/tree.c).
 *
 * Streams of comments go through transform_stream() with a "tree"
 * directive; the output must hold every row exactly once (as a row or a
 * reject), parents before children, depth = parent's depth + 1, and each
 * anomaly under its documented reason: orphans, cycles, self-parents,
 * rows below them, rows below a rejected parent, NULLs in NOT NULL
 * columns, duplicate keys; also a chain of depth 100000 in both orders
 * (no recursion) and a comment with 10000 replies.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "exitcode.h"
#include "log.h"
#include "stream.h"
#include "uuid.h"
#include "../../transform/tree.h"
#include "tap.h"

static char tmpdir[] = "/tmp/ferry-test-tree.XXXXXX";
static char in_path[300], out_path[300];

/* ---- input ---- */

typedef struct src_row
{
	const char *key;        /* NULL: an upstream reject with key = parent */
	const char *parent;     /* NULL: a root */
	const char *body;       /* NULL: NULL */
	int author;             /* 0: NULL */
} src_row;

typedef struct input
{
	ferry_header h;
	ferry_output *out;
	ferry_writer *w;
	bool text_keys;
	buf scratch;
} input;

static void
input_begin(input *in, bool text_keys, bool extra_types)
{
	memset(in, 0, sizeof *in);
	header_init(&in->h);
	in->text_keys = text_keys;
	header_add_column(&in->h, "legacy_comment_id", text_keys ? "text" : "integer");
	header_add_column(&in->h, "parent_id", text_keys ? "text" : "integer");
	header_add_column(&in->h, "body", "text");
	header_add_column(&in->h, "author_id", "integer");
	if (extra_types)
	{
		header_add_column(&in->h, "is_internal", "boolean");
		header_add_column(&in->h, "score", "double precision");
		header_add_column(&in->h, "blob", "bytea");
		header_add_column(&in->h, "big", "bigint");
	}
	char *key[1] = {"legacy_comment_id"};

	header_set_key(&in->h, 1, key);
	in->out = out_open(in_path, false, 0, 0);
	in->w = writer_new(in->out);
	writer_header(in->w, &in->h);
	buf_init(&in->scratch, 64);
}

static ferry_value
key_value(input *in, const char *s)
{
	if (s == NULL)
		return fv_null();
	if (in->text_keys)
		return fv_str(s, strlen(s));
	return fv_int(atoll(s));
}

static void
input_row(input *in, const src_row *r)
{
	ferry_value v[8];

	if (r->key == NULL)
	{
		/* an upstream reject (e.g. by the extract), keyed by r->parent */
		writer_reject(in->w, "upstream", "set aside upstream", "extract", r->parent, NULL, 0);
		return;
	}
	v[0] = key_value(in, r->key);
	v[1] = key_value(in, r->parent);
	v[2] = r->body ? fv_str(r->body, strlen(r->body)) : fv_null();
	v[3] = r->author ? fv_int(r->author) : fv_null();
	if (in->h.ncols > 4)
	{
		v[4] = fv_bool(true);
		v[5] = (ferry_value) {.t = FV_FLOAT64, .u.f = 0.1};
		v[6] = (ferry_value) {.t = FV_BIN, .u.s = {"\x00\xff\x01", 3}};
		v[7] = fv_int(INT64_MIN);
	}
	writer_row(in->w, v, in->h.ncols);
}

static void
input_end(input *in)
{
	writer_end(in->w);
	writer_free(in->w);
	out_commit(in->out);
	header_free(&in->h);
	buf_free(&in->scratch);
}

/* ---- output ---- */

typedef struct out_row
{
	char key[32];
	char id[37];
	char parent[37];        /* "" for NULL */
	long depth;
	char notes[128];        /* reasons of the notes that follow the row, space-separated */
	bool extra_ok;          /* extra-typed columns came through unchanged */
} out_row;

typedef struct output
{
	int code;
	int nrows;
	out_row *rows;
	int nrej;
	char (*rej_reason)[32];
	char (*rej_key)[32];
	int nnotes;
	bool order_ok;          /* every parent came before its child (or is known) */
	bool depth_ok;          /* depth = parent's depth + 1, roots 0 */
	bool rows_ok;           /* every output row has as many values as the header columns */
	transform_stats st;
	tree_report rep;
} output;

static void
output_free(output *o)
{
	free(o->rows);
	free(o->rej_reason);
	free(o->rej_key);
	memset(o, 0, sizeof *o);
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(((const out_row *) a)->id, ((const out_row *) b)->id);
}

/* keys already in the destination (known), with their depths */
typedef struct known_key
{
	const char *key;
	int depth;
} known_key;

static treemap *
make_known(const known_key *k, int n)
{
	treemap *m = treemap_new(true);

	for (int i = 0; i < n; i++)
	{
		int64_t key;

		treemap_key(m, k[i].key, strlen(k[i].key), &key);
		treemap_put(m, key, k[i].depth | TREE_KNOWN);
	}
	return m;
}

/*
 * Run the transform over the input file with the policies of opt; read
 * the output back.  known: uuids of rows the destination has (for the
 * order check) with their depths.
 */
static void
run(tree_options *opt, keyset *authors, const known_key *known, int nknown, output *o)
{
	plan_tree pt = {.parent_column = "parent_id", .depth_column = "depth",
		.orphan = opt->orphan, .cycle = opt->cycle};
	char *key[1] = {"legacy_comment_id"};
	tf_ref ref = {.column = "author_id", .entity = "profiles", .keyspace = "auth_user",
		.kind = REF_UUID, .on_missing = MISSING_NULL, .keys = authors};
	transform_spec spec;

	memset(o, 0, sizeof *o);
	memset(&spec, 0, sizeof spec);
	memcpy(spec.ns, FERRY_UUID_NAMESPACE, 16);
	spec.entity = "comments";
	spec.keyspace = "dispatch_comment";
	spec.nkey = 1;
	spec.key = key;
	spec.uuid_column = "id";
	spec.nrefs = 1;
	spec.refs = &ref;
	spec.tree = &pt;
	spec.tree_opts = opt;
	opt->report = &o->rep;
	if (nknown)
		opt->known = make_known(known, nknown);

	ferry_input *fin = in_open(in_path);
	ferry_reader *r = reader_open(fin);
	ferry_output *out = out_open(out_path, false, 0, 0);

	o->code = transform_stream(&spec, r, out, NULL, &o->st);
	if (o->code == FERRY_EXIT_OK)
		out_commit(out);
	else
		out_abort(out);
	reader_free(r);
	in_close(fin);
	treemap_free(opt->known);
	opt->known = NULL;
	if (o->code != FERRY_EXIT_OK)
		return;

	/* read it back */
	fin = in_open(out_path);
	r = reader_open(fin);

	const ferry_header *h = reader_header(r);
	int cid = header_find(h, "id"), cpar = header_find(h, "parent_id");
	int cdep = header_find(h, "depth"), ckey = header_find(h, "legacy_comment_id");
	int cbool = header_find(h, "is_internal"), cblob = header_find(h, "blob");
	int cbig = header_find(h, "big"), cscore = header_find(h, "score");
	int cap = 1024, rcap = 64;
	ferry_record rec;
	keyset *seen = keyset_new();
	buf text;

	buf_init(&text, 64);
	o->rows = xcalloc((size_t) cap, sizeof *o->rows);
	o->rej_reason = xcalloc((size_t) rcap, sizeof *o->rej_reason);
	o->rej_key = xcalloc((size_t) rcap, sizeof *o->rej_key);
	o->order_ok = o->depth_ok = o->rows_ok = true;
	for (int i = 0; i < nknown; i++)
	{
		char u[37];

		uuid_for_key(FERRY_UUID_NAMESPACE, "dispatch_comment", known[i].key,
					 strlen(known[i].key), u);
		keyset_add(seen, u, 36);
	}
	while (reader_next(r, &rec) == 1)
	{
		if (rec.type == FR_ROW)
		{
			out_row *w;

			if (o->nrows == cap)
			{
				cap *= 2;
				o->rows = xrealloc(o->rows, (size_t) cap * sizeof *o->rows);
			}
			w = &o->rows[o->nrows++];
			memset(w, 0, sizeof *w);
			if (rec.nvals != h->ncols)
				o->rows_ok = false;
			buf_reset(&text);
			value_to_text(&rec.vals[ckey], &text);
			snprintf(w->key, sizeof w->key, "%s", buf_cstr(&text));
			snprintf(w->id, sizeof w->id, "%.*s", (int) rec.vals[cid].u.s.len, rec.vals[cid].u.s.p);
			if (rec.vals[cpar].t == FV_STR)
				snprintf(w->parent, sizeof w->parent, "%.*s", (int) rec.vals[cpar].u.s.len,
						 rec.vals[cpar].u.s.p);
			w->depth = rec.vals[cdep].t == FV_INT ? (long) rec.vals[cdep].u.i : -1;
			if (w->parent[0] && !keyset_has(seen, w->parent, 36))
				o->order_ok = false;
			if ((w->parent[0] == '\0') != (w->depth == 0))
				o->depth_ok = false;
			keyset_add(seen, w->id, 36);
			w->extra_ok = cbool < 0 ||
				(rec.vals[cbool].t == FV_BOOL && rec.vals[cbool].u.b &&
				 rec.vals[cscore].t == FV_FLOAT64 && rec.vals[cscore].u.f == 0.1 &&
				 rec.vals[cblob].t == FV_BIN && rec.vals[cblob].u.s.len == 3 &&
				 memcmp(rec.vals[cblob].u.s.p, "\x00\xff\x01", 3) == 0 &&
				 rec.vals[cbig].t == FV_INT && rec.vals[cbig].u.i == INT64_MIN);
		}
		else if (rec.type == FR_REJECT)
		{
			if (o->nrej == rcap)
			{
				rcap *= 2;
				o->rej_reason = xrealloc(o->rej_reason, (size_t) rcap * sizeof *o->rej_reason);
				o->rej_key = xrealloc(o->rej_key, (size_t) rcap * sizeof *o->rej_key);
			}
			snprintf(o->rej_reason[o->nrej], 32, "%s", rec.reason);
			snprintf(o->rej_key[o->nrej], 32, "%s", rec.key ? rec.key : "");
			o->nrej++;
		}
		else
		{
			/* a note follows the row it is about */
			o->nnotes++;
			if (o->nrows > 0 && rec.key && strcmp(rec.key, o->rows[o->nrows - 1].key) == 0)
			{
				out_row *w = &o->rows[o->nrows - 1];
				size_t l = strlen(w->notes);

				snprintf(w->notes + l, sizeof w->notes - l, "%s%s", l ? " " : "", rec.reason);
			}
			else
				o->order_ok = false;
		}
	}
	reader_free(r);
	in_close(fin);
	keyset_free(seen);
	buf_free(&text);

	/* depth = parent's depth + 1, by looking parents up by id */
	out_row *sorted = xmalloc((size_t) (o->nrows ? o->nrows : 1) * sizeof *sorted);

	memcpy(sorted, o->rows, (size_t) o->nrows * sizeof *sorted);
	qsort(sorted, (size_t) o->nrows, sizeof *sorted, cmp_id);
	for (int i = 0; i < o->nrows; i++)
	{
		const out_row *w = &o->rows[i];
		out_row probe;

		if (!w->parent[0])
			continue;
		memcpy(probe.id, w->parent, 37);
		const out_row *p = bsearch(&probe, sorted, (size_t) o->nrows, sizeof *sorted, cmp_id);

		if (p && w->depth != p->depth + 1)
			o->depth_ok = false;
		if (!p)
		{
			bool found = false;

			for (int k = 0; k < nknown && !found; k++)
			{
				char u[37];

				uuid_for_key(FERRY_UUID_NAMESPACE, "dispatch_comment", known[k].key,
							 strlen(known[k].key), u);
				if (strcmp(u, w->parent) == 0)
				{
					found = true;
					if (w->depth != known[k].depth + 1)
						o->depth_ok = false;
				}
			}
			if (!found)
				o->depth_ok = false;
		}
	}
	free(sorted);
}

static const out_row *
row_of(const output *o, const char *key)
{
	for (int i = 0; i < o->nrows; i++)
		if (strcmp(o->rows[i].key, key) == 0)
			return &o->rows[i];
	return NULL;
}

static int
pos_of(const output *o, const char *key)
{
	const out_row *w = row_of(o, key);

	return w ? (int) (w - o->rows) : -1;
}

static const char *
reject_of(const output *o, const char *key)
{
	for (int i = 0; i < o->nrej; i++)
		if (strcmp(o->rej_key[i], key) == 0)
			return o->rej_reason[i];
	return NULL;
}

static bool
is_child_of(const out_row *child, const char *parent_key)
{
	char u[37];

	uuid_for_key(FERRY_UUID_NAMESPACE, "dispatch_comment", parent_key, strlen(parent_key), u);
	return child && strcmp(child->parent, u) == 0;
}

static void
write_rows(const src_row *rows, int n, bool text_keys, bool extra)
{
	input in;

	input_begin(&in, text_keys, extra);
	for (int i = 0; i < n; i++)
		input_row(&in, &rows[i]);
	input_end(&in);
}

static void
defaults(tree_options *o)
{
	tree_options_init(o, NULL);
	o->tmpdir = tmpdir;
}

/* ---- tests ---- */

static void
test_order_and_depth(void)
{
	/* children before their parents, a grandchild first */
	static const src_row rows[] = {
		{"3", "2", "c", 1}, {"2", "1", "b", 1}, {"4", "1", "d", 1}, {"1", NULL, "a", 1},
		{"5", "4", "e", 1}, {"6", NULL, "f", 1}, {"7", "6", "g", 1},
	};
	tree_options opt;
	output o;

	write_rows(rows, 7, false, true);
	defaults(&opt);
	run(&opt, NULL, NULL, 0, &o);
	ok(o.code == FERRY_EXIT_OK, "transform exits 0 (%d)", o.code);
	ok(o.nrows == 7 && o.nrej == 0 && o.nnotes == 0, "7 rows, no reject, no note (%d, %d, %d)",
	   o.nrows, o.nrej, o.nnotes);
	ok(o.order_ok && o.depth_ok && o.rows_ok, "parents first, depths consistent");
	ok(row_of(&o, "1") && row_of(&o, "1")->depth == 0 && row_of(&o, "1")->parent[0] == '\0',
	   "root 1 at depth 0 with a NULL parent");
	ok(row_of(&o, "3") && row_of(&o, "3")->depth == 2 && is_child_of(row_of(&o, "3"), "2"),
	   "3 at depth 2, parent = uuid of 2");
	ok(row_of(&o, "5") && row_of(&o, "5")->depth == 2, "5 at depth 2");
	ok(pos_of(&o, "1") == 0 && pos_of(&o, "6") == 1 && pos_of(&o, "7") == 2,
	   "rows whose parent is placed go out at once, in input order (1, 6, 7 first)");
	ok(o.rep.deferred == 4 && o.rep.max_depth == 2 && o.rep.roots == 2,
	   "report: 4 rows waited, depth up to 2, 2 roots (%llu, %lld, %llu)",
	   (unsigned long long) o.rep.deferred, (long long) o.rep.max_depth,
	   (unsigned long long) o.rep.roots);
	bool extra = true;

	for (int i = 0; i < o.nrows; i++)
		extra &= o.rows[i].extra_ok;
	ok(extra, "booleans, floats, bytea and bigint minimum survive the spool");
	ok(o.st.rows_in == 7 && o.st.rows_out == 7, "stats: 7 in, 7 out");
	output_free(&o);
}

static void
test_orphans(void)
{
	static const src_row rows[] = {
		{"11", "10", "below the orphan", 1}, {"10", "99", "orphan", 1},
		{"12", "11", "further below", 1}, {"13", "98", "another orphan", 1},
	};
	tree_options opt;
	output o;

	write_rows(rows, 4, false, false);
	defaults(&opt);
	run(&opt, NULL, NULL, 0, &o);
	ok(o.nrows == 4 && o.nrej == 0, "orphan=root: every row loaded");
	ok(row_of(&o, "10") && row_of(&o, "10")->depth == 0 && !row_of(&o, "10")->parent[0] &&
	   strcmp(row_of(&o, "10")->notes, "orphan_root") == 0,
	   "the orphan is a root with a note orphan_root (%s)", row_of(&o, "10") ? row_of(&o, "10")->notes : "");
	ok(row_of(&o, "11") && row_of(&o, "11")->depth == 1 && is_child_of(row_of(&o, "11"), "10") &&
	   row_of(&o, "11")->notes[0] == '\0', "the row below it stays below it, no note");
	ok(row_of(&o, "12") && row_of(&o, "12")->depth == 2, "and its child at depth 2");
	ok(o.order_ok && o.depth_ok, "order and depth consistent");
	ok(o.rep.count[TK_ORPHAN_ROOT] == 2 && strcmp(o.rep.ids[TK_ORPHAN_ROOT][0], "10") == 0,
	   "the report counts 2 orphans, first id 10");
	output_free(&o);

	defaults(&opt);
	opt.orphan = TREE_REJECT;
	run(&opt, NULL, NULL, 0, &o);
	ok(o.nrows == 0 && o.nrej == 4, "orphan=reject: the orphans and their subtrees rejected");
	ok(reject_of(&o, "10") && strcmp(reject_of(&o, "10"), "missing_parent") == 0 &&
	   reject_of(&o, "13") && strcmp(reject_of(&o, "13"), "missing_parent") == 0,
	   "orphans: missing_parent");
	ok(reject_of(&o, "11") && strcmp(reject_of(&o, "11"), "under_missing_parent") == 0 &&
	   reject_of(&o, "12") && strcmp(reject_of(&o, "12"), "under_missing_parent") == 0,
	   "below them: under_missing_parent");
	output_free(&o);

	/* a row whose parent arrives later (not an orphan) and a child after a rejected orphan */
	static const src_row late[] = {
		{"21", "20", "early child", 1}, {"20", NULL, "late root", 1},
		{"30", "77", "orphan", 1}, {"77", "76", "orphan too", 1},
	};
	write_rows(late, 4, false, false);
	defaults(&opt);
	run(&opt, NULL, NULL, 0, &o);
	ok(row_of(&o, "21") && row_of(&o, "21")->depth == 1 && row_of(&o, "21")->notes[0] == '\0',
	   "a parent that comes later is no orphan");
	ok(row_of(&o, "30") && row_of(&o, "30")->depth == 1 && row_of(&o, "77") &&
	   row_of(&o, "77")->depth == 0, "a chain up to a missing row: only its top is the orphan");
	output_free(&o);
}

static void
test_cycles(void)
{
	/* the demo's invoice-3 thread: 301<->302, 303->305->304->303, 306 self, below them 307-309 */
	static const src_row rows[] = {
		{"301", "302", "a", 1}, {"302", "301", "b", 1}, {"303", "305", "c", 1},
		{"304", "303", "d", 1}, {"305", "304", "e", 1}, {"306", "306", "self", 1},
		{"307", "301", "f", 1}, {"308", "307", "g", 1}, {"309", "304", "h", 1},
		{"310", "306", "under self", 1}, {"311", NULL, "fine", 1},
	};
	tree_options opt;
	output o;

	write_rows(rows, 11, false, false);
	defaults(&opt);
	run(&opt, NULL, NULL, 0, &o);
	ok(o.nrows == 1 && o.nrej == 10, "cycle=reject: 10 rejects, 1 row (%d, %d)", o.nrows, o.nrej);
	bool cyc = true;

	for (int k = 301; k <= 305; k++)
	{
		char key[16];

		snprintf(key, sizeof key, "%d", k);
		cyc &= reject_of(&o, key) && strcmp(reject_of(&o, key), "parent_cycle") == 0;
	}
	ok(cyc, "301-305: parent_cycle");
	ok(reject_of(&o, "306") && strcmp(reject_of(&o, "306"), "self_parent") == 0, "306: self_parent");
	ok(reject_of(&o, "307") && strcmp(reject_of(&o, "307"), "under_cycle") == 0 &&
	   reject_of(&o, "308") && strcmp(reject_of(&o, "308"), "under_cycle") == 0 &&
	   reject_of(&o, "309") && strcmp(reject_of(&o, "309"), "under_cycle") == 0 &&
	   reject_of(&o, "310") && strcmp(reject_of(&o, "310"), "under_cycle") == 0,
	   "307-310: under_cycle");
	ok(o.rep.count[TK_PARENT_CYCLE] == 5 && o.rep.count[TK_SELF_PARENT] == 1 &&
	   o.rep.count[TK_UNDER_CYCLE] == 4, "report: 5 parent_cycle, 1 self_parent, 4 under_cycle");
	output_free(&o);

	defaults(&opt);
	opt.cycle = TREE_ROOT;
	run(&opt, NULL, NULL, 0, &o);
	ok(o.nrows == 11 && o.nrej == 0, "cycle=root: all 11 loaded (%d, %d)", o.nrows, o.nrej);
	ok(o.order_ok && o.depth_ok, "parents first, depths consistent");
	ok(row_of(&o, "301") && row_of(&o, "301")->depth == 0 && !row_of(&o, "301")->parent[0] &&
	   row_of(&o, "302") && row_of(&o, "302")->depth == 1 && is_child_of(row_of(&o, "302"), "301"),
	   "301<->302 broken at 301 (the smaller key)");
	ok(row_of(&o, "303") && row_of(&o, "303")->depth == 0 &&
	   row_of(&o, "304") && row_of(&o, "304")->depth == 1 &&
	   row_of(&o, "305") && row_of(&o, "305")->depth == 2,
	   "303->305->304->303 broken at 303: 304 below it, 305 below 304");
	ok(row_of(&o, "306") && row_of(&o, "306")->depth == 0 &&
	   strcmp(row_of(&o, "306")->notes, "self_parent") == 0, "306 a root with a note self_parent");
	ok(row_of(&o, "301") && strcmp(row_of(&o, "301")->notes, "parent_cycle") == 0 &&
	   row_of(&o, "302") && strcmp(row_of(&o, "302")->notes, "parent_cycle") == 0,
	   "cycle members noted parent_cycle");
	ok(row_of(&o, "307") && row_of(&o, "307")->depth == 1 && is_child_of(row_of(&o, "307"), "301") &&
	   row_of(&o, "308") && row_of(&o, "308")->depth == 2 && row_of(&o, "309") &&
	   row_of(&o, "309")->depth == 2, "rows below a broken cycle keep their parents");
	output_free(&o);
}

static void
test_rejected_parent(void)
{
	/* author 2 is not in profiles: the ref rejects 30 (policy reject set below) */
	static const src_row rows[] = {
		{"29", "30", "child before its rejected parent", 1},
		{NULL, "20", NULL, 0},                          /* upstream reject of 20 */
		{"21", "20", "child of an upstream reject", 1}, {"22", "21", "grandchild", 1},
		{"30", NULL, "author gone", 2}, {"31", "30", "reply", 1},
		{"40", NULL, NULL, 1}, {"41", "40", "reply to a NULL body", 1},
	};
	tree_options opt;
	output o;
	keyset *authors = keyset_new();
	char *req[1] = {"body"};

	keyset_add(authors, "1", 1);
	write_rows(rows, 8, false, false);

	defaults(&opt);
	opt.nrequired = 1;
	opt.required = req;
	run(&opt, authors, NULL, 0, &o);
	/* the author ref has the null policy: 30 loads with author NULL and a note */
	ok(row_of(&o, "30") && strstr(row_of(&o, "30")->notes, "reference_set_null"),
	   "the transform's own note follows its row (%s)", row_of(&o, "30") ? row_of(&o, "30")->notes : "");
	ok(row_of(&o, "21") && row_of(&o, "21")->depth == 0 &&
	   strcmp(row_of(&o, "21")->notes, "parent_rejected") == 0,
	   "child of an upstream reject: a root with a note parent_rejected");
	ok(row_of(&o, "22") && row_of(&o, "22")->depth == 1, "its child stays below it");
	ok(reject_of(&o, "40") && strcmp(reject_of(&o, "40"), "not_null_violation") == 0,
	   "a NULL in a NOT NULL column is rejected by the transform");
	ok(row_of(&o, "41") && row_of(&o, "41")->depth == 0 &&
	   strcmp(row_of(&o, "41")->notes, "parent_rejected") == 0,
	   "so its reply becomes a root instead of a dangling child");
	ok(o.order_ok && o.depth_ok, "order and depth consistent");
	output_free(&o);

	defaults(&opt);
	opt.rejected_parent = TREE_REJECT;
	opt.nrequired = 1;
	opt.required = req;
	run(&opt, authors, NULL, 0, &o);
	ok(reject_of(&o, "21") && strcmp(reject_of(&o, "21"), "under_rejected_parent") == 0 &&
	   reject_of(&o, "22") && strcmp(reject_of(&o, "22"), "under_rejected_parent") == 0,
	   "rejected-parent=reject: the subtree is rejected under_rejected_parent");
	ok(reject_of(&o, "41") && strcmp(reject_of(&o, "41"), "under_rejected_parent") == 0,
	   "the reply to the NULL body too");
	ok(o.nrows + o.nrej == 8, "every row is a row or a reject (%d + %d)", o.nrows, o.nrej);
	output_free(&o);
	keyset_free(authors);

	/* the ref itself rejects (missing author, policy reject): the child of a transform reject */
	static const src_row r2[] = {
		{"51", "50", "child first", 1}, {"50", NULL, "author gone", 2}, {"52", "50", "child after", 1},
	};
	write_rows(r2, 3, false, false);
	authors = keyset_new();
	keyset_add(authors, "1", 1);
	{
		/* run() builds its ref with the null policy; flip it through a wrapper spec */
		plan_tree pt = {.parent_column = "parent_id", .depth_column = "depth",
			.orphan = TREE_ROOT, .cycle = TREE_REJECT};
		char *key[1] = {"legacy_comment_id"};
		tf_ref ref = {.column = "author_id", .entity = "profiles", .keyspace = "auth_user",
			.kind = REF_UUID, .on_missing = MISSING_REJECT, .keys = authors};
		transform_spec spec;
		transform_stats st;

		defaults(&opt);
		memset(&spec, 0, sizeof spec);
		memcpy(spec.ns, FERRY_UUID_NAMESPACE, 16);
		spec.entity = "comments";
		spec.keyspace = "dispatch_comment";
		spec.nkey = 1;
		spec.key = key;
		spec.uuid_column = "id";
		spec.nrefs = 1;
		spec.refs = &ref;
		spec.tree = &pt;
		spec.tree_opts = &opt;

		ferry_input *fin = in_open(in_path);
		ferry_reader *r = reader_open(fin);
		ferry_output *out = out_open(out_path, false, 0, 0);
		int code = transform_stream(&spec, r, out, NULL, &st);

		out_commit(out);
		reader_free(r);
		in_close(fin);
		ok(code == FERRY_EXIT_OK && st.rejected == 1 && st.rows_out == 2 && st.noted == 2,
		   "a ref reject (missing_reference): its children, before and after it, load as roots "
		   "with a note (%llu rejected, %llu out, %llu noted)", (unsigned long long) st.rejected,
		   (unsigned long long) st.rows_out, (unsigned long long) st.noted);
	}
	keyset_free(authors);
}

static void
test_duplicates_and_known(void)
{
	static const src_row rows[] = {
		{"50", NULL, "first", 1}, {"50", NULL, "again", 1},
		{"61", "60", "reply to a comment loaded earlier", 1}, {"62", "61", "and below", 1},
		{"60", "59", "re-extracted (changed) comment", 1},
	};
	static const known_key known[] = {{"60", 3}, {"59", 2}};
	tree_options opt;
	output o;

	write_rows(rows, 5, false, false);
	defaults(&opt);
	run(&opt, NULL, known, 2, &o);
	ok(reject_of(&o, "50") && strcmp(reject_of(&o, "50"), "duplicate_key") == 0 && o.nrej == 1,
	   "a key seen twice: the second row is rejected duplicate_key");
	ok(row_of(&o, "61") && row_of(&o, "61")->depth == 4 && is_child_of(row_of(&o, "61"), "60"),
	   "a parent already in the destination (depth 3): its reply at depth 4, no orphan");
	ok(row_of(&o, "62") && row_of(&o, "62")->depth == 5, "and its reply at depth 5");
	ok(row_of(&o, "60") && row_of(&o, "60")->depth == 3, "a re-extracted row takes its depth from its parent");
	ok(o.order_ok && o.depth_ok, "order and depth consistent");
	output_free(&o);
}

static void
test_text_keys(void)
{
	static const src_row rows[] = {
		{"b", "a", "x", 1}, {"a", NULL, "x", 1}, {"c", "zz", "x", 1}, {"d", "d", "x", 1},
		{"007", "b", "x", 1},
	};
	tree_options opt;
	output o;

	write_rows(rows, 5, true, false);
	defaults(&opt);
	run(&opt, NULL, NULL, 0, &o);
	ok(row_of(&o, "b") && row_of(&o, "b")->depth == 1 && is_child_of(row_of(&o, "b"), "a"),
	   "text keys: b below a");
	ok(row_of(&o, "c") && strcmp(row_of(&o, "c")->notes, "orphan_root") == 0, "text keys: orphan c");
	ok(reject_of(&o, "d") && strcmp(reject_of(&o, "d"), "self_parent") == 0, "text keys: self-parent d");
	ok(row_of(&o, "007") && row_of(&o, "007")->depth == 2, "text keys: \"007\" is a key like any");
	output_free(&o);
}

static void
test_deep_chain(int n, bool reversed)
{
	input in;
	char k[24], p[24];
	tree_options opt;
	output o;

	input_begin(&in, false, false);
	for (int j = 0; j < n; j++)
	{
		int i = reversed ? n - j : j + 1;
		src_row r = {k, i > 1 ? p : NULL, "reply", 1};

		snprintf(k, sizeof k, "%d", i);
		snprintf(p, sizeof p, "%d", i - 1);
		input_row(&in, &r);
	}
	input_end(&in);
	defaults(&opt);
	run(&opt, NULL, NULL, 0, &o);
	snprintf(k, sizeof k, "%d", n);
	ok(o.code == FERRY_EXIT_OK && o.nrows == n && o.nrej == 0,
	   "chain of %d (%s): every row out", n, reversed ? "children first" : "parents first");
	ok(row_of(&o, k) && row_of(&o, k)->depth == n - 1, "the last comment at depth %d (%ld)", n - 1,
	   row_of(&o, k) ? row_of(&o, k)->depth : -1L);
	ok(o.order_ok && o.depth_ok, "parents first, each depth = parent's + 1");
	ok(reversed ? o.rep.deferred == (uint64_t) n - 1 : o.rep.deferred == 0,
	   "%llu rows waited for their parent", (unsigned long long) o.rep.deferred);
	output_free(&o);
}

static void
test_wide(int n, bool replies_first)
{
	input in;
	char k[24];
	tree_options opt;
	output o;
	src_row root = {"1", NULL, "root", 1};

	input_begin(&in, false, false);
	if (!replies_first)
		input_row(&in, &root);
	for (int i = 2; i <= n + 1; i++)
	{
		src_row r = {k, "1", "reply", 1};

		snprintf(k, sizeof k, "%d", i);
		input_row(&in, &r);
	}
	if (replies_first)
		input_row(&in, &root);
	input_end(&in);
	defaults(&opt);
	run(&opt, NULL, NULL, 0, &o);

	bool all = o.nrows == n + 1;

	for (int i = 0; i < o.nrows; i++)
		if (strcmp(o.rows[i].key, "1") != 0)
			all &= o.rows[i].depth == 1 && is_child_of(&o.rows[i], "1");
	ok(o.code == FERRY_EXIT_OK && all, "%d replies to one comment (%s): all at depth 1 below it",
	   n, replies_first ? "replies first" : "root first");
	ok(o.order_ok && pos_of(&o, "1") == 0, "the root goes out first");
	output_free(&o);
}

int
main(void)
{
	log_init("test_tree");
	log_set_level(LOG_ERROR);
	if (mkdtemp(tmpdir) == NULL)
	{
		perror("mkdtemp");
		return 1;
	}
	snprintf(in_path, sizeof in_path, "%s/in.stream", tmpdir);
	snprintf(out_path, sizeof out_path, "%s/out.stream", tmpdir);

	test_order_and_depth();
	test_orphans();
	test_cycles();
	test_rejected_parent();
	test_duplicates_and_known();
	test_text_keys();
	test_deep_chain(100000, false);
	test_deep_chain(100000, true);
	test_wide(10000, false);
	test_wide(10000, true);

	unlink(in_path);
	unlink(out_path);
	rmdir(tmpdir);
	return tap_done();
}
