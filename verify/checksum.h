/*
 * checksum.h: the parts of checksum mode (checksum.c: the mode; describe.c:
 * the entity from the plan and both catalogs; sides.c: the SQL each
 * database runs, and the bisection's view of them).
 */
#ifndef FERRY_VERIFY_CHECKSUM_H
#define FERRY_VERIFY_CHECKSUM_H

#include "books.h"
#include "buf.h"
#include "plan.h"
#include "verify.h"

typedef struct keylist
{
	int n;
	int cap;
	char **key;
	char **uuid;
} keylist;

typedef struct ck
{
	vctx *c;
	const plan_entity *e;
	vresult *r;
	ventity v;
	const char *ktype;       /* "bigint" or "text" */
	buf src_inner;           /* SELECT k, h FROM (extract) q WHERE NOT excluded */
	buf dst_inner;           /* SELECT k, h, uuid FROM target ... (map: %s) */
	const char *map;         /* the id map relation of dst_inner */
	keyset_lit rejected;     /* left out on the source */
	keyset_lit repaired;     /* left out on both sides, compared one by one */
	buf src_excluded;        /* rejected + repaired */
	keylist doubted;         /* source keys to compare one by one */
	keylist extra;           /* destination keys the source does not have */
	long long queries;
	long long all;           /* the source's rows */
	long long rej;           /* ... of them rejected by the run */
	long long rep;           /* ... repaired or noted */
} ck;

void keylist_add(keylist *l, const char *key, const char *uuid);
void keylist_free(keylist *l);
/* the entity: compared columns, key, types on both sides; an exit code */
int ck_describe(ck *k);
/* the source's key expression over the extract query's row q */
void ck_src_key(ck *k, buf *sql);
/* the SQL of both sides (after ck_describe and the excluded keys) */
void ck_build_sides(ck *k);
/* the rows that differ into k->doubted and k->extra; an exit code */
int ck_bisect(ck *k);

#endif
