/*
 * stream.c: the ferry record stream, written and read with msgpack-c.
 *
 * The writer packs each record into a small buffer, folds its bytes into
 * the chunk's and the stream's XXH3 checksums, hands them to the output,
 * and closes the chunk with its check record when it is full.  The reader
 * keeps its own input buffer: it scans a chunk (lengths and checksum,
 * unpacking only maps, to tell records from the chunk's check), verifies
 * it, then unpacks its records one at a time into a reused msgpack zone,
 * so that strings point into the buffer (no copy) and nothing is
 * allocated per record once the buffers have grown.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <xxhash.h>

#include "buf.h"
#include "exitcode.h"
#include "log.h"
#include "stream.h"

/* ---- header ---- */

void
header_init(ferry_header *h)
{
	memset(h, 0, sizeof *h);
}

void
header_free(ferry_header *h)
{
	free(h->entity);
	free(h->run);
	free(h->source);
	free(h->keyspace);
	free(h->uuid_column);
	free(h->order);
	for (int i = 0; i < h->nkey; i++)
		free(h->key[i]);
	free(h->key);
	for (int i = 0; i < h->nskip; i++)
		free(h->skip[i]);
	free(h->skip);
	for (int i = 0; i < h->ncols; i++)
	{
		free(h->cols[i].name);
		free(h->cols[i].type);
	}
	free(h->cols);
	memset(h, 0, sizeof *h);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void
header_copy(ferry_header *dst, const ferry_header *src)
{
	header_init(dst);
	dst->entity = dup_or_null(src->entity);
	dst->run = dup_or_null(src->run);
	dst->source = dup_or_null(src->source);
	dst->keyspace = dup_or_null(src->keyspace);
	dst->uuid_column = dup_or_null(src->uuid_column);
	dst->order = dup_or_null(src->order);
	header_set_key(dst, src->nkey, src->key);
	for (int i = 0; i < src->nskip; i++)
		header_add_skip(dst, src->skip[i]);
	for (int i = 0; i < src->ncols; i++)
		header_add_column(dst, src->cols[i].name, src->cols[i].type);
}

int
header_add_column(ferry_header *h, const char *name, const char *type)
{
	h->cols = xrealloc(h->cols, (size_t) (h->ncols + 1) * sizeof *h->cols);
	h->cols[h->ncols].name = xstrdup(name);
	h->cols[h->ncols].type = xstrdup(type ? type : "text");
	h->cols[h->ncols].kind = kind_of_type(h->cols[h->ncols].type);
	return h->ncols++;
}

int
header_find(const ferry_header *h, const char *name)
{
	for (int i = 0; i < h->ncols; i++)
		if (strcmp(h->cols[i].name, name) == 0)
			return i;
	return -1;
}

void
header_set_key(ferry_header *h, int nkey, char **key)
{
	for (int i = 0; i < h->nkey; i++)
		free(h->key[i]);
	free(h->key);
	h->key = NULL;
	h->nkey = nkey;
	if (nkey > 0)
	{
		h->key = xmalloc((size_t) nkey * sizeof *h->key);
		for (int i = 0; i < nkey; i++)
			h->key[i] = xstrdup(key[i]);
	}
}

void
header_add_skip(ferry_header *h, const char *name)
{
	if (header_is_skip(h, name))
		return;
	h->skip = xrealloc(h->skip, (size_t) (h->nskip + 1) * sizeof *h->skip);
	h->skip[h->nskip++] = xstrdup(name);
}

bool
header_is_skip(const ferry_header *h, const char *name)
{
	for (int i = 0; i < h->nskip; i++)
		if (strcmp(h->skip[i], name) == 0)
			return true;
	return false;
}

/* ---- writer ---- */

struct ferry_writer
{
	ferry_output *out;
	msgpack_packer pk;
	buf rec;                 /* the record being packed */
	msgpack_packer check_pk;
	buf check;               /* a chunk's check record, the trailer */
	XXH3_state_t *hash;      /* every byte written so far (the trailer's) */
	XXH3_state_t *chunk_hash;    /* the bytes of the open chunk's records */
	uint64_t chunk;          /* number of the open chunk (0: the header) */
	uint64_t chunk_records;
	uint64_t chunk_bytes;
	int max_records;
	size_t max_bytes;
	uint64_t rows;
	uint64_t rejects;
	uint64_t notes;
	bool failed;
};

static int
pack_to_buf(void *data, const char *p, size_t n)
{
	buf_append((buf *) data, p, n);
	return 0;
}

ferry_writer *
writer_new(ferry_output *out)
{
	ferry_writer *w = xcalloc(1, sizeof *w);

	w->out = out;
	buf_init(&w->rec, 4096);
	msgpack_packer_init(&w->pk, &w->rec, pack_to_buf);
	buf_init(&w->check, 128);
	msgpack_packer_init(&w->check_pk, &w->check, pack_to_buf);
	w->hash = XXH3_createState();
	w->chunk_hash = XXH3_createState();
	if (w->hash == NULL || w->chunk_hash == NULL)
		die(FERRY_EXIT_INTERNAL, "out of memory");
	XXH3_64bits_reset(w->hash);
	XXH3_64bits_reset(w->chunk_hash);
	w->max_records = FERRY_CHUNK_RECORDS;
	w->max_bytes = FERRY_CHUNK_BYTES;
	return w;
}

void
writer_chunk_limits(ferry_writer *w, int records, size_t bytes)
{
	if (records > 0 && records < FERRY_CHUNK_RECORDS)
		w->max_records = records;
	if (bytes > 0 && bytes < FERRY_CHUNK_BYTES)
		w->max_bytes = bytes;
}

/* write bytes that go into the stream's checksum */
static bool
put_bytes(ferry_writer *w, const char *p, size_t n)
{
	if (w->failed)
		return false;
	XXH3_64bits_update(w->hash, p, n);
	if (!out_write(w->out, p, n))
		w->failed = true;
	return !w->failed;
}

/* the open chunk's check record; the next chunk begins */
static bool
close_chunk(ferry_writer *w)
{
	msgpack_packer *pk = &w->check_pk;

	buf_reset(&w->check);
	msgpack_pack_map(pk, 4);
	msgpack_pack_str_with_body(pk, "chunk", 5);
	msgpack_pack_uint64(pk, w->chunk);
	msgpack_pack_str_with_body(pk, "records", 7);
	msgpack_pack_uint64(pk, w->chunk_records);
	msgpack_pack_str_with_body(pk, "bytes", 5);
	msgpack_pack_uint64(pk, w->chunk_bytes);
	msgpack_pack_str_with_body(pk, "xxh3", 4);
	msgpack_pack_uint64(pk, XXH3_64bits_digest(w->chunk_hash));
	w->chunk++;
	w->chunk_records = 0;
	w->chunk_bytes = 0;
	XXH3_64bits_reset(w->chunk_hash);
	return put_bytes(w, w->check.data, w->check.len);
}

static void
pack_cstr(msgpack_packer *pk, const char *s)
{
	if (s == NULL)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void
pack_value(msgpack_packer *pk, const ferry_value *v)
{
	switch (v->t)
	{
		case FV_NULL:
			msgpack_pack_nil(pk);
			break;
		case FV_BOOL:
			if (v->u.b)
				msgpack_pack_true(pk);
			else
				msgpack_pack_false(pk);
			break;
		case FV_INT:
			msgpack_pack_int64(pk, v->u.i);
			break;
		case FV_FLOAT32:
			msgpack_pack_float(pk, (float) v->u.f);
			break;
		case FV_FLOAT64:
			msgpack_pack_double(pk, v->u.f);
			break;
		case FV_STR:
			msgpack_pack_str_with_body(pk, v->u.s.p, v->u.s.len);
			break;
		case FV_BIN:
			msgpack_pack_bin_with_body(pk, v->u.s.p, v->u.s.len);
			break;
	}
}

/*
 * Send the packed record, in a chunk: one that it would take past the
 * chunk's bytes is closed first, and a full one after it.
 */
static bool
emit_record(ferry_writer *w)
{
	size_t n = w->rec.len;

	if (w->failed)
		return false;
	if (n > FERRY_RECORD_MAX)
	{
		log_error("%s: a record of %zu bytes: more than a stream record may hold (%d MB)",
				  out_name(w->out), n, FERRY_RECORD_MAX >> 20);
		w->failed = true;
		return false;
	}
	if (w->chunk_records > 0 && w->chunk_bytes + n > w->max_bytes && !close_chunk(w))
		return false;
	XXH3_64bits_update(w->chunk_hash, w->rec.data, n);
	w->chunk_records++;
	w->chunk_bytes += n;
	bool ok = put_bytes(w, w->rec.data, n);

	buf_reset(&w->rec);
	if (ok && (w->chunk_records >= (uint64_t) w->max_records || w->chunk_bytes >= w->max_bytes))
		ok = close_chunk(w);
	return ok;
}

bool
writer_header(ferry_writer *w, const ferry_header *h)
{
	msgpack_packer *pk = &w->pk;
	int n = 4;

	if (h->entity) n++;
	if (h->run) n++;
	if (h->source) n++;
	if (h->keyspace) n++;
	if (h->uuid_column) n++;
	if (h->order) n++;
	if (h->nkey) n++;
	if (h->nskip) n++;
	msgpack_pack_map(pk, (size_t) n);
	pack_cstr(pk, "ferry");
	pack_cstr(pk, FERRY_STREAM_FORMAT);
	pack_cstr(pk, "version");
	msgpack_pack_int(pk, FERRY_STREAM_VERSION);
#define OPT(k, v) if (v) { pack_cstr(pk, k); pack_cstr(pk, v); }
	OPT("entity", h->entity);
	OPT("run", h->run);
	OPT("source", h->source);
	OPT("keyspace", h->keyspace);
	OPT("uuid", h->uuid_column);
	OPT("order", h->order);
#undef OPT
	if (h->nkey)
	{
		pack_cstr(pk, "key");
		msgpack_pack_array(pk, (size_t) h->nkey);
		for (int i = 0; i < h->nkey; i++)
			pack_cstr(pk, h->key[i]);
	}
	if (h->nskip)
	{
		pack_cstr(pk, "skip");
		msgpack_pack_array(pk, (size_t) h->nskip);
		for (int i = 0; i < h->nskip; i++)
			pack_cstr(pk, h->skip[i]);
	}
	pack_cstr(pk, "columns");
	msgpack_pack_array(pk, (size_t) h->ncols);
	for (int i = 0; i < h->ncols; i++)
	{
		msgpack_pack_array(pk, 2);
		pack_cstr(pk, h->cols[i].name);
		pack_cstr(pk, h->cols[i].type);
	}
	pack_cstr(pk, "created");
	pack_cstr(pk, "ferry");
	/* chunk 0: the header, checked like a chunk of records */
	XXH3_64bits_update(w->chunk_hash, w->rec.data, w->rec.len);
	w->chunk_bytes = w->rec.len;
	bool ok = put_bytes(w, w->rec.data, w->rec.len);

	buf_reset(&w->rec);
	return ok && close_chunk(w);
}

bool
writer_row(ferry_writer *w, const ferry_value *vals, int n)
{
	msgpack_pack_array(&w->pk, (size_t) n);
	for (int i = 0; i < n; i++)
		pack_value(&w->pk, &vals[i]);
	w->rows++;
	return emit_record(w);
}

static void
pack_event(ferry_writer *w, const char *kind, const char *reason, const char *detail,
		   const char *stage, const char *key, const ferry_value *row, int n)
{
	msgpack_packer *pk = &w->pk;

	msgpack_pack_map(pk, row ? 5 : 4);
	pack_cstr(pk, kind);
	pack_cstr(pk, reason);
	pack_cstr(pk, "detail");
	pack_cstr(pk, detail);
	pack_cstr(pk, "stage");
	pack_cstr(pk, stage);
	pack_cstr(pk, "key");
	pack_cstr(pk, key);
	if (row)
	{
		pack_cstr(pk, "row");
		msgpack_pack_array(pk, (size_t) n);
		for (int i = 0; i < n; i++)
			pack_value(pk, &row[i]);
	}
}

bool
writer_reject(ferry_writer *w, const char *reason, const char *detail,
			  const char *stage, const char *key, const ferry_value *row, int n)
{
	pack_event(w, "reject", reason, detail, stage, key, row, n);
	w->rejects++;
	return emit_record(w);
}

bool
writer_note(ferry_writer *w, const char *reason, const char *detail,
			const char *stage, const char *key)
{
	pack_event(w, "note", reason, detail, stage, key, NULL, 0);
	w->notes++;
	return emit_record(w);
}

bool
writer_end(ferry_writer *w)
{
	msgpack_packer *pk = &w->check_pk;

	if (w->chunk_records > 0 && !close_chunk(w))
		return false;
	buf_reset(&w->check);
	msgpack_pack_map(pk, 6);
	pack_cstr(pk, "end");
	msgpack_pack_true(pk);
	pack_cstr(pk, "rows");
	msgpack_pack_uint64(pk, w->rows);
	pack_cstr(pk, "rejects");
	msgpack_pack_uint64(pk, w->rejects);
	pack_cstr(pk, "notes");
	msgpack_pack_uint64(pk, w->notes);
	pack_cstr(pk, "chunks");
	msgpack_pack_uint64(pk, w->chunk - 1);
	pack_cstr(pk, "xxh3");
	msgpack_pack_uint64(pk, XXH3_64bits_digest(w->hash));
	if (w->failed || !out_write(w->out, w->check.data, w->check.len))
		return false;
	return out_flush(w->out);
}

uint64_t writer_rows(const ferry_writer *w) { return w->rows; }
uint64_t writer_rejects(const ferry_writer *w) { return w->rejects; }
uint64_t writer_notes(const ferry_writer *w) { return w->notes; }

void
writer_free(ferry_writer *w)
{
	if (w == NULL)
		return;
	buf_free(&w->rec);
	buf_free(&w->check);
	XXH3_freeState(w->hash);
	XXH3_freeState(w->chunk_hash);
	free(w);
}

/* ---- reader ---- */

/* the fuzzing build (make fuzzers) makes it tiny, to reach buffer growth */
#ifndef READ_CHUNK
#define READ_CHUNK (1 << 20)
#endif

/*
 * At most this much per read: a zstd spool decodes as much as a read asks
 * for, and a damaged block is found when it is decoded: so it is found
 * while its own chunk (within a block of 128 kB) is being read.
 */
#define READ_MAX (READ_CHUNK / 8)

/* a chunk's check record and the trailer take fewer bytes than this */
#define CHECK_MAX 128

struct ferry_reader
{
	ferry_input *in;
	char *data;              /* input buffer */
	size_t cap;
	size_t pos;              /* the next object not yet scanned */
	size_t end;              /* end of the bytes read */
	uint64_t base;           /* offset in the stream of data[0] */
	bool eof;
	bool ended;              /* trailer seen and verified */
	bool failed;             /* an error was reported */
	msgpack_zone zone;
	ferry_header header;
	ferry_value *vals;
	int valcap;
	buf strs;                /* NUL-terminated copies for reject/note fields */
	XXH3_state_t *hash;      /* every byte before the trailer */
	XXH3_state_t *chunk_hash;
	/* the chunk being scanned, not verified yet: nothing of it is handed out */
	uint64_t chunk;          /* its number (0: the header) */
	size_t chunk_start;      /* where it starts in data; bytes before it may go */
	uint64_t chunk_records;
	uint64_t chunk_bytes;
	uint64_t chunk_rows, chunk_rejects, chunk_notes;
	/* the records of the chunks verified so far */
	uint64_t checked_rows, checked_rejects, checked_notes;
	/* the verified chunk being handed out: its records are data[out, out_end) */
	size_t out;
	size_t out_end;
	uint64_t out_chunk;
	uint64_t out_offset;     /* where it starts in the stream */
	uint64_t trailer_at;     /* where the trailer starts in the stream */
	uint64_t records;        /* handed out */
	uint64_t rows;
	uint64_t rejects;
	uint64_t notes;
};

/* where an error is: in the chunk being scanned, the one handed out, the trailer */
enum { IN_CHUNK, IN_HANDED, IN_TRAILER };

/*
 * One line: the input, what is wrong, and where: the chunk and the byte
 * of the stream (after decompression, for a spool file) where it starts.
 */
static void __attribute__((format(printf, 3, 4)))
stream_fail(ferry_reader *r, int where, const char *fmt, ...)
{
	const char *z = in_is_compressed(r->in) ? "decompressed " : "";
	va_list ap;
	buf msg;

	buf_init(&msg, 128);
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	/* an input error once the trailer is read: after the trailer, not in a chunk */
	if (where == IN_TRAILER || (where == IN_CHUNK && r->trailer_at > 0))
		log_error("%s: %s (in the trailer after chunk %" PRIu64 ", at byte %" PRIu64 " of the %sstream)",
				  in_name(r->in), buf_cstr(&msg), r->chunk - 1, r->trailer_at, z);
	else if (where == IN_HANDED)
		log_error("%s: %s (in chunk %" PRIu64 ", which starts at byte %" PRIu64 " of the %sstream)",
				  in_name(r->in), buf_cstr(&msg), r->out_chunk, r->out_offset, z);
	else
		log_error("%s: %s (in chunk %" PRIu64 ", which starts at byte %" PRIu64 " of the %sstream)",
				  in_name(r->in), buf_cstr(&msg), r->chunk, r->base + r->chunk_start, z);
	buf_free(&msg);
}

/*
 * Read more input into the buffer, keeping the chunk being scanned (its
 * records are handed out only once it is verified); false on error
 * (logged) or end of input.
 */
static bool
read_more(ferry_reader *r)
{
	if (r->eof)
		return false;
	if (r->chunk_start > 0)
	{
		size_t gone = r->chunk_start;

		memmove(r->data, r->data + gone, r->end - gone);
		r->end -= gone;
		r->pos -= gone;
		r->chunk_start = 0;
		r->base += gone;
	}
	if (r->cap - r->end < READ_CHUNK / 2)
	{
		r->cap = r->cap * 2;
		r->data = xrealloc(r->data, r->cap);
	}
	size_t room = r->cap - r->end;
	ssize_t n = in_read(r->in, r->data + r->end, room < READ_MAX ? room : READ_MAX);

	if (n < 0)
	{
		stream_fail(r, IN_CHUNK, "%s", in_error(r->in));
		return false;
	}
	if (n == 0)
	{
		r->eof = true;
		return false;
	}
	r->end += (size_t) n;
	return true;
}

/*
 * Containers nest at most this deep in a record.  A ferry record nests
 * three deep at most (the header's columns: map > array > [name, type]).
 * msgpack_unpack() gives up on nesting deeper than its own limit
 * (MSGPACK_EMBED_STACK_SIZE, 32) with MSGPACK_UNPACK_NOMEM_ERROR, the
 * code of a failed allocation, on which next_object() dies with exit 1:
 * garbage nesting deeper than this is refused before, as a bad stream
 * (found by tests/fuzz/fuzz_stream).
 */
#define OBJECT_MAX_DEPTH 8

/*
 * Length of the msgpack object at p[0..n), found without allocating
 * anything: 1 with *len set when the whole object is there, 0 when more
 * bytes are needed (*need: how many the object takes at least, from the
 * lengths read so far), -1 when the bytes are not msgpack, -2 when they
 * nest deeper than OBJECT_MAX_DEPTH.
 *
 * msgpack_unpack() allocates room for every element of a container as
 * soon as it reads the container's header, so garbage input that looks
 * like an array or map header claiming billions of elements would make
 * it allocate tens of gigabytes before finding out.  Scanning first keeps
 * the allocation proportional to bytes actually read.
 */
static int
object_length(const unsigned char *p, size_t n, size_t *len, uint64_t *need)
{
	uint64_t pending = 1;       /* objects still to read */
	uint64_t left[OBJECT_MAX_DEPTH + 1];    /* of them, in each open container */
	int depth = 0;              /* containers open (left[0]: the object itself) */
	size_t i = 0;

	left[0] = 1;
	while (pending > 0)
	{
		if (i >= n)
		{
			*need = (uint64_t) i + pending;
			return 0;
		}

		unsigned c = p[i];
		int szlen = 0;          /* bytes of the length field after the type byte */
		uint64_t fixed = 0;     /* payload bytes besides a length-given payload */
		uint64_t size = 0;      /* a container's elements (pairs for a map) */
		enum { SCALAR, BYTES, ARRAY, MAP } what = SCALAR;

		pending--;
		left[depth]--;
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
			;                   /* fixint, nil, bool: the type byte is all */
		else if (c <= 0x8f)
		{
			size = c & 0x0f;
			what = MAP;
		}
		else if (c <= 0x9f)
		{
			size = c & 0x0f;
			what = ARRAY;
		}
		else if (c <= 0xbf)
			fixed = c & 0x1f;
		else
			switch (c)
			{
				case 0xc4: case 0xd9: szlen = 1; what = BYTES; break;
				case 0xc5: case 0xda: szlen = 2; what = BYTES; break;
				case 0xc6: case 0xdb: szlen = 4; what = BYTES; break;
				case 0xc7: szlen = 1; fixed = 1; what = BYTES; break;
				case 0xc8: szlen = 2; fixed = 1; what = BYTES; break;
				case 0xc9: szlen = 4; fixed = 1; what = BYTES; break;
				case 0xca: fixed = 4; break;
				case 0xcb: fixed = 8; break;
				case 0xcc: case 0xd0: fixed = 1; break;
				case 0xcd: case 0xd1: fixed = 2; break;
				case 0xce: case 0xd2: fixed = 4; break;
				case 0xcf: case 0xd3: fixed = 8; break;
				case 0xd4: fixed = 2; break;
				case 0xd5: fixed = 3; break;
				case 0xd6: fixed = 5; break;
				case 0xd7: fixed = 9; break;
				case 0xd8: fixed = 17; break;
				case 0xdc: szlen = 2; what = ARRAY; break;
				case 0xdd: szlen = 4; what = ARRAY; break;
				case 0xde: szlen = 2; what = MAP; break;
				case 0xdf: szlen = 4; what = MAP; break;
				default: return -1;     /* 0xc1: never used */
			}
		if (n - i < (size_t) 1 + (size_t) szlen)
		{
			*need = (uint64_t) i + 1 + (uint64_t) szlen + pending;
			return 0;
		}

		for (int k = 0; k < szlen; k++)
			size = size << 8 | p[i + 1 + k];
		i += 1 + (size_t) szlen;
		if (what == BYTES)
			fixed += size;
		else if (what == ARRAY || what == MAP)
		{
			uint64_t count = what == MAP ? 2 * size : size;

			/* msgpack_unpack() counts an empty container too */
			if (depth == OBJECT_MAX_DEPTH)
				return -2;
			pending += count;
			if (count > 0)
				left[++depth] = count;
		}
		while (depth > 0 && left[depth] == 0)
			depth--;
		if (n - i < fixed)
		{
			*need = (uint64_t) i + fixed + pending;
			return 0;
		}
		i += (size_t) fixed;
		/* every object takes a byte at least: more than the bytes left can't be here yet */
		if (pending > n - i)
		{
			*need = (uint64_t) i + pending;
			return 0;
		}
	}
	*len = i;
	return 1;
}

/* records scanned so far: those handed out or to be, and the open chunk's */
static uint64_t
scanned(const ferry_reader *r)
{
	return r->checked_rows + r->checked_rejects + r->checked_notes + r->chunk_records;
}

/*
 * The next whole object at r->pos, reading more input as needed, its
 * length in *len: 1; 0: clean end of input before any byte of a new
 * object; -1: error (logged).  An object that claims more bytes than a
 * record may hold, or than its chunk may hold, is refused before the
 * reader buffers them.
 */
static int
next_raw(ferry_reader *r, size_t *len)
{
	for (;;)
	{
		if (r->pos < r->end)
		{
			uint64_t need = 0;
			int whole = object_length((const unsigned char *) r->data + r->pos,
									  r->end - r->pos, len, &need);

			if (whole < 0)
			{
				stream_fail(r, IN_CHUNK, "not a ferry stream (%s after %" PRIu64 " records)",
							whole == -2 ? "msgpack nested too deep" : "invalid msgpack", scanned(r));
				return -1;
			}
			if (whole > 0)
				return 1;
			if (need > FERRY_RECORD_MAX)
			{
				stream_fail(r, IN_CHUNK, "a record claims %" PRIu64 " bytes or more, more than a record "
							"may hold (%d MB): the stream is corrupt", need, FERRY_RECORD_MAX >> 20);
				return -1;
			}
			/* a record after another may not take a chunk past its bytes */
			if (r->chunk_records > 0 && need > CHECK_MAX && r->chunk_bytes + need > FERRY_CHUNK_BYTES)
			{
				stream_fail(r, IN_CHUNK, "a record claims %" PRIu64 " bytes or more, more than its chunk "
							"may hold (%d MB): the stream is corrupt", need, FERRY_CHUNK_BYTES >> 20);
				return -1;
			}
		}
		bool had_partial = r->pos < r->end;

		if (!read_more(r))
		{
			if (!r->eof)
				return -1;
			if (had_partial)
			{
				stream_fail(r, IN_CHUNK, "truncated stream (ends in the middle of a record after %"
							PRIu64 " records)", scanned(r));
				return -1;
			}
			return 0;
		}
	}
}

/* unpack the whole object data[at, at + len) into the reader's zone */
static bool
unpack_at(ferry_reader *r, size_t at, size_t len, msgpack_object *o, int where)
{
	size_t off = 0;

	msgpack_zone_clear(&r->zone);
	msgpack_unpack_return ret = msgpack_unpack(r->data + at, len, &off, &r->zone, o);

	if (ret == MSGPACK_UNPACK_SUCCESS || ret == MSGPACK_UNPACK_EXTRA_BYTES)
		return true;
	if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
		die(FERRY_EXIT_INTERNAL, "out of memory reading %s", in_name(r->in));
	stream_fail(r, where, "not a ferry stream (invalid msgpack after %" PRIu64 " records)", scanned(r));
	return false;
}

static bool
is_map_byte(unsigned char c)
{
	return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf;
}

static bool
is_array_byte(unsigned char c)
{
	return (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd;
}

static bool
obj_is_str(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);

	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
		memcmp(o->via.str.ptr, s, n) == 0;
}

/*
 * The bytes of a str or bin object.  msgpack-c may give an empty string
 * a NULL pointer (a fixstr "" before any object with a length in the
 * record, as in the row [1, ""]); a value or a copy never carries one,
 * since even NULL + 0 and memcpy(d, NULL, 0) are undefined (clang's UBSan
 * stopped COPY TEXT escaping there: found by tests/fuzz/fuzz_stream).
 */
static const char *
obj_bytes(const char *ptr)
{
	return ptr ? ptr : "";
}

static char *
obj_strdup(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return NULL;
	return xstrndup(obj_bytes(o->via.str.ptr), o->via.str.size);
}

static const msgpack_object *
map_get(const msgpack_object *map, const char *key)
{
	for (uint32_t i = 0; i < map->via.map.size; i++)
		if (obj_is_str(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	return NULL;
}

/* a field of a check record or trailer: an unsigned integer */
static bool
get_u64(const msgpack_object *map, const char *key, uint64_t *v)
{
	const msgpack_object *o = map_get(map, key);

	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return false;
	*v = o->via.u64;
	return true;
}

/* a chunk's check record against what was scanned of it */
static bool
check_chunk(ferry_reader *r, const msgpack_object *o)
{
	uint64_t number, records, bytes, sum;

	if (!get_u64(o, "chunk", &number) || !get_u64(o, "records", &records) ||
		!get_u64(o, "bytes", &bytes) || !get_u64(o, "xxh3", &sum))
	{
		stream_fail(r, IN_CHUNK, "malformed chunk check: the stream is corrupt");
		return false;
	}
	if (number != r->chunk)
	{
		stream_fail(r, IN_CHUNK, "the check of chunk %" PRIu64 " where chunk %" PRIu64
					" ends: chunks are missing or out of order", number, r->chunk);
		return false;
	}
	if (records != r->chunk_records || bytes != r->chunk_bytes)
	{
		stream_fail(r, IN_CHUNK, "chunk size mismatch: its check says %" PRIu64 " records in %" PRIu64
					" bytes, the chunk has %" PRIu64 " in %" PRIu64 ": the stream is corrupt",
					records, bytes, r->chunk_records, r->chunk_bytes);
		return false;
	}
	if (r->chunk > 0 && records == 0)
	{
		stream_fail(r, IN_CHUNK, "an empty chunk: the stream is corrupt");
		return false;
	}
	if (sum != XXH3_64bits_digest(r->chunk_hash))
	{
		stream_fail(r, IN_CHUNK, "checksum mismatch: the stream is corrupt");
		return false;
	}
	return true;
}

static bool
check_trailer(ferry_reader *r, const msgpack_object *o)
{
	const msgpack_object *end = map_get(o, "end");
	uint64_t rows, rejects, notes, chunks, sum;

	if (!get_u64(o, "rows", &rows) || !get_u64(o, "rejects", &rejects) ||
		!get_u64(o, "notes", &notes) || !get_u64(o, "chunks", &chunks) ||
		!get_u64(o, "xxh3", &sum) || end->type != MSGPACK_OBJECT_BOOLEAN || !end->via.boolean)
	{
		stream_fail(r, IN_TRAILER, "malformed stream trailer");
		return false;
	}
	if (rows != r->checked_rows || rejects != r->checked_rejects || notes != r->checked_notes)
	{
		stream_fail(r, IN_TRAILER, "record count mismatch: the trailer says %" PRIu64 " rows, %" PRIu64
					" rejects, %" PRIu64 " notes; the stream has %" PRIu64 ", %" PRIu64 ", %" PRIu64,
					rows, rejects, notes, r->checked_rows, r->checked_rejects, r->checked_notes);
		return false;
	}
	if (chunks != r->chunk - 1)
	{
		stream_fail(r, IN_TRAILER, "chunk count mismatch: the trailer says %" PRIu64
					" chunks, the stream has %" PRIu64, chunks, r->chunk - 1);
		return false;
	}
	if (sum != XXH3_64bits_digest(r->hash))
	{
		stream_fail(r, IN_TRAILER, "checksum mismatch: the stream is corrupt");
		return false;
	}
	return true;
}

/* a new chunk begins at r->pos */
static void
chunk_begin(ferry_reader *r)
{
	r->chunk_start = r->pos;
	r->chunk_records = r->chunk_bytes = 0;
	r->chunk_rows = r->chunk_rejects = r->chunk_notes = 0;
	XXH3_64bits_reset(r->chunk_hash);
}

/*
 * Scan the next chunk to its check record and verify it: 1, its records
 * are data[r->out, r->out_end); 0: the trailer, verified, and nothing
 * after it; -1: error (logged).
 */
static int
scan_chunk(ferry_reader *r)
{
	msgpack_object o;
	size_t len;

	r->out = r->out_end = 0;
	chunk_begin(r);
	for (;;)
	{
		int got = next_raw(r, &len);

		if (got < 0)
			return -1;
		if (got == 0)
		{
			stream_fail(r, IN_CHUNK, "truncated stream: input ended after %" PRIu64
						" records without the end-of-stream trailer", scanned(r));
			return -1;
		}

		const char *p = r->data + r->pos;
		unsigned char first = (unsigned char) p[0];
		enum { ROW, REJECT, NOTE, CHECK, TRAILER } kind;

		if (is_array_byte(first))
			kind = ROW;
		else if (is_map_byte(first))
		{
			if (!unpack_at(r, r->pos, len, &o, IN_CHUNK))
				return -1;
			if (map_get(&o, "reject"))
				kind = REJECT;
			else if (map_get(&o, "note"))
				kind = NOTE;
			else if (map_get(&o, "chunk"))
				kind = CHECK;
			else if (map_get(&o, "end"))
				kind = TRAILER;
			else
				goto unknown;
		}
		else
			goto unknown;

		if (kind == CHECK)
		{
			if (!check_chunk(r, &o))
				return -1;
			XXH3_64bits_update(r->hash, p, len);
			r->out = r->chunk_start;
			r->out_end = r->pos;
			r->out_chunk = r->chunk;
			r->out_offset = r->base + r->chunk_start;
			r->checked_rows += r->chunk_rows;
			r->checked_rejects += r->chunk_rejects;
			r->checked_notes += r->chunk_notes;
			r->chunk++;
			r->pos += len;
			return 1;
		}
		if (kind == TRAILER)
		{
			size_t extra;

			r->trailer_at = r->base + r->pos;
			if (r->chunk_records > 0)
			{
				stream_fail(r, IN_CHUNK, "the last chunk has no check: the stream is cut or corrupt");
				return -1;
			}
			if (!check_trailer(r, &o))
				return -1;
			r->pos += len;
			/* nothing may follow the trailer */
			got = next_raw(r, &extra);
			if (got > 0)
				stream_fail(r, IN_TRAILER, "unexpected data after the end of the stream");
			return got == 0 ? 0 : -1;
		}
		/* a record of the chunk */
		if (r->chunk_records >= FERRY_CHUNK_RECORDS ||
			(r->chunk_records > 0 && r->chunk_bytes + len > FERRY_CHUNK_BYTES))
		{
			stream_fail(r, IN_CHUNK, "more records than a chunk may hold (%d, or %d MB): "
						"the stream is corrupt", FERRY_CHUNK_RECORDS, FERRY_CHUNK_BYTES >> 20);
			return -1;
		}
		XXH3_64bits_update(r->chunk_hash, p, len);
		XXH3_64bits_update(r->hash, p, len);
		r->chunk_records++;
		r->chunk_bytes += len;
		r->chunk_rows += kind == ROW;
		r->chunk_rejects += kind == REJECT;
		r->chunk_notes += kind == NOTE;
		r->pos += len;
		continue;
unknown:
		stream_fail(r, IN_CHUNK, "record %" PRIu64 " is not a row, reject, note, chunk check or trailer",
					scanned(r) + 1);
		return -1;
	}
}

/* the header's fields, once its check (chunk 0) is verified */
static bool
parse_header(ferry_reader *r, const msgpack_object *o)
{
	ferry_header *h = &r->header;
	const msgpack_object *v;

	h->entity = (v = map_get(o, "entity")) ? obj_strdup(v) : NULL;
	h->run = (v = map_get(o, "run")) ? obj_strdup(v) : NULL;
	h->source = (v = map_get(o, "source")) ? obj_strdup(v) : NULL;
	h->keyspace = (v = map_get(o, "keyspace")) ? obj_strdup(v) : NULL;
	h->uuid_column = (v = map_get(o, "uuid")) ? obj_strdup(v) : NULL;
	h->order = (v = map_get(o, "order")) ? obj_strdup(v) : NULL;
	if ((v = map_get(o, "key")) != NULL && v->type == MSGPACK_OBJECT_ARRAY)
	{
		h->nkey = (int) v->via.array.size;
		h->key = xcalloc((size_t) h->nkey, sizeof *h->key);
		for (int i = 0; i < h->nkey; i++)
			if ((h->key[i] = obj_strdup(&v->via.array.ptr[i])) == NULL)
				goto bad;
	}
	if ((v = map_get(o, "skip")) != NULL && v->type == MSGPACK_OBJECT_ARRAY)
	{
		for (uint32_t i = 0; i < v->via.array.size; i++)
		{
			char *name = obj_strdup(&v->via.array.ptr[i]);

			if (name == NULL)
				goto bad;
			header_add_skip(h, name);
			free(name);
		}
	}
	v = map_get(o, "columns");
	if (v == NULL || v->type != MSGPACK_OBJECT_ARRAY)
		goto bad;
	for (uint32_t i = 0; i < v->via.array.size; i++)
	{
		const msgpack_object *c = &v->via.array.ptr[i];

		if (c->type != MSGPACK_OBJECT_ARRAY || c->via.array.size != 2 ||
			c->via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
			c->via.array.ptr[1].type != MSGPACK_OBJECT_STR)
			goto bad;
		char *name = obj_strdup(&c->via.array.ptr[0]);
		char *type = obj_strdup(&c->via.array.ptr[1]);

		header_add_column(h, name, type);
		free(name);
		free(type);
	}
	return true;
bad:
	stream_fail(r, IN_CHUNK, "malformed ferry stream header");
	return false;
}

/*
 * The header, then its check (chunk 0), then its fields: a header is
 * believed only once verified.  NULL on error (logged).
 */
static ferry_reader *
reader_start(ferry_input *in)
{
	ferry_reader *r = xcalloc(1, sizeof *r);
	msgpack_object o;
	const msgpack_object *v;
	size_t hlen, clen;
	int got;

	r->in = in;
	r->cap = 2 * READ_CHUNK;
	r->data = xmalloc(r->cap);
	msgpack_zone_init(&r->zone, 64 * 1024);
	buf_init(&r->strs, 256);
	r->hash = XXH3_createState();
	r->chunk_hash = XXH3_createState();
	if (r->hash == NULL || r->chunk_hash == NULL)
		die(FERRY_EXIT_INTERNAL, "out of memory");
	XXH3_64bits_reset(r->hash);
	header_init(&r->header);
	chunk_begin(r);

	/* a header is a map: anything else is not a stream, whatever follows */
	if (!read_more(r) && !r->eof)
		goto fail;
	if (r->end == 0)
	{
		log_error("%s: empty input (expected a ferry stream)", in_name(in));
		goto fail;
	}
	if (!is_map_byte((unsigned char) r->data[0]))
	{
		stream_fail(r, IN_CHUNK, "not a ferry stream (no stream header)");
		goto fail;
	}
	if ((got = next_raw(r, &hlen)) <= 0 || !unpack_at(r, 0, hlen, &o, IN_CHUNK))
		goto fail;
	if ((v = map_get(&o, "ferry")) == NULL || !obj_is_str(v, FERRY_STREAM_FORMAT))
	{
		stream_fail(r, IN_CHUNK, "not a ferry stream (no stream header)");
		goto fail;
	}
	v = map_get(&o, "version");
	if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == 1)
	{
		stream_fail(r, IN_CHUNK, "a version 1 stream, without the chunk checksums this program "
					"needs (it reads version %d): write it again with this ferry", FERRY_STREAM_VERSION);
		goto fail;
	}
	if (v == NULL || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != FERRY_STREAM_VERSION)
	{
		stream_fail(r, IN_CHUNK, "unsupported ferry stream version (this program reads version %d)",
					FERRY_STREAM_VERSION);
		goto fail;
	}
	XXH3_64bits_update(r->chunk_hash, r->data, hlen);
	XXH3_64bits_update(r->hash, r->data, hlen);
	r->chunk_bytes = hlen;
	r->pos = hlen;

	/* chunk 0: the header's check (the header stays in data[0, hlen): chunk_start is 0) */
	got = next_raw(r, &clen);
	if (got == 0)
		stream_fail(r, IN_CHUNK, "truncated stream: input ended after the header, before its check");
	if (got <= 0)
		goto fail;
	if (!is_map_byte((unsigned char) r->data[r->pos]))
	{
		stream_fail(r, IN_CHUNK, "the header is not followed by its check (chunk 0): the stream is corrupt");
		goto fail;
	}
	if (!unpack_at(r, r->pos, clen, &o, IN_CHUNK))
		goto fail;
	if (map_get(&o, "chunk") == NULL)
	{
		stream_fail(r, IN_CHUNK, "the header is not followed by its check (chunk 0): the stream is corrupt");
		goto fail;
	}
	if (!check_chunk(r, &o))
		goto fail;
	XXH3_64bits_update(r->hash, r->data + r->pos, clen);
	if (!unpack_at(r, 0, hlen, &o, IN_CHUNK) || !parse_header(r, &o))
		goto fail;
	r->pos += clen;
	r->chunk = 1;
	chunk_begin(r);
	r->valcap = r->header.ncols > 0 ? r->header.ncols : 1;
	r->vals = xcalloc((size_t) r->valcap, sizeof *r->vals);
	return r;
fail:
	reader_free(r);
	return NULL;
}

ferry_reader *
reader_open(ferry_input *in)
{
	if (in_rewindable(in))
	{
		/* a file: verified whole before any record is handed out */
		uint64_t bytes_in = io_bytes_in;
		ferry_reader *check = reader_start(in);
		ferry_record rec;
		int got;

		if (check == NULL)
			return NULL;
		while ((got = reader_next(check, &rec)) == 1)
			;
		reader_free(check);
		/* the bytes of the stream are counted once */
		io_bytes_in = bytes_in;
		if (got < 0 || !in_rewind(in))
			return NULL;
	}
	return reader_start(in);
}

const ferry_header *
reader_header(const ferry_reader *r)
{
	return &r->header;
}

/* "entity \"E\" of run \"R\"", with the parts that are there */
static void
origin(buf *b, const char *entity, const char *run)
{
	if (entity)
		buf_printf(b, "entity \"%s\"", entity);
	if (run)
		buf_printf(b, "%srun \"%s\"", entity ? " of " : "", run);
	if (!entity && !run)
		buf_puts(b, "no entity nor run");
}

bool
reader_expect(const ferry_reader *r, const char *entity, const char *run)
{
	const ferry_header *h = &r->header;
	bool entity_ok = entity == NULL || h->entity == NULL || strcmp(entity, h->entity) == 0;
	bool run_ok = run == NULL || h->run == NULL || strcmp(run, h->run) == 0;

	if (entity_ok && run_ok)
		return true;

	buf held, wanted;

	buf_init(&held, 64);
	buf_init(&wanted, 64);
	origin(&held, h->entity, h->run);
	origin(&wanted, entity, run);
	log_error("%s: the stream holds %s, not %s", in_name(r->in), buf_cstr(&held), buf_cstr(&wanted));
	buf_free(&held);
	buf_free(&wanted);
	return false;
}

static bool
to_value(const msgpack_object *o, ferry_value *v)
{
	switch (o->type)
	{
		case MSGPACK_OBJECT_NIL:
			v->t = FV_NULL;
			return true;
		case MSGPACK_OBJECT_BOOLEAN:
			*v = fv_bool(o->via.boolean);
			return true;
		case MSGPACK_OBJECT_POSITIVE_INTEGER:
			if (o->via.u64 > (uint64_t) INT64_MAX)
				return false;
			*v = fv_int((int64_t) o->via.u64);
			return true;
		case MSGPACK_OBJECT_NEGATIVE_INTEGER:
			*v = fv_int(o->via.i64);
			return true;
		case MSGPACK_OBJECT_FLOAT32:
			v->t = FV_FLOAT32;
			v->u.f = o->via.f64;
			return true;
		case MSGPACK_OBJECT_FLOAT64:
			v->t = FV_FLOAT64;
			v->u.f = o->via.f64;
			return true;
		case MSGPACK_OBJECT_STR:
			*v = fv_str(obj_bytes(o->via.str.ptr), o->via.str.size);
			return true;
		case MSGPACK_OBJECT_BIN:
			v->t = FV_BIN;
			v->u.s.p = obj_bytes(o->via.bin.ptr);
			v->u.s.len = o->via.bin.size;
			return true;
		default:
			return false;
	}
}

static bool
to_values(ferry_reader *r, const msgpack_object *arr, ferry_record *rec)
{
	uint32_t n = arr->via.array.size;

	if ((int) n > r->valcap)
	{
		r->valcap = (int) n;
		r->vals = xrealloc(r->vals, n * sizeof *r->vals);
	}
	for (uint32_t i = 0; i < n; i++)
		if (!to_value(&arr->via.array.ptr[i], &r->vals[i]))
		{
			stream_fail(r, IN_HANDED, "record %" PRIu64 ": value %u has a type ferry streams do not use",
						r->records, i + 1);
			return false;
		}
	rec->vals = r->vals;
	rec->nvals = (int) n;
	return true;
}

/* NUL-terminated copies of a reject/note's string fields, in r->strs */
static void
event_strings(ferry_reader *r, const msgpack_object *o, const char *kind, ferry_record *rec)
{
	const char *keys[4] = {kind, "detail", "stage", "key"};
	size_t offs[4];
	bool present[4];

	buf_reset(&r->strs);
	for (int i = 0; i < 4; i++)
	{
		const msgpack_object *v = map_get(o, keys[i]);

		present[i] = v && v->type == MSGPACK_OBJECT_STR;
		offs[i] = r->strs.len;
		if (present[i])
			buf_append(&r->strs, v->via.str.ptr, v->via.str.size);
		buf_putc(&r->strs, '\0');
	}
	rec->reason = present[0] ? r->strs.data + offs[0] : "";
	rec->detail = present[1] ? r->strs.data + offs[1] : NULL;
	rec->stage = present[2] ? r->strs.data + offs[2] : NULL;
	rec->key = present[3] ? r->strs.data + offs[3] : NULL;
}

/* the next record of the verified chunk being handed out */
static int
hand_out(ferry_reader *r, ferry_record *rec)
{
	msgpack_object o;
	size_t len = 0;
	uint64_t need;
	const msgpack_object *v;

	/* scanned whole already */
	if (object_length((const unsigned char *) r->data + r->out, r->out_end - r->out, &len, &need) != 1)
		die(FERRY_EXIT_INTERNAL, "%s: a verified record is no longer whole", in_name(r->in));
	if (!unpack_at(r, r->out, len, &o, IN_HANDED))
		return -1;
	r->out += len;
	r->records++;
	if (o.type == MSGPACK_OBJECT_ARRAY)
	{
		if (!to_values(r, &o, rec))
			return -1;
		if (rec->nvals != r->header.ncols)
		{
			stream_fail(r, IN_HANDED, "record %" PRIu64 " has %d values, the header has %d columns",
						r->records, rec->nvals, r->header.ncols);
			return -1;
		}
		rec->type = FR_ROW;
		rec->reason = rec->detail = rec->stage = rec->key = NULL;
		r->rows++;
		return 1;
	}
	if (map_get(&o, "reject"))
	{
		rec->type = FR_REJECT;
		event_strings(r, &o, "reject", rec);
		rec->vals = NULL;
		rec->nvals = 0;
		if ((v = map_get(&o, "row")) != NULL && v->type == MSGPACK_OBJECT_ARRAY &&
			!to_values(r, v, rec))
			return -1;
		r->rejects++;
		return 1;
	}
	rec->type = FR_NOTE;
	event_strings(r, &o, "note", rec);
	rec->vals = NULL;
	rec->nvals = 0;
	r->notes++;
	return 1;
}

int
reader_next(ferry_reader *r, ferry_record *rec)
{
	if (r->failed)
		return -1;
	if (r->ended)
		return 0;
	while (r->out >= r->out_end)
	{
		int got = scan_chunk(r);

		if (got < 0)
		{
			r->failed = true;
			return -1;
		}
		if (got == 0)
		{
			r->ended = true;
			return 0;
		}
	}
	if (hand_out(r, rec) < 0)
	{
		r->failed = true;
		return -1;
	}
	return 1;
}

uint64_t reader_rows(const ferry_reader *r) { return r->rows; }
uint64_t reader_rejects(const ferry_reader *r) { return r->rejects; }
uint64_t reader_notes(const ferry_reader *r) { return r->notes; }
uint64_t reader_chunks(const ferry_reader *r) { return r->out_chunk; }

void
reader_free(ferry_reader *r)
{
	if (r == NULL)
		return;
	free(r->data);
	free(r->vals);
	buf_free(&r->strs);
	msgpack_zone_destroy(&r->zone);
	XXH3_freeState(r->hash);
	XXH3_freeState(r->chunk_hash);
	header_free(&r->header);
	free(r);
}
