/*
 * watch.h: the source tables an entity's extract reads that its
 * incremental expression does not watch.
 *
 * An incremental run reads the rows whose change time (the plan's
 * "incremental" expression over the extract query, alias q) moved, and
 * the new keys.  A row of the entity whose values come from another table
 * (a join, a subquery: profiles.legacy_patient_id from dispatch_patient)
 * changes when that table changes, yet its change time stands still: such
 * an entity is read whole by an incremental run (ferry(1)), unless the
 * plan says "unwatched TABLE" (the DBA knows changes there come with a
 * change of a watched row, or never happen).
 *
 * The tables read are those of the plan of EXPLAIN (VERBOSE, FORMAT JSON)
 * of the extract query (subqueries and joins too; views are seen as their
 * tables).  The tables watched are those whose columns the expression
 * reads: the top output of EXPLAIN VERBOSE of SELECT (EXPR) FROM (query)
 * AS q, where the planner has flattened q into its tables' aliases (and
 * a scalar subquery the expression reads is a SubPlan: its tables are
 * watched).  An expression that cannot be traced to a table (q not
 * flattened: DISTINCT, GROUP BY, UNION) watches nothing, so every table
 * read is named: unsound is never the guess.  "incremental keys"
 * (append-only): the entity's source table is watched (its new keys).
 * Tables read through a function's body are not seen.
 */
#ifndef FERRY_WATCH_H
#define FERRY_WATCH_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "buf.h"
#include "plan.h"

/*
 * The tables (schema.table, ", "-separated, sorted) that E's extract
 * reads and its incremental expression does not watch, less the plan's
 * "unwatched" ones, appended to out; nothing for an entity without an
 * incremental expression or an extract query.  False, with the source's
 * message in err, when the source cannot plan the queries (nothing logged:
 * the caller says it, or not).
 */
bool watch_unwatched(PGconn *src, const plan_entity *e, buf *out, buf *err);

/*
 * Does TEXT (an expression as EXPLAIN VERBOSE prints it) qualify a column
 * with NAME ("s.updated_at", "\"My T\".x")?  String literals are skipped.
 */
bool watch_qualifies(const char *text, const char *name);

/*
 * Does TEXT refer to the subplan NAME ("SubPlan 2"; "InitPlan 1 (returns
 * $0,$1)": one of its parameters, or "InitPlan 1" itself)?
 */
bool watch_mentions_subplan(const char *text, const char *name);

#endif
