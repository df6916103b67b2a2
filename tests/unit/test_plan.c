/*
 * test_plan.c: unit tests of lib/plan.c (TAP).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "plan.h"

static int ntest;
static int nfail;

static void
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	ntest++;
	if (!cond)
		nfail++;
	buf b;

	buf_init(&b, 128);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	/* one TAP line: captured messages lose their newlines */
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n')
			b.data[i] = ' ';
	printf("%sok %d - %s\n", cond ? "" : "not ", ntest, buf_cstr(&b));
	buf_free(&b);
	fflush(stdout);
}

/* ---- capture what the library logs on stderr ---- */

static int saved_stderr = -1;
static char capture_path[] = "/tmp/test_plan.XXXXXX";
static int capture_fd = -1;
static char captured[65536];

static void
capture_start(void)
{
	fflush(stderr);
	if (capture_fd < 0)
		capture_fd = mkstemp(capture_path);
	if (ftruncate(capture_fd, 0) != 0 || lseek(capture_fd, 0, SEEK_SET) != 0)
		abort();
	saved_stderr = dup(STDERR_FILENO);
	dup2(capture_fd, STDERR_FILENO);
}

static const char *
capture_end(void)
{
	ssize_t n;

	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	lseek(capture_fd, 0, SEEK_SET);
	n = read(capture_fd, captured, sizeof(captured) - 1);
	captured[n > 0 ? n : 0] = '\0';
	return captured;
}

static plan *
parse(const char *text)
{
	return plan_parse(text, strlen(text), "t.plan");
}

/* parse text, expect failure, return the message */
static const char *
parse_error(const char *text)
{
	plan *p;
	const char *msg;

	capture_start();
	p = parse(text);
	msg = capture_end();
	if (p != NULL)
	{
		plan_free(p);
		return "(parsed)";
	}
	return msg;
}

static int
validate_quiet(const plan *p, const char **msg)
{
	int n;

	capture_start();
	n = plan_validate(p);
	*msg = capture_end();
	return n;
}

static const char *GOOD =
	"# a comment\n"
	"ferry-plan 1\n"
	"\n"
	"entity countries\n"
	"  source public.dispatch_country\n"
	"  target public.countries\n"
	"  key legacy_country_id\n"
	"  uuid id\n"
	"  extract\n"
	"    SELECT s.id AS legacy_country_id, s.code, s.name\n"
	"    FROM public.dispatch_country AS s\n"
	"  end\n"
	"end\n"
	"\n"
	"entity orders\n"
	"  source public.dispatch_order\n"
	"  target public.orders\n"
	"  keyspace dispatch_order\n"
	"  key legacy_order_id\n"
	"  uuid id\n"
	"  ref country_id countries null\n"
	"  check currency_code currencies\n"
	"  drop secret\n"
	"  incremental coalesce(q.updated_at, q.created_at)\n"
	"  extract\n"
	"    SELECT s.id AS legacy_order_id,\n"
	"           CASE WHEN s.rush = 'Y' THEN true\n"
	"                WHEN s.rush = 'N' THEN false\n"
	"           end AS is_rush,\n"
	"      -- a line with end alone, deeper than extract:\n"
	"      end\n"
	"    FROM public.dispatch_order AS s\n"
	"  end\n"
	"end\n"
	"\n"
	"entity currencies\n"
	"  source sales.currency\n"
	"  target public.currencies\n"
	"  key legacy_currency_id\n"
	"  extract\n"
	"    SELECT code AS legacy_currency_id, code FROM sales.currency\n"
	"  end\n"
	"end\n"
	"\n"
	"entity django_content_type\n"
	"  source public.django_content_type\n"
	"  target -\n"
	"end\n";

static void
test_parse_good(void)
{
	plan *p = parse(GOOD);
	plan_entity *o, *c, *ct, *cur;
	const char *msg;

	ok(p != NULL, "a good plan parses");
	if (p == NULL)
		return;
	ok(p->version == 1 && p->nentities == 4, "version 1, 4 entities");
	c = plan_find(p, "countries");
	o = plan_find(p, "orders");
	cur = plan_find(p, "currencies");
	ct = plan_find(p, "django_content_type");
	ok(c && o && cur && ct && plan_find(p, "nope") == NULL, "plan_find finds entities by name");
	if (!c || !o || !cur || !ct)
	{
		plan_free(p);
		return;
	}
	ok(strcmp(c->keyspace, "dispatch_country") == 0, "keyspace defaults to the table of a public source");
	ok(strcmp(cur->keyspace, "sales.currency") == 0, "keyspace keeps a non-public schema");
	ok(ct->target == NULL, "target - is not migrated");
	ok(o->nrefs == 2 && o->refs[0].kind == REF_UUID && o->refs[0].on_missing == MISSING_NULL &&
	   strcmp(o->refs[0].column, "country_id") == 0 && o->refs[0].line == 21,
	   "ref with policy null, and its line");
	ok(o->refs[1].kind == REF_CHECK && o->refs[1].on_missing == MISSING_REJECT,
	   "check defaults to reject");
	ok(o->ndrop == 1 && strcmp(o->drop[0], "secret") == 0, "drop");
	ok(o->incremental && strcmp(o->incremental, "coalesce(q.updated_at, q.created_at)") == 0,
	   "incremental keeps the rest of the line");
	ok(o->extract_sql && strncmp(o->extract_sql, "SELECT s.id AS legacy_order_id,\n", 32) == 0,
	   "extract is dedented");
	ok(o->extract_sql && strstr(o->extract_sql, "\n       end AS is_rush,\n") != NULL &&
	   strstr(o->extract_sql, "\n  end\nFROM") != NULL,
	   "an indented \"end\" inside the query does not close it");
	ok(o->extract_line == 25 && o->extract_end == 33 && o->end_line == 34,
	   "extract and end lines recorded");
	{ int vq = validate_quiet(p, &msg); ok(vq == 0, "a complete plan validates (%s)", msg); }
	plan_free(p);
}

static void
test_parse_errors(void)
{
	const char *m;

	m = parse_error("entity x\nend\n");
	ok(strstr(m, "t.plan:1: not a ferry plan") != NULL, "missing header: %s", m);
	m = parse_error("ferry-plan 2\n");
	ok(strstr(m, "t.plan:1:") && strstr(m, "version 2"), "unsupported version: %s", m);
	m = parse_error("ferry-plan 1\n\nentity a\n  target public.a\n  colour blue\nend\n");
	ok(strstr(m, "t.plan:5: unknown directive \"colour\"") != NULL, "unknown directive names file:line: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  key id\n");
	ok(strstr(m, "t.plan:3: end of file inside entity \"a\" (line 2)") != NULL,
	   "unterminated entity: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  extract\n    SELECT 1\n");
	ok(strstr(m, "t.plan:4: end of file inside the extract query of entity \"a\" (line 3)") != NULL,
	   "unterminated extract: %s", m);
	m = parse_error("ferry-plan 1\nentity a\nend\nentity a\nend\n");
	ok(strstr(m, "t.plan:4: entity \"a\" is defined twice (first at line 2)") != NULL,
	   "duplicate entity: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  ref x\nend\n");
	ok(strstr(m, "t.plan:3: usage: ref COLUMN ENTITY") != NULL, "ref without entity: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  ref x b maybe\nend\n");
	ok(strstr(m, "t.plan:3:") && strstr(m, "expected reject or null"), "bad policy: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  ref x b\n  check x c\nend\n");
	ok(strstr(m, "t.plan:4:") && strstr(m, "already has a ref"), "column referenced twice: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  tree parent_id colour=red\nend\n");
	ok(strstr(m, "t.plan:3: tree: unknown option") != NULL, "bad tree option: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  source x\n  source y\nend\n");
	ok(strstr(m, "t.plan:4: source given twice") != NULL, "duplicate source: %s", m);
	m = parse_error("ferry-plan 1\nend\n");
	ok(strstr(m, "t.plan:2: \"end\" without an entity") != NULL, "stray end: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  extract\n  end\nend\n");
	ok(strstr(m, "t.plan:4: entity \"a\": empty extract query") != NULL, "empty extract: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  key \"open\nend\n");
	ok(strstr(m, "t.plan:3: unterminated quoted name") != NULL, "unterminated quote: %s", m);
	m = parse_error("ferry-plan 1\nnamespace nope\n");
	ok(strstr(m, "t.plan:2: namespace: \"nope\" is not a UUID") != NULL, "bad namespace: %s", m);
	m = parse_error("ferry-plan 1\nentity a\n  entity b\nend\n");
	ok(strstr(m, "t.plan:3:") && strstr(m, "not closed"), "entity inside entity: %s", m);
}

static void
test_todo(void)
{
	const char *text =
		"ferry-plan 1\n"
		"TODO: decide about the audit tables\n"
		"entity a\n"
		"  target public.a\n"
		"  key legacy_a_id\n"
		"  uuid id\n"
		"  TODO: no source table found\n"
		"  extract\n"
		"    SELECT id AS legacy_a_id,\n"
		"           NULL AS colour  -- TODO: colour is NOT NULL, no source\n"
		"    FROM x\n"
		"  end\n"
		"end\n";
	plan *p = parse(text);
	const char *msg;
	int n;

	ok(p != NULL, "a plan with TODOs parses");
	if (!p)
		return;
	ok(p->ntodo == 1 && p->todo_line[0] == 2 &&
	   strcmp(p->todo[0], "decide about the audit tables") == 0, "top-level TODO and its line");
	ok(p->entities[0].ntodo == 2 && p->entities[0].todo_line[0] == 7 &&
	   p->entities[0].todo_line[1] == 10, "entity TODO and a TODO inside the query");
	n = validate_quiet(p, &msg);
	ok(n == 3, "validate counts 3 problems (got %d)", n);
	ok(strstr(msg, "t.plan:2: TODO: decide") && strstr(msg, "t.plan:7: entity \"a\": TODO: no source") &&
	   strstr(msg, "t.plan:10: entity \"a\": TODO: colour is NOT NULL"),
	   "each TODO is logged with its line");
	{
		/* the canonical form keeps the TODOs once each */
		char *out = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);
		plan *q;

		plan_write(f, p);
		fclose(f);
		q = plan_parse(out, len, "w.plan");
		ok(q && q->ntodo == 1 && q->entities[0].ntodo == 2, "TODOs survive plan_write");
		plan_free(q);
		free(out);
	}
	plan_free(p);
}

static const char *
entity_text(buf *b, const char *name, const char *extra)
{
	buf_printf(b, "entity %s\n  source public.legacy_%s\n  target public.%s\n"
			   "  key legacy_id\n  uuid id\n%s  extract\n    SELECT 1\n  end\nend\n",
			   name, name, name, extra);
	return b->data;
}

static int
pos_of(const plan *p, const int *order, const char *name)
{
	for (int i = 0; i < p->nentities; i++)
		if (strcmp(p->entities[order[i]].name, name) == 0)
			return i;
	return -1;
}

static void
test_order(void)
{
	buf b;
	plan *p;
	int order[16], level[16];
	const char *msg;

	buf_init(&b, 1024);
	buf_puts(&b, "ferry-plan 1\n");
	/* written in the wrong order on purpose */
	entity_text(&b, "comments", "  poly entity_type entity_id\n  tree parent_id depth=depth\n");
	entity_text(&b, "addresses", "  ref office_id offices\n  ref country_id countries\n");
	entity_text(&b, "offices", "  defer billing_address_id addresses\n");
	entity_text(&b, "orders", "  ref office_id offices\n  ref patient_id patients\n");
	entity_text(&b, "patients", "  ref office_id offices\n");
	entity_text(&b, "countries", "");
	buf_puts(&b, "entity lookup\n  target -\nend\n");
	p = parse(buf_cstr(&b));
	ok(p != NULL, "order plan parses");
	if (!p)
	{
		buf_free(&b);
		return;
	}
	ok(plan_order(p, order, level), "a cycle broken by defer orders");
	ok(pos_of(p, order, "offices") < pos_of(p, order, "addresses"),
	   "offices before addresses (the defer edge is not an ordering edge)");
	ok(pos_of(p, order, "countries") < pos_of(p, order, "addresses") &&
	   pos_of(p, order, "patients") < pos_of(p, order, "orders") &&
	   pos_of(p, order, "offices") < pos_of(p, order, "patients"),
	   "referenced entities first");
	ok(pos_of(p, order, "comments") == 6, "the poly entity loads last among migrated entities");
	ok(level[3] == 2 && level[4] == 1 && level[1] == 1 && level[2] == 0 && level[5] == 0,
	   "levels: offices 0, addresses 1, patients 1, orders 2");
	for (int i = 1; i < p->nentities; i++)
		if (level[order[i - 1]] > level[order[i]])
			ok(0, "order is sorted by level");
	{ int vq = validate_quiet(p, &msg); ok(vq == 0, "the plan validates (%s)", msg); }
	plan_free(p);

	/* the same without the defer: a real cycle */
	buf_reset(&b);
	buf_puts(&b, "ferry-plan 1\n");
	entity_text(&b, "addresses", "  ref office_id offices\n");
	entity_text(&b, "offices", "  ref billing_address_id addresses null\n");
	entity_text(&b, "countries", "");
	p = parse(buf_cstr(&b));
	ok(p != NULL, "cycle plan parses");
	if (p)
	{
		int cycle[8];
		const plan_ref *why[8];
		int n = plan_find_cycle(p, cycle, why);
		bool r;

		ok(n == 2 && why[0] && why[1], "plan_find_cycle finds a 2-cycle with its refs");
		capture_start();
		r = plan_order(p, order, level);
		msg = capture_end();
		ok(!r, "plan_order refuses a cycle");
		ok(strstr(msg, "dependency cycle: addresses -> (addresses.office_id) offices -> "
				  "(offices.billing_address_id) addresses") != NULL, "the cycle is reported: %s", msg);
		ok(validate_quiet(p, &msg) == 1 && strstr(msg, "dependency cycle"),
		   "validate reports the cycle");
		plan_free(p);
	}

	/* self references and refs to unknown or unmigrated entities */
	buf_reset(&b);
	buf_puts(&b, "ferry-plan 1\n");
	entity_text(&b, "cats", "  tree parent_id\n  ref sibling_id cats null\n");
	entity_text(&b, "dogs", "  ref owner_id owners\n  ref ct_id lookup\n  depends nowhere\n");
	buf_puts(&b, "entity lookup\n  target -\nend\n");
	p = parse(buf_cstr(&b));
	if (p)
	{
		int n = validate_quiet(p, &msg);

		ok(plan_order(p, order, NULL), "a self reference is not a cycle");
		ok(n == 3 && strstr(msg, "unknown entity \"owners\"") && strstr(msg, "not migrated") &&
		   strstr(msg, "unknown entity \"nowhere\""),
		   "refs to unknown / unmigrated entities are problems (%d): %s", n, msg);
		plan_free(p);
	}
	else
		ok(0, "self reference plan parses");
	buf_free(&b);
}

static void
test_roundtrip(void)
{
	plan *p = parse(GOOD);
	plan *q;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (!p)
	{
		ok(0, "round trip");
		return;
	}
	f = open_memstream(&out, &len);
	plan_write(f, p);
	fclose(f);
	q = plan_parse(out, len, "w.plan");
	ok(q != NULL, "plan_write output parses");
	if (q)
	{
		bool same = q->nentities == p->nentities;

		for (int i = 0; same && i < p->nentities; i++)
		{
			plan_entity *a = &p->entities[i], *c = &q->entities[i];

			same = strcmp(a->name, c->name) == 0 &&
				((a->target == NULL) == (c->target == NULL)) &&
				(!a->extract_sql || strcmp(a->extract_sql, c->extract_sql) == 0) &&
				a->nrefs == c->nrefs && strcmp(a->keyspace, c->keyspace) == 0 &&
				(!a->incremental || strcmp(a->incremental, c->incremental) == 0);
		}
		ok(same, "round trip keeps entities, refs, queries");
		plan_free(q);
	}
	free(out);
	plan_free(p);

	/* quoted names */
	p = parse("ferry-plan 1\nentity \"x\"\n  target public.x\n  key \"Order Id\",b\n"
			  "  uuid id\n  extract\n    SELECT 1\n  end\nend\n");
	ok(p && p->entities[0].nkey == 2 && strcmp(p->entities[0].key[0], "Order Id") == 0 &&
	   strcmp(p->entities[0].key[1], "b") == 0, "quoted names and comma lists");
	if (p)
	{
		f = open_memstream(&out, &len);
		plan_write(f, p);
		fclose(f);
		ok(strstr(out, "key \"Order Id\",b\n") != NULL, "names are quoted back when needed");
		free(out);
		plan_free(p);
	}
}

/* coverage directives and forward refs (man/ferry-plan.5, COVERAGE and CYCLES) */
static const char COVERAGE[] =
	"ferry-plan 1\n"
	"sources public,sales\n"
	"entity store\n"
	"  source public.store\n"
	"  target public.stores\n"
	"  key legacy_store_id\n"
	"  uuid id\n"
	"  forward manager_staff_id staff\n"
	"  merges public.store_extra\n"
	"  unused last_update,\"odd col\"\n"
	"  unused note in public.store_extra\n"
	"  default created_by,flags\n"
	"  extract\n"
	"    SELECT 1\n"
	"  end\n"
	"end\n"
	"entity staff\n"
	"  source public.staff\n"
	"  target public.staff\n"
	"  key legacy_staff_id\n"
	"  uuid id\n"
	"  ref store_id store\n"
	"  extract\n"
	"    SELECT 1\n"
	"  end\n"
	"end\n"
	"entity old_log\n"
	"  source public.old_log\n"
	"  target -\n"
	"  reason an audit trail the application no longer reads\n"
	"end\n";

static void
test_coverage(void)
{
	plan *p = parse(COVERAGE);
	plan *q = NULL;
	plan_entity *st, *sf, *log_e;
	int order[3], level[3];
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	const char *msg;

	ok(p != NULL, "coverage directives and forward parse");
	if (p == NULL)
		return;
	st = plan_find(p, "store");
	sf = plan_find(p, "staff");
	log_e = plan_find(p, "old_log");
	ok(p->nsources == 2 && strcmp(p->sources[1], "sales") == 0, "sources: a comma list");
	ok(st->nrefs == 1 && st->refs[0].kind == REF_FORWARD && st->refs[0].on_missing == MISSING_REJECT &&
	   strcmp(plan_ref_kind_name(st->refs[0].kind), "forward") == 0, "forward, reject by default");
	ok(st->nmerges == 1 && strcmp(st->merges[0], "public.store_extra") == 0, "merges");
	ok(st->nunused == 3 && plan_lists_unused(st, NULL, "odd col") &&
	   plan_lists_unused(st, "public.store", "last_update") &&
	   plan_lists_unused(st, "public.store_extra", "note") &&
	   !plan_lists_unused(st, NULL, "note") && !plan_lists_unused(st, "public.store", "note"),
	   "unused columns of the source and of a merged table");
	ok(plan_lists_default(st, "flags") && !plan_lists_default(st, "id"), "default columns");
	ok(log_e && log_e->reason && strcmp(log_e->reason, "an audit trail the application no longer reads") == 0,
	   "reason keeps the rest of the line");
	{ int vq = validate_quiet(p, &msg); ok(vq == 0, "a forward ref breaks the cycle (%s)", msg); }
	ok(plan_order(p, order, level) && level[0] == 0 && level[1] == 1,
	   "forward is not an ordering edge: store, then staff");

	f = open_memstream(&out, &len);
	plan_write(f, p);
	fclose(f);
	q = plan_parse(out, len, "w.plan");
	ok(q != NULL && q->nsources == 2 && plan_find(q, "store")->nunused == 3 &&
	   plan_lists_unused(plan_find(q, "store"), "public.store_extra", "note") &&
	   plan_find(q, "store")->refs[0].kind == REF_FORWARD &&
	   plan_find(q, "store")->ndefaults == 2 && plan_find(q, "store")->nmerges == 1 &&
	   plan_find(q, "old_log")->reason != NULL,
	   "coverage directives survive plan_write");
	plan_free(q);
	free(out);
	plan_free(p);

	p = parse("ferry-plan 1\nentity a\n  target public.a\n  unused x in\nend\n");
	ok(p == NULL, "unused ... in without a table is refused");
	plan_free(p);
	(void) sf;
}

/* deletes delete|keep|flag COLUMN: parsed, defaulted, validated, written back */
static void
test_deletes(void)
{
	static const char *head =
		"ferry-plan 1\n"
		"entity parents\n  source public.p\n  target public.parents\n  key legacy_id\n  uuid id\n"
		"  extract\n    SELECT id AS legacy_id FROM public.p\n  end\nend\n"
		"entity kids\n  source public.k\n  target public.kids\n  key legacy_id\n  uuid id\n"
		"  ref parent_id parents\n";
	static const char *tail = "  extract\n    SELECT id AS legacy_id, parent_id FROM public.k\n  end\nend\n";
	const char *msg;
	buf t;
	plan *p;

	buf_init(&t, 512);
	buf_printf(&t, "%s%s", head, tail);
	p = parse(buf_cstr(&t));
	ok(p && plan_find(p, "kids")->deletes == DELETES_DELETE && plan_find(p, "kids")->deletes_line == 0,
	   "deletes: delete when not given");
	plan_free(p);

	t.len = 0;
	buf_printf(&t, "%s  deletes flag \"Gone At\"\n%s", head, tail);
	p = parse(buf_cstr(&t));
	ok(p && plan_find(p, "kids")->deletes == DELETES_FLAG &&
	   strcmp(plan_find(p, "kids")->deletes_column, "Gone At") == 0 &&
	   plan_find(p, "kids")->deletes_line == 17, "deletes flag COLUMN: the policy, its column and line");
	ok(p && validate_quiet(p, &msg) == 0, "deletes flag on a plain column validates (%s)", p ? msg : "");
	if (p)
	{
		/* written back, and read again the same */
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);

		plan_write(f, p);
		fclose(f);
		ok(strstr(text, "  deletes flag \"Gone At\"\n") != NULL, "the writer writes deletes flag");
		plan *again = plan_parse(text, len, "again.plan");

		ok(again && plan_find(again, "kids")->deletes == DELETES_FLAG &&
		   strcmp(plan_find(again, "kids")->deletes_column, "Gone At") == 0, "deletes flag reads back");
		ok(again && plan_find(again, "parents")->deletes == DELETES_DELETE &&
		   strstr(text, "deletes delete") == NULL, "the default is not written");
		plan_free(again);
		free(text);
	}
	plan_free(p);

	t.len = 0;
	buf_printf(&t, "%s  deletes keep\n%s", head, tail);
	p = parse(buf_cstr(&t));
	ok(p && plan_find(p, "kids")->deletes == DELETES_KEEP, "deletes keep");
	plan_free(p);

	/* errors: a policy unknown, flag without a column, keep with one, twice */
	const char *bad[][2] = {
		{"  deletes purge\n", "t.plan:17: usage: deletes delete|keep|flag COLUMN"},
		{"  deletes flag\n", "t.plan:17: usage: deletes delete|keep|flag COLUMN"},
		{"  deletes keep gone_at\n", "t.plan:17: usage: deletes delete|keep|flag COLUMN"},
		{"  deletes keep\n  deletes delete\n", "t.plan:18: deletes given twice"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
	{
		t.len = 0;
		buf_printf(&t, "%s%s%s", head, bad[i][0], tail);
		msg = parse_error(buf_cstr(&t));
		ok(strstr(msg, bad[i][1]) != NULL, "refused: %s (%s)", bad[i][1], msg);
	}

	/* validation: the flag is not a key, uuid or reference column */
	const char *invalid[][2] = {
		{"  deletes flag legacy_id\n", "deletes flag legacy_id: a key, uuid or depth column"},
		{"  deletes flag id\n", "deletes flag id: a key, uuid or depth column"},
		{"  deletes flag parent_id\n", "deletes flag parent_id: the column is a ref"},
	};
	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
	{
		t.len = 0;
		buf_printf(&t, "%s%s%s", head, invalid[i][0], tail);
		p = parse(buf_cstr(&t));
		ok(p && validate_quiet(p, &msg) == 1 && strstr(msg, invalid[i][1]) != NULL,
		   "invalid: %s (%s)", invalid[i][1], p ? msg : "not parsed");
		plan_free(p);
	}
	t.len = 0;
	buf_printf(&t, "ferry-plan 1\nentity lookup\n  source public.l\n  target -\n  deletes keep\nend\n");
	p = parse(buf_cstr(&t));
	ok(p && validate_quiet(p, &msg) == 1 && strstr(msg, "t.plan:5: entity \"lookup\": deletes on an "
													 "entity that is not migrated") != NULL,
	   "deletes on an entity not migrated is refused (%s)", p ? msg : "not parsed");
	plan_free(p);
	buf_free(&t);
}

/* links FROMCOL TOCOL [cycle=note|reject]: a link entity (man/ferry-plan.5, LINKS) */
static const char LINKS[] =
	"ferry-plan 1\n"
	"entity kits\n"
	"  target public.kits\n"
	"  key legacy_kit_id\n"
	"  uuid id\n"
	"  extract\n"
	"    SELECT 1\n"
	"  end\n"
	"end\n"
	"entity kit_items\n"
	"  target public.kit_items\n"
	"  key legacy_kit_item_id\n"
	"  uuid id\n"
	"  ref kit_id kits\n"
	"  ref child_kit_id kits\n"
	"  links kit_id child_kit_id%s\n"
	"  extract\n"
	"    SELECT 1\n"
	"  end\n"
	"end\n";

static plan *
parse_links(const char *option)
{
	buf b;
	plan *p;

	buf_init(&b, 512);
	buf_printf(&b, LINKS, option);
	p = parse(buf_cstr(&b));
	buf_free(&b);
	return p;
}

static void
test_links(void)
{
	plan *p = parse_links(""), *q;
	plan_entity *e;
	char *out = NULL;
	size_t len = 0;
	FILE *f;
	const char *msg;

	e = p ? plan_find(p, "kit_items") : NULL;
	ok(e && e->links && strcmp(e->links->from_column, "kit_id") == 0 &&
	   strcmp(e->links->to_column, "child_kit_id") == 0 && e->links->cycle == LINKS_NOTE,
	   "links FROM TO: cycle=note by default");
	{ int vq = p ? validate_quiet(p, &msg) : -1; ok(vq == 0, "a link entity validates (%s)", p ? msg : ""); }
	if (p)
	{
		f = open_memstream(&out, &len);
		plan_write(f, p);
		fclose(f);
		ok(strstr(out, "  links kit_id child_kit_id cycle=note\n") != NULL, "links is written back");
		q = plan_parse(out, len, "w.plan");
		ok(q && plan_find(q, "kit_items")->links && plan_find(q, "kit_items")->links->cycle == LINKS_NOTE,
		   "links survives plan_write");
		plan_free(q);
		free(out);
		plan_free(p);
	}
	p = parse_links(" cycle=reject");
	ok(p && plan_find(p, "kit_items")->links->cycle == LINKS_REJECT, "links ... cycle=reject");
	plan_free(p);

	msg = parse_error("ferry-plan 1\nentity a\n  links x\nend\n");
	ok(strstr(msg, "t.plan:3: usage: links FROMCOL TOCOL [cycle=note|reject]") != NULL,
	   "links with one column: usage (%s)", msg);
	msg = parse_error("ferry-plan 1\nentity a\n  links x y cycle=root\nend\n");
	ok(strstr(msg, "t.plan:3: links: unknown option \"cycle=root\" (cycle=note|reject)") != NULL,
	   "links cycle=root is refused (%s)", msg);
	msg = parse_error("ferry-plan 1\nentity a\n  links x x\nend\n");
	ok(strstr(msg, "the same column") != NULL, "links x x is refused (%s)", msg);
	msg = parse_error("ferry-plan 1\nentity a\n  links x y\n  links x y\nend\n");
	ok(strstr(msg, "t.plan:4: links given twice") != NULL, "links twice is refused (%s)", msg);

	/* validation: both columns references of one entity */
	p = parse("ferry-plan 1\nentity kits\n  target public.kits\n  key k\n  uuid id\n"
			  "  extract\n    SELECT 1\n  end\nend\n"
			  "entity bins\n  target public.bins\n  key k\n  uuid id\n"
			  "  extract\n    SELECT 1\n  end\nend\n"
			  "entity l\n  target public.l\n  key k\n  uuid id\n  ref a kits\n  ref b bins\n"
			  "  links a b\n  extract\n    SELECT 1\n  end\nend\n"
			  "entity m\n  target public.m\n  key k\n  uuid id\n  ref a kits\n"
			  "  links a b\n  extract\n    SELECT 1\n  end\nend\n");
	ok(p != NULL, "links to two entities and to a column without a ref parse");
	if (p)
	{
		int vq = validate_quiet(p, &msg);

		ok(vq == 2 && strstr(msg, "entity \"l\": links a b: the columns reference two entities (kits and bins)") &&
		   strstr(msg, "entity \"m\": links a b: both columns must be references") &&
		   strstr(msg, "\"b\" is not"), "... and fail validation (%s)", msg);
		plan_free(p);
	}
}

int
main(void)
{
	log_init("test_plan");
	test_parse_good();
	test_parse_errors();
	test_todo();
	test_order();
	test_roundtrip();
	test_coverage();
	test_deletes();
	test_links();
	printf("1..%d\n", ntest);
	if (capture_fd >= 0)
	{
		close(capture_fd);
		unlink(capture_path);
	}
	return nfail ? 1 : 0;
}
