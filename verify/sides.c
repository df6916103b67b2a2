/*
 * sides.c: the SQL each database runs in checksum mode, and the
 * bisection's view of the two databases (bisect.h).
 *
 * Each side is a query of (k, h, u) rows: the legacy key in the order both
 * databases share (bigint, or text in the "C" collation), the row's md5,
 * the destination row's uuid.  Range queries wrap it: totals (count, sum
 * of the hashes' first 64 bits), thresholds (percentile_disc), buckets
 * (width_bucket), rows.
 */
#include <stdlib.h>
#include <string.h>

#include "bisect.h"
#include "checksum.h"
#include "columns.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "text.h"

/* the source's key expression over q */
void
ck_src_key(ck *k, buf *sql)
{
	if (k->v.key_numeric)
	{
		buf_puts(sql, "q.");
		pg_append_ident(sql, k->v.key[0]);
	}
	else
	{
		buf_putc(sql, '(');
		sql_src_key(sql, &k->v, "q");
		buf_puts(sql, ") COLLATE \"C\"");
	}
}

/* the destination's key expression over t (and map k) */
static void
dst_key(ck *k, buf *sql)
{
	if (k->v.key_numeric)
	{
		if (k->v.key_in_target)
		{
			buf_puts(sql, "t.");
			pg_append_ident(sql, k->v.key[0]);
		}
		else
			buf_puts(sql, "k.legacy_id::bigint");
		return;
	}
	buf_putc(sql, '(');
	sql_dest_key(sql, &k->v, "t", "k");
	buf_puts(sql, ") COLLATE \"C\"");
}

/* the source's row hash: the key, then every compared column */
static void
src_hash(ck *k, buf *sql)
{
	buf_puts(sql, "md5(ROW((");
	ck_src_key(k, sql);
	buf_puts(sql, ")::text");
	for (int i = 0; i < k->v.ncols; i++)
	{
		const vcol *col = &k->v.cols[i];

		buf_puts(sql, ", ");
		if (col->kind != VC_VALUE || col->raw)
			sql_src_out(sql, "q", col->name, col->src_type);
		else
		{
			buf_putc(sql, '(');
			sql_src_out(sql, "q", col->name, col->src_type);
			buf_printf(sql, ")::%s::text", col->type);
		}
	}
	buf_puts(sql, ")::text)");
}

static void
tcol(buf *sql, const char *column)
{
	buf_puts(sql, "t.");
	pg_append_ident(sql, column);
}

/* the destination's row hash (the map aliases m<i> joined): key, columns */
static void
dst_hash(ck *k, buf *sql)
{
	buf_puts(sql, "md5(ROW((");
	dst_key(k, sql);
	buf_puts(sql, ")::text");
	for (int i = 0; i < k->v.ncols; i++)
	{
		const vcol *col = &k->v.cols[i];

		buf_puts(sql, ", ");
		if (col->kind == VC_VALUE)
		{
			tcol(sql, col->name);
			buf_puts(sql, "::text");
			continue;
		}
		buf_puts(sql, "CASE WHEN ");
		tcol(sql, col->name);
		buf_printf(sql, " IS NOT NULL THEN coalesce(m%d.legacy_id, 'uuid:' || ", i + 1);
		tcol(sql, col->name);
		buf_puts(sql, "::text) END");
	}
	buf_puts(sql, ")::text)");
}

/* SELECT k, h, u FROM (extract) q WHERE the key is not excluded ($1) */
static void
build_src_inner(ck *k)
{
	buf *s = &k->src_inner;

	buf_reset(s);
	buf_puts(s, "SELECT ");
	ck_src_key(k, s);
	buf_puts(s, " AS k, ");
	src_hash(k, s);
	buf_printf(s, " AS h, NULL::text AS u FROM (%s\n) AS q WHERE NOT (", k->e->extract_sql);
	ck_src_key(k, s);
	buf_printf(s, " = ANY($1::%s[]))", k->ktype);
}

/* SELECT k, h, u FROM target t ... WHERE a key and not excluded ($1); map: id map relation */
static void
build_dst_inner(ck *k, const char *map)
{
	buf *s = &k->dst_inner;

	k->map = map;
	buf_reset(s);
	buf_puts(s, "SELECT ");
	dst_key(k, s);
	buf_puts(s, " AS k, ");
	dst_hash(k, s);
	buf_puts(s, " AS h, ");
	if (k->v.uuid)
	{
		tcol(s, k->v.uuid);
		buf_puts(s, "::text");
	}
	else
		buf_puts(s, "NULL::text");
	buf_printf(s, " AS u FROM %s t", k->v.target_sql);
	if (!k->v.key_in_target)
	{
		buf_printf(s, " LEFT JOIN %s k ON k.entity = ", map);
		pg_append_literal(s, k->v.name);
		buf_puts(s, " AND k.uuid = ");
		tcol(s, k->v.uuid);
	}
	for (int i = 0; i < k->v.ncols; i++)
	{
		const vcol *col = &k->v.cols[i];

		if (col->kind == VC_VALUE)
			continue;
		buf_printf(s, " LEFT JOIN %s m%d ON m%d.entity = ", map, i + 1, i + 1);
		if (col->kind == VC_REF)
			pg_append_literal(s, col->ref_entity);
		else
		{
			tcol(s, col->poly_type);
			buf_puts(s, "::text");
		}
		buf_printf(s, " AND m%d.uuid = ", i + 1);
		tcol(s, col->name);
	}
	buf_puts(s, " WHERE ");
	dst_key(k, s);
	buf_puts(s, " IS NOT NULL AND NOT (");
	dst_key(k, s);
	buf_printf(s, " = ANY($1::%s[]))", k->ktype);
}

/*
 * A query over one side's rows of [lo, hi): "SELECT what FROM (inner) s
 * WHERE range tail".  Parameters: $1 excluded keys, $2 lo, $3 hi, $4 extra.
 */
static PGresult *
side_query(ck *k, bool source, const char *what, const char *tail, const char *lo,
		   const char *hi, const char *extra)
{
	buf sql;
	PGconn *conn = source ? k->c->src : k->c->dst;
	const char *params[4] = {source ? k->src_excluded.data : k->repaired.lit.data, lo, hi, extra};
	PGresult *res;

	buf_init(&sql, 4096);
	buf_printf(&sql, "SELECT %s FROM (%s) AS s WHERE ($2::%s IS NULL OR s.k >= $2::%s) "
			   "AND ($3::%s IS NULL OR s.k < $3::%s) %s",
			   what, source ? k->src_inner.data : k->dst_inner.data, k->ktype, k->ktype,
			   k->ktype, k->ktype, tail ? tail : "");
	res = pg_query(conn, buf_cstr(&sql), extra ? 4 : 3, params);
	buf_free(&sql);
	k->queries++;
	return res;
}

#define HASH_SUM "coalesce(sum(('x' || left(s.h, 16))::bit(64)::bigint), 0)::text"

/* ---- the bisection's view of the two databases (bisect.h) ---- */

static void
on_leaf_row(void *ctx, vdiff_kind kind, const vleaf *a, const vleaf *b)
{
	ck *k = ctx;

	if (kind == VD_EXTRA)
		keylist_add(&k->extra, b->key, b->uuid);
	else
		keylist_add(&k->doubted, a->key, NULL);
}

static vleaf *
ck_rows(void *ctx, bool source, const char *lo, const char *hi, int *n)
{
	ck *k = ctx;
	PGresult *res = side_query(k, source, "s.k::text, s.h, s.u", NULL, lo, hi, NULL);
	vleaf *rows;

	if (res == NULL)
		return NULL;
	*n = PQntuples(res);
	rows = xcalloc((size_t) *n + 1, sizeof *rows);
	for (int i = 0; i < *n; i++)
	{
		rows[i].key = xstrdup(PQgetvalue(res, i, 0));
		snprintf(rows[i].hash, sizeof rows[i].hash, "%s", PQgetvalue(res, i, 1));
		rows[i].uuid = PQgetisnull(res, i, 2) ? NULL : xstrdup(PQgetvalue(res, i, 2));
	}
	PQclear(res);
	return rows;
}

static vbucket *
ck_buckets(void *ctx, bool source, const char *lo, const char *hi, char *const *t, int m, int *n)
{
	ck *k = ctx;
	char what[160];
	buf lit;
	PGresult *res;
	vbucket *out;

	buf_init(&lit, 256);
	array_start(&lit);
	for (int i = 0; i < m; i++)
		array_add(&lit, t[i], strlen(t[i]));
	array_finish(&lit);
	snprintf(what, sizeof what, "width_bucket(s.k, $4::%s[]), count(*), %s", k->ktype, HASH_SUM);
	res = side_query(k, source, what, "GROUP BY 1", lo, hi, lit.data);
	buf_free(&lit);
	if (res == NULL)
		return NULL;
	*n = PQntuples(res);
	out = xcalloc((size_t) *n + 1, sizeof *out);
	for (int i = 0; i < *n; i++)
	{
		out[i].b = atoi(PQgetvalue(res, i, 0));
		out[i].n = atoll(PQgetvalue(res, i, 1));
		snprintf(out[i].sum, sizeof out[i].sum, "%s", PQgetvalue(res, i, 2));
	}
	PQclear(res);
	return out;
}

static char **
ck_thresholds(void *ctx, bool source, const char *lo, const char *hi, int fanout, int *n)
{
	ck *k = ctx;
	buf frac;
	PGresult *res;
	char **t;

	buf_init(&frac, 256);
	buf_putc(&frac, '{');
	for (int i = 1; i < fanout; i++)
		buf_printf(&frac, "%s%.6f", i > 1 ? "," : "", (double) i / fanout);
	buf_putc(&frac, '}');
	res = side_query(k, source, "unnest(percentile_disc($4::float8[]) WITHIN GROUP (ORDER BY s.k))::text",
					 NULL, lo, hi, buf_cstr(&frac));
	buf_free(&frac);
	if (res == NULL)
		return NULL;
	*n = PQntuples(res);
	t = xcalloc((size_t) *n + 1, sizeof *t);
	for (int i = 0; i < *n; i++)
		t[i] = xstrdup(PQgetvalue(res, i, 0));
	PQclear(res);
	return t;
}

/* a copy of the id map entries the narrowing needs, with an index on (entity, uuid) */
static bool
narrow_map(ck *k)
{
	buf sql;
	bool ok;

	buf_init(&sql, 512);
	buf_puts(&sql, "DROP TABLE IF EXISTS pg_temp.ferry_verify_map; "
			 "CREATE TEMP TABLE ferry_verify_map AS SELECT entity, uuid, legacy_id FROM ferry.id_map "
			 "WHERE entity = ANY(ARRAY[");
	pg_append_literal(&sql, k->v.name);
	for (int i = 0; i < k->v.ncols; i++)
		if (k->v.cols[i].kind == VC_REF)
		{
			buf_puts(&sql, ", ");
			pg_append_literal(&sql, k->v.cols[i].ref_entity);
		}
	buf_puts(&sql, "]::text[]");
	for (int i = 0; i < k->v.ncols; i++)
		if (k->v.cols[i].kind == VC_POLY)
		{
			/* the entities the rows name */
			buf_puts(&sql, " || ARRAY(SELECT DISTINCT ");
			pg_append_ident(&sql, k->v.cols[i].poly_type);
			buf_printf(&sql, "::text FROM %s)", k->v.target_sql);
		}
	buf_puts(&sql, "); CREATE INDEX ON pg_temp.ferry_verify_map (entity, uuid); "
			 "ANALYZE pg_temp.ferry_verify_map");
	ok = pg_exec(k->c->dst, buf_cstr(&sql));
	buf_free(&sql);
	return ok;
}

/*
 * SELECT rows, hash sum, all rows, rejected rows, repaired rows of the
 * source, in one scan: the excluded rows ($1) are counted, not hashed (a
 * CASE: a dirty row the run rejected would not convert).
 */
static void
source_totals_sql(ck *k, buf *sql)
{
	buf key, hash;

	buf_init(&key, 256);
	buf_init(&hash, 1024);
	ck_src_key(k, &key);
	src_hash(k, &hash);
	buf_cstr(&key);
	buf_cstr(&hash);
	buf_reset(sql);
	buf_printf(sql, "SELECT count(*) FILTER (WHERE NOT s.x), coalesce(sum(CASE WHEN NOT s.x THEN "
			   "('x' || left(s.h, 16))::bit(64)::bigint END), 0)::text, count(*), "
			   "count(*) FILTER (WHERE s.k = ANY($2::%s[])), count(*) FILTER (WHERE s.k = ANY($3::%s[])) "
			   "FROM (SELECT %s AS k, %s = ANY($1::%s[]) AS x, CASE WHEN %s = ANY($1::%s[]) THEN NULL "
			   "ELSE %s END AS h FROM (%s\n) AS q) AS s",
			   k->ktype, k->ktype, key.data, key.data, k->ktype, key.data, k->ktype, hash.data,
			   k->e->extract_sql);
	buf_free(&key);
	buf_free(&hash);
}

/*
 * The source's totals, and its counts (k->all, k->rej, k->rep).  When a
 * value does not convert to its destination type (a dirty row the run did
 * not reject: the source changed since), the source hashes its own text
 * instead, for every value column.
 */
static bool
source_totals(ck *k, long long *n, char *sum, size_t sumlen)
{
	PGresult *res;
	buf sql;
	const char *params[3] = {k->src_excluded.data, k->rejected.lit.data, k->repaired.lit.data};
	const char *state;

	buf_init(&sql, 4096);
	source_totals_sql(k, &sql);
	if (!pg_exec(k->c->src, "SAVEPOINT ferry_verify_src"))
	{
		buf_free(&sql);
		return false;
	}
	res = PQexecParams(k->c->src, buf_cstr(&sql), 3, NULL, params, NULL, NULL, 0);
	k->queries++;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && state &&
		(strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
	{
		log_info("%s: a source value does not convert to its destination type (%s): "
				 "the source hashes its own text", k->v.label, pg_errmsg(k->c->src, res));
		PQclear(res);
		if (!pg_exec(k->c->src, "ROLLBACK TO SAVEPOINT ferry_verify_src"))
		{
			buf_free(&sql);
			return false;
		}
		for (int i = 0; i < k->v.ncols; i++)
			k->v.cols[i].raw = true;
		build_src_inner(k);
		source_totals_sql(k, &sql);
		res = PQexecParams(k->c->src, buf_cstr(&sql), 3, NULL, params, NULL, NULL, 0);
	}
	buf_free(&sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		log_error("source: %s", pg_errmsg(k->c->src, res));
		PQclear(res);
		return false;
	}
	*n = atoll(PQgetvalue(res, 0, 0));
	snprintf(sum, sumlen, "%s", PQgetvalue(res, 0, 1));
	k->all = atoll(PQgetvalue(res, 0, 2));
	k->rej = atoll(PQgetvalue(res, 0, 3));
	k->rep = atoll(PQgetvalue(res, 0, 4));
	PQclear(res);
	return pg_exec(k->c->src, "RELEASE SAVEPOINT ferry_verify_src");
}

static bool
ck_totals(void *ctx, bool source, const char *lo, const char *hi, long long *n, char *sum,
		  size_t sumlen)
{
	ck *k = ctx;
	PGresult *res;

	if (source && lo == NULL && hi == NULL)
		return source_totals(k, n, sum, sumlen);
	res = side_query(k, source, "count(*), " HASH_SUM, NULL, lo, hi, NULL);
	if (res == NULL)
		return false;
	*n = atoll(PQgetvalue(res, 0, 0));
	snprintf(sum, sumlen, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return true;
}

/* the range queries that narrow down want an index on the id map */
static bool
ck_narrow(void *ctx)
{
	ck *k = ctx;

	if (!narrow_map(k))
		return false;
	build_dst_inner(k, "pg_temp.ferry_verify_map");
	return true;
}

int
ck_bisect(ck *k)
{
	static const bisect_ops ops = {ck_totals, ck_narrow, ck_thresholds, ck_buckets, ck_rows,
	on_leaf_row};
	bisect_stats st;
	int code = bisect_run(&ops, k, k->v.key_numeric, k->c->fanout, k->c->leaf, &st);

	log_info("%s: %lld queries, %lld splits, %lld leaves of %lld rows; %d rows to compare, "
			 "%d extra", k->v.label, k->queries, st.splits, st.leaves, st.leaf_rows, k->doubted.n,
			 k->extra.n);
	return code == 0 ? FERRY_EXIT_OK : code == 1 ? FERRY_EXIT_SOURCE : FERRY_EXIT_TARGET;
}

void
ck_build_sides(ck *k)
{
	build_src_inner(k);
	build_dst_inner(k, "ferry.id_map");
}
