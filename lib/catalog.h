/*
 * catalog.h: what ferry-plan and ferry-verify read from pg_catalog on either side.
 */
#ifndef FERRY_CATALOG_H
#define FERRY_CATALOG_H

#include <stdbool.h>
#include <libpq-fe.h>

typedef struct cat_column
{
	char *name;
	char *type;            /* format_type(): "character(1)", "smallint[]" */
	char *base;            /* pg_type.typname of the type, domains resolved: bpchar, int4, _int2 */
	char category;         /* pg_type.typcategory of that type: S, N, B, D, U (json), A (array) ... */
	bool notnull;
	char *def;             /* default expression, NULL if none */
	bool generated;        /* generated column or identity ALWAYS: never loaded */
	int attnum;            /* pg_attribute.attnum: keys are read as these */
} cat_column;

typedef struct cat_table cat_table;

typedef struct cat_fk
{
	char *name;
	int ncols;
	int *cols;             /* column indexes in the table */
	cat_table *ref;        /* NULL when the referenced table was not read */
	int *refcols;          /* column indexes in ref */
	bool deferrable;       /* DEFERRABLE: checked at commit when deferred */
} cat_fk;

typedef struct cat_unique
{
	int ncols;
	int *cols;
} cat_unique;

struct cat_table
{
	unsigned int oid;
	char *schema;
	char *name;
	char *qname;           /* schema.name */
	double rows;           /* estimate, -1 if never analyzed */
	int ncols;
	cat_column *cols;
	int npk;
	int *pk;               /* primary key column indexes */
	int nuniq;
	cat_unique *uniq;      /* unique constraints and plain unique indexes (primary key included) */
	int nfk;
	cat_fk *fks;
	int ntriggers;
	char **triggers;       /* "name (BEFORE UPDATE)" of user triggers */
	int nchecks;
	char **checks;         /* CHECK constraint definitions */
	bool selected;         /* in the schemas asked for (or referenced by one of those) */
};

typedef struct catalog
{
	int ntables;
	cat_table *tables;
	int nkeywords;
	char **keywords;       /* keywords that need quoting as a column name */
} catalog;

/*
 * Read every user table of the database behind conn (partitions folded
 * into their parent).  selected: tables in schemas[] (all user schemas
 * when nschemas is 0), plus, with follow_fks, every table those reference
 * through foreign keys, transitively.  False on error (logged).
 */
bool catalog_read(PGconn *conn, int nschemas, char **schemas, bool follow_fks, catalog *cat);
/*
 * Only the tables named (schema.table, as qname) and their columns: no
 * keys, foreign keys, checks, triggers or keywords (ferry-verify, which
 * needs a few tables' columns, quickly).
 */
bool catalog_read_tables(PGconn *conn, int ntables, char **tables, catalog *cat);
void catalog_free(catalog *cat);

cat_table *catalog_find(const catalog *cat, const char *schema, const char *name);
/* index of a column by name, -1 if none */
int table_column(const cat_table *t, const char *name);
/* is column set cols[0..n-1] (any order) the primary key or a unique key? */
bool table_is_unique(const cat_table *t, int n, const int *cols);
/* the single-column foreign key on column c, NULL if none (first if several) */
cat_fk *table_fk_on(const cat_table *t, int c);

#endif
