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

#include "bisect.h"
#include "books.h"
#include "columns.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "text.h"
#include "uuid.h"
#include "verify.h"

#define FETCH_KEYS 5000

typedef struct seg
{
	char *lo;               /* NULL: unbounded */
	char *hi;
	long long ns;           /* rows on each side */
	long long nd;
} seg;

typedef struct keylist
{
	int n;
	int cap;
	char **key;
	char **uuid;
} keylist;

typedef struct ck
{
	vctx *c;
	const plan_entity *e;
	vresult *r;
	ventity v;
	const char *ktype;       /* "bigint" or "text" */
	buf src_inner;           /* SELECT k, h FROM (extract) q WHERE NOT excluded */
	buf dst_inner;           /* SELECT k, h, uuid FROM target ... (map: %s) */
	const char *map;         /* the id map relation of dst_inner */
	keyset_lit rejected;     /* left out on the source */
	keyset_lit repaired;     /* left out on both sides, compared one by one */
	buf src_excluded;        /* rejected + repaired */
	keylist doubted;         /* source keys to compare one by one */
	keylist extra;           /* destination keys the source does not have */
	long long queries;
	seg *stack;
	int nstack;
	int capstack;
} ck;

static void
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

static void
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

/* ---- the entity ---- */

static bool
in_list(char **list, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static const plan_ref *
ref_of(const plan_entity *e, const char *column)
{
	for (int i = 0; i < e->nrefs; i++)
		if (strcmp(e->refs[i].column, column) == 0)
			return &e->refs[i];
	return NULL;
}

/* the extract query's columns and their source types */
static bool
describe_source(ck *k, int *n, char ***names, char ***types)
{
	buf sql, oids, mods;
	PGresult *res;
	bool ok;

	buf_init(&sql, 1024);
	buf_printf(&sql, "SELECT * FROM (%s\n) AS q LIMIT 0", k->e->extract_sql);
	res = pg_query(k->c->src, buf_cstr(&sql), 0, NULL);
	buf_free(&sql);
	if (res == NULL)
		return false;
	*n = PQnfields(res);
	*names = xcalloc((size_t) *n + 1, sizeof **names);
	*types = xcalloc((size_t) *n + 1, sizeof **types);
	buf_init(&oids, 256);
	buf_init(&mods, 256);
	buf_putc(&oids, '{');
	buf_putc(&mods, '{');
	for (int i = 0; i < *n; i++)
	{
		(*names)[i] = xstrdup(PQfname(res, i));
		buf_printf(&oids, "%s%u", i ? "," : "", PQftype(res, i));
		buf_printf(&mods, "%s%d", i ? "," : "", PQfmod(res, i));
	}
	buf_putc(&oids, '}');
	buf_putc(&mods, '}');
	PQclear(res);

	const char *params[2] = {buf_cstr(&oids), buf_cstr(&mods)};

	res = pg_query(k->c->src, "SELECT format_type(t, m) FROM unnest($1::oid[], $2::int[]) "
				   "WITH ORDINALITY AS u(t, m, i) ORDER BY i", 2, params);
	ok = res != NULL && PQntuples(res) == *n;
	for (int i = 0; ok && i < *n; i++)
		(*types)[i] = xstrdup(PQgetvalue(res, i, 0));
	PQclear(res);
	buf_free(&oids);
	buf_free(&mods);
	return ok;
}

/* which destination types the source knows: the others are hashed as the source's text */
static bool
check_types_in_source(ck *k)
{
	buf arr;
	PGresult *res;
	const char *params[1];

	buf_init(&arr, 256);
	array_start(&arr);
	for (int i = 0; i < k->v.ncols; i++)
		array_add(&arr, k->v.cols[i].type, strlen(k->v.cols[i].type));
	params[0] = array_finish(&arr);
	res = pg_query(k->c->src, "SELECT to_regtype(t) IS NOT NULL FROM unnest($1::text[]) "
				   "WITH ORDINALITY AS u(t, i) ORDER BY i", 1, params);
	buf_free(&arr);
	if (res == NULL)
		return false;
	for (int i = 0; i < k->v.ncols && i < PQntuples(res); i++)
		if (PQgetvalue(res, i, 0)[0] != 't' && k->v.cols[i].kind == VC_VALUE)
		{
			k->v.cols[i].raw = true;
			log_info("%s: type %s of column %s is unknown in the source: hashed as text",
					 k->v.label, k->v.cols[i].type, k->v.cols[i].name);
		}
	PQclear(res);
	return true;
}

static int
describe(ck *k)
{
	const plan_entity *e = k->e;
	ventity *v = &k->v;
	char **snames = NULL, **stypes = NULL, **dnames, **dtypes;
	int ns = 0, nd, code = FERRY_EXIT_OK;
	buf b;

	v->p = k->c->p;
	v->e = e;
	v->name = xstrdup(e->name);
	v->label = xstrdup(e->name);
	v->target = xstrdup(e->target);
	buf_init(&b, 64);
	pg_append_qualified(&b, e->target);
	v->target_sql = (char *) buf_cstr(&b);
	if (e->nkey == 0)
	{
		log_error("%s: checksum mode needs the entity's key", e->name);
		return FERRY_EXIT_USAGE;
	}
	if ((dnames = dest_columns(k->c->dst, e->target, &nd, &dtypes)) == NULL)
		return FERRY_EXIT_TARGET;
	if (!describe_source(k, &ns, &snames, &stypes))
		code = FERRY_EXIT_SOURCE;
	if (e->uuid_column && column_type(dnames, dtypes, nd, e->uuid_column))
		v->uuid = xstrdup(e->uuid_column);
	v->nkey = e->nkey;
	v->key = xcalloc((size_t) e->nkey, sizeof *v->key);
	v->key_src_type = xcalloc((size_t) e->nkey, sizeof *v->key_src_type);
	v->key_type = xcalloc((size_t) e->nkey, sizeof *v->key_type);
	v->key_in_target = true;
	for (int j = 0; code == FERRY_EXIT_OK && j < e->nkey; j++)
	{
		const char *st = column_type(snames, stypes, ns, e->key[j]);
		const char *dt = column_type(dnames, dtypes, nd, e->key[j]);

		if (st == NULL)
		{
			log_error("%s: key column \"%s\" is not a column of the extract query", e->name, e->key[j]);
			code = FERRY_EXIT_USAGE;
			break;
		}
		v->key[j] = xstrdup(e->key[j]);
		v->key_src_type[j] = xstrdup(st);
		v->key_type[j] = xstrdup(dt ? dt : "text");
		if (dt == NULL || in_list(e->drop, e->ndrop, e->key[j]))
			v->key_in_target = false;
	}
	if (code == FERRY_EXIT_OK && v->uuid == NULL && !v->key_in_target)
	{
		log_error("%s: rows cannot be matched: the target has no uuid column and not the key", e->name);
		code = FERRY_EXIT_USAGE;
	}
	if (code == FERRY_EXIT_OK)
		v->key_numeric = e->nkey == 1 && type_is_integer(v->key_src_type[0]) &&
			(!v->key_in_target || type_is_integer(v->key_type[0]));
	if (e->tree)
		v->parent = xstrdup(e->tree->parent_column);

	for (int i = 0; code == FERRY_EXIT_OK && i < ns; i++)
	{
		const char *name = snames[i], *dt;
		const plan_ref *ref = ref_of(e, name);
		vcol *col;

		if (strcmp(name, "_ferry_note") == 0 || strcmp(name, "_ferry_reject") == 0 ||
			(v->uuid && strcmp(name, v->uuid) == 0))
			continue;
		if (in_list(e->drop, e->ndrop, name))
		{
			if (!in_list(e->key, e->nkey, name))
				ventity_skip(v, name, "dropped by the plan");
			continue;
		}
		if (e->tree && e->tree->depth_column && strcmp(name, e->tree->depth_column) == 0)
		{
			ventity_skip(v, name, "computed by the transform: the tree checks check it");
			continue;
		}
		if ((dt = column_type(dnames, dtypes, nd, name)) == NULL)
		{
			ventity_skip(v, name, "not a column of the target");
			continue;
		}
		col = ventity_add_col(v, name, dt);
		col->src_type = xstrdup(stypes[i]);
		if (e->tree && strcmp(name, e->tree->parent_column) == 0)
		{
			col->kind = VC_REF;
			col->ref_entity = xstrdup(e->name);
		}
		else if (ref && ref->kind != REF_CHECK)
		{
			col->kind = VC_REF;
			col->ref_entity = xstrdup(ref->entity);
		}
		else if (e->poly && strcmp(name, e->poly->id_column) == 0)
		{
			col->kind = VC_POLY;
			col->poly_type = xstrdup(e->poly->type_column);
		}
	}
	if (e->tree && e->tree->depth_column && ventity_find(v, e->tree->depth_column) == NULL &&
		column_type(snames, stypes, ns, e->tree->depth_column) == NULL)
		ventity_skip(v, e->tree->depth_column, "computed by the transform: the tree checks check it");
	for (int i = 0; i < ns; i++)
	{
		free(snames[i]);
		free(stypes[i]);
	}
	free(snames);
	free(stypes);
	for (int i = 0; i < nd; i++)
	{
		free(dnames[i]);
		free(dtypes[i]);
	}
	free(dnames);
	free(dtypes);
	if (code == FERRY_EXIT_OK && !check_types_in_source(k))
		code = FERRY_EXIT_SOURCE;
	return code;
}

/* ---- the SQL of each side ---- */

/* the source's key expression over q */
static void
src_key(ck *k, buf *sql)
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

/* the source's row hash */
static void
src_hash(ck *k, buf *sql)
{
	buf_puts(sql, "md5(ROW(");
	for (int i = 0; i < k->v.ncols; i++)
	{
		const vcol *col = &k->v.cols[i];

		if (i)
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
	buf_puts(sql, k->v.ncols ? ")::text)" : "NULL)::text)");
}

static void
tcol(buf *sql, const char *column)
{
	buf_puts(sql, "t.");
	pg_append_ident(sql, column);
}

/* the destination's row hash (the map aliases m<i> joined) */
static void
dst_hash(ck *k, buf *sql)
{
	buf_puts(sql, "md5(ROW(");
	for (int i = 0; i < k->v.ncols; i++)
	{
		const vcol *col = &k->v.cols[i];

		if (i)
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
	buf_puts(sql, k->v.ncols ? ")::text)" : "NULL)::text)");
}

/* SELECT k, h, u FROM (extract) q WHERE the key is not excluded ($1) */
static void
build_src_inner(ck *k)
{
	buf *s = &k->src_inner;

	buf_reset(s);
	buf_puts(s, "SELECT ");
	src_key(k, s);
	buf_puts(s, " AS k, ");
	src_hash(k, s);
	buf_printf(s, " AS h, NULL::text AS u FROM (%s\n) AS q WHERE NOT (", k->e->extract_sql);
	src_key(k, s);
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

/* ---- bisection ---- */

static void
push(ck *k, const char *lo, const char *hi, long long ns, long long nd)
{
	if (k->nstack == k->capstack)
	{
		k->capstack = k->capstack ? 2 * k->capstack : 32;
		k->stack = xrealloc(k->stack, (size_t) k->capstack * sizeof *k->stack);
	}
	k->stack[k->nstack].lo = lo ? xstrdup(lo) : NULL;
	k->stack[k->nstack].hi = hi ? xstrdup(hi) : NULL;
	k->stack[k->nstack].ns = ns;
	k->stack[k->nstack].nd = nd;
	k->nstack++;
}

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
leaf_rows(ck *k, bool source, const seg *s, int *n)
{
	PGresult *res = side_query(k, source, "s.k::text, s.h, s.u", NULL, s->lo, s->hi, NULL);
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

static void
free_leaf(vleaf *rows, int n)
{
	for (int i = 0; rows && i < n; i++)
	{
		free(rows[i].key);
		free(rows[i].uuid);
	}
	free(rows);
}

/* a small segment: row hash by row hash; an exit code */
static int
leaf(ck *k, const seg *s)
{
	int na = 0, nb = 0;
	vleaf *a = leaf_rows(k, true, s, &na), *b;

	if (a == NULL)
		return FERRY_EXIT_SOURCE;
	if ((b = leaf_rows(k, false, s, &nb)) == NULL)
	{
		free_leaf(a, na);
		return FERRY_EXIT_TARGET;
	}
	leaf_diff(a, na, b, nb, k->v.key_numeric, on_leaf_row, k);
	free_leaf(a, na);
	free_leaf(b, nb);
	return FERRY_EXIT_OK;
}

static vbucket *
buckets(ck *k, bool source, const seg *s, const char *thresholds, int *n)
{
	char what[160];
	PGresult *res;
	vbucket *out;

	snprintf(what, sizeof what, "width_bucket(s.k, $4::%s[]), count(*), %s", k->ktype, HASH_SUM);
	res = side_query(k, source, what, "GROUP BY 1", s->lo, s->hi, thresholds);
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

/* split a differing segment at thresholds from its bigger side; an exit code */
static int
split(ck *k, const seg *s)
{
	bool source = s->ns >= s->nd;
	buf frac, lit;
	PGresult *res;
	char **t;
	int m, code = FERRY_EXIT_OK;

	buf_init(&frac, 256);
	buf_putc(&frac, '{');
	for (int i = 1; i < k->c->fanout; i++)
		buf_printf(&frac, "%s%.6f", i > 1 ? "," : "", (double) i / k->c->fanout);
	buf_putc(&frac, '}');
	res = side_query(k, source, "unnest(percentile_disc($4::float8[]) WITHIN GROUP (ORDER BY s.k))::text",
					 NULL, s->lo, s->hi, buf_cstr(&frac));
	buf_free(&frac);
	if (res == NULL)
		return source ? FERRY_EXIT_SOURCE : FERRY_EXIT_TARGET;
	m = PQntuples(res);
	t = xcalloc((size_t) m + 1, sizeof *t);
	for (int i = 0; i < m; i++)
		t[i] = xstrdup(PQgetvalue(res, i, 0));
	PQclear(res);
	m = thresholds_clean(t, m, s->lo, s->hi, k->v.key_numeric);
	if (m == 0)
	{
		free(t);
		return leaf(k, s);
	}
	buf_init(&lit, 256);
	array_start(&lit);
	for (int i = 0; i < m; i++)
		array_add(&lit, t[i], strlen(t[i]));
	array_finish(&lit);

	int na = 0, nb = 0;
	vbucket *a = buckets(k, true, s, lit.data, &na), *b = NULL;

	if (a == NULL)
		code = FERRY_EXIT_SOURCE;
	else if ((b = buckets(k, false, s, lit.data, &nb)) == NULL)
		code = FERRY_EXIT_TARGET;
	if (code == FERRY_EXIT_OK)
	{
		int *which = xcalloc((size_t) (na + nb) + 1, sizeof *which);
		long long *an = xcalloc((size_t) (na + nb) + 1, sizeof *an);
		long long *bn = xcalloc((size_t) (na + nb) + 1, sizeof *bn);
		int nd = buckets_differ(a, na, b, nb, which, an, bn);

		/* pushed last first: the stack then pops them in key order */
		for (int i = nd - 1; i >= 0; i--)
		{
			const char *lo, *hi;

			bucket_range(s->lo, s->hi, t, m, which[i], &lo, &hi);
			push(k, lo, hi, an[i], bn[i]);
		}
		free(which);
		free(an);
		free(bn);
	}
	free(a);
	free(b);
	for (int i = 0; i < m; i++)
		free(t[i]);
	free(t);
	buf_free(&lit);
	return code;
}

/* the whole key space of each side: (rows, hash sum) */
static bool
totals(ck *k, bool source, long long *n, char *sum, size_t sumlen)
{
	PGresult *res = side_query(k, source, "count(*), " HASH_SUM, NULL, NULL, NULL, NULL);

	if (res == NULL)
		return false;
	*n = atoll(PQgetvalue(res, 0, 0));
	snprintf(sum, sumlen, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return true;
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
 * The source's totals.  When a value does not convert to its destination
 * type (a dirty row the run did not reject: the source changed since), the
 * source hashes its own text instead, for every value column.
 */
static bool
source_totals(ck *k, long long *n, char *sum, size_t sumlen)
{
	PGresult *res;
	buf sql;
	const char *params[3] = {k->src_excluded.data, NULL, NULL};
	const char *state;

	buf_init(&sql, 4096);
	buf_printf(&sql, "SELECT count(*), " HASH_SUM " FROM (%s) AS s", k->src_inner.data);
	if (!pg_exec(k->c->src, "SAVEPOINT ferry_verify_src"))
	{
		buf_free(&sql);
		return false;
	}
	res = PQexecParams(k->c->src, buf_cstr(&sql), 1, NULL, params, NULL, NULL, 0);
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
		buf_reset(&sql);
		buf_printf(&sql, "SELECT count(*), " HASH_SUM " FROM (%s) AS s", k->src_inner.data);
		res = PQexecParams(k->c->src, buf_cstr(&sql), 1, NULL, params, NULL, NULL, 0);
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
	PQclear(res);
	return pg_exec(k->c->src, "RELEASE SAVEPOINT ferry_verify_src");
}

static int
bisect(ck *k)
{
	long long ns, nd;
	char ss[48], ds[48];
	int code = FERRY_EXIT_OK;

	if (!source_totals(k, &ns, ss, sizeof ss))
		return FERRY_EXIT_SOURCE;
	if (!totals(k, false, &nd, ds, sizeof ds))
		return FERRY_EXIT_TARGET;
	log_info("%s: source %lld rows, hash %s; destination %lld rows, hash %s", k->v.label, ns, ss,
			 nd, ds);
	if (ns == nd && strcmp(ss, ds) == 0)
		return FERRY_EXIT_OK;
	/* narrowing: range queries want an index on the id map */
	if (!narrow_map(k))
		return FERRY_EXIT_TARGET;
	build_dst_inner(k, "pg_temp.ferry_verify_map");
	push(k, NULL, NULL, ns, nd);
	while (k->nstack > 0 && code == FERRY_EXIT_OK)
	{
		seg s = k->stack[--k->nstack];

		if (s.ns + s.nd > 0 && (s.ns > k->c->leaf || s.nd > k->c->leaf))
			code = split(k, &s);
		else
			code = leaf(k, &s);
		free(s.lo);
		free(s.hi);
	}
	while (k->nstack > 0)
	{
		k->nstack--;
		free(k->stack[k->nstack].lo);
		free(k->stack[k->nstack].hi);
	}
	log_info("%s: %lld queries; %d rows to compare, %d extra", k->v.label, k->queries,
			 k->doubted.n, k->extra.n);
	return code;
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
	src_key(k, sql);
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

/* the source's rows: all, rejected by the run, repaired by the run */
static bool
source_counts(ck *k, long long *all, long long *rej, long long *rep)
{
	buf sql;
	PGresult *res;
	const char *params[2] = {k->rejected.lit.data, k->repaired.lit.data};

	buf_init(&sql, 1024);
	buf_puts(&sql, "SELECT count(*), count(*) FILTER (WHERE s.k = ANY($1::");
	buf_printf(&sql, "%s[])), count(*) FILTER (WHERE s.k = ANY($2::%s[])) FROM (SELECT ", k->ktype,
			   k->ktype);
	src_key(k, &sql);
	buf_printf(&sql, " AS k FROM (%s\n) AS q) AS s", k->e->extract_sql);
	res = pg_query(k->c->src, buf_cstr(&sql), 2, params);
	buf_free(&sql);
	if (res == NULL)
		return false;
	*all = atoll(PQgetvalue(res, 0, 0));
	*rej = atoll(PQgetvalue(res, 0, 1));
	*rep = atoll(PQgetvalue(res, 0, 2));
	PQclear(res);
	return true;
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
	free(k->stack);
}

int
verify_checksum(vctx *c, const plan_entity *e, vresult *r)
{
	ck k;
	int code;
	long long all, rej, rep;
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
	if ((code = describe(&k)) != FERRY_EXIT_OK)
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
	build_src_inner(&k);
	build_dst_inner(&k, "ferry.id_map");

	if (!source_counts(&k, &all, &rej, &rep))
	{
		code = FERRY_EXIT_SOURCE;
		goto done;
	}
	if ((code = bisect(&k)) != FERRY_EXIT_OK)
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
	r->source_rows = all;
	r->rejected = rej;
	r->repaired = rep;
	r->loaded = all - rej - r->missing;
	if (!books_by_reason(c, e->name, "rejected", &r->rejected_by) ||
		!books_by_reason(c, e->name, "repaired", &r->repaired_by))
	{
		code = FERRY_EXIT_TARGET;
		goto done;
	}
	if (counts_total(&r->rejected_by) != rej)
		result_note(r, "the run rejected %lld rows; %lld of them are in the source now",
					counts_total(&r->rejected_by), rej);
	if (c->refs)
		code = verify_refs(c, &k.v, r);
done:
	free_ck(&k);
	return code;
}
