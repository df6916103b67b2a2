/*
 * names.h: naming conventions of ferry-plan, and SQL quoting for readable queries.
 */
#ifndef FERRY_PLAN_NAMES_H
#define FERRY_PLAN_NAMES_H

#include <stdbool.h>

#include "buf.h"
#include "catalog.h"

bool starts_with(const char *s, const char *prefix);
bool ends_with(const char *s, const char *suffix);

/* English plural of a table-ish word: y -> ies, s/x/z/ch/sh -> es, else +s (malloc'ed) */
char *pluralize(const char *word);

/* is name one of the usual names of a creation / last-change timestamp? */
bool is_creation_name(const char *name);
bool is_update_name(const char *name);

/*
 * A constant default: a literal ('x'::type, a number, true/false), not a
 * function call such as now().  On true, *text is the literal's value
 * (malloc'ed) and *quoted whether it was a string literal.
 */
bool constant_default(const char *def, char **text, bool *quoted);

/* identifier, quoted only when it needs to be (keywords from the catalog) */
void sql_ident(buf *b, const catalog *cat, const char *name);
/* schema.table, each part quoted when needed */
void sql_table(buf *b, const catalog *cat, const cat_table *t);
/* 'literal' (E'' when it holds a backslash) */
void sql_literal(buf *b, const char *s);

/* integer types, by pg_type.typname */
bool is_integer_type(const char *base);

#endif
