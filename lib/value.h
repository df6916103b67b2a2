/*
 * value.h: one value of a record, and how PostgreSQL types map onto it.
 *
 * A value keeps its PostgreSQL meaning exactly (see ferry-stream(5)):
 *   NULL                      nil
 *   boolean                   bool
 *   smallint/integer/bigint   int (also oid)
 *   real                      float32
 *   double precision          float64
 *   bytea                     bin (the raw bytes)
 *   everything else           str: PostgreSQL's own text output under the
 *                             session settings of ferry_pg_session_setup():
 *                             numeric, text, json, dates and times
 *                             (DateStyle ISO, TimeZone UTC, infinity, BC),
 *                             uuid, arrays, intervals, ...
 * String and binary values point into a buffer owned by whoever produced
 * the value (the stream reader, the COPY parser); they stay valid until
 * that producer's next call.
 */
#ifndef FERRY_VALUE_H
#define FERRY_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum ferry_vtype
{
	FV_NULL = 0,
	FV_BOOL,
	FV_INT,
	FV_FLOAT32,
	FV_FLOAT64,
	FV_STR,
	FV_BIN
} ferry_vtype;

typedef struct ferry_value
{
	ferry_vtype t;
	union
	{
		bool b;
		int64_t i;
		double f;
		struct
		{
			const char *p;
			size_t len;
		} s;
	} u;
} ferry_value;

/* how a PostgreSQL type travels */
typedef enum ferry_kind
{
	FK_STR = 0,     /* text output, carried as str */
	FK_BOOL,
	FK_INT,
	FK_FLOAT4,
	FK_FLOAT8,
	FK_BYTEA
} ferry_kind;

/* from a type name as format_type() prints it ("integer", "text[]", ...) */
ferry_kind kind_of_type(const char *type_name);

static inline ferry_value fv_null(void) { ferry_value v = {.t = FV_NULL}; return v; }
static inline ferry_value fv_str(const char *p, size_t n)
{ ferry_value v = {.t = FV_STR}; v.u.s.p = p; v.u.s.len = n; return v; }
static inline ferry_value fv_int(int64_t i) { ferry_value v = {.t = FV_INT}; v.u.i = i; return v; }
static inline ferry_value fv_bool(bool b) { ferry_value v = {.t = FV_BOOL}; v.u.b = b; return v; }

/*
 * PostgreSQL text representation of v (as COPY text or a query parameter
 * would take it), appended to out, without COPY escaping.  Floats are
 * printed so that they read back to the same bits; bytea as \x hex.
 */
void value_to_text(const ferry_value *v, buf *out);

/*
 * COPY TEXT format: parse one field (already split on the delimiter, still
 * escaped) of the given kind.  "\N" is NULL.  Unescaped bytes are written
 * into scratch (which the value then points into); returns false with a
 * message in err on a value that does not parse.
 */
bool copytext_parse_field(const char *p, size_t n, ferry_kind kind,
						  buf *scratch, ferry_value *v, buf *err);
/*
 * Parse one whole COPY TEXT row (without its newline) into ncols values.
 * scratch is reset and holds the unescaped bytes the values point into.
 * Returns false with a message in err on a wrong field count or a value
 * that does not parse (the message names the column index).
 */
bool copytext_parse_row(const char *line, size_t n, const ferry_kind *kinds,
						int ncols, buf *scratch, ferry_value *vals, buf *err);
/* append v in COPY TEXT format (escaped; NULL as \N) */
void copytext_append_value(buf *out, const ferry_value *v);

/* JSON for ferry-cat and reject files: null/true/123/1.5/"text"/"\\x0102" */
void value_to_json(const ferry_value *v, buf *out);

/* equality of two values (same type and bytes; floats by bits) */
bool value_equal(const ferry_value *a, const ferry_value *b);

#endif
