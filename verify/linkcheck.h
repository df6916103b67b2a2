/*
 * linkcheck.h: ferry-verify's check of a link entity (plan directive
 * "links FROMCOL TOCOL [cycle=note|reject]"): the cycles that the rows of
 * its destination table make (kits containing kits through kit_items).
 *
 * Every row whose two columns are set is an edge; the cycles are found by
 * lib/linkgraph.c and named by the legacy keys of the rows they go through
 * (ferry.id_map), else by the values the destination holds.  A cycle passes
 * under cycle=note (the plan loads cycles and notes them) and fails under
 * cycle=reject (none should have been loaded: one closed by rows of another
 * run, or written by the application, is found here).
 */
#ifndef FERRY_VERIFY_LINKCHECK_H
#define FERRY_VERIFY_LINKCHECK_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "plan.h"
#include "verify.h"

/*
 * Check entity e (which has links) in the destination, print one line on
 * stdout and add the check "links cycles" to r.  books: the destination has
 * ferry's schema (keys are named through ferry.id_map).  Returns
 * FERRY_EXIT_OK (r says whether it passed) or FERRY_EXIT_TARGET (logged).
 */
int verify_links(PGconn *dst, const plan_entity *e, bool books, vresult *r);

#endif
