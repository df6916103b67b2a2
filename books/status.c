/*
 * status.c: "ferry status [RUN] [--json]": a run's progress from the
 * books, from any terminal, during a run or after a crash.  The run's
 * status object (lib/runstatus.h, status.sql) as it is, or as text: a
 * header, one line a step, the totals; without RUN, the latest runs
 * first.  Every figure is the object's, read from it by the server.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "runstatus.h"

/* the latest runs; a run "running" that no session holds is interrupted */
static const char runs_sql[] =
	"SELECT run_id, kind,\n"
	"       CASE WHEN status = 'running' AND NOT EXISTS (\n"
	"                SELECT 1 FROM pg_locks l, LATERAL (SELECT hashtextextended('ferry run ' || r.run_id, 0) AS k) k\n"
	"                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1\n"
	"                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())\n"
	"                  AND l.classid::bigint = (k.k >> 32) & 4294967295 AND l.objid::bigint = k.k & 4294967295)\n"
	"            THEN 'interrupted' ELSE status END AS status,\n"
	"       date_trunc('second', started_at) AS started_at, date_trunc('second', finished_at) AS finished_at,\n"
	"       source_rows, loaded_rows, rejected_rows, success_rate AS \"success %\"\n"
	"FROM (SELECT * FROM ferry.runs ORDER BY started_at DESC LIMIT 10) r ORDER BY started_at";

/* the run's fields the text shows; numbers as the shortest text of a double */
static const char run_sql[] =
	"SELECT j->>'run', j->>'kind', j->>'state', j#>>'{driver,pid}', j#>>'{driver,host}',\n"
	"       (j->>'elapsed_seconds')::float8, replace(left(j->>'started_at', 19), 'T', ' '),\n"
	"       (j->>'success_rate')::float8::text,\n"
	"       t->>'done', t->>'entities', (t->>'running')::int, (t->>'failed')::int,\n"
	"       (t->>'interrupted')::int, (t->>'pending')::int, t->>'rows_done',\n"
	"       (t->>'unknown_expected')::int, t->>'rows_expected', (t->>'percent')::float8::text,\n"
	"       (t->>'rows_per_second')::float8, (t->>'eta_seconds')::float8,\n"
	"       (SELECT string_agg(x, ', ' ORDER BY o) FROM jsonb_array_elements_text(j->'left') WITH ORDINALITY l(x, o)),\n"
	"       t->>'rows_left',\n"
	"       (SELECT array_to_string(ARRAY[sum((d->>'deleted')::numeric), sum((d->>'cascaded')::numeric),\n"
	"                                     sum((d->>'set_null')::numeric), sum((d->>'flagged')::numeric),\n"
	"                                     sum((d->>'kept')::numeric), sum((d->>'refused')::numeric)], '\t', 'null')\n"
	"          FROM jsonb_array_elements(j->'entities') e, LATERAL (SELECT e->'deletes' AS d) x\n"
	"         WHERE jsonb_typeof(d) = 'object' HAVING count(*) > 0)\n"
	"FROM (SELECT $1::jsonb AS j) s, LATERAL (SELECT j->'totals' AS t) tt";

/* one row a step: its state, rows done of expected, rate, ETA, rejects */
static const char steps_sql[] =
	"SELECT e->>'entity', e->>'state', e->>'stage', e->>'rows_done', e->>'rows_expected',\n"
	"       CASE WHEN (e->>'rows_expected')::numeric > 0\n"
	"            THEN least(100, floor(1000 * (e->>'rows_done')::float8 / (e->>'rows_expected')::float8) / 10)::text END,\n"
	"       (e->>'rows_per_second')::float8, (e->>'eta_seconds')::float8, e->>'rejected'\n"
	"FROM jsonb_array_elements($1::jsonb->'entities') WITH ORDINALITY x(e, o) ORDER BY o";

static const char *
field(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* a duration, "" for none */
static const char *
dur(const PGresult *res, int row, int col, char *out, size_t n)
{
	out[0] = '\0';
	if (!PQgetisnull(res, row, col))
		books_duration(strtod(PQgetvalue(res, row, col), NULL), out, n);
	return out;
}

/* a cell of a tab-separated line (tabs, newlines, backslashes escaped) */
static void
cell(buf *b, const char *s)
{
	for (; s && *s; s++)
	{
		if (*s == '\t' || *s == '\n' || *s == '\r' || *s == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *s == '\t' ? 't' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : *s);
	}
}

static void
print_header(FILE *f, const PGresult *r)
{
	char d[32];
	const char *state = PQgetvalue(r, 0, 2), *pid = PQgetvalue(r, 0, 3), *host = PQgetvalue(r, 0, 4);
	fprintf(f, "run %s (%s): ", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
	dur(r, 0, 5, d, sizeof d);
	if (strcmp(state, "running") == 0)
		fprintf(f, "running, ferry pid %s on %s, for %s\n", pid, host, d);
	else if (strcmp(state, "interrupted") == 0)
		fprintf(f, "INTERRUPTED: no ferry process holds it (the last was pid %s on %s), started %s\n", pid, host,
				PQgetvalue(r, 0, 6));
	else if (strcmp(state, "done") == 0)
		fprintf(f, "done in %s, success rate %s %%\n", d, PQgetvalue(r, 0, 7));
	else
		fprintf(f, "%s after %s\n", state, d);
}

static void
print_steps(FILE *f, const PGresult *s)
{
	buf t;
	char d[32];
	buf_init(&t, 4096);
	buf_puts(&t, "entity\tstate\trows\tof\t%\trows/s\tETA\trejected\n");
	for (int i = 0; i < PQntuples(s); i++)
	{
		const char *state = PQgetvalue(s, i, 1), *stage = field(s, i, 2), *expected = field(s, i, 4);
		cell(&t, PQgetvalue(s, i, 0));
		buf_putc(&t, '\t');
		cell(&t, state);
		if (strcmp(state, "interrupted") == 0 && stage)
			buf_printf(&t, " (%s)", stage);
		buf_printf(&t, "\t%s\t", PQgetvalue(s, i, 3));
		if (expected == NULL)
			buf_putc(&t, '?');
		else
			buf_printf(&t, "%s%s", strcmp(state, "done") == 0 ? "" : "~", expected);
		buf_printf(&t, "\t%s\t", PQgetvalue(s, i, 5));
		if (!PQgetisnull(s, i, 6))
			buf_printf(&t, "%.0f", round(strtod(PQgetvalue(s, i, 6), NULL)));
		buf_printf(&t, "\t%s\t%s\n", dur(s, i, 7, d, sizeof d), PQgetvalue(s, i, 8));
	}
	books_columns(f, buf_cstr(&t));
	buf_free(&t);
}

static void
print_totals(FILE *f, const PGresult *r)
{
	static const char *const counted[] = {"running", "failed", "interrupted", "pending"};
	char d[32];
	const char *state = PQgetvalue(r, 0, 2);
	fprintf(f, "total: %s of %s steps done", PQgetvalue(r, 0, 8), PQgetvalue(r, 0, 9));
	for (int i = 0; i < 4; i++)
		if (atoi(PQgetvalue(r, 0, 10 + i)) > 0)
			fprintf(f, ", %s %s", PQgetvalue(r, 0, 10 + i), counted[i]);
	fprintf(f, "; %s of %s%s rows", PQgetvalue(r, 0, 14), atoi(PQgetvalue(r, 0, 15)) > 0 ? "at least " : "~",
			PQgetvalue(r, 0, 16));
	if (!PQgetisnull(r, 0, 17))
		fprintf(f, " (%s %%)", PQgetvalue(r, 0, 17));
	if (!PQgetisnull(r, 0, 18))
		fprintf(f, ", %.0f rows/s", round(strtod(PQgetvalue(r, 0, 18), NULL)));
	if (!PQgetisnull(r, 0, 19))
		fprintf(f, ", ETA %s", dur(r, 0, 19, d, sizeof d));
	fputc('\n', f);
	if (!PQgetisnull(r, 0, 20) && strcmp(state, "running") != 0)
		fprintf(f, "left: %s (about %s rows)\n", PQgetvalue(r, 0, 20), PQgetvalue(r, 0, 21));
	if (strcmp(state, "interrupted") == 0 || strcmp(state, "failed") == 0)
		fprintf(f, "finish it with: ferry resume %s\n", PQgetvalue(r, 0, 0));
	if (!PQgetisnull(r, 0, 22))
	{
		char *sums = xstrdup(PQgetvalue(r, 0, 22)), *save = NULL;
		static const char *const did[] = {"deleted", "cascaded", "set null", "flagged", "kept", "refused"};
		fputs("deletes: ", f);
		int i = 0;
		for (char *n = strtok_r(sums, "\t", &save); n && i < 6; n = strtok_r(NULL, "\t", &save), i++)
			fprintf(f, "%s%s %s", i ? ", " : "", n, did[i]);
		fputs(" (ferry.deletes)\n", f);
		free(sums);
	}
}

/* the status object as text on f; false (logged) on a database error */
static bool
print_text(books *b, FILE *f, const char *json)
{
	const char *p[1] = {json};
	PGresult *r = pg_query(b->target, run_sql, 1, p);
	PGresult *s = r ? pg_query(b->target, steps_sql, 1, p) : NULL;
	if (s)
	{
		print_header(f, r);
		print_steps(f, s);
		print_totals(f, r);
	}
	PQclear(r);
	PQclear(s);
	return s != NULL;
}

int
books_status_command(books *b, int argc, char **argv)
{
	bool json_out = false;
	const char *run = NULL;
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--json") == 0)
			json_out = true;
		else if (argv[i][0] == '-')
		{
			log_error("status: unknown option \"%s\"", argv[i]);
			return FERRY_EXIT_USAGE;
		}
		else if (run)
		{
			log_error("status: one run at a time");
			return FERRY_EXIT_USAGE;
		}
		else
			run = argv[i];
	}
	buf json;
	PGresult *res;
	buf_init(&json, 8192);
	int rc = FERRY_EXIT_OK;
	if (!run_status_json(b->target, run ? run : "", false, &json, &res))
	{
		if (res)
			log_error("target: %s", pg_errmsg(b->target, res));
		PQclear(res);
		log_error("status: cannot read the books in the target");
		rc = FERRY_EXIT_TARGET;
	}
	else if (json.len == 0 && run)
	{
		log_error("status: no run \"%s\"", run);
		rc = FERRY_EXIT_USAGE;
	}
	else if (json.len == 0)
		puts(json_out ? "null" : "no run yet");
	else if (json_out)
		puts(buf_cstr(&json));
	else
	{
		/* without RUN: the latest runs, then the latest one in detail */
		PGresult *runs = run ? NULL : pg_query(b->target, runs_sql, 0, NULL);
		if (runs)
		{
			books_print_table(stdout, runs);
			putchar('\n');
			PQclear(runs);
		}
		if ((!run && runs == NULL) || !print_text(b, stdout, buf_cstr(&json)))
			rc = FERRY_EXIT_TARGET;
	}
	buf_free(&json);
	return fflush(stdout) == 0 || rc ? rc : FERRY_EXIT_IO;
}
