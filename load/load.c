/*
 * load.c: batches of COPY, each with its id mappings, rejects and
 * checkpoint in one transaction; bad rows isolated by splitting.
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
#include "load.h"
#include "log.h"
#include "pgconn.h"
#include "uuidset.h"

typedef struct load_ctx
{
	PGconn *conn;
	const load_spec *spec;
	const ferry_header *h;
	load_stats *stats;
	int nload;                /* columns written to the table */
	int *load_idx;            /* their indexes in the stream */
	ferry_kind *load_kinds;
	int uuid_idx;             /* -1 if none */
	int *key_idx;
	int nkey;
	char *columns_sql;        /* "(c1, c2, ...)" quoted */
	char *columns_list;       /* "c1, c2, ..." */
	char *target_sql;         /* quoted schema.table */
	bool staged;              /* modes that COPY into a temporary stage first */

	/* the batch being built */
	buf copy;                 /* COPY TEXT lines of its rows */
	size_t *line_off;         /* start of each line; line_off[n] = copy.len */
	int nrows;
	int cap;
	bool *loaded;             /* per row: landed */
	buf keys;                 /* per row: legacy key text, NUL-terminated */
	size_t *key_off;
	buf uuids;                /* per row: 36 characters */
	buf rej_copy;             /* COPY TEXT lines for ferry.rejects */
	buf rej_json;             /* JSON lines for the rejects file */
	uint64_t batch_records;   /* records this batch consumes */
	uint64_t batch_rejected;  /* rejects and notes this batch records */
	int batch_size;           /* current target rows per batch */

	buf sql;                  /* scratch */
	buf scratch;
	buf err;
	ferry_value *vals;
	char *fatal;              /* set when a target error must stop the load */

	bool idmap_upsert;        /* id map inserts with ON CONFLICT (mappings may exist) */

	/* a tree: rows whose parent is rejected are rejected too */
	int parent_idx;           /* the parent column, -1 if not a tree */
	uuidset *gone;            /* uuids of the rows this load rejected */
	buf parents;              /* per row of the batch: parent uuid, 36 characters */

	/* what the load checks itself before sending a row (per loaded column) */
	bool *notnull;            /* NOT NULL (a default does not apply to an explicit NULL) */
	bool *is_json;            /* json or jsonb */
	ferry_value *repair_fv;   /* per spec repair: its value */
	ferry_value *fixed;       /* a row with repaired values, in stream layout */
} load_ctx;

/* ---- building the batch ---- */

static void
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
static void
append_key(load_ctx *c, const ferry_value *vals, buf *out)
{
	for (int k = 0; k < c->nkey; k++)
	{
		buf_reset(&c->scratch);
		value_to_text(&vals[c->key_idx[k]], &c->scratch);
		legacy_key_append(out, k, c->nkey, c->scratch.data, c->scratch.len);
	}
}

static void
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
static void
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
static void
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
static void
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

/* ---- talking to the target ---- */

/* is this error about the rows (reject them) or about the load (stop)? */
static bool
row_error(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	/* data exceptions and integrity constraint violations */
	return state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
}

/*
 * "COPY t, line 37, column x: ..." -> 37, or 0.  The context may hold
 * other lines before COPY's own, with line numbers of their own: an
 * invalid json value adds "JSON data, line 1: ...".  Only the line that
 * starts with "COPY " counts.
 */
static int
error_line(const PGresult *res)
{
	const char *ctx = PQresultErrorField(res, PG_DIAG_CONTEXT);

	for (const char *l = ctx; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
	{
		const char *eol = strchr(l, '\n');
		const char *p;

		if (strncmp(l, "COPY ", 5) != 0)
			continue;
		p = strstr(l, ", line ");
		if (p && (eol == NULL || p < eol))
			return atoi(p + 7);
	}
	return 0;
}

static bool
exec_ok(load_ctx *c, const char *sql)
{
	if (pg_exec(c->conn, sql))
		return true;
	if (!c->fatal)
		c->fatal = xstrdup("");  /* logged by pg_exec */
	return false;
}

/*
 * COPY the given COPY TEXT lines into dest.  Returns NULL on success, else
 * the failed result (caller clears it).
 */
static PGresult *
copy_data(load_ctx *c, const char *dest, const char *data, size_t len)
{
	PGresult *res;

	buf_reset(&c->sql);
	buf_printf(&c->sql, "COPY %s %s FROM STDIN", dest, c->columns_sql);
	res = PQexec(c->conn, buf_cstr(&c->sql));
	if (PQresultStatus(res) != PGRES_COPY_IN)
		return res;
	PQclear(res);

	io_bytes_out += len;
	if (PQputCopyData(c->conn, data, (int) len) != 1 || PQputCopyEnd(c->conn, NULL) != 1)
	{
		res = PQgetResult(c->conn);
		return res ? res : PQmakeEmptyPGresult(c->conn, PGRES_FATAL_ERROR);
	}
	PGresult *last = NULL;

	while ((res = PQgetResult(c->conn)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK && last == NULL)
			last = res;
		else
			PQclear(res);
	}
	return last;
}

/*
 * The columns an upsert writes (those loaded, less the conflict columns),
 * comma-separated: as PREFIX"col", or with a NULL prefix as the SET list
 * "col" = EXCLUDED."col".  Returns how many.
 */
static int
put_updated_columns(buf *b, const load_ctx *c, const char *prefix)
{
	const load_spec *s = c->spec;
	int n = 0;

	for (int i = 0; i < c->nload; i++)
	{
		const char *name = c->h->cols[c->load_idx[i]].name;
		bool is_conflict = false;

		for (int k = 0; k < s->nconflict; k++)
			is_conflict |= strcmp(name, s->conflict[k]) == 0;
		if (is_conflict)
			continue;
		if (n++)
			buf_puts(b, ", ");
		buf_puts(b, prefix ? prefix : "");
		pg_append_ident(b, name);
		if (prefix == NULL)
		{
			buf_puts(b, " = EXCLUDED.");
			pg_append_ident(b, name);
		}
	}
	return n;
}

/* the statement that moves the stage into the table, for the staged modes */
static const char *
apply_sql(load_ctx *c)
{
	const load_spec *s = c->spec;
	buf *b = &c->sql;
	const ferry_header *h = c->h;

	buf_reset(b);
	if (s->mode == LOAD_UPDATE)
	{
		buf_printf(b, "UPDATE %s AS t SET ", c->target_sql);
		bool first = true;

		for (int i = 0; i < c->nload; i++)
		{
			const char *name = h->cols[c->load_idx[i]].name;

			if (c->load_idx[i] == c->uuid_idx)
				continue;
			if (!first)
				buf_puts(b, ", ");
			first = false;
			pg_append_ident(b, name);
			buf_puts(b, " = s.");
			pg_append_ident(b, name);
		}
		buf_puts(b, " FROM pg_temp.ferry_stage AS s WHERE t.");
		pg_append_ident(b, h->cols[c->uuid_idx].name);
		buf_puts(b, " = s.");
		pg_append_ident(b, h->cols[c->uuid_idx].name);
		return buf_cstr(b);
	}
	buf_printf(b, "INSERT INTO %s AS t %s SELECT %s FROM pg_temp.ferry_stage",
			   c->target_sql, c->columns_sql, c->columns_list);
	if (s->mode == LOAD_SKIP)
		buf_puts(b, " ON CONFLICT DO NOTHING");
	else
	{
		buf_puts(b, " ON CONFLICT (");
		for (int k = 0; k < s->nconflict; k++)
		{
			if (k)
				buf_puts(b, ", ");
			pg_append_ident(b, s->conflict[k]);
		}
		buf_puts(b, ") DO UPDATE SET ");
		if (put_updated_columns(b, c, NULL) == 0)
		{
			/* nothing but the key: keep the row as it is */
			b->len -= strlen(" DO UPDATE SET ");
			buf_puts(b, " DO NOTHING");
		}
		else
		{
			/*
			 * Only rows whose values differ are written: an incremental run
			 * reads some rows again that did not change (whole tables without
			 * a change time, a tree's context), and rewriting them would cost
			 * a new row version, index entries and WAL each.
			 */
			buf_puts(b, " WHERE (");
			put_updated_columns(b, c, "t.");
			buf_puts(b, ") IS DISTINCT FROM (");
			put_updated_columns(b, c, "EXCLUDED.");
			buf_putc(b, ')');
		}
	}
	return buf_cstr(b);
}

/* COPY TEXT lines into the table; NULL on success, else the failed result */
static PGresult *
put_data(load_ctx *c, const char *data, size_t len)
{
	if (!c->staged)
		return copy_data(c, c->target_sql, data, len);

	PGresult *res = PQexec(c->conn, "TRUNCATE pg_temp.ferry_stage");

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return res;
	PQclear(res);
	if ((res = copy_data(c, "pg_temp.ferry_stage", data, len)) != NULL)
		return res;
	res = PQexec(c->conn, apply_sql(c));
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
	{
		PQclear(res);
		return NULL;
	}
	/* a line number from the stage's COPY never reaches here */
	return res;
}

/* rows [lo, hi] of the batch into the table */
static PGresult *
put_rows(load_ctx *c, int lo, int hi)
{
	return put_data(c, c->copy.data + c->line_off[lo], c->line_off[hi + 1] - c->line_off[lo]);
}

/* the row's values as a JSON object, for rejects and notes */
static void
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
static void
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

/* ---- trees: the subtree of a rejected row ---- */

#define UNDER_REJECTED "the parent row was rejected by the load (its reject is recorded); " \
	"a row cannot hang below it"

/* a row whose parent an earlier batch rejected: rejected before it is sent */
static bool
parent_gone(load_ctx *c, const ferry_value *vals)
{
	const ferry_value *p = &vals[c->parent_idx];

	return uuidset_count(c->gone) > 0 && p->t == FV_STR && p->u.s.len == 36 &&
		uuidset_has(c->gone, p->u.s.p);
}

static void
reject_below_gone(load_ctx *c, const ferry_value *vals, int nvals)
{
	buf json, key;

	buf_init(&json, 256);
	buf_init(&key, 32);
	row_json(c, vals, nvals, NULL, &json);
	if (c->nkey)
		append_key(c, vals, &key);
	add_reject(c, "load", "under_rejected_parent", UNDER_REJECTED,
			   key.len ? buf_cstr(&key) : NULL, "rejected", &json);
	if (c->uuid_idx >= 0 && vals[c->uuid_idx].t == FV_STR && vals[c->uuid_idx].u.s.len == 36)
		uuidset_add(c->gone, vals[c->uuid_idx].u.s.p);
	c->stats->rejected++;
	buf_free(&json);
	buf_free(&key);
}

/*
 * After a batch is loaded: the rows it rejected join the set, and a row
 * of the same batch that landed below one of them (FK checks off) is
 * taken out again, inside the batch's transaction, and rejected.  The
 * stream has parents before children, so one pass in order settles it.
 * An upsert may have updated a row the table had before: it stays.
 */
static bool
settle_subtrees(load_ctx *c)
{
	buf del;
	int ndel = 0;
	bool ok = true;

	buf_init(&del, 64);
	buf_putc(&del, '{');
	for (int i = 0; i < c->nrows; i++)
	{
		const char *u = c->uuids.data + 36 * (size_t) i;

		if (!c->loaded[i])
		{
			uuidset_add(c->gone, u);
			continue;
		}
		if (c->staged || !uuidset_has(c->gone, c->parents.data + 36 * (size_t) i))
			continue;
		c->loaded[i] = false;
		reject_row(c, i, "under_rejected_parent", UNDER_REJECTED);
		uuidset_add(c->gone, u);
		if (ndel++)
			buf_putc(&del, ',');
		buf_append(&del, u, 36);
	}
	buf_putc(&del, '}');
	if (ndel > 0)
	{
		buf_reset(&c->sql);
		buf_printf(&c->sql, "DELETE FROM %s WHERE ", c->target_sql);
		pg_append_ident(&c->sql, c->h->cols[c->uuid_idx].name);
		buf_puts(&c->sql, " = ANY($1::uuid[])");

		const char *params[1] = {buf_cstr(&del)};
		PGresult *res = pg_query(c->conn, buf_cstr(&c->sql), 1, params);

		ok = res != NULL;
		PQclear(res);
		if (!ok && !c->fatal)
			c->fatal = xstrdup("");  /* logged by pg_query */
	}
	buf_free(&del);
	return ok;
}

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
static bool
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

/* the short reason code of a refused row, from its SQLSTATE */
static const char *
reason_of(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state == NULL)
		return "load_error";
	if (strcmp(state, "23502") == 0)
		return "not_null_violation";
	if (strcmp(state, "23505") == 0)
		return "unique_violation";
	if (strcmp(state, "23514") == 0)
		return "check_violation";
	if (strcmp(state, "23503") == 0)
		return "foreign_key_violation";
	if (strcmp(state, "22P02") == 0)
		return "invalid_input";
	if (strcmp(state, "22007") == 0 || strcmp(state, "22008") == 0)
		return "invalid_datetime";
	if (strcmp(state, "22003") == 0)
		return "out_of_range";
	if (strcmp(state, "22001") == 0)
		return "value_too_long";
	if (strcmp(state, "22021") == 0)
		return "invalid_encoding";
	return strncmp(state, "23", 2) == 0 ? "constraint_violation" : "invalid_data";
}

/*
 * Load rows [lo, hi] inside a savepoint.  When the target refuses them
 * for the rows' sake, find the bad rows: straight to the line COPY names
 * when it names one, else by halving.  Returns false on a fatal error.
 */
static bool
load_range(load_ctx *c, int lo, int hi)
{
	if (lo > hi)
		return true;
	if (!exec_ok(c, "SAVEPOINT ferry_rows"))
		return false;

	PGresult *res = put_rows(c, lo, hi);

	if (res == NULL)
	{
		for (int i = lo; i <= hi; i++)
			c->loaded[i] = true;
		return exec_ok(c, "RELEASE SAVEPOINT ferry_rows");
	}
	if (!row_error(res))
	{
		c->fatal = xstrdup(pg_errmsg(c->conn, res));
		PQclear(res);
		return false;
	}
	char *msg = xstrdup(pg_errmsg(c->conn, res));
	const char *reason = reason_of(res);
	int line = c->staged ? 0 : error_line(res);

	if (!exec_ok(c, "ROLLBACK TO SAVEPOINT ferry_rows") ||
		!exec_ok(c, "RELEASE SAVEPOINT ferry_rows"))
	{
		PQclear(res);
		free(msg);
		return false;
	}
	c->stats->splits++;
	bool ok = true;

	if (lo == hi)
		ok = settle_row(c, lo, res, reason, msg);
	else if (line >= 1 && lo + line - 1 <= hi)
	{
		int bad = lo + line - 1;

		/* the named row is tried alone: it is settled only if it fails by itself */
		ok = load_range(c, lo, bad - 1) && load_range(c, bad, bad) &&
			load_range(c, bad + 1, hi);
	}
	else
	{
		int mid = lo + (hi - lo) / 2;

		ok = load_range(c, lo, mid) && load_range(c, mid + 1, hi);
	}
	PQclear(res);
	free(msg);
	return ok;
}

/* text[] literal of NUL-separated strings, for unnest() */
static void
append_array_elem(buf *b, const char *s, size_t n)
{
	buf_putc(b, '"');
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '"' || s[i] == '\\')
			buf_putc(b, '\\');
		buf_putc(b, s[i]);
	}
	buf_putc(b, '"');
}

static bool
record_id_map(load_ctx *c)
{
	buf keys, uuids;
	int n = 0;

	buf_init(&keys, c->keys.len + 16);
	buf_init(&uuids, (size_t) c->nrows * 40 + 16);
	buf_putc(&keys, '{');
	buf_putc(&uuids, '{');
	for (int i = 0; i < c->nrows; i++)
	{
		const char *key = c->keys.data + c->key_off[i];

		/* an empty key is a key: the transform made the row's UUID of it */
		if (!c->loaded[i])
			continue;
		if (n++)
		{
			buf_putc(&keys, ',');
			buf_putc(&uuids, ',');
		}
		append_array_elem(&keys, key, strlen(key));
		buf_append(&uuids, c->uuids.data + 36 * (size_t) i, 36);
	}
	buf_putc(&keys, '}');
	buf_putc(&uuids, '}');

	bool ok = true;

	if (n > 0)
	{
		const char *params[4] = {c->spec->entity, c->spec->run, buf_cstr(&keys), buf_cstr(&uuids)};
		const char *insert = "INSERT INTO ferry.id_map (entity, legacy_id, uuid, run_id) "
			"SELECT $1, k, u, $2 FROM unnest($3::text[], $4::uuid[]) AS t(k, u)";

		/*
		 * New rows have no mapping yet: a plain insert costs half of an
		 * ON CONFLICT one.  Should a mapping exist all the same (a table
		 * emptied by hand, a replayed load), the batch's insert is undone
		 * and done again with ON CONFLICT, and so are all the later ones.
		 */
		if (!c->idmap_upsert)
		{
			PGresult *res;

			ok = exec_ok(c, "SAVEPOINT ferry_id_map");
			res = ok ? PQexecParams(c->conn, insert, 4, NULL, params, NULL, NULL, 0) : NULL;
			if (res && PQresultStatus(res) == PGRES_COMMAND_OK)
				ok = exec_ok(c, "RELEASE SAVEPOINT ferry_id_map");
			else if (res)
			{
				const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

				if (state && strcmp(state, "23505") == 0)
				{
					log_info("%s: some rows already have an id mapping: mappings are kept as they are",
							 c->spec->entity);
					c->idmap_upsert = true;
					ok = exec_ok(c, "ROLLBACK TO SAVEPOINT ferry_id_map") &&
						exec_ok(c, "RELEASE SAVEPOINT ferry_id_map");
				}
				else
				{
					log_error("target: %s", pg_errmsg(c->conn, res));
					ok = false;
				}
			}
			PQclear(res);
		}
		if (ok && c->idmap_upsert)
		{
			buf sql;

			buf_init(&sql, 256);
			buf_printf(&sql, "%s ON CONFLICT (entity, legacy_id) DO NOTHING", insert);
			PGresult *res = pg_query(c->conn, buf_cstr(&sql), 4, params);

			ok = res != NULL;
			PQclear(res);
			buf_free(&sql);
		}
	}
	buf_free(&keys);
	buf_free(&uuids);
	if (!ok && !c->fatal)
		c->fatal = xstrdup("");  /* logged by pg_query */
	return ok;
}

static bool
record_rejects(load_ctx *c)
{
	PGresult *res;

	if (c->rej_copy.len == 0)
		return true;
	res = PQexec(c->conn, "COPY ferry.rejects (run_id, entity, legacy_id, stage, phase, reason, "
				 "detail, disposition, row_data) FROM STDIN");
	if (PQresultStatus(res) != PGRES_COPY_IN)
	{
		c->fatal = xstrdup(pg_errmsg(c->conn, res));
		PQclear(res);
		return false;
	}
	PQclear(res);
	PQputCopyData(c->conn, c->rej_copy.data, (int) c->rej_copy.len);
	PQputCopyEnd(c->conn, NULL);

	bool ok = true;

	while ((res = PQgetResult(c->conn)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			if (!c->fatal)
				c->fatal = xstrdup(pg_errmsg(c->conn, res));
			ok = false;
		}
		PQclear(res);
	}
	return ok;
}

static bool
record_checkpoint(load_ctx *c, bool complete)
{
	load_stats *st = c->stats;
	char records[32], loaded[32], rejected[32], batches[32];
	const char *last_key = NULL;

	for (int i = c->nrows - 1; i >= 0 && !last_key; i--)
		if (c->keys.data[c->key_off[i]])
			last_key = c->keys.data + c->key_off[i];
	snprintf(records, sizeof records, "%" PRIu64, st->records);
	snprintf(loaded, sizeof loaded, "%" PRIu64, st->loaded);
	snprintf(rejected, sizeof rejected, "%" PRIu64, st->rejected + st->passed_rejects);
	snprintf(batches, sizeof batches, "%" PRIu64, st->batches);

	const char *params[9] = {c->spec->run, c->spec->entity, c->spec->phase, records, loaded,
		rejected, batches, last_key, complete ? "t" : "f"};
	PGresult *res = pg_query(c->conn,
							 "INSERT INTO ferry.checkpoints AS k (run_id, entity, phase, records, "
							 "rows_loaded, rows_rejected, batches, last_key, complete, updated_at) "
							 "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) "
							 "ON CONFLICT (run_id, entity, phase) DO UPDATE SET "
							 "records = EXCLUDED.records, rows_loaded = EXCLUDED.rows_loaded, "
							 "rows_rejected = EXCLUDED.rows_rejected, batches = EXCLUDED.batches, "
							 "last_key = coalesce(EXCLUDED.last_key, k.last_key), "
							 "complete = EXCLUDED.complete, updated_at = now()",
							 9, params);

	if (res == NULL)
	{
		if (!c->fatal)
			c->fatal = xstrdup("");  /* logged by pg_query */
		return false;
	}
	PQclear(res);
	return true;
}

static void
append_rejects_file(load_ctx *c)
{
	if (!c->spec->rejects_file || c->rej_json.len == 0)
		return;
	int fd = open(c->spec->rejects_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, c->rej_json.data, c->rej_json.len) != (ssize_t) c->rej_json.len)
		log_warn("cannot append to the rejects file \"%s\": %s (they are in ferry.rejects)",
				 c->spec->rejects_file, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* load and commit the current batch; false on a fatal error */
static bool
flush_batch(load_ctx *c, bool complete)
{
	int64_t started = now_us();
	uint64_t before = c->stats->loaded;

	if (c->nrows == 0 && c->batch_records == 0 && !complete)
		return true;
	if (!exec_ok(c, "BEGIN"))
		return false;
	if (c->nrows > 0)
	{
		/*
		 * First the whole batch without a savepoint: the common case costs
		 * no subtransaction.  If the destination refuses a row, the batch
		 * starts over in a new transaction and bad rows are isolated with
		 * savepoints (load_range).
		 */
		PGresult *res = put_rows(c, 0, c->nrows - 1);

		if (res == NULL)
			for (int i = 0; i < c->nrows; i++)
				c->loaded[i] = true;
		else
		{
			bool rows = row_error(res);

			if (!rows && !c->fatal)
				c->fatal = xstrdup(pg_errmsg(c->conn, res));
			PQclear(res);
			if (!rows)
				goto fail;
			if (!exec_ok(c, "ROLLBACK") || !exec_ok(c, "BEGIN") ||
				!load_range(c, 0, c->nrows - 1))
				goto fail;
		}
	}
	if (c->parent_idx >= 0 && !settle_subtrees(c))
		goto fail;
	for (int i = 0; i < c->nrows; i++)
		c->stats->loaded += c->loaded[i];
	c->stats->records += c->batch_records;
	c->stats->batches++;
	if (c->spec->bookkeeping)
	{
		if (c->spec->id_map && c->spec->entity && c->nkey > 0 && c->uuid_idx >= 0 &&
			!record_id_map(c))
			goto fail;
		if (!record_rejects(c))
			goto fail;
		if (c->spec->run && c->spec->entity && !record_checkpoint(c, complete))
			goto fail;
	}
	if (!exec_ok(c, "COMMIT"))
		return false;
	append_rejects_file(c);

	int ms = (int) ((now_us() - started) / 1000);

	event_emit("batch", "\"batch\":%" PRIu64 ",\"rows\":%d,\"loaded\":%" PRIu64
			   ",\"records\":%" PRIu64 ",\"ms\":%d,\"size\":%d",
			   c->stats->batches, c->nrows, c->stats->loaded - before, c->stats->records,
			   ms, c->batch_size);
	/* adapt the batch size to the destination's latency */
	const load_spec *s = c->spec;

	if (c->nrows >= c->batch_size)
	{
		if (ms * 2 < s->target_ms && c->batch_size < s->max_batch)
			c->batch_size = c->batch_size + c->batch_size / 4 + 1;
		else if (ms > s->target_ms && c->batch_size > s->min_batch)
			c->batch_size = c->batch_size * 3 / 4;
		if (c->batch_size > s->max_batch)
			c->batch_size = s->max_batch;
		if (c->batch_size < s->min_batch)
			c->batch_size = s->min_batch;
	}
	batch_reset(c);
	return true;
fail:
	/* a failed statement leaves the transaction aborted: roll it back */
	PQclear(PQexec(c->conn, "ROLLBACK"));
	return false;
}

/*
 * Check a row for what would certainly make the destination refuse it: a
 * NULL in a NOT NULL column without a default, text that is not JSON for
 * a json/jsonb column.  Such a value is repaired (when the plan says how)
 * or the row rejected here, without a failed COPY and a retry.  Returns
 * the row to load (vals, or c->fixed with repairs), or NULL if rejected.
 * Whatever passes, the server still judges.
 */
static const ferry_value *
precheck_row(load_ctx *c, const ferry_value *vals)
{
	const ferry_value *row = vals;
	buf detail;
	const char *reason = NULL;
	bool repaired = false;

	buf_init(&detail, 0);
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
		if (detail.len)
			buf_puts(&detail, "; ");
		if (r == c->spec->nrepair || (c->notnull[i] && c->repair_fv[r].t == FV_NULL))
		{
			buf_printf(&detail, "%s: %s", column, why);
			reason = c->notnull[i] && v->t == FV_NULL ? "not_null_violation" : "invalid_input";
			break;
		}
		if (row == vals)
		{
			memcpy(c->fixed, vals, (size_t) c->h->ncols * sizeof *vals);
			row = c->fixed;
		}
		c->fixed[c->load_idx[i]] = c->repair_fv[r];
		buf_printf(&detail, "%s: %s: loaded as %s", column, why,
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
		add_reject(c, "load", reason ? reason : "value_repaired", buf_cstr(&detail),
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
	buf_free(&detail);
	return row;
}

/* ---- setup ---- */

static bool
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

/*
 * One load of a step at a time.  A killed load's session may still be
 * committing its last batch in the server (it notices that its client is
 * gone only once that is done): a load that read the checkpoint before
 * that commit landed would load the batch again.  The lock is held by the
 * session until it ends; the driver waits for it too before it clears an
 * interrupted step's books.
 */
#define STEP_LOCK "hashtextextended('ferry load ' || $1 || ' ' || $2 || ' ' || $3, 0)"

static bool
lock_step(load_ctx *c)
{
	const char *params[3] = {c->spec->run, c->spec->entity, c->spec->phase};
	PGresult *res = pg_query(c->conn, "SELECT pg_try_advisory_lock(" STEP_LOCK ")", 3, params);
	bool got;

	if (res == NULL)
		return false;
	got = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (got)
		return true;
	log_warn("target: another session is loading %s of run %s (an earlier attempt still "
			 "committing?): waiting for it to end", c->spec->entity, c->spec->run);
	res = pg_query(c->conn, "SELECT pg_advisory_lock(" STEP_LOCK ")", 3, params);
	got = res != NULL;
	PQclear(res);
	return got;
}

static bool
read_checkpoint(load_ctx *c, uint64_t *records, bool *complete)
{
	const char *params[3] = {c->spec->run, c->spec->entity, c->spec->phase};
	PGresult *res = pg_query(c->conn,
							 "SELECT records, rows_loaded, rows_rejected, batches, complete "
							 "FROM ferry.checkpoints WHERE run_id = $1 AND entity = $2 AND phase = $3",
							 3, params);

	*records = 0;
	*complete = false;
	if (res == NULL)
		return false;
	if (PQntuples(res) == 1)
	{
		*records = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
		c->stats->loaded = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
		/* earlier rejects are not told apart by origin: count them as ours */
		c->stats->rejected = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
		c->stats->batches = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
		*complete = PQgetvalue(res, 0, 4)[0] == 't';
	}
	PQclear(res);
	return true;
}

static void
reset_sequences(load_ctx *c)
{
	buf b;
	PGresult *res;

	buf_init(&b, 512);
	buf_puts(&b, "SELECT a.attname, pg_get_serial_sequence(");
	pg_append_literal(&b, c->target_sql);
	buf_puts(&b, ", a.attname) FROM pg_attribute a WHERE a.attrelid = ");
	pg_append_literal(&b, c->target_sql);
	buf_puts(&b, "::regclass AND a.attnum > 0 AND NOT a.attisdropped AND pg_get_serial_sequence(");
	pg_append_literal(&b, c->target_sql);
	buf_puts(&b, ", a.attname) IS NOT NULL");
	res = pg_query(c->conn, buf_cstr(&b), 0, NULL);
	if (res == NULL)
	{
		buf_free(&b);
		return;
	}
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *col = PQgetvalue(res, r, 0);
		bool loaded = false;

		for (int i = 0; i < c->nload; i++)
			loaded |= strcmp(c->h->cols[c->load_idx[i]].name, col) == 0;
		if (!loaded)
			continue;
		buf_reset(&b);
		buf_puts(&b, "SELECT setval(");
		pg_append_literal(&b, PQgetvalue(res, r, 1));
		buf_puts(&b, ", greatest(coalesce(max(");
		pg_append_ident(&b, col);
		buf_puts(&b, "), 1), 1), max(");
		pg_append_ident(&b, col);
		buf_printf(&b, ") IS NOT NULL) FROM %s", c->target_sql);
		if (pg_exec(c->conn, buf_cstr(&b)))
			log_info("sequence %s reset after the load", PQgetvalue(res, r, 1));
	}
	PQclear(res);
	buf_free(&b);
}

static bool
prepare(load_ctx *c)
{
	const ferry_header *h = c->h;
	const load_spec *s = c->spec;
	buf b;

	buf_init(&b, 256);
	pg_append_qualified(&b, s->target);
	c->target_sql = xstrdup(buf_cstr(&b));
	buf_reset(&b);

	c->load_idx = xcalloc((size_t) h->ncols + 1, sizeof *c->load_idx);
	c->load_kinds = xcalloc((size_t) h->ncols + 1, sizeof *c->load_kinds);
	buf_putc(&b, '(');
	for (int i = 0; i < h->ncols; i++)
	{
		if (header_is_skip(h, h->cols[i].name))
			continue;
		if (c->nload)
			buf_puts(&b, ", ");
		pg_append_ident(&b, h->cols[i].name);
		c->load_kinds[c->nload] = h->cols[i].kind;
		c->load_idx[c->nload++] = i;
	}
	c->columns_list = xstrdup(buf_cstr(&b) + 1);
	buf_putc(&b, ')');
	c->columns_sql = xstrdup(buf_cstr(&b));
	buf_free(&b);
	if (c->nload == 0)
	{
		log_error("the stream has no column to load");
		return false;
	}
	c->uuid_idx = h->uuid_column ? header_find(h, h->uuid_column) : -1;
	c->parent_idx = -1;
	if (s->parent_column && s->mode != LOAD_UPDATE)
	{
		c->parent_idx = header_find(h, s->parent_column);
		if (c->parent_idx < 0 || c->uuid_idx < 0)
		{
			log_error("a tree load needs the stream's uuid and parent column \"%s\"",
					  s->parent_column);
			return false;
		}
		c->gone = uuidset_new();
	}
	buf_init(&c->parents, 1 << 14);
	c->nkey = h->nkey;
	c->key_idx = xcalloc((size_t) (h->nkey ? h->nkey : 1), sizeof *c->key_idx);
	for (int k = 0; k < h->nkey; k++)
		if ((c->key_idx[k] = header_find(h, h->key[k])) < 0)
		{
			log_error("the stream's key column \"%s\" is not one of its columns", h->key[k]);
			return false;
		}
	if (s->mode == LOAD_UPDATE && c->uuid_idx < 0)
	{
		log_error("an update load needs the stream's uuid column");
		return false;
	}
	if (s->mode == LOAD_UPSERT && s->nconflict == 0)
	{
		log_error("an upsert needs conflict columns (the stream has no key)");
		return false;
	}
	c->notnull = xcalloc((size_t) c->nload, sizeof *c->notnull);
	c->is_json = xcalloc((size_t) c->nload, sizeof *c->is_json);
	c->fixed = xcalloc((size_t) h->ncols + 1, sizeof *c->fixed);
	c->repair_fv = xcalloc((size_t) s->nrepair + 1, sizeof *c->repair_fv);
	for (int r = 0; r < s->nrepair; r++)
	{
		const char *v = s->repair_vals[r];

		if (strcmp(v, "\\N") == 0)
			c->repair_fv[r] = fv_null();
		else
		{
			/* unescape the COPY text once; the string lives as long as the load */
			buf tmp, err;
			ferry_value fv;

			buf_init(&tmp, strlen(v) + 1);
			buf_init(&err, 64);
			copytext_parse_field(v, strlen(v), FK_STR, &tmp, &fv, &err);
			c->repair_fv[r] = fv_str(xstrndup(fv.u.s.p, fv.u.s.len), fv.u.s.len);
			buf_free(&tmp);
			buf_free(&err);
		}
	}
	if (!check_columns(c))
		return false;
	c->staged = s->mode != LOAD_INSERT;
	c->idmap_upsert = s->mode != LOAD_INSERT;
	if (c->staged)
	{
		buf_init(&b, 256);
		buf_printf(&b, "CREATE TEMP TABLE IF NOT EXISTS ferry_stage AS SELECT %s FROM %s WITH NO DATA",
				   c->columns_list, c->target_sql);
		bool ok = pg_exec(c->conn, buf_cstr(&b));

		buf_free(&b);
		if (!ok)
			return false;
	}
	c->cap = 4096;
	c->line_off = xmalloc((size_t) c->cap * sizeof *c->line_off);
	c->key_off = xmalloc((size_t) c->cap * sizeof *c->key_off);
	c->loaded = xmalloc((size_t) c->cap * sizeof *c->loaded);
	buf_init(&c->copy, 1 << 20);
	buf_init(&c->keys, 1 << 14);
	buf_init(&c->uuids, 1 << 16);
	buf_init(&c->rej_copy, 4096);
	buf_init(&c->rej_json, 4096);
	buf_init(&c->sql, 1024);
	buf_init(&c->scratch, 4096);
	buf_init(&c->err, 256);
	c->vals = xcalloc((size_t) h->ncols + 1, sizeof *c->vals);
	c->batch_size = s->min_batch > 1000 ? s->min_batch : (s->max_batch < 1000 ? s->max_batch : 1000);
	batch_reset(c);
	return true;
}

static void
cleanup(load_ctx *c)
{
	free(c->target_sql);
	free(c->columns_sql);
	free(c->columns_list);
	free(c->load_idx);
	free(c->load_kinds);
	free(c->key_idx);
	free(c->line_off);
	free(c->key_off);
	free(c->loaded);
	free(c->vals);
	free(c->fatal);
	free(c->notnull);
	free(c->is_json);
	free(c->fixed);
	if (c->repair_fv)
		for (int r = 0; r < c->spec->nrepair; r++)
			if (c->repair_fv[r].t == FV_STR)
				free((char *) c->repair_fv[r].u.s.p);
	free(c->repair_fv);
	buf_free(&c->copy);
	buf_free(&c->keys);
	buf_free(&c->uuids);
	buf_free(&c->rej_copy);
	buf_free(&c->rej_json);
	buf_free(&c->sql);
	buf_free(&c->scratch);
	buf_free(&c->err);
	buf_free(&c->parents);
	uuidset_free(c->gone);
}

int
load_stream(PGconn *conn, const load_spec *spec, ferry_reader *r, load_stats *stats)
{
	int64_t load_started = now_us();
	load_ctx c;
	ferry_record rec;
	int got = 0;
	int code = FERRY_EXIT_OK;
	uint64_t skip = 0;
	bool already_complete = false;

	memset(&c, 0, sizeof c);
	memset(stats, 0, sizeof *stats);
	c.conn = conn;
	c.spec = spec;
	c.h = reader_header(r);
	c.stats = stats;
	if (!prepare(&c) || (spec->bookkeeping && spec->run && spec->entity && !lock_step(&c)))
	{
		cleanup(&c);
		return FERRY_EXIT_TARGET;
	}
	if (spec->resume && spec->bookkeeping && spec->run && spec->entity)
	{
		if (!read_checkpoint(&c, &skip, &already_complete))
		{
			cleanup(&c);
			return FERRY_EXIT_TARGET;
		}
		stats->records = skip;
		if (skip)
			log_info("resuming %s after %" PRIu64 " records already loaded", spec->entity, skip);
	}
	event_emit("load_start", "\"skip\":%" PRIu64, skip);
	/* progress: the rows of this attempt (loaded or set aside), committed */
	int64_t expected = spec->expected;

	if (expected > 0 && skip > 0)
		expected = (uint64_t) expected > skip ? expected - (int64_t) skip : 0;
	progress_start(spec->entity ? spec->entity : spec->target, expected);

	/*
	 * The reader hands out only records of chunks it has verified (a spool
	 * file, all of them before the first): a batch commits no damaged row.
	 */
	while ((got = reader_next(r, &rec)) == 1)
	{
		if (stats->skipped < skip)
		{
			/* loaded by an earlier, interrupted load of this same stream */
			stats->skipped++;
			continue;
		}
		c.batch_records++;
		if (rec.type == FR_ROW && c.parent_idx >= 0 && parent_gone(&c, rec.vals))
			reject_below_gone(&c, rec.vals, rec.nvals);
		else if (rec.type == FR_ROW)
		{
			const ferry_value *row = precheck_row(&c, rec.vals);

			if (row)
				add_row(&c, row);
		}
		else
		{
			bool rej = rec.type == FR_REJECT;
			buf json;

			buf_init(&json, 256);
			if (rej && rec.vals)
				row_json(&c, rec.vals, rec.nvals, NULL, &json);
			add_reject(&c, rec.stage, rec.reason, rec.detail, rec.key,
					   rej ? "rejected" : "repaired", rej && rec.vals ? &json : NULL);
			buf_free(&json);
			if (rej)
				stats->passed_rejects++;
			else
				stats->notes++;
		}
		if (c.nrows >= c.batch_size || c.copy.len >= spec->max_batch_bytes)
		{
			if (!flush_batch(&c, false))
			{
				code = FERRY_EXIT_TARGET;
				break;
			}
			progress_update((int64_t) (stats->loaded + stats->rejected + stats->passed_rejects));
		}
		if (io_interrupted)
			break;
	}
	if (code == FERRY_EXIT_OK && got < 0)
	{
		/* the last batch is not committed: the stream is not whole */
		code = FERRY_EXIT_STREAM;
	}
	else if (code == FERRY_EXIT_OK && got == 0)
	{
		if (already_complete && c.nrows == 0 && c.batch_records == 0)
			log_info("%s was already completely loaded", spec->entity);
		else
		{
			/* the trailer is verified: the last batch completes the entity */
			if (!flush_batch(&c, true))
				code = FERRY_EXIT_TARGET;
		}
		if (code == FERRY_EXIT_OK && spec->reset_sequences)
			reset_sequences(&c);
	}
	if (code == FERRY_EXIT_TARGET && c.fatal && *c.fatal)
		log_error("target: %s", c.fatal);
	progress_done((int64_t) (stats->loaded + stats->rejected + stats->passed_rejects));
	event_emit("load_end", "\"exit\":%d,\"loaded\":%" PRIu64 ",\"rejected\":%" PRIu64
			   ",\"passed_rejects\":%" PRIu64 ",\"notes\":%" PRIu64 ",\"batches\":%" PRIu64
			   ",\"splits\":%" PRIu64 ",\"ms\":%lld", code, stats->loaded, stats->rejected,
			   stats->passed_rejects, stats->notes, stats->batches, stats->splits,
			   (long long) ((now_us() - load_started) / 1000));
	cleanup(&c);
	return code;
}
