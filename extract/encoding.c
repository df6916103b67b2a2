/*
 * encoding.c: a source text that is not valid in UTF8, told with its place.
 *
 * Every ferry session reads in client_encoding UTF8.  A source database in
 * SQL_ASCII keeps whatever bytes it was given, and PostgreSQL does not
 * convert them on the way out (it cannot: SQL_ASCII says nothing of what
 * they mean), it only checks them: the first byte that is not UTF-8 fails
 * the whole COPY with "invalid byte sequence for encoding "UTF8": 0xe9",
 * which names neither the table nor the row.  So after that error, in the
 * same snapshot (the COPY ran under a savepoint), one more query finds the
 * first row of the extract, in its order, holding a value whose bytes are
 * not UTF-8, and which of its columns: there is no validity test in SQL
 * (PostgreSQL 15), so each value's bytes (convert_to(..., 'SQL_ASCII')
 * hands them over untouched) are matched as hex against the grammar of
 * UTF-8 (RFC 3629, as PostgreSQL's own check: no overlong forms, no
 * surrogates, nothing past U+10FFFF).
 *
 * The fix is the plan's: the expression of that column in the extract
 * query converts from the encoding the bytes are really in, for example
 * convert_from(convert(convert_to(x, 'SQL_ASCII'), 'LATIN1', 'UTF8'), 'UTF8'),
 * which PostgreSQL runs even in SQL_ASCII (client_encoding cannot help:
 * with a server in SQL_ASCII no conversion happens whatever the client
 * asks, and ferry reads in UTF8).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "extract.h"
#include "log.h"
#include "pgconn.h"

/* the bytes of a valid UTF-8 string, two hex digits each */
static const char *utf8_hex =
	"^(?:[0-7][0-9a-f]"
	"|(?:c[2-9a-f]|d[0-9a-f])[89ab][0-9a-f]"
	"|e0[ab][0-9a-f][89ab][0-9a-f]"
	"|e[1-9a-cef](?:[89ab][0-9a-f]){2}"
	"|ed[89][0-9a-f][89ab][0-9a-f]"
	"|f0[9ab][0-9a-f](?:[89ab][0-9a-f]){2}"
	"|f[1-3](?:[89ab][0-9a-f]){3}"
	"|f48[0-9a-f](?:[89ab][0-9a-f]){2})*$";

bool
extract_is_encoding_error(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	/* character_not_in_repertoire (invalid byte sequence), untranslatable_character */
	return state && (strcmp(state, "22021") == 0 || strcmp(state, "22P05") == 0);
}

/* "value's bytes are not UTF-8" over column NAME of alias r */
static void
append_not_utf8(buf *b, const char *name)
{
	buf_puts(b, "encode(convert_to(r.");
	pg_append_ident(b, name);
	buf_puts(b, "::text, 'SQL_ASCII'), 'hex') !~ $1");
}

/*
 * The first row of the extract with a value that is not UTF-8: "KEY=V, ..."
 * (or "" without a key) in key, its columns in cols.  False when the query
 * cannot tell (logged at debug level only: the caller's message stands).
 */
static bool
find_row(PGconn *conn, const extract_spec *spec, const ferry_header *h, buf *key, buf *cols)
{
	char *sql = extract_sql(spec);
	const char *params[1] = {utf8_hex};
	buf q, name;

	buf_init(&q, 1024);
	buf_init(&name, 64);
	buf_puts(&q, "SELECT concat_ws(', ', NULL::text");
	for (int i = 0; i < spec->nkey; i++)
	{
		/* the key as ASCII, whatever its bytes: \ooo for the others */
		buf_puts(&q, ", ");
		pg_append_literal(&q, spec->key[i]);
		buf_puts(&q, " || '=' || encode(convert_to(r.");
		pg_append_ident(&q, spec->key[i]);
		buf_puts(&q, "::text, 'SQL_ASCII'), 'escape')");
	}
	buf_puts(&q, "), concat_ws(', ', NULL::text");
	for (int i = 0; i < h->ncols; i++)
	{
		buf_puts(&q, ", CASE WHEN ");
		append_not_utf8(&q, h->cols[i].name);
		buf_puts(&q, " THEN ");
		name.len = 0;
		pg_append_ident(&name, h->cols[i].name);
		pg_append_literal(&q, buf_cstr(&name));
		buf_puts(&q, " END");
	}
	buf_printf(&q, ")\nFROM (%s\n) AS r\nWHERE ", sql);
	for (int i = 0; i < h->ncols; i++)
	{
		if (i)
			buf_puts(&q, " OR ");
		append_not_utf8(&q, h->cols[i].name);
	}
	buf_puts(&q, "\nLIMIT 1");
	free(sql);

	PGresult *res = PQexecParams(conn, buf_cstr(&q), 1, NULL, params, NULL, NULL, 0);
	bool found = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		log_debug("source: cannot find the row that is not UTF-8: %s", pg_errmsg(conn, res));
	if (found)
	{
		buf_puts(key, PQgetvalue(res, 0, 0));
		buf_puts(cols, PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	buf_free(&q);
	buf_free(&name);
	return found;
}

void
extract_report_encoding(PGconn *conn, const extract_spec *spec, const ferry_header *h,
						bool in_savepoint, long long rows_before, const char *server_msg)
{
	const char *server_enc = PQparameterStatus(conn, "server_encoding");
	bool sql_ascii = server_enc && strcmp(server_enc, "SQL_ASCII") == 0;
	buf what, key, cols;

	buf_init(&what, 128);
	buf_init(&key, 64);
	buf_init(&cols, 64);
	if (h->entity)
		buf_printf(&what, "entity \"%s\"", h->entity);
	if (h->source && strcmp(h->source, "query") != 0)
		buf_printf(&what, "%s%s%s", h->entity ? " (" : "table ", h->source, h->entity ? ")" : "");
	if (what.len == 0)
		buf_puts(&what, "the query");

	/* back to before the COPY, in the same snapshot; then look for the row */
	bool found = sql_ascii && (!in_savepoint || pg_exec(conn, "ROLLBACK TO SAVEPOINT ferry_extract")) &&
		find_row(conn, spec, h, &key, &cols);

	if (found && key.len)
		buf_printf(&what, ": row %s", buf_cstr(&key));
	else
		buf_printf(&what, ": row %lld of the extract", rows_before + 1);
	if (found && cols.len)
		buf_printf(&what, ", column%s %s", strchr(buf_cstr(&cols), ',') ? "s" : "", cols.data);

	if (sql_ascii)
		log_error("source: %s: a text that is not UTF-8 (%s); the source database is SQL_ASCII, "
				  "which keeps bytes without saying their encoding: in the plan's extract query, "
				  "convert that column from the encoding its bytes are in, e.g. "
				  "convert_from(convert(convert_to(EXPR, 'SQL_ASCII'), 'LATIN1', 'UTF8'), 'UTF8'), "
				  "or correct the row in the source", buf_cstr(&what), server_msg);
	else
		log_error("source: %s: a text that does not convert to UTF8 (%s); the source database is "
				  "%s: in the plan's extract query, convert or replace that column's value, "
				  "or correct the row in the source", buf_cstr(&what), server_msg,
				  server_enc ? server_enc : "in another encoding");
	buf_free(&what);
	buf_free(&key);
	buf_free(&cols);
}
