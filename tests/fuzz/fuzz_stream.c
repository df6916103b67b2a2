/*
 * fuzz_stream.c: libFuzzer target for the record stream reader
 * (lib/stream.c, over the input layer of lib/io.c and the values of
 * lib/value.c).  Built by "make fuzzers", run by "make fuzz" and, briefly,
 * by tests/bats/fuzz.bats; the seeds are in tests/fuzz/corpus/stream.
 *
 * The bytes are one input file: a plain stream, a zstd spool, or garbage.
 * Each input is read to its end (header, chunks of rows, rejects and
 * notes, trailer) the way every stage reads, through in_open() +
 * reader_open() + reader_next(), in up to three ways that must agree:
 *
 *   file     the bytes in a memfd, opened by path (/proc/self/fd/N) as a
 *            spool file is: a regular file, read through and verified
 *            whole before the first record is handed out;
 *   pieces   the same bytes on standard input (in_open(NULL)) from a pipe
 *            (a memfd when they do not fit in one), verified chunk by
 *            chunk, where every read() returns only a few bytes, as from
 *            a pipe that delivers a little at a time: objects, lengths,
 *            chunk checks, the zstd magic and zstd blocks arrive split
 *            anywhere (sizes from a sequence seeded by the input, so a run
 *            is reproducible).  The short reads come from __wrap_read()
 *            below: the program is linked with -Wl,--wrap=read, so
 *            lib/io.c's read() calls come here first;
 *   zstd     input not already zstd, compressed and read in pieces, so
 *            that every mutation of a plain stream also goes through the
 *            zstd spool path of in_read().
 *
 * lib/ is compiled for fuzzing with input buffers of 64 bytes (Makefile:
 * FUZZ_LIBFLAGS) instead of 1 MB, so that small inputs reach buffer growth
 * and every refill path, and runs are not spent on clearing megabytes.
 *
 * Besides the sanitizers, it checks what the format promises
 * (ferry-stream(5)): a whole stream reads the same all ways (result,
 * counts and records); a refused one is refused all ways (a file before
 * any record, a pipe after the records of its verified chunks, so their
 * counts may differ); a whole stream's proper prefixes (plain and zstd)
 * and the stream with a byte appended are refused; a whole stream with
 * one byte changed, read through a pipe, hands out only records equal to
 * the original's, in order (no record of a damaged chunk); every value
 * prints as valid JSON (ferry-cat) and goes through COPY TEXT and back to
 * an equal value (ferry-load, ferry-extract).  A broken promise aborts
 * with a message.
 *
 * Seeds: whole-* were written by ferry-extract and ferry-transform from a
 * small table of every type (a comment tree with orphans and parent
 * cycles: rows, rejects and notes; plain and zstd; a header with key,
 * skip and uuid), and rewritten as version 2 streams when chunks came
 * (whole-*-chunks: chunks of 3 records); bad-* are them cut, corrupted,
 * reordered or extended, and a version 1 stream; crash-* are inputs that
 * found bugs, kept so that they stay fixed.
 *
 * Errors: the reader reports a bad stream by returning NULL or -1 after
 * logging it (nothing exits); die() is left only for out of memory and a
 * failing zstd context, which libFuzzer reports as "fuzz target exited",
 * a finding too.  Messages are silenced: FUZZ_VERBOSE=1 shows them (to see
 * why a seed is refused, run the binary on that file).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <xxhash.h>
#include <zstd.h>

#include "buf.h"
#include "io.h"
#include "jsoncheck.h"
#include "log.h"
#include "stream.h"
#include "value.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
ssize_t __real_read(int fd, void *dst, size_t n);
ssize_t __wrap_read(int fd, void *dst, size_t n);

/* what reading one input gave */
typedef struct outcome
{
	int result;             /* 0 whole, -1 refused while reading, -2 no reader (header) */
	uint64_t rows;
	uint64_t rejects;
	uint64_t notes;
	uint64_t digest;        /* of the header and every record read */
} outcome;

/*
 * The digest after the header and after each record of a reading, kept
 * when trace_keep is set; a reading with trace_expect set fails as soon
 * as its digest leaves the expected one (a record that differs).
 */
static uint64_t *trace;
static size_t trace_len, trace_cap;
static bool trace_keep;
static const uint64_t *trace_expect;
static size_t trace_expect_len;

static int memfd = -1;
static int saved_stdin = -1;
static bool pieces;         /* reads of standard input return a few bytes */
static uint64_t pieces_rand;
static uint64_t pieces_reads;
static buf scratch, text, line, err, json;
static ferry_value *back;   /* values parsed back from COPY TEXT */
static ferry_kind *kinds;   /* and the kinds they are parsed as */
static int backcap;

static void
fail(const char *what, const char *how, const outcome *a, const outcome *b)
{
	fprintf(stderr, "fuzz_stream: %s: %s\n", what, how);
	if (a)
		fprintf(stderr, "  first:  result %d, %" PRIu64 " rows, %" PRIu64 " rejects, %" PRIu64
				" notes, digest %016" PRIx64 "\n", a->result, a->rows, a->rejects, a->notes, a->digest);
	if (b)
		fprintf(stderr, "  second: result %d, %" PRIu64 " rows, %" PRIu64 " rejects, %" PRIu64
				" notes, digest %016" PRIx64 "\n", b->result, b->rows, b->rejects, b->notes, b->digest);
	abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	log_init("fuzz_stream");
	log_set_level(getenv("FUZZ_VERBOSE") ? LOG_DEBUG : LOG_SILENT);
	memfd = memfd_create("fuzz_stream", MFD_CLOEXEC);
	if (memfd < 0)
	{
		perror("fuzz_stream: memfd_create");
		exit(1);
	}
	/* the pieces pass puts the input on standard input, then puts this back */
	saved_stdin = dup(STDIN_FILENO);
	if (saved_stdin < 0)
		saved_stdin = open("/dev/null", O_RDONLY | O_CLOEXEC);
	buf_init(&scratch, 256);
	buf_init(&text, 256);
	buf_init(&line, 256);
	buf_init(&err, 256);
	buf_init(&json, 256);
	return 0;
}

static void
mix(outcome *o, const void *p, size_t n)
{
	o->digest = XXH3_64bits_withSeed(p, n, o->digest);
}

static void
mix_str(outcome *o, const char *s)
{
	if (s == NULL)
		mix(o, "\xff", 1);
	else
		mix(o, s, strlen(s) + 1);   /* ASan checks the NUL is within the buffer */
}

/* the kind COPY TEXT of a value's own type parses back with */
static ferry_kind
kind_of_value(const ferry_value *v)
{
	switch (v->t)
	{
		case FV_BOOL: return FK_BOOL;
		case FV_INT: return FK_INT;
		case FV_FLOAT32: return FK_FLOAT4;
		case FV_FLOAT64: return FK_FLOAT8;
		case FV_BIN: return FK_BYTEA;
		default: return FK_STR;
	}
}

/*
 * The values of one record: their text goes into the digest; each must
 * print as valid JSON, and the record as a COPY TEXT line must parse back
 * to equal values.
 */
static void
check_values(outcome *o, const ferry_value *vals, int n)
{
	if (n > backcap)
	{
		backcap = n;
		back = xrealloc(back, (size_t) n * sizeof *back);
		kinds = xrealloc(kinds, (size_t) n * sizeof *kinds);
	}
	buf_reset(&line);
	for (int i = 0; i < n; i++)
	{
		const ferry_value *v = &vals[i];
		unsigned char t = (unsigned char) v->t;

		if (!value_equal(v, v))
			fail("value_equal", "a value differs from itself", NULL, NULL);
		buf_reset(&text);
		value_to_text(v, &text);
		mix(o, &t, 1);
		mix(o, text.data, text.len);

		buf_reset(&json);
		value_to_json(v, &json);
		if (!json_text_valid(json.data, json.len))
		{
			buf_cstr(&json);
			fprintf(stderr, "fuzz_stream: JSON: %s\n", json.data);
			fail("value_to_json", "ferry-cat would print invalid JSON", NULL, NULL);
		}

		if (i)
			buf_putc(&line, '\t');
		copytext_append_value(&line, v);
		kinds[i] = kind_of_value(v);
	}
	if (n == 0)
		return;
	if (!copytext_parse_row(line.data, line.len, kinds, n, &scratch, back, &err))
	{
		buf_cstr(&err);
		fprintf(stderr, "fuzz_stream: COPY TEXT: %s\n", err.data);
		fail("copytext_parse_row", "a value's own COPY TEXT does not parse back", NULL, NULL);
	}
	for (int i = 0; i < n; i++)
		if (!value_equal(&vals[i], &back[i]))
		{
			fprintf(stderr, "fuzz_stream: value %d of %d\n", i + 1, n);
			fail("COPY TEXT", "a value does not come back equal", NULL, NULL);
		}
}

static void
check_header(outcome *o, const ferry_header *h)
{
	ferry_header copy;

	mix_str(o, h->entity);
	mix_str(o, h->run);
	mix_str(o, h->source);
	mix_str(o, h->keyspace);
	mix_str(o, h->uuid_column);
	mix_str(o, h->order);
	for (int i = 0; i < h->nkey; i++)
		mix_str(o, h->key[i]);
	for (int i = 0; i < h->nskip; i++)
	{
		mix_str(o, h->skip[i]);
		if (!header_is_skip(h, h->skip[i]))
			fail("header_is_skip", "a skip column is not a skip column", NULL, NULL);
	}
	for (int i = 0; i < h->ncols; i++)
	{
		int j = header_find(h, h->cols[i].name);

		mix_str(o, h->cols[i].name);
		mix_str(o, h->cols[i].type);
		if (j < 0 || j > i || h->cols[i].kind != kind_of_type(h->cols[i].type))
			fail("header", "a column is not found by its name or has the wrong kind", NULL, NULL);
	}
	/* what ferry-transform does to pass the header on */
	header_copy(&copy, h);
	if (copy.ncols != h->ncols || copy.nkey != h->nkey || copy.nskip != h->nskip)
		fail("header_copy", "the copy differs", NULL, NULL);
	header_free(&copy);
}

/* the digest after n records: kept, or checked against the expected trace */
static void
step(const outcome *o, uint64_t n)
{
	if (trace_keep)
	{
		if (trace_len == trace_cap)
		{
			trace_cap = trace_cap ? 2 * trace_cap : 64;
			trace = xrealloc(trace, trace_cap * sizeof *trace);
		}
		trace[trace_len++] = o->digest;
	}
	if (trace_expect && (n >= trace_expect_len || trace_expect[n] != o->digest))
		fail("changed byte", "a record that differs from the stream written is handed out", o, NULL);
}

/* read in to its end; in is closed */
static void
read_all(ferry_input *in, outcome *o)
{
	ferry_reader *r;
	ferry_record rec;
	int got;

	memset(o, 0, sizeof *o);
	if (in == NULL)
	{
		o->result = -2;
		return;
	}
	r = reader_open(in);
	if (r == NULL)
	{
		o->result = -2;
		in_close(in);
		return;
	}
	check_header(o, reader_header(r));
	step(o, 0);
	while ((got = reader_next(r, &rec)) > 0)
	{
		unsigned char t = (unsigned char) rec.type;

		mix(o, &t, 1);
		switch (rec.type)
		{
			case FR_ROW:
				o->rows++;
				if (rec.nvals != reader_header(r)->ncols || rec.reason || rec.key)
					fail("reader_next", "a row with the wrong shape", NULL, NULL);
				break;
			case FR_REJECT:
				o->rejects++;
				if (rec.reason == NULL)
					fail("reader_next", "a reject without a reason", NULL, NULL);
				break;
			case FR_NOTE:
				o->notes++;
				if (rec.reason == NULL || rec.nvals != 0)
					fail("reader_next", "a note without a reason, or with values", NULL, NULL);
				break;
		}
		mix_str(o, rec.reason);
		mix_str(o, rec.detail);
		mix_str(o, rec.stage);
		mix_str(o, rec.key);
		check_values(o, rec.vals, rec.nvals);
		step(o, o->rows + o->rejects + o->notes);
	}
	o->result = got;
	if (reader_rows(r) != o->rows || reader_rejects(r) != o->rejects ||
		reader_notes(r) != o->notes)
		fail("reader counts", "reader_rows/rejects/notes differ from the records returned", o, NULL);
	/* a whole stream stays at its end */
	if (got == 0 && reader_next(r, &rec) != 0)
		fail("reader_next", "a read after the end is not the end", o, NULL);
	reader_free(r);
	in_close(in);
}

/* the bytes as a file, opened by path */
static void
read_as_file(const uint8_t *data, size_t size, outcome *o)
{
	char path[64];

	if (ftruncate(memfd, 0) != 0 ||
		(size > 0 && pwrite(memfd, data, size, 0) != (ssize_t) size))
	{
		perror("fuzz_stream: memfd");
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	read_all(in_open(path), o);
}

/* a small deterministic generator (xorshift64*) for the sizes of the pieces */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* read() for lib/io.c (linked with -Wl,--wrap=read): see the top of the file */
ssize_t
__wrap_read(int fd, void *dst, size_t n)
{
	if (pieces && fd == STDIN_FILENO && n > 1)
	{
		/* mostly 1 to 3 bytes, sometimes up to 40 */
		uint64_t k = next_rand(&pieces_rand);
		size_t want = (size_t) (k % 4 == 0 ? 1 + (k >> 8) % 40 : 1 + (k >> 8) % 3);

		if (want < n)
			n = want;
		pieces_reads++;
	}
	return __real_read(fd, dst, n);
}

/*
 * The bytes in a pipe (written whole, then its end closed) when they fit
 * in one: a reader cannot rewind it and verifies chunk by chunk; else
 * the memfd.  A descriptor to read them from.
 */
static int
bytes_fd(const uint8_t *data, size_t size)
{
	char path[64];
	int p[2];

	if (pipe2(p, O_CLOEXEC) == 0)
	{
		int cap = fcntl(p[1], F_SETPIPE_SZ, 1 << 20);

		if (cap < 0)
			cap = fcntl(p[1], F_GETPIPE_SZ);
		if (cap > 0 && size <= (size_t) cap &&
			(size == 0 || write(p[1], data, size) == (ssize_t) size))
		{
			close(p[1]);
			return p[0];
		}
		close(p[0]);
		close(p[1]);
	}
	if (ftruncate(memfd, 0) != 0 ||
		(size > 0 && pwrite(memfd, data, size, 0) != (ssize_t) size))
	{
		perror("fuzz_stream: memfd");
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* the bytes on standard input, read a few bytes at a time */
static void
read_in_pieces(const uint8_t *data, size_t size, uint64_t seed, outcome *o)
{
	int fd = bytes_fd(data, size);

	if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
	{
		perror("fuzz_stream: standard input");
		abort();
	}
	close(fd);
	pieces = true;
	pieces_rand = seed | 1;
	pieces_reads = 0;
	read_all(in_open(NULL), o);
	pieces = false;
	dup2(saved_stdin, STDIN_FILENO);
	if (pieces_reads == 0 && size > 0)
		fail("pieces", "read() is not wrapped: link with -Wl,--wrap=read", NULL, NULL);
}

static bool
same(const outcome *a, const outcome *b)
{
	return a->result == b->result && a->rows == b->rows && a->rejects == b->rejects &&
		a->notes == b->notes && a->digest == b->digest;
}

static bool
is_zstd(const uint8_t *data, size_t size)
{
	return size >= 4 && data[0] == 0x28 && data[1] == 0xB5 && data[2] == 0x2F && data[3] == 0xFD;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	outcome file, other;
	uint64_t seed = XXH3_64bits(data, size);
	bool refused;

	trace_len = 0;
	trace_keep = true;
	read_as_file(data, size, &file);
	trace_keep = false;

	/*
	 * A refused input is refused both ways, but a file is refused before
	 * its first record and a pipe after the records of its verified
	 * chunks (and a bad zstd frame is found when its block, or its
	 * checksum at the end, is decoded): then both need only refuse it.
	 */
	read_in_pieces(data, size, seed, &other);
	refused = file.result != 0 && other.result != 0;
	if (!refused && !same(&file, &other))
		fail("pieces", "read in small pieces, the input gives another result", &file, &other);
	if (file.result != 0 && file.rows + file.rejects + file.notes > 0)
		fail("file", "a refused file handed out records", &file, NULL);

	/*
	 * A whole stream with one byte changed, read through a pipe: every
	 * record handed out is the original's, at its place, and a reading
	 * taken for whole holds them all.
	 */
	if (file.result == 0 && size > 0)
	{
		uint8_t *changed = xmalloc(size);
		size_t at = (size_t) ((seed >> 11) % size);
		uint8_t x = (uint8_t) (seed >> 3);

		memcpy(changed, data, size);
		changed[at] ^= x ? x : 0x01;
		trace_expect = trace;
		trace_expect_len = trace_len;
		read_in_pieces(changed, size, seed >> 5, &other);
		trace_expect = NULL;
		if (other.result == 0 && other.digest != file.digest)
			fail("changed byte", "a stream with a byte changed is taken as whole, with other records",
				 &file, &other);
		free(changed);
	}

	/*
	 * A whole stream: any proper prefix is refused (a truncated stream is
	 * never taken as whole), and so is the stream with a byte after it.
	 */
	if (file.result == 0 && size > 0)
	{
		uint8_t *more = xmalloc(size + 1);

		read_as_file(data, (size_t) (seed % size), &other);
		if (other.result == 0)
			fail("prefix", "a truncated stream is taken as whole", &file, &other);
		memcpy(more, data, size);
		more[size] = 0xc0;      /* msgpack nil: an object, after the trailer */
		read_as_file(more, size + 1, &other);
		if (other.result == 0)
			fail("extra", "a stream with data after its trailer is taken as whole", &file, &other);
		free(more);
	}

	/* the same bytes as a zstd spool must read the same */
	if (!is_zstd(data, size))
	{
		size_t cap = ZSTD_compressBound(size);
		uint8_t *z = xmalloc(cap);
		size_t zn = ZSTD_compress(z, cap, data, size, 1);

		if (ZSTD_isError(zn))
			fail("ZSTD_compress", ZSTD_getErrorName(zn), NULL, NULL);
		read_in_pieces(z, zn, seed >> 7, &other);
		if (!(file.result != 0 && other.result != 0) && !same(&file, &other))
			fail("zstd", "compressed, the input gives another result", &file, &other);
		if (file.result == 0)
		{
			read_as_file(z, (size_t) (seed % zn), &other);
			if (other.result == 0)
				fail("zstd prefix", "a truncated spool file is taken as whole", &file, &other);
		}
		free(z);
	}
	return 0;
}
