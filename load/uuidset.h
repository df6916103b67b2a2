/*
 * uuidset.h: a set of UUIDs (16 bytes each), for the rows of a tree the
 * load has rejected: a row whose parent is in the set is rejected too.
 */
#ifndef FERRY_UUIDSET_H
#define FERRY_UUIDSET_H

#include <stdbool.h>
#include <stddef.h>

typedef struct uuidset uuidset;

uuidset *uuidset_new(void);
/* s: 36 characters (no NUL needed); a malformed uuid is ignored (false) */
bool uuidset_add(uuidset *set, const char *s);
bool uuidset_has(const uuidset *set, const char *s);
size_t uuidset_count(const uuidset *set);
void uuidset_free(uuidset *set);

#endif
