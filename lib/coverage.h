/*
 * coverage.h: does a plan still fit the live databases?  (preflight:
 * "ferry-plan check FILE --source --target" and the start of "ferry run";
 * the same findings in "ferry verify").
 *
 * Per migrated entity: its extract query is prepared on the source (no
 * row is read), its output columns are compared with the destination
 * table's columns and types, and the coverage rules of man/ferry-plan.5
 * are checked against both catalogs: every column of the entity's source
 * and merges tables is named by the query or listed "unused"; every
 * destination column is fed, computed (uuid, depth), generated or listed
 * "default".  For the plan: every table of its "sources" schemas is an
 * entity's source or merge, and every table it names exists.  A "forward"
 * reference needs a DEFERRABLE foreign key or a target role that may turn
 * foreign-key checks off (session_replication_role).
 *
 * Each problem is a finding: the entity, the plan line, the table and
 * column concerned, and one line saying what is wrong and what to do.
 */
#ifndef FERRY_COVERAGE_H
#define FERRY_COVERAGE_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "buf.h"
#include "catalog.h"
#include "plan.h"

typedef enum cov_kind
{
	COV_QUERY,           /* the extract query does not prepare on the source */
	COV_OUTPUT,          /* an output column the destination table lacks */
	COV_TYPE,            /* an output whose values can never load into its column */
	COV_NOT_OUTPUT,      /* a key/ref/tree/poly/drop column the query does not output */
	COV_SOURCE_UNREAD,   /* a source column neither read by the query nor "unused" */
	COV_TARGET_UNFED,    /* a destination column neither fed, computed, generated nor "default" */
	COV_TABLE_UNLISTED,  /* a table of the "sources" schemas that no entity names */
	COV_TABLE_MISSING,   /* a table (or schema) the plan names that does not exist */
	COV_FORWARD          /* a "forward" reference whose foreign key cannot wait */
} cov_kind;

typedef struct cov_finding
{
	cov_kind kind;
	const plan_entity *e;    /* NULL: the plan as a whole */
	int line;                /* plan line, 0 when none */
	char *table;             /* schema.table concerned, NULL if none */
	char *column;            /* column concerned, NULL if none */
	char *text;              /* what is wrong, then what to do (one line) */
} cov_finding;

typedef struct cov_findings
{
	int n;
	cov_finding *v;
} cov_findings;

/* what to look at, and with what */
typedef struct cov_sides
{
	const catalog *scat;     /* source catalog (catalog_read) */
	const catalog *tcat;     /* destination catalog */
	PGconn *src;             /* the queries are prepared here (in a read-only
							  * transaction, or a savepoint of the caller's) */
	PGconn *dst;             /* forward refs: may FK checks be turned off? NULL: not asked */
} cov_sides;

/*
 * Every migrated entity, then the plan's tables.  Findings are appended
 * to out.  False on a database error that is not the plan's (a lost
 * connection; logged).
 */
bool coverage_plan(const plan *p, const cov_sides *s, cov_findings *out);
/* one entity's findings (query, outputs, types, columns, forward refs) */
bool coverage_entity(const plan *p, const plan_entity *e, const cov_sides *s, cov_findings *out);
/* "FILE:LINE: entity "E": TEXT" of a finding, appended to out (no newline) */
void coverage_line(buf *out, const char *path, const cov_finding *f);
void coverage_free(cov_findings *fs);

/*
 * Do two column names say the same thing?  Words split on "_" and case,
 * "of/the/a..." dropped, plurals and common abbreviations (no, num, qty,
 * amt, desc, addr, dob ...) read as the word: birth_date ~ date_of_birth,
 * tracking_no ~ tracking_number.  Equal names are similar.
 */
bool coverage_names_similar(const char *a, const char *b);

#endif
