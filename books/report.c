/*
 * report.c: what people read of a run's books: the summary at its end
 * (tables as psql prints them), its success rate against the bar, the
 * peak memory of its stages; and the driver's events.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"

/* characters, not bytes, of UTF-8 text (the width a column needs) */
static int
text_width(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += ((unsigned char) *s & 0xC0) != 0x80;
	return n;
}

static bool
is_number_type(Oid t)
{
	/* int8, int2, int4, oid, float4, float8, numeric */
	return t == 20 || t == 21 || t == 23 || t == 26 || t == 700 || t == 701 || t == 1700;
}

static void
pad(FILE *f, int n)
{
	for (int i = 0; i < n; i++)
		fputc(' ', f);
}

/* a result as psql's aligned format prints it (no footer), then a blank line */
void
books_print_table(FILE *f, const PGresult *res)
{
	int nf = PQnfields(res), nt = PQntuples(res);
	int *w = xcalloc((size_t) nf, sizeof *w);
	for (int c = 0; c < nf; c++)
	{
		w[c] = text_width(PQfname(res, c));
		for (int r = 0; r < nt; r++)
		{
			int x = text_width(PQgetvalue(res, r, c));
			if (x > w[c])
				w[c] = x;
		}
	}
	for (int c = 0; c < nf; c++)
	{
		int left = (w[c] - text_width(PQfname(res, c))) / 2;
		fputs(c ? " | " : " ", f);
		pad(f, left);
		fputs(PQfname(res, c), f);
		/* psql pads every header, the last one too */
		pad(f, w[c] - left - text_width(PQfname(res, c)) + (c == nf - 1));
	}
	fputc('\n', f);
	for (int c = 0; c < nf; c++)
	{
		fputs(c ? "+" : "", f);
		for (int i = 0; i < w[c] + 2; i++)
			fputc('-', f);
	}
	fputc('\n', f);
	for (int r = 0; r < nt; r++)
	{
		for (int c = 0; c < nf; c++)
		{
			const char *v = PQgetvalue(res, r, c);
			int room = w[c] - text_width(v);
			fputs(c ? " | " : " ", f);
			if (is_number_type(PQftype(res, c)))
			{
				pad(f, room);
				fputs(v, f);
			}
			else
			{
				fputs(v, f);
				if (c < nf - 1)
					pad(f, room);
			}
		}
		fputc('\n', f);
	}
	fputc('\n', f);
	free(w);
}

/* summary RUN: the steps, the run's totals and its rejects by reason, on stderr */
int
books_summary(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc != 2)
		return FERRY_EXIT_USAGE;
	static const char *const queries[] = {
		"SELECT entity, status, source_rows AS source, loaded_rows AS loaded, rejected_rows AS rejected, "
		"       noted_rows AS repaired, "
		"       CASE WHEN source_rows > 0 THEN round(100.0 * loaded_rows / source_rows, 2) END AS \"success %\" "
		"FROM ferry.entity_runs WHERE run_id = $1 ORDER BY started_at NULLS LAST, entity",
		"SELECT r.run_id, r.kind, r.status, r.source_rows, r.loaded_rows, r.rejected_rows, "
		"       r.success_rate AS \"success %\", (r.finished_at - r.started_at)::text AS duration "
		"FROM ferry.runs r WHERE r.run_id = $1",
		"SELECT reason, stage, count(*) AS rows, min(entity) AS \"first entity\" "
		"FROM ferry.rejects WHERE run_id = $1 AND disposition = 'rejected' "
		"GROUP BY reason, stage ORDER BY count(*) DESC",
	};
	const char *p[1] = {argv[1]};
	for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++)
	{
		PGresult *res = pg_query(b->target, queries[i], 1, p);
		if (res == NULL)
			return FERRY_EXIT_TARGET;
		books_print_table(stderr, res);
		PQclear(res);
	}
	fflush(stderr);
	return FERRY_EXIT_OK;
}

static void
human_kb(char *out, size_t n, double kb)
{
	snprintf(out, n, "%.1f MB", kb / 1024);
}

/*
 * judge RUN MIN_SUCCESS WORKDIR: the success rate of a done run against
 * the bar; exit 6 below it (the reason said at -q too)
 */
int
books_judge(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc != 4)
		return FERRY_EXIT_USAGE;
	const char *p[2] = {argv[1], argv[2]};
	PGresult *res = pg_query(b->target,
		"SELECT coalesce(success_rate, 100), coalesce(success_rate, 100) < $2::numeric "
		"FROM ferry.runs WHERE run_id = $1", 2, p);
	if (res == NULL || PQntuples(res) != 1)
	{
		PQclear(res);
		return FERRY_EXIT_TARGET;
	}
	const char *rate = PQgetvalue(res, 0, 0);
	log_result("run %s: success rate %s%% (minimum %s%%)", argv[1], rate, argv[2]);
	int rc = FERRY_EXIT_OK;
	if (PQgetvalue(res, 0, 1)[0] == 't')
	{
		fprintf(stderr, "%s: run %s: success rate %s%% is below the minimum %s%%: see ferry.rejects and %s/rejects.jsonl\n",
				log_progname(), argv[1], rate, argv[2], argv[3]);
		rc = FERRY_EXIT_REJECTS;
	}
	PQclear(res);
	return rc;
}

/*
 * memory RUN LIMIT_BYTES: the run's peak memory (said), and every stage
 * whose peak passed --max-memory (said at -q too)
 */
int
books_memory(books *b, int argc, char **argv, buf *reply)
{
	(void) reply;
	if (argc != 3)
		return FERRY_EXIT_USAGE;
	const char *p[1] = {argv[1]};
	PGresult *res = pg_query(b->target,
		"SELECT coalesce(data->>'step', entity), program, max((data->>'max_rss_kb')::bigint) "
		"FROM ferry.audit_log WHERE run_id = $1 AND event LIKE '%\\_end' AND data ? 'max_rss_kb' "
		"  AND entity IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2", 1, p);
	if (res == NULL)
		return FERRY_EXIT_OK;   /* only a report */
	double limit_kb = strtod(argv[2], NULL) / 1024;
	char a[32], l[32];
	human_kb(l, sizeof l, limit_kb);
	if (PQntuples(res) > 0)
	{
		human_kb(a, sizeof a, strtod(PQgetvalue(res, 0, 2), NULL));
		log_result("run %s: peak memory %s (%s: %s), --max-memory %s", argv[1], a, PQgetvalue(res, 0, 0),
				   PQgetvalue(res, 0, 1), l);
	}
	for (int i = 0; i < PQntuples(res); i++)
	{
		double kb = strtod(PQgetvalue(res, i, 2), NULL);
		if (kb <= limit_kb)
			break;
		human_kb(a, sizeof a, kb);
		fprintf(stderr, "%s: run %s: MEMORY LIMIT EXCEEDED: %s: %s used %s, more than --max-memory (%s)\n",
				log_progname(), argv[1], PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), a, l);
	}
	PQclear(res);
	return FERRY_EXIT_OK;
}

/*
 * step-memory STEP PEAKS LIMIT_BYTES: the peak memory of each stage of a
 * step (PEAKS as step-finish replies them: ferry-extract=KB,ferry-load=KB)
 * against --max-memory: a warning from 80 % (said at -q too past it)
 */
int
books_step_memory(books *b, int argc, char **argv, buf *reply)
{
	(void) b;
	(void) argc;
	(void) reply;
	long long limit_kb = atoll(argv[3]) / 1024;
	char *peaks = xstrdup(argv[2]), *save = NULL;
	char used[32], limit[32];
	human_kb(limit, sizeof limit, (double) limit_kb);
	for (char *p = strtok_r(peaks, ",", &save); p && limit_kb > 0; p = strtok_r(NULL, ",", &save))
	{
		char *eq = strchr(p, '='), *end;
		long long kb = eq ? strtoll(eq + 1, &end, 10) : -1;
		if (eq == NULL || end == eq + 1 || *end || kb < 0)
			continue;
		*eq = '\0';
		human_kb(used, sizeof used, (double) kb);
		if (kb > limit_kb)
			fprintf(stderr, "%s: warning: %s: %s used %s of memory at its peak, more than --max-memory (%s)\n",
					log_progname(), argv[1], p, used, limit);
		else if (kb * 10 >= limit_kb * 8)
			log_warn("%s: %s used %s of memory at its peak, %lld %% of --max-memory (%s)", argv[1], p, used,
					 kb * 100 / limit_kb, limit);
	}
	free(peaks);
	return FERRY_EXIT_OK;
}
