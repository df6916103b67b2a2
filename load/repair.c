/*
 * repair.c: what the load judges itself: the precheck of a row before it is
 * sent (NOT NULL, JSON syntax), and the plan's repairs of a value the
 * destination refused.
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
#include "loadctx.h"
#include "log.h"
#include "pgconn.h"
#include "uuidset.h"

/* the column a row's error is about: the server's column field, or COPY's context */
static char *
error_column(const PGresult *res)
{
	const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);

	if (col)
		return xstrdup(col);
	/* "COPY t, line 3, column metadata: \"...\"" */
	for (const char *l = ctx; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, "COPY ", 5) == 0)
		{
			const char *p = strstr(l, ", column ");
			const char *end = p ? strchr(p + 9, ':') : NULL;

			if (end)
				return xstrndup(p + 9, (size_t) (end - p - 9));
			break;
		}
	return NULL;
}

/* the repair value for a loaded column, or NULL; sets *field to its index */
static const char *
repair_for(load_ctx *c, const char *column, int *field)
{
	for (int r = 0; r < c->spec->nrepair; r++)
		if (strcmp(c->spec->repair_cols[r], column) == 0)
			for (int i = 0; i < c->nload; i++)
				if (strcmp(c->h->cols[c->load_idx[i]].name, column) == 0)
				{
					*field = i;
					return c->spec->repair_vals[r];
				}
	return NULL;
}

/* line with its field-th field replaced by value, into out */
static void
replace_field(const char *line, size_t len, int field, const char *value, buf *out)
{
	const char *p = line, *end = line + len;

	buf_reset(out);
	for (int i = 0; p <= end; i++)
	{
		const char *tab = memchr(p, '\t', (size_t) (end - p));
		const char *fend = tab ? tab : end;

		if (i)
			buf_putc(out, '\t');
		if (i == field)
			buf_puts(out, value);
		else
			buf_append(out, p, (size_t) (fend - p));
		if (!tab)
			break;
		p = tab + 1;
	}
	buf_putc(out, '\n');
}

/*
 * One row the target refused: load it repaired when the plan says how to
 * repair the column at fault, else reject it.  Returns false on a fatal
 * error.
 */
bool
settle_row(load_ctx *c, int row, const PGresult *first, const char *reason, const char *msg)
{
	buf line, notes;
	char *column = error_column(first);
	bool done = false, ok = true;
	int field;
	const char *value;

	buf_init(&line, 256);
	buf_init(&notes, 256);
	buf_append(&line, c->copy.data + c->line_off[row], c->line_off[row + 1] - c->line_off[row]);
	/* a few columns may each need their repair: try them in turn */
	for (int attempt = 0; attempt < 4 && column && (value = repair_for(c, column, &field)); attempt++)
	{
		buf fixed;

		buf_init(&fixed, line.len + 16);
		replace_field(line.data, line.len - 1, field, value, &fixed);
		if (notes.len)
			buf_puts(&notes, "; ");
		buf_printf(&notes, "%s: %s: loaded as %s", column, attempt ? "then" : msg,
				   strcmp(value, "\\N") == 0 ? "NULL" : value);
		if (!exec_ok(c, "SAVEPOINT ferry_repair"))
		{
			buf_free(&fixed);
			ok = false;
			break;
		}
		PGresult *res = put_data(c, fixed.data, fixed.len);

		buf_free(&line);
		line = fixed;
		free(column);
		column = NULL;
		if (res == NULL)
		{
			done = exec_ok(c, "RELEASE SAVEPOINT ferry_repair");
			ok = done;
			break;
		}
		bool rowerr = row_error(res);

		if (rowerr)
			column = error_column(res);
		PQclear(res);
		if (!exec_ok(c, "ROLLBACK TO SAVEPOINT ferry_repair") ||
			!exec_ok(c, "RELEASE SAVEPOINT ferry_repair") || !rowerr)
		{
			ok = false;
			break;
		}
	}
	if (ok && done)
	{
		const char *key = c->keys.data + c->key_off[row];
		buf json;

		buf_init(&json, 256);
		row_json_of(c, row, &json);
		add_reject(c, "load", "value_repaired", buf_cstr(&notes), *key ? key : NULL,
				   "repaired", &json);
		buf_free(&json);
		c->loaded[row] = true;
		c->stats->notes++;
	}
	else if (ok)
		reject_row(c, row, reason, msg);
	free(column);
	buf_free(&line);
	buf_free(&notes);
	return ok;
}

/*
 * Check a row for what would certainly make the destination refuse it: a
 * NULL in a NOT NULL column without a default, text that is not JSON for
 * a json/jsonb column.  Such a value is repaired (when the plan says how)
 * or the row rejected here, without a failed COPY and a retry.  Returns
 * the row to load (vals, or c->fixed with repairs), or NULL if rejected.
 * Whatever passes, the server still judges.
 */
const ferry_value *
precheck_row(load_ctx *c, const ferry_value *vals)
{
	const ferry_value *row = vals;
	buf *detail = &c->detail;     /* kept: no allocation a row */
	const char *reason = NULL;
	bool repaired = false;

	buf_reset(detail);
	for (int i = 0; i < c->nload; i++)
	{
		const ferry_value *v = &row[c->load_idx[i]];
		const char *column = c->h->cols[c->load_idx[i]].name;
		const char *why;

		if (c->notnull[i] && v->t == FV_NULL)
			why = "null value violates not-null constraint";
		else if (c->is_json[i] && v->t == FV_STR && !json_text_valid(v->u.s.p, v->u.s.len))
			why = "invalid input syntax for type json";
		else
			continue;

		int r = 0;

		while (r < c->spec->nrepair && strcmp(c->spec->repair_cols[r], column) != 0)
			r++;
		if (detail->len)
			buf_puts(detail, "; ");
		if (r == c->spec->nrepair || (c->notnull[i] && c->repair_fv[r].t == FV_NULL))
		{
			buf_printf(detail, "%s: %s", column, why);
			reason = c->notnull[i] && v->t == FV_NULL ? "not_null_violation" : "invalid_input";
			break;
		}
		if (row == vals)
		{
			memcpy(c->fixed, vals, (size_t) c->h->ncols * sizeof *vals);
			row = c->fixed;
		}
		c->fixed[c->load_idx[i]] = c->repair_fv[r];
		buf_printf(detail, "%s: %s: loaded as %s", column, why,
				   c->repair_fv[r].t == FV_NULL ? "NULL" : c->spec->repair_vals[r]);
		repaired = true;
	}
	if (reason || repaired)
	{
		buf key, json;

		buf_init(&key, 32);
		buf_init(&json, 256);
		if (c->nkey)
			append_key(c, vals, &key);
		row_json(c, vals, c->h->ncols, NULL, &json);
		add_reject(c, "load", reason ? reason : "value_repaired", buf_cstr(detail),
				   key.len ? buf_cstr(&key) : NULL, reason ? "rejected" : "repaired", &json);
		if (reason)
		{
			/* a tree's rows below this one go with it */
			if (c->gone && c->uuid_idx >= 0 && vals[c->uuid_idx].t == FV_STR &&
				vals[c->uuid_idx].u.s.len == 36)
				uuidset_add(c->gone, vals[c->uuid_idx].u.s.p);
			c->stats->rejected++;
			reject_event(key.len ? key.data : NULL, reason);
			row = NULL;
		}
		else
			c->stats->notes++;
		buf_free(&key);
		buf_free(&json);
	}
	return row;
}

/* ---- setup ---- */

bool
check_columns(load_ctx *c)
{
	buf b;
	PGresult *res;
	bool ok = true;

	buf_init(&b, 256);
	buf_puts(&b, "SELECT a.attname, a.attnotnull, "
			 "a.atttypid IN ('json'::regtype, 'jsonb'::regtype) "
			 "FROM pg_attribute a WHERE a.attrelid = ");
	pg_append_literal(&b, c->target_sql);
	buf_puts(&b, "::regclass AND a.attnum > 0 AND NOT a.attisdropped");
	res = pg_query(c->conn, buf_cstr(&b), 0, NULL);
	buf_free(&b);
	if (res == NULL)
		return false;
	/* every missing column, named in one message */
	buf missing;
	int nmissing = 0;

	buf_init(&missing, 128);
	for (int i = 0; i < c->nload; i++)
	{
		const char *name = c->h->cols[c->load_idx[i]].name;
		bool found = false;

		for (int r = 0; r < PQntuples(res) && !found; r++)
			if (strcmp(PQgetvalue(res, r, 0), name) == 0)
			{
				found = true;
				c->notnull[i] = PQgetvalue(res, r, 1)[0] == 't';
				c->is_json[i] = PQgetvalue(res, r, 2)[0] == 't';
			}
		if (!found)
		{
			buf_printf(&missing, "%s\"%s\"", nmissing ? ", " : "", name);
			nmissing++;
			ok = false;
		}
	}
	if (nmissing)
		log_error("target: table %s has no column%s %s (the stream has %s)",
				  c->spec->target, nmissing > 1 ? "s" : "", buf_cstr(&missing),
				  nmissing > 1 ? "them" : "it");
	buf_free(&missing);
	PQclear(res);
	return ok;
}
