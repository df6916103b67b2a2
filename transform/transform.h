/*
 * transform.h: what ferry-transform does to each record.
 *
 * Only what SQL on the source cannot do: legacy keys become UUIDs (the
 * row's own, and every reference), references are checked against the
 * rows the destination has, rows that cannot be loaded are routed to the
 * stream's rejects with a reason, and (tree.c) self-referencing rows are
 * put in parent-before-child order.  Renames and drops are there for
 * standalone use; with a plan the extract query already names columns.
 */
#ifndef FERRY_TRANSFORM_H
#define FERRY_TRANSFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "keyset.h"
#include "plan.h"
#include "stream.h"

/*
 * Columns the extract query may add to say what it did to a row, so that
 * it is reported: "_ferry_note" (one "reason: detail" per line: the row is
 * loaded, repaired as the query says) and "_ferry_reject" ("reason:
 * detail": the row is set aside).  Neither is loaded.
 */
#define FERRY_NOTE_COLUMN "_ferry_note"
#define FERRY_REJECT_COLUMN "_ferry_reject"

typedef struct tf_ref
{
	char *column;            /* column holding a legacy key (after renames) */
	char *entity;            /* the entity it points to (messages) */
	char *keyspace;          /* that entity's UUID key space */
	ref_kind kind;           /* REF_UUID, REF_CHECK, REF_DEFER or REF_FORWARD */
	missing_policy on_missing;
	keyset *keys;            /* that entity's keys in the destination (forward: in the
	                          * source); NULL: unchecked */
	/*
	 * Loads keys when the first value needs them (then keys is set): a
	 * stream with no row, as an incremental run often has, reads no key
	 * set.  NULL: keys is what it is.
	 */
	keyset *(*load_keys)(void *load_ctx, const char *entity);
	void *load_ctx;
	int in;                  /* input column index (set by transform_prepare) */
} tf_ref;

/* a generic relation: TYPECOL names an entity, IDCOL holds one of its keys */
typedef struct tf_poly tf_poly;
struct tf_poly
{
	char *type_column;
	char *id_column;
	missing_policy on_missing;
	int nentities;
	char **entities;         /* entity names TYPECOL may hold */
	char **keyspaces;
	keyset **keys;           /* NULL entries: not loaded yet (or unchecked) */
	/* loads an entity's keys when first needed; NULL: unchecked */
	keyset *(*load_keys)(void *load_ctx, int entity);
	void *load_ctx;
	int type_in;
	int id_in;
};

typedef struct transform_spec
{
	uint8_t ns[16];
	const char *entity;
	const char *keyspace;    /* this entity's key space */
	int nkey;
	char **key;              /* legacy key columns (after renames) */
	const char *uuid_column; /* NULL: none */
	int nrename;
	char **rename_from;
	char **rename_to;
	int ndrop;
	char **drop;
	int nrefs;
	tf_ref *refs;
	tf_poly *poly;           /* NULL: none */
	const plan_tree *tree;   /* NULL: rows keep their order */
	const struct tree_options *tree_opts;  /* tree.h; NULL: the plan's policies */
	keyset *own_keys;        /* tree: this entity's keys already in the destination */
	bool fixup;              /* the deferred-columns step: uuid + deferred refs only */
	const plan_links *links; /* a link entity: cycles through it (links.h); NULL: none */
	const char *tmpdir;      /* links cycle=reject spools its rows there; NULL: $TMPDIR, /tmp */
} transform_spec;

typedef struct transform_stats
{
	uint64_t rows_in;
	uint64_t rows_out;
	uint64_t rejected;
	uint64_t noted;
	uint64_t passed;         /* rejects/notes from upstream, passed on */
} transform_stats;

/* run the whole stream through; returns an exit code (errors logged) */
int transform_stream(const transform_spec *spec, ferry_reader *r, ferry_output *out,
					 const char *run, transform_stats *stats);

/* the legacy key text of a value: integers in decimal, text as is */
void key_text(const ferry_value *v, buf *out);

#endif
