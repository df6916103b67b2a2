/*
 * checksum.c: checksum mode.  Without moving every row to the verifier:
 * each database hashes the rows of a key range, the hashes are compared,
 * and the ranges that differ are split (bisect.h) until they are small
 * enough to compare row hash by row hash.  The rows found that way, and
 * the rows the run repaired or noted, are then fetched from the source and
 * compared in the destination exactly as row mode compares them
 * (expect.c, compare.c): both modes report the same differences.
 *
 * The source side is the plan's extract query: its row i has the values
 * the transform and the load were given, so value columns are hashed as
 * the destination type would store them (q.col::TYPE::text), and
 * reference columns as legacy keys; the destination maps its uuids back to
 * legacy keys with ferry.id_map.  Not hashed: the uuid column (the key
 * identifies the row; row mode checks uuids), columns the transform
 * computes (a tree's depth: the tree checks), dropped columns.  Rows the
 * run rejected are left out on the source side (a destination row with
 * such a key is extra); rows it repaired or noted are left out on both
 * sides and compared one by one.
 *
 * The row hash is md5(ROW(text of each column)::text); a range's hash is
 * the sum of the rows' first 64 bits with the row count, so that neither
 * side has to sort.  When a destination type is unknown to the source, or
 * a source value does not convert (the source changed since the run), the
 * source hashes its own text: such ranges differ and are narrowed, and the
 * final comparison in the destination tells whether the rows really do.
 */
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "checksum.h"
#include "columns.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "text.h"
#include "uuid.h"
#include "verify.h"

#define FETCH_KEYS 5000

void
keylist_add(keylist *l, const char *key, const char *uuid)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? 2 * l->cap : 64;
		l->key = xrealloc(l->key, (size_t) l->cap * sizeof *l->key);
		l->uuid = xrealloc(l->uuid, (size_t) l->cap * sizeof *l->uuid);
	}
	l->key[l->n] = xstrdup(key);
	l->uuid[l->n] = uuid ? xstrdup(uuid) : NULL;
	l->n++;
}

void
keylist_free(keylist *l)
{
	for (int i = 0; i < l->n; i++)
	{
		free(l->key[i]);
		free(l->uuid[i]);
	}
	free(l->key);
	free(l->uuid);
	memset(l, 0, sizeof *l);
}

/* ---- the rows found, compared in the destination ---- */

/* SELECT key text, uuid-less values FROM (extract) q WHERE key = ANY($1) */
static void
fetch_sql(ck *k, buf *sql)
{
	buf_puts(sql, "SELECT ");
	sql_src_key(sql, &k->v, "q");
	for (int j = 0; j < k->v.nkey; j++)
	{
		buf_puts(sql, ", ");
		sql_src_out(sql, "q", k->v.key[j], k->v.key_src_type[j]);
	}
	for (int i = 0; i < k->v.ncols; i++)
	{
		buf_puts(sql, ", ");
		sql_src_out(sql, "q", k->v.cols[i].name, k->v.cols[i].src_type);
	}
	buf_printf(sql, " FROM (%s\n) AS q WHERE ", k->e->extract_sql);
	ck_src_key(k, sql);
	buf_printf(sql, " = ANY($1::%s[])", k->ktype);
}

static bool
fetch_rows(ck *k, vexpect *x, const char *sql, const char *keys)
{
	const char *params[1] = {keys};
	PGresult *res = pg_query(k->c->src, sql, 1, params);
	int nk = k->v.nkey, nc = k->v.ncols;
	const char **vals = xcalloc((size_t) nc + 1, sizeof *vals);
	const char **kv = xcalloc((size_t) nk + 1, sizeof *kv);
	bool ok = res != NULL;

	for (int row = 0; ok && row < PQntuples(res); row++)
	{
		const char *key = PQgetvalue(res, row, 0);
		char uuid[37];

		for (int j = 0; j < nk; j++)
			kv[j] = PQgetisnull(res, row, 1 + j) ? NULL : PQgetvalue(res, row, 1 + j);
		for (int i = 0; i < nc; i++)
			vals[i] = PQgetisnull(res, row, 1 + nk + i) ? NULL : PQgetvalue(res, row, 1 + nk + i);
		if (k->v.uuid)
			uuid_for_key(k->c->p->ns, k->e->keyspace, key, strlen(key), uuid);
		ok = expect_add(x, NULL, NULL, key, k->v.uuid ? uuid : NULL, vals, kv);
	}
	PQclear(res);
	free(vals);
	free(kv);
	return ok;
}

/* the doubted rows and the repaired ones, through the expected-rows table; an exit code */
static int
compare_found(ck *k, vcompare *cmp)
{
	vexpect *x;
	buf sql, keys;
	int code = FERRY_EXIT_OK;

	memset(cmp, 0, sizeof *cmp);
	if (k->doubted.n == 0 && k->repaired.n == 0)
		return FERRY_EXIT_OK;
	if ((x = expect_new(k->c->dst, &k->v, true)) == NULL)
		return FERRY_EXIT_TARGET;
	buf_init(&sql, 2048);
	buf_init(&keys, 4096);
	fetch_sql(k, &sql);
	for (int i = 0; i < k->doubted.n && code == FERRY_EXIT_OK; i += FETCH_KEYS)
	{
		buf_reset(&keys);
		array_start(&keys);
		for (int j = i; j < k->doubted.n && j < i + FETCH_KEYS; j++)
			array_add(&keys, k->doubted.key[j], strlen(k->doubted.key[j]));
		array_finish(&keys);
		if (!fetch_rows(k, x, sql.data, keys.data))
			code = FERRY_EXIT_SOURCE;
	}
	if (code == FERRY_EXIT_OK && k->repaired.n > 0 && !fetch_rows(k, x, sql.data, k->repaired.lit.data))
		code = FERRY_EXIT_SOURCE;
	if (code == FERRY_EXIT_OK && (!expect_finish(x, k->c) ||
								  !compare_expected(k->c, &k->v, true, k->r, cmp)))
		code = FERRY_EXIT_TARGET;
	expect_free(x);
	buf_free(&sql);
	buf_free(&keys);
	return code;
}

/* destination rows without a legacy key (not in ferry.id_map): extra */
static bool
unkeyed_rows(ck *k)
{
	buf sql;
	PGresult *res;

	if (k->v.key_in_target || k->v.uuid == NULL)
		return true;
	buf_init(&sql, 512);
	buf_puts(&sql, "SELECT t.");
	pg_append_ident(&sql, k->v.uuid);
	buf_printf(&sql, "::text FROM %s t WHERE NOT EXISTS (SELECT 1 FROM ferry.id_map k WHERE k.entity = ",
			   k->v.target_sql);
	pg_append_literal(&sql, k->v.name);
	buf_puts(&sql, " AND k.uuid = t.");
	pg_append_ident(&sql, k->v.uuid);
	buf_puts(&sql, ") ORDER BY 1");
	res = pg_query(k->c->dst, buf_cstr(&sql), 0, NULL);
	buf_free(&sql);
	if (res == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		k->r->extra++;
		result_diff(k->r, VD_EXTRA, NULL, PQgetvalue(res, i, 0), NULL, NULL, NULL,
					"no legacy key: not in ferry.id_map");
	}
	PQclear(res);
	return true;
}

/* is key among the rejected ones?  (the literal quotes every element alike) */
static bool
was_rejected(ck *k, const char *key)
{
	buf q;
	bool found;

	buf_init(&q, strlen(key) + 8);
	array_add(&q, key, strlen(key));
	found = strstr(k->rejected.lit.data, buf_cstr(&q)) != NULL;
	buf_free(&q);
	return found;
}

static void
free_ck(ck *k)
{
	ventity_free(&k->v);
	buf_free(&k->src_inner);
	buf_free(&k->dst_inner);
	buf_free(&k->rejected.lit);
	buf_free(&k->repaired.lit);
	buf_free(&k->src_excluded);
	keylist_free(&k->doubted);
	keylist_free(&k->extra);
}

int
verify_checksum(vctx *c, const plan_entity *e, vresult *r)
{
	ck k;
	int code;
	vcompare cmp;

	memset(&k, 0, sizeof k);
	k.c = c;
	k.e = e;
	k.r = r;
	ventity_init(&k.v);
	buf_init(&k.src_inner, 4096);
	buf_init(&k.dst_inner, 4096);
	buf_init(&k.rejected.lit, 256);
	buf_init(&k.repaired.lit, 256);
	buf_init(&k.src_excluded, 256);
	if (!c->books)
	{
		log_error("%s: checksum mode needs ferry's schema in the destination (ferry.id_map)",
				  e->name);
		free_ck(&k);
		return FERRY_EXIT_USAGE;
	}
	if ((code = ck_describe(&k)) != FERRY_EXIT_OK)
		goto done;
	for (int i = 0; i < k.v.nskipped; i++)
		result_note(r, "not compared: %s", k.v.skipped[i]);
	k.ktype = k.v.key_numeric ? "bigint" : "text";
	if (!books_keys(c, e->name, k.v.key_numeric, &k.rejected, &k.repaired))
	{
		code = FERRY_EXIT_TARGET;
		goto done;
	}
	/* rejected and repaired keys, one literal: {a,b} + {c} -> {a,b,c} */
	buf_puts(&k.src_excluded, k.rejected.lit.data);
	if (k.repaired.n > 0)
	{
		k.src_excluded.len--;
		buf_puts(&k.src_excluded, k.rejected.n > 0 ? "," : "");
		buf_puts(&k.src_excluded, k.repaired.lit.data + 1);
	}
	buf_cstr(&k.src_excluded);
	ck_build_sides(&k);

	if ((code = ck_bisect(&k)) != FERRY_EXIT_OK)
		goto done;
	if ((code = compare_found(&k, &cmp)) != FERRY_EXIT_OK)
		goto done;
	for (int i = 0; i < k.extra.n; i++)
	{
		bool set_aside = was_rejected(&k, k.extra.key[i]);

		r->extra++;
		result_diff(r, VD_EXTRA, k.extra.key[i], k.extra.uuid[i], NULL, NULL, NULL,
					set_aside ? "the run set this row aside as rejected, yet it is there" : NULL);
	}
	if (!unkeyed_rows(&k))
	{
		code = FERRY_EXIT_TARGET;
		goto done;
	}
	r->source_rows = k.all;
	r->rejected = k.rej;
	r->repaired = k.rep;
	r->loaded = k.all - k.rej - r->missing;
	if (!books_by_reason(c, e->name, "rejected", &r->rejected_by) ||
		!books_by_reason(c, e->name, "repaired", &r->repaired_by))
	{
		code = FERRY_EXIT_TARGET;
		goto done;
	}
	if (counts_total(&r->rejected_by) != k.rej)
		result_note(r, "the run rejected %lld rows; %lld of them are in the source now",
					counts_total(&r->rejected_by), k.rej);
	if (c->refs)
		code = verify_refs(c, &k.v, r);
done:
	free_ck(&k);
	return code;
}
