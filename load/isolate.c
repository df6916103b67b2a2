/*
 * isolate.c: the batch into the table (COPY, or through the stage for
 * upserts and updates), and the bad rows of a refused batch isolated by
 * splitting it; a tree's rows below a rejected parent rejected too.
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

/* ---- talking to the target ---- */

/* is this error about the rows (reject them) or about the load (stop)? */
bool
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

bool
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
PGresult *
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
PGresult *
put_rows(load_ctx *c, int lo, int hi)
{
	return put_data(c, c->copy.data + c->line_off[lo], c->line_off[hi + 1] - c->line_off[lo]);
}

/* ---- trees: the subtree of a rejected row ---- */

#define UNDER_REJECTED "the parent row was rejected by the load (its reject is recorded); " \
	"a row cannot hang below it"

/* a row whose parent an earlier batch rejected: rejected before it is sent */
bool
parent_gone(load_ctx *c, const ferry_value *vals)
{
	const ferry_value *p = &vals[c->parent_idx];

	return uuidset_count(c->gone) > 0 && p->t == FV_STR && p->u.s.len == 36 &&
		uuidset_has(c->gone, p->u.s.p);
}

void
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
bool
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
bool
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
