/*
 * verify.c: the books' side of "ferry verify": the run it accounts for,
 * and the verdict of a cutover ("ferry run --final") on its report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"

/* verify-run [RUN]: RUN, or the latest done run (none: empty); its workdir and kind */
int
books_verify_run(books *b, int argc, char **argv, buf *reply)
{
	const char *p[1] = {argc > 1 ? argv[1] : ""};
	PGresult *res = pg_query(b->target,
		"SELECT r.run_id, coalesce(x.workdir, ''), coalesce(x.kind, '') "
		"FROM (SELECT coalesce(nullif($1, ''), (SELECT run_id FROM ferry.runs WHERE status = 'done' "
		"                                        ORDER BY started_at DESC LIMIT 1), '') AS run_id) r "
		"LEFT JOIN ferry.runs x ON x.run_id = r.run_id", 1, p);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	buf_printf(reply, "\t%s\t%s\t%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	PQclear(res);
	return FERRY_EXIT_OK;
}

/*
 * $1 the verify report, $2 the run.  An entity is equal when verify found
 * it clean, or found only extra rows, exactly as many as its deletes kept
 * (keep) or flagged (ferry.deletes): rows the plan keeps on purpose.
 */
static const char verdict_sql[] =
	"WITH v AS (SELECT $1::jsonb AS j),\n"
	"k AS (SELECT entity, count(*) AS n FROM ferry.deletes\n"
	"      WHERE run_id = $2 AND action IN ('kept', 'flagged') GROUP BY 1),\n"
	"ent AS (SELECT x.e, x.o, coalesce(k.n, 0) AS kept\n"
	"          FROM v, jsonb_array_elements(j->'entities') WITH ORDINALITY x(e, o)\n"
	"          LEFT JOIN k ON k.entity = x.e->>'entity'\n"
	"         WHERE x.e->>'mode' IS DISTINCT FROM 'fixup'),\n"
	"bad AS (SELECT e, o FROM ent\n"
	"         WHERE NOT coalesce((e->>'ok')::boolean OR (kept > 0 AND (e->>'extra')::numeric = kept\n"
	"                 AND (e->>'missing')::numeric = 0 AND (e->>'different')::numeric = 0\n"
	"                 AND (e->>'orphans')::numeric = 0\n"
	"                 AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(e->'checks') c\n"
	"                                 WHERE NOT (c->>'ok')::boolean)), false)),\n"
	"rate AS (SELECT (j#>>'{totals,success_rate}')::float8 AS rate, (j->>'min_success')::float8 AS min FROM v)\n"
	"SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM bad) AND jsonb_array_length(j->'unchecked') = 0 AND rate >= min\n"
	"  THEN format('EQUAL: every entity is the source through the plan (%s checked, %s source rows, %s rejected '\n"
	"              'and %s repaired as the books say, %s kept by the deletes policy)',\n"
	"              jsonb_array_length(j->'entities'), j#>>'{totals,source_rows}', j#>>'{totals,rejected}',\n"
	"              j#>>'{totals,repaired}', (SELECT coalesce(sum(n), 0) FROM k))\n"
	"  ELSE 'NOT EQUAL: ' || array_to_string(\n"
	"         ARRAY(SELECT format('%s (missing %s, extra %s, different %s, orphans %s)', e->>'entity',\n"
	"                             e->>'missing', e->>'extra', e->>'different', e->>'orphans') FROM bad ORDER BY o)\n"
	"         || ARRAY(SELECT u || ' not checked' FROM jsonb_array_elements_text(j->'unchecked')\n"
	"                  WITH ORDINALITY x(u, o) ORDER BY o)\n"
	"         || CASE WHEN rate < min THEN ARRAY[format('success rate %s %% below %s %%', rate, min)]\n"
	"                 ELSE '{}'::text[] END, '; ') || ' (the differences are listed above)' END\n"
	"FROM v, rate";

/* the text of FILE (a new string), NULL when it cannot be read or is empty */
static char *
slurp(const char *file)
{
	FILE *f = fopen(file, "r");
	if (f == NULL)
		return NULL;
	buf b;
	char chunk[65536];
	size_t n;
	buf_init(&b, 65536);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	bool ok = !ferror(f) && b.len > 0;
	fclose(f);
	if (!ok)
	{
		buf_free(&b);
		return NULL;
	}
	buf_cstr(&b);
	return b.data;
}

/*
 * verdict RUN REPORT EXIT: the cutover's verdict on the run RUN and its
 * verify report, one line: "EQUAL: ..." or "NOT EQUAL: ..." (EXIT: the
 * run's then its verification's, 0 or 7 when both ran)
 */
int
books_verdict(books *b, int argc, char **argv, buf *reply)
{
	(void) argc;
	int rc = atoi(argv[3]);
	char *report = rc == FERRY_EXIT_OK || rc == FERRY_EXIT_VERIFY ? slurp(argv[2]) : NULL;
	if (report == NULL)
	{
		buf_printf(reply, "\tNOT EQUAL: the run or its verification failed (exit %d; see above)", rc);
		return FERRY_EXIT_OK;
	}
	const char *p[2] = {report, argv[1]};
	PGresult *res = pg_query(b->target, verdict_sql, 2, p);
	buf_printf(reply, "\t%s", res && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "NOT EQUAL: cannot read the books");
	PQclear(res);
	free(report);
	return FERRY_EXIT_OK;
}
