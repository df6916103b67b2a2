/*
 * extract.h: stream rows out of the source with COPY.
 */
#ifndef FERRY_EXTRACT_H
#define FERRY_EXTRACT_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "buf.h"
#include "stream.h"

typedef struct extract_spec
{
	const char *query;        /* the base query (SELECT ...), required */
	const char *where;        /* extra condition over the query's columns (alias q) */
	int nkey;
	char **key;               /* key columns: ORDER BY and --after-key */
	bool order_by_key;
	const char *after_key;    /* only rows with key > this (single-column keys) */
	const char *incremental;  /* expression over q telling when a row changed */
	const char *since;        /* with incremental: changed at or after this */
	const char *max_key;      /* with incremental: also rows with key > this */
	const char *tree_parent;  /* a tree's parent column: an incremental read adds the
							   * changed rows' ancestors and descendants */
	const char *tree_keys;    /* those rows' keys, a bigint[] literal (treeread.c), or NULL
							   * for a recursive query on the source */
	long long limit;          /* -1: no limit */
	long long expected;       /* row estimate for progress, -1 if unknown */
} extract_spec;

/*
 * Run the COPY and write header, rows and trailer through w.  The caller
 * has begun the transaction (and set its snapshot).  header holds what is
 * known besides the columns (entity, run, keyspace ...); the columns are
 * added here from the query's result description.  Returns the exit code
 * (FERRY_EXIT_OK on success); errors are logged.
 */
int extract_run(PGconn *conn, const extract_spec *spec, ferry_header *header,
				ferry_writer *w, long long *rows);

/* encoding.c: an error of a text the client encoding (UTF8) cannot take */
bool extract_is_encoding_error(const PGresult *res);
/*
 * Log that error in one line: the entity or table, the first such row's
 * key and columns where a query can find them (in_savepoint: the COPY ran
 * under SAVEPOINT ferry_extract, which is rolled back to for it; else
 * rows_before + 1 numbers the row), and what to do.
 */
void extract_report_encoding(PGconn *conn, const extract_spec *spec, const ferry_header *h,
							 bool in_savepoint, long long rows_before, const char *server_msg);

/* the full SELECT statement extract_run would COPY */
char *extract_sql(const extract_spec *spec);
/* the incremental condition (changed since, unknown, new key) over alias q */
void extract_append_changed(buf *b, const extract_spec *spec);

#endif
