/*
 * test_books.c: the pure parts of books/: the run and step state table
 * (every legal move, and a sample of refused ones), state names, the key
 * ranges of a split entity, and which stage a failed step blames.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../books/books.h"
#include "tap.h"

static void
test_names(void)
{
	for (int s = 0; s < BS_NSTATES; s++)
	{
		books_state back;
		ok(books_state_parse(books_state_name((books_state) s), &back) && back == (books_state) s,
		   "state %s parses back", books_state_name((books_state) s));
	}
	books_state x;
	ok(!books_state_parse("runnin", &x), "a misspelt state is refused");
	ok(!books_state_parse(NULL, &x), "no state is refused");
	ok(!books_state_parse("", &x), "an empty state is refused");
}

/* the run moves, spelt out: everything else is refused */
static const char *const run_legal[] = {
	"pending>running", "pending>failed", "pending>interrupted", "pending>rolled_back",
	"running>done", "running>failed", "running>interrupted",
	"done>rolled_back",
	"failed>running", "failed>rolled_back",
	"interrupted>running", "interrupted>failed", "interrupted>rolled_back",
	NULL};
static const char *const step_legal[] = {
	"pending>running", "pending>rolled_back",
	"running>done", "running>failed", "running>interrupted",
	"done>rolled_back",
	"failed>running", "failed>rolled_back",
	"interrupted>running", "interrupted>rolled_back",
	NULL};

static bool
listed(const char *const *list, books_state from, books_state to)
{
	char want[64];
	snprintf(want, sizeof want, "%s>%s", books_state_name(from), books_state_name(to));
	for (int i = 0; list[i]; i++)
		if (strcmp(list[i], want) == 0)
			return true;
	return false;
}

static void
test_moves(void)
{
	int run_ok = 0, step_ok = 0;
	for (int f = 0; f < BS_NSTATES; f++)
		for (int t = 0; t < BS_NSTATES; t++)
		{
			bool want = listed(run_legal, (books_state) f, (books_state) t);
			if (books_run_move_ok((books_state) f, (books_state) t) != want)
				ok(false, "run %s -> %s should be %s", books_state_name((books_state) f),
				   books_state_name((books_state) t), want ? "legal" : "refused");
			else
				run_ok++;
			want = listed(step_legal, (books_state) f, (books_state) t);
			if (books_step_move_ok((books_state) f, (books_state) t) != want)
				ok(false, "step %s -> %s should be %s", books_state_name((books_state) f),
				   books_state_name((books_state) t), want ? "legal" : "refused");
			else
				step_ok++;
		}
	ok(run_ok == BS_NSTATES * BS_NSTATES, "the run table is the listed moves and no other (%d of %d)",
	   run_ok, BS_NSTATES * BS_NSTATES);
	ok(step_ok == BS_NSTATES * BS_NSTATES, "the step table is the listed moves and no other (%d of %d)",
	   step_ok, BS_NSTATES * BS_NSTATES);
	ok(!books_run_move_ok(BS_RUNNING, BS_ROLLED_BACK), "a running run is never rolled back");
	ok(!books_run_move_ok(BS_DONE, BS_RUNNING), "a done run is never resumed");
	ok(!books_run_move_ok(BS_ROLLED_BACK, BS_RUNNING), "nothing leaves rolled_back");
	ok(!books_run_move_ok(BS_NSTATES, BS_DONE) && !books_run_move_ok(BS_DONE, BS_NSTATES),
	   "a state out of range is refused");
}

/* every key of lo..hi falls in exactly one range */
static bool
covers(int64_t lo, int64_t hi, int parts, char **conds, int n)
{
	(void) parts;
	for (int64_t k = lo - 3; k <= hi + 3; k++)
	{
		int hits = 0;
		for (int i = 0; i < n; i++)
		{
			const char *c = conds[i];
			int64_t a = INT64_MIN, b = INT64_MAX;
			const char *p;
			if ((p = strstr(c, ">= ")))
				a = strtoll(p + 3, NULL, 10);
			if ((p = strstr(c, "< ")))
				b = strtoll(p + 2, NULL, 10);
			if (strcmp(c, "true") == 0 || (k >= a && k < b))
				hits++;
		}
		if (hits != 1)
			return false;
	}
	return true;
}

static void
test_ranges(void)
{
	char *c[8];
	int n = books_key_ranges(1, 100, 2, "q.\"id\"", c);
	ok(n == 2, "1..100 in two ranges");
	ok(n == 2 && strcmp(c[0], "q.\"id\" < 51") == 0 && strcmp(c[1], "q.\"id\" >= 51") == 0,
	   "two open ranges at 51: %s | %s", n > 0 ? c[0] : "", n > 1 ? c[1] : "");
	ok(covers(1, 100, 2, c, n), "every key in one range");
	for (int i = 0; i < n; i++)
		free(c[i]);

	n = books_key_ranges(-50, 1000, 4, "k", c);
	ok(n == 4 && strcmp(c[1], "k >= 213 AND k < 476") == 0, "a middle range is closed: %s", n > 1 ? c[1] : "");
	ok(covers(-50, 1000, 4, c, n), "-50..1000 in four: every key in one range");
	for (int i = 0; i < n; i++)
		free(c[i]);

	n = books_key_ranges(7, 8, 4, "k", c);
	ok(n == 2 && covers(7, 8, 4, c, n), "fewer keys than parts: as many ranges as keys (%d)", n);
	for (int i = 0; i < n; i++)
		free(c[i]);

	n = books_key_ranges(5, 5, 3, "k", c);
	ok(n == 1 && strcmp(c[0], "true") == 0, "one key: one range, everything");
	for (int i = 0; i < n; i++)
		free(c[i]);

	n = books_key_ranges(INT64_MIN + 1, INT64_MAX, 3, "k", c);
	ok(n == 3, "the whole bigint range in three, no overflow");
	for (int i = 0; i < n; i++)
		free(c[i]);

	ok(books_key_ranges(10, 1, 2, "k", c) == 0, "hi below lo: none");
	ok(books_key_ranges(1, 10, 0, "k", c) == 0, "no parts: none");
}

static void
test_blame(void)
{
	const char *who;
	ok(books_blame(true, 0, 0, 0, &who) == 0 && who[0] == '\0', "nothing failed: 0, no stage");
	ok(books_blame(true, 0, 0, 6, &who) == 0, "rows rejected (6) is no failure");
	ok(books_blame(false, 3, 0, 0, &who) == 3 && strcmp(who, "extract") == 0, "the extract's 3");
	ok(books_blame(true, 8, 4, 5, &who) == 4 && strcmp(who, "transform") == 0,
	   "pipes: the extract's broken pipe (8) yields to the transform's own reason");
	ok(books_blame(true, 8, 5, 4, &who) == 4 && strcmp(who, "load") == 0,
	   "pipes: a stream cut short (5) yields to the load's own reason");
	ok(books_blame(false, 8, 4, 0, &who) == 8 && strcmp(who, "extract") == 0,
	   "spool files: the first stage that failed");
	ok(books_blame(true, 0, 8, 4, &who) == 4 && strcmp(who, "load") == 0,
	   "pipes: the transform's broken pipe yields to the load");
	ok(books_blame(true, 8, 5, 6, &who) == 8 && strcmp(who, "extract") == 0,
	   "pipes: 6 from the load is not a reason");
}

int
main(void)
{
	test_names();
	test_moves();
	test_ranges();
	test_blame();
	return tap_done();
}
