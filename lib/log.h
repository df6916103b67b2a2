/*
 * log.h: messages on stderr and JSON-lines events for the audit log.
 *
 * stdout carries only records; everything a human reads goes to stderr,
 * one line per message, prefixed by the program name:
 *     ferry-extract: error: table "public.nope" does not exist
 * Levels follow zstd's display levels: 0 silent, 1 errors, 2 warnings and
 * results (default), 3 progress, 4 info, 5 debug.
 *
 * Events (start, batch, reject, end ...) go as JSON lines to the file named
 * by --log FILE or $FERRY_LOG, so that the driver can record them in the
 * destination's audit table.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level
{
	LOG_SILENT = 0,
	LOG_ERROR = 1,
	LOG_WARN = 2,
	LOG_PROGRESS = 3,
	LOG_INFO = 4,
	LOG_DEBUG = 5
};

void log_init(const char *progname);
const char *log_progname(void);
void log_set_level(int level);
int log_get_level(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a result line (level 2) without the "warning:" tag */
void log_result(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* log an error and exit with code (after removing unfinished output files) */
_Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Progress: a rate-limited line on stderr (level 3, or when stderr is a
 * terminal at level 2).  Call as often as wanted; it prints at most
 * every 500 ms.  progress_done() prints the final line.
 */
void progress_start(const char *what, int64_t expected);
/*
 * off: no progress at all (--no-progress).  plain_every_s > 0: the
 * interval of the lines when stderr is not a terminal (default 5 s; on a
 * terminal the line is redrawn every 500 ms).  final_line false: at the
 * end the live line is only erased, no summary line (the driver prints one).
 */
void progress_configure(bool off, double plain_every_s, bool final_line);
void progress_update(int64_t done);
void progress_done(int64_t done);

/*
 * Events: JSON lines {"ts":...,"prog":...,"run":...,"entity":...,
 * "event":NAME, ...fields}.  fields_json is either NULL or the inside of
 * a JSON object, e.g. "\"rows\":1000,\"ms\":12".  No-op without a log file.
 * An event whose name ends in "_end" (extract_end, load_end ...) also gets
 * "max_rss_kb" (the process's peak resident memory, getrusage) and
 * "bytes_in"/"bytes_out" (io_bytes_in/io_bytes_out).
 */
void event_open(const char *path);   /* NULL: use $FERRY_LOG if set */
void event_set_context(const char *run, const char *entity);
void event_emit(const char *event, const char *fields_fmt, ...)
	__attribute__((format(printf, 2, 3)));
void event_close(void);

/* monotonic clock in microseconds */
int64_t now_us(void);

#endif
