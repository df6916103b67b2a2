/*
 * buf.h: a growable byte buffer, and allocation that dies on failure.
 */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct buf
{
	char *data;
	size_t len;
	size_t cap;
} buf;

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

void buf_init(buf *b, size_t cap);
void buf_free(buf *b);
static inline void buf_reset(buf *b) { b->len = 0; }
void buf_grow_slow(buf *b, size_t extra);
/* make room for extra more bytes (and a terminating NUL) */
static inline void
buf_grow(buf *b, size_t extra)
{
	if (b->len + extra + 1 > b->cap)
		buf_grow_slow(b, extra);
}

static inline void
buf_append(buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline void
buf_putc(buf *b, char c)
{
	buf_grow(b, 1);
	b->data[b->len++] = c;
}
void buf_puts(buf *b, const char *s);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap);
/* NUL-terminate without counting the NUL in len; returns data */
const char *buf_cstr(buf *b);

/* JSON string literal (with quotes) of n bytes; invalid UTF-8 bytes become U+FFFD */
void buf_json_string(buf *b, const char *s, size_t n);

#endif
