/*
 * sourcekeys.c: an entity's legacy keys in the source (forward references).
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "pgconn.h"
#include "sourcekeys.h"
#include "transform.h"

PGconn *
source_open(const char *conninfo, const char *snapshot)
{
	PGconn *conn = pg_connect(conninfo, "source", "ferry-transform");

	if (conn == NULL)
		return NULL;
	if (!pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
	{
		PQfinish(conn);
		return NULL;
	}
	if (snapshot)
	{
		buf s;
		PGresult *res;

		buf_init(&s, 64);
		buf_puts(&s, "SET TRANSACTION SNAPSHOT ");
		pg_append_literal(&s, snapshot);
		res = PQexec(conn, buf_cstr(&s));
		buf_free(&s);
		/* the usual cause: the session holding it (ferry run's) has ended */
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			log_error("source: cannot read in the snapshot %s: %s (the session that exported it "
					  "must still be open)", snapshot, pg_errmsg(conn, res));
			PQclear(res);
			PQfinish(conn);
			return NULL;
		}
		PQclear(res);
	}
	return conn;
}

/* the extract query as a subquery: a trailing ";" or "-- comment" must not end it */
static void
append_subquery(buf *b, const char *query)
{
	buf_puts(b, "(\n");
	buf_puts(b, query);
	while (b->len > 0 && strchr(";\n \t", b->data[b->len - 1]))
		b->len--;
	buf_puts(b, "\n) AS q");
}

/* does the query output a _ferry_reject column?  -1 on error (logged) */
static int
rejects_rows(PGconn *conn, const plan_entity *e)
{
	buf sql;
	PGresult *res;
	int found = 0;

	buf_init(&sql, 256);
	buf_puts(&sql, "SELECT * FROM ");
	append_subquery(&sql, e->extract_sql);
	buf_puts(&sql, " LIMIT 0");
	res = PQexec(conn, buf_cstr(&sql));
	buf_free(&sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		log_error("source: the extract query of \"%s\": %s", e->name, pg_errmsg(conn, res));
		PQclear(res);
		return -1;
	}
	for (int i = 0; i < PQnfields(res); i++)
		if (strcmp(PQfname(res, i), FERRY_REJECT_COLUMN) == 0)
			found = 1;
	PQclear(res);
	return found;
}

char *
source_keys_sql(PGconn *conn, const plan_entity *e)
{
	buf b;
	int rejects;

	if (e->extract_sql == NULL || e->nkey != 1)
	{
		log_error("entity \"%s\": a forward reference needs its extract query and a one-column key",
				  e->name);
		return NULL;
	}
	if ((rejects = rejects_rows(conn, e)) < 0)
		return NULL;
	buf_init(&b, 256);
	buf_puts(&b, "SELECT q.");
	pg_append_ident(&b, e->key[0]);
	buf_puts(&b, "::text FROM ");
	append_subquery(&b, e->extract_sql);
	if (rejects)
	{
		/* a row the query rejects is never loaded: pointing at it is pointing at nothing */
		buf_puts(&b, " WHERE q.");
		pg_append_ident(&b, FERRY_REJECT_COLUMN);
		buf_puts(&b, " IS NULL");
	}
	return (char *) buf_cstr(&b);
}
