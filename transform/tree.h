/*
 * tree.h: parents before children for a self-referencing entity (the
 * plan's "tree" directive; see ferry-tree(7)).
 *
 * The transform hands every row it mapped (or rejected) to the builder
 * instead of writing it.  A row whose parent is already placed (emitted,
 * or in the destination) is written at once, with its parent column
 * mapped to the parent's UUID and its depth computed; the extract sorts
 * by key, so with legacy ids that grow this is nearly every row.  A row
 * whose parent has not been seen yet is spooled to an unlinked temporary
 * file and waits for the end of the stream, when the waiting rows are
 * resolved without recursion: depth from the first placed ancestor,
 * orphans (no such parent), parent cycles and self-parents, and rows
 * below a rejected comment, each handled by its policy.  Memory holds
 * one int32 per key (treemap.h) and 25 bytes per waiting row, never a
 * row's values.
 *
 * Policies and reasons:
 *   orphan=root (default)     the orphan loads as a root + note orphan_root
 *   orphan=reject             reject missing_parent, below it under_missing_parent
 *   cycle=reject (default)    reject parent_cycle / self_parent, below under_cycle
 *   cycle=root                the cycle member with the smallest key loads as
 *                             a root, the others below it; notes parent_cycle /
 *                             self_parent / under_cycle
 *   rejected-parent=root (default)  the child of a comment the transform
 *                             rejected loads as a root + note parent_rejected
 *   rejected-parent=reject    reject under_rejected_parent (its subtree too)
 *   a NULL in a NOT NULL column of the destination: reject not_null_violation
 *   here (so that its replies follow rejected-parent, not the load)
 *   a key seen twice: the second row is rejected duplicate_key
 */
#ifndef FERRY_TREE_H
#define FERRY_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

#include "plan.h"
#include "stream.h"
#include "transform.h"
#include "treemap.h"

typedef struct tree_options
{
	tree_policy orphan;           /* default TREE_ROOT */
	tree_policy cycle;            /* default TREE_REJECT */
	tree_policy rejected_parent;  /* default TREE_ROOT */
	const char *tmpdir;           /* spool directory; NULL: $TMPDIR, else /tmp */
	treemap *known;               /* keys already in the destination, value = depth
								   * | TREE_KNOWN; NULL: none (the builder adds the
								   * stream's keys to it) */
	int nrequired;
	char **required;              /* NOT NULL columns of the destination table */
	struct tree_report *report;   /* not NULL: tree_finish copies its report here */
} tree_options;

/* marks a depth that came from the destination (not from this stream) */
#define TREE_KNOWN 0x40000000

/* defaults from the plan's tree directive (t may be NULL) */
void tree_options_init(tree_options *o, const plan_tree *t);
/*
 * Read from the destination what the builder needs about entity e: the
 * keys and depths it has (an incremental run: a parent loaded earlier is
 * no orphan), and the NOT NULL columns of its table (skipped when a
 * BEFORE INSERT trigger could fill them).  False on error (logged).
 */
bool tree_options_load(tree_options *o, PGconn *conn, const plan_entity *e);
void tree_options_free(tree_options *o);

/* counts of one anomaly kind, for the report */
typedef enum tree_kind
{
	TK_ORPHAN_ROOT,           /* missing parent, loaded as a root */
	TK_MISSING_PARENT,        /* missing parent, rejected */
	TK_UNDER_MISSING_PARENT,  /* below a rejected orphan, rejected */
	TK_SELF_PARENT,
	TK_PARENT_CYCLE,
	TK_UNDER_CYCLE,
	TK_PARENT_REJECTED,       /* parent rejected, loaded as a root */
	TK_UNDER_REJECTED_PARENT, /* parent rejected, rejected */
	TK_NOT_NULL,
	TK_DUPLICATE_KEY,
	TK_COUNT
} tree_kind;

#define TREE_REPORT_IDS 12

typedef struct tree_report
{
	uint64_t rows;                /* rows emitted */
	uint64_t direct;              /* ... at once, in input order */
	uint64_t deferred;            /* ... after waiting for their parent */
	uint64_t roots;
	int64_t max_depth;
	uint64_t count[TK_COUNT];
	bool rejected[TK_COUNT];      /* the kind's rows were rejected (else loaded + note) */
	int nids[TK_COUNT];
	char ids[TK_COUNT][TREE_REPORT_IDS][24];   /* first legacy keys of each kind */
	size_t index_bytes;           /* key index at its largest */
	size_t pending_bytes;         /* waiting rows' arrays at their largest */
	uint64_t spool_bytes;
} tree_report;

/* the reason a kind is reported under (in rejects or notes) */
const char *tree_kind_reason(tree_kind k, bool rejected);

typedef struct tree_builder tree_builder;

/*
 * For spec->tree, over the transform's output header h (nout columns per
 * mapped row).  Adds the depth column to h when the input lacks it.
 * Rows, rejects and notes go to w; st counts rows_out, rejected, noted.
 * opt NULL: tree_options_init(spec->tree).  NULL on a usage error (logged).
 */
tree_builder *tree_new(const transform_spec *spec, const tree_options *opt, ferry_header *h,
					   int nout, ferry_writer *w, transform_stats *st);
/*
 * A row the transform mapped (its parent column still holds the legacy
 * parent key): written now or spooled.  notes: nnotes "reason\0detail\0"
 * pairs of the transform about the row, written after it.  False on an
 * I/O error (logged).
 */
bool tree_add(tree_builder *t, const char *key, size_t keylen, const ferry_value *row,
			  const char *notes, int nnotes);
/* a row rejected before the tree (already written): its children follow rejected-parent */
void tree_add_rejected(tree_builder *t, const char *key, size_t keylen);
/* resolve and write the waiting rows, log the report; false on I/O error */
bool tree_finish(tree_builder *t);
const tree_report *tree_get_report(const tree_builder *t);
void tree_free(tree_builder *t);

#endif
