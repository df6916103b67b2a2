/*
 * jsonfmt.h: JSON text printed again as jq prints it: compact (jq -c) or
 * indented by two spaces (jq's default), every number in jq's form (the
 * shortest decimal that reads back as the same double: 99.4990 -> 99.499,
 * 100.0 -> 100, 0.00001 -> 1e-05), keys and strings as they are (jq
 * would also decode a \u00e9, which neither PostgreSQL nor ferry's
 * programs write, and write ferry's \u0008 and \u000c as \b and \f).
 * ferry's reports were written with jq before they were written in C;
 * their readers see the same text.
 */
#ifndef FERRY_JSONFMT_H
#define FERRY_JSONFMT_H

#include <stdbool.h>

#include "buf.h"

/* the number d as jq prints it (out: at least 32 bytes) */
void json_format_number(double d, char *out);
/*
 * the JSON text in (valid JSON, as PostgreSQL or a ferry program wrote
 * it) into out, compact (indent 0) or indented (indent 2, a newline at
 * the end); false when in is not JSON (out then holds a part)
 */
bool json_reformat(const char *in, int indent, buf *out);

#endif
