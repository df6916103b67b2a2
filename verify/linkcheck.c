/*
 * linkcheck.c: the cycles of a link entity in the destination (see linkcheck.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "exitcode.h"
#include "linkcheck.h"
#include "linkgraph.h"
#include "log.h"
#include "pgconn.h"

/* cycles named in the report line */
#define NAMED_CYCLES 5
/* keys named per cycle */
#define NAMED_KEYS 12

static const plan_ref *
ref_of(const plan_entity *e, const char *column)
{
	for (int i = 0; i < e->nrefs; i++)
		if (strcmp(e->refs[i].column, column) == 0)
			return &e->refs[i];
	return NULL;
}

/* the legacy key of link column col of alias t: through the id map when it holds a uuid */
static void
key_expr(buf *sql, const plan_ref *r, const char *col, const char *map, bool books)
{
	if (books && r && r->kind != REF_CHECK)
		buf_printf(sql, "coalesce(%s.legacy_id, t.", map);
	else
		buf_puts(sql, "(t.");
	pg_append_ident(sql, col);
	buf_puts(sql, "::text)");
}

static void
map_join(buf *sql, const plan_ref *r, const char *col, const char *map, bool books)
{
	if (!(books && r && r->kind != REF_CHECK))
		return;
	buf_printf(sql, " LEFT JOIN ferry.id_map %s ON %s.entity = ", map, map);
	pg_append_literal(sql, r->entity);
	buf_printf(sql, " AND %s.uuid = t.", map);
	pg_append_ident(sql, col);
}

/* a whole int64 in decimal */
static bool
int_key(const char *s, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return *s && *end == '\0' && errno == 0;
}

static void
label(linkgraph *g, bool ints, int64_t node, buf *out)
{
	if (ints)
		buf_printf(out, "%lld", (long long) node);
	else
		buf_puts(out, linkgraph_text(g, node));
}

int
verify_links(PGconn *dst, const plan_entity *e, bool books, vresult *r)
{
	const plan_links *pl = e->links;
	const plan_ref *from = ref_of(e, pl->from_column), *to = ref_of(e, pl->to_column);
	const char *of = from ? from->entity : pl->from_column;
	buf sql, what;
	PGresult *res;
	linkgraph *g;
	bool ints = true, ok;
	int rows, on = 0;
	size_t ncycles;

	buf_init(&sql, 512);
	buf_puts(&sql, "SELECT ");
	key_expr(&sql, from, pl->from_column, "ma", books);
	buf_puts(&sql, ", ");
	key_expr(&sql, to, pl->to_column, "mb", books);
	buf_puts(&sql, " FROM ");
	pg_append_qualified(&sql, e->target);
	buf_puts(&sql, " t");
	map_join(&sql, from, pl->from_column, "ma", books);
	map_join(&sql, to, pl->to_column, "mb", books);
	buf_puts(&sql, " WHERE t.");
	pg_append_ident(&sql, pl->from_column);
	buf_puts(&sql, " IS NOT NULL AND t.");
	pg_append_ident(&sql, pl->to_column);
	buf_puts(&sql, " IS NOT NULL");
	res = pg_query(dst, buf_cstr(&sql), 0, NULL);
	buf_free(&sql);
	if (res == NULL)
		return FERRY_EXIT_TARGET;

	/* integer keys are nodes as they are (and cycles start at the smallest) */
	rows = PQntuples(res);
	for (int i = 0; i < rows && ints; i++)
	{
		long long v;

		ints = int_key(PQgetvalue(res, i, 0), &v) && int_key(PQgetvalue(res, i, 1), &v);
	}
	g = linkgraph_new();
	for (int i = 0; i < rows; i++)
	{
		const char *a = PQgetvalue(res, i, 0), *b = PQgetvalue(res, i, 1);
		long long x = 0, y = 0;

		if (ints)
		{
			int_key(a, &x);
			int_key(b, &y);
			linkgraph_add(g, x, y);
		}
		else
			linkgraph_add(g, linkgraph_intern(g, a, strlen(a)), linkgraph_intern(g, b, strlen(b)));
	}
	PQclear(res);
	linkgraph_solve(g);
	ncycles = linkgraph_cycles(g);
	for (size_t k = 0; k < linkgraph_edges(g); k++)
		if (linkgraph_cycle_of(g, k) >= 0)
			on++;

	buf_init(&what, 256);
	ok = ncycles == 0 || pl->cycle == LINKS_NOTE;
	if (ncycles == 0)
		buf_printf(&what, "none among %d links of %s", rows, of);
	else
	{
		buf_printf(&what, "%zu cycle(s) through %s, %d link row(s) on them (%s): ", ncycles, of, on,
				   pl->cycle == LINKS_NOTE ? "cycle=note: loaded on purpose, noted by the transform"
				   : "cycle=reject: none should have been loaded");
		for (size_t k = 0; k < ncycles && k < NAMED_CYCLES; k++)
		{
			int64_t nodes[NAMED_KEYS];
			size_t len = linkgraph_cycle_path(g, k, nodes, NAMED_KEYS);

			if (k)
				buf_puts(&what, "; ");
			for (size_t i = 0; i < len && i < NAMED_KEYS; i++)
			{
				label(g, ints, nodes[i], &what);
				buf_puts(&what, " -> ");
			}
			if (len > NAMED_KEYS)
				buf_printf(&what, "... (%zu keys) -> ", len);
			label(g, ints, nodes[0], &what);
		}
		if (ncycles > NAMED_CYCLES)
			buf_printf(&what, "; and %zu more", ncycles - NAMED_CYCLES);
	}
	printf("%s: links cycles: %s, %s\n", e->name, ok ? "ok" : "FAILED", buf_cstr(&what));
	result_check(r, "links cycles", ok, buf_cstr(&what));
	buf_free(&what);
	linkgraph_free(g);
	return FERRY_EXIT_OK;
}
