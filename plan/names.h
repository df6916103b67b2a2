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

/*
 * Singular and plural of a table-ish name, acting on its last word
 * (us_state <-> us_states): y <-> ies, s/x/z/ch/sh + es, a few irregular
 * words (person/people), else + s.  All malloc'ed.  singularize() returns
 * a word that is not plural as it is (address, status).
 */
char *pluralize(const char *word);
char *singularize(const char *word);
/* a and b name the same thing, singular or plural either way round */
bool same_noun(const char *a, const char *b);

/*
 * Do two column names say the same thing?  Their words (split on _, case
 * folded) are the same set once abbreviations are expanded (no, num ->
 * number; dob -> date of birth; qty, amt ...), plurals made singular and
 * fillers (of, the, is ...) dropped, or differ only by a time word (at,
 * on, date, time): birth_date ~ date_of_birth, tracking_no ~
 * tracking_number, shipped_on ~ shipped_at; not user_id ~ author_id.
 */
bool similar_names(const char *a, const char *b);

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
