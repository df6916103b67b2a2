/*
 * test_coverage.c: the name similarity ferry-verify's "all NULL" check
 * pairs a destination column with a source column by (lib/coverage.c).
 */
#include "coverage.h"
#include "tap.h"

int
main(void)
{
	ok(coverage_names_similar("birth_date", "date_of_birth"), "birth_date ~ date_of_birth");
	ok(coverage_names_similar("tracking_no", "tracking_number"), "tracking_no ~ tracking_number");
	ok(coverage_names_similar("order_qty", "quantity_of_order"), "qty, of, word order");
	ok(coverage_names_similar("addresses", "address"), "plural");
	ok(coverage_names_similar("categories", "category"), "plural in -ies");
	ok(coverage_names_similar("BirthDate", "birth_date"), "camelCase");
	ok(coverage_names_similar("notes", "notes"), "equal names");
	ok(!coverage_names_similar("user_id", "author_id"), "user_id is not author_id");
	ok(!coverage_names_similar("created_at", "updated_at"), "created_at is not updated_at");
	ok(!coverage_names_similar("status", "status_code"), "a word more is another name");
	ok(!coverage_names_similar("class", "clas"), "a double s is not a plural");
	ok(!coverage_names_similar("of_the", "a"), "stop words alone name nothing");
	return tap_done();
}
