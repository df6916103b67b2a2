/*
 * treeread.h: which rows an incremental read of a tree takes.
 *
 * The changed rows, their ancestors (so that a cycle or a missing parent
 * is judged as in a full read) and their descendants (whose depth follows
 * a moved parent).  The closure is computed here from the (key, parent)
 * pairs of the whole table, read narrow, rather than by a recursive query
 * over the extract query, which has no index and costs a scan of the whole
 * query a level.
 */
#ifndef FERRY_TREEREAD_H
#define FERRY_TREEREAD_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "buf.h"
#include "extract.h"

/*
 * In the caller's transaction: the keys to read, as a bigint[] literal
 * into keys.  1: done; 0: the keys are not integers (the caller falls back
 * to the recursive query); -1: error (logged).
 */
int tree_read_keys(PGconn *conn, const extract_spec *spec, buf *keys, long long *count);

#endif
