/*
 * uuid.h: deterministic UUIDs for legacy keys.
 *
 * A legacy key becomes UUIDv5(namespace, keyspace "/" key), RFC 9562
 * (SHA-1 name-based).  keyspace names the legacy table the key belongs to
 * ("dispatch_order"); the key is its text ("37"; composite keys join their
 * parts with ",", escaping "," and "\" with "\").  The same legacy row gets
 * the same UUID on every run and wherever it is referenced, with no lookup
 * table, and it can be recomputed in SQL with uuid-ossp's uuid_generate_v5.
 */
#ifndef FERRY_UUID_H
#define FERRY_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ferry's default namespace (itself UUIDv5(URL namespace, "urn:ferry:legacy-key")) */
extern const uint8_t FERRY_UUID_NAMESPACE[16];

void sha1(const void *data, size_t len, uint8_t out[20]);
/* v5 of ns and name */
void uuid_v5(const uint8_t ns[16], const void *name, size_t len, uint8_t out[16]);
/* 36 characters + NUL */
void uuid_format(const uint8_t u[16], char out[37]);
bool uuid_parse(const char *s, uint8_t out[16]);
/* uuid of keyspace "/" key, formatted */
void uuid_for_key(const uint8_t ns[16], const char *keyspace, const char *key,
				  size_t keylen, char out[37]);

#endif
