/*
 * stream.h: the ferry record stream (see man/ferry-stream.5).
 *
 * A stream is a sequence of msgpack objects:
 *   header    map  {"ferry":"stream","version":1,"entity":..,"run":..,
 *                   "source":..,"columns":[[name,type],..], optional
 *                   "keyspace","key":[cols],"uuid":col,"order":"key"|"tree"|"none",
 *                   "skip":[cols]: columns carried for the stages, not loaded}
 *   row       array of one value per column
 *   reject    map  {"reject":reason,"detail":..,"stage":..,"key":..,"row":[..]}
 *             a row set aside (never loaded), with why
 *   note      map  {"note":reason,"detail":..,"stage":..,"key":..}
 *             an anomaly about a row that is loaded as a documented policy says
 *   trailer   map  {"end":true,"rows":N,"rejects":N,"notes":N,"xxh3":u64}
 * The checksum (XXH3-64) covers the bytes of every record between header
 * and trailer.  A reader that reaches end of input before a valid trailer,
 * or finds bytes after it, fails: a truncated stream is never taken as whole.
 */
#ifndef FERRY_STREAM_H
#define FERRY_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "value.h"

#define FERRY_STREAM_FORMAT "stream"
#define FERRY_STREAM_VERSION 1

typedef struct ferry_column
{
	char *name;
	char *type;          /* PostgreSQL type name, as format_type() prints it */
	ferry_kind kind;     /* derived from type */
} ferry_column;

typedef struct ferry_header
{
	char *entity;        /* entity name (may be NULL) */
	char *run;           /* run id (may be NULL) */
	char *source;        /* where the rows came from, e.g. "public.dispatch_office" */
	char *keyspace;      /* legacy key space for UUIDs (may be NULL) */
	char *uuid_column;   /* column holding the row's UUID (may be NULL) */
	char *order;         /* "key", "tree" or NULL: the order rows come in */
	int nkey;
	char **key;          /* columns holding the legacy key */
	int nskip;
	char **skip;         /* columns the load does not write (e.g. a key the target lacks) */
	int ncols;
	ferry_column *cols;
} ferry_header;

void header_init(ferry_header *h);
void header_free(ferry_header *h);
void header_copy(ferry_header *dst, const ferry_header *src);
/* append a column; returns its index */
int header_add_column(ferry_header *h, const char *name, const char *type);
/* index of a column by name, -1 if none */
int header_find(const ferry_header *h, const char *name);
void header_set_key(ferry_header *h, int nkey, char **key);
void header_add_skip(ferry_header *h, const char *name);
bool header_is_skip(const ferry_header *h, const char *name);

/* ---- writing ---- */

typedef struct ferry_writer ferry_writer;

ferry_writer *writer_new(ferry_output *out);
bool writer_header(ferry_writer *w, const ferry_header *h);
bool writer_row(ferry_writer *w, const ferry_value *vals, int n);
/* key may be NULL; row may be NULL (n = 0) */
bool writer_reject(ferry_writer *w, const char *reason, const char *detail,
				   const char *stage, const char *key,
				   const ferry_value *row, int n);
bool writer_note(ferry_writer *w, const char *reason, const char *detail,
				 const char *stage, const char *key);
/* writes the trailer and flushes; the caller then commits the output */
bool writer_end(ferry_writer *w);
uint64_t writer_rows(const ferry_writer *w);
uint64_t writer_rejects(const ferry_writer *w);
uint64_t writer_notes(const ferry_writer *w);
/* frees the writer, not the output */
void writer_free(ferry_writer *w);

/* ---- reading ---- */

typedef enum ferry_rtype
{
	FR_ROW,
	FR_REJECT,
	FR_NOTE
} ferry_rtype;

typedef struct ferry_record
{
	ferry_rtype type;
	int nvals;
	ferry_value *vals;      /* row values (FR_ROW, and FR_REJECT's row) */
	/* FR_REJECT and FR_NOTE (NUL-terminated copies, valid until next read) */
	const char *reason;
	const char *detail;
	const char *stage;
	const char *key;
} ferry_record;

typedef struct ferry_reader ferry_reader;

/* reads and checks the header; NULL on error (logged) */
ferry_reader *reader_open(ferry_input *in);
const ferry_header *reader_header(const ferry_reader *r);
/*
 * The stream is of this entity and run (NULL: either not checked; a header
 * without one is not checked either): else logs "INPUT: the stream holds
 * entity .. of run .., not entity .. of run .." and returns false.  A spool
 * file of another entity or run is never taken for this one's.
 */
bool reader_expect(const ferry_reader *r, const char *entity, const char *run);
/*
 * 1: a record in *rec (valid until the next call)
 * 0: the end, trailer read and verified (count and checksum)
 * -1: bad stream (logged: truncated, garbage, checksum mismatch ...)
 */
int reader_next(ferry_reader *r, ferry_record *rec);
uint64_t reader_rows(const ferry_reader *r);
uint64_t reader_rejects(const ferry_reader *r);
uint64_t reader_notes(const ferry_reader *r);
void reader_free(ferry_reader *r);    /* does not close the input */

#endif
