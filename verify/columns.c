/*
 * columns.c: the entity ferry-verify checks and its compared columns.
 */
#include <stdlib.h>
#include <string.h>

#include "columns.h"
#include "log.h"
#include "pgconn.h"
#include "verify.h"

void
ventity_init(ventity *v)
{
	memset(v, 0, sizeof *v);
}

static void
strv_free(int n, char **v)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
ventity_free(ventity *v)
{
	free(v->name);
	free(v->label);
	free(v->target);
	free(v->target_sql);
	free(v->uuid);
	strv_free(v->nkey, v->key);
	strv_free(v->key_src_type ? v->nkey : 0, v->key_src_type);
	strv_free(v->key_type ? v->nkey : 0, v->key_type);
	free(v->parent);
	for (int i = 0; i < v->ncols; i++)
	{
		free(v->cols[i].name);
		free(v->cols[i].type);
		free(v->cols[i].ref_entity);
		free(v->cols[i].poly_type);
		free(v->cols[i].repair);
		free(v->cols[i].src_type);
	}
	free(v->cols);
	strv_free(v->nskipped, v->skipped);
	memset(v, 0, sizeof *v);
}

vcol *
ventity_add_col(ventity *v, const char *name, const char *type)
{
	vcol *c;

	v->cols = xrealloc(v->cols, (size_t) (v->ncols + 1) * sizeof *v->cols);
	c = &v->cols[v->ncols++];
	memset(c, 0, sizeof *c);
	c->name = xstrdup(name);
	c->type = xstrdup(type);
	c->kind = VC_VALUE;
	c->in = -1;
	/* the plan's repair for the column */
	for (int r = 0; v->e && r < v->e->nrepair; r++)
		if (strcmp(v->e->repair_cols[r], name) == 0)
		{
			c->has_repair = true;
			c->repair = v->e->repair_vals[r] ? xstrdup(v->e->repair_vals[r]) : NULL;
		}
	return c;
}

void
ventity_skip(ventity *v, const char *column, const char *why)
{
	buf b;

	buf_init(&b, 64);
	buf_printf(&b, "%s (%s)", column, why);
	v->skipped = xrealloc(v->skipped, (size_t) (v->nskipped + 1) * sizeof *v->skipped);
	v->skipped[v->nskipped++] = (char *) buf_cstr(&b);
}

vcol *
ventity_find(const ventity *v, const char *name)
{
	for (int i = 0; i < v->ncols; i++)
		if (strcmp(v->cols[i].name, name) == 0)
			return &v->cols[i];
	return NULL;
}

char **
dest_columns(PGconn *dst, const char *target, int *n, char ***types)
{
	char *qualified = pg_qualified(target);
	const char *params[1] = {qualified};
	PGresult *res;
	char **names;

	res = pg_query(dst, "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
				   "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
				   "ORDER BY a.attnum", 1, params);
	free(qualified);
	if (res == NULL)
		return NULL;
	*n = PQntuples(res);
	if (*n == 0)
	{
		log_error("target: relation \"%s\" does not exist (or has no columns)", target);
		PQclear(res);
		return NULL;
	}
	names = xcalloc((size_t) *n, sizeof *names);
	*types = xcalloc((size_t) *n, sizeof **types);
	for (int i = 0; i < *n; i++)
	{
		names[i] = xstrdup(PQgetvalue(res, i, 0));
		(*types)[i] = xstrdup(PQgetvalue(res, i, 1));
	}
	PQclear(res);
	return names;
}

const char *
column_type(char **names, char **types, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return types[i];
	return NULL;
}

bool
type_is_integer(const char *type)
{
	return type && (strcmp(type, "smallint") == 0 || strcmp(type, "integer") == 0 ||
					strcmp(type, "bigint") == 0);
}

void
sql_src_out(buf *sql, const char *alias, const char *column, const char *src_type)
{
	buf col;

	buf_init(&col, 64);
	buf_printf(&col, "%s.", alias);
	pg_append_ident(&col, column);
	buf_cstr(&col);
	if (src_type && strcmp(src_type, "boolean") == 0)
		/* the output function's t/f, not the cast's true/false */
		buf_printf(sql, "CASE WHEN %s THEN 't' WHEN NOT %s THEN 'f' END", col.data, col.data);
	else if (src_type && strncmp(src_type, "character", 9) == 0 &&
			 strncmp(src_type, "character varying", 17) != 0)
		/* bpchar keeps its padding in COPY output; a cast to text drops it */
		buf_printf(sql, "CASE WHEN %s IS NOT NULL THEN concat(%s) END", col.data, col.data);
	else
		buf_printf(sql, "%s::text", col.data);
	buf_free(&col);
}

void
sql_src_key(buf *sql, const ventity *v, const char *alias)
{
	if (v->nkey == 1)
	{
		sql_src_out(sql, alias, v->key[0], v->key_src_type ? v->key_src_type[0] : NULL);
		return;
	}
	buf_putc(sql, '(');
	for (int k = 0; k < v->nkey; k++)
	{
		if (k)
			buf_puts(sql, " || ',' || ");
		buf_puts(sql, "replace(replace(");
		sql_src_out(sql, alias, v->key[k], v->key_src_type ? v->key_src_type[k] : NULL);
		buf_puts(sql, ", E'\\\\', E'\\\\\\\\'), ',', E'\\\\,')");
	}
	buf_putc(sql, ')');
}
