/*
 * size.c: size SIZE: a --max-memory size in bytes on stdout: 512M, 1G,
 * 800000K, 1.5G, 536870912 (K, M, G, T: binary multiples, with an
 * optional B or iB; B alone: bytes), at least 1M.  Exit 2 for anything
 * else.  Needs no database (the driver checks its options first).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"
#include "exitcode.h"

bool
books_parse_size(const char *s, double *bytes)
{
	const char *p = s;
	if (!isdigit((unsigned char) *p))
		return false;
	while (isdigit((unsigned char) *p))
		p++;
	if (*p == '.')
	{
		if (!isdigit((unsigned char) *++p))
			return false;
		while (isdigit((unsigned char) *p))
			p++;
	}
	double n = strtod(s, NULL), m = 1;
	const char *units = "KMGT";
	const char *u = *p ? strchr(units, toupper((unsigned char) *p)) : NULL;
	if (u)
	{
		m = (double) (1ULL << (10 * (u - units + 1)));
		p++;
		if (*p == 'i' || *p == 'I')
		{
			if (p[1] != 'b' && p[1] != 'B')
				return false;
			p++;
		}
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0' || n * m < 1048576)
		return false;
	*bytes = n * m;
	return true;
}

int
books_size_command(int argc, char **argv)
{
	double bytes;
	if (argc != 2 || !books_parse_size(argv[1], &bytes))
		return FERRY_EXIT_USAGE;
	printf("%.0f\n", bytes);
	return fflush(stdout) == 0 ? FERRY_EXIT_OK : FERRY_EXIT_IO;
}
