/*
 * catalog.c: tables, columns, keys and foreign keys from pg_catalog.
 *
 * One query per kind of object over every user table; the planner needs
 * the whole picture (foreign keys may cross schemas) and catalogs are small.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "catalog.h"
#include "log.h"
#include "pgconn.h"

/* user tables: ordinary and partitioned, not partitions, not extension members */
#define USER_TABLES \
	"SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition " \
	"AND n.nspname NOT IN ('pg_catalog', 'information_schema') " \
	"AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)' " \
	"AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass " \
	"AND d.objid = c.oid AND d.deptype = 'e')"

/* the tables named in $1 (schema.table), for catalog_read_tables: planned quickly */
#define NAMED_TABLES \
	"SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE c.relkind IN ('r', 'p') AND n.nspname || '.' || c.relname = ANY ($1::text[])"

#define Q_TABLES(TABLES) \
	"SELECT c.oid, n.nspname, c.relname, " \
	"CASE WHEN c.relkind = 'p' THEN (SELECT CASE WHEN bool_and(ch.reltuples < 0) THEN -1 " \
	"  ELSE sum(greatest(ch.reltuples, 0)) END " \
	"  FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid WHERE i.inhparent = c.oid) " \
	"ELSE c.reltuples END " \
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE c.oid IN (" TABLES ") ORDER BY n.nspname, c.relname"

static const char *q_tables = Q_TABLES(USER_TABLES);
static const char *q_tables_named = Q_TABLES(NAMED_TABLES);

#define Q_COLUMNS(TABLES) \
	"SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), " \
	"  coalesce(bt.typname, t.typname), coalesce(bt.typcategory, t.typcategory), " \
	"  a.attnotnull OR (t.typtype = 'd' AND t.typnotnull), " \
	"  coalesce(pg_get_expr(d.adbin, d.adrelid), CASE WHEN t.typtype = 'd' THEN t.typdefault END), " \
	"  a.attgenerated <> '' OR a.attidentity = 'a', a.attidentity = 'd', a.attnum " \
	"FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid " \
	"LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype " \
	"LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum " \
	"WHERE a.attrelid IN (" TABLES ") AND a.attnum > 0 AND NOT a.attisdropped " \
	"ORDER BY a.attrelid, a.attnum"

static const char *q_columns = Q_COLUMNS(USER_TABLES);
static const char *q_columns_named = Q_COLUMNS(NAMED_TABLES);

/*
 * primary keys and unique keys: constraints and plain unique indexes, their
 * columns as attnums (a column name may hold a comma)
 */
static const char *q_keys =
	"SELECT i.indrelid, i.indisprimary, "
	"  (SELECT string_agg(k.attnum::text, ',' ORDER BY k.ord) "
	"   FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)) "
	"FROM pg_index i "
	"WHERE i.indrelid IN (" USER_TABLES ") AND i.indisunique AND i.indexprs IS NULL "
	"  AND i.indpred IS NULL AND 0 <> ALL (i.indkey::int2[]) "
	"  AND (SELECT c.relkind FROM pg_class c WHERE c.oid = i.indexrelid) IN ('i', 'I') "
	"  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) "
	"ORDER BY i.indrelid, NOT i.indisprimary, i.indexrelid";

/* foreign keys: one row per column pair, in key order */
static const char *q_fks =
	"SELECT con.conrelid, con.conname, con.confrelid, a.attname, fa.attname, con.condeferrable "
	"FROM pg_constraint con "
	"CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY k(attnum, fattnum, ord) "
	"JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum "
	"JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fattnum "
	"WHERE con.contype = 'f' AND con.conparentid = 0 AND con.conrelid IN (" USER_TABLES ") "
	"ORDER BY con.conrelid, con.conname, k.ord";

static const char *q_checks =
	"SELECT con.conrelid, pg_get_constraintdef(con.oid) FROM pg_constraint con "
	"WHERE con.contype = 'c' AND con.conrelid IN (" USER_TABLES ") "
	"ORDER BY con.conrelid, con.conname";

static const char *q_triggers =
	"SELECT tg.tgrelid, tg.tgname, "
	"  CASE WHEN tg.tgtype & 2 <> 0 THEN 'BEFORE' WHEN tg.tgtype & 64 <> 0 THEN 'INSTEAD OF' "
	"  ELSE 'AFTER' END || "
	"  CASE WHEN tg.tgtype & 4 <> 0 THEN ' INSERT' ELSE '' END || "
	"  CASE WHEN tg.tgtype & 8 <> 0 THEN ' DELETE' ELSE '' END || "
	"  CASE WHEN tg.tgtype & 16 <> 0 THEN ' UPDATE' ELSE '' END "
	"FROM pg_trigger tg WHERE NOT tg.tgisinternal AND tg.tgrelid IN (" USER_TABLES ") "
	"ORDER BY tg.tgrelid, tg.tgname";

static const char *q_keywords =
	"SELECT word FROM pg_get_keywords() WHERE catcode <> 'U' ORDER BY word";

static cat_table *
by_oid(const catalog *cat, unsigned int oid)
{
	/* tables are few enough; a linear scan keeps this simple */
	for (int i = 0; i < cat->ntables; i++)
		if (cat->tables[i].oid == oid)
			return &cat->tables[i];
	return NULL;
}

static unsigned int
oid_of(const PGresult *res, int row, int col)
{
	return (unsigned int) strtoul(PQgetvalue(res, row, col), NULL, 10);
}

static char *
dup_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

/* the column of a table with that attnum, -1 if none */
static int
column_of_attnum(const cat_table *t, int attnum)
{
	for (int i = 0; i < t->ncols; i++)
		if (t->cols[i].attnum == attnum)
			return i;
	return -1;
}

/* column indexes of a comma-separated list of attnums; false if one is unknown */
static bool
column_list(const cat_table *t, const char *list, int *n, int **cols)
{
	char *copy = xstrdup(list);
	char *save = NULL;

	*n = 0;
	*cols = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
	{
		int c = column_of_attnum(t, atoi(tok));

		if (c < 0)
		{
			free(copy);
			free(*cols);
			*cols = NULL;
			return false;
		}
		*cols = xrealloc(*cols, sizeof(int) * (size_t) (*n + 1));
		(*cols)[(*n)++] = c;
	}
	free(copy);
	return true;
}

static void
strv_add(int *n, char ***v, const char *s)
{
	*v = xrealloc(*v, sizeof(char *) * (size_t) (*n + 1));
	(*v)[(*n)++] = xstrdup(s);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * only[0]: NULL (every user table, everything about them) or an array
 * literal of schema.table names (their columns only)
 */
static bool
read_tables(PGconn *conn, const char *const *only, int nschemas, char **schemas, bool follow_fks,
			catalog *cat)
{
	PGresult *res;

	memset(cat, 0, sizeof(*cat));

	if ((res = (only[0] ? pg_query(conn, q_tables_named, 1, only) : pg_query(conn, q_tables, 0, NULL))) == NULL)
		return false;
	cat->ntables = PQntuples(res);
	cat->tables = xcalloc((size_t) cat->ntables + 1, sizeof(cat_table));
	for (int i = 0; i < cat->ntables; i++)
	{
		cat_table *t = &cat->tables[i];
		buf b;

		t->oid = oid_of(res, i, 0);
		t->schema = xstrdup(PQgetvalue(res, i, 1));
		t->name = xstrdup(PQgetvalue(res, i, 2));
		t->rows = PQgetisnull(res, i, 3) ? -1 : atof(PQgetvalue(res, i, 3));
		buf_init(&b, 64);
		buf_printf(&b, "%s.%s", t->schema, t->name);
		t->qname = (char *) buf_cstr(&b);
		if (nschemas == 0)
			t->selected = true;
		for (int s = 0; s < nschemas; s++)
			if (strcmp(schemas[s], t->schema) == 0)
				t->selected = true;
	}
	PQclear(res);

	if ((res = (only[0] ? pg_query(conn, q_columns_named, 1, only) : pg_query(conn, q_columns, 0, NULL))) == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		cat_table *t = by_oid(cat, oid_of(res, i, 0));
		cat_column *c;

		if (t == NULL)
			continue;
		t->cols = xrealloc(t->cols, sizeof(cat_column) * (size_t) (t->ncols + 1));
		c = &t->cols[t->ncols++];
		memset(c, 0, sizeof(*c));
		c->name = xstrdup(PQgetvalue(res, i, 1));
		c->type = xstrdup(PQgetvalue(res, i, 2));
		c->base = xstrdup(PQgetvalue(res, i, 3));
		c->category = PQgetvalue(res, i, 4)[0];
		c->notnull = PQgetvalue(res, i, 5)[0] == 't';
		c->def = dup_or_null(res, i, 6);
		c->generated = PQgetvalue(res, i, 7)[0] == 't';
		/* identity BY DEFAULT: the column has a default (its sequence) */
		if (c->def == NULL && PQgetvalue(res, i, 8)[0] == 't')
			c->def = xstrdup("identity");
		c->attnum = atoi(PQgetvalue(res, i, 9));
	}
	PQclear(res);
	if (only[0] != NULL)
		return true;

	if ((res = pg_query(conn, q_keys, 0, NULL)) == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		cat_table *t = by_oid(cat, oid_of(res, i, 0));
		int n;
		int *cols;

		if (t == NULL || PQgetisnull(res, i, 2) ||
			!column_list(t, PQgetvalue(res, i, 2), &n, &cols))
			continue;
		if (PQgetvalue(res, i, 1)[0] == 't' && t->npk == 0)
		{
			t->npk = n;
			t->pk = xcalloc((size_t) n, sizeof(int));
			memcpy(t->pk, cols, sizeof(int) * (size_t) n);
		}
		t->uniq = xrealloc(t->uniq, sizeof(cat_unique) * (size_t) (t->nuniq + 1));
		t->uniq[t->nuniq].ncols = n;
		t->uniq[t->nuniq].cols = cols;
		t->nuniq++;
	}
	PQclear(res);

	if ((res = pg_query(conn, q_fks, 0, NULL)) == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		cat_table *t = by_oid(cat, oid_of(res, i, 0));
		cat_table *ref = by_oid(cat, oid_of(res, i, 2));
		const char *name = PQgetvalue(res, i, 1);
		cat_fk *fk;
		int c, rc;

		if (t == NULL)
			continue;
		c = table_column(t, PQgetvalue(res, i, 3));
		rc = ref ? table_column(ref, PQgetvalue(res, i, 4)) : -1;
		if (t->nfk > 0 && strcmp(t->fks[t->nfk - 1].name, name) == 0)
			fk = &t->fks[t->nfk - 1];
		else
		{
			t->fks = xrealloc(t->fks, sizeof(cat_fk) * (size_t) (t->nfk + 1));
			fk = &t->fks[t->nfk++];
			memset(fk, 0, sizeof(*fk));
			fk->name = xstrdup(name);
			fk->ref = ref;
			fk->deferrable = PQgetvalue(res, i, 5)[0] == 't';
		}
		fk->cols = xrealloc(fk->cols, sizeof(int) * (size_t) (fk->ncols + 1));
		fk->refcols = xrealloc(fk->refcols, sizeof(int) * (size_t) (fk->ncols + 1));
		fk->cols[fk->ncols] = c;
		fk->refcols[fk->ncols] = rc;
		fk->ncols++;
		if (c < 0 || rc < 0)
			fk->ref = NULL;
	}
	PQclear(res);

	if ((res = pg_query(conn, q_checks, 0, NULL)) == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		cat_table *t = by_oid(cat, oid_of(res, i, 0));

		if (t)
			strv_add(&t->nchecks, &t->checks, PQgetvalue(res, i, 1));
	}
	PQclear(res);

	if ((res = pg_query(conn, q_triggers, 0, NULL)) == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
	{
		cat_table *t = by_oid(cat, oid_of(res, i, 0));
		buf b;

		if (t == NULL)
			continue;
		buf_init(&b, 64);
		buf_printf(&b, "%s (%s)", PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
		strv_add(&t->ntriggers, &t->triggers, buf_cstr(&b));
		buf_free(&b);
	}
	PQclear(res);

	if ((res = pg_query(conn, q_keywords, 0, NULL)) == NULL)
		return false;
	for (int i = 0; i < PQntuples(res); i++)
		strv_add(&cat->nkeywords, &cat->keywords, PQgetvalue(res, i, 0));
	PQclear(res);
	/* byte order, whatever the server's collation: names.c searches it */
	qsort(cat->keywords, (size_t) cat->nkeywords, sizeof(char *), cmp_str);

	/* tables referenced from the selected ones come along (auth.users from public) */
	for (bool changed = follow_fks; changed;)
	{
		changed = false;
		for (int i = 0; i < cat->ntables; i++)
		{
			cat_table *t = &cat->tables[i];

			if (!t->selected)
				continue;
			for (int f = 0; f < t->nfk; f++)
				if (t->fks[f].ref && !t->fks[f].ref->selected)
				{
					t->fks[f].ref->selected = true;
					changed = true;
				}
		}
	}
	return true;
}

bool
catalog_read(PGconn *conn, int nschemas, char **schemas, bool follow_fks, catalog *cat)
{
	const char *only[1] = {NULL};

	return read_tables(conn, only, nschemas, schemas, follow_fks, cat);
}

bool
catalog_read_tables(PGconn *conn, int ntables, char **tables, catalog *cat)
{
	buf arr;
	bool ok;
	const char *only[1];

	/* {"schema.table",...}: every element quoted, " and \ escaped */
	buf_init(&arr, 256);
	buf_putc(&arr, '{');
	for (int i = 0; i < ntables; i++)
	{
		buf_puts(&arr, i ? ",\"" : "\"");
		for (const char *c = tables[i]; *c; c++)
		{
			if (*c == '"' || *c == '\\')
				buf_putc(&arr, '\\');
			buf_putc(&arr, *c);
		}
		buf_putc(&arr, '"');
	}
	buf_putc(&arr, '}');
	only[0] = buf_cstr(&arr);
	ok = read_tables(conn, only, 0, NULL, false, cat);
	buf_free(&arr);
	return ok;
}

static void
strv_free(int n, char **v)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
catalog_free(catalog *cat)
{
	for (int i = 0; i < cat->ntables; i++)
	{
		cat_table *t = &cat->tables[i];

		for (int c = 0; c < t->ncols; c++)
		{
			free(t->cols[c].name);
			free(t->cols[c].type);
			free(t->cols[c].base);
			free(t->cols[c].def);
		}
		free(t->cols);
		free(t->pk);
		for (int u = 0; u < t->nuniq; u++)
			free(t->uniq[u].cols);
		free(t->uniq);
		for (int f = 0; f < t->nfk; f++)
		{
			free(t->fks[f].name);
			free(t->fks[f].cols);
			free(t->fks[f].refcols);
		}
		free(t->fks);
		strv_free(t->ntriggers, t->triggers);
		strv_free(t->nchecks, t->checks);
		free(t->schema);
		free(t->name);
		free(t->qname);
	}
	free(cat->tables);
	strv_free(cat->nkeywords, cat->keywords);
	memset(cat, 0, sizeof(*cat));
}

cat_table *
catalog_find(const catalog *cat, const char *schema, const char *name)
{
	for (int i = 0; i < cat->ntables; i++)
		if (strcmp(cat->tables[i].name, name) == 0 &&
			(schema == NULL || strcmp(cat->tables[i].schema, schema) == 0))
			return &cat->tables[i];
	return NULL;
}

int
table_column(const cat_table *t, const char *name)
{
	for (int i = 0; i < t->ncols; i++)
		if (strcmp(t->cols[i].name, name) == 0)
			return i;
	return -1;
}

bool
table_is_unique(const cat_table *t, int n, const int *cols)
{
	for (int u = 0; u < t->nuniq; u++)
	{
		bool all = true;

		/* a unique key made of a subset of cols makes cols unique too */
		for (int k = 0; k < t->uniq[u].ncols && all; k++)
		{
			bool found = false;

			for (int j = 0; j < n; j++)
				if (cols[j] == t->uniq[u].cols[k])
					found = true;
			all = found;
		}
		if (all)
			return true;
	}
	return false;
}

cat_fk *
table_fk_on(const cat_table *t, int c)
{
	for (int f = 0; f < t->nfk; f++)
		if (t->fks[f].ncols == 1 && t->fks[f].cols[0] == c && t->fks[f].ref)
			return &t->fks[f];
	return NULL;
}
