/*
 * test_jsonfmt.c: JSON printed again as jq 1.6 prints it.  Every expected
 * text below is jq's own output for the input (jq -c . and jq .).
 */
#include <stdlib.h>
#include <string.h>

#include "jsonfmt.h"
#include "tap.h"

static void
is(const char *in, int indent, const char *want)
{
	buf out;
	buf_init(&out, 256);
	bool parsed = json_reformat(in, indent, &out);
	ok(parsed && strcmp(buf_cstr(&out), want) == 0, "%s (indent %d)", in, indent);
	if (!parsed || strcmp(buf_cstr(&out), want) != 0)
		printf("#   got [%s]\n#  want [%s]\n", buf_cstr(&out), want);
	buf_free(&out);
}

int
main(void)
{
	is("[1e16, 12e15, 0.0001, 0.00001234, 123456789012345680000, 1.5e-7, -0, 0, 99.4990, 100.0000, 1e15, "
	   "123e13, 5e-324, 1.7976931348623157e308]", 0,
	   "[1e+16,12000000000000000,0.0001,1.234e-05,123456789012345680000,1.5e-07,-0,0,99.499,100,"
	   "1000000000000000,1230000000000000,5e-324,1.7976931348623157e+308]");
	is("[0.1, 0.30000000000000004, 45.3, 1234567.5, -2.5e-3, 536870912, 0.991271]", 0,
	   "[0.1,0.30000000000000004,45.3,1234567.5,-0.0025,536870912,0.991271]");
	is("{\"a\" : [], \"b\": {}, \"c\":\"x\\u007f\\\"\xc3\xa9/ ,:\\n\"}", 0,
	   "{\"a\":[],\"b\":{},\"c\":\"x\\u007f\\\"\xc3\xa9/ ,:\\n\"}");
	is("{\"a\":[1,{\"b\":[]}],\"c\":{}}", 2, "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ],\n  \"c\": {}\n}\n");
	is("[true, false, null]", 2, "[\n  true,\n  false,\n  null\n]\n");
	buf out;
	buf_init(&out, 64);
	ok(!json_reformat("{\"a\" 1}", 0, &out), "a key without its colon is refused");
	buf_reset(&out);
	ok(!json_reformat("[1, 2", 0, &out), "an array cut short is refused");
	buf_reset(&out);
	ok(!json_reformat("[1] x", 0, &out), "text after the value is refused");
	buf_free(&out);
	return tap_done();
}
