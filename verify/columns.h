/*
 * columns.h: catalog look-ups and SQL expressions for compared columns
 * (columns.c).
 */
#ifndef FERRY_VERIFY_COLUMNS_H
#define FERRY_VERIFY_COLUMNS_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "buf.h"
#include "verify.h"

/* the type of column name among names/types, NULL if none */
const char *column_type(char **names, char **types, int n, const char *name);
bool type_is_integer(const char *type);
/*
 * SQL: the text of alias.column as COPY would print it on the source (as
 * the stream carries it): the output function's text, where a cast to
 * text would differ (boolean t/f, bpchar padding).
 */
void sql_src_out(buf *sql, const char *alias, const char *column, const char *src_type);
/* SQL: the legacy key text of alias's row on the source (key_text_append in SQL) */
void sql_src_key(buf *sql, const ventity *v, const char *alias);

#endif
