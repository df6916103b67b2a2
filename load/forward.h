/*
 * forward.h: may a load write an entity's forward references (plan
 * directive "forward", ferry-plan(5))?
 *
 * A forward column holds the UUID of a row of an entity that loads after
 * this one, in transactions of its own.  With session_replication_role =
 * replica the destination does not check foreign keys as rows arrive, and
 * the reference holds once the other entity is loaded (ferry-verify checks
 * it).  With foreign-key checks on, a foreign key on the column refuses
 * every row: at once, or at each batch's commit when it is DEFERRABLE,
 * since the row it names is not there yet.  ferry loads one entity at a
 * time, so such a load is refused before it writes anything.
 */
#ifndef FERRY_FORWARD_H
#define FERRY_FORWARD_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "plan.h"

/* false (the reason logged in one line) when a forward column of e has a foreign key the load would trip */
bool forward_loadable(PGconn *conn, const plan_entity *e, bool fk_checks_on);

#endif
