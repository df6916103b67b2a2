/*
 * sourcekeys.h: the legacy keys an entity has in the SOURCE, for forward
 * references (plan directive "forward", ferry-plan(5)).
 *
 * A forward reference points at a row of an entity that loads after this
 * one, so the destination cannot say yet whether that row will be there;
 * the source can.  Its keys are what the entity's extract query returns
 * (less the rows the query itself rejects with _ferry_reject), read in
 * the run's exported snapshot: the same rows its own extract reads.
 */
#ifndef FERRY_SOURCEKEYS_H
#define FERRY_SOURCEKEYS_H

#include <libpq-fe.h>

#include "plan.h"

/*
 * Connect to the source (conninfo "" or NULL: the PG* environment) and
 * open a read-only repeatable-read transaction, in the exported snapshot
 * when one is given.  NULL on error (logged in one line).
 */
PGconn *source_open(const char *conninfo, const char *snapshot);

/* SQL returning entity e's legacy keys as text, one a row (malloc'ed); NULL on error (logged) */
char *source_keys_sql(PGconn *conn, const plan_entity *e);

#endif
