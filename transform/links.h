/*
 * links.h: cycles through a link entity (the plan's "links FROMCOL TOCOL
 * [cycle=note|reject]": kit_items(kit_id, child_kit_id) between kits).
 *
 * Every mapped row of the entity is an edge (FROMCOL's legacy key ->
 * TOCOL's), kept as two 64-bit node values: 16 bytes an edge for integer
 * keys (text keys are interned once each).  A cycle is only known once the
 * whole stream has been seen, so the builder acts at its end:
 *
 *   cycle=note (default)  rows are written as they come; at the end, each
 *                         row on a cycle gets a note link_cycle naming the
 *                         cycle's keys (the row's legacy key is kept, as
 *                         text, for that)
 *   cycle=reject          rows are spooled (with their notes) to an unlinked
 *                         temporary file, a ferry stream; at the end they are
 *                         written back in their order, those on a cycle as
 *                         rejects link_cycle, their notes dropped
 *
 * A row whose FROMCOL or TOCOL is NULL is no edge.  A cycle closed with
 * rows of an earlier run (already in the destination) is not seen here:
 * ferry-verify finds it there.
 */
#ifndef FERRY_LINKS_H
#define FERRY_LINKS_H

#include <stdbool.h>
#include <stddef.h>

#include "stream.h"
#include "transform.h"

typedef struct link_builder link_builder;

/*
 * For spec->links, over the transform's input header in_h and output
 * header out_h (nout columns per mapped row).  Rows, rejects and notes go
 * to w; st counts rows_out, rejected, noted.  NULL on error (logged), with
 * *code FERRY_EXIT_USAGE (a link column is not in the stream) or
 * FERRY_EXIT_IO (the spool file).
 */
link_builder *links_new(const transform_spec *spec, const ferry_header *in_h,
						const ferry_header *out_h, int nout, ferry_writer *w,
						transform_stats *st, int *code);
/*
 * A mapped row: in_row holds the legacy values (the link columns' keys),
 * out_row the row to load, key its legacy key; notes: nnotes
 * "reason\0detail\0" pairs of the transform about it.  Written or spooled;
 * false on an I/O error (logged).
 */
bool links_add(link_builder *l, const char *key, size_t keylen, const ferry_value *in_row,
			   const ferry_value *out_row, const char *notes, int nnotes);
/* find the cycles, write the notes or the spooled rows; false on error (logged) */
bool links_finish(link_builder *l);
void links_free(link_builder *l);

#endif
