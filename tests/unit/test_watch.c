/*
 * test_watch.c: lib/watch.c's reading of EXPLAIN VERBOSE output (TAP):
 * which aliases an expression qualifies columns with, and which subplans
 * it reads; and the plan's "unwatched" directive, parsed and written back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "plan.h"
#include "tap.h"
#include "watch.h"

static void
test_qualifies(void)
{
	ok(watch_qualifies("COALESCE((m.updated_at AT TIME ZONE 'UTC'::text), s.date_joined)", "m"),
	   "m.updated_at: m");
	ok(watch_qualifies("COALESCE((m.updated_at AT TIME ZONE 'UTC'::text), s.date_joined)", "s"),
	   "s.date_joined: s");
	ok(!watch_qualifies("(s.updated_at AT TIME ZONE 'UTC'::text)", "p"), "p not there");
	ok(!watch_qualifies("(s.updated_at > 'p.x'::text)", "p"), "inside a string literal: not a qualifier");
	ok(!watch_qualifies("(s.updated_at > 'it''s p.x'::text)", "p"), "a literal with a doubled quote");
	ok(watch_qualifies("(\"My T\".updated_at)", "My T"), "a quoted alias");
	ok(watch_qualifies("(\"a\"\"b\".x)", "a\"b"), "a quoted alias with a doubled quote");
	ok(!watch_qualifies("(sp.updated_at)", "s"), "a longer name is not s");
	ok(!watch_qualifies("(s_1.updated_at)", "s"), "s_1 is not s");
	ok(watch_qualifies("(s_1.updated_at)", "s_1"), "s_1");
	ok(!watch_qualifies("(1.5 + $1)", "5"), "numbers and parameters are not names");
	ok(!watch_qualifies("s", "s"), "a name not followed by a dot qualifies nothing");
}

static void
test_subplans(void)
{
	ok(watch_mentions_subplan("GREATEST(s.updated_at, (SubPlan 1))", "SubPlan 1"), "SubPlan 1");
	ok(!watch_mentions_subplan("GREATEST(s.updated_at, (SubPlan 12))", "SubPlan 1"), "SubPlan 12 is not 1");
	ok(!watch_mentions_subplan("GREATEST(s.updated_at, (SubPlan 2))", "SubPlan 1"), "SubPlan 2 is not 1");
	ok(watch_mentions_subplan("GREATEST(s.updated_at, $1)", "InitPlan 1 (returns $0,$1)"),
	   "an InitPlan by its second parameter");
	ok(!watch_mentions_subplan("GREATEST(s.updated_at, $10)", "InitPlan 1 (returns $0,$1)"),
	   "$10 is not $1");
	ok(watch_mentions_subplan("GREATEST(s.updated_at, (InitPlan 1).col1)", "InitPlan 1"),
	   "an InitPlan by its name (PostgreSQL 16)");
}

static void
test_directive(void)
{
	static const char *text =
		"ferry-plan 1\n"
		"entity lines\n  source public.line\n  target public.lines\n  key legacy_id\n  uuid id\n"
		"  incremental q.invoice_changed_at\n  drop invoice_changed_at\n"
		"  unwatched public.line,public.other\n"
		"  extract\n    SELECT l.id AS legacy_id, i.updated_at AS invoice_changed_at\n"
		"      FROM public.line l JOIN public.invoice i ON i.id = l.invoice_id\n  end\nend\n";
	plan *p = plan_parse(text, strlen(text), "t.plan");
	const plan_entity *e = p ? plan_find(p, "lines") : NULL;

	ok(e && e->nunwatched == 2 && strcmp(e->unwatched[0], "public.line") == 0 &&
	   strcmp(e->unwatched[1], "public.other") == 0, "unwatched: its tables");
	if (p)
	{
		char *out = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&out, &len);

		plan_write(f, p);
		fclose(f);
		ok(strstr(out, "  unwatched public.line,public.other\n") != NULL, "the writer writes unwatched");
		free(out);
		plan_free(p);
	}
	static const char *bad =
		"ferry-plan 1\nentity lines\n  source public.line\n  target public.lines\n  key legacy_id\n"
		"  unwatched\n  extract\n    SELECT 1 AS legacy_id\n  end\nend\n";
	p = plan_parse(bad, strlen(bad), "bad.plan");
	ok(p == NULL, "unwatched without a table is refused");
	plan_free(p);
}

int
main(void)
{
	log_init("test_watch");
	test_qualifies();
	test_subplans();
	test_directive();
	return tap_done();
}
