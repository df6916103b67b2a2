/*
 * transform.c: map each row's legacy keys to UUIDs, check references, and
 * route rows that cannot be loaded to the rejects.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "exitcode.h"
#include "io.h"
#include "legacykey.h"
#include "links.h"
#include "log.h"
#include "transform.h"
#include "tree.h"
#include "uuid.h"

/*
 * Recently mapped references: a foreign key repeats (a status, an office,
 * the order of several items), and each UUID costs a SHA-1.  Direct-mapped
 * by (key space, key); keys longer than the slot are not cached.
 */
#define UUID_CACHE_SLOTS 16384
#define UUID_CACHE_KEY 23

typedef struct uuid_slot
{
	const char *keyspace;    /* NULL: empty */
	uint8_t keylen;
	char key[UUID_CACHE_KEY];
	char uuid[36];
} uuid_slot;

typedef struct tf_ctx
{
	const transform_spec *spec;
	const ferry_header *in_h;
	ferry_header out_h;
	int nout;
	int *src;                /* per output column: input index, -1 for the row's uuid */
	int *ref_out;            /* per ref: output index, -1 if not in the output */
	int *key_in;             /* input indexes of the key columns */
	int poly_type_out;
	int poly_id_out;
	int note_in;             /* _ferry_note column: a repair the extract query made, or -1 */
	int reject_in;           /* _ferry_reject column: why the query says to reject, or -1 */
	ferry_value *out;        /* the row being built */
	ferry_value *orig;       /* the same row with its legacy values, for rejects */
	char (*uuids)[37];       /* storage for the uuids of the row being built */
	char own_uuid[37];
	buf key;                 /* the row's legacy key */
	buf refkey;
	buf reason;
	buf detail;
	buf notes;               /* "reason\0detail\0" pairs for the row */
	int nnotes;
	ferry_writer *w;
	transform_stats *stats;
	uuid_slot *cache;
	tree_builder *tree;      /* spec->tree: rows go through tree.c */
	link_builder *links;     /* spec->links: rows go through links.c */
} tf_ctx;

static const char *
effective_name(const transform_spec *s, const char *name)
{
	for (int i = 0; i < s->nrename; i++)
		if (strcmp(s->rename_from[i], name) == 0)
			return s->rename_to[i];
	return name;
}

static int
find_in(const tf_ctx *c, const char *name)
{
	for (int i = 0; i < c->in_h->ncols; i++)
		if (strcmp(effective_name(c->spec, c->in_h->cols[i].name), name) == 0)
			return i;
	return -1;
}

static bool
in_list(char **list, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static const tf_ref *
ref_for(const transform_spec *s, const char *name)
{
	for (int i = 0; i < s->nrefs; i++)
		if (strcmp(s->refs[i].column, name) == 0)
			return &s->refs[i];
	return NULL;
}

void
key_text(const ferry_value *v, buf *out)
{
	value_to_text(v, out);
}

/* composite keys join their parts with ",", escaping "," and "\" */
static void
row_key(tf_ctx *c, const ferry_value *in)
{
	buf_reset(&c->key);
	for (int k = 0; k < c->spec->nkey; k++)
	{
		const ferry_value *v = &in[c->key_in[k]];

		buf_reset(&c->refkey);
		key_text(v, &c->refkey);
		legacy_key_append(&c->key, k, c->spec->nkey, c->refkey.data, c->refkey.len);
	}
	buf_cstr(&c->key);
}

static bool
prepare(tf_ctx *c)
{
	const transform_spec *s = c->spec;
	const ferry_header *in = c->in_h;

	header_init(&c->out_h);
	if (s->entity || in->entity)
		c->out_h.entity = xstrdup(s->entity ? s->entity : in->entity);
	if (in->run)
		c->out_h.run = xstrdup(in->run);
	if (in->source)
		c->out_h.source = xstrdup(in->source);
	c->out_h.keyspace = s->keyspace ? xstrdup(s->keyspace) : NULL;
	if (s->uuid_column)
		c->out_h.uuid_column = xstrdup(s->uuid_column);
	c->out_h.order = xstrdup(s->tree ? "tree" : in->order ? in->order : "none");
	header_set_key(&c->out_h, s->nkey, s->key);

	c->key_in = xcalloc((size_t) (s->nkey ? s->nkey : 1), sizeof *c->key_in);
	for (int k = 0; k < s->nkey; k++)
		if ((c->key_in[k] = find_in(c, s->key[k])) < 0)
		{
			log_error("key column \"%s\" is not in the input stream", s->key[k]);
			return false;
		}
	if (s->uuid_column && (s->nkey == 0 || !s->keyspace))
	{
		log_error("a uuid column needs the legacy key columns and a key space");
		return false;
	}
	for (int i = 0; i < s->nrefs; i++)
	{
		tf_ref *r = &s->refs[i];

		if ((r->in = find_in(c, r->column)) < 0)
		{
			log_error("reference column \"%s\" is not in the input stream", r->column);
			return false;
		}
	}
	if (s->poly)
	{
		if ((s->poly->type_in = find_in(c, s->poly->type_column)) < 0 ||
			(s->poly->id_in = find_in(c, s->poly->id_column)) < 0)
		{
			log_error("generic relation columns \"%s\", \"%s\" are not both in the input stream",
					  s->poly->type_column, s->poly->id_column);
			return false;
		}
	}

	int cap = in->ncols + 1;

	c->src = xcalloc((size_t) cap, sizeof *c->src);
	c->ref_out = xcalloc((size_t) (s->nrefs ? s->nrefs : 1), sizeof *c->ref_out);
	for (int i = 0; i < s->nrefs; i++)
		c->ref_out[i] = -1;
	c->poly_type_out = c->poly_id_out = -1;

	bool uuid_in_input = s->uuid_column && find_in(c, s->uuid_column) >= 0;

	c->note_in = find_in(c, FERRY_NOTE_COLUMN);
	c->reject_in = find_in(c, FERRY_REJECT_COLUMN);

	if (s->uuid_column && !uuid_in_input)
	{
		c->src[c->nout++] = -1;
		header_add_column(&c->out_h, s->uuid_column, "uuid");
	}
	for (int i = 0; i < in->ncols; i++)
	{
		const char *name = effective_name(s, in->cols[i].name);
		const char *type = in->cols[i].type;
		const tf_ref *r = ref_for(s, name);
		bool is_key = in_list(s->key, s->nkey, name);

		/* the query's verdicts on a row are for the transform only */
		if (i == c->note_in || i == c->reject_in)
			continue;

		if (s->fixup)
		{
			/* the fix-up step carries the row's uuid and its deferred columns */
			bool deferred = r && r->kind == REF_DEFER;
			bool is_uuid = uuid_in_input && strcmp(name, s->uuid_column) == 0;

			if (!deferred && !is_key && !is_uuid)
				continue;
			if (!deferred && !is_uuid)
				header_add_skip(&c->out_h, name);
		}
		else if (in_list(s->drop, s->ndrop, name))
		{
			if (!is_key)
				continue;
			/* a dropped key still identifies the row for the load's id map */
			header_add_skip(&c->out_h, name);
		}
		if (uuid_in_input && strcmp(name, s->uuid_column) == 0)
		{
			c->src[c->nout++] = -1;
			header_add_column(&c->out_h, name, "uuid");
			continue;
		}
		if ((r && r->kind != REF_CHECK) || (s->poly && i == s->poly->id_in) ||
			(s->tree && strcmp(name, s->tree->parent_column) == 0))
			type = "uuid";
		if (r)
			c->ref_out[r - s->refs] = c->nout;
		if (s->poly && i == s->poly->type_in)
			c->poly_type_out = c->nout;
		if (s->poly && i == s->poly->id_in)
			c->poly_id_out = c->nout;
		c->src[c->nout++] = i;
		header_add_column(&c->out_h, name, type);
	}
	c->out = xcalloc((size_t) cap, sizeof *c->out);
	c->orig = xcalloc((size_t) cap, sizeof *c->orig);
	c->uuids = xcalloc((size_t) s->nrefs + 2, sizeof *c->uuids);
	buf_init(&c->key, 64);
	buf_init(&c->refkey, 64);
	buf_init(&c->reason, 64);
	buf_init(&c->detail, 256);
	buf_init(&c->notes, 256);
	c->cache = xcalloc(UUID_CACHE_SLOTS, sizeof *c->cache);
	return true;
}


static void
add_note(tf_ctx *c, const char *reason, const char *detail)
{
	buf_puts(&c->notes, reason);
	buf_putc(&c->notes, '\0');
	buf_puts(&c->notes, detail);
	buf_putc(&c->notes, '\0');
	c->nnotes++;
}

/* "reason: detail" -> reason, detail (no colon: all of it is the reason) */
static void
split_verdict(const ferry_value *v, buf *reason, buf *detail)
{
	const char *p = v->u.s.p;
	size_t n = v->u.s.len;
	const char *colon = memchr(p, ':', n);

	buf_reset(reason);
	buf_reset(detail);
	if (colon == NULL)
	{
		buf_append(reason, p, n);
		return;
	}
	buf_append(reason, p, (size_t) (colon - p));
	colon++;
	while (colon < p + n && *colon == ' ')
		colon++;
	buf_append(detail, colon, (size_t) (p + n - colon));
}

/* one note per line of the query's _ferry_note value */
static void
query_notes(tf_ctx *c, const ferry_value *v)
{
	const char *p = v->u.s.p, *end = p + v->u.s.len;

	while (p < end)
	{
		const char *nl = memchr(p, '\n', (size_t) (end - p));
		const char *lend = nl ? nl : end;

		if (lend > p)
		{
			ferry_value line = fv_str(p, (size_t) (lend - p));

			split_verdict(&line, &c->reason, &c->detail);
			add_note(c, buf_cstr(&c->reason), buf_cstr(&c->detail));
		}
		p = lend + 1;
	}
}

/* the UUID of a referenced key, from the cache when it was mapped lately */
static void
ref_uuid(tf_ctx *c, const char *keyspace, const char *key, size_t len, char *uuid)
{
	if (len > UUID_CACHE_KEY)
	{
		uuid_for_key(c->spec->ns, keyspace, key, len, uuid);
		return;
	}
	uint64_t h = XXH3_64bits(key, len) ^ ((uint64_t) (uintptr_t) keyspace * 0x9E3779B97F4A7C15ULL);
	uuid_slot *slot = &c->cache[h & (UUID_CACHE_SLOTS - 1)];

	if (slot->keyspace == keyspace && slot->keylen == len && memcmp(slot->key, key, len) == 0)
	{
		memcpy(uuid, slot->uuid, 36);
		uuid[36] = '\0';
		return;
	}
	uuid_for_key(c->spec->ns, keyspace, key, len, uuid);
	slot->keyspace = keyspace;
	slot->keylen = (uint8_t) len;
	memcpy(slot->key, key, len);
	memcpy(slot->uuid, uuid, 36);
}

/*
 * Map one reference value: false (with c->reason/detail set) if the row
 * must be rejected.  *out becomes the uuid (or the value itself for a
 * check), or NULL under the null policy.
 */
static bool
map_ref(tf_ctx *c, const char *column, const char *entity, const char *keyspace,
		ref_kind kind, missing_policy policy, const keyset *keys,
		const ferry_value *v, ferry_value *out, char *uuid)
{
	if (v->t == FV_NULL)
	{
		*out = *v;
		return true;
	}
	buf_reset(&c->refkey);
	key_text(v, &c->refkey);
	if (keys && !keyset_has(keys, c->refkey.data, c->refkey.len))
	{
		buf_reset(&c->detail);
		buf_printf(&c->detail, "%s = %.*s: %s has no row with that key%s", column,
				   (int) (c->refkey.len > 200 ? 200 : c->refkey.len), c->refkey.data, entity,
				   kind == REF_FORWARD ? " in the source" : "");
		if (policy == MISSING_REJECT)
		{
			buf_reset(&c->reason);
			buf_puts(&c->reason, "missing_reference");
			return false;
		}
		add_note(c, "reference_set_null", buf_cstr(&c->detail));
		*out = fv_null();
		return true;
	}
	if (kind == REF_CHECK)
	{
		*out = *v;
		return true;
	}
	ref_uuid(c, keyspace, c->refkey.data, c->refkey.len, uuid);
	*out = fv_str(uuid, 36);
	return true;
}

/*
 * Build the output row from an input row.  Returns false when the row is
 * rejected (reason and detail in c->reason, c->detail).
 */
static bool
map_row(tf_ctx *c, const ferry_value *in)
{
	const transform_spec *s = c->spec;
	bool ok = true;

	buf_reset(&c->notes);
	c->nnotes = 0;
	if (s->nkey)
		row_key(c, in);
	if (c->note_in >= 0 && in[c->note_in].t == FV_STR)
		query_notes(c, &in[c->note_in]);
	if (s->uuid_column)
		uuid_for_key(s->ns, s->keyspace, c->key.data, c->key.len, c->own_uuid);
	for (int o = 0; o < c->nout; o++)
	{
		if (c->src[o] < 0)
			c->out[o] = fv_str(c->own_uuid, 36);
		else
			c->out[o] = in[c->src[o]];
		c->orig[o] = c->out[o];
	}
	if (c->reject_in >= 0 && in[c->reject_in].t == FV_STR)
	{
		/* "reason: detail" from the extract query */
		split_verdict(&in[c->reject_in], &c->reason, &c->detail);
		ok = false;
	}
	for (int i = 0; i < s->nrefs && ok; i++)
	{
		const tf_ref *r = &s->refs[i];
		int o = c->ref_out[i];

		if (o < 0)
			continue;
		if (r->kind == REF_DEFER && !s->fixup)
		{
			/* loaded NULL now, set by the fix-up step once its target is loaded */
			c->out[o] = fv_null();
			continue;
		}
		if (r->keys == NULL && r->load_keys && in[r->in].t != FV_NULL)
			((tf_ref *) r)->keys = r->load_keys(r->load_ctx, r->entity);
		ok = map_ref(c, r->column, r->entity, r->keyspace, r->kind, r->on_missing, r->keys,
					 &in[r->in], &c->out[o], c->uuids[i]);
	}
	if (ok && s->poly && c->poly_id_out >= 0)
	{
		const tf_poly *p = s->poly;
		const ferry_value *t = &in[p->type_in];
		int e = -1;

		if (t->t == FV_STR)
			for (int k = 0; k < p->nentities; k++)
				if (strlen(p->entities[k]) == t->u.s.len &&
					memcmp(p->entities[k], t->u.s.p, t->u.s.len) == 0)
					e = k;
		if (e < 0)
		{
			buf_reset(&c->reason);
			buf_puts(&c->reason, "unknown_entity_type");
			buf_reset(&c->detail);
			if (t->t == FV_STR)
				buf_printf(&c->detail, "%s = %.*s: not a migrated entity", p->type_column,
						   (int) t->u.s.len, t->u.s.p);
			else
				buf_printf(&c->detail, "%s is NULL: the content type names no migrated entity",
						   p->type_column);
			ok = false;
		}
		else
		{
			if (p->keys[e] == NULL && p->load_keys)
				p->keys[e] = p->load_keys(p->load_ctx, e);
			ok = map_ref(c, p->id_column, p->entities[e], p->keyspaces[e], REF_UUID,
						 p->on_missing, p->keys[e], &in[p->id_in], &c->out[c->poly_id_out],
						 c->uuids[s->nrefs]);
		}
	}
	return ok;
}

static bool
emit_notes(tf_ctx *c)
{
	const char *p = c->notes.data;

	for (int i = 0; i < c->nnotes; i++)
	{
		const char *reason = p;
		const char *detail = reason + strlen(reason) + 1;

		p = detail + strlen(detail) + 1;
		if (!writer_note(c->w, reason, detail, "transform", c->key.len ? c->key.data : NULL))
			return false;
		c->stats->noted++;
	}
	return true;
}

/* an upstream reject: its row is in the input layout, map it by position */
static bool
pass_reject(tf_ctx *c, const ferry_record *rec)
{
	const ferry_value *row = NULL;
	int n = 0;

	if (rec->vals && rec->nvals == c->in_h->ncols)
	{
		for (int o = 0; o < c->nout; o++)
			c->orig[o] = c->src[o] < 0 ? fv_null() : rec->vals[c->src[o]];
		row = c->orig;
		n = c->nout;
	}
	c->stats->passed++;
	if (c->tree && rec->key)
		tree_add_rejected(c->tree, rec->key, strlen(rec->key));
	return writer_reject(c->w, rec->reason, rec->detail, rec->stage, rec->key, row, n);
}

int
transform_stream(const transform_spec *spec, ferry_reader *r, ferry_output *out,
				 const char *run, transform_stats *stats)
{
	tf_ctx c;
	ferry_record rec;
	int got = 0;
	int code = FERRY_EXIT_OK;

	memset(&c, 0, sizeof c);
	memset(stats, 0, sizeof *stats);
	c.spec = spec;
	c.in_h = reader_header(r);
	c.stats = stats;
	if (!prepare(&c))
		return FERRY_EXIT_USAGE;
	if (run)
	{
		free(c.out_h.run);
		c.out_h.run = xstrdup(run);
	}
	c.w = writer_new(out);
	if (spec->tree && !spec->fixup &&
		(c.tree = tree_new(spec, spec->tree_opts, &c.out_h, c.nout, c.w, stats)) == NULL)
		code = FERRY_EXIT_USAGE;
	else if (!writer_header(c.w, &c.out_h))
		code = FERRY_EXIT_IO;
	else if (spec->links && !spec->fixup)
		c.links = links_new(spec, c.in_h, &c.out_h, c.nout, c.w, stats, &code);
	progress_start(c.out_h.entity, -1);
	while (code == FERRY_EXIT_OK && (got = reader_next(r, &rec)) == 1)
	{
		bool ok;

		if (rec.type == FR_REJECT)
			ok = pass_reject(&c, &rec);
		else if (rec.type == FR_NOTE)
		{
			stats->passed++;
			ok = writer_note(c.w, rec.reason, rec.detail ? rec.detail : "",
							 rec.stage, rec.key);
		}
		else
		{
			stats->rows_in++;
			if (map_row(&c, rec.vals))
			{
				if (c.tree)
					ok = tree_add(c.tree, c.key.data, c.key.len, c.out, c.notes.data, c.nnotes);
				else if (c.links)
					ok = links_add(c.links, c.key.data, c.key.len, rec.vals, c.out, c.notes.data,
								   c.nnotes);
				else
				{
					ok = writer_row(c.w, c.out, c.nout) && emit_notes(&c);
					stats->rows_out++;
				}
			}
			else
			{
				ok = writer_reject(c.w, buf_cstr(&c.reason), buf_cstr(&c.detail), "transform",
								   c.key.len ? c.key.data : NULL, c.orig, c.nout);
				stats->rejected++;
				if (c.tree)
					tree_add_rejected(c.tree, c.key.data, c.key.len);
			}
			if ((stats->rows_in & 1023) == 0)
				progress_update((int64_t) stats->rows_in);
		}
		if (!ok)
			code = FERRY_EXIT_IO;
	}
	if (code == FERRY_EXIT_OK && got < 0)
		code = FERRY_EXIT_STREAM;
	if (code == FERRY_EXIT_OK && c.tree && !tree_finish(c.tree))
		code = FERRY_EXIT_IO;
	if (code == FERRY_EXIT_OK && c.links && !links_finish(c.links))
		code = FERRY_EXIT_IO;
	if (code == FERRY_EXIT_OK && !writer_end(c.w))
		code = FERRY_EXIT_IO;
	progress_done((int64_t) stats->rows_in);

	writer_free(c.w);
	tree_free(c.tree);
	links_free(c.links);
	header_free(&c.out_h);
	free(c.src);
	free(c.ref_out);
	free(c.key_in);
	free(c.out);
	free(c.orig);
	free(c.uuids);
	buf_free(&c.key);
	buf_free(&c.refkey);
	buf_free(&c.reason);
	buf_free(&c.detail);
	buf_free(&c.notes);
	free(c.cache);
	return code;
}
