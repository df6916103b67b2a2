/*
 * stream.c: the ferry record stream, written and read with msgpack-c.
 *
 * The writer packs each record into a small buffer, folds its bytes into
 * the running XXH3 checksum and hands them to the output.  The reader
 * keeps its own input buffer and unpacks one object at a time into a
 * reused msgpack zone, so that strings point into the buffer (no copy) and
 * nothing is allocated per record once the buffers have grown.
 */
#include <inttypes.h>
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
	XXH3_state_t *hash;
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
	w->hash = XXH3_createState();
	if (w->hash == NULL)
		die(FERRY_EXIT_INTERNAL, "out of memory");
	XXH3_64bits_reset(w->hash);
	return w;
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

/* send the packed record; records (not header) go into the checksum */
static bool
emit(ferry_writer *w, bool hashed)
{
	if (w->failed)
		return false;
	if (hashed)
		XXH3_64bits_update(w->hash, w->rec.data, w->rec.len);
	if (!out_write(w->out, w->rec.data, w->rec.len))
		w->failed = true;
	buf_reset(&w->rec);
	return !w->failed;
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
	return emit(w, false);
}

bool
writer_row(ferry_writer *w, const ferry_value *vals, int n)
{
	msgpack_pack_array(&w->pk, (size_t) n);
	for (int i = 0; i < n; i++)
		pack_value(&w->pk, &vals[i]);
	w->rows++;
	return emit(w, true);
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
	return emit(w, true);
}

bool
writer_note(ferry_writer *w, const char *reason, const char *detail,
			const char *stage, const char *key)
{
	pack_event(w, "note", reason, detail, stage, key, NULL, 0);
	w->notes++;
	return emit(w, true);
}

bool
writer_end(ferry_writer *w)
{
	msgpack_packer *pk = &w->pk;

	msgpack_pack_map(pk, 5);
	pack_cstr(pk, "end");
	msgpack_pack_true(pk);
	pack_cstr(pk, "rows");
	msgpack_pack_uint64(pk, w->rows);
	pack_cstr(pk, "rejects");
	msgpack_pack_uint64(pk, w->rejects);
	pack_cstr(pk, "notes");
	msgpack_pack_uint64(pk, w->notes);
	pack_cstr(pk, "xxh3");
	msgpack_pack_uint64(pk, XXH3_64bits_digest(w->hash));
	return emit(w, false) && out_flush(w->out);
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
	XXH3_freeState(w->hash);
	free(w);
}

/* ---- reader ---- */

/* the fuzzing build (make fuzzers) makes it tiny, to reach buffer growth */
#ifndef READ_CHUNK
#define READ_CHUNK (1 << 20)
#endif

struct ferry_reader
{
	ferry_input *in;
	char *data;              /* input buffer */
	size_t cap;
	size_t pos;              /* start of the next object */
	size_t end;              /* end of the bytes read */
	bool eof;
	bool ended;              /* trailer seen and verified */
	bool want_header;        /* the next object must be the header map */
	msgpack_zone zone;
	ferry_header header;
	ferry_value *vals;
	int valcap;
	buf strs;                /* NUL-terminated copies for reject/note fields */
	XXH3_state_t *hash;
	uint64_t records;        /* objects read after the header */
	uint64_t rows;
	uint64_t rejects;
	uint64_t notes;
};

/* read more input into the buffer; false on error or end of input */
static bool
read_more(ferry_reader *r)
{
	if (r->eof)
		return false;
	if (r->pos > 0)
	{
		memmove(r->data, r->data + r->pos, r->end - r->pos);
		r->end -= r->pos;
		r->pos = 0;
	}
	if (r->cap - r->end < READ_CHUNK / 2)
	{
		r->cap = r->cap * 2;
		r->data = xrealloc(r->data, r->cap);
	}
	ssize_t n = in_read(r->in, r->data + r->end, r->cap - r->end);

	if (n < 0)
		return false;
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
 * bytes are needed, -1 when the bytes are not msgpack, -2 when they nest
 * deeper than OBJECT_MAX_DEPTH.
 *
 * msgpack_unpack() allocates room for every element of a container as
 * soon as it reads the container's header, so garbage input that looks
 * like an array or map header claiming billions of elements would make
 * it allocate tens of gigabytes before finding out.  Scanning first keeps
 * the allocation proportional to bytes actually read.
 */
static int
object_length(const unsigned char *p, size_t n, size_t *len)
{
	uint64_t pending = 1;       /* objects still to read */
	uint64_t left[OBJECT_MAX_DEPTH + 1];    /* of them, in each open container */
	int depth = 0;              /* containers open (left[0]: the object itself) */
	size_t i = 0;

	left[0] = 1;
	while (pending > 0)
	{
		if (i >= n)
			return 0;

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
			return 0;

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
			return 0;
		i += (size_t) fixed;
		/* every object takes a byte at least: more than the bytes left can't be here yet */
		if (pending > n - i)
			return 0;
	}
	*len = i;
	return 1;
}

/*
 * Unpack the next object.  1: got one in *obj ([*start, r->pos) are its
 * bytes); 0: clean end of input before any byte of a new object; -1:
 * error (logged).
 */
static int
next_object(ferry_reader *r, msgpack_object *obj, size_t *start)
{
	for (;;)
	{
		if (r->pos < r->end)
		{
			size_t len = 0, off = 0;
			unsigned char first = (unsigned char) r->data[r->pos];

			/* a header is a map: anything else is not a stream, whatever follows */
			if (r->want_header && !(first >= 0x80 && first <= 0x8f) && first != 0xde && first != 0xdf)
			{
				log_error("%s: not a ferry stream (no stream header)", in_name(r->in));
				return -1;
			}
			int whole = object_length((const unsigned char *) r->data + r->pos,
									  r->end - r->pos, &len);

			if (whole < 0)
			{
				log_error("%s: not a ferry stream (%s after %" PRIu64 " records)", in_name(r->in),
						  whole == -2 ? "msgpack nested too deep" : "invalid msgpack", r->records);
				return -1;
			}
			if (whole > 0)
			{
				msgpack_zone_clear(&r->zone);
				msgpack_unpack_return ret = msgpack_unpack(r->data + r->pos, len,
														   &off, &r->zone, obj);

				if (ret == MSGPACK_UNPACK_SUCCESS || ret == MSGPACK_UNPACK_EXTRA_BYTES)
				{
					*start = r->pos;
					r->pos += off;
					return 1;
				}
				if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
					die(FERRY_EXIT_INTERNAL, "out of memory reading %s", in_name(r->in));
				log_error("%s: not a ferry stream (invalid msgpack after %" PRIu64 " records)",
						  in_name(r->in), r->records);
				return -1;
			}
			/* the object is not complete yet */
		}
		bool had_partial = r->pos < r->end;

		if (!read_more(r))
		{
			if (!r->eof)
				return -1;
			if (had_partial)
			{
				log_error("%s: truncated stream (ends in the middle of a record after %" PRIu64 " records)",
						  in_name(r->in), r->records);
				return -1;
			}
			return 0;
		}
	}
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

static bool
parse_header(ferry_reader *r, const msgpack_object *o)
{
	ferry_header *h = &r->header;
	const msgpack_object *v;

	if (o->type != MSGPACK_OBJECT_MAP || (v = map_get(o, "ferry")) == NULL ||
		!obj_is_str(v, FERRY_STREAM_FORMAT))
	{
		log_error("%s: not a ferry stream (no stream header)", in_name(r->in));
		return false;
	}
	v = map_get(o, "version");
	if (v == NULL || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		v->via.u64 != FERRY_STREAM_VERSION)
	{
		log_error("%s: unsupported ferry stream version (this program reads version %d)",
				  in_name(r->in), FERRY_STREAM_VERSION);
		return false;
	}
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
	log_error("%s: malformed ferry stream header", in_name(r->in));
	return false;
}

ferry_reader *
reader_open(ferry_input *in)
{
	ferry_reader *r = xcalloc(1, sizeof *r);
	msgpack_object o;
	size_t start;

	r->in = in;
	r->cap = 2 * READ_CHUNK;
	r->data = xmalloc(r->cap);
	msgpack_zone_init(&r->zone, 64 * 1024);
	buf_init(&r->strs, 256);
	r->hash = XXH3_createState();
	if (r->hash == NULL)
		die(FERRY_EXIT_INTERNAL, "out of memory");
	XXH3_64bits_reset(r->hash);
	header_init(&r->header);

	r->want_header = true;
	int got = next_object(r, &o, &start);

	r->want_header = false;
	if (got == 0)
		log_error("%s: empty input (expected a ferry stream)", in_name(in));
	if (got != 1 || !parse_header(r, &o))
	{
		reader_free(r);
		return NULL;
	}
	r->valcap = r->header.ncols > 0 ? r->header.ncols : 1;
	r->vals = xcalloc((size_t) r->valcap, sizeof *r->vals);
	return r;
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
			log_error("%s: record %" PRIu64 ": value %u has a type ferry streams do not use",
					  in_name(r->in), r->records, i + 1);
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

static bool
check_trailer(ferry_reader *r, const msgpack_object *o)
{
	const msgpack_object *rows = map_get(o, "rows");
	const msgpack_object *rejects = map_get(o, "rejects");
	const msgpack_object *notes = map_get(o, "notes");
	const msgpack_object *sum = map_get(o, "xxh3");

	if (!rows || !rejects || !notes || !sum ||
		rows->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		rejects->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		notes->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		sum->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
	{
		log_error("%s: malformed stream trailer", in_name(r->in));
		return false;
	}
	if (rows->via.u64 != r->rows || rejects->via.u64 != r->rejects || notes->via.u64 != r->notes)
	{
		log_error("%s: record count mismatch: the trailer says %" PRIu64 " rows, %" PRIu64
				  " rejects, %" PRIu64 " notes; the stream has %" PRIu64 ", %" PRIu64 ", %" PRIu64,
				  in_name(r->in), rows->via.u64, rejects->via.u64, notes->via.u64,
				  r->rows, r->rejects, r->notes);
		return false;
	}
	if (sum->via.u64 != XXH3_64bits_digest(r->hash))
	{
		log_error("%s: checksum mismatch: the stream is corrupt", in_name(r->in));
		return false;
	}
	return true;
}

int
reader_next(ferry_reader *r, ferry_record *rec)
{
	msgpack_object o;
	size_t start;

	if (r->ended)
		return 0;
	int got = next_object(r, &o, &start);

	if (got < 0)
		return -1;
	if (got == 0)
	{
		log_error("%s: truncated stream: input ended after %" PRIu64
				  " records without the end-of-stream trailer", in_name(r->in), r->records);
		return -1;
	}
	if (o.type == MSGPACK_OBJECT_ARRAY)
	{
		r->records++;
		XXH3_64bits_update(r->hash, r->data + start, r->pos - start);
		if (!to_values(r, &o, rec))
			return -1;
		if (rec->nvals != r->header.ncols)
		{
			log_error("%s: record %" PRIu64 " has %d values, the header has %d columns",
					  in_name(r->in), r->records, rec->nvals, r->header.ncols);
			return -1;
		}
		rec->type = FR_ROW;
		rec->reason = rec->detail = rec->stage = rec->key = NULL;
		r->rows++;
		return 1;
	}
	if (o.type == MSGPACK_OBJECT_MAP)
	{
		const msgpack_object *v;

		if (map_get(&o, "end"))
		{
			if (!check_trailer(r, &o))
				return -1;
			/* nothing may follow the trailer */
			msgpack_object extra;
			size_t s2;
			int more = next_object(r, &extra, &s2);

			if (more != 0)
			{
				if (more > 0)
					log_error("%s: unexpected data after the end of the stream", in_name(r->in));
				return -1;
			}
			r->ended = true;
			return 0;
		}
		r->records++;
		XXH3_64bits_update(r->hash, r->data + start, r->pos - start);
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
		if (map_get(&o, "note"))
		{
			rec->type = FR_NOTE;
			event_strings(r, &o, "note", rec);
			rec->vals = NULL;
			rec->nvals = 0;
			r->notes++;
			return 1;
		}
	}
	log_error("%s: record %" PRIu64 " is not a row, reject, note or trailer",
			  in_name(r->in), r->records + 1);
	return -1;
}

uint64_t reader_rows(const ferry_reader *r) { return r->rows; }
uint64_t reader_rejects(const ferry_reader *r) { return r->rejects; }
uint64_t reader_notes(const ferry_reader *r) { return r->notes; }

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
	header_free(&r->header);
	free(r);
}
