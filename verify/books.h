/*
 * books.h: the run's books in the destination's ferry schema (books.c).
 */
#ifndef FERRY_VERIFY_BOOKS_H
#define FERRY_VERIFY_BOOKS_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "buf.h"
#include "verify.h"

/* a set of legacy keys as an array literal, for = ANY($n) */
typedef struct keyset_lit
{
	buf lit;
	long long n;
} keyset_lit;

/* does the destination have ferry's schema (runs, rejects, id map)? false on error */
bool books_present(PGconn *dst, bool *present);
/* the latest run, done ones first (malloc'ed), NULL if none */
char *books_last_run(PGconn *dst);
/*
 * pg_temp.ferry_verify_books: the records of ferry.rejects that hold for
 * c->run (with the runs since the full run an incremental run builds on;
 * a later record of a key supersedes an earlier one).  Every other
 * function here and expect.c read it.
 */
bool books_view(vctx *c);
/* rows of the run's ferry.rejects for entity with that disposition, by reason */
bool books_by_reason(vctx *c, const char *entity, const char *disposition, vcounts *out);
/*
 * The keys the run rejected, and the keys it repaired or noted (and did
 * not reject), as array literals (buffers initialised by the caller).
 * numeric: only integer keys are kept (a bigint[] parameter).
 */
bool books_keys(vctx *c, const char *entity, bool numeric, keyset_lit *rejected,
				keyset_lit *repaired);

#endif
