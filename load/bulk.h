/*
 * bulk.h: a bulk load of an empty destination table, as pg_restore and
 * pgcopydb do it: the indexes that only cost time while rows go in are
 * dropped at the start of the load and built again at its end.
 *
 * Crash-safe: their definitions are saved in ferry.bulk_indexes in the
 * same transaction that drops them, and whatever that table lists is
 * rebuilt by bulk_rebuild (at the end of the load, and by
 * "ferry-load --rebuild-indexes", which the driver calls on resume,
 * rollback and a failed run).
 *
 * What is dropped: the table's non-unique indexes, and the primary key
 * (or unique index) of its uuid column when a unique index on the legacy
 * key columns stays (the uuid is a function of the key: keys unique means
 * uuids unique) and no table with rows references it; foreign keys that
 * reference it go and come back with it.  What stays: every other unique
 * index and constraint (the load rejects the rows that break them, and
 * resume skips loaded rows by them), CHECK and NOT NULL constraints (a
 * row that breaks one is rejected alone, as in any load), and the table's
 * own foreign keys (not checked under session_replication_role = replica).
 */
#ifndef FERRY_BULK_H
#define FERRY_BULK_H

#include <stdbool.h>
#include <libpq-fe.h>

typedef struct bulk_target
{
	const char *table_sql;    /* quoted schema.table */
	const char *run;
	const char *entity;
	const char *uuid_column;  /* NULL: none */
	int nkey;                 /* legacy key columns loaded into the table (0: not all are) */
	const char *const *key;
} bulk_target;

/*
 * When the table is empty: save and drop what the load can do without.
 * *dropped: how many (0 when the table has rows or nothing to drop).
 * False on an error (logged).
 */
bool bulk_begin(PGconn *conn, const bulk_target *t, int *dropped);

/*
 * Rebuild what ferry.bulk_indexes lists for table_sql (NULL: every table),
 * indexes and keys first, then foreign keys, each in a transaction that
 * also deletes its row.  Returns an exit code (FERRY_EXIT_OK when nothing
 * is left).
 */
int bulk_rebuild(PGconn *conn, const char *table_sql);

#endif
