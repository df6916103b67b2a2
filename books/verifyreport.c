/*
 * verifyreport.c: verify-report OUT RUN MODE MIN_SUCCESS SHOW UNCHECKED
 * FILE...: the reports of "ferry verify" (one ferry-verify report a step)
 * merged into one, written to OUT atomically, and what people read of it:
 * a table of the entities and their totals, the rejects and repairs by
 * reason, the differences (at most SHOW), then the verdict.  The merge is
 * the server's (json keeps each report's text and order); the text is
 * printed again as jq printed it (lib/jsonfmt.h).  Exit 0, or 7 when the
 * verification failed (not when a step was left unchecked: UNCHECKED, its
 * steps separated by spaces, already failed the command), 8 when OUT
 * cannot be written.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "exitcode.h"
#include "io.h"
#include "jsonfmt.h"
#include "log.h"
#include "pgconn.h"

/* $1 the reports (a JSON array), $2 run, $3 mode, $4 --min-success, $5 unchecked */
static const char merge_sql[] =
	"WITH f AS (SELECT r, o FROM json_array_elements($1::json) WITH ORDINALITY f(r, o)),\n"
	"a AS (SELECT e, f.o, y.o AS eo FROM f, json_array_elements(f.r->'entities') WITH ORDINALITY y(e, o)),\n"
	"n AS (SELECT e FROM a WHERE (e->>'mode') IS DISTINCT FROM 'fixup'),\n"
	"t AS (SELECT sum(coalesce((e->>'source_rows')::numeric, 0)) AS src,\n"
	"             sum((e->>'loaded')::numeric - (e->>'different')::numeric) AS intact,\n"
	"             sum((e->>'loaded')::numeric) AS loaded, sum((e->>'rejected')::numeric) AS rejected,\n"
	"             sum((e->>'repaired')::numeric) AS repaired, sum((e->>'missing')::numeric) AS missing,\n"
	"             sum((e->>'extra')::numeric) AS extra, sum((e->>'different')::numeric) AS different,\n"
	"             sum((e->>'orphans')::numeric) AS orphans FROM n),\n"
	"r AS (SELECT t.*, CASE WHEN src > 0 THEN 100 * intact::float8 / src::float8 ELSE 100 END AS rate FROM t)\n"
	"SELECT json_build_object('ferry', 'verify', 'version', 1, 'run', nullif($2::text, ''), 'mode', $3::text,\n"
	"  'entities', coalesce((SELECT json_agg(e ORDER BY o, eo) FROM a), '[]'),\n"
	"  'totals', json_build_object('source_rows', src, 'loaded', loaded, 'rejected', rejected,\n"
	"            'repaired', repaired, 'missing', missing, 'extra', extra, 'different', different,\n"
	"            'orphans', orphans, 'success_rate', floor(rate * 10000 + 0.5) / 10000),\n"
	"  'unchecked', coalesce(array_to_json(array_remove(string_to_array($5::text, ' '), '')), '[]'),\n"
	"  'min_success', $4::float8,\n"
	"  'ok', coalesce((SELECT bool_and(coalesce((e->>'ok')::boolean, false)) FROM a), true)\n"
	"        AND rate >= $4::float8 AND $5::text = '')\n"
	"FROM r";

/* the table: one row an entity, then the totals ($1 the merged report) */
static const char table_sql[] =
	"SELECT e->>'entity', e->>'source_rows', e->>'loaded', e->>'rejected', e->>'repaired', e->>'missing',\n"
	"       e->>'extra', e->>'different', e->>'orphans', e->>'success_rate', e->>'ok'\n"
	"  FROM (SELECT e::jsonb, o FROM json_array_elements($1::json->'entities') WITH ORDINALITY x(e, o)\n"
	"        UNION ALL SELECT (j->'totals')::jsonb || jsonb_build_object('entity', 'total', 'ok', j->'ok'), 1e9\n"
	"          FROM (SELECT $1::json AS j) j) x ORDER BY o";

/* the rejects and repairs of each entity by reason, in the report's order */
static const char reasons_sql[] =
	"SELECT e->>'entity', coalesce(string_agg(w || ' ' || k || ' ' || v, ', ' ORDER BY wo, ko), '')\n"
	"  FROM json_array_elements($1::json->'entities') WITH ORDINALITY x(e, o)\n"
	"  LEFT JOIN LATERAL (SELECT 'rejected' AS w, 1 AS wo, key AS k, value::text AS v, ord AS ko\n"
	"                  FROM json_each(e->'rejected_by_reason') WITH ORDINALITY r(key, value, ord)\n"
	"                UNION ALL SELECT 'repaired', 2, key, value::text, ord\n"
	"                  FROM json_each(e->'repaired_by_reason') WITH ORDINALITY r(key, value, ord)) r ON true\n"
	" WHERE (e->>'rejected')::numeric > 0 OR (e->>'repaired')::numeric > 0\n"
	" GROUP BY e->>'entity', o ORDER BY o";

/*
 * the differences and the checks that failed, in the report's order:
 * each value as json (its type, its text unquoted, its JSON text)
 */
static const char differences_sql[] =
	"SELECT entity, what, kind, json_typeof(k), k #>> '{}', k::text, col, coalesce(ex::text, 'null'),\n"
	"       coalesce(ac::text, 'null'), json_typeof(v), v #>> '{}', v::text, refs, uuid, chk, detail\n"
	"  FROM (SELECT e->>'entity' AS entity, o, 0 AS what, d.o2, d.d->>'kind' AS kind, d.d->'key' AS k,\n"
	"               d.d->>'column' AS col, d.d->'expected' AS ex, d.d->'actual' AS ac, d.d->'value' AS v,\n"
	"               d.d->>'references' AS refs, d.d->>'uuid' AS uuid, NULL AS chk, NULL AS detail\n"
	"          FROM json_array_elements($1::json->'entities') WITH ORDINALITY x(e, o),\n"
	"               json_array_elements(e->'differences') WITH ORDINALITY d(d, o2)\n"
	"        UNION ALL\n"
	"        SELECT e->>'entity', o, 1, c.o2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,\n"
	"               c.c->>'check', c.c->>'detail'\n"
	"          FROM json_array_elements($1::json->'entities') WITH ORDINALITY x(e, o),\n"
	"               json_array_elements(e->'checks') WITH ORDINALITY c(c, o2)\n"
	"         WHERE NOT coalesce((c.c->>'ok')::boolean, false)) l\n"
	" ORDER BY o, what, o2";

/* a number of the report as jq prints it ("" for none) */
static void
number(buf *b, const char *text)
{
	char n[40];
	if (text == NULL || *text == '\0')
		return;
	json_format_number(strtod(text, NULL), n);
	buf_puts(b, n);
}

/* a rate with two decimals (rounded as jq's round) */
static void
pct(buf *b, const char *text)
{
	double c = round(strtod(text, NULL) * 100);
	buf_printf(b, "%.0f.%02.0f", floor(c / 100), fmod(c, 100));
}

/* a JSON value as jq's string interpolation shows it: a string unquoted */
static void
interpolate(buf *b, const PGresult *res, int row, int col)
{
	const char *type = PQgetvalue(res, row, col);
	if (PQgetisnull(res, row, col) || strcmp(type, "null") == 0)
		buf_puts(b, "null");
	else if (strcmp(type, "string") == 0)
		buf_puts(b, PQgetvalue(res, row, col + 1));
	else
		json_reformat(PQgetvalue(res, row, col + 2), 0, b);
}

static void
print_table(PGconn *conn, const char *merged)
{
	const char *p[1] = {merged};
	PGresult *res = pg_query(conn, table_sql, 1, p);
	if (res == NULL)
		return;
	buf t;
	buf_init(&t, 4096);
	buf_puts(&t, "entity\tsource\tloaded\trejected\trepaired\tmissing\textra\tdifferent\torphans\tintact %\tverdict\n");
	for (int i = 0; i < PQntuples(res); i++)
	{
		buf_puts(&t, PQgetvalue(res, i, 0));
		for (int c = 1; c <= 8; c++)
		{
			buf_putc(&t, '\t');
			number(&t, PQgetvalue(res, i, c));
		}
		buf_putc(&t, '\t');
		pct(&t, PQgetvalue(res, i, 9));
		buf_printf(&t, "\t%s\n", strcmp(PQgetvalue(res, i, 10), "true") == 0 ? "ok" : "FAILED");
	}
	books_columns(stdout, buf_cstr(&t));
	buf_free(&t);
	PQclear(res);
}

static void
print_reasons(PGconn *conn, const char *merged)
{
	const char *p[1] = {merged};
	PGresult *res = pg_query(conn, reasons_sql, 1, p);
	for (int i = 0; res && i < PQntuples(res); i++)
		printf("%s: %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
	PQclear(res);
}

static void
print_differences(PGconn *conn, const char *merged, long show)
{
	const char *p[1] = {merged};
	PGresult *res = pg_query(conn, differences_sql, 1, p);
	if (res == NULL)
		return;
	buf l;
	buf_init(&l, 256);
	long n = PQntuples(res);
	for (int i = 0; i < n && i < show; i++)
	{
		buf_reset(&l);
		buf_printf(&l, "%s: ", PQgetvalue(res, i, 0));
		if (PQgetvalue(res, i, 1)[0] == '1')
			buf_printf(&l, "%s: FAILED, %s", PQgetvalue(res, i, 14), PQgetvalue(res, i, 15));
		else
		{
			const char *kind = PQgetvalue(res, i, 2), *ktype = PQgetvalue(res, i, 3);
			buf_printf(&l, "%s: key ", kind);
			if (PQgetisnull(res, i, 3) || strcmp(ktype, "null") == 0 || strcmp(PQgetvalue(res, i, 5), "false") == 0)
				buf_putc(&l, '?');
			else
				interpolate(&l, res, i, 3);
			if (strcmp(kind, "different") == 0)
			{
				buf_printf(&l, ": %s: expected ", PQgetvalue(res, i, 6));
				json_reformat(PQgetvalue(res, i, 7), 0, &l);
				buf_puts(&l, ", found ");
				json_reformat(PQgetvalue(res, i, 8), 0, &l);
			}
			else if (strcmp(kind, "orphan") == 0)
			{
				buf_printf(&l, ": %s = ", PQgetvalue(res, i, 6));
				interpolate(&l, res, i, 9);
				buf_printf(&l, ": no such row in %s", PQgetvalue(res, i, 12));
			}
			else
				buf_printf(&l, " (uuid %s)", PQgetisnull(res, i, 13) ? "?" : PQgetvalue(res, i, 13));
		}
		puts(buf_cstr(&l));
	}
	if (n > show)
		printf("... %ld more in the report\n", n - show);
	buf_free(&l);
	PQclear(res);
}

int
books_verify_report(books *b, int argc, char **argv)
{
	if (argc < 8)
	{
		log_error("verify-report OUT RUN MODE MIN_SUCCESS SHOW UNCHECKED FILE...");
		return FERRY_EXIT_USAGE;
	}
	const char *out = argv[1], *min = argv[4], *unchecked = argv[6];
	long show = atol(argv[5]);
	/* the reports, as one JSON array */
	buf all, merged;
	buf_init(&all, 1 << 16);
	buf_init(&merged, 1 << 16);
	buf_putc(&all, '[');
	for (int i = 7; i < argc; i++)
	{
		FILE *f = fopen(argv[i], "r");
		char chunk[65536];
		size_t n;
		if (f == NULL)
			die(FERRY_EXIT_IO, "cannot read %s", argv[i]);
		if (i > 7)
			buf_putc(&all, ',');
		while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
			buf_append(&all, chunk, n);
		fclose(f);
	}
	buf_putc(&all, ']');
	const char *p[5] = {buf_cstr(&all), argv[2], argv[3], min, unchecked};
	PGresult *res = pg_query(b->target, merge_sql, 5, p);
	if (res == NULL || !json_reformat(PQgetvalue(res, 0, 0), 2, &merged) ||
		!write_file_atomic(out, merged.data, merged.len))
		die(FERRY_EXIT_IO, "cannot write %s", out);
	PQclear(res);
	buf_free(&all);

	print_table(b->target, buf_cstr(&merged));
	print_reasons(b->target, buf_cstr(&merged));
	print_differences(b->target, buf_cstr(&merged), show);
	fflush(stdout);

	const char *q[1] = {buf_cstr(&merged)};
	res = pg_query(b->target, "SELECT ($1::json->>'ok')::boolean, $1::json#>>'{totals,success_rate}'", 1, q);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	bool ok = PQgetvalue(res, 0, 0)[0] == 't';
	buf rate;
	buf_init(&rate, 32);
	number(&rate, PQgetvalue(res, 0, 1));
	int rc = FERRY_EXIT_OK;
	if (*unchecked)
		log_result("verify: FAILED: not checked: %s (see above); report %s", unchecked, out);
	else if (ok)
		log_result("verify: ok: %s%% of the source rows arrived intact (minimum %s%%); report %s", buf_cstr(&rate),
				   min, out);
	else
	{
		log_result("verify: FAILED: %s%% intact (minimum %s%%), differences listed above; report %s",
				   buf_cstr(&rate), min, out);
		rc = FERRY_EXIT_VERIFY;
	}
	buf_free(&rate);
	buf_free(&merged);
	PQclear(res);
	return rc;
}
