/*
 * buf.c: growable byte buffers and allocation that dies on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "exitcode.h"
#include "log.h"

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die(FERRY_EXIT_INTERNAL, "out of memory (%zu bytes)", n);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		die(FERRY_EXIT_INTERNAL, "out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		die(FERRY_EXIT_INTERNAL, "out of memory (%zu bytes)", n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
buf_init(buf *b, size_t cap)
{
	b->len = 0;
	b->cap = cap ? cap : 64;
	b->data = xmalloc(b->cap);
}

void
buf_free(buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_grow_slow(buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;   /* room for a terminating NUL */

	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void
buf_puts(buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_vprintf(buf *b, const char *fmt, va_list ap)
{
	va_list aq;

	va_copy(aq, ap);
	int n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		die(FERRY_EXIT_INTERNAL, "bad format string");
	buf_grow(b, (size_t) n);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	b->len += (size_t) n;
}

void
buf_printf(buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *
buf_cstr(buf *b)
{
	buf_grow(b, 0);
	b->data[b->len] = '\0';
	return b->data;
}

/* length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	else if ((c & 0xE0) == 0xC0)
		len = 2, cp = c & 0x1F;
	else if ((c & 0xF0) == 0xE0)
		len = 3, cp = c & 0x0F;
	else if ((c & 0xF8) == 0xF0)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		(len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		(cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

void
buf_json_string(buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) s;

	buf_grow(b, n + 2);
	buf_putc(b, '"');
	for (size_t i = 0; i < n;)
	{
		unsigned char c = p[i];

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7F)
		{
			/* copy a run of plain ASCII at once */
			size_t j = i + 1;

			while (j < n && p[j] >= 0x20 && p[j] != '"' && p[j] != '\\' && p[j] < 0x7F)
				j++;
			buf_append(b, p + i, j - i);
			i = j;
			continue;
		}
		switch (c)
		{
			case '"': buf_append(b, "\\\"", 2); i++; continue;
			case '\\': buf_append(b, "\\\\", 2); i++; continue;
			case '\n': buf_append(b, "\\n", 2); i++; continue;
			case '\r': buf_append(b, "\\r", 2); i++; continue;
			case '\t': buf_append(b, "\\t", 2); i++; continue;
			default: break;
		}
		if (c < 0x20 || c == 0x7F)
		{
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

			buf_append(b, esc, 6);
			i++;
			continue;
		}
		size_t len = utf8_seq_len(p + i, n - i);

		if (len == 0)
		{
			buf_append(b, "\\ufffd", 6);
			i++;
		}
		else
		{
			buf_append(b, p + i, len);
			i += len;
		}
	}
	buf_putc(b, '"');
}
