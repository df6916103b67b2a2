/*
 * apply.c: the plan's "deletes" policy on the keys gone (ferry_gone), in
 * batches of --batch keys, each batch one transaction with its books.
 *
 * delete: the batch's rows are saved in ferry.deletes first, with every
 * row the destination's own rules will reach (ON DELETE CASCADE rows,
 * recursively; rows whose reference is SET NULL or SET DEFAULT), found by
 * following the foreign keys of the catalog from the rows to delete until
 * no new row is found (pg_temp.ferry_aff); then they are deleted with
 * foreign keys and triggers on (session_replication_role origin), so that
 * the destination's rules apply.  "ferry rollback" puts the saved rows back.
 *
 * A batch the destination refuses (a foreign key RESTRICT or NO ACTION: a
 * row made in the destination still references one; a check or a trigger
 * raising an error) is rolled back to its savepoint and cut in two until
 * the refused keys are alone: each is recorded in ferry.deletes as refused,
 * with the destination's message, and the others go.  Refused keys are
 * tried again once the batches are done (a child deleted later in the
 * step may have been what held them) while that frees any.
 *
 * flag: the rows are saved, then their flag column set to the time of the
 * run's snapshot.  keep: the keys are recorded as kept, nothing changes.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "delete.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"

/* a foreign key whose ON DELETE acts on the referencing rows */
typedef struct edge
{
	char *child_oid, *parent_oid;
	char *child_sql, *parent_sql;   /* quoted, qualified */
	char *child_cols, *parent_cols; /* quoted, comma separated */
	bool cascade;                   /* else SET NULL / SET DEFAULT */
} edge;

typedef struct actx
{
	PGconn *dst;
	const dspec *s;
	dentity *d;
	dcounts *c;
	char *target_oid;
	int nedges;
	edge *edges;
	buf join;                       /* t.k = g.k AND ... */
	int batch;                      /* the batch being applied */
	int64_t *refused;               /* the keys (n) refused in this attempt */
	size_t nrefused, caprefused;
	char failure[1024];             /* the destination's message of the last refusal */
} actx;

static void
sql_int(buf *b, int64_t v)
{
	buf_printf(b, "%lld", (long long) v);
}

/* the run and entity as literals, for the statements */
static void
run_entity(actx *a, buf *b)
{
	pg_append_literal(b, a->s->run);
	buf_puts(b, ", ");
	pg_append_literal(b, a->s->e->name);
}

static bool
load_edges(actx *a)
{
	PGresult *res = pg_query(a->dst,
		"SELECT c.conrelid::text, c.confrelid::text, "
		"       format('%I.%I', cn.nspname, cc.relname), format('%I.%I', pn.nspname, pc.relname), "
		"       (SELECT string_agg(quote_ident(x.attname), ',' ORDER BY k.i) "
		"          FROM unnest(c.conkey) WITH ORDINALITY k(att, i) "
		"          JOIN pg_attribute x ON x.attrelid = c.conrelid AND x.attnum = k.att), "
		"       (SELECT string_agg(quote_ident(x.attname), ',' ORDER BY k.i) "
		"          FROM unnest(c.confkey) WITH ORDINALITY k(att, i) "
		"          JOIN pg_attribute x ON x.attrelid = c.confrelid AND x.attnum = k.att), "
		"       c.confdeltype = 'c' "
		"FROM pg_constraint c "
		"JOIN pg_class cc ON cc.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace "
		"JOIN pg_class pc ON pc.oid = c.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace "
		"WHERE c.contype = 'f' AND c.confdeltype IN ('c', 'n', 'd') "
		"ORDER BY 1, 2, 3", 0, NULL);

	if (res == NULL)
		return false;
	a->nedges = PQntuples(res);
	a->edges = xcalloc((size_t) a->nedges + 1, sizeof(edge));
	for (int i = 0; i < a->nedges; i++)
	{
		edge *e = &a->edges[i];

		e->child_oid = xstrdup(PQgetvalue(res, i, 0));
		e->parent_oid = xstrdup(PQgetvalue(res, i, 1));
		e->child_sql = xstrdup(PQgetvalue(res, i, 2));
		e->parent_sql = xstrdup(PQgetvalue(res, i, 3));
		e->child_cols = xstrdup(PQgetvalue(res, i, 4));
		e->parent_cols = xstrdup(PQgetvalue(res, i, 5));
		e->cascade = PQgetvalue(res, i, 6)[0] == 't';
	}
	PQclear(res);
	return true;
}

/* "x.a, x.b" from "a,b" (quoted names hold no comma but inside quotes) */
static void
prefixed(buf *b, const char *alias, const char *cols)
{
	bool quoted = false;

	buf_printf(b, "%s.", alias);
	for (const char *p = cols; *p; p++)
	{
		if (*p == '"')
			quoted = !quoted;
		if (*p == ',' && !quoted)
			buf_printf(b, ", %s.", alias);
		else
			buf_putc(b, *p);
	}
}

/* a statement; false on error, with the server's SQLSTATE class in *refusal */
static bool
exec_try(actx *a, const char *sql, long long *rows, bool *refusal)
{
	PGresult *res = PQexec(a->dst, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
	{
		if (rows)
			*rows = atoll(PQcmdTuples(res));
		PQclear(res);
		return true;
	}
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

	/* integrity (class 23) and errors raised by triggers (P0001): the destination says no */
	*refusal = state && (strncmp(state, "23", 2) == 0 || strcmp(state, "P0001") == 0);
	snprintf(a->failure, sizeof a->failure, "%s%s%s", pg_errmsg(a->dst, res),
			 detail ? " " : "", detail ? detail : "");
	for (char *p = a->failure; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (!*refusal)
		log_error("target: %s", a->failure);
	PQclear(res);
	return false;
}

static bool
exec_ok(actx *a, const char *sql)
{
	bool refusal;

	return exec_try(a, sql, NULL, &refusal);
}

/* the rows of ferry_gone n in [lo, hi], joined to the target as t */
static void
gone_rows(actx *a, buf *b, int64_t lo, int64_t hi)
{
	buf_printf(b, " FROM %s AS t JOIN pg_temp.ferry_gone AS g ON %s WHERE g.n BETWEEN ",
			   a->d->target_sql, a->join.data);
	sql_int(b, lo);
	buf_puts(b, " AND ");
	sql_int(b, hi);
}

/*
 * The legacy key text (as ferry.id_map holds it) of a row given as the
 * jsonb expression row: NULL in MODE_UUID (the row is saved whole)
 */
static void
legacy_expr(const actx *a, buf *b, const char *row)
{
	const dentity *d = a->d;

	if (d->mode == MODE_UUID)
	{
		buf_puts(b, "NULL::text");
		return;
	}
	if (d->nkey > 1)
		buf_puts(b, "concat_ws(',', ");
	for (int k = 0; k < d->nkey; k++)
	{
		if (k)
			buf_puts(b, ", ");
		/* a part of a composite key: its "\" and "," escaped by "\" */
		buf_printf(b, d->nkey > 1 ? "replace(replace((%s)->>" : "((%s)->>", row);
		pg_append_literal(b, d->key[k]);
		buf_puts(b, d->nkey > 1 ? ", '\\', '\\\\'), ',', '\\,')" : ")");
	}
	if (d->nkey > 1)
		buf_putc(b, ')');
}

/* pg_temp.ferry_aff: the rows [lo, hi] and every row the foreign keys' rules reach */
static bool
closure(actx *a, int64_t lo, int64_t hi, bool *refusal)
{
	buf sql;
	bool ok;

	buf_init(&sql, 1024);
	buf_printf(&sql, "TRUNCATE pg_temp.ferry_aff; INSERT INTO pg_temp.ferry_aff "
			   "SELECT %s, t.ctid, 0, 'deleted', to_jsonb(t)", a->target_oid);
	gone_rows(a, &sql, lo, hi);
	ok = exec_try(a, buf_cstr(&sql), NULL, refusal);
	for (int round = 0; ok; round++)
	{
		PGresult *res;
		char r[16];
		const char *params[1] = {r};
		long long added = 0;

		snprintf(r, sizeof r, "%d", round);
		res = pg_query(a->dst, "SELECT DISTINCT rel::text FROM pg_temp.ferry_aff "
					   "WHERE round = $1 AND kind <> 'set_null'", 1, params);
		if (res == NULL)
		{
			ok = false;
			break;
		}
		for (int e = 0; e < a->nedges && ok; e++)
		{
			const edge *x = &a->edges[e];
			bool reached = false;

			for (int i = 0; i < PQntuples(res) && !reached; i++)
				reached = strcmp(PQgetvalue(res, i, 0), x->parent_oid) == 0;
			if (!reached)
				continue;
			long long n = 0;

			buf_reset(&sql);
			buf_printf(&sql, "INSERT INTO pg_temp.ferry_aff SELECT %s, c.ctid, %d, '%s', to_jsonb(c) "
					   "FROM %s AS c WHERE (", x->child_oid, round + 1,
					   x->cascade ? "cascaded" : "set_null", x->child_sql);
			prefixed(&sql, "c", x->child_cols);
			buf_puts(&sql, ") IN (SELECT ");
			prefixed(&sql, "p", x->parent_cols);
			buf_printf(&sql, " FROM pg_temp.ferry_aff AS a, jsonb_populate_record(NULL::%s, a.row) AS p "
					   "WHERE a.rel = %s AND a.round = %d AND a.kind <> 'set_null') "
					   "ON CONFLICT (rel, tid) DO UPDATE SET kind = 'cascaded', round = excluded.round "
					   "WHERE ferry_aff.kind = 'set_null' AND excluded.kind = 'cascaded'",
					   x->parent_sql, x->parent_oid, round);
			ok = exec_try(a, buf_cstr(&sql), &n, refusal);
			added += n;
		}
		PQclear(res);
		if (added == 0)
			break;
	}
	buf_free(&sql);
	return ok;
}

/* the rows of ferry_aff into ferry.deletes, in the order they were reached */
static bool
save_closure(actx *a, bool *refusal)
{
	buf sql;
	bool ok;

	buf_init(&sql, 1024);
	buf_puts(&sql, "INSERT INTO ferry.deletes (run_id, entity, batch, legacy_id, target, action, row_data) "
			 "SELECT ");
	run_entity(a, &sql);
	buf_printf(&sql, ", %d, CASE WHEN a.rel = %s THEN ", a->batch, a->target_oid);
	legacy_expr(a, &sql, "a.row");
	buf_puts(&sql, " END, format('%I.%I', n.nspname, c.relname), a.kind, a.row "
			 "FROM pg_temp.ferry_aff AS a JOIN pg_class AS c ON c.oid = a.rel "
			 "JOIN pg_namespace AS n ON n.oid = c.relnamespace ORDER BY a.round, a.rel, a.tid");
	ok = exec_try(a, buf_cstr(&sql), NULL, refusal);
	buf_free(&sql);
	return ok;
}

/* the keys [lo, hi]: saved, then deleted or flagged; false when refused or failed */
static bool
apply_range(actx *a, int64_t lo, int64_t hi, bool *refusal)
{
	buf sql;
	bool ok;
	long long expected = 0, done = 0;

	*refusal = false;
	buf_init(&sql, 1024);
	if (a->s->e->deletes == DELETES_FLAG)
	{
		buf when;

		/* the deletion time: the run's snapshot's (the same in every attempt) */
		buf_init(&when, 128);
		buf_puts(&when, "coalesce((SELECT source_time FROM ferry.runs WHERE run_id = ");
		pg_append_literal(&when, a->s->run);
		buf_puts(&when, "), now())");
		buf_cstr(&when);
		buf_puts(&sql, "INSERT INTO ferry.deletes (run_id, entity, batch, legacy_id, target, action, "
				 "reason, row_data) SELECT ");
		run_entity(a, &sql);
		buf_printf(&sql, ", %d, ", a->batch);
		legacy_expr(a, &sql, "to_jsonb(t)");
		buf_puts(&sql, ", ");
		pg_append_literal(&sql, a->d->target_name);
		/* a row an earlier run flagged keeps its time: kept, as flagged already */
		buf_printf(&sql, ", CASE WHEN t.%s IS NULL THEN 'flagged' ELSE 'kept' END, "
				   "CASE WHEN t.%s IS NOT NULL THEN 'flagged by an earlier run' END, "
				   "CASE WHEN t.%s IS NULL THEN to_jsonb(t) END",
				   a->d->flag_sql, a->d->flag_sql, a->d->flag_sql);
		gone_rows(a, &sql, lo, hi);
		buf_printf(&sql, " AND t.%s IS DISTINCT FROM %s", a->d->flag_sql, when.data);
		ok = exec_try(a, buf_cstr(&sql), NULL, refusal);
		if (ok)
		{
			buf_reset(&sql);
			buf_printf(&sql, "UPDATE %s AS t SET %s = %s FROM pg_temp.ferry_gone AS g WHERE %s "
					   "AND t.%s IS NULL AND g.n BETWEEN ", a->d->target_sql, a->d->flag_sql,
					   when.data, a->join.data, a->d->flag_sql);
			sql_int(&sql, lo);
			buf_puts(&sql, " AND ");
			sql_int(&sql, hi);
			ok = exec_try(a, buf_cstr(&sql), &done, refusal);
			expected = done;
		}
		buf_free(&when);
	}
	else
	{
		ok = closure(a, lo, hi, refusal) && save_closure(a, refusal);
		if (ok)
		{
			PGresult *res = pg_query(a->dst, "SELECT count(*) FROM pg_temp.ferry_aff WHERE round = 0",
									 0, NULL);

			ok = res != NULL;
			if (ok)
				expected = atoll(PQgetvalue(res, 0, 0));
			PQclear(res);
		}
		if (ok)
		{
			buf_reset(&sql);
			buf_printf(&sql, "DELETE FROM %s AS t USING pg_temp.ferry_gone AS g WHERE %s AND g.n BETWEEN ",
					   a->d->target_sql, a->join.data);
			sql_int(&sql, lo);
			buf_puts(&sql, " AND ");
			sql_int(&sql, hi);
			ok = exec_try(a, buf_cstr(&sql), &done, refusal);
		}
	}
	/*
	 * a BEFORE trigger that returns NULL keeps its row without an error:
	 * the rows still there are refused, and not saved as gone
	 */
	if (ok && done < expected && a->s->e->deletes == DELETES_DELETE)
	{
		buf_reset(&sql);
		buf_puts(&sql, "WITH still AS (SELECT to_jsonb(t) AS row");
		gone_rows(a, &sql, lo, hi);
		buf_printf(&sql, ") UPDATE ferry.deletes AS d SET action = 'refused', reason = 'a trigger on %s "
				   "kept the row (it returned NULL)' FROM still WHERE d.run_id = ",
				   a->d->target_name);
		pg_append_literal(&sql, a->s->run);
		buf_puts(&sql, " AND d.entity = ");
		pg_append_literal(&sql, a->s->e->name);
		buf_printf(&sql, " AND d.batch = %d AND d.action = 'deleted' AND d.row_data = still.row",
				   a->batch);
		ok = exec_ok(a, buf_cstr(&sql));
	}
	buf_free(&sql);
	return ok;
}

/* a key refused alone: recorded with the destination's message */
static bool
record_refused(actx *a, int64_t n)
{
	buf sql;
	bool ok;

	buf_init(&sql, 1024);
	buf_puts(&sql, "INSERT INTO ferry.deletes (run_id, entity, batch, legacy_id, target, action, reason, "
			 "row_data) SELECT ");
	run_entity(a, &sql);
	buf_printf(&sql, ", %d, ", a->batch);
	legacy_expr(a, &sql, "to_jsonb(t)");
	buf_puts(&sql, ", ");
	pg_append_literal(&sql, a->d->target_name);
	buf_puts(&sql, ", 'refused', ");
	pg_append_literal(&sql, a->failure);
	buf_puts(&sql, ", to_jsonb(t)");
	gone_rows(a, &sql, n, n);
	ok = exec_ok(a, buf_cstr(&sql));
	buf_free(&sql);
	if (ok)
	{
		if (a->nrefused == a->caprefused)
		{
			a->caprefused = a->caprefused ? 2 * a->caprefused : 64;
			a->refused = xrealloc(a->refused, a->caprefused * sizeof *a->refused);
		}
		a->refused[a->nrefused++] = n;
		log_info("%s: key %lld of the keys gone refused: %s", a->s->e->name, (long long) n, a->failure);
	}
	return ok;
}

/*
 * [lo, hi] under a savepoint; refused: rolled back and cut in two, down to
 * the keys refused alone.  False on a failure that is not a refusal.
 */
static bool
try_range(actx *a, int64_t lo, int64_t hi)
{
	bool refusal = false;

	if (!exec_ok(a, "SAVEPOINT ferry_try"))
		return false;
	if (apply_range(a, lo, hi, &refusal))
		return exec_ok(a, "RELEASE SAVEPOINT ferry_try");
	if (!refusal)
		return false;
	if (!exec_ok(a, "ROLLBACK TO SAVEPOINT ferry_try; RELEASE SAVEPOINT ferry_try"))
		return false;
	if (lo == hi)
		return record_refused(a, lo);
	int64_t mid = lo + (hi - lo) / 2;

	return try_range(a, lo, mid) && try_range(a, mid + 1, hi);
}

/* the step's progress, in the batch's transaction: ferry.checkpoints phase "delete" */
static bool
checkpoint(actx *a, bool complete)
{
	buf sql;
	bool ok;

	buf_init(&sql, 1024);
	buf_puts(&sql, "INSERT INTO ferry.checkpoints (run_id, entity, phase, records, rows_loaded, "
			 "rows_rejected, batches, complete, updated_at) SELECT ");
	run_entity(a, &sql);
	buf_puts(&sql, ", 'delete', ");
	sql_int(&sql, a->d->gone);
	buf_printf(&sql, ", count(*) FILTER (WHERE action IN ('deleted', 'flagged') AND target = ");
	pg_append_literal(&sql, a->d->target_name);
	buf_printf(&sql, "), count(*) FILTER (WHERE action = 'refused'), %d, %s, now() "
			   "FROM ferry.deletes WHERE run_id = ", a->batch, complete ? "true" : "false");
	pg_append_literal(&sql, a->s->run);
	buf_puts(&sql, " AND entity = ");
	pg_append_literal(&sql, a->s->e->name);
	buf_puts(&sql, " ON CONFLICT (run_id, entity, phase) DO UPDATE SET records = excluded.records, "
			 "rows_loaded = excluded.rows_loaded, rows_rejected = excluded.rows_rejected, "
			 "batches = excluded.batches, complete = excluded.complete, updated_at = now()");
	ok = exec_ok(a, buf_cstr(&sql));
	buf_free(&sql);
	return ok;
}

/* one batch: [lo, hi] in a transaction with its checkpoint */
static bool
batch(actx *a, int64_t lo, int64_t hi)
{
	int64_t t0 = now_us();

	a->batch++;
	if (!exec_ok(a, "BEGIN") || !try_range(a, lo, hi) || !checkpoint(a, false) || !exec_ok(a, "COMMIT"))
		return false;
	a->c->batches++;
	event_emit("delete_batch", "\"batch\":%d,\"keys\":%lld,\"ms\":%lld", a->batch,
			   (long long) (hi - lo + 1), (long long) ((now_us() - t0) / 1000));
	return true;
}

/* keep: the keys recorded as kept, in one statement */
static bool
record_kept(actx *a)
{
	buf sql;
	bool ok;

	buf_init(&sql, 1024);
	buf_puts(&sql, "INSERT INTO ferry.deletes (run_id, entity, batch, legacy_id, target, action) SELECT ");
	run_entity(a, &sql);
	buf_puts(&sql, ", 0, ");
	legacy_expr(a, &sql, "to_jsonb(t)");
	buf_puts(&sql, ", ");
	pg_append_literal(&sql, a->d->target_name);
	buf_puts(&sql, ", 'kept'");
	gone_rows(a, &sql, 1, a->d->gone);
	ok = exec_ok(a, buf_cstr(&sql));
	buf_free(&sql);
	return ok;
}

/* the run's counts for this entity, from ferry.deletes, into the books */
static bool
record_counts(actx *a)
{
	buf sql;
	bool ok;
	PGresult *res;

	buf_init(&sql, 1024);
	buf_puts(&sql, "SELECT count(*) FILTER (WHERE action = 'deleted' AND target = ");
	pg_append_literal(&sql, a->d->target_name);
	buf_puts(&sql, "), count(*) FILTER (WHERE action = 'cascaded'), "
			 "count(*) FILTER (WHERE action = 'set_null'), count(*) FILTER (WHERE action = 'flagged'), "
			 "count(*) FILTER (WHERE action = 'kept'), count(*) FILTER (WHERE action = 'refused') "
			 "FROM ferry.deletes WHERE run_id = ");
	pg_append_literal(&sql, a->s->run);
	buf_puts(&sql, " AND entity = ");
	pg_append_literal(&sql, a->s->e->name);
	res = pg_query(a->dst, buf_cstr(&sql), 0, NULL);
	if (res == NULL)
	{
		buf_free(&sql);
		return false;
	}
	dcounts *c = a->c;

	c->deleted = atoll(PQgetvalue(res, 0, 0));
	c->cascaded = atoll(PQgetvalue(res, 0, 1));
	c->set_null = atoll(PQgetvalue(res, 0, 2));
	c->flagged = atoll(PQgetvalue(res, 0, 3));
	c->kept = atoll(PQgetvalue(res, 0, 4));
	c->refused = atoll(PQgetvalue(res, 0, 5));
	PQclear(res);
	buf_reset(&sql);
	buf_printf(&sql, "UPDATE ferry.entity_runs SET deletes = jsonb_build_object('policy', '%s', "
			   "'deleted', %lld, 'cascaded', %lld, 'set_null', %lld, 'flagged', %lld, 'kept', %lld, "
			   "'refused', %lld, 'by', '%s') WHERE run_id = ",
			   plan_deletes_name(a->s->e->deletes), (long long) c->deleted, (long long) c->cascaded,
			   (long long) c->set_null, (long long) c->flagged, (long long) c->kept,
			   (long long) c->refused, a->d->mode == MODE_KEY ? "key" : "uuid");
	pg_append_literal(&sql, a->s->run);
	buf_puts(&sql, " AND entity = ");
	pg_append_literal(&sql, a->s->e->name);
	ok = exec_ok(a, buf_cstr(&sql));
	buf_free(&sql);
	return ok;
}

static void
actx_free(actx *a)
{
	for (int i = 0; i < a->nedges; i++)
	{
		edge *e = &a->edges[i];

		free(e->child_oid);
		free(e->parent_oid);
		free(e->child_sql);
		free(e->parent_sql);
		free(e->child_cols);
		free(e->parent_cols);
	}
	free(a->edges);
	free(a->target_oid);
	free(a->refused);
	buf_free(&a->join);
}

int
apply_policy(PGconn *dst, const dspec *s, dentity *d, dcounts *c)
{
	actx a = {.dst = dst, .s = s, .d = d, .c = c};
	int code = FERRY_EXIT_TARGET;
	PGresult *res;
	const char *params[3] = {s->run, s->e->name, d->target_sql};

	buf_init(&a.join, 256);
	for (int k = 0; k < d->nkey; k++)
	{
		if (k)
			buf_puts(&a.join, " AND ");
		buf_puts(&a.join, "t.");
		pg_append_ident(&a.join, d->key[k]);
		buf_puts(&a.join, " = g.");
		pg_append_ident(&a.join, d->key[k]);
	}
	buf_cstr(&a.join);
	res = pg_query(dst, "SELECT coalesce(max(batch), 0), $3::regclass::oid::text FROM ferry.deletes "
				   "WHERE run_id = $1 AND entity = $2", 3, params);
	if (res == NULL)
		goto out;
	a.batch = atoi(PQgetvalue(res, 0, 0));
	a.target_oid = xstrdup(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (!exec_ok(&a, "CREATE TEMP TABLE IF NOT EXISTS ferry_aff (rel oid, tid tid, round int, kind text, "
				 "row jsonb, PRIMARY KEY (rel, tid))"))
		goto out;
	/* the foreign keys' rules matter only to rows that go */
	if (d->gone > 0 && !load_edges(&a))
		goto out;

	if (s->e->deletes == DELETES_KEEP)
	{
		if (!exec_ok(&a, "BEGIN") || !record_kept(&a) || !checkpoint(&a, false) || !exec_ok(&a, "COMMIT"))
			goto out;
	}
	else
	{
		for (int64_t lo = 1; lo <= d->gone; lo += s->batch)
		{
			int64_t hi = lo + s->batch - 1 < d->gone ? lo + s->batch - 1 : d->gone;

			if (!batch(&a, lo, hi))
				goto out;
		}
		/* refused keys again, while that frees any (a row deleted since held them) */
		while (a.nrefused > 0)
		{
			int64_t *again = a.refused;
			size_t n = a.nrefused, freed = 0;
			buf sql;

			a.refused = NULL;
			a.nrefused = a.caprefused = 0;
			a.batch++;
			buf_init(&sql, 256);
			buf_puts(&sql, "DELETE FROM ferry.deletes WHERE action = 'refused' AND run_id = ");
			pg_append_literal(&sql, s->run);
			buf_puts(&sql, " AND entity = ");
			pg_append_literal(&sql, s->e->name);
			bool ok = exec_ok(&a, "BEGIN") && exec_ok(&a, buf_cstr(&sql));

			buf_free(&sql);
			for (size_t i = 0; i < n && ok; i++)
				ok = try_range(&a, again[i], again[i]);
			ok = ok && checkpoint(&a, false) && exec_ok(&a, "COMMIT");
			freed = n - a.nrefused;
			free(again);
			if (!ok)
				goto out;
			if (freed == 0)
				break;
		}
	}
	if (!exec_ok(&a, "BEGIN") || !record_counts(&a) || !checkpoint(&a, true) || !exec_ok(&a, "COMMIT"))
		goto out;
	code = FERRY_EXIT_OK;
out:
	if (code != FERRY_EXIT_OK && PQtransactionStatus(dst) != PQTRANS_IDLE)
		pg_exec(dst, "ROLLBACK");
	actx_free(&a);
	return code;
}
