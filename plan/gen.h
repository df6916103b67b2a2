/*
 * gen.h: the parts of the plan generator (generate.c drives them):
 *   match.c    source tables to destination tables (legacy keys, names)
 *   columns.c  destination columns from source columns
 *   convert.c  the SQL conversion of one column
 *   refs.c     references, generic relations, cycles
 *   query.c    the extract query text
 *   write.c    the plan text
 */
#ifndef FERRY_PLAN_GEN_H
#define FERRY_PLAN_GEN_H

#include <stdbool.h>

#include "buf.h"
#include "catalog.h"
#include "generate.h"
#include "plan.h"

#define MAXKEY 16
#define MAXMERGE 8

typedef struct kmatch
{
	cat_table *s;
	int nkey;
	int keycols[MAXKEY];       /* source key columns */
	int destcols[MAXKEY];      /* destination columns holding them */
	bool composite;
	bool partial;              /* one column of a longer primary key */
} kmatch;

typedef struct merge
{
	cat_table *t;
	char alias[16];
	int tcol;                  /* join column in t */
	int scol;                  /* join column in the main table */
	int keycol;                /* t's one-column primary key */
	int destcol;               /* destination column for that key, -1 if none */
	bool *used;
} merge;

typedef enum dc_state
{
	DC_UNSET = 0,
	DC_UUID,                   /* computed by the transform */
	DC_DEPTH,                  /* computed by the transform (tree depth) */
	DC_FED,                    /* expr */
	DC_TODO,                   /* NULL placeholder with a TODO */
	DC_GENERATED               /* generated or identity column: never loaded */
} dc_state;

typedef struct dcol
{
	dc_state state;
	char *expr;
	char *comment;             /* SQL comment on the line, may be NULL */
	const char *alias;         /* source alias feeding it (NULL: computed) */
	cat_table *stab;
	int scol;
	bool nullable;             /* the source value may be NULL */
	bool is_ref;               /* a legacy key mapped by the transform */
	bool asked;                /* left over, and named by a TODO */
} dcol;

typedef struct gen_entity
{
	char *name;
	cat_table *src;            /* main source, NULL for a skeleton */
	cat_table *dst;            /* NULL: not migrated */
	int nkm;
	kmatch *km;                /* legacy key matches of dst */
	int nkey;
	int keycols[MAXKEY];
	int keydest[MAXKEY];       /* destination column, -1: a drop column */
	char *keyname[MAXKEY];     /* output column name */
	int nmerge;
	merge merges[MAXMERGE];
	bool *used;                /* main source columns used */
	dcol *dc;                  /* per destination column */
	cat_table *ct;             /* content-type table of a poly */
	int ct_col;                /* column of src referencing it */
	int uuidcol;               /* destination uuid primary key, -1 if none */
	plan_entity pe;
	buf notes;                 /* '#' lines written above the entity */
	char **unused_why;         /* why each pe.unused_cols is not migrated */
	char *default_why;         /* why pe.defaults are left to their default */
	bool unused_asked;         /* a TODO names the source columns not read */
	buf sql;                   /* the extract query */
	const char *match_how;     /* "legacy key column ...", "name" */
	bool skeleton;
	bool name_matched;
} gen_entity;

typedef struct gen
{
	PGconn *src;
	const catalog *scat;
	const catalog *tcat;
	const gen_options *o;
	int nent;
	gen_entity *ents;
	int todos;
	int deferred;
	int forwarded;
	buf cycle_notes;
} gen;

/* a source column as an entity's query reads it */
typedef struct srcpos
{
	const char *alias;
	cat_table *t;
	int col;
	bool nullable;
	bool *used;
} srcpos;

/* generate.c: helpers and entities */
void strv_push(int *n, char ***v, const char *s);
char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
void flatten(char *p, size_t n);
bool is_first_schema(const gen *g, const char *schema);
void note(gen_entity *e, const char *f, ...) __attribute__((format(printf, 2, 3)));
void entity_todo(gen *g, gen_entity *e, const char *f, ...)
	__attribute__((format(printf, 3, 4)));
const char *rows_text(double rows);
gen_entity *new_entity(gen *g);
gen_entity *entity_of_dst(gen *g, const cat_table *d);
gen_entity *entity_of_src(gen *g, const cat_table *s);

/* match.c */
const char *model_of(const gen *g, const cat_table *s);
bool is_content_type_table(const cat_table *t);
bool references(const cat_table *a, const cat_table *b);
void match_destinations(gen *g);
void match_by_name(gen *g);
void unmatched_sources(gen *g);
void skeleton(gen *g, gen_entity *e);

/* columns.c */
int entity_tables(gen_entity *e, srcpos *out);
char *unused_columns(gen_entity *e, bool qualified);
cat_fk *dst_fk(const cat_table *d, int c);
bool is_uuid_col(const cat_column *c);
void build_columns(gen *g, gen_entity *e);

/* convert.c */
bool is_json(const char *base);
/*
 * Could a value of source column s feed destination column d: the same
 * type, types of one kind (numbers, text, a date into a timestamp), or a
 * conversion convert() writes (a Y/N flag, JSON or a list in text); not
 * strict: also any text, which the load's input function parses.
 */
bool types_fit(const cat_column *s, const cat_column *d, bool strict);
void col_ref(gen *g, buf *b, const char *alias, const cat_table *t, int c);
void convert(gen *g, const char *alias, const cat_table *st, int sc, const cat_column *dc,
			 bool nullable, buf *expr, buf *why);

/* refs.c */
void map_poly(gen *g, gen_entity *e);
void add_ref(gen_entity *e, const char *col, const char *entity, ref_kind kind, missing_policy pol);
void map_references(gen *g, gen_entity *e);
void break_cycles(gen *g);

/* coverage.c */
void cover_entity(gen *g, gen_entity *e);

/* query.c */
void build_query(gen *g, gen_entity *e);

/* write.c */
void write_plan(gen *g, buf *out, const int *order, int nmig, int nskel, int nnot);

#endif
