/*
 * forward.c: a load with foreign-key checks on cannot write forward
 * references that a foreign key covers (forward.h).
 */
#include <stdlib.h>

#include "forward.h"
#include "log.h"
#include "pgconn.h"

/* the foreign key of table covering column, malloc'ed; NULL: none; "" on error (logged) */
static char *
covering_fkey(PGconn *conn, const char *table, const char *column, bool *deferrable)
{
	static const char sql[] =
		"SELECT c.conname, c.condeferrable FROM pg_constraint c "
		"JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attname = $2 AND NOT a.attisdropped "
		"WHERE c.conrelid = to_regclass($1) AND c.contype = 'f' AND a.attnum = ANY (c.conkey) "
		"ORDER BY c.conname LIMIT 1";
	char *qualified = pg_qualified(table);
	const char *params[2] = {qualified, column};
	PGresult *res = pg_query(conn, sql, 2, params);
	char *name = NULL;

	free(qualified);
	if (res == NULL)
		return xstrdup("");
	if (PQntuples(res) == 1)
	{
		name = xstrdup(PQgetvalue(res, 0, 0));
		*deferrable = PQgetvalue(res, 0, 1)[0] == 't';
	}
	PQclear(res);
	return name;
}

bool
forward_loadable(PGconn *conn, const plan_entity *e, bool fk_checks_on)
{
	if (!fk_checks_on || e->target == NULL)
		return true;
	for (int i = 0; i < e->nrefs; i++)
	{
		const plan_ref *ref = &e->refs[i];
		bool deferrable = false;
		char *fkey;

		if (ref->kind != REF_FORWARD)
			continue;
		if ((fkey = covering_fkey(conn, e->target, ref->column, &deferrable)) == NULL)
			continue;
		if (fkey[0])
			log_error("target: entity \"%s\": forward %s %s cannot load with foreign-key checks on: "
					  "foreign key %s of %s would refuse every row (%s), as %s loads later, in "
					  "transactions of its own; load with session_replication_role = replica "
					  "(--triggers auto or replica, as a role that may set it)",
					  e->name, ref->column, ref->entity, fkey, e->target,
					  deferrable ? "DEFERRABLE: at each batch's commit" : "as each row arrives",
					  ref->entity);
		free(fkey);
		return false;
	}
	return true;
}
