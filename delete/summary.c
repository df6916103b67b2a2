/*
 * summary.c: the deletes of a run, for the run's summary (ferry-delete
 * --summary --run ID): one line an entity whose deletes did something or
 * whose policy is not the default, then each delete refused with its reason.
 */
#include <stdlib.h>

#include "delete.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"

int
deletes_summary(PGconn *dst, const char *run)
{
	const char *params[1] = {run};
	PGresult *res = pg_query(dst,
		"SELECT entity, deletes->>'policy', deletes->>'deleted', deletes->>'cascaded', deletes->>'set_null', "
		"       deletes->>'flagged', deletes->>'kept', deletes->>'refused' "
		"FROM ferry.entity_runs WHERE run_id = $1 AND deletes IS NOT NULL "
		"  AND (deletes->>'policy' <> 'delete' OR (SELECT sum(v::bigint) FROM "
		"       jsonb_each_text(deletes - 'policy' - 'by') e(k, v)) > 0) "
		"ORDER BY finished_at DESC, entity", 1, params);

	if (res == NULL)
		return FERRY_EXIT_TARGET;
	if (PQntuples(res) == 0)
		log_result("run %s: no row gone from the source", run);
	for (int i = 0; i < PQntuples(res); i++)
		log_result("run %s: %s: deletes %s: %s deleted, %s cascaded, %s set null, %s flagged, %s kept, "
				   "%s refused", run, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
				   PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
				   PQgetvalue(res, i, 6), PQgetvalue(res, i, 7));
	PQclear(res);
	res = pg_query(dst, "SELECT entity, coalesce(legacy_id, row_data::text), reason FROM ferry.deletes "
				   "WHERE run_id = $1 AND action = 'refused' ORDER BY id", 1, params);
	if (res == NULL)
		return FERRY_EXIT_TARGET;
	for (int i = 0; i < PQntuples(res); i++)
		log_result("run %s: %s: delete of key %s refused: %s", run, PQgetvalue(res, i, 0),
				   PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	PQclear(res);
	return FERRY_EXIT_OK;
}
