/*
 * columns.c: the text of what people read of a run (pure: tests/unit/
 * test_books.c): a duration as "ferry status" shows it, and rows of
 * tab-separated cells aligned into columns as column(1) -t does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "books.h"

void
books_duration(double seconds, char *out, size_t n)
{
	double s = round(seconds);
	if (s < 60)
		snprintf(out, n, "%.0fs", s);
	else if (s < 3600)
		snprintf(out, n, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
	else
		snprintf(out, n, "%.0fh%02.0fm", floor(s / 3600), floor(fmod(s, 3600) / 60));
}

/* characters, not bytes, of UTF-8 text (the width a cell needs) */
static int
text_width(const char *s, size_t n)
{
	int w = 0;
	for (size_t i = 0; i < n; i++)
		w += ((unsigned char) s[i] & 0xC0) != 0x80;
	return w;
}

void
books_columns(FILE *f, const char *tsv)
{
	/* the widest cell of each column; every column but the last is padded
	 * to it and followed by two spaces; empty lines are dropped */
	int widths[64] = {0}, ncol = 0;
	for (const char *line = tsv; *line;)
	{
		size_t len = strcspn(line, "\n");
		int c = 0;
		for (const char *cell = line; cell <= line + len && c < 64; c++)
		{
			size_t cl = strcspn(cell, "\t\n");
			int w = text_width(cell, cl);
			if (w > widths[c])
				widths[c] = w;
			cell += cl + 1;
		}
		if (len > 0 && c > ncol)
			ncol = c;
		line += len + (line[len] == '\n');
	}
	for (const char *line = tsv; *line;)
	{
		size_t len = strcspn(line, "\n");
		const char *cell = line;
		for (int c = 0; len > 0 && c < ncol; c++)
		{
			size_t cl = cell <= line + len ? strcspn(cell, "\t\n") : 0;
			if (cell <= line + len)
				fwrite(cell, 1, cl, f);
			if (c < ncol - 1)
				fprintf(f, "%*s", widths[c] - text_width(cell, cl) + 2, "");
			cell += cl + 1;
		}
		if (len > 0)
			fputc('\n', f);
		line += len + (line[len] == '\n');
	}
}
