/*
 * treemap.h: legacy key -> small integer, for the tree builder (tree.c).
 *
 * The tree builder remembers, for every row of a self-referencing entity,
 * one int32 (a depth, or where the row is waiting) under its legacy key,
 * and nothing else: that is what keeps 10 million comments in about
 * 120 MB.  Keys are int64: integer keys as they are, other keys (text,
 * uuid) as the 64-bit XXH3 hash of their text (a collision between two
 * keys of the stream shows up as a duplicate key, never silently).
 *
 * Keys that arrive in increasing order (the extract sorts by key) are
 * appended to a sorted run, 12 bytes a key, found by binary search; the
 * others go to an open-addressing hash table (about 24 bytes a key).
 */
#ifndef FERRY_TREEMAP_H
#define FERRY_TREEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct treemap treemap;

/* int_keys: keys are integers (else: hashes of their text) */
treemap *treemap_new(bool int_keys);
bool treemap_int_keys(const treemap *m);
/*
 * The key of a key text.  With integer keys, false when the text is not a
 * canonical decimal integer (such a key cannot be in the map).
 */
bool treemap_key(const treemap *m, const char *p, size_t n, int64_t *k);
/* the value stored under k, NULL if none (valid until the next put) */
int32_t *treemap_find(treemap *m, int64_t k);
/* store v under k, which must not be in the map yet */
void treemap_put(treemap *m, int64_t k, int32_t v);
/* integer keys -> hashes of their decimal text (for text keys in the stream) */
void treemap_to_hashed(treemap *m);
size_t treemap_count(const treemap *m);
size_t treemap_bytes(const treemap *m);
void treemap_free(treemap *m);

#endif
