/*
 * keyset.h: the set of legacy keys an entity has in the destination (or,
 * for a forward reference, in the source: sourcekeys.h).
 *
 * The transform checks every reference against it before mapping it to a
 * UUID, so that a row pointing at a row that is not there is rejected (or
 * its reference set to NULL, as the plan says) instead of breaking the
 * destination's foreign key.  Integer keys are kept as integers (8 bytes
 * a slot), other keys as strings in an arena.
 */
#ifndef FERRY_KEYSET_H
#define FERRY_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libpq-fe.h>

typedef struct keyset keyset;

keyset *keyset_new(void);
/*
 * add every value of the single text column the query returns; false on
 * error (logged, with role: "source" or "target")
 */
bool keyset_load(keyset *ks, PGconn *conn, const char *role, const char *sql);
void keyset_add(keyset *ks, const char *key, size_t len);
bool keyset_has(const keyset *ks, const char *key, size_t len);
size_t keyset_count(const keyset *ks);
size_t keyset_bytes(const keyset *ks);
void keyset_free(keyset *ks);

#endif
