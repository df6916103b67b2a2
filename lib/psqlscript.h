/*
 * psqlscript.h: run a psql script from C, its variables bound as
 * parameters (the subset ferry's scripts use; see psqlscript.c).
 */
#ifndef FERRY_PSQLSCRIPT_H
#define FERRY_PSQLSCRIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>

typedef struct psql_vars
{
	int n, cap;
	char **name;
	char **value;
} psql_vars;

void psql_var_set(psql_vars *v, const char *name, const char *value);
const char *psql_var_get(const psql_vars *v, const char *name);
void psql_vars_free(psql_vars *v);

/*
 * Run a psql script on conn the way "psql -v NAME=VALUE -f FILE" would,
 * for the subset ferry's scripts use: \set, \if :{?var} / \else / \endif,
 * statements ending in ";" or "\gset", and :'var' / :var, which become
 * bound parameters ($1 ...), never text of the query.  *last gets the
 * result of the last statement that returned rows (NULL if none).  false:
 * a failed statement (*last holds its result, to be read and cleared) or
 * a script outside that subset (err says what).
 */
bool psql_script_run(PGconn *conn, const char *script, psql_vars *vars, PGresult **last,
					 char *err, size_t errlen);

#endif
