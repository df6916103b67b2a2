/*
 * verify.h: what ferry-verify's parts share (see man/ferry-verify.1 and
 * docs/verification.md).
 *
 * One entity is checked at a time.  ventity describes it: the destination
 * table, how a row is found there (its uuid, or its legacy key), and the
 * columns compared, each with the destination's type.  vresult collects
 * what was found: counts, rejects and repairs by reason, and the rows
 * missing, extra, different and orphaned, with their legacy key.
 *
 *   rows.c      row mode: a transformed stream, row by row
 *   checksum.c  checksum mode: range hashes in both databases, bisected
 *   expect.c    the expected rows, in a temporary table of the destination
 *   compare.c   expected rows against the destination's, in SQL
 *   columns.c   the compared columns and their SQL expressions
 *   refs.c      referential integrity of the destination table
 *   bisect.c    segments, bucket and leaf comparison (pure)
 *   result.c    counts, differences, success rate (pure)
 *   report.c    terminal summary and JSON report
 *   tree.c      the tree checks (tree.h)
 *   linkcheck.c the cycles of a link entity (linkcheck.h)
 *   coverage.c  what the plan missed: legacy keys, columns left over, all-NULL columns
 */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <stdbool.h>
#include <stdio.h>
#include <libpq-fe.h>

#include "buf.h"
#include "plan.h"

/* a value shown in a difference is cut to this many characters */
#define VERIFY_SHOW_CHARS 60

/* ---- the entity ---- */

typedef enum vcol_kind
{
	VC_VALUE,           /* compared as the destination stores it */
	VC_REF,             /* checksum mode: the source has a legacy key of ref_entity,
						 * the destination its uuid (mapped back with ferry.id_map) */
	VC_POLY             /* the same, the entity named by the poly_type column */
} vcol_kind;

typedef struct vcol
{
	char *name;         /* destination column (= stream / extract column) */
	char *type;         /* its destination type, as format_type() prints it */
	vcol_kind kind;
	char *ref_entity;   /* VC_REF */
	char *poly_type;    /* VC_POLY: the type column */
	bool has_repair;    /* the plan says "repair COL VALUE" */
	char *repair;       /* that value, NULL for SQL NULL */
	char *src_type;     /* checksum mode: the source column's type */
	bool raw;           /* checksum mode: the source hashes its own text (the
						 * destination type is unknown there, or a cast failed) */
	int in;             /* column index in the stream (row mode) */
} vcol;

typedef struct ventity
{
	const plan *p;            /* NULL in row mode without a plan */
	const plan_entity *e;     /* NULL likewise */
	char *name;               /* entity (ferry.rejects, ferry.id_map) */
	char *label;              /* in the report: name, or NAME:COLUMNS of a fix-up */
	char *target;             /* schema.table */
	char *target_sql;         /* quoted */
	char *uuid;               /* the row's uuid column, NULL if none */
	int nkey;
	char **key;               /* legacy key columns (stream / extract names) */
	char **key_src_type;      /* checksum mode: their source types */
	char **key_type;          /* their destination types, when key_in_target */
	bool key_in_target;       /* every key column is a destination column */
	bool key_numeric;         /* one integer key: ranges are bigint, else text "C" */
	char *parent;             /* tree: the parent column */
	int ncols;
	vcol *cols;
	int nskipped;
	char **skipped;           /* "COLUMN (why)": not compared */
} ventity;

void ventity_init(ventity *v);
void ventity_free(ventity *v);
/* a compared column; returns it */
vcol *ventity_add_col(ventity *v, const char *name, const char *type);
void ventity_skip(ventity *v, const char *column, const char *why);
vcol *ventity_find(const ventity *v, const char *name);
/* the destination's columns and types: NULL on error (logged); *n set */
char **dest_columns(PGconn *dst, const char *target, int *n, char ***types);
/* the legacy key text of a row, as ferry.rejects and ferry.id_map hold it:
 * one part as it is; parts of a composite key joined by ",", with "," and
 * "\" escaped by "\" */
void key_text_append(buf *out, int part, int nparts, const char *s, size_t n);

/* ---- the result ---- */

typedef struct vcount
{
	char *name;
	long long n;
} vcount;

typedef struct vcounts
{
	int n;
	int cap;
	vcount *v;
} vcounts;

typedef enum vdiff_kind
{
	VD_MISSING,         /* a source row the destination does not have */
	VD_EXTRA,           /* a destination row the source does not explain */
	VD_DIFFERENT,       /* a column of a row differs */
	VD_ORPHAN           /* a reference to a row that is not there */
} vdiff_kind;

typedef struct vdiff
{
	vdiff_kind kind;
	char *key;          /* legacy key, NULL when unknown */
	char *uuid;         /* the row's uuid, NULL when unknown */
	char *column;       /* VD_DIFFERENT, VD_ORPHAN */
	char *expected;     /* VD_DIFFERENT: expected value; VD_ORPHAN: referenced table */
	bool expected_null;
	char *actual;       /* VD_DIFFERENT: found; VD_ORPHAN: the dangling value */
	bool actual_null;
	char *note;         /* more words, may be NULL */
} vdiff;

typedef struct vcheck
{
	char *name;
	bool ok;
	char *detail;
} vcheck;

typedef struct vresult
{
	char *entity;             /* the label */
	char *target;
	const char *mode;         /* "rows", "checksum", "counts" */
	long long source_rows;    /* -1: unknown */
	const char *source_when;  /* "stream", "snapshot", "now" */
	long long run_source_rows;  /* ferry.entity_runs of the run, -1: unknown */
	long long run_loaded_rows;
	long long loaded;         /* source rows found in the destination */
	long long rejected;
	long long repaired;
	long long missing;
	long long extra;
	long long different;      /* rows with at least one different column */
	long long orphans;
	vcounts rejected_by;      /* reason -> rows */
	vcounts repaired_by;      /* reason -> notes */
	vcounts different_by;     /* column -> rows */
	int max_listed;           /* differences kept (the counts go on) */
	int ndiffs;
	vdiff *diffs;
	int nchecks;
	vcheck *checks;
	int nnotes;
	char **notes;
	int checks_failed;
} vresult;

void result_init(vresult *r, const char *entity, const char *target, const char *mode,
				 int max_listed);
void result_free(vresult *r);
/* add n to the count of name */
void counts_add(vcounts *c, const char *name, long long n);
long long counts_total(const vcounts *c);
/* keep a difference (copied; values cut for display) while under max_listed */
void result_diff(vresult *r, vdiff_kind kind, const char *key, const char *uuid,
				 const char *column, const char *expected, const char *actual, const char *note);
void result_check(vresult *r, const char *name, bool ok, const char *detail);
void result_note(vresult *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* add from's counts, differences, checks and notes to into */
void result_merge(vresult *into, const vresult *from);
/* rows that arrived intact (loaded, not different) per source row, in percent */
double result_success(const vresult *r);
/* nothing missing, extra, different or orphaned, every check passed */
bool result_clean(const vresult *r);
/* s cut to max characters (UTF-8) with "..." added when cut */
void display_value(buf *out, const char *s, size_t max);
const char *vdiff_kind_name(vdiff_kind k);

/* ---- the run ---- */

typedef struct vctx
{
	PGconn *src;              /* NULL when not needed (row mode without tree checks) */
	PGconn *dst;
	const plan *p;
	const char *run;          /* rejects and repairs of this run; NULL: none */
	bool books;               /* the destination has ferry's schema */
	bool snapshot;            /* the source is read in the run's exported snapshot */
	int fanout;               /* checksum: segments per split */
	int leaf;                 /* checksum: rows per side compared one by one */
	int max_listed;
	bool refs;                /* check referential integrity too (refs.c) */
} vctx;

/* ---- the modes ---- */

/*
 * Row mode: the transformed stream in path ("-" or NULL: stdin) against
 * the destination.  fixup: the stream of the fix-up step (deferred
 * columns only).  Returns an exit code; r is filled.
 */
int verify_rows(vctx *c, const plan_entity *e, const char *target, const char *entity,
				const char *path, bool fixup, vresult *r);
/* Checksum mode for plan entity e.  Returns an exit code; r is filled. */
int verify_checksum(vctx *c, const plan_entity *e, vresult *r);
/* Foreign keys of the entity's table (and plan refs without one). */
int verify_refs(vctx *c, const ventity *v, vresult *r);
/* ferry.entity_runs counts of the run, into r (when known) */
bool run_counts(vctx *c, const char *entity, vresult *r);
/*
 * What the plan missed (coverage.c): checks "legacy key", "coverage" and
 * "all NULL" into r, each finding failing the verdict.  Needs c->src.
 * Returns an exit code.
 */
int verify_coverage(vctx *c, const plan_entity *e, vresult *r);

/* ---- the expected rows (expect.c) ---- */

typedef struct vexpect vexpect;

/*
 * A temporary table pg_temp.ferry_verify_expect in the destination:
 * _key (legacy key text), _uuid, _disp (NULL: a row to compare,
 * 'rejected', 'note'), _reason, _rep / _null / _skip (columns a repair or
 * a note accounts for) and one text column per compared column.  legacy:
 * the rows come from the source (checksum mode): notes of the transform
 * say which columns it changed.
 */
vexpect *expect_new(PGconn *dst, const ventity *v, bool legacy);
/* one record: vals[i] is the text of v->cols[i] (NULL: SQL NULL); nvals = v->ncols or 0 */
bool expect_add(vexpect *x, const char *disp, const char *reason, const char *key,
				const char *uuid, const char *const *vals, const char *const *keyvals);
/* flush the COPY, then mark the rows the run rejected or repaired (ferry.rejects) */
bool expect_finish(vexpect *x, vctx *c);
void expect_free(vexpect *x);

/* ---- comparing (compare.c) ---- */

typedef struct vcompare
{
	long long rows;           /* expected rows compared (not rejected) */
	long long present;        /* found in the destination */
	long long missing;
	long long different;
} vcompare;

/*
 * Every expected row against the destination row of the same uuid (or
 * key); differences go to r.  legacy: VC_REF / VC_POLY columns hold legacy
 * keys.  A value that the destination type does not take is found and
 * shown as it is.  False on a database error (logged).
 */
bool compare_expected(vctx *c, const ventity *v, bool legacy, vresult *r, vcompare *out);
/* destination rows no expected row explains (row mode); counted in r->extra */
bool compare_extra(vctx *c, const ventity *v, vresult *r);
/* SQL: the legacy key of destination row alias t (key columns or ferry.id_map) */
void sql_dest_key(buf *sql, const ventity *v, const char *alias, const char *map_alias);

/* ---- the report (report.c) ---- */

void report_print(FILE *f, const vresult *r, int show);
/* the JSON report of results rs (a file ferry verify merges) */
void report_json(buf *out, const vresult *rs, int n, const char *run, double min_success,
				 bool passed);
void report_json_entity(buf *out, const vresult *r);

#endif
