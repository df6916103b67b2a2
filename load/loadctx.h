/*
 * loadctx.h: the state of one load, shared by the files of load/ (not a
 * public interface: load.h is).
 *
 *   load.c     the load of a stream: setup, batches committed, the end
 *   rows.c     the batch being built, its rejects and notes
 *   isolate.c  the batch into the table; bad rows isolated; trees
 *   repair.c   the precheck of a row, the repairs of refused values
 *   books.c    id map, rejects, checkpoint, step lock, sequences
 *   bulk.c     the bulk load of an empty table (bulk.h)
 */
#ifndef FERRY_LOADCTX_H
#define FERRY_LOADCTX_H

#include "buf.h"
#include "load.h"
#include "uuidset.h"
#include "value.h"

typedef struct load_ctx
{
	PGconn *conn;
	const load_spec *spec;
	const ferry_header *h;
	load_stats *stats;
	int nload;                /* columns written to the table */
	int *load_idx;            /* their indexes in the stream */
	ferry_kind *load_kinds;
	int uuid_idx;             /* -1 if none */
	int *key_idx;
	int nkey;
	char *columns_sql;        /* "(c1, c2, ...)" quoted */
	char *columns_list;       /* "c1, c2, ..." */
	char *target_sql;         /* quoted schema.table */
	bool staged;              /* modes that COPY into a temporary stage first */

	/* the batch being built */
	buf copy;                 /* COPY TEXT lines of its rows */
	size_t *line_off;         /* start of each line; line_off[n] = copy.len */
	int nrows;
	int cap;
	bool *loaded;             /* per row: landed */
	buf keys;                 /* per row: legacy key text, NUL-terminated */
	size_t *key_off;
	buf uuids;                /* per row: 36 characters */
	buf rej_copy;             /* COPY TEXT lines for ferry.rejects */
	buf rej_json;             /* JSON lines for the rejects file */
	uint64_t batch_records;   /* records this batch consumes */
	uint64_t batch_rejected;  /* rejects and notes this batch records */
	int batch_size;           /* current target rows per batch */

	buf sql;                  /* scratch */
	buf scratch;
	buf detail;               /* the precheck's verdict on a row */
	buf err;
	ferry_value *vals;
	char *fatal;              /* set when a target error must stop the load */

	bool idmap_upsert;        /* id map inserts with ON CONFLICT (mappings may exist) */

	/* a tree: rows whose parent is rejected are rejected too */
	int parent_idx;           /* the parent column, -1 if not a tree */
	uuidset *gone;            /* uuids of the rows this load rejected */
	buf parents;              /* per row of the batch: parent uuid, 36 characters */

	/* what the load checks itself before sending a row (per loaded column) */
	bool *notnull;            /* NOT NULL (a default does not apply to an explicit NULL) */
	bool *is_json;            /* json or jsonb */
	ferry_value *repair_fv;   /* per spec repair: its value */
	ferry_value *fixed;       /* a row with repaired values, in stream layout */
} load_ctx;

/* rows.c */
void batch_reset(load_ctx *c);
void append_key(load_ctx *c, const ferry_value *vals, buf *out);
void add_row(load_ctx *c, const ferry_value *vals);
void row_json(load_ctx *c, const ferry_value *vals, int n, const int *idx, buf *out);
void reject_event(const char *key, const char *reason);
void add_reject(load_ctx *c, const char *stage, const char *reason, const char *detail, const char *key, const char *disposition, const buf *json_row);
void row_json_of(load_ctx *c, int row, buf *json);
void reject_row(load_ctx *c, int row, const char *reason, const char *detail);

/* isolate.c */
bool row_error(const PGresult *res);
bool exec_ok(load_ctx *c, const char *sql);
PGresult *put_data(load_ctx *c, const char *data, size_t len);
PGresult *put_rows(load_ctx *c, int lo, int hi);
bool parent_gone(load_ctx *c, const ferry_value *vals);
void reject_below_gone(load_ctx *c, const ferry_value *vals, int nvals);
bool settle_subtrees(load_ctx *c);
bool load_range(load_ctx *c, int lo, int hi);

/* repair.c */
bool settle_row(load_ctx *c, int row, const PGresult *first, const char *reason, const char *msg);
const ferry_value *precheck_row(load_ctx *c, const ferry_value *vals);
bool check_columns(load_ctx *c);

/* books.c */
bool record_id_map(load_ctx *c);
bool record_rejects(load_ctx *c);
bool record_checkpoint(load_ctx *c, bool complete);
void append_rejects_file(load_ctx *c);
bool lock_step(load_ctx *c);
bool read_checkpoint(load_ctx *c, uint64_t *records, bool *complete);
void reset_sequences(load_ctx *c);

#endif
