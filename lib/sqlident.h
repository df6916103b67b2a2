/*
 * sqlident.h: the identifiers an SQL text names, as PostgreSQL reads them.
 *
 * The coverage rule of a plan (man/ferry-plan.5, COVERAGE) says a source
 * column is read by an extract query when its name appears in the query
 * as an identifier: bare (folded to lower case, as SQL folds it) or
 * "quoted" (kept as written, "" read as one quote).  String literals
 * ('...', E'...', $tag$...$tag$), comments (-- and nested / * * /),
 * numbers and parameters ($1) name nothing.  A keyword is an identifier
 * here too: a column named "date" is read by a query that casts to ::date.
 */
#ifndef FERRY_SQLIDENT_H
#define FERRY_SQLIDENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sql_ident
{
	char *name;          /* folded (bare) or unquoted (quoted) */
	size_t offset;       /* byte offset of the token in the text */
} sql_ident;

typedef struct sql_idents
{
	int n;
	sql_ident *v;        /* in text order */
} sql_idents;

/* every identifier of sql, in order (out is reset first) */
void sql_idents_scan(const char *sql, sql_idents *out);
void sql_idents_free(sql_idents *ids);
/* is name (a catalog name, exact) one of them? */
bool sql_idents_has(const sql_idents *ids, const char *name);
/* byte offset of the last occurrence of name, -1 if none */
long sql_idents_last(const sql_idents *ids, const char *name);

#endif
