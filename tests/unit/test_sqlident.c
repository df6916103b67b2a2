/*
 * test_sqlident.c: the identifiers an extract query names (lib/sqlident.c),
 * the test behind the coverage rule "a source column is read when the
 * query names it".
 */
#include <string.h>

#include "sqlident.h"
#include "tap.h"

static bool
names(const char *sql, const char *name)
{
	sql_idents ids;
	bool has;

	sql_idents_scan(sql, &ids);
	has = sql_idents_has(&ids, name);
	sql_idents_free(&ids);
	return has;
}

int
main(void)
{
	/* bare identifiers fold to lower case; quoted ones are kept */
	ok(names("SELECT s.Birth_Date FROM t AS s", "birth_date"), "bare, folded");
	ok(!names("SELECT s.Birth_Date FROM t AS s", "Birth_Date"), "bare: not the upper-case name");
	ok(names("SELECT s.\"Birth_Date\" FROM t AS s", "Birth_Date"), "quoted, kept");
	ok(!names("SELECT s.\"Birth_Date\" FROM t AS s", "birth_date"), "quoted: not folded");
	ok(names("SELECT \"Order \"\"Id\"\"\" FROM t", "Order \"Id\""), "quoted: \"\" is a quote");
	ok(names("SELECT \"a b\",c FROM t", "a b") && names("SELECT \"a b\",c FROM t", "c"),
	   "quoted with a space, then a bare one after a comma");
	ok(names("SELECT x::date FROM t", "date"), "a keyword is an identifier too");
	ok(names("SELECT t.prix_€ FROM t", "prix_€"), "non-ASCII letters in a bare identifier");
	ok(names("SELECT a$b FROM t", "a$b"), "$ inside an identifier");

	/* strings, comments, numbers and parameters name nothing */
	ok(!names("SELECT 'birth_date' FROM t", "birth_date"), "a string literal");
	ok(!names("SELECT 'it''s birth_date' FROM t", "birth_date"), "a string with '' inside");
	ok(!names("SELECT E'a\\' birth_date' FROM t", "birth_date"), "an E'' string with \\'");
	ok(names("SELECT E'a\\' x', birth_date FROM t", "birth_date"), "after an E'' string");
	ok(!names("SELECT $$ birth_date $$ FROM t", "birth_date"), "a $$ string");
	ok(!names("SELECT $q$ birth_date $x$ $q$ FROM t", "birth_date"), "a $tag$ string");
	ok(names("SELECT $q$ x $q$, birth_date FROM t", "birth_date"), "after a $tag$ string");
	ok(!names("SELECT 1 -- birth_date\nFROM t", "birth_date"), "a -- comment");
	ok(names("SELECT 1 -- x\n, birth_date FROM t", "birth_date"), "the line after a -- comment");
	ok(!names("SELECT 1 /* a /* birth_date */ b */ FROM t", "birth_date"), "a nested comment");
	ok(!names("SELECT 1 /* a /* x */ b */ FROM t", "b"), "the end of a nested comment");
	ok(!names("SELECT 1e5, $1 FROM t", "e5"), "a number's exponent");
	ok(!names("SELECT x'1F' FROM t", "x"), "a hex string's prefix");
	ok(names("SELECT x FROM t", "x"), "x alone is an identifier");

	/* where: the last occurrence */
	{
		sql_idents ids;
		const char *sql = "SELECT a, b AS a FROM t";

		sql_idents_scan(sql, &ids);
		ok(sql_idents_last(&ids, "a") == (long) (strstr(sql, "AS a") - sql + 3), "last offset");
		ok(sql_idents_last(&ids, "zz") == -1, "absent: -1");
		sql_idents_free(&ids);
	}

	/* an unclosed string or quote ends the scan, no crash */
	ok(!names("SELECT 'abc", "abc"), "unclosed string");
	ok(names("SELECT \"abc", "abc"), "unclosed quote: the rest is the name");
	ok(!names("SELECT $a$ abc", "abc"), "unclosed dollar quote");
	return tap_done();
}
