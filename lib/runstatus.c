/*
 * runstatus.c: a run's status object from the books, made by
 * scripts/sql/status.sql (the one file that defines it), run with its
 * variables bound as parameters (psqlscript.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "psqlscript.h"
#include "runstatus.h"

static char *status_sql;        /* the text of status.sql */

static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	buf b;
	char chunk[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 16384);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	if (ferror(f))
	{
		fclose(f);
		buf_free(&b);
		return NULL;
	}
	fclose(f);
	buf_cstr(&b);
	return b.data;
}

bool
run_status_init(const char *share_dir)
{
	/* as the driver looks for it: --share, $FERRY_SHARE, installed, a source tree */
	char exe[PATH_MAX];
	const char *env = getenv("FERRY_SHARE");
	ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
	buf dirs[4], path;
	int n = 0;
	bool found = false;

	if (status_sql)
		return true;
	if (share_dir && *share_dir)
		buf_init(&dirs[n], 256), buf_puts(&dirs[n++], share_dir);
	else
	{
		if (env && *env)
			buf_init(&dirs[n], 256), buf_puts(&dirs[n++], env);
		if (len > 0)
		{
			exe[len] = '\0';
			char *slash = strrchr(exe, '/');

			if (slash)
				*slash = '\0';
			/* PREFIX/bin -> PREFIX/share/ferry/sql; build/FLAVOR/bin -> scripts/sql */
			buf_init(&dirs[n], 256), buf_printf(&dirs[n++], "%s/../share/ferry/sql", exe);
			buf_init(&dirs[n], 256), buf_printf(&dirs[n++], "%s/../../../scripts/sql", exe);
		}
	}
	buf_init(&path, 256);
	for (int i = 0; i < n && !found; i++)
	{
		buf_reset(&path);
		buf_printf(&path, "%s/status.sql", buf_cstr(&dirs[i]));
		status_sql = read_text(path.data);
		if (status_sql)
		{
			log_info("status of a run: %s", path.data);
			found = true;
		}
	}
	if (!found)
		log_error("cannot find status.sql in %s (set --share DIR or FERRY_SHARE to ferry's share/ferry/sql)",
				  n ? buf_cstr(&dirs[0]) : "the share directory");
	for (int i = 0; i < n; i++)
		buf_free(&dirs[i]);
	buf_free(&path);
	return found;
}

bool
run_status_json(PGconn *conn, const char *run, bool detail, buf *out, PGresult **res)
{
	psql_vars vars = {0};
	char err[256];
	bool ok;

	*res = NULL;
	buf_reset(out);
	if (!run_status_init(NULL))
		return false;
	psql_var_set(&vars, "run", run);
	psql_var_set(&vars, "detail", detail ? "1" : "0");
	ok = psql_script_run(conn, status_sql, &vars, res, err, sizeof err);
	psql_vars_free(&vars);
	if (!ok)
	{
		if (*res == NULL)
			log_error("status.sql: %s", err);
		return false;
	}
	if (*res && PQntuples(*res) == 1 && !PQgetisnull(*res, 0, 0))
		buf_puts(out, PQgetvalue(*res, 0, 0));
	PQclear(*res);
	*res = NULL;
	return true;
}
