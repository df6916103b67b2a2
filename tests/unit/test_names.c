/*
 * test_names.c: the naming conventions of the plan generator (plan/names.c):
 * singular and plural both ways, and column names that say the same thing.
 */
#include <stdlib.h>
#include <string.h>

#include "../../plan/names.h"
#include "tap.h"

static void
plural_is(const char *word, const char *want)
{
	char *got = pluralize(word);

	ok(strcmp(got, want) == 0, "pluralize(%s) = %s (got %s)", word, want, got);
	free(got);
}

static void
singular_is(const char *word, const char *want)
{
	char *got = singularize(word);

	ok(strcmp(got, want) == 0, "singularize(%s) = %s (got %s)", word, want, got);
	free(got);
}

int
main(void)
{
	/* plural */
	plural_is("category", "categories");
	plural_is("key", "keys");
	plural_is("address", "addresses");
	plural_is("status", "statuses");
	plural_is("box", "boxes");
	plural_is("branch", "branches");
	plural_is("us_state", "us_states");
	plural_is("customer_demographic", "customer_demographics");
	plural_is("person", "people");
	plural_is("sales_person", "sales_people");

	/* singular */
	singular_is("categories", "category");
	singular_is("addresses", "address");
	singular_is("address", "address");
	singular_is("statuses", "status");
	singular_is("status", "status");
	singular_is("boxes", "box");
	singular_is("branches", "branch");
	singular_is("us_states", "us_state");
	singular_is("customer_demographics", "customer_demographic");
	singular_is("houses", "house");
	singular_is("sizes", "size");
	singular_is("buses", "bus");
	singular_is("keys", "key");
	singular_is("people", "person");
	singular_is("analysis", "analysis");
	singular_is("user", "user");

	/* the same noun, singular or plural, either way round */
	ok(same_noun("us_states", "us_state"), "us_states ~ us_state");
	ok(same_noun("us_state", "us_states"), "us_state ~ us_states");
	ok(same_noun("customer_demographics", "customer_demographic"), "customer_demographics ~ customer_demographic");
	ok(same_noun("categories", "category"), "categories ~ category");
	ok(same_noun("addresses", "address"), "addresses ~ address");
	ok(same_noun("statuses", "status"), "statuses ~ status");
	ok(same_noun("boxes", "box"), "boxes ~ box");
	ok(same_noun("movie", "movies"), "movie ~ movies (plural of the singular)");
	ok(same_noun("house", "houses"), "house ~ houses");
	ok(same_noun("person", "people"), "person ~ people");
	ok(!same_noun("state", "us_states"), "state !~ us_states");
	ok(!same_noun("order", "orders_archive"), "order !~ orders_archive");
	ok(!same_noun("user", "users_x"), "user !~ users_x");

	/* column names that say the same thing */
	ok(similar_names("birth_date", "date_of_birth"), "birth_date ~ date_of_birth (word order, of)");
	ok(similar_names("dob", "date_of_birth"), "dob ~ date_of_birth (abbreviation)");
	ok(similar_names("tracking_no", "tracking_number"), "tracking_no ~ tracking_number");
	ok(similar_names("tracking_num", "tracking_number"), "tracking_num ~ tracking_number");
	ok(similar_names("qty", "quantity"), "qty ~ quantity");
	ok(similar_names("total_amt", "total_amount"), "total_amt ~ total_amount");
	ok(similar_names("item_desc", "item_description"), "item_desc ~ item_description");
	ok(similar_names("ship_addr", "ship_address"), "ship_addr ~ ship_address");
	ok(similar_names("order_nbr", "order_number"), "order_nbr ~ order_number");
	ok(similar_names("shipped_on", "shipped_at"), "shipped_on ~ shipped_at (time suffix)");
	ok(similar_names("created", "created_at"), "created ~ created_at");
	ok(similar_names("line_items", "line_item"), "line_items ~ line_item (plural word)");
	ok(similar_names("Tracking_No", "tracking_number"), "case does not matter");
	ok(!similar_names("user_id", "author_id"), "user_id !~ author_id (no shared meaningful word)");
	ok(!similar_names("customer_id", "customer_number"), "customer_id !~ customer_number");
	ok(!similar_names("date", "time"), "date !~ time (nothing but time words)");
	ok(!similar_names("first_name", "last_name"), "first_name !~ last_name");
	ok(!similar_names("name", "name_of_user"), "name !~ name_of_user (a word more)");
	ok(!similar_names("of", "the"), "fillers alone say nothing");
	ok(!similar_names("", "x"), "an empty name is like nothing");

	return tap_done();
}
