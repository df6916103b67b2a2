/*
 * delete.h: what ferry-delete's parts share (see man/ferry-delete.1).
 *
 * For one entity of an incremental run, ferry-delete finds the rows the
 * destination holds from earlier runs whose legacy key the source no
 * longer has, and applies the plan's "deletes" policy to them:
 *
 *   keyset.c   the source's keys as a sorted array of 8-byte values (pure)
 *   gone.c     the source's keys read, the destination's streamed against
 *              them: the keys gone, into a temporary table of the destination
 *   apply.c    the policy, batch by batch: the rows saved first (and the
 *              rows the destination's own rules reach: ON DELETE CASCADE,
 *              SET NULL), then deleted with foreign keys and triggers on;
 *              a row the destination refuses is recorded with its reason
 *   freeze.c   the cutover's guard: no session writes to the source tables
 *   summary.c  a run's deletes, for its summary
 *
 * Everything is recorded in ferry.deletes (scripts/sql/ferry-schema.sql),
 * in the transaction of each batch: a killed step is run again and finds
 * what is left to do (the destination is its own checkpoint).
 */
#ifndef FERRY_DELETE_H
#define FERRY_DELETE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <libpq-fe.h>

#include "buf.h"
#include "plan.h"

/* ---- keyset.c: a set of 8-byte key values, sorted ---- */

typedef struct keyset
{
	int64_t *v;
	size_t n;
	size_t cap;
	bool sorted;
} keyset;

void keyset_init(keyset *s);
void keyset_free(keyset *s);
void keyset_add(keyset *s, int64_t v);
/* sorts (once) before the first lookup */
bool keyset_has(keyset *s, int64_t v);

/*
 * The 8-byte value of a legacy key text (as ferry.id_map holds it: parts of
 * a composite key joined by ",", "," and "\" escaped by "\"): the number
 * itself for a canonical integer ("42", "-7"; not "007"), else the key's
 * XXH3-64 hash.  Two keys with the same value are taken for the same key:
 * a hash collision can only keep a row that should go, never delete one.
 */
int64_t key_value(const char *key, size_t len);
/* the value of a UUID: its first 8 bytes */
int64_t uuid_value(const uint8_t u[16]);

/*
 * One line of COPY text output (no trailing newline) to the legacy key
 * text of its ncols columns, into out; false when a column is NULL.
 */
bool copy_line_key(const char *line, size_t len, int ncols, buf *out);

/* ---- the entity ---- */

typedef enum key_mode
{
	MODE_KEY,     /* the destination has the key columns: keys compared */
	MODE_UUID     /* it has not (drop): the uuid column compared with
				   * UUIDv5(keyspace, key), ferry's rows told by version 5 */
} key_mode;

typedef struct dspec
{
	const plan *p;
	const plan_entity *e;
	const char *run;
	const char *snapshot;     /* the run's exported snapshot, or NULL */
	const char *source;       /* conninfo */
	const char *target;
	long batch;               /* rows a transaction */
	const char *hold_lock;    /* tests: wait for this advisory lock before each batch */
} dspec;

typedef struct dentity
{
	key_mode mode;
	char *target_sql;         /* the destination table, quoted */
	char *target_name;        /* as ferry.deletes names it: schema.table, quoted parts */
	int nkey;
	char **key;               /* MODE_KEY: destination key columns; MODE_UUID: the uuid column */
	char *flag_sql;           /* flag: the column, quoted */
	int64_t gone;             /* keys gone, in ferry_gone (n = 1..gone) */
} dentity;

/* counts of one attempt and of the run, for the books and the summary */
typedef struct dcounts
{
	int64_t deleted;          /* rows of the entity deleted */
	int64_t cascaded;         /* rows of other tables (or the entity's own) deleted by
							   * the destination's ON DELETE CASCADE */
	int64_t set_null;         /* rows whose reference the destination set NULL or default */
	int64_t flagged;
	int64_t kept;
	int64_t refused;          /* deletes the destination refused (recorded with the reason) */
	int64_t batches;
} dcounts;

/* gone.c: the keys gone into the destination's temporary table ferry_gone */
int gone_find(PGconn *src, PGconn *dst, const dspec *s, dentity *d);

/* apply.c: the policy on ferry_gone, then the books; an exit code */
int apply_policy(PGconn *dst, const dspec *s, dentity *d, dcounts *c);

/* summary.c: --summary (the run's deletes, for its summary) */
int deletes_summary(PGconn *dst, const char *run);

/* freeze.c: --freeze FILE (ferry-delete(1), CUTOVER) */
int freeze_source(PGconn *src, const plan *p, const char *ready_file, int lock_timeout_s,
				  bool check_only);

#endif
