/*
 * plan.h: the migration plan (see man/ferry-plan.5).
 *
 * A plan file says, for each entity, where its rows come from (an extract
 * query on the source), where they go (a destination table), which columns
 * hold legacy keys of which entity, and how the stages treat them.  It is
 * written by "ferry plan" from the catalogs, read and edited by a DBA, and
 * read by every stage (--plan FILE --entity NAME) and by the driver.
 *
 * Syntax, one directive per line, '#' starts a comment line:
 *
 *   ferry-plan 1
 *   namespace   UUID                 UUIDv5 namespace (default: ferry's)
 *   sources     SCHEMA[,SCHEMA...]   the source schemas the plan covers: each of
 *                                    their tables is an entity's source or merge
 *   TODO: text                       unresolved; "ferry run" refuses the plan
 *
 *   entity NAME
 *     source      SCHEMA.TABLE       legacy table (messages, counts)
 *     target      SCHEMA.TABLE | -   destination table; "-" = not migrated
 *     keyspace    NAME               UUID key space (default: source table name)
 *     key         COL[,COL...]       output columns holding the legacy key
 *     uuid        COL                destination column given UUIDv5(keyspace, key)
 *     drop        COL                output column used by the stages, not loaded
 *     ref         COL ENTITY [reject|null]    COL holds a legacy key of ENTITY:
 *                                    mapped to its UUID; when ENTITY has no such
 *                                    row: reject the row (default) or load NULL
 *     check       COL ENTITY [reject|null]    same, but the value is kept (natural key)
 *     defer       COL ENTITY         breaks a foreign-key cycle: loaded NULL, then
 *                                    set by a fix-up step once ENTITY is loaded
 *     forward     COL ENTITY [reject|null]    breaks a foreign-key cycle whose column
 *                                    is NOT NULL: mapped to the UUID from the legacy
 *                                    key alone, checked against ENTITY's keys in the
 *                                    source; ENTITY may load after this entity
 *     tree        PARENTCOL [depth=COL] [orphan=root|reject] [cycle=reject|root]
 *                                    self reference: parents are emitted before
 *                                    children; PARENTCOL is mapped like a ref
 *     poly        TYPECOL IDCOL [missing=reject|null]   generic relation: TYPECOL
 *                                    holds an entity name, IDCOL a legacy key of it
 *     links       FROMCOL TOCOL [cycle=note|reject]   a link entity: each row links
 *                                    two rows of one entity (both columns are refs
 *                                    to it); cycles through the links are noted
 *                                    (default) or their rows rejected (link_cycle)
 *     depends     ENTITY...          extra ordering constraints
 *     incremental EXPR               SQL over the extract query's columns (alias q)
 *                                    telling when a row last changed; "keys": the
 *                                    entity is append-only, new keys are its changes
 *     unwatched   SCHEMA.TABLE[,...] tables the extract reads whose changes alone an
 *                                    incremental run need not see, on purpose (else
 *                                    the entity is read whole: lib/watch.h)
 *     conflict    COL[,COL...]       unique columns for upserts (default: key)
 *     deletes     delete|keep|flag COL   rows an incremental run finds gone from
 *                                    the source: deleted (default), kept, or kept
 *                                    with COL set to the deletion time (ferry-delete)
 *     repair      COL VALUE          when the destination refuses a value of COL (it does
 *                                    not parse, or breaks NOT NULL), load VALUE (or NULL)
 *                                    there instead and note it with the original row
 *     merges      SCHEMA.TABLE[,...] other source tables whose columns this entity
 *                                    migrates (joined in its extract): coverage
 *     unused      COL[,COL...] [in SCHEMA.TABLE]   source columns (of the source
 *                                    table, or of TABLE) not migrated, on purpose
 *     default     COL[,COL...]       destination columns left to their default, on purpose
 *     reason      TEXT               why the entity is not migrated (target -), or notes
 *     TODO: text
 *     extract                        (a line of the query containing "TODO:"
 *                                    is a TODO too)
 *       SELECT ...                   the extract query (any SQL, many lines)
 *     end
 *   end
 */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum ref_kind
{
	REF_UUID,      /* ref: legacy key -> UUID */
	REF_CHECK,     /* check: natural key, existence only */
	REF_DEFER,     /* defer: NULL now, fixed up later */
	REF_FORWARD    /* forward: UUID from the key now, the entity may load later */
} ref_kind;

/* the directive of a ref kind: "ref", "check", "defer", "forward" */
const char *plan_ref_kind_name(ref_kind kind);
/* does a ref of this kind order its entity after the one it names? */
bool plan_ref_orders(ref_kind kind);

typedef enum missing_policy
{
	MISSING_REJECT,
	MISSING_NULL
} missing_policy;

typedef struct plan_ref
{
	char *column;
	char *entity;
	ref_kind kind;
	missing_policy on_missing;
	int line;                 /* added: line of the directive (0 if built in memory) */
} plan_ref;

typedef enum tree_policy
{
	TREE_ROOT,      /* load the comment as a root, with a note */
	TREE_REJECT     /* reject it (and, for a cycle, the comments under it) */
} tree_policy;

typedef struct plan_tree
{
	char *parent_column;
	char *depth_column;        /* NULL: no depth column */
	tree_policy orphan;        /* default TREE_ROOT */
	tree_policy cycle;         /* default TREE_REJECT */
} plan_tree;

/* what an incremental run does with a row the source no longer has */
typedef enum deletes_policy
{
	DELETES_DELETE,  /* delete it (default) */
	DELETES_KEEP,    /* keep it as it is */
	DELETES_FLAG     /* keep it, its deletes_column set to the deletion time */
} deletes_policy;

/* "delete", "keep", "flag" */
const char *plan_deletes_name(deletes_policy policy);

typedef enum links_policy
{
	LINKS_NOTE,     /* load the rows of a cycle, with a note naming it */
	LINKS_REJECT    /* reject the rows of a cycle (reason link_cycle) */
} links_policy;

/* links FROMCOL TOCOL [cycle=note|reject]: the rows of a join table as edges */
typedef struct plan_links
{
	char *from_column;
	char *to_column;
	links_policy cycle;       /* default LINKS_NOTE */
} plan_links;

typedef struct plan_poly
{
	char *type_column;
	char *id_column;
	missing_policy on_missing; /* default MISSING_REJECT */
} plan_poly;

typedef struct plan_entity
{
	char *name;
	char *source;             /* NULL if not given */
	char *target;             /* NULL for "-" (not migrated) */
	char *keyspace;           /* defaulted from source when not given */
	int nkey;
	char **key;
	char *uuid_column;        /* NULL if none */
	int ndrop;
	char **drop;
	int nrefs;
	plan_ref *refs;
	plan_tree *tree;          /* NULL if none */
	plan_poly *poly;          /* NULL if none */
	plan_links *links;        /* NULL if none */
	int ndepends;
	char **depends;
	char *incremental;        /* NULL if none */
	int nunwatched;
	char **unwatched;         /* tables read whose changes need not be watched (watch.h) */
	int nconflict;
	char **conflict;          /* NULL: same as key */
	int nrepair;
	char **repair_cols;
	char **repair_vals;       /* the value's text; NULL entries stand for SQL NULL */
	char *extract_sql;        /* NULL if not given */
	int ntodo;
	char **todo;
	/* coverage: what the plan leaves out on purpose (see plan_covers_*) */
	int nmerges;
	char **merges;            /* other source tables the extract migrates columns of */
	int nunused;
	char **unused_cols;       /* source columns not migrated ... */
	char **unused_tables;     /* ... of this table (NULL: the entity's source) */
	int ndefaults;
	char **defaults;          /* destination columns left to their default */
	char *reason;             /* NULL if none */
	int line;                 /* line of "entity NAME" */
	/* added fields (zero when a plan is built in memory) */
	int *todo_line;           /* line of each TODO (a directive or an extract line) */
	int extract_line;         /* line of "extract" */
	int extract_end;          /* line of the "end" closing the extract */
	int end_line;             /* line of the "end" closing the entity */
	/* deletes delete|keep|flag COLUMN (zero: delete, the default) */
	deletes_policy deletes;
	char *deletes_column;     /* flag: the column set to the deletion time */
	int deletes_line;         /* 0: not given */
} plan_entity;

typedef struct plan
{
	int version;
	char *path;
	uint8_t ns[16];
	int ntodo;                /* top-level TODOs */
	char **todo;
	int nentities;
	plan_entity *entities;
	int *todo_line;           /* added: line of each top-level TODO */
	int nsources;
	char **sources;           /* source schemas covered (none: not stated) */
} plan;

/* parse a plan file; NULL on error, logged as "FILE:LINE: what is wrong" */
plan *plan_load(const char *path);
void plan_free(plan *p);
plan_entity *plan_find(const plan *p, const char *name);
/* the entity whose keys a ref/tree/poly points to, NULL if unknown */

/*
 * Is the plan complete and consistent?  Logs every problem: TODOs left,
 * refs to unknown entities, entities without key or extract query,
 * dependency cycles not broken by "defer".  Returns the number of problems.
 */
int plan_validate(const plan *p);

/*
 * The order entities load in: a topological sort over ref, check, poly
 * (the entities a poly column may name are not known statically, so an
 * entity with a poly goes after every other migrated entity) and depends;
 * self references and defer edges are not ordering edges.  order[] gets
 * entity indexes, level[] (may be NULL) the longest dependency chain below
 * each entity (entities of equal level are independent).  Returns false
 * and logs the cycle when there is one.
 */
bool plan_order(const plan *p, int *order, int *level);

/* write a plan back out in canonical form */
void plan_write(FILE *f, const plan *p);

/* ---- additions ---- */

/* parse a plan held in memory; name is used in messages ("FILE:LINE: ...") */
plan *plan_parse(const char *text, size_t len, const char *name);

/*
 * Find one dependency cycle among migrated entities (same edges as
 * plan_order).  On return cycle[0..n-1] are entity indexes where cycle[i]
 * depends on cycle[(i+1) % n], and why[i] (when why is not NULL) the ref of
 * cycle[i] making that edge, or NULL for a "depends" or "poly" edge.  Both
 * arrays need room for p->nentities.  Returns n, 0 when there is no cycle.
 */
int plan_find_cycle(const plan *p, int *cycle, const plan_ref **why);

/* the keyspace an entity gets by default from its source (malloc'ed) */
char *plan_default_keyspace(const char *source);

/* a column, entity or table name as the plan writes it: bare, or "quoted" */
void plan_write_name(FILE *f, const char *name);

/*
 * Coverage (man/ferry-plan.5, COVERAGE): is a source column of table
 * (SCHEMA.TABLE as the plan writes it) listed "unused" by entity e (the
 * entity's source when table is NULL)?  Is a destination column listed
 * "default"?
 */
bool plan_lists_unused(const plan_entity *e, const char *table, const char *column);
bool plan_lists_default(const plan_entity *e, const char *column);

#endif
