/*
 * counts.h: counts mode (counts.c).
 */
#ifndef FERRY_VERIFY_COUNTS_H
#define FERRY_VERIFY_COUNTS_H

#include <libpq-fe.h>

/*
 * Print "TABLE: source N, destination N, rejected N: ok" (or "rows
 * missing", "rows extra"); rejected: ferry.rejects of (run, entity) when
 * both are given.  Returns FERRY_EXIT_OK, FERRY_EXIT_VERIFY, or
 * FERRY_EXIT_SOURCE / FERRY_EXIT_TARGET on a database error (logged).
 */
int verify_counts(PGconn *src, PGconn *dst, const char *source_table, const char *target_table,
				  const char *run, const char *entity);

#endif
