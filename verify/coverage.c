/*
 * coverage.c: what the plan missed, per entity (issue 14).  The row
 * comparisons check the destination against the plan's own query; these
 * checks look past it:
 *
 *   legacy key  every loaded row has its legacy key (the key's destination
 *               columns are not NULL), and a legacy_* column is not NULL in
 *               every row;
 *   coverage    the plan's column coverage (lib/coverage.c): a destination
 *               column left to its default (not listed "default") while a
 *               source column is not read (not listed "unused") is where a
 *               renamed column goes missing;
 *   all NULL    a destination column NULL in every row while the source
 *               column of the same (or a similar) name has values.
 *
 * Each finding fails the verdict; the plan says "unused"/"default" for a
 * column dropped on purpose.  One aggregate query over the destination
 * table, and one over a source table only when a column is NULL everywhere.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "coverage.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"
#include "verify.h"

/* a count asked of one side: which column, what it means */
typedef enum ask_kind
{
	ASK_LEGACY,      /* a legacy_* destination column */
	ASK_PAIR         /* destination column d vs source column s of table st */
} ask_kind;

typedef struct ask
{
	ask_kind kind;
	const cat_column *d;
	const cat_table *st;
	const cat_column *s;
	long long dst_count;
	long long src_count;
} ask;

static bool
in_list(int n, char **v, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static bool
computed(const plan_entity *e, const cat_column *c)
{
	return c->generated || (e->uuid_column && strcmp(e->uuid_column, c->name) == 0) ||
		(e->tree && e->tree->depth_column && strcmp(e->tree->depth_column, c->name) == 0);
}

/* the static findings: reported when the entity has both a column left over on each side */
static void
static_findings(const cov_findings *fs, vresult *r)
{
	int unread = 0, unfed = 0;

	for (int i = 0; i < fs->n; i++)
	{
		unread += fs->v[i].kind == COV_SOURCE_UNREAD;
		unfed += fs->v[i].kind == COV_TARGET_UNFED;
	}
	if (unread == 0 || unfed == 0)
	{
		result_check(r, "coverage", true, unread + unfed == 0 ? "every column accounted for" :
					 "no source column left over with a destination column");
		return;
	}
	for (int i = 0; i < fs->n; i++)
		if (fs->v[i].kind == COV_SOURCE_UNREAD || fs->v[i].kind == COV_TARGET_UNFED)
			result_check(r, "coverage", false, fs->v[i].text);
}

/* count(*), key rows without a key, count(d) of each ask, in one query */
static bool
count_destination(PGconn *dst, const plan_entity *e, const cat_table *t, bool key_in_target,
				  ask *asks, int nasks, long long *rows, long long *keyless)
{
	buf sql;
	PGresult *res;

	buf_init(&sql, 512);
	buf_puts(&sql, "SELECT count(*), ");
	if (key_in_target)
	{
		buf_puts(&sql, "count(*) FILTER (WHERE ");
		for (int k = 0; k < e->nkey; k++)
		{
			buf_puts(&sql, k ? " OR " : "");
			pg_append_ident(&sql, e->key[k]);
			buf_puts(&sql, " IS NULL");
		}
		buf_puts(&sql, ")");
	}
	else
		buf_puts(&sql, "0");
	for (int i = 0; i < nasks; i++)
	{
		buf_puts(&sql, ", count(");
		pg_append_ident(&sql, asks[i].d->name);
		buf_puts(&sql, ")");
	}
	buf_puts(&sql, " FROM ");
	pg_append_ident(&sql, t->schema);
	buf_putc(&sql, '.');
	pg_append_ident(&sql, t->name);
	res = pg_query(dst, buf_cstr(&sql), 0, NULL);
	buf_free(&sql);
	if (res == NULL)
		return false;
	*rows = atoll(PQgetvalue(res, 0, 0));
	*keyless = atoll(PQgetvalue(res, 0, 1));
	for (int i = 0; i < nasks; i++)
		asks[i].dst_count = atoll(PQgetvalue(res, 0, 2 + i));
	PQclear(res);
	return true;
}

/* count(s) of the pairs whose destination column is NULL everywhere, one query per table */
static bool
count_source(PGconn *src, ask *asks, int nasks)
{
	for (int i = 0; i < nasks; i++)
	{
		const cat_table *st = asks[i].st;
		buf sql;
		PGresult *res;
		int n = 0;

		if (asks[i].kind != ASK_PAIR || asks[i].dst_count != 0 || asks[i].src_count >= 0)
			continue;
		buf_init(&sql, 256);
		buf_puts(&sql, "SELECT ");
		for (int j = i; j < nasks; j++)
			if (asks[j].kind == ASK_PAIR && asks[j].dst_count == 0 && asks[j].st == st)
			{
				buf_puts(&sql, n++ ? ", count(" : "count(");
				pg_append_ident(&sql, asks[j].s->name);
				buf_putc(&sql, ')');
			}
		buf_puts(&sql, " FROM ");
		pg_append_ident(&sql, st->schema);
		buf_putc(&sql, '.');
		pg_append_ident(&sql, st->name);
		res = pg_query(src, buf_cstr(&sql), 0, NULL);
		buf_free(&sql);
		if (res == NULL)
			return false;
		n = 0;
		for (int j = i; j < nasks; j++)
			if (asks[j].kind == ASK_PAIR && asks[j].dst_count == 0 && asks[j].st == st)
				asks[j].src_count = atoll(PQgetvalue(res, 0, n++));
		PQclear(res);
	}
	return true;
}

/* what to count: legacy_* columns, and destination columns with a source column of their name */
static int
plan_asks(const plan_entity *e, const cat_table *t, const cat_table **stables, int nst, ask **out)
{
	int n = 0;

	*out = NULL;
	for (int c = 0; c < t->ncols; c++)
	{
		const cat_column *d = &t->cols[c];

		if (computed(e, d) || plan_lists_default(e, d->name))
			continue;
		if (strncmp(d->name, "legacy_", 7) == 0 && !in_list(e->nkey, e->key, d->name))
		{
			*out = xrealloc(*out, sizeof(ask) * (size_t) (n + 1));
			(*out)[n++] = (ask) {ASK_LEGACY, d, NULL, NULL, -1, -1};
		}
		for (int s = 0; s < nst; s++)
			for (int sc = 0; sc < stables[s]->ncols; sc++)
			{
				const cat_column *scol = &stables[s]->cols[sc];

				if (plan_lists_unused(e, stables[s]->qname, scol->name) ||
					!coverage_names_similar(scol->name, d->name))
					continue;
				*out = xrealloc(*out, sizeof(ask) * (size_t) (n + 1));
				(*out)[n++] = (ask) {ASK_PAIR, d, stables[s], scol, -1, -1};
			}
	}
	return n;
}

static void
report_counts(const plan_entity *e, const cat_table *t, bool key_in_target, long long rows,
			  long long keyless, const ask *asks, int nasks, vresult *r)
{
	buf d;
	bool legacy_ok = keyless == 0;

	buf_init(&d, 256);
	if (key_in_target && keyless > 0)
	{
		buf_printf(&d, "%lld of %lld rows of %s have no legacy key (", keyless, rows, t->qname);
		for (int k = 0; k < e->nkey; k++)
			buf_printf(&d, "%s%s", k ? ", " : "", e->key[k]);
		buf_puts(&d, " NULL)");
		result_check(r, "legacy key", false, buf_cstr(&d));
	}
	for (int i = 0; i < nasks; i++)
	{
		const ask *a = &asks[i];

		if (rows == 0 || a->dst_count != 0)
			continue;
		buf_reset(&d);
		if (a->kind == ASK_LEGACY)
		{
			buf_printf(&d, "%s.%s is NULL in every row (%lld): the legacy key it names is not kept; "
					   "feed it in the extract query, or list it \"default %s\" if it stays empty "
					   "on purpose", t->qname, a->d->name, rows, a->d->name);
			result_check(r, "legacy key", false, buf_cstr(&d));
			legacy_ok = false;
		}
		else if (a->src_count > 0)
		{
			buf_printf(&d, "%s.%s is NULL in every row (%lld), while the source's %s.%s has %lld "
					   "values: feed it from %s, or list \"unused %s\" and \"default %s\" if it is "
					   "dropped on purpose", t->qname, a->d->name, rows, a->st->qname, a->s->name,
					   a->src_count, a->s->name, a->s->name, a->d->name);
			result_check(r, "all NULL", false, buf_cstr(&d));
		}
	}
	if (legacy_ok && key_in_target)
		result_check(r, "legacy key", true, "every row has its legacy key");
	buf_free(&d);
}

int
verify_coverage(vctx *c, const plan_entity *e, vresult *r)
{
	char **snames = xcalloc((size_t) e->nmerges + 2, sizeof(char *));
	int ns = 0, nasks = 0, nst = 0, code = FERRY_EXIT_OK;
	catalog scat, tcat;
	cov_findings fs = {0};
	cov_sides sides;
	const cat_table **stables = xcalloc((size_t) e->nmerges + 2, sizeof *stables);
	const cat_table *t;
	ask *asks = NULL;
	long long rows = 0, keyless = 0;
	bool key_in_target;

	if (e->source)
		snames[ns++] = e->source;
	for (int m = 0; m < e->nmerges; m++)
		snames[ns++] = e->merges[m];
	if (!catalog_read_tables(c->src, ns, snames, &scat))
	{
		free(snames);
		free(stables);
		return FERRY_EXIT_SOURCE;
	}
	if (!catalog_read_tables(c->dst, 1, (char **) &e->target, &tcat))
	{
		catalog_free(&scat);
		free(snames);
		free(stables);
		return FERRY_EXIT_TARGET;
	}
	sides.scat = &scat;
	sides.tcat = &tcat;
	sides.src = c->src;
	sides.dst = NULL;
	if (!coverage_entity(c->p, e, &sides, &fs))
		code = FERRY_EXIT_SOURCE;
	else
		static_findings(&fs, r);

	t = tcat.ntables > 0 ? &tcat.tables[0] : NULL;
	for (int i = 0; i < scat.ntables; i++)
		stables[nst++] = &scat.tables[i];
	key_in_target = t != NULL && e->nkey > 0;
	for (int k = 0; t && k < e->nkey; k++)
		if (table_column(t, e->key[k]) < 0 || in_list(e->ndrop, e->drop, e->key[k]))
			key_in_target = false;
	if (code == FERRY_EXIT_OK && t)
	{
		nasks = plan_asks(e, t, stables, nst, &asks);
		if (!count_destination(c->dst, e, t, key_in_target, asks, nasks, &rows, &keyless))
			code = FERRY_EXIT_TARGET;
		else if (rows > 0 && !count_source(c->src, asks, nasks))
			code = FERRY_EXIT_SOURCE;
		else
			report_counts(e, t, key_in_target, rows, keyless, asks, nasks, r);
	}
	free(asks);
	coverage_free(&fs);
	catalog_free(&scat);
	catalog_free(&tcat);
	free(snames);
	free(stables);
	return code;
}
