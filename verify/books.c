/*
 * books.c: what the run wrote down in the destination's ferry schema and
 * verification reads back: which run, the entity's counts at the run, the
 * rows it rejected and repaired, by key and by reason.
 */
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "log.h"
#include "pgconn.h"
#include "text.h"
#include "verify.h"

bool
books_present(PGconn *dst, bool *present)
{
	PGresult *res = pg_query(dst, "SELECT to_regclass('ferry.rejects') IS NOT NULL "
							 "AND to_regclass('ferry.id_map') IS NOT NULL "
							 "AND to_regclass('ferry.runs') IS NOT NULL", 0, NULL);

	if (res == NULL)
		return false;
	*present = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return true;
}

char *
books_last_run(PGconn *dst)
{
	PGresult *res = pg_query(dst, "SELECT run_id FROM ferry.runs ORDER BY status = 'done' DESC, "
							 "started_at DESC LIMIT 1", 0, NULL);
	char *run = NULL;

	if (res && PQntuples(res) == 1)
		run = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return run;
}

bool
books_view(vctx *c)
{
	buf sql, run;
	bool ok;

	if (!c->books || c->run == NULL)
		return true;
	const char *params[1] = {c->run};
	PGresult *res = pg_query(c->dst, "SELECT EXISTS (SELECT 1 FROM ferry.runs WHERE run_id = $1) "
							 "OR EXISTS (SELECT 1 FROM ferry.rejects WHERE run_id = $1) "
							 "OR EXISTS (SELECT 1 FROM ferry.id_map WHERE run_id = $1)", 1, params);

	if (res == NULL)
		return false;
	if (PQgetvalue(res, 0, 0)[0] != 't')
		log_warn("run \"%s\" left no trace in the destination: no rejects or repairs to account for",
				 c->run);
	PQclear(res);
	buf_init(&run, 64);
	pg_append_literal(&run, c->run);
	buf_cstr(&run);
	buf_init(&sql, 2048);
	/*
	 * The runs whose books count: the run, and when it is incremental the
	 * runs since the full run it builds on.  A record is superseded by a
	 * record of the same key in a later run; a reject, by a later run
	 * that loaded the row (its first load is in ferry.id_map).  A run
	 * ferry.runs does not know (stages run by hand) stands alone.
	 */
	buf_printf(&sql,
			   "CREATE OR REPLACE TEMP VIEW ferry_verify_books AS "
			   "WITH t AS (SELECT started_at FROM ferry.runs WHERE run_id = %s), "
			   "runs AS (SELECT r.run_id, r.started_at FROM ferry.runs r, t "
			   "  WHERE r.status <> 'rolled_back' AND r.started_at <= t.started_at "
			   "  AND r.started_at >= coalesce((SELECT max(f.started_at) FROM ferry.runs f "
			   "    WHERE f.kind = 'full' AND f.status <> 'rolled_back' AND f.started_at <= t.started_at), "
			   "    t.started_at) "
			   "  UNION ALL SELECT %s, NULL::timestamptz WHERE NOT EXISTS (SELECT 1 FROM t)) "
			   "SELECT x.* FROM ferry.rejects x JOIN runs ON runs.run_id = x.run_id "
			   "WHERE NOT EXISTS (SELECT 1 FROM ferry.rejects y JOIN runs r2 ON r2.run_id = y.run_id "
			   "  WHERE y.entity = x.entity AND y.legacy_id = x.legacy_id AND r2.started_at > runs.started_at) "
			   "AND NOT (x.disposition = 'rejected' AND EXISTS (SELECT 1 FROM ferry.id_map m "
			   "  JOIN runs r3 ON r3.run_id = m.run_id WHERE m.entity = x.entity "
			   "  AND m.legacy_id = x.legacy_id AND r3.started_at > runs.started_at))",
			   run.data, run.data);
	ok = pg_exec(c->dst, buf_cstr(&sql));
	buf_free(&sql);
	buf_free(&run);
	return ok;
}

bool
run_counts(vctx *c, const char *entity, vresult *r)
{
	const char *params[2] = {c->run, entity};
	PGresult *res;

	if (!c->books || c->run == NULL)
		return true;
	res = pg_query(c->dst, "SELECT source_rows, loaded_rows FROM ferry.entity_runs "
				   "WHERE run_id = $1 AND entity = $2", 2, params);
	if (res == NULL)
		return false;
	if (PQntuples(res) == 1)
	{
		if (!PQgetisnull(res, 0, 0))
			r->run_source_rows = atoll(PQgetvalue(res, 0, 0));
		if (!PQgetisnull(res, 0, 1))
			r->run_loaded_rows = atoll(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return true;
}

bool
books_by_reason(vctx *c, const char *entity, const char *disposition, vcounts *out)
{
	const char *params[2] = {entity, disposition};
	PGresult *res;

	if (!c->books || c->run == NULL)
		return true;
	res = pg_query(c->dst, "SELECT reason, count(*) FROM pg_temp.ferry_verify_books "
				   "WHERE entity = $1 AND disposition = $2 GROUP BY 1 ORDER BY 2 DESC, 1", 2, params);
	if (res == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
		counts_add(out, PQgetvalue(res, i, 0), atoll(PQgetvalue(res, i, 1)));
	PQclear(res);
	return true;
}

/* is s an integer as a bigint parameter takes it? */
static bool
integer_text(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '\0' || strlen(s) > 18)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

bool
books_keys(vctx *c, const char *entity, bool numeric, keyset_lit *rejected, keyset_lit *repaired)
{
	const char *params[1] = {entity};
	PGresult *res;

	array_start(&rejected->lit);
	array_start(&repaired->lit);
	rejected->n = repaired->n = 0;
	if (c->books && c->run)
	{
		/* a key both rejected and noted was rejected: the note came first */
		res = pg_query(c->dst, "SELECT legacy_id, bool_or(disposition = 'rejected') "
					   "FROM pg_temp.ferry_verify_books WHERE entity = $1 AND legacy_id IS NOT NULL "
					   "GROUP BY 1 ORDER BY 1", 1, params);
		if (res == NULL)
			return false;
		for (int i = 0; i < PQntuples(res); i++)
		{
			const char *k = PQgetvalue(res, i, 0);
			keyset_lit *to = PQgetvalue(res, i, 1)[0] == 't' ? rejected : repaired;

			if (numeric && !integer_text(k))
			{
				log_warn("%s: ferry.rejects holds key \"%s\", not an integer: ignored", entity, k);
				continue;
			}
			array_add(&to->lit, k, strlen(k));
			to->n++;
		}
		PQclear(res);
	}
	array_finish(&rejected->lit);
	array_finish(&repaired->lit);
	return true;
}
