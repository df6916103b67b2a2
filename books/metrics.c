/*
 * metrics.c: metrics RUN FILE MIN_SUCCESS LIMIT_BYTES: the run in the
 * Prometheus text format (lib/runmetrics.c), written to FILE through a
 * temporary file beside it, fsync'ed and renamed (a reader, as
 * node_exporter's textfile collector, never sees half a file).  The
 * driver asks after each step and at the end of "ferry run --metrics".
 * Only a report: a failure is a warning, the run goes on.
 */
#include <string.h>

#include "books.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "pgconn.h"
#include "runstatus.h"

int
books_metrics(books *b, int argc, char **argv, buf *reply)
{
	(void) argc;
	(void) reply;
	const char *run = argv[1], *file = argv[2];
	buf json, text;
	PGresult *res = NULL;
	buf_init(&json, 8192);
	buf_init(&text, 8192);
	if (!run_status_json(b->target, run, true, &json, &res) || json.len == 0)
		log_warn("cannot read the run's books for --metrics");
	else if (!run_metrics_text(b->target, buf_cstr(&json), argv[3], argv[4], &text, &res))
		log_warn("cannot read the run's books for --metrics: %s", pg_errmsg(b->target, res));
	else if (!write_file_atomic(file, text.data, text.len))
		log_warn("cannot write %s", file);
	PQclear(res);
	buf_free(&json);
	buf_free(&text);
	return FERRY_EXIT_OK;
}
