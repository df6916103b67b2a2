/*
 * generate.h: write a plan from the source and destination catalogs.
 */
#ifndef FERRY_PLAN_GENERATE_H
#define FERRY_PLAN_GENERATE_H

#include <stdbool.h>
#include <libpq-fe.h>

#include "buf.h"
#include "catalog.h"

typedef struct gen_options
{
	const char *timezone;        /* zone of legacy timestamp values (default UTC) */
	int ntarget_schemas;
	char **target_schemas;       /* the first one: entity names without schema */
	int nsource_schemas;
	char **source_schemas;       /* none: every user schema */
	const char *source_desc;     /* "host=... dbname=..." for the header */
	const char *target_desc;
	const char *generated_at;    /* NULL: no date in the header */
} gen_options;

typedef struct gen_stats
{
	int entities;
	int migrated;
	int not_migrated;
	int skeletons;               /* destination tables nobody feeds */
	int todos;                   /* TODO lines written */
	int deferred;                /* foreign keys made "defer" to break cycles */
	int forwarded;               /* NOT NULL foreign keys made "forward" to break cycles */
} gen_stats;

/*
 * Match source tables to destination tables, map their columns, order
 * the entities and write the plan text into out.  src is used to read
 * the rows of a content-type table (poly).  False on error (logged).
 */
bool plan_generate(PGconn *src, const catalog *scat, const catalog *tcat,
				   const gen_options *o, buf *out, gen_stats *stats);

#endif
