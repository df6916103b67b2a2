/*
 * stream.h: the ferry record stream (see man/ferry-stream.5).
 *
 * A stream is a sequence of msgpack objects:
 *   header    map  {"ferry":"stream","version":2,"entity":..,"run":..,
 *                   "source":..,"columns":[[name,type],..], optional
 *                   "keyspace","key":[cols],"uuid":col,"order":"key"|"tree"|"none",
 *                   "skip":[cols]: columns carried for the stages, not loaded}
 *   chunk 0   map  {"chunk":0,"records":0,"bytes":B,"xxh3":u64}: the header's check
 *   then chunks: 1 to FERRY_CHUNK_RECORDS records, each closed by
 *             map  {"chunk":N,"records":n,"bytes":B,"xxh3":u64}
 *             (XXH3-64 of the chunk's record bytes), where a record is
 *   row       array of one value per column
 *   reject    map  {"reject":reason,"detail":..,"stage":..,"key":..,"row":[..]}
 *             a row set aside (never loaded), with why
 *   note      map  {"note":reason,"detail":..,"stage":..,"key":..}
 *             an anomaly about a row that is loaded as a documented policy says
 *   trailer   map  {"end":true,"rows":N,"rejects":N,"notes":N,"chunks":C,"xxh3":u64}
 *             (XXH3-64 of every byte before it)
 * The reader hands out a record only once its whole chunk is read and its
 * checksum verified, so a consumer never acts on a corrupt record: a load
 * that commits as it reads commits only verified rows.  A reader that
 * reaches end of input before a valid trailer, or finds bytes after it,
 * fails: a truncated stream is never taken as whole.
 */
#ifndef FERRY_STREAM_H
#define FERRY_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "value.h"

#define FERRY_STREAM_FORMAT "stream"
#define FERRY_STREAM_VERSION 2

/*
 * A writer closes a chunk at FERRY_CHUNK_RECORDS records, and before a
 * record that would take it past FERRY_CHUNK_BYTES (a larger record makes
 * a chunk of its own), so that a reader holds at most one chunk (about
 * 1 MB) and a load batch (500 rows at least) never waits long for one.  A
 * record is at most FERRY_RECORD_MAX bytes: a length claiming more is
 * corrupt, refused before the reader buffers it.
 */
#define FERRY_CHUNK_RECORDS 500
#define FERRY_CHUNK_BYTES (1 << 20)
#define FERRY_RECORD_MAX (64 << 20)

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
/* smaller chunks than the format's bounds (tests); 0 keeps a bound */
void writer_chunk_limits(ferry_writer *w, int records, size_t bytes);
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

/*
 * Reads and checks the header (and its chunk-0 check); NULL on error
 * (logged).  An input that can be read again (a regular file: a spool
 * file) is first read through to its trailer, every chunk verified, and
 * rewound: a damaged file is refused here, before any record is handed
 * out.  A pipe is verified chunk by chunk as it is read.
 */
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
 * 1: a record in *rec (valid until the next call), from a chunk whose
 *    checksum has been verified
 * 0: the end, trailer read and verified (counts and checksum)
 * -1: bad stream (logged in one line naming the input, the chunk and the
 *    byte where it starts: truncated, garbage, checksum mismatch ...);
 *    every later call returns -1 too
 */
int reader_next(ferry_reader *r, ferry_record *rec);
uint64_t reader_rows(const ferry_reader *r);
uint64_t reader_rejects(const ferry_reader *r);
uint64_t reader_notes(const ferry_reader *r);
uint64_t reader_chunks(const ferry_reader *r);    /* chunks of records verified */
void reader_free(ferry_reader *r);    /* does not close the input */

#endif
