/*
 * legacykey.h: the text of a legacy key, as ferry.id_map.legacy_id and
 * ferry.rejects.legacy_id hold it, the one spelling every program shares
 * (transform keys UUIDs and references by it, load records it, verify
 * and the books find rows by it).
 *
 * A key of one column is its value's text.  A composite key is its parts'
 * texts joined with ",", each part's "," and "\" escaped with "\".
 */
#ifndef FERRY_LEGACYKEY_H
#define FERRY_LEGACYKEY_H

#include <stddef.h>

#include "buf.h"

/* part PART (from 0) of a key of NPARTS parts, its text S of N bytes */
void legacy_key_append(buf *out, int part, int nparts, const char *s, size_t n);

/*
 * The same in SQL: the expression of part PART of NPARTS (its leading
 * "|| ',' ||" included), from TEXT_EXPR, an SQL expression of its text
 */
void legacy_key_append_sql(buf *sql, int part, int nparts, const char *text_expr);

#endif
