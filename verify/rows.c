/*
 * rows.c: row mode.  The transformed stream of an entity (what the load
 * was given, or the same extract and transform run again) against the
 * destination, row by row.
 *
 * The stream's rows go into the expected-rows table in the destination
 * (expect.c; memory stays bounded whatever the table's size and whatever
 * order the stream has: key order or tree order), its rejects and notes
 * with them.  Then, in SQL: rows the run rejected (ferry.rejects) are
 * accounted as rejects; every other row is looked up by its uuid (or its
 * key) and compared column by column (compare.c); destination rows no
 * stream row explains are extra.
 */
#include <stdlib.h>
#include <string.h>

#include "columns.h"
#include "exitcode.h"
#include "io.h"
#include "log.h"
#include "pgconn.h"
#include "stream.h"
#include "value.h"
#include "verify.h"

static const plan_ref *
deferred(const plan_entity *e, const char *column)
{
	for (int i = 0; e && i < e->nrefs; i++)
		if (e->refs[i].kind == REF_DEFER && strcmp(e->refs[i].column, column) == 0)
			return &e->refs[i];
	return NULL;
}

/* the entity as the stream and the destination describe it; an exit code */
static int
describe(vctx *c, const plan_entity *e, const char *target, const char *entity,
		 const ferry_header *h, bool fixup, ventity *v, int *uuid_in, int *key_in)
{
	char **names, **types;
	int n;
	buf b;

	v->p = c->p;
	v->e = e;
	v->name = xstrdup(entity);
	v->target = xstrdup(target);
	buf_init(&b, 64);
	pg_append_qualified(&b, target);
	v->target_sql = (char *) buf_cstr(&b);
	if ((names = dest_columns(c->dst, target, &n, &types)) == NULL)
		return FERRY_EXIT_TARGET;

	int code = FERRY_EXIT_OK;

	*uuid_in = -1;
	if (h->uuid_column && column_type(names, types, n, h->uuid_column))
	{
		v->uuid = xstrdup(h->uuid_column);
		*uuid_in = header_find(h, h->uuid_column);
	}
	v->nkey = h->nkey;
	v->key = xcalloc((size_t) h->nkey + 1, sizeof *v->key);
	v->key_type = xcalloc((size_t) h->nkey + 1, sizeof *v->key_type);
	v->key_in_target = h->nkey > 0;
	for (int k = 0; k < h->nkey; k++)
	{
		const char *t = column_type(names, types, n, h->key[k]);

		v->key[k] = xstrdup(h->key[k]);
		v->key_type[k] = xstrdup(t ? t : "text");
		key_in[k] = header_find(h, h->key[k]);
		if (t == NULL || header_is_skip(h, h->key[k]))
			v->key_in_target = false;
	}
	v->key_numeric = h->nkey == 1 && key_in[0] >= 0 && h->cols[key_in[0]].kind == FK_INT;
	if (e && e->tree)
		v->parent = xstrdup(e->tree->parent_column);

	buf_init(&b, 64);
	buf_puts(&b, v->name);
	for (int i = 0; i < h->ncols; i++)
	{
		const char *name = h->cols[i].name;
		const char *t;
		bool is_deferred = deferred(e, name) != NULL;

		if (header_is_skip(h, name) || (v->uuid && strcmp(name, v->uuid) == 0))
			continue;
		if (is_deferred && !fixup)
		{
			ventity_skip(v, name, "deferred: the stream has NULL, the fix-up step sets it; "
						 "checked with --fixup");
			continue;
		}
		if (fixup && !is_deferred)
			continue;
		if ((t = column_type(names, types, n, name)) == NULL)
		{
			log_error("target: table %s has no column \"%s\" (the stream has it)", target, name);
			code = FERRY_EXIT_TARGET;
			break;
		}
		ventity_add_col(v, name, t)->in = i;
		if (fixup)
			buf_printf(&b, "%s%s", b.len == strlen(v->name) ? ":" : ",", name);
	}
	v->label = (char *) buf_cstr(&b);
	if (code == FERRY_EXIT_OK && v->uuid == NULL && !v->key_in_target)
	{
		log_error("%s: the stream's rows cannot be found in %s: it has no uuid column, and "
				  "its key columns are not all columns of the table", v->label, target);
		code = FERRY_EXIT_USAGE;
	}
	if (code == FERRY_EXIT_OK && fixup && v->ncols == 0)
	{
		log_error("%s: --fixup: the plan defers no column of the stream", v->label);
		code = FERRY_EXIT_USAGE;
	}
	for (int i = 0; i < n; i++)
	{
		free(names[i]);
		free(types[i]);
	}
	free(names);
	free(types);
	return code;
}

/* the values of one record, as text: NULL for SQL NULL */
typedef struct rowtext
{
	buf data;
	size_t *off;
	bool *null;
	const char **vals;
	const char **keyvals;
	size_t *koff;
	bool *knull;
	buf key;
	buf uuid;
} rowtext;

static void
text_of(const ferry_value *v, buf *data, size_t *off, bool *null)
{
	*off = data->len;
	*null = v->t == FV_NULL;
	value_to_text(v, data);
	buf_putc(data, '\0');
}

/* key text, uuid and compared values of a row of h */
static void
row_text(rowtext *t, const ventity *v, const ferry_value *vals, int nvals, int uuid_in,
		 const int *key_in)
{
	buf_reset(&t->data);
	buf_reset(&t->key);
	buf_reset(&t->uuid);
	for (int k = 0; k < v->nkey; k++)
	{
		size_t at = t->data.len;

		if (key_in[k] < 0 || key_in[k] >= nvals)
		{
			t->knull[k] = true;
			continue;
		}
		text_of(&vals[key_in[k]], &t->data, &t->koff[k], &t->knull[k]);
		key_text_append(&t->key, k, v->nkey, t->data.data + at, strlen(t->data.data + at));
	}
	if (uuid_in >= 0 && uuid_in < nvals && vals[uuid_in].t != FV_NULL)
		value_to_text(&vals[uuid_in], &t->uuid);
	for (int i = 0; i < v->ncols; i++)
	{
		if (v->cols[i].in >= nvals)
			t->null[i] = true;
		else
			text_of(&vals[v->cols[i].in], &t->data, &t->off[i], &t->null[i]);
	}
	/* pointers once the buffer has stopped moving */
	for (int k = 0; k < v->nkey; k++)
		t->keyvals[k] = t->knull[k] ? NULL : t->data.data + t->koff[k];
	for (int i = 0; i < v->ncols; i++)
		t->vals[i] = t->null[i] ? NULL : t->data.data + t->off[i];
	buf_cstr(&t->key);
	buf_cstr(&t->uuid);
}

/* rejected by reason, notes by reason, rows to compare, repaired rows: from the table */
static bool
tally(vctx *c, vresult *r)
{
	PGresult *res = pg_query(c->dst,
							 "SELECT _disp, coalesce(_reason, '?'), count(*) FROM pg_temp.ferry_verify_expect "
							 "WHERE _disp IS NOT NULL GROUP BY 1, 2 ORDER BY 3 DESC, 2", 0, NULL);

	if (res == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		bool rej = strcmp(PQgetvalue(res, i, 0), "rejected") == 0;
		long long n = atoll(PQgetvalue(res, i, 2));

		counts_add(rej ? &r->rejected_by : &r->repaired_by, PQgetvalue(res, i, 1), n);
		if (rej)
			r->rejected += n;
	}
	PQclear(res);
	res = pg_query(c->dst, "SELECT count(DISTINCT n._key) FROM pg_temp.ferry_verify_expect n "
				   "WHERE n._disp = 'note' AND EXISTS (SELECT 1 FROM pg_temp.ferry_verify_expect e "
				   "WHERE e._disp IS NULL AND e._key = n._key)", 0, NULL);
	if (res == NULL)
		return false;
	r->repaired = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return true;
}

int
verify_rows(vctx *c, const plan_entity *e, const char *target, const char *entity,
			const char *path, bool fixup, vresult *r)
{
	ferry_input *in = in_open(path);
	ferry_reader *rd = NULL;
	vexpect *x = NULL;
	ventity v;
	rowtext t;
	ferry_record rec;
	int code = FERRY_EXIT_OK, got, uuid_in = -1, *key_in = NULL;
	vcompare cmp;

	ventity_init(&v);
	memset(&t, 0, sizeof t);
	if (in == NULL)
		return FERRY_EXIT_IO;
	if ((rd = reader_open(in)) == NULL)
	{
		in_close(in);
		return FERRY_EXIT_STREAM;
	}
	const ferry_header *h = reader_header(rd);

	if (entity == NULL)
		entity = e ? e->name : h->entity;
	if (target == NULL && e)
		target = e->target;
	if (entity == NULL || target == NULL)
	{
		log_error("row mode needs the entity and its table: --plan FILE --entity NAME, or "
				  "--target-table with a stream that names its entity");
		code = FERRY_EXIT_USAGE;
		goto done;
	}
	if (h->entity && strcmp(h->entity, entity) != 0)
		log_warn("the stream is of entity \"%s\", not \"%s\"", h->entity, entity);
	key_in = xcalloc((size_t) h->nkey + 1, sizeof *key_in);
	if ((code = describe(c, e, target, entity, h, fixup, &v, &uuid_in, key_in)) != FERRY_EXIT_OK)
		goto done;
	free(r->entity);
	r->entity = xstrdup(v.label);
	for (int i = 0; i < v.nskipped; i++)
		result_note(r, "not compared: %s", v.skipped[i]);
	if ((x = expect_new(c->dst, &v, false)) == NULL)
	{
		code = FERRY_EXIT_TARGET;
		goto done;
	}
	buf_init(&t.data, 4096);
	buf_init(&t.key, 64);
	buf_init(&t.uuid, 40);
	t.off = xcalloc((size_t) v.ncols + 1, sizeof *t.off);
	t.null = xcalloc((size_t) v.ncols + 1, sizeof *t.null);
	t.vals = xcalloc((size_t) v.ncols + 1, sizeof *t.vals);
	t.koff = xcalloc((size_t) v.nkey + 1, sizeof *t.koff);
	t.knull = xcalloc((size_t) v.nkey + 1, sizeof *t.knull);
	t.keyvals = xcalloc((size_t) v.nkey + 1, sizeof *t.keyvals);
	progress_start(v.label, -1);
	while ((got = reader_next(rd, &rec)) == 1)
	{
		bool ok;

		if (rec.type == FR_ROW)
		{
			row_text(&t, &v, rec.vals, rec.nvals, uuid_in, key_in);
			ok = expect_add(x, NULL, NULL, t.key.len ? t.key.data : NULL,
							t.uuid.len ? t.uuid.data : NULL, t.vals, v.uuid ? NULL : t.keyvals);
		}
		else
		{
			const char *uuid = NULL;

			if (rec.type == FR_REJECT && rec.vals)
			{
				row_text(&t, &v, rec.vals, rec.nvals, uuid_in, key_in);
				uuid = t.uuid.len ? t.uuid.data : NULL;
			}
			ok = expect_add(x, rec.type == FR_REJECT ? "rejected" : "note", rec.reason, rec.key,
							uuid, NULL, NULL);
		}
		if (!ok)
		{
			code = FERRY_EXIT_TARGET;
			break;
		}
		if (io_interrupted)
		{
			code = FERRY_EXIT_INTERRUPTED;
			break;
		}
	}
	progress_done((int64_t) reader_rows(rd));
	if (code == FERRY_EXIT_OK && got < 0)
		code = FERRY_EXIT_STREAM;
	if (code != FERRY_EXIT_OK)
		goto done;
	r->source_rows = (long long) (reader_rows(rd) + reader_rejects(rd));
	r->source_when = "stream";
	if (!expect_finish(x, c) || !tally(c, r) || !compare_expected(c, &v, false, r, &cmp) ||
		(!fixup && !compare_extra(c, &v, r)))
	{
		code = FERRY_EXIT_TARGET;
		goto done;
	}
	r->loaded = cmp.present;
	if (c->refs && !fixup)
		code = verify_refs(c, &v, r);
	if (fixup)
	{
		/* a fix-up is not a migration of rows: only its columns count */
		r->source_rows = cmp.rows;
		r->rejected = 0;
	}
done:
	expect_free(x);
	buf_free(&t.data);
	buf_free(&t.key);
	buf_free(&t.uuid);
	free(t.off);
	free(t.null);
	free(t.vals);
	free(t.koff);
	free(t.knull);
	free(t.keyvals);
	free(key_in);
	ventity_free(&v);
	reader_free(rd);
	in_close(in);
	return code;
}
