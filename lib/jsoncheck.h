/*
 * jsoncheck.h: is a text valid JSON (RFC 8259), as PostgreSQL's json and
 * jsonb input functions would take it?
 *
 * ferry-load asks before sending a value to a json/jsonb column, so that
 * an invalid value is repaired or rejected at once instead of failing a
 * COPY and costing a retry.  The check errs on the side of "valid": what
 * it accepts, the server still judges.
 */
#ifndef FERRY_JSONCHECK_H
#define FERRY_JSONCHECK_H

#include <stdbool.h>
#include <stddef.h>

bool json_text_valid(const char *p, size_t n);

#endif
