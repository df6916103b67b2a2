/*
 * test_books.c: the pure parts of books/: the run and step state table
 * (every legal move, and a sample of refused ones), state names, the key
 * ranges of a split entity, which stage a failed step blames, and the
 * text of "ferry status" (durations; columns as column -t -s TAB aligns
 * them, the expected outputs being util-linux column's own).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
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

static void
test_duration(void)
{
	static const struct
	{
		double s;
		const char *text;
	} cases[] = {
		{0, "0s"}, {0.4, "0s"}, {0.5, "1s"}, {59.4, "59s"}, {59.5, "1m00s"}, {187, "3m07s"},
		{3599.4, "59m59s"}, {3600, "1h00m"}, {7530, "2h05m"}, {90061, "25h01m"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
	{
		char out[32];
		books_duration(cases[i].s, out, sizeof out);
		ok(strcmp(out, cases[i].text) == 0, "%g s is %s (got %s)", cases[i].s, cases[i].text, out);
	}
}

static void
columns_are(const char *tsv, const char *want, const char *what)
{
	char *got = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&got, &n);
	books_columns(f, tsv);
	fclose(f);
	ok(strcmp(got, want) == 0, "columns: %s", what);
	if (strcmp(got, want) != 0)
		printf("#   got [%s]\n#  want [%s]\n", got, want);
	free(got);
}

static void
test_columns(void)
{
	columns_are("a\tbb\t\tc\nxxx\t\t\td\n", "a    bb    c\nxxx        d\n", "empty cells keep their column");
	columns_are("a\tbb\t\nxxx\t\t\n", "a    bb  \nxxx      \n", "an empty last cell: the others padded");
	columns_are("a\tb\n\nc\td\n", "a  b\nc  d\n", "an empty line is dropped");
	columns_are("\xc3\xa9\tx\nab\ty\n", "\xc3\xa9   x\nab  y\n", "width in characters, not bytes");
	columns_are("only\n", "only\n", "one column: as it is");
}

static void
test_size(void)
{
	/* the driver's former awk rule, case by case */
	static const struct
	{
		const char *s;
		double bytes;   /* 0: refused */
	} cases[] = {
		{"512M", 536870912}, {"1G", 1073741824}, {"1.5G", 1610612736}, {"800000K", 819200000},
		{"536870912", 536870912}, {"1048576", 1048576}, {"1M", 1048576}, {"2GiB", 2147483648.0},
		{"3mb", 3145728}, {"1T", 1099511627776.0}, {"2000000B", 2000000},
		{"1048575", 0}, {"100K", 0}, {"0", 0}, {"lots", 0}, {"", 0}, {"1.G", 0}, {".5G", 0},
		{"1Gi", 0}, {"1 G", 0}, {"-1G", 0}, {"1GB2", 0}, {"1X", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
	{
		double got = 0;
		bool parsed = books_parse_size(cases[i].s, &got);
		if (cases[i].bytes == 0)
			ok(!parsed, "size \"%s\" is refused", cases[i].s);
		else
			ok(parsed && got == cases[i].bytes, "size \"%s\" is %.0f bytes (got %.0f)", cases[i].s, cases[i].bytes,
			   got);
	}
}

int
main(void)
{
	test_size();
	test_duration();
	test_columns();
	test_names();
	test_moves();
	test_ranges();
	test_blame();
	return tap_done();
}
