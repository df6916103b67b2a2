/*
 * ranges.c: the key ranges of a split entity ("ferry run --split N").
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "books.h"

int
books_key_ranges(int64_t lo, int64_t hi, int parts, const char *qkey, char **conds)
{
	if (parts < 1 || hi < lo || qkey == NULL)
		return 0;
	/* the width in unsigned arithmetic: hi - lo may pass INT64_MAX */
	uint64_t span = (uint64_t) hi - (uint64_t) lo;
	if (span < (uint64_t) parts - 1)
		parts = (int) span + 1;
	uint64_t width = span / (uint64_t) parts + 1;
	for (int i = 0; i < parts; i++)
	{
		/* a = lo + i * width, b = a + width (a range past hi is never cut) */
		int64_t a = (int64_t) ((uint64_t) lo + (uint64_t) i * width);
		int64_t b = (int64_t) ((uint64_t) a + width);
		char *s = NULL;
		int n;
		if (parts == 1)
			n = asprintf(&s, "true");
		else if (i == 0)
			n = asprintf(&s, "%s < %" PRId64, qkey, b);
		else if (i == parts - 1)
			n = asprintf(&s, "%s >= %" PRId64, qkey, a);
		else
			n = asprintf(&s, "%s >= %" PRId64 " AND %s < %" PRId64, qkey, a, qkey, b);
		if (n < 0)
		{
			for (int j = 0; j < i; j++)
				free(conds[j]);
			return 0;
		}
		conds[i] = s;
	}
	return parts;
}
