/*
 * gone.c: the keys the destination holds from earlier runs and the source
 * no longer has.
 *
 * The source's keys (the extract query's key columns, in the run's
 * snapshot) are read once into a sorted array of 8-byte values; the
 * destination's are streamed against it, never held: memory is 8 bytes a
 * source key.  The keys gone go through a temporary file into the
 * destination's temporary table ferry_gone (n, key columns), numbered 1..N
 * for the batches of apply.c.
 *
 * Which rows of the destination earlier runs loaded: those whose key
 * columns are set (MODE_KEY: a row made in the destination has none), or,
 * when the destination has no key column (drop), those whose uuid column
 * holds a version-5 UUID (MODE_UUID: ferry's, computed from the key;
 * gen_random_uuid() makes version 4).  ferry.id_map is not read: the
 * destination's own columns are always right.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "delete.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "uuid.h"

typedef struct reader
{
	const dspec *s;
	dentity *d;
	keyset keys;
	buf key;
	FILE *out;              /* the keys gone, as COPY lines "n<TAB>columns" */
	int64_t dest_rows;
} reader;

static bool
add_source_key(void *ctx, const char *line, size_t len)
{
	reader *r = ctx;

	/* a row whose key has a NULL is never loaded */
	if (!copy_line_key(line, len, r->s->e->nkey, &r->key))
		return true;
	if (r->d->mode == MODE_KEY)
		keyset_add(&r->keys, key_value(r->key.data, r->key.len));
	else
	{
		char text[37];
		uint8_t u[16];

		uuid_for_key(r->s->p->ns, r->s->e->keyspace, r->key.data, r->key.len, text);
		uuid_parse(text, u);
		keyset_add(&r->keys, uuid_value(u));
	}
	return true;
}

static bool
check_dest_key(void *ctx, const char *line, size_t len)
{
	reader *r = ctx;
	int64_t v;

	r->dest_rows++;
	if (r->d->mode == MODE_KEY)
	{
		if (!copy_line_key(line, len, r->d->nkey, &r->key))
			return true;
		v = key_value(r->key.data, r->key.len);
	}
	else
	{
		uint8_t u[16];
		char text[37];

		if (len != 36)
			return true;
		memcpy(text, line, 36);
		text[36] = '\0';
		if (!uuid_parse(text, u))
			return true;
		v = uuid_value(u);
	}
	if (keyset_has(&r->keys, v))
		return true;
	r->d->gone++;
	fprintf(r->out, "%lld\t%.*s\n", (long long) r->d->gone, (int) len, line);
	return !ferror(r->out);
}

/* the extract query's key columns, in the run's snapshot */
static bool
read_source(PGconn *src, reader *r)
{
	const plan_entity *e = r->s->e;
	buf sql;
	bool ok;

	if (!pg_exec(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
		return false;
	if (r->s->snapshot)
	{
		buf set;

		buf_init(&set, 64);
		buf_puts(&set, "SET TRANSACTION SNAPSHOT ");
		pg_append_literal(&set, r->s->snapshot);
		ok = pg_exec(src, buf_cstr(&set));
		buf_free(&set);
		if (!ok)
		{
			log_error("source: cannot read in the snapshot %s (the session that exported it must "
					  "still be open)", r->s->snapshot);
			return false;
		}
	}
	buf_init(&sql, strlen(e->extract_sql) + 256);
	buf_puts(&sql, "SELECT ");
	for (int k = 0; k < e->nkey; k++)
	{
		buf_puts(&sql, k ? ", q." : "q.");
		pg_append_ident(&sql, e->key[k]);
	}
	buf_printf(&sql, " FROM (\n%s\n) AS q", e->extract_sql);
	ok = pg_copy_lines(src, "source", buf_cstr(&sql), add_source_key, r);
	buf_free(&sql);
	pg_exec(src, "COMMIT");
	return ok;
}

/* the destination's keys of the rows earlier runs loaded, streamed */
static bool
read_dest(PGconn *dst, reader *r)
{
	const dentity *d = r->d;
	buf sql;
	bool ok;

	buf_init(&sql, 256);
	buf_puts(&sql, "SELECT ");
	for (int k = 0; k < d->nkey; k++)
	{
		if (k)
			buf_puts(&sql, ", ");
		pg_append_ident(&sql, d->key[k]);
	}
	buf_printf(&sql, " FROM %s WHERE ", d->target_sql);
	for (int k = 0; k < d->nkey; k++)
	{
		if (k)
			buf_puts(&sql, " AND ");
		pg_append_ident(&sql, d->key[k]);
		buf_puts(&sql, " IS NOT NULL");
	}
	if (d->mode == MODE_UUID)
	{
		buf_puts(&sql, " AND substr(");
		pg_append_ident(&sql, d->key[0]);
		buf_puts(&sql, "::text, 15, 1) = '5'");
	}
	ok = pg_copy_lines(dst, "target", buf_cstr(&sql), check_dest_key, r);
	buf_free(&sql);
	return ok;
}

/* ferry_gone (n bigint, key columns typed as the destination's), from the file */
static bool
load_gone(PGconn *dst, reader *r)
{
	const dentity *d = r->d;
	buf sql;
	bool ok;

	buf_init(&sql, 256);
	buf_puts(&sql, "DROP TABLE IF EXISTS pg_temp.ferry_gone; "
			 "CREATE TEMP TABLE ferry_gone AS SELECT 0::bigint AS n");
	for (int k = 0; k < d->nkey; k++)
	{
		buf_puts(&sql, ", t.");
		pg_append_ident(&sql, d->key[k]);
	}
	buf_printf(&sql, " FROM %s AS t WITH NO DATA", d->target_sql);
	ok = pg_exec(dst, buf_cstr(&sql));
	buf_free(&sql);
	if (!ok)
		return false;
	/* nothing gone: the table stays empty (no COPY, no index) */
	if (d->gone == 0)
		return true;

	PGresult *res = PQexec(dst, "COPY pg_temp.ferry_gone FROM STDIN");

	if (PQresultStatus(res) != PGRES_COPY_IN)
	{
		log_error("target: %s", pg_errmsg(dst, res));
		PQclear(res);
		return false;
	}
	PQclear(res);
	rewind(r->out);

	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof chunk, r->out)) > 0)
		if (PQputCopyData(dst, chunk, (int) n) != 1)
			break;
	ok = !ferror(r->out) && PQputCopyEnd(dst, NULL) == 1;
	while ((res = PQgetResult(dst)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			log_error("target: %s", pg_errmsg(dst, res));
			ok = false;
		}
		PQclear(res);
	}
	return ok && pg_exec(dst, "CREATE INDEX ON pg_temp.ferry_gone (n); ANALYZE pg_temp.ferry_gone");
}

int
gone_find(PGconn *src, PGconn *dst, const dspec *s, dentity *d)
{
	reader r = {.s = s, .d = d};
	int code = FERRY_EXIT_OK;
	int64_t t0 = now_us();

	keyset_init(&r.keys);
	buf_init(&r.key, 64);
	d->gone = 0;
	r.out = tmpfile();
	if (r.out == NULL)
	{
		log_error("cannot create a temporary file for the keys gone");
		code = FERRY_EXIT_IO;
	}
	else if (!read_source(src, &r))
		code = FERRY_EXIT_SOURCE;
	else
	{
		log_info("%s: %zu source keys read (%zu kB)", s->e->name, r.keys.n,
				 r.keys.cap * sizeof(int64_t) / 1024);
		if (!read_dest(dst, &r))
			code = FERRY_EXIT_TARGET;
		else if (fflush(r.out) != 0)
			code = FERRY_EXIT_IO;
		else if (!load_gone(dst, &r))
			code = FERRY_EXIT_TARGET;
	}
	if (code == FERRY_EXIT_OK)
		event_emit("delete_compare", "\"source_keys\":%zu,\"destination_rows\":%lld,\"gone\":%lld,"
				   "\"ms\":%lld", r.keys.n, (long long) r.dest_rows, (long long) d->gone,
				   (long long) ((now_us() - t0) / 1000));
	if (r.out)
		fclose(r.out);
	keyset_free(&r.keys);
	buf_free(&r.key);
	return code;
}
