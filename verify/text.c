/*
 * text.c: the text forms ferry-verify writes: legacy keys as ferry keeps
 * them, values cut for display, PostgreSQL array literals.  Pure functions
 * (tests/unit/test_verify.c).
 */
#include <string.h>

#include "buf.h"
#include "text.h"
#include "legacykey.h"
#include "verify.h"

void
key_text_append(buf *out, int part, int nparts, const char *s, size_t n)
{
	legacy_key_append(out, part, nparts, s, n);
}

/* bytes of the UTF-8 sequence starting with c (1 for a stray byte) */
static size_t
utf8_len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0)
		return c < 0xf0 ? 3 : 1;
	if (c >= 0xc0)
		return 2;
	return 1;
}

void
display_value(buf *out, const char *s, size_t max)
{
	size_t n = strlen(s), i = 0, chars = 0;

	while (i < n && chars < max)
	{
		size_t l = utf8_len((unsigned char) s[i]);

		if (i + l > n)
			l = n - i;
		i += l;
		chars++;
	}
	buf_append(out, s, i);
	if (i < n)
		buf_puts(out, "...");
}

void
array_start(buf *out)
{
	buf_putc(out, '{');
}

void
array_add(buf *out, const char *s, size_t n)
{
	if (out->len > 0 && out->data[out->len - 1] != '{')
		buf_putc(out, ',');
	buf_putc(out, '"');
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '"' || s[i] == '\\')
			buf_putc(out, '\\');
		buf_putc(out, s[i]);
	}
	buf_putc(out, '"');
}

const char *
array_finish(buf *out)
{
	buf_putc(out, '}');
	return buf_cstr(out);
}
