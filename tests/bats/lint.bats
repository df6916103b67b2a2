#!/usr/bin/env bats
# tests/lint-bats.sh (run by make check before the tests): it finds the
# assertions of a bats file that can never fail under set -e, names each by
# file and line, and exits 1; the lines that can fail pass.  And the test
# files of this repository have none.

load helpers
bats_require_minimum_version 1.5.0

LINT=$FERRY_REPO/tests/lint-bats.sh

# lint FILE: the checker's $status and $output on FILE, once its "%test"
# lines are made "@test" (bats would take an "@test" line of this file for
# one of its tests, even in a here-document)
lint() {
	if [ -f "$1" ]; then
		sed -i 's/^%test /@test /' "$1"
	fi
	run "$LINT" "$1"
	echo "$output"
}

@test "lint-bats: the test files of the repository have no assertion that cannot fail" {
	lint_all() { "$LINT"; }
	run lint_all
	echo "$output"
	assert_exit 0
	[ -z "$output" ]
}

@test "lint-bats: a negated command or an && list before the last line of a test is reported with its line, exit 1" {
	local f=$BATS_TEST_TMPDIR/bad.bats
	# the sample in a file of its own (its lines are not this file's tests)
	cp "$FERRY_REPO/tests/fixtures/lint/bad.bats.in" "$f"
	lint "$f"
	assert_exit 1
	assert_contains "$f:5: cannot fail (a negated command (!)"
	assert_contains "$f:6: cannot fail (tests chained with &&"
	assert_contains "$f:7: cannot fail (a negated command (!)"
	assert_contains "$f:8: cannot fail (a list joined with &&"
	assert_contains "$f:13: cannot fail (tests chained with &&, not the last line of its function)"
	[ "$(grep -c 'cannot fail' <<<"$output")" -eq 5 ]
}

@test "lint-bats: what can fail is not reported: the last line, conditions, [[ && ]], controls, quotes, here-documents" {
	local f=$BATS_TEST_TMPDIR/good.bats
	# the sample in a file of its own (its lines are not this file's tests)
	cp "$FERRY_REPO/tests/fixtures/lint/good.bats.in" "$f"
	lint "$f"
	assert_exit 0
	[ -z "$output" ]
}

@test "lint-bats: a missing file is a usage error, exit 2" {
	lint "$BATS_TEST_TMPDIR/nonexistent.bats"
	assert_exit 2
	assert_contains "no such file"
}
