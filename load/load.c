/*
 * load.c: a stream into a table, batch by batch: the setup, each batch
 * committed with its books in one transaction, the end (loadctx.h maps
 * the other files of the load).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "bulk.h"
#include "exitcode.h"
#include "io.h"
#include "jsoncheck.h"
#include "loadctx.h"
#include "log.h"
#include "pgconn.h"
#include "uuidset.h"

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
	buf_init(&c->detail, 256);
	c->vals = xcalloc((size_t) h->ncols + 1, sizeof *c->vals);
	c->batch_size = s->min_batch > 1000 ? s->min_batch : (s->max_batch < 1000 ? s->max_batch : 1000);
	batch_reset(c);
	return true;
}

/* the bulk load's start: what identifies a row stays (bulk.h) */
static bool
begin_bulk(load_ctx *c, int *dropped)
{
	const ferry_header *h = c->h;
	const char **key = xcalloc((size_t) h->nkey + 1, sizeof *key);
	int nkey = 0;
	bool ok;

	for (int k = 0; k < h->nkey; k++)
		if (!header_is_skip(h, h->key[k]))
			key[nkey++] = h->key[k];
	if (nkey < h->nkey)
		nkey = 0;              /* a key column not in the table: the uuid key stays */
	bulk_target t = {
		.table_sql = c->target_sql, .run = c->spec->run, .entity = c->spec->entity,
		/* a tree deletes the rows below a rejected parent by uuid: its key stays */
		.uuid_column = c->uuid_idx >= 0 && !header_is_skip(h, h->cols[c->uuid_idx].name) &&
			c->parent_idx < 0 ? h->cols[c->uuid_idx].name : NULL,
		.nkey = nkey, .key = key,
	};

	ok = bulk_begin(c->conn, &t, dropped);
	free(key);
	return ok;
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
	buf_free(&c->detail);
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
	/*
	 * the step's lock first: an earlier attempt still committing may hold
	 * the table's lock (a bulk load's DROP INDEX), which prepare's staging
	 * table would wait for without a word
	 */
	if ((spec->bookkeeping && spec->run && spec->entity && !lock_step(&c)) || !prepare(&c))
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
	/* a bulk load when the table is empty: the indexes this load dropped come back at its end */
	int bulk_dropped = 0;

	if (spec->bulk && spec->mode == LOAD_INSERT && spec->bookkeeping && spec->run && spec->entity &&
		!begin_bulk(&c, &bulk_dropped))
	{
		cleanup(&c);
		return FERRY_EXIT_TARGET;
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
	/*
	 * The indexes a bulk load dropped come back at its end, whatever the
	 * outcome while the server is there: the rows committed stand, and a
	 * resume goes on with the indexes in place.  Interrupted, or the
	 * connection lost: ferry.bulk_indexes keeps them for the driver's
	 * "ferry-load --rebuild-indexes".
	 */
	if (bulk_dropped > 0 && !io_interrupted && PQstatus(conn) == CONNECTION_OK)
	{
		int rc = bulk_rebuild(conn, c.target_sql);

		if (code == FERRY_EXIT_OK)
			code = rc;
	}
	progress_done((int64_t) (stats->loaded + stats->rejected + stats->passed_rejects));
	event_emit("load_end", "\"exit\":%d,\"loaded\":%" PRIu64 ",\"rejected\":%" PRIu64
			   ",\"passed_rejects\":%" PRIu64 ",\"notes\":%" PRIu64 ",\"batches\":%" PRIu64
			   ",\"splits\":%" PRIu64 ",\"ms\":%lld", code, stats->loaded, stats->rejected,
			   stats->passed_rejects, stats->notes, stats->batches, stats->splits,
			   (long long) ((now_us() - load_started) / 1000));
	cleanup(&c);
	return code;
}
