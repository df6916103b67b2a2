/*
 * counts.c: counts mode, for two tables without a plan (--source-table A
 * --target-table B): the rows the source has against the rows the
 * destination has, less the rows the run set aside as rejects.
 */
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "counts.h"
#include "exitcode.h"
#include "log.h"
#include "pgconn.h"

static long long
count_rows(PGconn *conn, const char *from_sql)
{
	buf b;
	PGresult *res;
	long long n;

	buf_init(&b, 256);
	buf_printf(&b, "SELECT count(*) FROM %s", from_sql);
	res = pg_query(conn, buf_cstr(&b), 0, NULL);
	buf_free(&b);
	if (res == NULL)
		return -1;
	n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

int
verify_counts(PGconn *src, PGconn *dst, const char *source_table, const char *target_table,
			  const char *run, const char *entity)
{
	buf src_from, dst_from;
	long long nsrc, ndst, nrej = 0;

	buf_init(&src_from, 128);
	buf_init(&dst_from, 128);
	pg_append_qualified(&src_from, source_table);
	pg_append_qualified(&dst_from, target_table);
	nsrc = count_rows(src, buf_cstr(&src_from));
	ndst = nsrc < 0 ? -1 : count_rows(dst, buf_cstr(&dst_from));
	buf_free(&src_from);
	buf_free(&dst_from);
	if (nsrc < 0)
		return FERRY_EXIT_SOURCE;
	if (ndst < 0)
		return FERRY_EXIT_TARGET;
	if (run && entity)
	{
		const char *params[2] = {run, entity};
		PGresult *res = pg_query(dst, "SELECT count(*) FROM ferry.rejects WHERE run_id = $1 "
								 "AND entity = $2 AND disposition = 'rejected'", 2, params);

		if (res == NULL)
			return FERRY_EXIT_TARGET;
		nrej = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	bool ok = nsrc == ndst + nrej;

	printf("%s: source %lld, destination %lld, rejected %lld: %s\n", target_table, nsrc, ndst, nrej,
		   ok ? "ok" : nsrc > ndst + nrej ? "rows missing" : "rows extra");
	event_emit("verify_counts", "\"source\":%lld,\"target\":%lld,\"rejected\":%lld,\"ok\":%s",
			   nsrc, ndst, nrej, ok ? "true" : "false");
	return ok ? FERRY_EXIT_OK : FERRY_EXIT_VERIFY;
}
