/*
 * tree.c: emit a self-referencing entity parents first (see tree.h and
 * ferry-tree(7)).
 *
 * State per key (treemap value, int32):
 *   >= 0            placed: the depth (| TREE_KNOWN when from the destination)
 *   V_REJECTED      rejected before the tree, or below such a row
 *   V_CYCLE         rejected on or below a parent cycle
 *   V_ORPHAN        rejected as an orphan, or below one
 *   <= V_PENDING    waiting: pending row V_PENDING - value
 * Per waiting row: its parent key, spool offset, resolution and reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "tree.h"
#include "uuid.h"

#define V_REJECTED  (-1)
#define V_CYCLE     (-2)
#define V_ORPHAN    (-3)
#define V_ABSENT    (-4)       /* lookup result only: no such key */
#define V_PENDING   (-16)

/* resolution of a waiting row, besides a depth or a V_ rejection code */
#define P_UNRESOLVED INT32_MIN
#define P_VISITING   (INT32_MIN + 1)

/* pwhy: a tree_kind, W_NONE, and W_ROOT when the row loads as a root */
#define W_NONE  0x7f
#define W_ROOT  0x80

#define SPOOL_FLUSH (1 << 20)

struct tree_builder
{
	const transform_spec *spec;
	tree_options opt;
	ferry_writer *w;
	transform_stats *st;
	const ferry_header *h;
	const char *parent_name;
	int n_in;                 /* values per mapped row */
	int n_out;                /* values per written row (+1 when depth is added) */
	int key_col;
	int parent_col;
	int depth_col;            /* -1: none */
	int nreq;
	int *req;                 /* NOT NULL columns checked here */
	treemap *km;
	bool own_km;

	/* waiting rows */
	int64_t *ppar;            /* parent key */
	uint64_t *poff;           /* spool offset of the record */
	int32_t *pval;            /* P_*, a depth or a V_ rejection */
	uint8_t *pwhy;
	size_t np;
	size_t pcap;
	uint32_t *stack;          /* resolution: a chain of waiting rows */
	size_t nstack;
	size_t stack_cap;
	uint32_t *order;          /* resolution order: parents first */
	size_t norder;

	/* the spool: an unlinked temporary file */
	int fd;
	uint64_t spool_len;       /* bytes written (flushed or in wbuf) */
	buf wbuf;
	buf rbuf;

	ferry_value *row;         /* the row being written */
	ferry_value *rrow;        /* a row read back from the spool */
	buf text;
	buf key;                  /* key text of a row read back */
	buf detail;
	char puuid[37];
	tree_report rep;
	bool finished;
};

static const char *const reasons[TK_COUNT][2] = {
	/* loaded with a note, rejected */
	[TK_ORPHAN_ROOT] = {"orphan_root", "missing_parent"},
	[TK_MISSING_PARENT] = {"orphan_root", "missing_parent"},
	[TK_UNDER_MISSING_PARENT] = {"under_missing_parent", "under_missing_parent"},
	[TK_SELF_PARENT] = {"self_parent", "self_parent"},
	[TK_PARENT_CYCLE] = {"parent_cycle", "parent_cycle"},
	[TK_UNDER_CYCLE] = {"under_cycle", "under_cycle"},
	[TK_PARENT_REJECTED] = {"parent_rejected", "under_rejected_parent"},
	[TK_UNDER_REJECTED_PARENT] = {"parent_rejected", "under_rejected_parent"},
	[TK_NOT_NULL] = {"not_null_violation", "not_null_violation"},
	[TK_DUPLICATE_KEY] = {"duplicate_key", "duplicate_key"},
};

const char *
tree_kind_reason(tree_kind k, bool rejected)
{
	return reasons[k][rejected ? 1 : 0];
}

/* ---- options ---- */

void
tree_options_init(tree_options *o, const plan_tree *t)
{
	memset(o, 0, sizeof *o);
	o->orphan = t ? t->orphan : TREE_ROOT;
	o->cycle = t ? t->cycle : TREE_REJECT;
	o->rejected_parent = TREE_ROOT;
}

void
tree_options_free(tree_options *o)
{
	treemap_free(o->known);
	for (int i = 0; i < o->nrequired; i++)
		free(o->required[i]);
	free(o->required);
	memset(o, 0, sizeof *o);
}

/* the type name of a column of the target, NULL if it has no such column */
static char *
column_type(PGconn *conn, const char *target, const char *column)
{
	char *qualified = pg_qualified(target);
	const char *params[2] = {qualified, column};
	PGresult *res = pg_query(conn, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
							 "WHERE attrelid = to_regclass($1) AND attname = $2 "
							 "AND attnum > 0 AND NOT attisdropped", 2, params);
	char *type = NULL;

	if (res && PQntuples(res) == 1)
		type = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	free(qualified);
	return type;
}

/* one line of load_known: a key the destination holds, and its depth */
static bool
known_line(void *ctx, const char *line, size_t n)
{
	tree_options *o = ctx;
	const char *tab = memchr(line, '\t', n);
	int64_t k;

	/* keys with a backslash (COPY escapes) are rare enough to skip a tree check for */
	if (tab && !memchr(line, '\\', (size_t) (tab - line)) &&
		treemap_key(o->known, line, (size_t) (tab - line), &k) && !treemap_find(o->known, k))
	{
		long d = strtol(tab + 1, NULL, 10);

		treemap_put(o->known, k, (int32_t) ((d < 0 || d >= TREE_KNOWN ? 0 : d) | TREE_KNOWN));
	}
	return true;
}

/* COPY (sql) TO STDOUT of "key<TAB>depth" lines into the known map */
static bool
load_known(tree_options *o, PGconn *conn, const char *sql)
{
	return pg_copy_lines(conn, "target", sql, known_line, o);
}

static bool
load_required(tree_options *o, PGconn *conn, const char *target)
{
	char *qualified = pg_qualified(target);
	const char *params[1] = {qualified};
	PGresult *res;

	/* a BEFORE INSERT trigger may fill a NULL: then leave NOT NULL to the load */
	res = pg_query(conn, "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) "
				   "AND NOT tgisinternal AND tgenabled <> 'D' AND (tgtype & 7) = 7", 1, params);
	if (res == NULL)
	{
		free(qualified);
		return false;
	}
	bool triggers = atoi(PQgetvalue(res, 0, 0)) > 0;

	PQclear(res);
	if (triggers)
	{
		log_info("%s has BEFORE INSERT triggers: NOT NULL columns are left to the load", target);
		free(qualified);
		return true;
	}
	res = pg_query(conn, "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) "
				   "AND attnum > 0 AND NOT attisdropped AND attnotnull ORDER BY attnum", 1, params);
	free(qualified);
	if (res == NULL)
		return false;
	o->nrequired = PQntuples(res);
	o->required = xcalloc((size_t) o->nrequired + 1, sizeof *o->required);
	for (int i = 0; i < o->nrequired; i++)
		o->required[i] = xstrdup(PQgetvalue(res, i, 0));
	PQclear(res);
	return true;
}

bool
tree_options_load(tree_options *o, PGconn *conn, const plan_entity *e)
{
	buf sql;
	bool ok;

	if (e->target == NULL || e->nkey != 1)
		return true;
	char *key_type = column_type(conn, e->target, e->key[0]);
	char *depth_type = e->tree && e->tree->depth_column
		? column_type(conn, e->target, e->tree->depth_column) : NULL;
	bool int_keys = key_type == NULL ||
		strcmp(key_type, "integer") == 0 || strcmp(key_type, "bigint") == 0 ||
		strcmp(key_type, "smallint") == 0;

	buf_init(&sql, 256);
	if (key_type)
	{
		buf_puts(&sql, "SELECT ");
		pg_append_ident(&sql, e->key[0]);
		buf_puts(&sql, "::text, ");
		if (depth_type)
			pg_append_ident(&sql, e->tree->depth_column);
		else
			buf_puts(&sql, "0");
		buf_puts(&sql, " FROM ");
		pg_append_qualified(&sql, e->target);
		buf_puts(&sql, " WHERE ");
		pg_append_ident(&sql, e->key[0]);
		buf_puts(&sql, " IS NOT NULL");
	}
	else if (e->uuid_column)
	{
		/* the target does not keep the legacy key: the id map does */
		PGresult *res = pg_query(conn, "SELECT to_regclass('ferry.id_map') IS NOT NULL", 0, NULL);
		bool has_map = res && PQgetvalue(res, 0, 0)[0] == 't';

		PQclear(res);
		if (has_map)
		{
			buf_puts(&sql, "SELECT m.legacy_id, ");
			if (depth_type)
			{
				buf_puts(&sql, "t.");
				pg_append_ident(&sql, e->tree->depth_column);
			}
			else
				buf_puts(&sql, "0");
			buf_puts(&sql, " FROM ferry.id_map m JOIN ");
			pg_append_qualified(&sql, e->target);
			buf_puts(&sql, " t ON t.");
			pg_append_ident(&sql, e->uuid_column);
			buf_puts(&sql, " = m.uuid WHERE m.entity = ");
			pg_append_literal(&sql, e->name);
		}
	}
	treemap_free(o->known);
	o->known = treemap_new(int_keys);
	ok = sql.len == 0 || load_known(o, conn, buf_cstr(&sql));
	if (ok)
		log_info("%s: %zu rows already in the destination (%zu kB of tree index)", e->name,
				 treemap_count(o->known), treemap_bytes(o->known) / 1024);
	ok = ok && load_required(o, conn, e->target);
	buf_free(&sql);
	free(key_type);
	free(depth_type);
	return ok;
}

/* ---- the builder ---- */

tree_builder *
tree_new(const transform_spec *spec, const tree_options *opt, ferry_header *h, int nout,
		 ferry_writer *w, transform_stats *st)
{
	const plan_tree *pt = spec->tree;
	tree_builder *t;

	if (pt == NULL)
	{
		log_error("tree: the entity has no tree directive");
		return NULL;
	}
	if (spec->nkey != 1)
	{
		log_error("tree: the entity needs a one-column key (it has %d)", spec->nkey);
		return NULL;
	}
	int key_col = header_find(h, spec->key[0]);
	int parent_col = header_find(h, pt->parent_column);

	if (key_col < 0 || key_col >= nout)
	{
		log_error("tree: key column \"%s\" is not in the output", spec->key[0]);
		return NULL;
	}
	if (parent_col < 0 || parent_col >= nout || header_is_skip(h, pt->parent_column))
	{
		log_error("tree: parent column \"%s\" is not in the output", pt->parent_column);
		return NULL;
	}
	if (parent_col == key_col)
	{
		log_error("tree: the parent column cannot be the key");
		return NULL;
	}
	t = xcalloc(1, sizeof *t);
	t->spec = spec;
	if (opt)
		t->opt = *opt;
	else
		tree_options_init(&t->opt, pt);
	t->w = w;
	t->st = st;
	t->h = h;
	t->parent_name = pt->parent_column;
	t->n_in = t->n_out = nout;
	t->key_col = key_col;
	t->parent_col = parent_col;
	t->depth_col = -1;
	if (pt->depth_column)
	{
		t->depth_col = header_find(h, pt->depth_column);
		if (t->depth_col < 0)
		{
			/* the extract does not compute it: the transform adds it */
			t->depth_col = header_add_column(h, pt->depth_column, "integer");
			t->n_out = nout + 1;
		}
		else if (t->depth_col >= nout)
		{
			log_error("tree: depth column \"%s\" is not in the output", pt->depth_column);
			free(t);
			return NULL;
		}
		else if (h->cols[t->depth_col].kind != FK_INT)
		{
			free(h->cols[t->depth_col].type);
			h->cols[t->depth_col].type = xstrdup("integer");
			h->cols[t->depth_col].kind = FK_INT;
		}
	}
	t->req = xcalloc((size_t) t->opt.nrequired + 1, sizeof *t->req);
	for (int i = 0; i < t->opt.nrequired; i++)
	{
		int c = header_find(h, t->opt.required[i]);

		if (c >= 0 && c < nout && c != parent_col && c != t->depth_col &&
			!header_is_skip(h, t->opt.required[i]))
			t->req[t->nreq++] = c;
	}

	bool int_keys = h->cols[key_col].kind == FK_INT;

	if (t->opt.known)
	{
		if (int_keys && !treemap_int_keys(t->opt.known))
			int_keys = false;
		else if (!int_keys)
			treemap_to_hashed(t->opt.known);
		t->km = t->opt.known;
	}
	else
	{
		t->km = treemap_new(int_keys);
		t->own_km = true;
	}
	t->fd = -1;
	buf_init(&t->wbuf, 64 * 1024);
	buf_init(&t->rbuf, 64 * 1024);
	buf_init(&t->text, 64);
	buf_init(&t->key, 64);
	buf_init(&t->detail, 256);
	t->row = xcalloc((size_t) t->n_out, sizeof *t->row);
	t->rrow = xcalloc((size_t) t->n_in, sizeof *t->rrow);
	return t;
}

const tree_report *
tree_get_report(const tree_builder *t)
{
	return &t->rep;
}

void
tree_free(tree_builder *t)
{
	if (t == NULL)
		return;
	if (t->fd >= 0)
		close(t->fd);
	if (t->own_km)
		treemap_free(t->km);
	free(t->req);
	free(t->ppar);
	free(t->poff);
	free(t->pval);
	free(t->pwhy);
	free(t->stack);
	free(t->order);
	buf_free(&t->wbuf);
	buf_free(&t->rbuf);
	buf_free(&t->text);
	buf_free(&t->key);
	buf_free(&t->detail);
	free(t->row);
	free(t->rrow);
	free(t);
}

/* ---- keys ---- */

/* the key of a parent value; false when it can be no key of the map */
static bool
value_key(tree_builder *t, const ferry_value *v, int64_t *k)
{
	if (v->t == FV_INT && treemap_int_keys(t->km))
	{
		*k = v->u.i;
		return true;
	}
	buf_reset(&t->text);
	key_text(v, &t->text);
	return treemap_key(t->km, t->text.data, t->text.len, k);
}

static void
count(tree_builder *t, tree_kind k, bool rejected, const char *key, size_t keylen)
{
	tree_report *r = &t->rep;

	r->count[k]++;
	r->rejected[k] = rejected;
	if (r->nids[k] < TREE_REPORT_IDS)
	{
		size_t n = keylen < sizeof r->ids[0][0] - 1 ? keylen : sizeof r->ids[0][0] - 1;

		memcpy(r->ids[k][r->nids[k]], key, n);
		r->ids[k][r->nids[k]][n] = '\0';
		r->nids[k]++;
	}
}

/* "parent_id = 302: ..." for the row's reason */
static const char *
detail_of(tree_builder *t, const ferry_value *row, tree_kind k, bool rejected, bool root)
{
	buf *d = &t->detail;
	const char *ent = t->spec->entity ? t->spec->entity : "the entity";

	buf_reset(d);
	if (k == TK_NOT_NULL || k == TK_DUPLICATE_KEY)
		return "";              /* set by the caller */
	buf_printf(d, "%s = ", t->parent_name);
	key_text(&row[t->parent_col], d);
	buf_puts(d, ": ");
	switch (k)
	{
		case TK_ORPHAN_ROOT:
		case TK_MISSING_PARENT:
			buf_printf(d, "%s has no such row", ent);
			break;
		case TK_UNDER_MISSING_PARENT:
			buf_puts(d, "the parent is rejected, an orphan is above it");
			break;
		case TK_SELF_PARENT:
			buf_puts(d, "the row is its own parent");
			break;
		case TK_PARENT_CYCLE:
			buf_puts(d, "following parents leads back to this row (a parent cycle)");
			break;
		case TK_UNDER_CYCLE:
			buf_puts(d, "a parent cycle is above it");
			break;
		case TK_PARENT_REJECTED:
		case TK_UNDER_REJECTED_PARENT:
			buf_puts(d, "the parent is rejected");
			break;
		default:
			break;
	}
	if (!rejected)
		buf_puts(d, root ? "; loaded as a root"
				 : "; loaded below the cycle's smallest key, which is loaded as a root");
	return buf_cstr(d);
}

static bool
write_notes(tree_builder *t, const char *notes, int nnotes, const char *key)
{
	const char *p = notes;

	for (int i = 0; i < nnotes; i++)
	{
		const char *reason = p;
		const char *detail = reason + strlen(reason) + 1;

		p = detail + strlen(detail) + 1;
		if (!writer_note(t->w, reason, detail, "transform", key))
			return false;
		t->st->noted++;
	}
	return true;
}

/*
 * Write a placed row: parent column -> the parent's UUID (NULL for a
 * root), depth filled, then the transform's notes and the tree's own.
 */
static bool
emit(tree_builder *t, const ferry_value *row, int32_t depth, uint8_t why,
	 const char *key, size_t keylen, const char *notes, int nnotes)
{
	bool root = (why & W_ROOT) != 0 || row[t->parent_col].t == FV_NULL;
	tree_kind k = (tree_kind) (why & ~W_ROOT);

	memcpy(t->row, row, (size_t) t->n_in * sizeof *row);
	if (root)
		t->row[t->parent_col] = fv_null();
	else
	{
		buf_reset(&t->text);
		key_text(&row[t->parent_col], &t->text);
		uuid_for_key(t->spec->ns, t->spec->keyspace, t->text.data, t->text.len, t->puuid);
		t->row[t->parent_col] = fv_str(t->puuid, 36);
	}
	if (t->depth_col >= 0)
		t->row[t->depth_col] = fv_int(root ? 0 : depth);
	if (!writer_row(t->w, t->row, t->n_out))
		return false;
	t->st->rows_out++;
	t->rep.rows++;
	if (root)
		t->rep.roots++;
	if (depth > t->rep.max_depth)
		t->rep.max_depth = depth;
	if (!write_notes(t, notes, nnotes, key))
		return false;
	if ((why & ~W_ROOT) != W_NONE)
	{
		if (!writer_note(t->w, tree_kind_reason(k, false), detail_of(t, row, k, false, root),
						 "transform", key))
			return false;
		t->st->noted++;
		count(t, k, false, key, keylen);
	}
	return true;
}

static bool
reject(tree_builder *t, const ferry_value *row, tree_kind k, const char *detail,
	   const char *key, size_t keylen)
{
	if (detail == NULL)
		detail = detail_of(t, row, k, true, false);
	count(t, k, true, key, keylen);
	t->st->rejected++;
	return writer_reject(t->w, tree_kind_reason(k, true), detail, "transform", key, row, t->n_in);
}

/* ---- the spool ---- */

static bool
spool_open(tree_builder *t)
{
	const char *dir = t->opt.tmpdir ? t->opt.tmpdir : getenv("TMPDIR");
	buf path;

	buf_init(&path, 128);
	buf_printf(&path, "%s/ferry-tree.XXXXXX", dir && *dir ? dir : "/tmp");
	t->fd = mkstemp(path.data);
	if (t->fd < 0)
	{
		log_error("cannot create a spool file in %s: %s", dir && *dir ? dir : "/tmp",
				  strerror(errno));
		buf_free(&path);
		return false;
	}
	/* nothing to clean up after a crash */
	unlink(path.data);
	buf_free(&path);
	return true;
}

static bool
spool_flush(tree_builder *t)
{
	size_t done = 0;

	while (done < t->wbuf.len)
	{
		ssize_t n = write(t->fd, t->wbuf.data + done, t->wbuf.len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			log_error("cannot write the tree spool file: %s", strerror(errno));
			return false;
		}
		done += (size_t) n;
	}
	buf_reset(&t->wbuf);
	return true;
}

static void
put_u32(buf *b, uint32_t v)
{
	buf_append(b, &v, sizeof v);
}

/* record: nvals, values (type byte + payload), notes count, notes bytes */
static bool
spool_row(tree_builder *t, const ferry_value *row, const char *notes, int nnotes)
{
	buf *b = &t->wbuf;
	size_t start = b->len;

	if (t->fd < 0 && !spool_open(t))
		return false;
	put_u32(b, (uint32_t) t->n_in);
	for (int i = 0; i < t->n_in; i++)
	{
		const ferry_value *v = &row[i];
		uint8_t type = (uint8_t) v->t;

		buf_append(b, &type, 1);
		switch (v->t)
		{
			case FV_NULL:
				break;
			case FV_BOOL:
				{
					uint8_t x = v->u.b;

					buf_append(b, &x, 1);
					break;
				}
			case FV_INT:
				buf_append(b, &v->u.i, sizeof v->u.i);
				break;
			case FV_FLOAT32:
			case FV_FLOAT64:
				buf_append(b, &v->u.f, sizeof v->u.f);
				break;
			case FV_STR:
			case FV_BIN:
				put_u32(b, (uint32_t) v->u.s.len);
				buf_append(b, v->u.s.p, v->u.s.len);
				break;
		}
	}
	const char *p = notes;

	for (int i = 0; i < nnotes; i++)
	{
		p += strlen(p) + 1;
		p += strlen(p) + 1;
	}
	put_u32(b, (uint32_t) nnotes);
	put_u32(b, (uint32_t) (p - notes));
	buf_append(b, notes, (size_t) (p - notes));
	t->spool_len += b->len - start;
	t->rep.spool_bytes = t->spool_len;
	return b->len < SPOOL_FLUSH || spool_flush(t);
}

static bool
get_u32(const char **p, const char *end, uint32_t *v)
{
	if ((size_t) (end - *p) < sizeof *v)
		return false;
	memcpy(v, *p, sizeof *v);
	*p += sizeof *v;
	return true;
}

/* read waiting row p back into t->rrow; notes point into t->rbuf */
static bool
spool_read(tree_builder *t, size_t p, const char **notes, int *nnotes)
{
	uint64_t off = t->poff[p];
	uint64_t end = p + 1 < t->np ? t->poff[p + 1] : t->spool_len;
	size_t len = (size_t) (end - off);
	size_t got = 0;

	buf_reset(&t->rbuf);
	buf_grow(&t->rbuf, len);
	while (got < len)
	{
		ssize_t n = pread(t->fd, t->rbuf.data + got, len - got, (off_t) (off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			log_error("cannot read the tree spool file: %s", n < 0 ? strerror(errno) : "short read");
			return false;
		}
		got += (size_t) n;
	}
	t->rbuf.len = len;

	const char *q = t->rbuf.data, *e = q + len;
	uint32_t n, nn, nb;

	if (!get_u32(&q, e, &n) || n != (uint32_t) t->n_in)
		goto bad;
	for (int i = 0; i < t->n_in; i++)
	{
		ferry_value *v = &t->rrow[i];
		uint32_t sl;

		if (q >= e)
			goto bad;
		memset(v, 0, sizeof *v);
		v->t = (ferry_vtype) (uint8_t) *q++;
		switch (v->t)
		{
			case FV_NULL:
				break;
			case FV_BOOL:
				if (q >= e)
					goto bad;
				v->u.b = *q++ != 0;
				break;
			case FV_INT:
			case FV_FLOAT32:
			case FV_FLOAT64:
				if ((size_t) (e - q) < 8)
					goto bad;
				if (v->t == FV_INT)
					memcpy(&v->u.i, q, 8);
				else
					memcpy(&v->u.f, q, 8);
				q += 8;
				break;
			case FV_STR:
			case FV_BIN:
				if (!get_u32(&q, e, &sl) || (size_t) (e - q) < sl)
					goto bad;
				v->u.s.p = q;
				v->u.s.len = sl;
				q += sl;
				break;
			default:
				goto bad;
		}
	}
	if (!get_u32(&q, e, &nn) || !get_u32(&q, e, &nb) || (size_t) (e - q) != nb)
		goto bad;
	*notes = q;
	*nnotes = (int) nn;
	return true;
bad:
	log_error("the tree spool file is corrupt (record %zu)", p);
	return false;
}

/* ---- adding rows ---- */

static void
set_key(tree_builder *t, int32_t *known, int64_t k, int32_t v)
{
	if (known)
		*known = v;
	else
		treemap_put(t->km, k, v);
}

static bool
add_pending(tree_builder *t, int32_t *known, int64_t k, int64_t pk, const ferry_value *row,
			const char *notes, int nnotes)
{
	if (t->np == t->pcap)
	{
		t->pcap = t->pcap ? t->pcap * 2 : 1024;
		if (t->pcap > (size_t) INT32_MAX + (size_t) V_PENDING)
			die(FERRY_EXIT_INTERNAL, "tree: too many rows waiting for their parent");
		t->ppar = xrealloc(t->ppar, t->pcap * sizeof *t->ppar);
		t->poff = xrealloc(t->poff, t->pcap * sizeof *t->poff);
		t->pval = xrealloc(t->pval, t->pcap * sizeof *t->pval);
		t->pwhy = xrealloc(t->pwhy, t->pcap * sizeof *t->pwhy);
		size_t bytes = t->pcap * (sizeof *t->ppar + sizeof *t->poff + sizeof *t->pval +
								  sizeof *t->pwhy);

		if (bytes > t->rep.pending_bytes)
			t->rep.pending_bytes = bytes;
	}
	size_t p = t->np;

	t->ppar[p] = pk;
	t->poff[p] = t->spool_len;
	t->pval[p] = P_UNRESOLVED;
	t->pwhy[p] = W_NONE;
	if (!spool_row(t, row, notes, nnotes))
		return false;
	t->np++;
	set_key(t, known, k, (int32_t) (V_PENDING - (int64_t) p));
	return true;
}

static void
track_index(tree_builder *t)
{
	size_t b = treemap_bytes(t->km);

	if (b > t->rep.index_bytes)
		t->rep.index_bytes = b;
}

bool
tree_add(tree_builder *t, const char *key, size_t keylen, const ferry_value *row,
		 const char *notes, int nnotes)
{
	int64_t k, pk;
	int32_t *known = NULL;
	const ferry_value *pv = &row[t->parent_col];

	if ((t->st->rows_in & 0xffff) == 0)
		track_index(t);
	if (!treemap_key(t->km, key, keylen, &k))
	{
		buf_reset(&t->detail);
		buf_printf(&t->detail, "key %.*s is not an integer", (int) (keylen > 60 ? 60 : keylen), key);
		return reject(t, row, TK_DUPLICATE_KEY, buf_cstr(&t->detail), key, keylen);
	}
	int32_t *cur = treemap_find(t->km, k);

	if (cur)
	{
		if (*cur < 0 || !(*cur & TREE_KNOWN))
		{
			buf_reset(&t->detail);
			buf_printf(&t->detail, "%s = %.*s: a second row with this key", t->spec->key[0],
					   (int) (keylen > 200 ? 200 : keylen), key);
			return reject(t, row, TK_DUPLICATE_KEY, buf_cstr(&t->detail), key, keylen);
		}
		/* the destination has it already (incremental): this row replaces it */
		known = cur;
	}
	for (int i = 0; i < t->nreq; i++)
		if (row[t->req[i]].t == FV_NULL)
		{
			const char *col = t->h->cols[t->req[i]].name;

			buf_reset(&t->detail);
			buf_printf(&t->detail, "%s is NULL: the destination column is NOT NULL "
					   "(rejected before the load so that replies follow --rejected-parent)", col);
			/* what made it NULL, when the transform did */
			const char *np = notes;

			for (int n = 0; n < nnotes; n++)
			{
				const char *reason = np, *detail = np + strlen(np) + 1;

				buf_printf(&t->detail, "; %s: %s", reason, detail);
				np = detail + strlen(detail) + 1;
			}
			set_key(t, known, k, V_REJECTED);
			return reject(t, row, TK_NOT_NULL, buf_cstr(&t->detail), key, keylen);
		}
	if (pv->t == FV_NULL)
	{
		set_key(t, known, k, 0);
		return emit(t, row, 0, W_NONE, key, keylen, notes, nnotes);
	}
	if (!value_key(t, pv, &pk))
	{
		/* a parent that no key can be (text in an integer tree): an orphan now */
		if (t->opt.orphan == TREE_ROOT)
		{
			set_key(t, known, k, 0);
			return emit(t, row, 0, TK_ORPHAN_ROOT | W_ROOT, key, keylen, notes, nnotes);
		}
		set_key(t, known, k, V_ORPHAN);
		return reject(t, row, TK_MISSING_PARENT, NULL, key, keylen);
	}
	if (pk == k)
	{
		if (t->opt.cycle == TREE_ROOT)
		{
			set_key(t, known, k, 0);
			return emit(t, row, 0, TK_SELF_PARENT | W_ROOT, key, keylen, notes, nnotes);
		}
		set_key(t, known, k, V_CYCLE);
		return reject(t, row, TK_SELF_PARENT, NULL, key, keylen);
	}

	int32_t *pvp = treemap_find(t->km, pk);
	int32_t v = pvp ? *pvp : V_ABSENT;

	if (v >= 0)
	{
		int32_t d = (v & ~TREE_KNOWN) + 1;

		if (d >= TREE_KNOWN)
			die(FERRY_EXIT_INTERNAL, "tree: depth over %d", TREE_KNOWN);
		set_key(t, known, k, d);
		return emit(t, row, d, W_NONE, key, keylen, notes, nnotes);
	}
	switch (v)
	{
		case V_REJECTED:
			if (t->opt.rejected_parent == TREE_ROOT)
			{
				set_key(t, known, k, 0);
				return emit(t, row, 0, TK_PARENT_REJECTED | W_ROOT, key, keylen, notes, nnotes);
			}
			set_key(t, known, k, V_REJECTED);
			return reject(t, row, TK_UNDER_REJECTED_PARENT, NULL, key, keylen);
		case V_CYCLE:
			set_key(t, known, k, V_CYCLE);
			return reject(t, row, TK_UNDER_CYCLE, NULL, key, keylen);
		case V_ORPHAN:
			set_key(t, known, k, V_ORPHAN);
			return reject(t, row, TK_UNDER_MISSING_PARENT, NULL, key, keylen);
		default:
			/* the parent is waiting, or not seen yet */
			return add_pending(t, known, k, pk, row, notes, nnotes);
	}
}

void
tree_add_rejected(tree_builder *t, const char *key, size_t keylen)
{
	int64_t k;

	if (!treemap_key(t->km, key, keylen, &k))
		return;
	int32_t *cur = treemap_find(t->km, k);

	/* a row the destination has keeps its children there; a duplicate changes nothing */
	if (cur == NULL)
		treemap_put(t->km, k, V_REJECTED);
}

/* ---- resolving the waiting rows ---- */

static void
resolve(tree_builder *t, size_t p, int32_t val, uint8_t why)
{
	t->pval[p] = val;
	t->pwhy[p] = why;
	t->order[t->norder++] = (uint32_t) p;
}

static void
push(tree_builder *t, size_t p)
{
	if (t->nstack == t->stack_cap)
	{
		t->stack_cap = t->stack_cap ? t->stack_cap * 2 : 1024;
		t->stack = xrealloc(t->stack, t->stack_cap * sizeof *t->stack);
	}
	t->stack[t->nstack++] = (uint32_t) p;
	t->pval[p] = P_VISITING;
}

/* the rows below the top of the stack follow their parent, top to bottom */
static void
unwind_below(tree_builder *t, size_t from)
{
	for (size_t i = from; i-- > 0;)
	{
		size_t p = t->stack[i], parent = t->stack[i + 1];
		int32_t pv = t->pval[parent];

		if (pv >= 0)
		{
			if (pv + 1 >= TREE_KNOWN)
				die(FERRY_EXIT_INTERNAL, "tree: depth over %d", TREE_KNOWN);
			resolve(t, p, pv + 1, W_NONE);
		}
		else if (pv == V_CYCLE)
			resolve(t, p, V_CYCLE, TK_UNDER_CYCLE);
		else if (pv == V_ORPHAN)
			resolve(t, p, V_ORPHAN, TK_UNDER_MISSING_PARENT);
		else
			resolve(t, p, V_REJECTED, TK_UNDER_REJECTED_PARENT);
	}
}

/* the top of the stack hangs below a row whose state is v */
static void
unwind(tree_builder *t, int32_t v)
{
	size_t top = t->stack[t->nstack - 1];

	if (v >= 0)
	{
		int32_t d = (v & ~TREE_KNOWN) + 1;

		if (d >= TREE_KNOWN)
			die(FERRY_EXIT_INTERNAL, "tree: depth over %d", TREE_KNOWN);
		resolve(t, top, d, W_NONE);
	}
	else if (v == V_ABSENT)
	{
		if (t->opt.orphan == TREE_ROOT)
			resolve(t, top, 0, TK_ORPHAN_ROOT | W_ROOT);
		else
			resolve(t, top, V_ORPHAN, TK_MISSING_PARENT);
	}
	else if (v == V_REJECTED)
	{
		if (t->opt.rejected_parent == TREE_ROOT)
			resolve(t, top, 0, TK_PARENT_REJECTED | W_ROOT);
		else
			resolve(t, top, V_REJECTED, TK_UNDER_REJECTED_PARENT);
	}
	else if (v == V_CYCLE)
		resolve(t, top, V_CYCLE, TK_UNDER_CYCLE);
	else
		resolve(t, top, V_ORPHAN, TK_UNDER_MISSING_PARENT);
	unwind_below(t, t->nstack - 1);
}

/*
 * stack[k..n-1] is a cycle: parent(stack[i]) = stack[i+1], and
 * parent(stack[n-1]) = stack[k].  stack[0..k-1] hang below it.
 */
static void
unwind_cycle(tree_builder *t, size_t k)
{
	size_t n = t->nstack;
	size_t len = n - k;
	tree_kind kind = len == 1 ? TK_SELF_PARENT : TK_PARENT_CYCLE;

	if (t->opt.cycle == TREE_REJECT)
	{
		for (size_t i = n; i-- > k;)
			resolve(t, t->stack[i], V_CYCLE, kind);
		unwind_below(t, k);
		return;
	}
	/* break the cycle at its smallest key: a member's key is its child's parent key */
	size_t j = k;
	int64_t min = t->ppar[t->stack[n - 1]];

	for (size_t i = k + 1; i < n; i++)
		if (t->ppar[t->stack[i - 1]] < min)
		{
			min = t->ppar[t->stack[i - 1]];
			j = i;
		}
	size_t cur = j;

	resolve(t, t->stack[j], 0, kind | W_ROOT);
	for (size_t step = 1; step < len; step++)
	{
		cur = cur == k ? n - 1 : cur - 1;
		resolve(t, t->stack[cur], (int32_t) step, kind);
	}
	/* rows below a broken cycle are ordinary replies */
	unwind_below(t, k);
}

static void
resolve_all(tree_builder *t)
{
	t->order = xmalloc((t->np ? t->np : 1) * sizeof *t->order);
	t->norder = 0;
	for (size_t p0 = 0; p0 < t->np; p0++)
	{
		if (t->pval[p0] != P_UNRESOLVED)
			continue;
		t->nstack = 0;
		push(t, p0);
		for (;;)
		{
			size_t cur = t->stack[t->nstack - 1];
			int32_t *vp = treemap_find(t->km, t->ppar[cur]);
			int32_t v = vp ? *vp : V_ABSENT;

			if (v <= V_PENDING)
			{
				size_t q = (size_t) ((int64_t) V_PENDING - v);

				if (t->pval[q] == P_UNRESOLVED)
				{
					push(t, q);
					continue;
				}
				if (t->pval[q] == P_VISITING)
				{
					size_t k = t->nstack;

					while (t->stack[--k] != q)
						;
					unwind_cycle(t, k);
					break;
				}
				v = t->pval[q];
			}
			unwind(t, v);
			break;
		}
	}
}

/* ---- the end ---- */

static void
report(tree_builder *t)
{
	const tree_report *r = &t->rep;
	const char *ent = t->spec->entity ? t->spec->entity : "tree";
	buf line, ev;

	t->rep.direct = r->rows - r->deferred;
	buf_init(&line, 256);
	buf_init(&ev, 256);
	log_info("%s: tree: %" PRIu64 " rows, %" PRIu64 " roots, depth up to %" PRId64 "; %" PRIu64
			 " waited for their parent (%" PRIu64 " kB spooled); index %zu kB, waiting rows %zu kB",
			 ent, r->rows, r->roots, r->max_depth, r->deferred, r->spool_bytes / 1024,
			 r->index_bytes / 1024, r->pending_bytes / 1024);
	buf_printf(&ev, "\"rows\":%" PRIu64 ",\"roots\":%" PRIu64 ",\"max_depth\":%" PRId64
			   ",\"deferred\":%" PRIu64 ",\"index_bytes\":%zu,\"pending_bytes\":%zu",
			   r->rows, r->roots, r->max_depth, r->deferred, r->index_bytes, r->pending_bytes);
	for (int k = 0; k < TK_COUNT; k++)
	{
		if (r->count[k] == 0)
			continue;
		const char *reason = tree_kind_reason((tree_kind) k, r->rejected[k]);

		buf_reset(&line);
		for (int i = 0; i < r->nids[k]; i++)
			buf_printf(&line, "%s%s", i ? ", " : "", r->ids[k][i]);
		if (r->count[k] > (uint64_t) r->nids[k])
			buf_puts(&line, ", ...");
		log_result("%s: %" PRIu64 " %s (%s): %s", ent, r->count[k], reason,
				   r->rejected[k] ? "rejected" : "loaded, noted", buf_cstr(&line));
		buf_printf(&ev, ",\"%s\":%" PRIu64, reason, r->count[k]);
	}
	event_emit("tree", "%s", buf_cstr(&ev));
	buf_free(&line);
	buf_free(&ev);
}

bool
tree_finish(tree_builder *t)
{
	if (t->finished)
		return true;
	t->finished = true;
	track_index(t);
	if (t->fd >= 0 && !spool_flush(t))
		return false;
	resolve_all(t);
	for (size_t i = 0; i < t->norder; i++)
	{
		size_t p = t->order[i];
		const char *notes;
		int nnotes;

		if (!spool_read(t, p, &notes, &nnotes))
			return false;
		buf_reset(&t->key);
		key_text(&t->rrow[t->key_col], &t->key);

		const char *keybuf = buf_cstr(&t->key);
		size_t kl = t->key.len;
		int32_t v = t->pval[p];
		uint8_t why = t->pwhy[p];
		bool ok;

		if (v >= 0)
		{
			t->rep.deferred++;
			ok = emit(t, t->rrow, v, why, keybuf, kl, notes, nnotes);
		}
		else
			ok = reject(t, t->rrow, (tree_kind) (why & ~W_ROOT), NULL, keybuf, kl);
		if (!ok)
			return false;
	}
	report(t);
	if (t->opt.report)
		*t->opt.report = t->rep;
	return true;
}
