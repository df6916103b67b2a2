/*
 * legacykey.c: the text of a legacy key (see legacykey.h).
 */
#include "legacykey.h"

void
legacy_key_append(buf *out, int part, int nparts, const char *s, size_t n)
{
	if (part > 0)
		buf_putc(out, ',');
	if (nparts == 1)
	{
		buf_append(out, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == ',' || s[i] == '\\')
			buf_putc(out, '\\');
		buf_putc(out, s[i]);
	}
}

void
legacy_key_append_sql(buf *sql, int part, int nparts, const char *text_expr)
{
	if (part > 0)
		buf_puts(sql, " || ',' || ");
	if (nparts == 1)
	{
		buf_puts(sql, text_expr);
		return;
	}
	buf_puts(sql, "replace(replace(");
	buf_puts(sql, text_expr);
	buf_puts(sql, ", '\\', '\\\\'), ',', '\\,')");
}
