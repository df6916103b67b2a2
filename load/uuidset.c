/*
 * uuidset.c: open addressing over 16-byte keys (a zero key marks a free
 * slot; the nil uuid is kept aside).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "uuid.h"
#include "uuidset.h"

struct uuidset
{
	uint8_t (*slots)[16];
	size_t cap;              /* a power of two */
	size_t count;
	bool has_nil;
};

static const uint8_t nil[16];

uuidset *
uuidset_new(void)
{
	uuidset *set = xcalloc(1, sizeof *set);

	set->cap = 256;
	set->slots = xcalloc(set->cap, sizeof *set->slots);
	return set;
}

static size_t
slot_of(const uuidset *set, const uint8_t u[16])
{
	uint64_t h;

	/* UUIDv5 bytes are SHA-1 output: already well mixed */
	memcpy(&h, u, sizeof h);
	return (size_t) h & (set->cap - 1);
}

static void
insert(uuidset *set, const uint8_t u[16])
{
	size_t s = slot_of(set, u);

	while (memcmp(set->slots[s], nil, 16) != 0)
	{
		if (memcmp(set->slots[s], u, 16) == 0)
			return;
		s = (s + 1) & (set->cap - 1);
	}
	memcpy(set->slots[s], u, 16);
	set->count++;
}

/* 36 characters, not necessarily NUL-terminated */
static bool
parse36(const char *s, uint8_t u[16])
{
	char tmp[37];

	memcpy(tmp, s, 36);
	tmp[36] = '\0';
	return uuid_parse(tmp, u);
}

bool
uuidset_add(uuidset *set, const char *s)
{
	uint8_t u[16];

	if (!parse36(s, u))
		return false;
	if (memcmp(u, nil, 16) == 0)
	{
		set->count += !set->has_nil;
		set->has_nil = true;
		return true;
	}
	if ((set->count + 1) * 2 > set->cap)
	{
		uint8_t (*old)[16] = set->slots;
		size_t oldcap = set->cap;

		set->cap *= 2;
		set->slots = xcalloc(set->cap, sizeof *set->slots);
		set->count = set->has_nil ? 1 : 0;
		for (size_t i = 0; i < oldcap; i++)
			if (memcmp(old[i], nil, 16) != 0)
				insert(set, old[i]);
		free(old);
	}
	insert(set, u);
	return true;
}

bool
uuidset_has(const uuidset *set, const char *s)
{
	uint8_t u[16];

	if (set->count == 0 || !parse36(s, u))
		return false;
	if (memcmp(u, nil, 16) == 0)
		return set->has_nil;

	size_t i = slot_of(set, u);

	while (memcmp(set->slots[i], nil, 16) != 0)
	{
		if (memcmp(set->slots[i], u, 16) == 0)
			return true;
		i = (i + 1) & (set->cap - 1);
	}
	return false;
}

size_t
uuidset_count(const uuidset *set)
{
	return set->count;
}

void
uuidset_free(uuidset *set)
{
	if (set == NULL)
		return;
	free(set->slots);
	free(set);
}
