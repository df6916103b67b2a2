/*
 * log.c: stderr messages, rate-limited progress and JSON-lines events.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"

static const char *progname = "ferry";
static int level = LOG_WARN;

static int event_fd = -1;
static char *event_run;
static char *event_entity;

static const char *progress_what;
static int64_t progress_expected;
static int64_t progress_started;
static int64_t progress_last;
static bool progress_tty;
static bool progress_shown;
static bool progress_off;                      /* --no-progress */
static bool progress_no_final;                 /* --progress-every: the caller prints the summary */
static int64_t progress_plain_every = 5000000; /* lines when stderr is not a terminal */

void
log_init(const char *name)
{
	const char *slash = strrchr(name, '/');
	const char *env = getenv("FERRY_LOG_LEVEL");

	progname = slash ? slash + 1 : name;
	if (env && *env)
		level = atoi(env);
}

const char *
log_progname(void)
{
	return progname;
}

void
log_set_level(int l)
{
	level = l < 0 ? 0 : l;
}

int
log_get_level(void)
{
	return level;
}

static void
vlog(int at, const char *tag, const char *fmt, va_list ap)
{
	buf b;

	if (level < at)
		return;
	buf_init(&b, 256);
	if (progress_shown && progress_tty)
	{
		buf_putc(&b, '\n');
		progress_shown = false;
	}
	buf_printf(&b, "%s: %s", progname, tag);
	buf_vprintf(&b, fmt, ap);
	/* one message, one line: no trailing newline from libpq and friends */
	while (b.len > 0 && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
		b.len--;
	buf_putc(&b, '\n');
	/* a single write, so that parallel stages do not interleave mid-line */
	ssize_t ignored = write(STDERR_FILENO, b.data, b.len);

	(void) ignored;
	buf_free(&b);
}

#define DEFINE_LOG(fn, at, tag) \
	void fn(const char *fmt, ...) \
	{ \
		va_list ap; \
		va_start(ap, fmt); \
		vlog(at, tag, fmt, ap); \
		va_end(ap); \
	}

DEFINE_LOG(log_error, LOG_ERROR, "error: ")
DEFINE_LOG(log_warn, LOG_WARN, "warning: ")
DEFINE_LOG(log_result, LOG_WARN, "")
DEFINE_LOG(log_info, LOG_INFO, "")
DEFINE_LOG(log_debug, LOG_DEBUG, "debug: ")

void
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERROR, "error: ", fmt, ap);
	va_end(ap);
	io_abort_all();
	event_emit("error", "\"exit\":%d", code);
	exit(code);
}

int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- progress ---- */

void
progress_configure(bool off, double plain_every_s, bool final_line)
{
	progress_off = off;
	if (plain_every_s > 0)
		progress_plain_every = (int64_t) (plain_every_s * 1e6);
	progress_no_final = !final_line;
}

void
progress_start(const char *what, int64_t expected)
{
	progress_what = what;
	progress_expected = expected;
	progress_started = progress_last = now_us();
	progress_tty = isatty(STDERR_FILENO);
	progress_shown = false;
}

static void
progress_print(int64_t done, bool final)
{
	double secs = (double) (now_us() - progress_started) / 1e6;
	double rate = secs > 0 ? (double) done / secs : 0;
	buf b;

	buf_init(&b, 160);
	if (progress_tty && !final)
		buf_putc(&b, '\r');
	buf_printf(&b, "%s: %s: %lld rows, %.0f rows/s, %.1f s", progname,
			   progress_what ? progress_what : "progress", (long long) done, rate, secs);
	if (!final && progress_expected > 0 && rate > 0 && done < progress_expected)
		buf_printf(&b, ", ETA %.0f s (of ~%lld)",
				   (double) (progress_expected - done) / rate,
				   (long long) progress_expected);
	if (progress_tty && !final)
		buf_puts(&b, "\033[K");
	else
		buf_putc(&b, '\n');
	ssize_t ignored = write(STDERR_FILENO, b.data, b.len);

	(void) ignored;
	buf_free(&b);
	progress_shown = progress_tty && !final;
}

void
progress_update(int64_t done)
{
	bool show = level >= LOG_PROGRESS || (progress_tty && level >= LOG_WARN);

	if (!show || progress_off)
		return;
	int64_t now = now_us();
	int64_t every = progress_tty ? 500000 : progress_plain_every;

	if (now - progress_last < every)
		return;
	progress_last = now;
	progress_print(done, false);
}

void
progress_done(int64_t done)
{
	if (progress_off)
		return;
	if (progress_no_final)
	{
		/* the caller says how it ended: only take the live line away */
		if (progress_shown && progress_tty)
		{
			ssize_t ignored = write(STDERR_FILENO, "\r\033[K", 4);

			(void) ignored;
		}
		progress_shown = false;
		return;
	}
	if (progress_shown && progress_tty)
	{
		ssize_t ignored = write(STDERR_FILENO, "\r", 1);

		(void) ignored;
	}
	if (level >= LOG_PROGRESS || (progress_tty && level >= LOG_WARN) || progress_shown)
		progress_print(done, true);
	progress_shown = false;
}

/* ---- events ---- */

void
event_open(const char *path)
{
	if (path == NULL)
		path = getenv("FERRY_LOG");
	if (path == NULL || *path == '\0')
		return;
	event_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (event_fd < 0)
		die(FERRY_EXIT_IO, "cannot open log file \"%s\": %s", path, strerror(errno));
}

void
event_set_context(const char *run, const char *entity)
{
	free(event_run);
	free(event_entity);
	event_run = run ? xstrdup(run) : NULL;
	event_entity = entity ? xstrdup(entity) : NULL;
}

void
event_emit(const char *event, const char *fields_fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char stamp[40];
	buf b;

	if (event_fd < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	buf_init(&b, 256);
	buf_printf(&b, "{\"ts\":\"%s.%06ldZ\",\"prog\":", stamp, ts.tv_nsec / 1000);
	buf_json_string(&b, progname, strlen(progname));
	buf_puts(&b, ",\"pid\":");
	buf_printf(&b, "%ld", (long) getpid());
	if (event_run)
	{
		buf_puts(&b, ",\"run\":");
		buf_json_string(&b, event_run, strlen(event_run));
	}
	if (event_entity)
	{
		buf_puts(&b, ",\"entity\":");
		buf_json_string(&b, event_entity, strlen(event_entity));
	}
	buf_puts(&b, ",\"event\":");
	buf_json_string(&b, event, strlen(event));
	if (fields_fmt && *fields_fmt)
	{
		va_list ap;

		buf_putc(&b, ',');
		va_start(ap, fields_fmt);
		buf_vprintf(&b, fields_fmt, ap);
		va_end(ap);
	}
	size_t elen = strlen(event);

	if (elen > 4 && strcmp(event + elen - 4, "_end") == 0)
	{
		/* the end of a stage: its peak memory and the bytes it moved */
		struct rusage ru;
		long rss_kb = getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;

		buf_printf(&b, ",\"max_rss_kb\":%ld,\"bytes_in\":%llu,\"bytes_out\":%llu", rss_kb,
				   (unsigned long long) io_bytes_in, (unsigned long long) io_bytes_out);
	}
	buf_puts(&b, "}\n");
	/* O_APPEND and one write per line: concurrent stages never interleave */
	ssize_t ignored = write(event_fd, b.data, b.len);

	(void) ignored;
	buf_free(&b);
}

void
event_close(void)
{
	if (event_fd >= 0)
		close(event_fd);
	event_fd = -1;
}
