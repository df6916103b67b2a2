/*
 * describe.c: checksum mode's entity.  The plan says which columns are
 * references (legacy keys on the source, uuids in the destination), the
 * extract query's result says what the source has and with which types,
 * the destination's catalog which columns it has and their types; a
 * destination type the source does not know is hashed as text there.
 */
#include <stdlib.h>
#include <string.h>

#include "checksum.h"
#include "columns.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "text.h"

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

int
ck_describe(ck *k)
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

