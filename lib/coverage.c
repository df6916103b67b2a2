/*
 * coverage.c: the plan against the live catalogs (coverage.h).
 *
 * The queries are prepared, not run: PQprepare parses and analyses the
 * query (a missing table or column, a syntax error), PQdescribePrepared
 * gives its output columns and types, and no row is read.  Everything else
 * is a comparison of names and types with the catalogs read once.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "coverage.h"
#include "log.h"
#include "pgconn.h"
#include "sqlident.h"

/* the prefix the stages put before a query (extract.c): positions are counted past it */
#define WRAP_HEAD "SELECT * FROM (\n"
#define WRAP_TAIL "\n) AS q"

typedef struct outcol
{
	char *name;
	unsigned int oid;
	const char *base;         /* pg_type name, domains resolved (points into the type list) */
	const char *display;      /* its SQL name: integer, character varying */
	char category;
} outcol;

typedef struct described
{
	bool ok;                  /* prepared */
	int n;
	outcol *cols;
} described;

/* ---- findings ---- */

static void __attribute__((format(printf, 6, 7)))
add(cov_findings *out, cov_kind kind, const plan_entity *e, int line, const char *table,
	const char *fmt, ...)
{
	va_list ap;
	buf b;
	cov_finding *f;

	out->v = xrealloc(out->v, sizeof(cov_finding) * (size_t) (out->n + 1));
	f = &out->v[out->n++];
	memset(f, 0, sizeof *f);
	f->kind = kind;
	f->e = e;
	f->line = line;
	f->table = table ? xstrdup(table) : NULL;
	buf_init(&b, 128);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	/* one line, whatever the server said */
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\t')
			b.data[i] = ' ';
	buf_cstr(&b);
	f->text = b.data;
}

static void
set_column(cov_findings *out, const char *column)
{
	out->v[out->n - 1].column = xstrdup(column);
}

void
coverage_free(cov_findings *fs)
{
	for (int i = 0; i < fs->n; i++)
	{
		free(fs->v[i].table);
		free(fs->v[i].column);
		free(fs->v[i].text);
	}
	free(fs->v);
	fs->n = 0;
	fs->v = NULL;
}

void
coverage_line(buf *out, const char *path, const cov_finding *f)
{
	buf_puts(out, path);
	if (f->line > 0)
		buf_printf(out, ":%d", f->line);
	buf_puts(out, ": ");
	if (f->e)
		buf_printf(out, "entity \"%s\": ", f->e->name);
	buf_puts(out, f->text);
}

/* ---- the plan's lines ---- */

/* the plan line of byte offset off of e's extract query */
static int
extract_line_at(const plan_entity *e, size_t off)
{
	int line;

	if (e->extract_line <= 0)
		return e->line;
	line = e->extract_line + 1;
	for (size_t i = 0; i < off && e->extract_sql[i]; i++)
		line += e->extract_sql[i] == '\n';
	return line;
}

/* the line of the query naming column last (its alias, usually), else the "extract" line */
static int
column_line(const plan_entity *e, const sql_idents *ids, const char *column)
{
	long off = sql_idents_last(ids, column);

	return off < 0 ? (e->extract_line > 0 ? e->extract_line : e->line) : extract_line_at(e, (size_t) off);
}

/* the plan line of a server error's position (characters of the wrapped query) */
static int
error_line(const plan_entity *e, const PGresult *res)
{
	const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	long chars = pos ? atol(pos) : 0;
	size_t head = strlen(WRAP_HEAD), off = 0;
	const char *q = e->extract_sql;

	if (chars <= 0)
		return e->extract_line > 0 ? e->extract_line : e->line;
	/* characters to bytes: the query is UTF-8; the head is ASCII */
	chars -= (long) head + 1;
	while (chars > 0 && q[off])
	{
		off++;
		while (((unsigned char) q[off] & 0xC0) == 0x80)
			off++;
		chars--;
	}
	return extract_line_at(e, off);
}

/* ---- names ---- */

static bool
in_list(int n, char **v, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/* schema.table of the plan (as catalog_read's qname) in cat, NULL if none */
static cat_table *
find_table(const catalog *cat, const char *qname)
{
	if (qname == NULL)
		return NULL;
	for (int i = 0; i < cat->ntables; i++)
		if (strcmp(cat->tables[i].qname, qname) == 0)
			return &cat->tables[i];
	return NULL;
}

static const plan_ref *
ref_on(const plan_entity *e, const char *column)
{
	for (int i = 0; i < e->nrefs; i++)
		if (strcmp(e->refs[i].column, column) == 0)
			return &e->refs[i];
	return NULL;
}

/* does the transform replace the column's legacy key by a uuid? */
static bool
becomes_uuid(const plan_entity *e, const char *column, const char **why)
{
	const plan_ref *r = ref_on(e, column);

	if (r && r->kind != REF_CHECK)
	{
		*why = plan_ref_kind_name(r->kind);
		return true;
	}
	if (e->tree && strcmp(e->tree->parent_column, column) == 0)
	{
		*why = "tree";
		return true;
	}
	if (e->poly && strcmp(e->poly->id_column, column) == 0)
	{
		*why = "poly";
		return true;
	}
	return false;
}

static const outcol *
output(const described *d, const char *name)
{
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->cols[i].name, name) == 0)
			return &d->cols[i];
	return NULL;
}

/* ---- types ---- */

static bool
is_json(const char *t)
{
	return strcmp(t, "json") == 0 || strcmp(t, "jsonb") == 0;
}

/*
 * Can a value of the output type never be read by the destination type's
 * input function?  The load gives the destination text; text parses or
 * not row by row, so only pairs that fail for every value are refused.
 */
static bool
never_loads(const char *ob, char ocat, const char *tb, char tcat)
{
	bool ouuid = strcmp(ob, "uuid") == 0, tuuid = strcmp(tb, "uuid") == 0;

	if (ocat == 'S' || ocat == 'X' || strcmp(ob, "unknown") == 0 || tcat == 'S' ||
		strcmp(ob, tb) == 0)
		return false;
	if (tuuid)
		return !ouuid;
	if (tcat == 'A')
		return ocat != 'A';
	if (ocat == 'A')
		return true;
	if (is_json(tb))
		return ocat == 'D' || ocat == 'T' || ouuid || ocat == 'G' || ocat == 'I';
	switch (tcat)
	{
		case 'N':
			return ocat == 'B' || ocat == 'D' || ocat == 'T' || ouuid || ocat == 'G' ||
				ocat == 'I' || is_json(ob);
		case 'B':
			return ocat == 'D' || ocat == 'T' || ouuid || ocat == 'G' || ocat == 'I' || is_json(ob);
		case 'D':
		case 'T':
			return ocat == 'B' || ouuid || ocat == 'G' || ocat == 'I' || is_json(ob) ||
				(ocat == 'D' && tcat == 'T') || (ocat == 'T' && tcat == 'D');
		default:
			return false;
	}
}

/* ---- preparing the queries ---- */

/* in a transaction of our own (read only), or a savepoint of the caller's */
static bool
src_begin(PGconn *src, bool *own)
{
	*own = PQtransactionStatus(src) == PQTRANS_IDLE;
	if (*own && !pg_exec(src, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
		return false;
	return pg_exec(src, "SAVEPOINT ferry_coverage");
}

static bool
src_end(PGconn *src, bool own)
{
	if (own)
		return pg_exec(src, "ROLLBACK");
	return pg_exec(src, "ROLLBACK TO SAVEPOINT ferry_coverage; RELEASE SAVEPOINT ferry_coverage");
}

/* prepare e's query: its outputs into d, or a finding; false on a lost connection */
static bool
describe(PGconn *src, const plan_entity *e, described *d, cov_findings *out)
{
	buf sql;
	PGresult *res;

	memset(d, 0, sizeof *d);
	buf_init(&sql, strlen(e->extract_sql) + 64);
	buf_puts(&sql, WRAP_HEAD);
	buf_puts(&sql, e->extract_sql);
	buf_puts(&sql, WRAP_TAIL);
	res = PQprepare(src, "", buf_cstr(&sql), 0, NULL);
	buf_free(&sql);
	if (PQresultStatus(res) == PGRES_COMMAND_OK)
	{
		PQclear(res);
		res = PQdescribePrepared(src, "");
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
		bool lost = PQstatus(src) != CONNECTION_OK;

		if (lost)
		{
			log_error("source: %s", pg_errmsg(src, res));
			PQclear(res);
			return false;
		}
		add(out, COV_QUERY, e, error_line(e, res), e->source,
			"the extract query does not run on the source: %s%s%s%s", pg_errmsg(src, res),
			hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
		PQclear(res);
		/* the savepoint holds: the next query starts clean */
		return pg_exec(src, "ROLLBACK TO SAVEPOINT ferry_coverage");
	}
	d->ok = true;
	d->n = PQnfields(res);
	d->cols = xcalloc((size_t) d->n + 1, sizeof(outcol));
	for (int i = 0; i < d->n; i++)
	{
		d->cols[i].name = xstrdup(PQfname(res, i));
		d->cols[i].oid = PQftype(res, i);
	}
	PQclear(res);
	return true;
}

typedef struct typeinfo
{
	unsigned int oid;
	char *name;
	char *display;
	char category;
} typeinfo;

/* the names and categories of the output types, in one query */
static bool
resolve_types(PGconn *src, described *ds, int n, int *ntypes, typeinfo **types)
{
	buf arr;
	PGresult *res;
	const char *params[1];

	buf_init(&arr, 256);
	buf_putc(&arr, '{');
	for (int i = 0; i < n; i++)
		for (int c = 0; c < ds[i].n; c++)
			buf_printf(&arr, "%s%u", arr.len > 1 ? "," : "", ds[i].cols[c].oid);
	buf_putc(&arr, '}');
	params[0] = buf_cstr(&arr);
	res = pg_query(src, "SELECT t.oid, coalesce(bt.typname, t.typname), "
				   "coalesce(bt.typcategory, t.typcategory), format_type(coalesce(bt.oid, t.oid), NULL) "
				   "FROM pg_type t "
				   "LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype "
				   "WHERE t.oid = ANY ($1::oid[])", 1, params);
	buf_free(&arr);
	if (res == NULL)
		return false;
	*ntypes = PQntuples(res);
	*types = xcalloc((size_t) *ntypes + 1, sizeof(typeinfo));
	for (int i = 0; i < *ntypes; i++)
	{
		(*types)[i].oid = (unsigned int) strtoul(PQgetvalue(res, i, 0), NULL, 10);
		(*types)[i].name = xstrdup(PQgetvalue(res, i, 1));
		(*types)[i].category = PQgetvalue(res, i, 2)[0];
		(*types)[i].display = xstrdup(PQgetvalue(res, i, 3));
	}
	PQclear(res);
	for (int i = 0; i < n; i++)
		for (int c = 0; c < ds[i].n; c++)
		{
			ds[i].cols[c].base = ds[i].cols[c].display = "unknown";
			ds[i].cols[c].category = 'X';
			for (int t = 0; t < *ntypes; t++)
				if ((*types)[t].oid == ds[i].cols[c].oid)
				{
					ds[i].cols[c].base = (*types)[t].name;
					ds[i].cols[c].display = (*types)[t].display;
					ds[i].cols[c].category = (*types)[t].category;
				}
		}
	return true;
}

/* ---- one entity, its query described ---- */

/* a column the plan says is an output (key, drop, ref, tree, poly) must be one */
static void
need_output(const plan_entity *e, const described *d, const char *column, const char *what,
			int line, cov_findings *out)
{
	if (output(d, column))
		return;
	add(out, COV_NOT_OUTPUT, e, line > 0 ? line : e->line, e->target,
		"\"%s %s\": the extract query has no output column %s: output it (AS %s)", what, column,
		column, column);
	set_column(out, column);
}

static void
check_named_outputs(const plan_entity *e, const described *d, cov_findings *out)
{
	for (int i = 0; i < e->nkey; i++)
		need_output(e, d, e->key[i], "key", e->line, out);
	for (int i = 0; i < e->ndrop; i++)
		need_output(e, d, e->drop[i], "drop", e->line, out);
	for (int i = 0; i < e->nrefs; i++)
		need_output(e, d, e->refs[i].column, plan_ref_kind_name(e->refs[i].kind), e->refs[i].line,
					out);
	if (e->tree)
		need_output(e, d, e->tree->parent_column, "tree", e->line, out);
	if (e->poly)
	{
		need_output(e, d, e->poly->type_column, "poly", e->line, out);
		need_output(e, d, e->poly->id_column, "poly", e->line, out);
	}
}

/* each output against the destination table: is it a column, can its type load? */
static void
check_outputs(const plan_entity *e, const described *d, const cat_table *t, const sql_idents *ids,
			  cov_findings *out)
{
	for (int i = 0; i < d->n; i++)
	{
		const outcol *o = &d->cols[i];
		const char *why = NULL;
		int c;

		if (strcmp(o->name, "_ferry_note") == 0 || strcmp(o->name, "_ferry_reject") == 0 ||
			in_list(e->ndrop, e->drop, o->name))
			continue;
		if ((c = table_column(t, o->name)) < 0)
		{
			add(out, COV_OUTPUT, e, column_line(e, ids, o->name), e->target,
				"output column %s is not a column of %s: name a column of it (AS ...), or "
				"\"drop %s\" if only the stages use it", o->name, t->qname, o->name);
			set_column(out, o->name);
			continue;
		}
		const cat_column *tc = &t->cols[c];

		if (becomes_uuid(e, o->name, &why))
		{
			if (strcmp(tc->base, "uuid") != 0 && tc->category != 'S')
			{
				add(out, COV_TYPE, e, column_line(e, ids, o->name), e->target,
					"%s.%s is %s, but \"%s %s\" loads a uuid there: the destination column must be "
					"a uuid", t->qname, tc->name, tc->type, why, o->name);
				set_column(out, o->name);
			}
		}
		else if (never_loads(o->base, o->category, tc->base, tc->category))
		{
			add(out, COV_TYPE, e, column_line(e, ids, o->name), e->target,
				"output column %s is %s in the source, and no %s value loads into %s.%s (%s): "
				"convert it in the query%s", o->name, o->display, o->display, t->qname, tc->name,
				tc->type, strcmp(tc->base, "uuid") == 0 ?
				", or map it with \"ref\"/\"forward\" if it holds legacy keys" : "");
			set_column(out, o->name);
		}
		if (tc->generated)
		{
			add(out, COV_OUTPUT, e, column_line(e, ids, o->name), e->target,
				"output column %s is a generated column of %s, which cannot be written: "
				"leave it out of the query", o->name, t->qname);
			set_column(out, o->name);
		}
	}
}

/* every destination column: fed, computed, generated, or "default" */
static void
check_target_columns(const plan_entity *e, const described *d, const cat_table *t,
					 cov_findings *out)
{
	for (int c = 0; c < t->ncols; c++)
	{
		const cat_column *tc = &t->cols[c];
		const char *name = tc->name;

		if ((output(d, name) && !in_list(e->ndrop, e->drop, name)) || tc->generated ||
			(e->uuid_column && strcmp(e->uuid_column, name) == 0) ||
			(e->tree && e->tree->depth_column && strcmp(e->tree->depth_column, name) == 0) ||
			plan_lists_default(e, name))
			continue;
		add(out, COV_TARGET_UNFED, e, e->extract_line > 0 ? e->extract_line : e->line, e->target,
			"destination column %s.%s is not fed by the extract query: output it, or list it "
			"\"default %s\" to leave it to its default%s", t->qname, name, name,
			tc->notnull && tc->def == NULL ? " (it is NOT NULL without a default: every row "
			"would be rejected)" : "");
		set_column(out, name);
	}
}

/* every column of the source and merges tables: named by the query, or "unused" */
static void
check_source_table(const plan_entity *e, const cat_table *t, bool merged, const sql_idents *ids,
				   cov_findings *out)
{
	for (int c = 0; c < t->ncols; c++)
	{
		const char *name = t->cols[c].name;

		if (sql_idents_has(ids, name) || plan_lists_unused(e, t->qname, name))
			continue;
		add(out, COV_SOURCE_UNREAD, e, e->extract_line > 0 ? e->extract_line : e->line, t->qname,
			"source column %s.%s is not read by the extract query: read it, or list it "
			"\"unused %s%s%s\" (with a # reason) if it is not migrated on purpose", t->qname, name,
			name, merged ? " in " : "", merged ? t->qname : "");
		set_column(out, name);
	}
}

/* may the target role turn foreign-key checks off (session_replication_role)? */
static int
fk_checks_can_go_off(PGconn *dst)
{
	bool own = PQtransactionStatus(dst) == PQTRANS_IDLE;
	PGresult *res;
	int ok;

	if (!pg_exec(dst, own ? "BEGIN" : "SAVEPOINT ferry_coverage"))
		return -1;
	res = PQexec(dst, "SET LOCAL session_replication_role = replica");
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!pg_exec(dst, own ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT ferry_coverage"))
		return -1;
	return ok;
}

static bool
check_forward(const plan_entity *e, const cat_table *t, PGconn *dst, int *can_off,
			  cov_findings *out)
{
	for (int i = 0; i < e->nrefs; i++)
	{
		const plan_ref *r = &e->refs[i];
		int c = table_column(t, r->column);
		cat_fk *fk;

		/*
		 * each batch commits on its own, so even a DEFERRABLE key is checked
		 * before the other entity of the cycle is loaded: only foreign-key
		 * checks off lets a forward reference in (as ferry-load decides)
		 */
		if (r->kind != REF_FORWARD || c < 0 || (fk = table_fk_on(t, c)) == NULL)
			continue;
		if (dst == NULL)
			continue;
		if (*can_off < 0 && (*can_off = fk_checks_can_go_off(dst)) < 0)
			return false;
		if (*can_off)
			continue;
		add(out, COV_FORWARD, e, r->line > 0 ? r->line : e->line, e->target,
			"\"forward %s %s\": the foreign key %s of %s would refuse the rows (each batch "
			"commits before %s is loaded) and the target role may not set "
			"session_replication_role (foreign-key checks off): load as a role that may, or "
			"use \"defer\" on a nullable column",
			r->column, r->entity, fk->name, t->qname, r->entity);
		set_column(out, r->column);
	}
	return true;
}

static void
check_entity(const plan_entity *e, const described *d, const cov_sides *s, cov_findings *out)
{
	const cat_table *t = find_table(s->tcat, e->target);
	const cat_table *st = find_table(s->scat, e->source);
	sql_idents ids;

	sql_idents_scan(e->extract_sql, &ids);
	if (e->source && st == NULL)
		add(out, COV_TABLE_MISSING, e, e->line, e->source,
			"source table %s does not exist in the source", e->source);
	if (t == NULL)
		add(out, COV_TABLE_MISSING, e, e->line, e->target,
			"destination table %s does not exist in the target", e->target);
	if (st)
		check_source_table(e, st, false, &ids, out);
	for (int m = 0; m < e->nmerges; m++)
	{
		const cat_table *mt = find_table(s->scat, e->merges[m]);

		if (mt == NULL)
			add(out, COV_TABLE_MISSING, e, e->line, e->merges[m],
				"\"merges %s\": no such table in the source", e->merges[m]);
		else if (st != mt)
			check_source_table(e, mt, true, &ids, out);
	}
	for (int u = 0; u < e->nunused; u++)
		if (e->unused_tables[u] && !find_table(s->scat, e->unused_tables[u]) &&
			!in_list(e->nmerges, e->merges, e->unused_tables[u]))
			add(out, COV_TABLE_MISSING, e, e->line, e->unused_tables[u],
				"\"unused %s in %s\": no such table in the source", e->unused_cols[u],
				e->unused_tables[u]);
	if (d->ok)
	{
		check_named_outputs(e, d, out);
		if (t)
		{
			check_outputs(e, d, t, &ids, out);
			check_target_columns(e, d, t, out);
		}
	}
	sql_idents_free(&ids);
}

/* ---- the plan ---- */

static bool
named_by_plan(const plan *p, const char *qname)
{
	for (int i = 0; i < p->nentities; i++)
	{
		const plan_entity *e = &p->entities[i];

		if ((e->source && strcmp(e->source, qname) == 0) || in_list(e->nmerges, e->merges, qname))
			return true;
	}
	return false;
}

static void
check_tables(const plan *p, const catalog *scat, cov_findings *out)
{
	/* the entities not migrated name tables too (the migrated ones are checked with their query) */
	for (int i = 0; i < p->nentities; i++)
	{
		const plan_entity *e = &p->entities[i];

		if ((e->target == NULL || e->extract_sql == NULL) && e->source &&
			find_table(scat, e->source) == NULL)
			add(out, COV_TABLE_MISSING, e, e->line, e->source,
				"source table %s does not exist in the source", e->source);
	}
	if (p->nsources == 0)
		log_info("%s: no \"sources\" line: the source's tables are not checked for coverage",
				 p->path ? p->path : "plan");
	for (int s = 0; s < p->nsources; s++)
	{
		int found = 0;

		for (int i = 0; i < scat->ntables; i++)
		{
			const cat_table *t = &scat->tables[i];

			if (strcmp(t->schema, p->sources[s]) != 0)
				continue;
			found++;
			if (!named_by_plan(p, t->qname))
				add(out, COV_TABLE_UNLISTED, NULL, 0, t->qname,
					"source table %s (schema %s of \"sources\") is in no entity: add an entity "
					"for it (\"target -\" and a \"reason\" if it is not migrated), or name it in "
					"an entity's \"merges\"", t->qname, t->schema);
		}
		if (found == 0)
			add(out, COV_TABLE_MISSING, NULL, 0, NULL,
				"\"sources %s\": the source has no table in schema %s", p->sources[s], p->sources[s]);
	}
}

static bool
run(const plan *p, const plan_entity *only, const cov_sides *s, cov_findings *out)
{
	int n = 0, ntypes = 0, can_off = -1;
	const plan_entity **es = xcalloc((size_t) p->nentities + 1, sizeof *es);
	described *ds = xcalloc((size_t) p->nentities + 1, sizeof *ds);
	typeinfo *types = NULL;
	bool own, ok = true;

	for (int i = 0; i < p->nentities; i++)
	{
		const plan_entity *e = &p->entities[i];

		if ((only == NULL || e == only) && e->target && e->extract_sql)
			es[n++] = e;
	}
	if (!src_begin(s->src, &own))
		ok = false;
	for (int i = 0; ok && i < n; i++)
		ok = describe(s->src, es[i], &ds[i], out);
	if (ok)
		ok = resolve_types(s->src, ds, n, &ntypes, &types);
	if (!src_end(s->src, own))
		ok = false;
	for (int i = 0; ok && i < n; i++)
	{
		const cat_table *t = find_table(s->tcat, es[i]->target);

		check_entity(es[i], &ds[i], s, out);
		if (t)
			ok = check_forward(es[i], t, s->dst, &can_off, out);
	}
	if (ok && only == NULL)
		check_tables(p, s->scat, out);
	for (int i = 0; i < n; i++)
	{
		for (int c = 0; c < ds[i].n; c++)
			free(ds[i].cols[c].name);
		free(ds[i].cols);
	}
	for (int i = 0; i < ntypes; i++)
	{
		free(types[i].name);
		free(types[i].display);
	}
	free(types);
	free(ds);
	free(es);
	return ok;
}

bool
coverage_plan(const plan *p, const cov_sides *s, cov_findings *out)
{
	return run(p, NULL, s, out);
}

bool
coverage_entity(const plan *p, const plan_entity *e, const cov_sides *s, cov_findings *out)
{
	return run(p, e, s, out);
}

/* ---- names that say the same thing ---- */

static const char *const stopwords[] = {"of", "the", "a", "an", "at", "on", "in", "by", "to", "for"};

/* an abbreviation's word */
static const char *const abbrev[][2] = {
	{"no", "number"}, {"num", "number"}, {"nbr", "number"}, {"nr", "number"},
	{"qty", "quantity"}, {"amt", "amount"}, {"desc", "description"}, {"descr", "description"},
	{"addr", "address"}, {"tel", "phone"}, {"dt", "date"}, {"ts", "timestamp"},
	{"msg", "message"}, {"cnt", "count"}, {"pct", "percent"}, {"usr", "user"},
	{"ref", "reference"}, {"org", "organization"}, {"dept", "department"},
};

/* the words of a name, normalised: lower case, stop words out, singular, abbreviations read */
static int
words(const char *name, char out[][64], int max)
{
	int n = 0;
	const char *s = name;

	while (*s && n < max)
	{
		char w[64];
		size_t len = 0;

		while (*s && !isalnum((unsigned char) *s))
			s++;
		while (*s && isalnum((unsigned char) *s) && len + 1 < sizeof w)
		{
			w[len++] = (char) tolower((unsigned char) *s);
			s++;
			/* camelCase: a capital after a lower-case letter starts a word */
			if (isupper((unsigned char) *s) && islower((unsigned char) s[-1]))
				break;
		}
		w[len] = '\0';
		if (len == 0)
			break;
		bool stop = false;

		for (size_t i = 0; i < sizeof stopwords / sizeof stopwords[0]; i++)
			stop = stop || strcmp(w, stopwords[i]) == 0;
		if (stop)
			continue;
		for (size_t i = 0; i < sizeof abbrev / sizeof abbrev[0]; i++)
			if (strcmp(w, abbrev[i][0]) == 0)
			{
				snprintf(w, sizeof w, "%s", abbrev[i][1]);
				len = strlen(w);
			}
		if (len > 4 && strcmp(w + len - 3, "ies") == 0)
			snprintf(w + len - 3, 4, "y");
		else if (len > 4 && (strcmp(w + len - 4, "sses") == 0 || strcmp(w + len - 4, "ches") == 0 ||
							 strcmp(w + len - 4, "shes") == 0 || strcmp(w + len - 3, "xes") == 0))
			w[len - 2] = '\0';
		else if (len > 3 && w[len - 1] == 's' && w[len - 2] != 's')
			w[len - 1] = '\0';
		snprintf(out[n++], 64, "%s", w);
	}
	return n;
}

static bool
has_word(char w[][64], int n, const char *x)
{
	for (int i = 0; i < n; i++)
		if (strcmp(w[i], x) == 0)
			return true;
	return false;
}

bool
coverage_names_similar(const char *a, const char *b)
{
	char wa[16][64], wb[16][64];
	int na, nb;

	if (strcmp(a, b) == 0)
		return true;
	na = words(a, wa, 16);
	nb = words(b, wb, 16);
	if (na == 0 || nb == 0)
		return false;
	/* the same words, in any order */
	for (int i = 0; i < na; i++)
		if (!has_word(wb, nb, wa[i]))
			return false;
	for (int i = 0; i < nb; i++)
		if (!has_word(wa, na, wb[i]))
			return false;
	return true;
}
