/*
 * test_jsoncheck.c: the client-side JSON check agrees with PostgreSQL's
 * json input on valid and invalid texts (the fixtures' dirt among them).
 */
#include <string.h>

#include "jsoncheck.h"
#include "tap.h"

static const char *valid[] = {
	"{}", "[]", "0", "-0", "1.5e10", "-12.25E-3", "\"\"", "true", "false", "null",
	" { \"a\" : [1, 2.50, \"\\u00e9\", {\"b\": null}], \"c\": true } ",
	"[[[[[[]]]]]]", "{\"k\": {\"k\": {\"k\": []}}}", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
	"\"Nguy\xe1\xbb\x85n \xf0\x9f\xa6\xb7\"", "[1,\n2\t,\r3]", "{\"status\": [\"b\", \"z\"]}",
	"1E400", "\"\\ud83e\\udeb7\"",
};

static const char *invalid[] = {
	"", " ", "{", "}", "[", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{a: 1}", "{'a': 1}",
	"{u'status': u'design'}", "None", "NaN", "Infinity", "True", "01", "1.", ".5", "-",
	"1e", "+1", "\"abc", "\"a\nb\"", "\"\\x41\"", "\"\\u12\"", "[1 2]", "{\"a\":1,}",
	"{\"a\":1 \"b\":2}", "[] []", "{\"status\": [\"received\", \"design\"]", "nul", "truex",
	"[\"a\"]]",
};

int
main(void)
{
	for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
		ok(json_text_valid(valid[i], strlen(valid[i])), "valid #%zu", i);
	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
		ok(!json_text_valid(invalid[i], strlen(invalid[i])), "invalid #%zu", i);

	/* deep nesting is left to the server rather than refused */
	static char deep[20001];

	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	ok(json_text_valid(deep, 20000), "10000 levels: not refused here");
	return tap_done();
}
