/*
 * fuzz_plan.c: libFuzzer target for the plan parser (lib/plan.c).  Built
 * by "make fuzzers", run by "make fuzz" and, briefly, by
 * tests/bats/fuzz.bats; the seeds are in tests/fuzz/corpus/plan.
 *
 * The bytes are a plan file.  It is loaded as every program loads one,
 * with plan_load() on a path (a memfd opened as /proc/self/fd/N), and the
 * result must be what plan_parse() makes of the same bytes in memory.  A
 * plan that parses then goes through what ferry-plan and the driver do
 * with it: plan_find() on every entity, plan_validate(), plan_order() and
 * plan_find_cycle() (which must agree: an order exactly when there is no
 * cycle; the order a permutation, each entity after what it depends on;
 * the cycle a real one), and plan_write(), whose canonical text must
 * parse again and write back identically (ferry-plan writes plans that
 * the stages then read).  A broken promise aborts with a message.
 *
 * Errors: the parser reports a bad plan by returning NULL after logging
 * "FILE:LINE: what is wrong" (nothing exits), and plan_validate() by
 * counting problems; die() is left only for out of memory, which
 * libFuzzer reports as "fuzz target exited", a finding too.  Messages are
 * silenced: FUZZ_VERBOSE=1 shows them.
 *
 * Seeds: examples/demo.plan and the plans of tests/fixtures; small plans
 * with every directive, quoted names, CRLF and tabs, a dependency cycle;
 * demo.plan cut in a comment, an entity and an extract query; bad-* plans
 * for the error paths; crash-* inputs that found bugs, kept so that they
 * stay fixed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "plan.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;

static void
fail(const char *what, const char *how)
{
	fprintf(stderr, "fuzz_plan: %s: %s\n", what, how);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	log_init("fuzz_plan");
	log_set_level(getenv("FUZZ_VERBOSE") ? LOG_DEBUG : LOG_SILENT);
	memfd = memfd_create("fuzz_plan", MFD_CLOEXEC);
	if (memfd < 0)
	{
		perror("fuzz_plan: memfd_create");
		exit(1);
	}
	return 0;
}

/* the canonical text of a plan (malloc'ed, *len bytes) */
static char *
written(const plan *p, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (f == NULL)
		fail("open_memstream", "cannot write the plan");
	plan_write(f, p);
	if (fclose(f) != 0)
		fail("open_memstream", "cannot write the plan");
	return text;
}

/* order[] and plan_find_cycle() against the plan's edges */
static void
check_order(const plan *p)
{
	int n = p->nentities;
	int *order = xcalloc((size_t) n + 1, sizeof(int));
	int *level = xcalloc((size_t) n + 1, sizeof(int));
	int *cycle = xcalloc((size_t) n + 1, sizeof(int));
	const plan_ref **why = xcalloc((size_t) n + 1, sizeof(plan_ref *));
	int *pos = xcalloc((size_t) n + 1, sizeof(int));
	bool ordered = plan_order(p, order, level);
	int len = plan_find_cycle(p, cycle, why);

	if (ordered != (len == 0))
		fail("plan_order", "an order and a cycle, or neither");
	if (ordered)
	{
		for (int i = 0; i < n; i++)
			pos[i] = -1;
		for (int i = 0; i < n; i++)
		{
			if (order[i] < 0 || order[i] >= n || pos[order[i]] >= 0)
				fail("plan_order", "the order is not a permutation of the entities");
			pos[order[i]] = i;
		}
		/* a migrated entity comes after the migrated entities its refs and depends name */
		for (int i = 0; i < n; i++)
		{
			const plan_entity *e = &p->entities[i];

			if (e->target == NULL)
				continue;
			for (int r = 0; r < e->nrefs; r++)
			{
				const plan_entity *t = plan_find(p, e->refs[r].entity);

				if (e->refs[r].kind == REF_DEFER || t == NULL || t == e || t->target == NULL)
					continue;
				if (pos[t - p->entities] > pos[i] || level[t - p->entities] >= level[i])
					fail("plan_order", "an entity is ordered before an entity it references");
			}
			for (int d = 0; d < e->ndepends; d++)
			{
				const plan_entity *t = plan_find(p, e->depends[d]);

				if (t == NULL || t == e || t->target == NULL)
					continue;
				if (pos[t - p->entities] > pos[i] || level[t - p->entities] >= level[i])
					fail("plan_order", "an entity is ordered before an entity it depends on");
			}
		}
	}
	else
	{
		memset(pos, 0, (size_t) n * sizeof(int));
		for (int i = 0; i < len; i++)
		{
			if (cycle[i] < 0 || cycle[i] >= n || pos[cycle[i]]++)
				fail("plan_find_cycle", "the cycle names an entity twice, or none");
			if (p->entities[cycle[i]].target == NULL)
				fail("plan_find_cycle", "the cycle goes through an entity that is not migrated");
			if (why[i] != NULL)
			{
				const plan_entity *e = &p->entities[cycle[i]];
				const plan_entity *next = &p->entities[cycle[(i + 1) % len]];

				if (why[i] < e->refs || why[i] >= e->refs + e->nrefs ||
					strcmp(why[i]->entity, next->name) != 0 || why[i]->kind == REF_DEFER)
					fail("plan_find_cycle", "the ref given for an edge is not that edge");
			}
		}
	}
	free(order);
	free(level);
	free(cycle);
	free(why);
	free(pos);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	plan *p, *q, *again;
	char *text, *text2;
	size_t len, len2;

	/* as the programs load a plan: by path */
	if (ftruncate(memfd, 0) != 0 ||
		(size > 0 && pwrite(memfd, data, size, 0) != (ssize_t) size))
	{
		perror("fuzz_plan: memfd");
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	p = plan_load(path);
	q = plan_parse((const char *) data, size, path);
	if ((p == NULL) != (q == NULL))
		fail("plan_load", "the file and the same bytes in memory parse differently");
	if (p == NULL)
		return 0;

	for (int i = 0; i < p->nentities; i++)
	{
		plan_entity *e = &p->entities[i];

		if (plan_find(p, e->name) != e)
			fail("plan_find", "an entity is not found by its name");
		if (e->keyspace == NULL)
			fail("plan_parse", "an entity without a keyspace");
		free(plan_default_keyspace(e->source));
	}
	plan_validate(p);
	check_order(p);

	/* the canonical text parses again, to a plan that writes the same text */
	text = written(p, &len);
	again = plan_parse(text, len, "written.plan");
	if (again == NULL)
	{
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "%s", text);
		fail("plan_write", "the plan written back does not parse");
	}
	if (again->nentities != p->nentities || again->ntodo != p->ntodo)
		fail("plan_write", "the plan written back has other entities or TODOs");
	text2 = written(again, &len2);
	if (len2 != len || memcmp(text, text2, len) != 0)
	{
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "first:\n%s\nsecond:\n%s", text, text2);
		fail("plan_write", "the plan written back writes other text");
	}
	free(text2);
	text2 = written(q, &len2);
	if (len2 != len || memcmp(text, text2, len) != 0)
		fail("plan_load", "the file and the same bytes in memory give other plans");
	free(text);
	free(text2);
	plan_free(again);
	plan_free(p);
	plan_free(q);
	return 0;
}
