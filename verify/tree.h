/*
 * tree.h: ferry-verify's checks of a tree entity (plan directive "tree",
 * usually with a "poly" generic relation: comments), on the destination
 * and against the source.
 *
 *   parents   every parent_id names a row of the table
 *   depth     roots at depth 0, every other row at its parent's depth + 1
 *   cycles    no row is unreachable from a root (implied by a consistent
 *             depth; walked with a recursive query when there is no depth)
 *   entities  every (entity_type, entity_id) names an existing row of the
 *             entity's table
 *   per entity, per thread: the rows the destination has equal the source's
 *             rows less those set aside as rejected (ferry.rejects, any run,
 *             and not in the destination since); a thread
 *             is counted under its root, and a source row whose parent is
 *             rejected or missing starts its own thread, as the transform
 *             makes it
 * See ferry-tree(7).
 */
#ifndef FERRY_VERIFY_TREE_H
#define FERRY_VERIFY_TREE_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "plan.h"

/*
 * Run the checks of entity e (which has a tree) and print one line per
 * check on stdout.  run: the run being verified (events; the counts take
 * the rejects of every run, see above).
 * Returns FERRY_EXIT_OK, FERRY_EXIT_VERIFY (a check failed), or
 * FERRY_EXIT_SOURCE / FERRY_EXIT_TARGET on a database error (logged).
 */
int verify_tree(PGconn *src, PGconn *dst, const plan *p, const plan_entity *e, const char *run);

/*
 * When set, fn is told each check's result as it is printed (ferry-verify
 * puts them in its JSON report): the check's name, whether it passed, and
 * the words after "ok"/"FAILED".
 */
typedef void (*verify_tree_fn) (void *ctx, const char *check, bool ok, const char *detail);
void verify_tree_on_result(verify_tree_fn fn, void *ctx);

#endif
