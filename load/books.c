/*
 * books.c: the load's books in the ferry schema, in each batch's transaction:
 * id map, rejects, checkpoint; the step's lock, the resume point, the
 * sequences after the load.
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

bool
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

bool
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

bool
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

void
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

/*
 * One load of a step at a time.  A killed load's session may still be
 * committing its last batch in the server (it notices that its client is
 * gone only once that is done): a load that read the checkpoint before
 * that commit landed would load the batch again.  The lock is held by the
 * session until it ends; the driver waits for it too before it clears an
 * interrupted step's books.
 */
#define STEP_LOCK "hashtextextended('ferry load ' || $1 || ' ' || $2 || ' ' || $3, 0)"

bool
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

bool
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

void
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
