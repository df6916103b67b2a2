/*
 * runstatus.h: a run's status object, read from the books, and the
 * Prometheus text made of it: one definition for ferry-books (the
 * driver's "ferry status", --metrics and --notify) and ferry-serve.
 *
 *   runstatus.c   finds and runs scripts/sql/status.sql (installed in
 *                 share/ferry/sql), the object's one definition
 *   runmetrics.c  the object as Prometheus text (the families of
 *                 "ferry run --metrics" and ferry-serve's /metrics)
 */
#ifndef FERRY_RUNSTATUS_H
#define FERRY_RUNSTATUS_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "buf.h"

/*
 * Find and read status.sql: in share_dir when given, else $FERRY_SHARE,
 * then beside the program (PREFIX/bin -> PREFIX/share/ferry/sql; a source
 * tree's build/FLAVOR/bin -> scripts/sql).  false: not found (logged).
 * Called again, it keeps what it read.
 */
bool run_status_init(const char *share_dir);

/*
 * A run's status object (JSON, as "ferry status RUN --json" prints it)
 * into out; run "" for the latest; detail adds the stages' events and the
 * rejects by reason (status.sql).  out empty: no such run.  false on a
 * database error: *res holds it (to be cleared), or is NULL (logged).
 */
bool run_status_json(PGconn *conn, const char *run, bool detail, buf *out, PGresult **res);

/*
 * The Prometheus text of a status object (detail 1) into out: min_success
 * in percent, memory_limit in bytes (text, as given).  false on a database
 * error (*res holds it, to be cleared).
 */
bool run_metrics_text(PGconn *conn, const char *status_json, const char *min_success,
					  const char *memory_limit, buf *out, PGresult **res);

#endif
