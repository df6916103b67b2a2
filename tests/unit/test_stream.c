/*
 * test_stream.c: the record stream and its values round-trip exactly.
 *
 * Every PostgreSQL type ferry carries goes through COPY TEXT -> value ->
 * msgpack stream (plain and zstd) -> value -> COPY TEXT and must come out
 * byte for byte; truncated, corrupt and foreign input must be refused.
 * A damaged chunk gives no record: through a pipe the records of the
 * chunks before it come out, equal to what was written; a file, verified
 * whole first, gives none.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <inttypes.h>

#include "buf.h"
#include "log.h"
#include "stream.h"
#include "uuid.h"
#include "tap.h"

/* a column of the test table: type and COPY TEXT of some values */
typedef struct case_col
{
	const char *name;
	const char *type;
	const char *copy_text;      /* as COPY TO would print it */
} case_col;

static const case_col cols[] = {
	{"n", "integer", "\\N"},
	{"b_true", "boolean", "t"},
	{"b_false", "boolean", "f"},
	{"i2", "smallint", "-32768"},
	{"i4", "integer", "2147483647"},
	{"i8_min", "bigint", "-9223372036854775808"},
	{"i8_max", "bigint", "9223372036854775807"},
	{"num", "numeric", "123456789012345678901234567890.000000000000000000001"},
	{"num_nan", "numeric", "NaN"},
	{"f4", "real", "3.40282347e+38"},
	{"f4_small", "real", "1.40129846e-45"},
	{"f8", "double precision", "0.10000000000000001"},
	{"f8_neg0", "double precision", "-0"},
	{"f8_inf", "double precision", "Infinity"},
	{"f8_ninf", "double precision", "-Infinity"},
	{"f8_nan", "double precision", "NaN"},
	{"f8_denorm", "double precision", "4.9406564584124654e-324"},
	{"t_escapes", "text", "tab\\there\\nnew line\\\\back\\rslash"},
	{"t_utf8", "text", "Nguy\xe1\xbb\x85n O'Brien Zo\xc3\xab \xf0\x9f\xa6\xb7"},
	{"t_empty", "text", ""},
	{"bytea", "bytea", "\\\\x00ff7f80"},
	{"bytea_empty", "bytea", "\\\\x"},
	{"d", "date", "2024-02-29"},
	{"d_inf", "date", "infinity"},
	{"d_year1", "date", "0001-01-01"},
	{"d_bc", "date", "0044-03-15 BC"},
	{"ts", "timestamp without time zone", "2016-01-01 00:00:00.123456"},
	{"ts_ninf", "timestamp without time zone", "-infinity"},
	{"tstz", "timestamp with time zone", "0001-01-01 00:00:00+00"},
	{"tstz_inf", "timestamp with time zone", "infinity"},
	{"json", "json", "{\"a\": [1, 2.50, \"\\\\u00e9\"]}"},
	{"jsonb", "jsonb", "{\"k\": null}"},
	{"uuid", "uuid", "886313e1-3b8a-5372-9b90-0c9aee199e5d"},
	{"arr", "smallint[]", "{8,9,NULL}"},
	{"tarr", "text[]", "{\"a b\",\"c\\\\\\\\\\\\\"d\"}"},
	{"interval", "interval", "1 year 2 mons -3 days +04:05:06.789"},
};
#define NCOLS ((int) (sizeof cols / sizeof cols[0]))

static char tmpdir[] = "/tmp/ferry-test-stream.XXXXXX";

/* a path in the test directory (a few live at once: rotate static slots) */
static char *
tmpfile_path(const char *name)
{
	static char paths[4][256];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, sizeof paths[0], "%s/%s", tmpdir, name);
	return p;
}

/* write header + rows of values + trailer to path; true if committed */
static bool
write_stream(const char *path, bool compress, const ferry_header *h,
			 ferry_value *vals, int nrows, bool with_reject)
{
	ferry_output *out = out_open(path, compress, 3, 0);
	ferry_writer *w = writer_new(out);
	bool ok = writer_header(w, h);

	for (int i = 0; i < nrows && ok; i++)
		ok = writer_row(w, vals, h->ncols);
	if (with_reject && ok)
		ok = writer_reject(w, "fk_missing", "patient_id=37 has no row in patients",
						   "transform", "37", vals, h->ncols) &&
			writer_note(w, "orphan_root", "parent 12 missing", "transform", "40");
	ok = ok && writer_end(w);
	writer_free(w);
	return ok && out_commit(out);
}

static bool
file_bytes(const char *path, buf *b)
{
	FILE *f = fopen(path, "rb");
	char tmp[65536];
	size_t n;

	if (!f)
		return false;
	buf_reset(b);
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(b, tmp, n);
	fclose(f);
	return true;
}

static void
put_file(const char *path, const char *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	fwrite(p, 1, n, f);
	fclose(f);
}

/* read a whole stream; returns rows read, or -1 if the reader refused it */
static long
read_all(const char *path)
{
	ferry_input *in = in_open(path);
	long rows = 0;

	if (in == NULL)
		return -2;
	ferry_reader *r = reader_open(in);

	if (r == NULL)
	{
		in_close(in);
		return -1;
	}
	ferry_record rec;
	int got;

	while ((got = reader_next(r, &rec)) == 1)
		rows++;
	reader_free(r);
	in_close(in);
	return got == 0 ? rows : -1;
}

static void
test_copytext_roundtrip(void)
{
	ferry_kind kinds[NCOLS];
	ferry_value vals[NCOLS];
	buf line, scratch, err, back;

	buf_init(&line, 1024);
	buf_init(&scratch, 1024);
	buf_init(&err, 256);
	buf_init(&back, 1024);
	for (int i = 0; i < NCOLS; i++)
	{
		if (i)
			buf_putc(&line, '\t');
		buf_puts(&line, cols[i].copy_text);
		kinds[i] = kind_of_type(cols[i].type);
	}
	bool parsed = copytext_parse_row(line.data, line.len, kinds, NCOLS, &scratch, vals, &err);

	ok(parsed, "a COPY TEXT row of %d types parses (%s)", NCOLS, parsed ? "" : buf_cstr(&err));
	for (int i = 0; i < NCOLS && parsed; i++)
	{
		buf_reset(&back);
		copytext_append_value(&back, &vals[i]);
		buf_cstr(&back);
		ok(strcmp(back.data, cols[i].copy_text) == 0,
		   "%s (%s) round-trips through COPY TEXT: got [%s]", cols[i].name, cols[i].type, back.data);
	}
	ok(vals[0].t == FV_NULL, "\\N is NULL");
	ok(vals[1].t == FV_BOOL && vals[1].u.b, "boolean t is true");
	ok(vals[5].t == FV_INT && vals[5].u.i == INT64_MIN, "bigint minimum is exact");
	ok(vals[7].t == FV_STR, "numeric travels as text, never through a double");
	ok(vals[12].t == FV_FLOAT64 && signbit(vals[12].u.f), "-0 keeps its sign");
	ok(vals[20].t == FV_BIN && vals[20].u.s.len == 4 &&
	   memcmp(vals[20].u.s.p, "\x00\xff\x7f\x80", 4) == 0, "bytea decodes to its bytes");
	ok(vals[17].t == FV_STR && memchr(vals[17].u.s.p, '\t', vals[17].u.s.len) != NULL,
	   "text escapes are decoded");

	/* errors */
	ferry_kind k2[2] = {FK_INT, FK_STR};

	ok(!copytext_parse_row("12", 2, k2, 2, &scratch, vals, &err), "too few fields is an error");
	ok(!copytext_parse_row("1\t2\t3", 5, k2, 2, &scratch, vals, &err), "too many fields is an error");
	ok(!copytext_parse_row("x1\ta", 4, k2, 2, &scratch, vals, &err) &&
	   strstr(buf_cstr(&err), "column 1") != NULL, "a bad integer names its column: %s", err.data);
	ok(!copytext_parse_row("99999999999999999999\ta", 22, k2, 2, &scratch, vals, &err),
	   "an integer overflow is an error");
	buf_free(&line);
	buf_free(&scratch);
	buf_free(&err);
	buf_free(&back);
}

static void
test_stream_roundtrip(bool compress)
{
	ferry_header h;
	ferry_kind kinds[NCOLS];
	ferry_value vals[NCOLS];
	buf line, scratch, err;
	char *big = xmalloc(1 << 20);

	header_init(&h);
	h.entity = xstrdup("things");
	h.run = xstrdup("run-1");
	h.source = xstrdup("public.legacy_things");
	h.keyspace = xstrdup("legacy_things");
	h.uuid_column = xstrdup("id");
	h.order = xstrdup("key");
	char *key[] = {"i4"};

	header_set_key(&h, 1, key);
	buf_init(&line, 1024);
	buf_init(&scratch, 1024);
	buf_init(&err, 256);
	for (int i = 0; i < NCOLS; i++)
	{
		header_add_column(&h, cols[i].name, cols[i].type);
		if (i)
			buf_putc(&line, '\t');
		buf_puts(&line, cols[i].copy_text);
		kinds[i] = kind_of_type(cols[i].type);
	}
	header_add_column(&h, "big", "text");
	copytext_parse_row(line.data, line.len, kinds, NCOLS, &scratch, vals, &err);
	/* a 1 MB value with every byte value except NUL */
	for (int i = 0; i < (1 << 20); i++)
		big[i] = (char) (1 + i % 255);

	ferry_value *row = xcalloc(NCOLS + 1, sizeof *row);

	memcpy(row, vals, sizeof vals);
	row[NCOLS] = fv_str(big, 1 << 20);

	char *path = tmpfile_path(compress ? "rt.zst" : "rt.raw");

	ok(write_stream(path, compress, &h, row, 3, true), "%s stream written", compress ? "zstd" : "plain");

	ferry_input *in = in_open(path);
	ferry_reader *r = in ? reader_open(in) : NULL;

	ok(r != NULL, "stream opens");
	ok(in && in_is_compressed(in) == compress, "compression detected from the magic number");
	if (r == NULL)
		return;

	const ferry_header *rh = reader_header(r);

	ok(rh->ncols == NCOLS + 1 && strcmp(rh->entity, "things") == 0 &&
	   strcmp(rh->run, "run-1") == 0 && strcmp(rh->keyspace, "legacy_things") == 0 &&
	   strcmp(rh->uuid_column, "id") == 0 && rh->nkey == 1 && strcmp(rh->key[0], "i4") == 0 &&
	   strcmp(rh->order, "key") == 0, "header fields survive");
	ok(strcmp(rh->cols[26].type, "timestamp without time zone") == 0, "column types survive");

	ferry_record rec;
	int rows = 0, same = 0;

	for (int i = 0; i < 3; i++)
	{
		if (reader_next(r, &rec) != 1 || rec.type != FR_ROW)
			break;
		rows++;
		int eq = 0;

		for (int c = 0; c <= NCOLS; c++)
			eq += value_equal(&rec.vals[c], &row[c]);
		same += eq == NCOLS + 1;
	}
	ok(rows == 3 && same == 3, "every value of every row comes back equal (%d/%d rows)", same, rows);
	ok(reader_next(r, &rec) == 1 && rec.type == FR_REJECT &&
	   strcmp(rec.reason, "fk_missing") == 0 && strcmp(rec.key, "37") == 0 &&
	   strcmp(rec.stage, "transform") == 0 && rec.nvals == NCOLS + 1,
	   "a reject comes back with its reason, key and row");
	ok(reader_next(r, &rec) == 1 && rec.type == FR_NOTE && strcmp(rec.reason, "orphan_root") == 0,
	   "a note comes back");
	ok(reader_next(r, &rec) == 0, "the trailer verifies");
	ok(reader_rows(r) == 3 && reader_rejects(r) == 1 && reader_notes(r) == 1, "counts");
	reader_free(r);
	in_close(in);

	/* truncation anywhere is detected */
	buf whole, cut;

	buf_init(&whole, 1024);
	buf_init(&cut, 1024);
	file_bytes(path, &whole);
	char *tpath = tmpfile_path("truncated");
	int detected = 0, tries = 0;
	size_t steps[] = {0, 1, 3, 4, 10, 100, 1000, 5000, whole.len / 2, whole.len - 100,
		whole.len - 9, whole.len - 2, whole.len - 1};

	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++)
	{
		if (steps[s] >= whole.len)
			continue;
		put_file(tpath, whole.data, steps[s]);
		tries++;
		detected += read_all(tpath) < 0;
	}
	ok(detected == tries, "%s stream cut at %d places: every cut refused (%d)",
	   compress ? "zstd" : "plain", tries, detected);

	/* a flipped byte in a record is caught (plain: by the checksum) */
	if (!compress)
	{
		buf_reset(&cut);
		buf_append(&cut, whole.data, whole.len);
		cut.data[whole.len / 2] ^= 0x01;    /* inside the 1 MB text */
		put_file(tpath, cut.data, cut.len);
		ok(read_all(tpath) == -1, "a corrupted byte fails the checksum");

		/* bytes after the trailer */
		buf_append(&cut, "\xc0", 1);
		buf_reset(&cut);
		buf_append(&cut, whole.data, whole.len);
		buf_append(&cut, "\xc0", 1);
		put_file(tpath, cut.data, cut.len);
		ok(read_all(tpath) == -1, "data after the trailer is refused");
	}
	buf_free(&whole);
	buf_free(&cut);
	free(row);
	free(big);
	header_free(&h);
	buf_free(&line);
	buf_free(&scratch);
	buf_free(&err);
}


/* ---- chunks ---- */

/* row i of the numbered test streams: [i, "row-0000i"] */
static void
numbered_row(int i, char *text, ferry_value *vals)
{
	snprintf(text, 16, "row-%05d", i);
	vals[0] = fv_int(i);
	vals[1] = fv_str(text, strlen(text));
}

/* nrows numbered rows in chunks of at most chunk_records */
static bool
write_numbered(const char *path, bool compress, int nrows, int chunk_records)
{
	ferry_header h;
	ferry_output *out = out_open(path, compress, 3, 0);
	ferry_writer *w = writer_new(out);
	ferry_value vals[2];
	char text[16];

	header_init(&h);
	header_add_column(&h, "id", "integer");
	header_add_column(&h, "name", "text");
	writer_chunk_limits(w, chunk_records, 0);
	bool ok = writer_header(w, &h);

	for (int i = 0; i < nrows && ok; i++)
	{
		numbered_row(i, text, vals);
		ok = writer_row(w, vals, 2);
	}
	ok = ok && writer_end(w);
	writer_free(w);
	header_free(&h);
	return ok && out_commit(out);
}

/* what a reading of a numbered stream gave */
typedef struct reading
{
	int result;          /* 0 whole, -1 refused while reading, -2 refused at open */
	long rows;           /* rows handed out */
	bool equal;          /* each one equal to the row written at its place */
	uint64_t chunks;
} reading;

static void
read_numbered_from(ferry_input *in, reading *rd)
{
	ferry_reader *r = in ? reader_open(in) : NULL;
	ferry_record rec;
	ferry_value want[2];
	char text[16];

	memset(rd, 0, sizeof *rd);
	rd->equal = true;
	rd->result = -2;
	if (r == NULL)
		return;
	while ((rd->result = reader_next(r, &rec)) == 1)
	{
		numbered_row((int) rd->rows, text, want);
		if (rec.type != FR_ROW || rec.nvals != 2 || !value_equal(&rec.vals[0], &want[0]) ||
			!value_equal(&rec.vals[1], &want[1]))
			rd->equal = false;
		rd->rows++;
	}
	rd->chunks = reader_chunks(r);
	reader_free(r);
}

/* the file read as a file: verified whole before the first record */
static reading
read_file(const char *path)
{
	ferry_input *in = in_open(path);
	reading rd;

	read_numbered_from(in, &rd);
	in_close(in);
	return rd;
}

/* the file's bytes through a FIFO, as from a pipe: verified chunk by chunk */
static reading
read_piped(const char *path)
{
	char fifo[256];
	reading rd;
	pid_t pid;

	snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
	unlink(fifo);
	if (mkfifo(fifo, 0600) != 0 || (pid = fork()) < 0)
	{
		memset(&rd, 0, sizeof rd);
		rd.result = -3;
		return rd;
	}
	if (pid == 0)
	{
		buf b;
		int fd = open(fifo, O_WRONLY);

		buf_init(&b, 1024);
		if (fd < 0 || !file_bytes(path, &b) || write(fd, b.data, b.len) != (ssize_t) b.len)
			_exit(1);
		_exit(0);
	}
	ferry_input *in = in_open(fifo);

	read_numbered_from(in, &rd);
	in_close(in);     /* a writer still writing gets EPIPE */
	waitpid(pid, NULL, 0);
	return rd;
}

/* stderr of the code between capture_start() and capture_end() */
static int saved_stderr = -1;
static char stderr_path[256];

static void
capture_start(void)
{
	snprintf(stderr_path, sizeof stderr_path, "%s/stderr", tmpdir);
	int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
	log_set_level(LOG_ERROR);
}

static void
capture_end(buf *text)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	log_set_level(0);
	file_bytes(stderr_path, text);
	buf_cstr(text);
}

/* the offset of a row's text in a plain stream */
static size_t
row_offset(const buf *whole, int i)
{
	char text[16];

	snprintf(text, sizeof text, "row-%05d", i);
	const char *p = memmem(whole->data, whole->len, text, strlen(text));

	return p ? (size_t) (p - whole->data) : 0;
}

static void
test_chunks(void)
{
	char *path = tmpfile_path("chunks.raw");
	char *bad = tmpfile_path("chunks-bad.raw");
	buf whole, copy, msg;
	reading rd;

	buf_init(&whole, 4096);
	buf_init(&copy, 4096);
	buf_init(&msg, 256);
	ok(write_numbered(path, false, 50, 7) && file_bytes(path, &whole), "50 rows in chunks of 7 written");
	rd = read_file(path);
	ok(rd.result == 0 && rd.rows == 50 && rd.equal && rd.chunks == 8,
	   "read as a file: 50 rows equal, 8 chunks (%d, %ld, %" PRIu64 ")", rd.result, rd.rows, rd.chunks);
	rd = read_piped(path);
	ok(rd.result == 0 && rd.rows == 50 && rd.equal && rd.chunks == 8,
	   "read through a pipe: the same (%d, %ld)", rd.result, rd.rows);

	/* one bit of a row of each chunk: the chunks before it come out, then the error */
	int good_pipe = 0, good_file = 0;

	for (int k = 0; k < 8; k++)
	{
		int row = 7 * k + 3 < 50 ? 7 * k + 3 : 49;
		size_t at = row_offset(&whole, row);

		buf_reset(&copy);
		buf_append(&copy, whole.data, whole.len);
		copy.data[at + 6] ^= 0x10;
		put_file(bad, copy.data, copy.len);
		rd = read_piped(bad);
		good_pipe += rd.result == -1 && rd.rows == 7 * k && rd.equal;
		rd = read_file(bad);
		good_file += rd.result == -2 && rd.rows == 0;
	}
	ok(good_pipe == 8, "a bit flipped in chunk k: through a pipe, exactly the rows of chunks 1..k-1, "
	   "equal, then an error (%d of 8)", good_pipe);
	ok(good_file == 8, "as a file: refused before the first row (%d of 8)", good_file);

	/* the message names the input, the chunk and the byte where it starts */
	size_t at = row_offset(&whole, 24);     /* chunk 4: rows 21-27 */

	buf_reset(&copy);
	buf_append(&copy, whole.data, whole.len);
	copy.data[at] ^= 0x01;
	put_file(bad, copy.data, copy.len);
	capture_start();
	rd = read_piped(bad);
	capture_end(&msg);
	ok(rd.result == -1 && rd.rows == 21 && strstr(msg.data, "checksum mismatch: the stream is corrupt (in chunk 4, "
															   "which starts at byte ") != NULL &&
	   strstr(msg.data, "fifo\": ") != NULL && strchr(msg.data, '\n') == msg.data + msg.len - 1,
	   "one line names the input, the chunk and its offset: %s", msg.data);
	/* the offset is right: the chunk's first row is just after it */
	const char *b = strstr(msg.data, "starts at byte ");
	size_t chunk_at = b ? strtoul(b + 15, NULL, 10) : 0;
	size_t row21 = row_offset(&whole, 21);

	ok(chunk_at > 0 && chunk_at < row21 && row21 - chunk_at < 8, "chunk 4 starts at byte %zu, its first row's text at %zu",
	   chunk_at, row21);

	/* the trailer: every row (all verified), then the error */
	buf_reset(&copy);
	buf_append(&copy, whole.data, whole.len);
	copy.data[copy.len - 3] ^= 0x04;
	put_file(bad, copy.data, copy.len);
	capture_start();
	rd = read_piped(bad);
	capture_end(&msg);
	ok(rd.result == -1 && rd.rows == 50 && rd.equal && strstr(msg.data, "(in the trailer after chunk 8, at byte ") != NULL,
	   "a bit flipped in the trailer: 50 rows, then: %s", msg.data);

	/* the header (chunk 0) */
	buf_reset(&copy);
	buf_append(&copy, whole.data, whole.len);
	copy.data[20] ^= 0x20;
	put_file(bad, copy.data, copy.len);
	capture_start();
	rd = read_piped(bad);
	capture_end(&msg);
	ok(rd.result == -2 && strstr(msg.data, "(in chunk 0, which starts at byte 0 of the stream)") != NULL,
	   "a bit flipped in the header: refused at once: %s", msg.data);

	/* a chunk cut out, two chunks swapped: not taken for whole */
	size_t c2 = row_offset(&whole, 7) - 3, c3 = row_offset(&whole, 14) - 3, c4 = row_offset(&whole, 21) - 3;

	buf_reset(&copy);
	buf_append(&copy, whole.data, c2);
	buf_append(&copy, whole.data + c3, whole.len - c3);
	put_file(bad, copy.data, copy.len);
	rd = read_piped(bad);
	ok(rd.result == -1 && rd.rows == 7 && rd.equal, "a chunk cut out: refused after the chunk before it");
	buf_reset(&copy);
	buf_append(&copy, whole.data, c2);
	buf_append(&copy, whole.data + c3, c4 - c3);
	buf_append(&copy, whole.data + c2, c3 - c2);
	buf_append(&copy, whole.data + c4, whole.len - c4);
	put_file(bad, copy.data, copy.len);
	rd = read_piped(bad);
	ok(rd.result == -1 && rd.rows == 7 && rd.equal, "two chunks swapped: refused after the chunk before them");

	/* a length that claims 1.9 GB: refused, not buffered */
	at = row_offset(&whole, 30) - 1;
	buf_reset(&copy);
	buf_append(&copy, whole.data, whole.len);
	copy.data[at] = (char) 0xdb;            /* str32: its length is "row-" */
	put_file(bad, copy.data, copy.len);
	capture_start();
	rd = read_piped(bad);
	capture_end(&msg);
	ok(rd.result == -1 && rd.rows == 28 && strstr(msg.data, "more than a record may hold") != NULL,
	   "a length claiming 1.9 GB: %s", msg.data);

	/* version 1 */
	buf_reset(&copy);
	buf_append(&copy, whole.data, whole.len);
	char *v = memmem(copy.data, copy.len, "\xa7version\x02", 9);

	if (v)
		v[8] = 1;
	put_file(bad, copy.data, copy.len);
	capture_start();
	rd = read_file(bad);
	capture_end(&msg);
	ok(v && rd.result == -2 && strstr(msg.data, "a version 1 stream, without the chunk checksums") != NULL,
	   "a version 1 stream is refused in one line: %s", msg.data);

	/* zstd: a byte in the middle of the frame; through a pipe whole chunks only, equal */
	char *zpath = tmpfile_path("chunks.zst");
	char *zbad = tmpfile_path("chunks-bad.zst");
	buf z;
	int refused = 0, partial_ok = 0;

	buf_init(&z, 4096);
	ok(write_numbered(zpath, true, 400, 7) && file_bytes(zpath, &z), "a zstd stream of 400 rows in chunks of 7");
	for (size_t off = 20; off < z.len; off += z.len / 9)
	{
		buf_reset(&copy);
		buf_append(&copy, z.data, z.len);
		copy.data[off] ^= 0x08;
		put_file(zbad, copy.data, copy.len);
		rd = read_piped(zbad);
		refused += rd.result != 0;
		partial_ok += rd.equal && rd.rows % 7 == 0;
		rd = read_file(zbad);
		refused += rd.result == -2 && rd.rows == 0;
	}
	ok(refused == 2 * 9 && partial_ok == 9, "a bit flipped at 9 places of a zstd spool: refused as a file "
	   "and through a pipe, which gives whole verified chunks only (%d, %d)", refused, partial_ok);
	buf_free(&z);
	buf_free(&whole);
	buf_free(&copy);
	buf_free(&msg);
}

/* a stream of rows of the given text sizes; returns its chunks (0 on error) */
static uint64_t
chunks_of(const size_t *sizes, int n)
{
	char *path = tmpfile_path("bounds.raw");
	ferry_header h;
	ferry_output *out = out_open(path, false, 0, 0);
	ferry_writer *w = writer_new(out);
	size_t most = 0;

	for (int i = 0; i < n; i++)
		most = sizes[i] > most ? sizes[i] : most;
	char *text = xmalloc(most + 1);

	memset(text, 'x', most);
	header_init(&h);
	header_add_column(&h, "t", "text");
	bool ok = writer_header(w, &h);

	for (int i = 0; i < n && ok; i++)
	{
		ferry_value v = fv_str(text, sizes[i]);

		ok = writer_row(w, &v, 1);
	}
	ok = ok && writer_end(w) && out_commit(out);
	writer_free(w);
	header_free(&h);
	free(text);

	ferry_input *in = in_open(path);
	ferry_reader *r = ok && in ? reader_open(in) : NULL;
	ferry_record rec;
	uint64_t chunks = 0;

	while (r && reader_next(r, &rec) == 1)
		;
	if (r)
		chunks = reader_chunks(r);
	reader_free(r);
	in_close(in);
	return chunks;
}

static void
test_chunk_bounds(void)
{
	size_t sizes[1200];
	uint64_t c;

	for (int i = 0; i < 1200; i++)
		sizes[i] = 10;
	c = chunks_of(sizes, 1200);
	ok(c == 3, "1200 small rows: chunks of %d records, 3 (%" PRIu64 ")", FERRY_CHUNK_RECORDS, c);
	for (int i = 0; i < 10; i++)
		sizes[i] = 300000;
	c = chunks_of(sizes, 10);
	ok(c == 4, "10 rows of 300 kB: 3 a chunk, under %d MB: 4 chunks (%" PRIu64 ")", FERRY_CHUNK_BYTES >> 20, c);
	size_t mixed[] = {10, 10, 2 << 20, 10, 10};

	c = chunks_of(mixed, 5);
	ok(c == 3, "a 2 MB row between small ones is a chunk of its own: 3 chunks (%" PRIu64 ")", c);
}

static void
test_foreign_input(void)
{
	char *p = tmpfile_path("garbage");

	put_file(p, "hello, world\n", 13);
	ok(read_all(p) == -1, "text is not a stream");
	put_file(p, "", 0);
	ok(read_all(p) == -1, "an empty file is not a stream");
	put_file(p, "\x28\xb5\x2f\xfd\x00\x00\x00", 7);
	ok(read_all(p) == -1, "a broken zstd frame is refused");
	/* valid msgpack, wrong header */
	put_file(p, "\x81\xa5" "ferry" "\xa3" "xyz", 11);
	ok(read_all(p) == -1, "a msgpack map that is not a ferry header is refused");
	ok(read_all("/nonexistent/file") == -2, "a missing file is an open error");
}

static void
test_atomic_output(void)
{
	char *p = tmpfile_path("atomic");
	ferry_output *out = out_open(p, true, 1, 0);

	out_write(out, "x", 1);
	ok(access(p, F_OK) != 0, "the final name does not exist while writing");
	out_abort(out);
	ok(access(p, F_OK) != 0, "abort leaves no file");

	DIR *dir = opendir(tmpdir);
	int temporaries = 0;
	struct dirent *e;

	ok(dir != NULL, "the test directory lists");
	while (dir && (e = readdir(dir)) != NULL)
		temporaries += strstr(e->d_name, ".tmp.") != NULL;
	if (dir)
		closedir(dir);
	ok(temporaries == 0, "no temporary file left behind (%d)", temporaries);
	ok(write_file_atomic(p, "abc", 3) && access(p, F_OK) == 0, "commit makes the file appear");
}

static void
test_uuid(void)
{
	static const uint8_t ns_dns[16] = {0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1,
		0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8};
	uint8_t u[16];
	char s[37];

	uuid_v5(ns_dns, "python.org", 10, u);
	uuid_format(u, s);
	ok(strcmp(s, "886313e1-3b8a-5372-9b90-0c9aee199e5d") == 0, "UUIDv5 of python.org in DNS: %s", s);
	uuid_for_key(FERRY_UUID_NAMESPACE, "dispatch_office", "1", 1, s);
	ok(strcmp(s, "909eec96-00d5-5a6e-beec-3627eec4df23") == 0,
	   "ferry's key UUID matches Python's uuid5 of the same name: %s", s);

	uint8_t h[20];

	sha1("abc", 3, h);
	ok(h[0] == 0xa9 && h[1] == 0x99 && h[19] == 0x9d, "SHA-1 of abc");
	char million[1000];

	memset(million, 'a', sizeof million);
	/* a multi-block message: sha1 of 1000 'a' starts with 291e9a6c */
	sha1(million, sizeof million, h);
	ok(h[0] == 0x29 && h[1] == 0x1e && h[2] == 0x9a && h[3] == 0x6c, "SHA-1 over several blocks");
	ok(uuid_parse("886313e1-3b8a-5372-9b90-0c9aee199e5d", u) && u[0] == 0x88 && u[15] == 0x5d,
	   "uuid_parse");
	ok(!uuid_parse("886313e1-3b8a-5372-9b90-0c9aee199e5", u), "uuid_parse refuses a short uuid");
}

int
main(void)
{
	log_init("test_stream");
	log_set_level(0);
	if (mkdtemp(tmpdir) == NULL)
		return 2;
	test_copytext_roundtrip();
	test_stream_roundtrip(false);
	test_stream_roundtrip(true);
	test_chunks();
	test_chunk_bounds();
	test_foreign_input();
	test_atomic_output();
	test_uuid();

	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 2;
	return tap_done();
}
