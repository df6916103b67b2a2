/*
 * load.h: write a stream into a destination table, batch by batch.
 *
 * Each batch is one transaction: the rows (COPY), their id mappings, the
 * batch's rejects, and the checkpoint that says how far the stream has
 * been loaded.  A batch the destination refuses is split and retried so
 * that the bad rows are set aside alone, with PostgreSQL's reason, and the
 * good rows of the batch still land.
 */
#ifndef FERRY_LOAD_H
#define FERRY_LOAD_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "stream.h"

typedef enum load_mode
{
	LOAD_INSERT,      /* plain COPY into the table */
	LOAD_UPSERT,      /* insert or update by the conflict columns (incremental) */
	LOAD_SKIP,        /* insert what is not there yet (resume without a spool) */
	LOAD_UPDATE       /* update existing rows by uuid (the fix-up of deferred columns) */
} load_mode;

typedef struct load_spec
{
	const char *target;       /* schema.table */
	const char *entity;       /* for the id map, rejects and checkpoints; NULL: none kept */
	const char *run;          /* run id; NULL: no bookkeeping in the ferry schema */
	const char *phase;        /* "load" or "fixup" */
	load_mode mode;
	int nconflict;
	char **conflict;          /* upsert/skip: unique columns (default: the stream's key) */
	int min_batch;            /* rows */
	int max_batch;
	size_t max_batch_bytes;
	int target_ms;            /* batch latency the sizing aims at */
	bool resume;              /* skip the records the checkpoint says are loaded */
	bool id_map;              /* record legacy id -> uuid in ferry.id_map */
	bool bookkeeping;         /* ferry schema present: checkpoints and rejects tables */
	const char *rejects_file; /* JSON lines of rejects, appended after each commit */
	bool reset_sequences;
	int64_t expected;         /* rows the stream should bring (progress ETA); -1: unknown */
	/*
	 * Repairs: when the destination refuses a value of one of these columns
	 * (it does not parse, or breaks NOT NULL), load the row with VALUE there
	 * instead (COPY text, "\\N" for NULL) and record a note with the row's
	 * original values; other refusals still reject the row.
	 */
	int nrepair;
	char **repair_cols;
	char **repair_vals;
	/*
	 * A tree (plan directive "tree"): the stream's parent column.  A row
	 * whose parent this load rejected is rejected too, as
	 * under_rejected_parent, so that no row is left pointing at a parent
	 * that is not there (with FK checks off, COPY would take it).
	 */
	const char *parent_column;
	/*
	 * Bulk load (bulk.h): when the table is empty at the start of an insert
	 * load, drop the indexes it can do without and build them at the end.
	 * Only with the books (ferry.bulk_indexes) and foreign-key checks off.
	 */
	bool bulk;
} load_spec;

typedef struct load_stats
{
	uint64_t records;         /* input records consumed (including skipped ones) */
	uint64_t skipped;         /* records skipped on resume */
	uint64_t loaded;
	uint64_t rejected;        /* by this load */
	uint64_t passed_rejects;  /* rejects that came in the stream */
	uint64_t notes;
	uint64_t batches;
	uint64_t splits;          /* retries to isolate bad rows */
} load_stats;

int load_stream(PGconn *conn, const load_spec *spec, ferry_reader *r, load_stats *stats);

#endif
