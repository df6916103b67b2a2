/*
 * books.h: the run's books in the destination's "ferry" schema, written
 * in one place (ferry-books(1)).
 *
 *   state.c     the states of a run and of a step, and the one table of
 *               the moves between them (pure: tests/unit/test_books.c)
 *   ranges.c    key ranges of a split entity (pure)
 *   lock.c      one run at a time per target: the target's advisory lock
 *               and who holds it
 *   run.c       a run: recorded, started, finished (totals, success rate)
 *   step.c      a step: begun, finished (its stages' events recorded, its
 *               counts from the load's checkpoints), its attempt cleared
 *   report.c    what people read: the summary of a run, its memory peaks
 *   columns.c   the text of it: durations, aligned columns (pure)
 *   status.c    "ferry status": a run's progress, as text or JSON
 *   metrics.c   the run's Prometheus text file (--metrics)
 *   notify.c    the JSON summary a --notify command reads
 *   verify.c    the run "ferry verify" accounts for, a cutover's verdict
 *   verifyreport.c  "ferry verify"'s reports merged, and their summary
 *   size.c      a --max-memory size in bytes (pure)
 *   session.c   the verbs, one request a line from the driver
 *   ferry-books.c  the command line
 *
 * Every function that fails logs why once and returns false (or an exit
 * code of lib/exitcode.h); callers only pass it on.
 */
#ifndef FERRY_BOOKS_H
#define FERRY_BOOKS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <libpq-fe.h>

#include "buf.h"

/* ---- state.c ---- */

typedef enum books_state
{
	BS_PENDING,        /* recorded, not begun */
	BS_RUNNING,        /* a ferry process works on it */
	BS_DONE,
	BS_FAILED,         /* ended by an error; resumable once begun */
	BS_INTERRUPTED,    /* ended by a signal, or its process vanished */
	BS_ROLLED_BACK,
	BS_NSTATES
} books_state;

const char *books_state_name(books_state s);
/* false when NAME is no state */
bool books_state_parse(const char *name, books_state *out);
/* the one table: may a run (or a step) in FROM move to TO? */
bool books_run_move_ok(books_state from, books_state to);
bool books_step_move_ok(books_state from, books_state to);

/* ---- ranges.c ---- */

/*
 * The WHERE conditions that cut the keys lo..hi of QKEY (a quoted column)
 * into PARTS ranges of equal width, the first and last open (no key falls
 * outside); each a new string in conds[0..parts-1].  Returns the number
 * of ranges (fewer when the keys are fewer than PARTS), 0 on bad input.
 */
int books_key_ranges(int64_t lo, int64_t hi, int parts, const char *qkey, char **conds);

/* ---- blame.c ---- */

/*
 * The exit code of a step from its stages' (0: none failed) and, in WHO,
 * the stage that says what went wrong ("extract", "transform", "load").
 * PIPES: the stages ran through pipes (not spool files).
 */
int books_blame(bool pipes, int rc_extract, int rc_transform, int rc_load, const char **who);

/* ---- the connection's context ---- */

typedef struct books
{
	PGconn *target;
	const char *target_info;   /* conninfo (may hold passfile=, never a password) */
	const char *source_info;
	PGconn *source;            /* opened when a verb needs it */
	const char *host;          /* the driver's host and pid, for the books and refusals */
	long pid;
	bool locked;               /* this session holds the target's lock */
	const char *log_path;      /* the driver's events (JSON lines) */
	struct plan *plan;         /* the run's plan (verb "plan"), for the steps' fields */
} books;

/* the source connection, opened on first use; NULL (logged) on failure */
PGconn *books_source(books *b);

/* ---- lock.c ---- */

/*
 * Take the target's lock for WHAT ("run RUN", "rollback RUN", "cleanup
 * drop") and record who holds it; refused at once (exit 2, one line naming
 * the run, command, host and pid that hold it) when another session holds
 * it.  A driver of this host killed a moment ago may leave its session
 * for a moment: then wait for it, 10 s at most.  Returns an exit code.
 */
int books_lock(books *b, const char *what, const char *run);
/* the line naming the holder of the target's lock, "" when none */
void books_lock_holder(books *b, buf *out);

/* ---- run.c ---- */

int books_run_new(books *b, int argc, char **argv, buf *reply);
int books_run_start(books *b, int argc, char **argv, buf *reply);
int books_run_finish(books *b, int argc, char **argv, buf *reply);
int books_full_check(books *b, int argc, char **argv, buf *reply);
int books_resumable(books *b, int argc, char **argv, buf *reply);
int books_since(books *b, int argc, char **argv, buf *reply);
/* move a run to a state through the table; false (logged) when illegal */
bool books_move_run(books *b, const char *run, books_state to);

/* ---- step.c ---- */

int books_steps(books *b, int argc, char **argv, buf *reply);
int books_plan(books *b, int argc, char **argv, buf *reply);
int books_step_begin(books *b, int argc, char **argv, buf *reply);
int books_step_finish(books *b, int argc, char **argv, buf *reply);
int books_clear_attempt(books *b, int argc, char **argv, buf *reply);
int books_part_complete(books *b, int argc, char **argv, buf *reply);
int books_max_key(books *b, int argc, char **argv, buf *reply);
int books_unwatched(books *b, int argc, char **argv, buf *reply);
int books_split(books *b, int argc, char **argv, buf *reply);
int books_import(books *b, int argc, char **argv, buf *reply);
/* the JSON lines of FILE into ferry.audit_log (tagged with STEP when given); PEAKS: see step.c */
bool books_import_events(books *b, const char *file, const char *step, buf *peaks);

/* ---- report.c ---- */

int books_summary(books *b, int argc, char **argv, buf *reply);
int books_memory(books *b, int argc, char **argv, buf *reply);
int books_judge(books *b, int argc, char **argv, buf *reply);
int books_step_memory(books *b, int argc, char **argv, buf *reply);
/* a result as psql's aligned format prints it (no footer), then a blank line */
void books_print_table(FILE *f, const PGresult *res);

/* ---- columns.c ---- */

/* SECONDS as "ferry status" shows a duration: 42s, 3m07s, 2h05m */
void books_duration(double seconds, char *out, size_t n);
/* lines of tab-separated cells aligned as column -t -s TAB aligns them */
void books_columns(FILE *f, const char *tsv);

/* ---- status.c ---- */

/* status [--json] [RUN]: the run's progress on stdout; an exit code */
int books_status_command(books *b, int argc, char **argv);

int books_blame_verb(books *b, int argc, char **argv, buf *reply);
int books_step_end(books *b, int argc, char **argv, buf *reply);

/* ---- metrics.c, notify.c ---- */

int books_metrics(books *b, int argc, char **argv, buf *reply);
int books_notify(books *b, int argc, char **argv, buf *reply);

/* ---- verify.c ---- */

int books_verify_run(books *b, int argc, char **argv, buf *reply);
int books_verdict(books *b, int argc, char **argv, buf *reply);
/* verify-report OUT RUN MODE MIN_SUCCESS SHOW UNCHECKED FILE...: an exit code */
int books_verify_report(books *b, int argc, char **argv);

/* ---- size.c ---- */

/* 512M, 1.5G, 800000KiB, 536870912 ... in bytes; false below 1M or malformed */
bool books_parse_size(const char *s, double *bytes);
/* size SIZE: the bytes on stdout, or exit 2 (no database) */
int books_size_command(int argc, char **argv);

/* ---- session.c ---- */

/* run one verb (argv[0]) with its arguments; the reply fields in reply */
int books_verb(books *b, int argc, char **argv, buf *reply);
/* a reply line: "ok" or "error" and the code, then the fields (0x1f before each) */
void books_reply(FILE *f, int rc, const buf *reply);
/* serve requests from stdin, one a line (fields separated by tabs) */
int books_serve(books *b);

#endif
