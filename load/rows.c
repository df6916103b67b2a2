/*
 * rows.c: the batch being built: its rows as COPY text, their keys and uuids,
 * and the rejects and notes it will record.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "exitcode.h"
#include "io.h"
#include "jsoncheck.h"
#include "legacykey.h"
#include "loadctx.h"
#include "log.h"
#include "pgconn.h"
#include "uuidset.h"

/* ---- building the batch ---- */

void
batch_reset(load_ctx *c)
{
	buf_reset(&c->copy);
	buf_reset(&c->keys);
	buf_reset(&c->uuids);
	buf_reset(&c->parents);
	buf_reset(&c->rej_copy);
	buf_reset(&c->rej_json);
	c->nrows = 0;
	c->batch_records = 0;
	c->batch_rejected = 0;
	c->line_off[0] = 0;
}

static void
ensure_cap(load_ctx *c)
{
	if (c->nrows + 1 < c->cap)
		return;
	c->cap *= 2;
	c->line_off = xrealloc(c->line_off, (size_t) c->cap * sizeof *c->line_off);
	c->key_off = xrealloc(c->key_off, (size_t) c->cap * sizeof *c->key_off);
	c->loaded = xrealloc(c->loaded, (size_t) c->cap * sizeof *c->loaded);
}

/* legacy key text of a record (lib/legacykey.h) */
void
append_key(load_ctx *c, const ferry_value *vals, buf *out)
{
	for (int k = 0; k < c->nkey; k++)
	{
		buf_reset(&c->scratch);
		value_to_text(&vals[c->key_idx[k]], &c->scratch);
		legacy_key_append(out, k, c->nkey, c->scratch.data, c->scratch.len);
	}
}

void
add_row(load_ctx *c, const ferry_value *vals)
{
	ensure_cap(c);
	for (int i = 0; i < c->nload; i++)
	{
		if (i)
			buf_putc(&c->copy, '\t');
		copytext_append_value(&c->copy, &vals[c->load_idx[i]]);
	}
	buf_putc(&c->copy, '\n');
	c->key_off[c->nrows] = c->keys.len;
	if (c->nkey)
		append_key(c, vals, &c->keys);
	buf_putc(&c->keys, '\0');
	if (c->uuid_idx >= 0 && vals[c->uuid_idx].t == FV_STR && vals[c->uuid_idx].u.s.len == 36)
		buf_append(&c->uuids, vals[c->uuid_idx].u.s.p, 36);
	else
		buf_append(&c->uuids, "000000000000000000000000000000000000", 36);
	if (c->parent_idx >= 0)
	{
		const ferry_value *p = &vals[c->parent_idx];

		buf_append(&c->parents, p->t == FV_STR && p->u.s.len == 36 ? p->u.s.p
				   : "------------------------------------", 36);
	}
	c->loaded[c->nrows] = false;
	c->nrows++;
	c->line_off[c->nrows] = c->copy.len;
}

/* JSON object of a row: column name -> value */
void
row_json(load_ctx *c, const ferry_value *vals, int n, const int *idx, buf *out)
{
	buf_putc(out, '{');
	for (int i = 0; i < n; i++)
	{
		const char *name = c->h->cols[idx ? idx[i] : i].name;

		if (i)
			buf_putc(out, ',');
		buf_json_string(out, name, strlen(name));
		buf_putc(out, ':');
		/* password hashes stay in the destination, never in rejects or logs */
		if (strcasestr(name, "password") && vals[i].t != FV_NULL)
			buf_puts(out, "\"[redacted]\"");
		else
			value_to_json(&vals[i], out);
	}
	buf_putc(out, '}');
}

/* a reject event, its key as a JSON string */
void
reject_event(const char *key, const char *reason)
{
	buf k;

	buf_init(&k, 32);
	buf_json_string(&k, key ? key : "", key ? strlen(key) : 0);
	event_emit("reject", "\"key\":%s,\"reason\":\"%s\"", buf_cstr(&k), reason);
	buf_free(&k);
}

static void
copy_field(buf *out, const char *s)
{
	ferry_value v = s ? fv_str(s, strlen(s)) : fv_null();

	copytext_append_value(out, &v);
}

/* record a reject or a note for ferry.rejects and the rejects file */
void
add_reject(load_ctx *c, const char *stage, const char *reason, const char *detail,
		   const char *key, const char *disposition, const buf *json_row)
{
	const load_spec *s = c->spec;
	buf *o = &c->rej_copy;

	copy_field(o, s->run);
	buf_putc(o, '\t');
	copy_field(o, s->entity);
	buf_putc(o, '\t');
	copy_field(o, key);
	buf_putc(o, '\t');
	copy_field(o, stage ? stage : "unknown");
	buf_putc(o, '\t');
	copy_field(o, s->phase);
	buf_putc(o, '\t');
	copy_field(o, reason);
	buf_putc(o, '\t');
	copy_field(o, detail);
	buf_putc(o, '\t');
	copy_field(o, disposition);
	buf_putc(o, '\t');
	if (json_row)
	{
		ferry_value v = fv_str(json_row->data, json_row->len);

		copytext_append_value(o, &v);
	}
	else
		buf_puts(o, "\\N");
	buf_putc(o, '\n');

	buf *j = &c->rej_json;

	buf_puts(j, "{\"run\":");
	if (s->run)
		buf_json_string(j, s->run, strlen(s->run));
	else
		buf_puts(j, "null");
	buf_puts(j, ",\"entity\":");
	if (s->entity)
		buf_json_string(j, s->entity, strlen(s->entity));
	else
		buf_puts(j, "null");
	buf_puts(j, ",\"key\":");
	if (key)
		buf_json_string(j, key, strlen(key));
	else
		buf_puts(j, "null");
	buf_printf(j, ",\"stage\":\"%s\",\"disposition\":\"%s\",\"reason\":", stage ? stage : "unknown",
			   disposition);
	buf_json_string(j, reason, strlen(reason));
	buf_puts(j, ",\"detail\":");
	if (detail)
		buf_json_string(j, detail, strlen(detail));
	else
		buf_puts(j, "null");
	if (json_row)
	{
		buf_puts(j, ",\"row\":");
		buf_append(j, json_row->data, json_row->len);
	}
	buf_puts(j, "}\n");
	c->batch_rejected++;
}

/* the row's values as a JSON object, for rejects and notes */
void
row_json_of(load_ctx *c, int row, buf *json)
{
	size_t len = c->line_off[row + 1] - c->line_off[row] - 1;

	if (copytext_parse_row(c->copy.data + c->line_off[row], len, c->load_kinds, c->nload,
						   &c->scratch, c->vals, &c->err))
		row_json(c, c->vals, c->nload, c->load_idx, json);
	else
		buf_puts(json, "null");
}

/* set aside one row the target refused */
void
reject_row(load_ctx *c, int row, const char *reason, const char *detail)
{
	const char *key = c->keys.data + c->key_off[row];
	buf json;

	buf_init(&json, 256);
	row_json_of(c, row, &json);
	add_reject(c, "load", reason, detail, *key ? key : NULL, "rejected", &json);
	buf_free(&json);
	c->stats->rejected++;
	reject_event(key, reason);
}
