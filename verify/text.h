/*
 * text.h: PostgreSQL array literals for query parameters (text.c).
 *
 *   array_start(&b); array_add(&b, "a", 1); array_add(&b, "x,\"y", 4);
 *   param = array_finish(&b);          ->  {"a","x,\"y"}
 *
 * Every element is quoted, so that no value (empty, NULL-looking, with
 * commas, quotes, backslashes or braces) changes the array's shape.
 */
#ifndef FERRY_VERIFY_TEXT_H
#define FERRY_VERIFY_TEXT_H

#include <stddef.h>

#include "buf.h"

void array_start(buf *out);
void array_add(buf *out, const char *s, size_t n);
const char *array_finish(buf *out);

#endif
