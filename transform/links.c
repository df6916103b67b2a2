/*
 * links.c: cycles through a link entity (see links.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "exitcode.h"
#include "io.h"
#include "linkgraph.h"
#include "links.h"
#include "log.h"

/* a cycle is named by at most this many keys */
#define NAMED_KEYS 12

struct link_builder
{
	const transform_spec *spec;
	const plan_links *pl;
	const char *ref_entity;  /* the entity both columns reference (messages) */
	ferry_writer *w;
	transform_stats *st;
	int nout;
	int from_in, to_in;      /* input columns */
	bool ints;               /* both are integer columns: their values are the nodes,
							  * else their texts, interned by the graph */
	linkgraph *g;
	buf text;                /* a text key being interned */
	/* cycle=note: each edge's row key, to name it in its note */
	buf keys;
	size_t *key_off;
	size_t key_cap;
	/* cycle=reject: the rows, spooled */
	char *spool_path;
	ferry_output *sout;
	ferry_writer *sw;
	ferry_header sh;         /* out_h + the row's key + its edge number */
	ferry_value *srow;
	char **detail;           /* per cycle: the words of its notes and rejects */
};

/* ---- building ---- */

static int
column_of(const ferry_header *h, const char *name)
{
	return header_find(h, name);
}

link_builder *
links_new(const transform_spec *spec, const ferry_header *in_h, const ferry_header *out_h,
		  int nout, ferry_writer *w, transform_stats *st, int *code)
{
	const plan_links *pl = spec->links;
	link_builder *l;

	if ((column_of(in_h, pl->from_column)) < 0 || column_of(in_h, pl->to_column) < 0)
	{
		*code = FERRY_EXIT_USAGE;
		log_error("links: column \"%s\" is not in the input stream",
				  column_of(in_h, pl->from_column) < 0 ? pl->from_column : pl->to_column);
		return NULL;
	}
	l = xcalloc(1, sizeof *l);
	l->spec = spec;
	l->pl = pl;
	l->w = w;
	l->st = st;
	l->nout = nout;
	l->from_in = column_of(in_h, pl->from_column);
	l->to_in = column_of(in_h, pl->to_column);
	l->ints = in_h->cols[l->from_in].kind == FK_INT && in_h->cols[l->to_in].kind == FK_INT;
	l->ref_entity = pl->from_column;
	for (int i = 0; i < spec->nrefs; i++)
		if (strcmp(spec->refs[i].column, pl->from_column) == 0)
			l->ref_entity = spec->refs[i].entity;
	buf_init(&l->keys, 4096);
	buf_init(&l->text, 64);
	l->g = linkgraph_new();
	if (pl->cycle == LINKS_REJECT)
	{
		const char *dir = spec->tmpdir ? spec->tmpdir : getenv("TMPDIR");
		buf path;
		int fd;

		buf_init(&path, 256);
		buf_printf(&path, "%s/ferry-links.XXXXXX", dir && *dir ? dir : "/tmp");
		/*
		 * a name of our own; the stream is written beside it and renamed
		 * over it when whole, read back, and unlinked as soon as it is open
		 */
		if ((fd = mkstemp(path.data)) < 0)
		{
			log_error("cannot create a spool file in %s: %s", dir && *dir ? dir : "/tmp",
					  strerror(errno));
			buf_free(&path);
			links_free(l);
			*code = FERRY_EXIT_IO;
			return NULL;
		}
		close(fd);
		l->spool_path = (char *) buf_cstr(&path);
		if ((l->sout = out_open(l->spool_path, false, 0, 0)) == NULL)
		{
			unlink(l->spool_path);
			free(l->spool_path);
			l->spool_path = NULL;
			links_free(l);
			*code = FERRY_EXIT_IO;
			return NULL;
		}
		header_copy(&l->sh, out_h);
		header_add_column(&l->sh, "_ferry_link_key", "text");
		header_add_column(&l->sh, "_ferry_link_edge", "bigint");
		l->srow = xcalloc((size_t) nout + 2, sizeof *l->srow);
		l->sw = writer_new(l->sout);
		if (!writer_header(l->sw, &l->sh))
		{
			links_free(l);
			*code = FERRY_EXIT_IO;
			return NULL;
		}
	}
	return l;
}

/* a legacy key value as a node: the integer itself, or its text's number */
static int64_t
node_of(link_builder *l, const ferry_value *v, buf *tmp)
{
	if (l->ints && v->t == FV_INT)
		return v->u.i;
	buf_reset(tmp);
	key_text(v, tmp);
	return linkgraph_intern(l->g, tmp->data, tmp->len);
}

static bool
write_notes(link_builder *l, ferry_writer *w, const char *key, const char *notes, int nnotes)
{
	const char *p = notes;

	for (int i = 0; i < nnotes; i++)
	{
		const char *reason = p;
		const char *detail = reason + strlen(reason) + 1;

		p = detail + strlen(detail) + 1;
		if (!writer_note(w, reason, detail, "transform", key))
			return false;
		if (w == l->w)
			l->st->noted++;
	}
	return true;
}

bool
links_add(link_builder *l, const char *key, size_t keylen, const ferry_value *in_row,
		  const ferry_value *out_row, const char *notes, int nnotes)
{
	const ferry_value *a = &in_row[l->from_in], *b = &in_row[l->to_in];
	bool edge = a->t != FV_NULL && b->t != FV_NULL;
	size_t e = linkgraph_edges(l->g);
	const char *k = keylen ? key : NULL;

	if (edge)
	{
		int64_t from = node_of(l, a, &l->text);

		linkgraph_add(l->g, from, node_of(l, b, &l->text));
	}
	if (l->sw == NULL)
	{
		/* cycle=note: the row goes now; its key waits for the end */
		if (edge)
		{
			if (e == l->key_cap)
			{
				l->key_cap = l->key_cap ? l->key_cap * 2 : 1024;
				l->key_off = xrealloc(l->key_off, l->key_cap * sizeof(size_t));
			}
			l->key_off[e] = l->keys.len;
			buf_append(&l->keys, key, keylen);
			buf_putc(&l->keys, '\0');
		}
		l->st->rows_out++;
		return writer_row(l->w, out_row, l->nout) && write_notes(l, l->w, k, notes, nnotes);
	}
	/* cycle=reject: spooled, with its key and edge number, then its notes */
	memcpy(l->srow, out_row, (size_t) l->nout * sizeof *out_row);
	l->srow[l->nout] = k ? fv_str(key, keylen) : fv_null();
	l->srow[l->nout + 1] = edge ? fv_int((int64_t) e) : fv_null();
	return writer_row(l->sw, l->srow, l->nout + 2) && write_notes(l, l->sw, k, notes, nnotes);
}

/* ---- the end ---- */

static void
node_label(link_builder *l, int64_t v, buf *out)
{
	if (l->ints)
		buf_printf(out, "%" PRId64, v);
	else
		buf_puts(out, linkgraph_text(l->g, v));
}

/* "kit_id -> child_kit_id closes a cycle of kits: 8 -> 28 -> 8" */
static char *
describe_cycle(link_builder *l, size_t k)
{
	int64_t nodes[NAMED_KEYS];
	size_t len = linkgraph_cycle_path(l->g, k, nodes, NAMED_KEYS);
	size_t size = linkgraph_cycle_size(l->g, k);
	buf b;

	buf_init(&b, 128);
	buf_printf(&b, "%s -> %s closes a cycle of %s: ", l->pl->from_column, l->pl->to_column,
			   l->ref_entity);
	for (size_t i = 0; i < len && i < NAMED_KEYS; i++)
	{
		node_label(l, nodes[i], &b);
		buf_puts(&b, " -> ");
	}
	if (len > NAMED_KEYS)
		buf_printf(&b, "... (%zu keys) -> ", len);
	node_label(l, nodes[0], &b);
	if (size > len)
		buf_printf(&b, " (%zu keys of %s reach each other through these links)", size,
				   l->ref_entity);
	return (char *) buf_cstr(&b);
}

static bool
replay(link_builder *l)
{
	ferry_input *in;
	ferry_reader *r;
	ferry_record rec;
	bool skipping = false;
	int got;
	bool ok = true;

	if ((in = in_open(l->spool_path)) == NULL)
		return false;
	unlink(l->spool_path);
	if ((r = reader_open(in)) == NULL)
	{
		in_close(in);
		return false;
	}
	while (ok && (got = reader_next(r, &rec)) == 1)
	{
		if (rec.type == FR_NOTE)
		{
			if (!skipping)
			{
				ok = writer_note(l->w, rec.reason, rec.detail ? rec.detail : "", rec.stage, rec.key);
				l->st->noted++;
			}
			continue;
		}
		const ferry_value *kv = &rec.vals[l->nout];
		const ferry_value *ev = &rec.vals[l->nout + 1];
		long c = ev->t == FV_INT ? linkgraph_cycle_of(l->g, (size_t) ev->u.i) : -1;
		char *key = kv->t == FV_STR ? xstrndup(kv->u.s.p, kv->u.s.len) : NULL;

		skipping = c >= 0;
		if (skipping)
		{
			ok = writer_reject(l->w, "link_cycle", l->detail[c], "transform", key, rec.vals, l->nout);
			l->st->rejected++;
		}
		else
		{
			ok = writer_row(l->w, rec.vals, l->nout);
			l->st->rows_out++;
		}
		free(key);
	}
	if (ok && got < 0)
		ok = false;
	reader_free(r);
	in_close(in);
	return ok;
}

bool
links_finish(link_builder *l)
{
	size_t ncycles, on = 0;
	bool ok = true;

	if (l->sw)
	{
		bool whole = writer_end(l->sw);

		writer_free(l->sw);
		l->sw = NULL;
		if (!whole || !out_commit(l->sout))
		{
			if (!whole)
				out_abort(l->sout);
			l->sout = NULL;
			unlink(l->spool_path);
			return false;
		}
		l->sout = NULL;
	}
	linkgraph_solve(l->g);
	ncycles = linkgraph_cycles(l->g);
	l->detail = xcalloc(ncycles + 1, sizeof(char *));
	for (size_t k = 0; k < ncycles; k++)
		l->detail[k] = describe_cycle(l, k);
	for (size_t e = 0; e < linkgraph_edges(l->g); e++)
		if (linkgraph_cycle_of(l->g, e) >= 0)
			on++;
	log_info("%s: %zu links, %zu on %zu cycle(s) through %s (cycle=%s); %zu kB held", l->spec->entity,
			 linkgraph_edges(l->g), on, ncycles, l->ref_entity,
			 l->pl->cycle == LINKS_REJECT ? "reject" : "note",
			 (linkgraph_bytes(l->g) + l->keys.cap) / 1024);
	if (l->spool_path)
		return replay(l);
	for (size_t e = 0; ok && e < linkgraph_edges(l->g); e++)
	{
		long c = linkgraph_cycle_of(l->g, e);
		const char *key;

		if (c < 0)
			continue;
		key = l->keys.data + l->key_off[e];
		ok = writer_note(l->w, "link_cycle", l->detail[c], "transform", *key ? key : NULL);
		l->st->noted++;
	}
	return ok;
}

void
links_free(link_builder *l)
{
	if (l == NULL)
		return;
	if (l->sw)
		writer_free(l->sw);
	if (l->sout)
	{
		out_abort(l->sout);
		unlink(l->spool_path);
	}
	if (l->detail)
		for (size_t k = 0; k < linkgraph_cycles(l->g); k++)
			free(l->detail[k]);
	free(l->detail);
	linkgraph_free(l->g);
	buf_free(&l->keys);
	buf_free(&l->text);
	free(l->key_off);
	free(l->spool_path);
	header_free(&l->sh);
	free(l->srow);
	free(l);
}
