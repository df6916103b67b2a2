/*
 * extract.c: COPY (query) TO STDOUT, parsed row by row into the stream.
 *
 * The table is never held in memory: libpq hands over one row at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "exitcode.h"
#include "extract.h"
#include "io.h"
#include "log.h"
#include "pgconn.h"

/* the incremental condition over q: changed, change time unknown, or a new key */
void
extract_append_changed(buf *b, const extract_spec *spec)
{
	buf_printf(b, "((%s) >= ", spec->incremental);
	pg_append_literal(b, spec->since);
	buf_printf(b, " OR (%s) IS NULL", spec->incremental);
	if (spec->max_key && spec->nkey == 1)
	{
		buf_puts(b, " OR q.");
		pg_append_ident(b, spec->key[0]);
		buf_puts(b, " > ");
		pg_append_literal(b, spec->max_key);
	}
	buf_putc(b, ')');
}

/* the base query, without what would break it as a subquery */
static void
append_query(buf *b, const char *query)
{
	buf_puts(b, query);
	/* a trailing semicolon breaks the subquery; a trailing -- comment needs a newline */
	while (b->len > 0 && (b->data[b->len - 1] == ';' || b->data[b->len - 1] == '\n' ||
						  b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t'))
		b->len--;
	buf_putc(b, '\n');
}

/*
 * An incremental read of a tree: the changed rows, their ancestors (so
 * that a parent cycle or a missing parent is seen as in a full read) and
 * their descendants (whose depth follows a moved parent).
 */
static void
append_tree_changes(buf *b, const extract_spec *spec)
{
	buf key, parent;

	buf_init(&key, 64);
	buf_init(&parent, 64);
	pg_append_ident(&key, spec->key[0]);
	pg_append_ident(&parent, spec->tree_parent);
	buf_cstr(&key);
	buf_cstr(&parent);
	buf_puts(b, "WITH RECURSIVE src AS MATERIALIZED (\n");
	append_query(b, spec->query);
	buf_printf(b, "), changed AS (SELECT q.%s AS k, q.%s AS p FROM src AS q WHERE ",
			   key.data, parent.data);
	extract_append_changed(b, spec);
	buf_printf(b, "),\nup(k) AS (SELECT p FROM changed WHERE p IS NOT NULL"
			   " UNION SELECT s.%s FROM src AS s JOIN up ON s.%s = up.k WHERE s.%s IS NOT NULL),\n"
			   "down(k) AS (SELECT k FROM changed"
			   " UNION SELECT s.%s FROM src AS s JOIN down ON s.%s = down.k)\n"
			   "SELECT * FROM src AS q WHERE (q.%s IN (SELECT k FROM up UNION SELECT k FROM down))",
			   parent.data, key.data, parent.data, key.data, parent.data, key.data);
	buf_free(&key);
	buf_free(&parent);
}

char *
extract_sql(const extract_spec *spec)
{
	buf b;
	bool where = false;
	bool incremental = spec->incremental && spec->since;

	buf_init(&b, 512);
	if (incremental && spec->tree_keys)
	{
		/* the rows tree_read_keys chose: changed, their ancestors and descendants */
		buf_puts(&b, "SELECT * FROM (\n");
		append_query(&b, spec->query);
		buf_puts(&b, ") AS q WHERE q.");
		pg_append_ident(&b, spec->key[0]);
		buf_puts(&b, " = ANY (");
		pg_append_literal(&b, spec->tree_keys);
		buf_puts(&b, "::bigint[])");
		where = true;
		incremental = false;
	}
	else if (incremental && spec->tree_parent && spec->nkey == 1)
	{
		append_tree_changes(&b, spec);
		where = true;
		incremental = false;
	}
	else
	{
		buf_puts(&b, "SELECT * FROM (\n");
		append_query(&b, spec->query);
		buf_puts(&b, ") AS q");
	}
	if (spec->where)
	{
		buf_printf(&b, "\n%s (%s)", where ? "AND" : "WHERE", spec->where);
		where = true;
	}
	if (spec->after_key && spec->nkey == 1)
	{
		buf_printf(&b, "\n%s q.", where ? "AND" : "WHERE");
		pg_append_ident(&b, spec->key[0]);
		buf_puts(&b, " > ");
		pg_append_literal(&b, spec->after_key);
		where = true;
	}
	if (incremental)
	{
		buf_printf(&b, "\n%s ", where ? "AND" : "WHERE");
		extract_append_changed(&b, spec);
		where = true;
	}
	else if (!spec->incremental && spec->max_key && spec->nkey == 1)
	{
		/* no change time: an incremental read takes the new keys only */
		buf_printf(&b, "\n%s q.", where ? "AND" : "WHERE");
		pg_append_ident(&b, spec->key[0]);
		buf_puts(&b, " > ");
		pg_append_literal(&b, spec->max_key);
		where = true;
	}
	if (spec->order_by_key && spec->nkey > 0)
	{
		buf_puts(&b, "\nORDER BY ");
		for (int i = 0; i < spec->nkey; i++)
		{
			if (i)
				buf_puts(&b, ", ");
			buf_puts(&b, "q.");
			pg_append_ident(&b, spec->key[i]);
		}
	}
	if (spec->limit >= 0)
		buf_printf(&b, "\nLIMIT %lld", spec->limit);
	return (char *) buf_cstr(&b);
}

/* add the query's result columns, with their type names, to the header */
static bool
describe(PGconn *conn, const char *sql, ferry_header *h)
{
	PGresult *res = PQprepare(conn, "", sql, 0, NULL);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		log_error("source: %s", pg_errmsg(conn, res));
		PQclear(res);
		return false;
	}
	PQclear(res);
	res = PQdescribePrepared(conn, "");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		log_error("source: %s", pg_errmsg(conn, res));
		PQclear(res);
		return false;
	}
	int n = PQnfields(res);
	buf q;

	if (n == 0)
	{
		log_error("source: the extract query returns no columns");
		PQclear(res);
		return false;
	}
	/* one round trip for every column's type name (with its modifier) */
	buf_init(&q, 256);
	buf_puts(&q, "SELECT format_type(t.oid, t.mod) FROM unnest(ARRAY[");
	for (int i = 0; i < n; i++)
		buf_printf(&q, "%s%u", i ? "," : "", PQftype(res, i));
	buf_puts(&q, "]::oid[], ARRAY[");
	for (int i = 0; i < n; i++)
		buf_printf(&q, "%s%d", i ? "," : "", PQfmod(res, i));
	buf_puts(&q, "]::int[]) WITH ORDINALITY AS t(oid, mod, n) ORDER BY t.n");

	PGresult *types = pg_query(conn, buf_cstr(&q), 0, NULL);

	buf_free(&q);
	if (types == NULL || PQntuples(types) != n)
	{
		PQclear(res);
		PQclear(types);
		return false;
	}
	for (int i = 0; i < n; i++)
	{
		const char *name = PQfname(res, i);

		if (header_find(h, name) >= 0)
		{
			log_error("source: the extract query returns two columns named \"%s\"", name);
			PQclear(res);
			PQclear(types);
			return false;
		}
		header_add_column(h, name, PQgetvalue(types, i, 0));
	}
	PQclear(types);
	PQclear(res);
	return true;
}

int
extract_run(PGconn *conn, const extract_spec *spec, ferry_header *h,
			ferry_writer *w, long long *rows_out)
{
	char *sql = extract_sql(spec);
	int code = FERRY_EXIT_OK;
	int64_t started = now_us();

	log_debug("extract query: %s", sql);
	if (!describe(conn, sql, h))
	{
		free(sql);
		return FERRY_EXIT_SOURCE;
	}
	for (int i = 0; i < spec->nkey; i++)
		if (header_find(h, spec->key[i]) < 0)
		{
			log_error("key column \"%s\" is not a column of the extract query", spec->key[i]);
			free(sql);
			return FERRY_EXIT_USAGE;
		}
	if (!writer_header(w, h))
	{
		free(sql);
		return FERRY_EXIT_IO;
	}

	buf copy;

	buf_init(&copy, strlen(sql) + 32);
	buf_printf(&copy, "COPY (%s) TO STDOUT", sql);
	free(sql);

	/* a savepoint, to look for a row that fails the COPY in the same snapshot */
	bool in_savepoint = PQtransactionStatus(conn) == PQTRANS_INTRANS &&
		pg_exec(conn, "SAVEPOINT ferry_extract");
	PGresult *res = PQexec(conn, buf_cstr(&copy));

	buf_free(&copy);
	if (PQresultStatus(res) != PGRES_COPY_OUT)
	{
		log_error("source: %s", pg_errmsg(conn, res));
		PQclear(res);
		return FERRY_EXIT_SOURCE;
	}
	PQclear(res);

	ferry_kind *kinds = xmalloc((size_t) h->ncols * sizeof *kinds);
	ferry_value *vals = xmalloc((size_t) h->ncols * sizeof *vals);
	buf scratch, err;
	long long rows = 0;
	char *line;
	int len;

	for (int i = 0; i < h->ncols; i++)
		kinds[i] = h->cols[i].kind;
	buf_init(&scratch, 1 << 16);
	buf_init(&err, 256);
	event_emit("extract_start", "\"expected\":%lld", spec->expected);
	progress_start(h->entity ? h->entity : "extract", spec->expected);

	while ((len = PQgetCopyData(conn, &line, 0)) > 0)
	{
		/* one row per call, ending with a newline */
		size_t n = (size_t) len;

		io_bytes_in += n;

		if (n > 0 && line[n - 1] == '\n')
			n--;
		if (!copytext_parse_row(line, n, kinds, h->ncols, &scratch, vals, &err))
		{
			log_error("source: row %lld: %s", rows + 1, buf_cstr(&err));
			PQfreemem(line);
			code = FERRY_EXIT_SOURCE;
			break;
		}
		bool ok = writer_row(w, vals, h->ncols);

		PQfreemem(line);
		if (!ok)
		{
			code = FERRY_EXIT_IO;
			break;
		}
		rows++;
		if ((rows & 1023) == 0)
		{
			progress_update(rows);
			if (io_interrupted)
				break;
		}
	}
	if (code == FERRY_EXIT_OK)
	{
		if (len == -2)
		{
			log_error("source: %s", pg_errmsg(conn, NULL));
			code = FERRY_EXIT_SOURCE;
		}
		else
		{
			/* the final result of the COPY tells whether it completed */
			char *encoding_error = NULL;

			while ((res = PQgetResult(conn)) != NULL)
			{
				if (PQresultStatus(res) != PGRES_COMMAND_OK)
				{
					if (extract_is_encoding_error(res) && encoding_error == NULL)
						encoding_error = xstrdup(pg_errmsg(conn, res));
					else
						log_error("source: %s", pg_errmsg(conn, res));
					code = FERRY_EXIT_SOURCE;
				}
				PQclear(res);
			}
			/* which row, and what to do: once the COPY's results are all read */
			if (encoding_error)
				extract_report_encoding(conn, spec, h, in_savepoint, rows, encoding_error);
			free(encoding_error);
		}
	}
	else
	{
		/* stop the server sending the rest */
		PQrequestCancel(conn);
		while ((len = PQgetCopyData(conn, &line, 0)) > 0)
			PQfreemem(line);
		while ((res = PQgetResult(conn)) != NULL)
			PQclear(res);
	}
	progress_done(rows);
	if (code == FERRY_EXIT_OK)
		event_emit("extract_end", "\"rows\":%lld,\"ms\":%lld", rows,
				   (long long) ((now_us() - started) / 1000));
	*rows_out = rows;
	buf_free(&scratch);
	buf_free(&err);
	free(kinds);
	free(vals);
	return code;
}
