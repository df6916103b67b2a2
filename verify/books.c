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
	const char *params[3] = {c->run, entity, disposition};
	PGresult *res;

	if (!c->books || c->run == NULL)
		return true;
	res = pg_query(c->dst, "SELECT reason, count(*) FROM ferry.rejects WHERE run_id = $1 "
				   "AND entity = $2 AND disposition = $3 GROUP BY 1 ORDER BY 2 DESC, 1", 3, params);
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
	const char *params[2] = {c->run, entity};
	PGresult *res;

	array_start(&rejected->lit);
	array_start(&repaired->lit);
	rejected->n = repaired->n = 0;
	if (c->books && c->run)
	{
		/* a key both rejected and noted was rejected: the note came first */
		res = pg_query(c->dst, "SELECT legacy_id, bool_or(disposition = 'rejected') FROM ferry.rejects "
					   "WHERE run_id = $1 AND entity = $2 AND legacy_id IS NOT NULL GROUP BY 1 ORDER BY 1",
					   2, params);
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
