/*
 * io.c: buffered input (plain or zstd, detected) and atomic output files.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "buf.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"

/* the fuzzing build (make fuzzers) makes it tiny, to reach every refill path */
#ifndef IO_BUFSIZE
#define IO_BUFSIZE (1 << 20)
#endif
#define MAX_PENDING 16

volatile int io_interrupted;

/* temporary files not yet committed, removed on error or signal */
static char *pending[MAX_PENDING];

static void
pending_add(char *path)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i] == NULL)
		{
			pending[i] = path;
			return;
		}
	die(FERRY_EXIT_INTERNAL, "too many output files open at once");
}

static void
pending_remove(const char *path)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i] == path)
			pending[i] = NULL;
}

void
io_abort_all(void)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i])
		{
			unlink(pending[i]);   /* async-signal-safe */
			pending[i] = NULL;
		}
}

static void
on_signal(int sig)
{
	io_interrupted = sig;
	io_abort_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

void
io_install_signal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* a closed pipe downstream shows up as EPIPE from write() */
	signal(SIGPIPE, SIG_IGN);
}

/* ---- input ---- */

struct ferry_input
{
	int fd;
	char *name;
	bool eof;                 /* the fd reached end of file */
	bool compressed;
	bool rewindable;          /* a regular file: in_rewind() can read it again */
	off_t start;              /* where reading began (standard input may not start at 0) */
	char err[256];            /* why the last in_read() failed */
	ZSTD_DCtx *dctx;
	size_t frame_left;        /* last ZSTD_decompressStream hint: 0 = frame complete */
	char *raw;                /* bytes read from fd, not yet consumed */
	size_t raw_len;
	size_t raw_pos;
};

static ssize_t
read_fd(ferry_input *in, void *dst, size_t n)
{
	for (;;)
	{
		ssize_t r = read(in->fd, dst, n);

		if (r >= 0)
			return r;
		if (errno == EINTR && !io_interrupted)
			continue;
		snprintf(in->err, sizeof in->err, "cannot read: %s", strerror(errno));
		return -1;
	}
}

/* fill in->raw when empty; false on error */
static bool
fill_raw(ferry_input *in)
{
	if (in->raw_pos < in->raw_len || in->eof)
		return true;
	ssize_t r = read_fd(in, in->raw, IO_BUFSIZE);

	if (r < 0)
		return false;
	in->raw_pos = 0;
	in->raw_len = (size_t) r;
	if (r == 0)
		in->eof = true;
	return true;
}

/* read the first bytes (4, or to the end) and recognise a zstd spool by its magic number */
static bool
in_begin(ferry_input *in)
{
	while (in->raw_len < 4 && !in->eof)
	{
		ssize_t r = read_fd(in, in->raw + in->raw_len, IO_BUFSIZE - in->raw_len);

		if (r < 0)
			return false;
		if (r == 0)
			in->eof = true;
		in->raw_len += (size_t) r;
	}
	if (in->raw_len >= 4 && in->dctx == NULL)
	{
		const unsigned char *m = (const unsigned char *) in->raw;

		if (m[0] == 0x28 && m[1] == 0xB5 && m[2] == 0x2F && m[3] == 0xFD)
		{
			in->compressed = true;
			in->dctx = ZSTD_createDCtx();
			if (in->dctx == NULL)
				die(FERRY_EXIT_INTERNAL, "cannot create a zstd decompression context");
		}
	}
	return true;
}

ferry_input *
in_open(const char *path)
{
	ferry_input *in = xcalloc(1, sizeof *in);

	if (path == NULL || strcmp(path, "-") == 0)
	{
		in->fd = STDIN_FILENO;
		in->name = xstrdup("standard input");
	}
	else
	{
		in->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (in->fd < 0)
		{
			log_error("cannot open \"%s\": %s", path, strerror(errno));
			free(in);
			return NULL;
		}
		struct stat dst;

		if (fstat(in->fd, &dst) == 0 && S_ISDIR(dst.st_mode))
		{
			log_error("\"%s\" is a directory, not a stream or spool file", path);
			close(in->fd);
			free(in);
			return NULL;
		}
		size_t n = strlen(path) + 3;

		in->name = xmalloc(n);
		snprintf(in->name, n, "\"%s\"", path);
	}
	in->raw = xmalloc(IO_BUFSIZE);

	struct stat st;

	if (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode) &&
		(in->start = lseek(in->fd, 0, SEEK_CUR)) >= 0)
		in->rewindable = true;
	if (!in_begin(in))
	{
		log_error("%s: %s", in->name, in->err);
		in_close(in);
		return NULL;
	}
	return in;
}

bool
in_rewindable(const ferry_input *in)
{
	return in->rewindable;
}

bool
in_rewind(ferry_input *in)
{
	if (!in->rewindable)
		return false;
	if (lseek(in->fd, in->start, SEEK_SET) != in->start)
	{
		log_error("cannot read %s again: %s", in->name, strerror(errno));
		return false;
	}
	in->eof = false;
	in->raw_len = in->raw_pos = 0;
	in->frame_left = 0;
	if (in->dctx)
		ZSTD_DCtx_reset(in->dctx, ZSTD_reset_session_only);
	if (!in_begin(in))
	{
		log_error("%s: %s", in->name, in->err);
		return false;
	}
	return true;
}

const char *
in_error(const ferry_input *in)
{
	return in->err;
}

const char *
in_name(const ferry_input *in)
{
	return in->name;
}

bool
in_is_compressed(const ferry_input *in)
{
	return in->compressed;
}

uint64_t io_bytes_in;
uint64_t io_bytes_out;

static ssize_t in_read_some(ferry_input *in, void *dst, size_t n);

ssize_t
in_read(ferry_input *in, void *dst, size_t n)
{
	ssize_t got = in_read_some(in, dst, n);

	if (got > 0)
		io_bytes_in += (uint64_t) got;
	return got;
}

static ssize_t
in_read_some(ferry_input *in, void *dst, size_t n)
{
	if (!in->compressed)
	{
		if (in->raw_pos < in->raw_len)
		{
			size_t k = in->raw_len - in->raw_pos;

			if (k > n)
				k = n;
			memcpy(dst, in->raw + in->raw_pos, k);
			in->raw_pos += k;
			return (ssize_t) k;
		}
		if (in->eof)
			return 0;
		return read_fd(in, dst, n);
	}

	ZSTD_outBuffer out = {dst, n, 0};

	while (out.pos == 0)
	{
		if (!fill_raw(in))
			return -1;
		if (in->raw_pos == in->raw_len && in->eof)
		{
			if (in->frame_left != 0)
			{
				snprintf(in->err, sizeof in->err, "truncated zstd frame (the spool file is incomplete)");
				return -1;
			}
			return 0;
		}
		ZSTD_inBuffer inb = {in->raw, in->raw_len, in->raw_pos};
		size_t r = ZSTD_decompressStream(in->dctx, &out, &inb);

		if (ZSTD_isError(r))
		{
			snprintf(in->err, sizeof in->err, "not a valid zstd spool file: %s", ZSTD_getErrorName(r));
			return -1;
		}
		in->frame_left = r;
		in->raw_pos = inb.pos;
	}
	return (ssize_t) out.pos;
}

void
in_close(ferry_input *in)
{
	if (in == NULL)
		return;
	if (in->fd != STDIN_FILENO && in->fd >= 0)
		close(in->fd);
	if (in->dctx)
		ZSTD_freeDCtx(in->dctx);
	free(in->raw);
	free(in->name);
	free(in);
}

/* ---- output ---- */

struct ferry_output
{
	int fd;
	char *path;               /* final name, NULL for stdout */
	char *tmp;                /* temporary name while writing */
	char *name;               /* for messages */
	ZSTD_CCtx *cctx;
	char *buf;                /* uncompressed bytes waiting */
	size_t len;
	char *zbuf;               /* compressed bytes */
	size_t zcap;
	bool failed;
};

static bool
write_all(ferry_output *out, const char *p, size_t n)
{
	while (n > 0)
	{
		ssize_t w = write(out->fd, p, n);

		if (w < 0)
		{
			if (errno == EINTR && !io_interrupted)
				continue;
			if (errno == EPIPE)
				log_error("cannot write to %s: the reading end of the pipe is closed", out->name);
			else
				log_error("cannot write to %s: %s", out->name, strerror(errno));
			out->failed = true;
			return false;
		}
		p += w;
		n -= (size_t) w;
	}
	return true;
}

ferry_output *
out_open(const char *path, bool compress, int level, int threads)
{
	ferry_output *out = xcalloc(1, sizeof *out);

	if (path == NULL || strcmp(path, "-") == 0)
	{
		out->fd = STDOUT_FILENO;
		out->name = xstrdup("standard output");
	}
	else
	{
		size_t n = strlen(path) + 32;
		const char *slash = strrchr(path, '/');
		int dirlen = slash ? (int) (slash - path + 1) : 0;

		out->path = xstrdup(path);
		out->tmp = xmalloc(n);
		/* beside the final file, so that rename() stays on one file system */
		snprintf(out->tmp, n, "%.*s.%s.tmp.XXXXXX", dirlen, path, path + dirlen);
		out->fd = mkostemp(out->tmp, O_CLOEXEC);
		if (out->fd < 0)
		{
			log_error("cannot create \"%s\": %s", path, strerror(errno));
			free(out->path);
			free(out->tmp);
			free(out);
			return NULL;
		}
		fchmod(out->fd, 0644);
		pending_add(out->tmp);
		out->name = xmalloc(n);
		snprintf(out->name, n, "\"%s\"", path);
	}
	out->buf = xmalloc(IO_BUFSIZE);
	if (compress)
	{
		out->cctx = ZSTD_createCCtx();
		if (out->cctx == NULL)
			die(FERRY_EXIT_INTERNAL, "cannot create a zstd compression context");
		ZSTD_CCtx_setParameter(out->cctx, ZSTD_c_compressionLevel, level ? level : 3);
		ZSTD_CCtx_setParameter(out->cctx, ZSTD_c_checksumFlag, 1);
		if (threads > 0)
			ZSTD_CCtx_setParameter(out->cctx, ZSTD_c_nbWorkers, threads);
		out->zcap = ZSTD_CStreamOutSize();
		out->zbuf = xmalloc(out->zcap);
	}
	return out;
}

const char *
out_name(const ferry_output *out)
{
	return out->name;
}

static bool
compress_some(ferry_output *out, const char *p, size_t n, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {p, n, 0};

	for (;;)
	{
		ZSTD_outBuffer zo = {out->zbuf, out->zcap, 0};
		size_t left = ZSTD_compressStream2(out->cctx, &zo, &in, mode);

		if (ZSTD_isError(left))
		{
			log_error("zstd compression failed: %s", ZSTD_getErrorName(left));
			out->failed = true;
			return false;
		}
		if (zo.pos && !write_all(out, out->zbuf, zo.pos))
			return false;
		if (mode == ZSTD_e_continue ? in.pos == in.size : left == 0)
			return true;
	}
}

static bool
drain(ferry_output *out, ZSTD_EndDirective mode)
{
	bool ok;

	if (out->failed)
		return false;
	if (out->cctx)
		ok = compress_some(out, out->buf, out->len, mode);
	else
		ok = write_all(out, out->buf, out->len);
	out->len = 0;
	return ok;
}

bool
out_write(ferry_output *out, const void *p, size_t n)
{
	if (out->failed)
		return false;
	io_bytes_out += n;
	if (out->len + n > IO_BUFSIZE)
	{
		if (!drain(out, ZSTD_e_continue))
			return false;
		if (n > IO_BUFSIZE)
		{
			/* a large value: pass it through without copying */
			return out->cctx ? compress_some(out, p, n, ZSTD_e_continue)
				: write_all(out, p, n);
		}
	}
	memcpy(out->buf + out->len, p, n);
	out->len += n;
	return true;
}

bool
out_flush(ferry_output *out)
{
	return drain(out, out->cctx ? ZSTD_e_flush : ZSTD_e_continue);
}

static void
out_free(ferry_output *out)
{
	if (out->cctx)
		ZSTD_freeCCtx(out->cctx);
	free(out->buf);
	free(out->zbuf);
	free(out->path);
	free(out->tmp);
	free(out->name);
	free(out);
}

static bool
fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, (size_t) (slash - path + (slash == path))) : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ok = fd >= 0 && fsync(fd) == 0;

	if (fd >= 0)
		close(fd);
	free(dir);
	return ok;
}

bool
out_commit(ferry_output *out)
{
	bool ok = drain(out, ZSTD_e_end);

	if (out->path)
	{
		if (ok && fsync(out->fd) != 0)
		{
			log_error("cannot fsync %s: %s", out->name, strerror(errno));
			ok = false;
		}
		if (close(out->fd) != 0 && ok)
		{
			log_error("cannot close %s: %s", out->name, strerror(errno));
			ok = false;
		}
		if (ok && rename(out->tmp, out->path) != 0)
		{
			log_error("cannot rename the temporary file to %s: %s", out->name, strerror(errno));
			ok = false;
		}
		if (!ok)
			unlink(out->tmp);
		else if (!fsync_dir_of(out->path))
			log_warn("cannot fsync the directory of %s", out->name);
		pending_remove(out->tmp);
	}
	out_free(out);
	return ok;
}

void
out_abort(ferry_output *out)
{
	if (out == NULL)
		return;
	if (out->path)
	{
		close(out->fd);
		unlink(out->tmp);
		pending_remove(out->tmp);
	}
	out_free(out);
}

bool
write_file_atomic(const char *path, const void *p, size_t n)
{
	ferry_output *out = out_open(path, false, 0, 0);

	if (out == NULL)
		return false;
	if (!out_write(out, p, n))
	{
		out_abort(out);
		return false;
	}
	return out_commit(out);
}
