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
	cat >"$f" <<'EOF'
#!/usr/bin/env bats

%test "one" {
	run true
	! grep -q x /dev/null
	[ 1 -eq 1 ] && [ 2 -eq 3 ]
	[ -n "$output" ] || ! false
	cd /tmp && ls
	echo "the last line"
}

helper() {
	[ "$1" = a ] && [ "$2" = b ]
	return 0
}
EOF
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
	cat >"$f" <<'EOF'
#!/usr/bin/env bats

%test "conditions and operators" {
	if ! grep -q x /dev/null; then
		echo "none"
	fi
	while ! true && false; do :; done
	[[ -n "$HOME" && ! -e /nonexistent ]]
	[ ! -e /nonexistent ]
	[ -n "$HOME" ] || false
	[ -z "" ] && return 0
	[ -d /tmp ] && n=1
	run ! false
	echo "a && b, ! c" 'd && e'
	x=$(true && echo y)
	q <<'SQL'
SELECT 1 WHERE true AND NOT false;
! this is not shell && neither is this
SQL
	! grep -q x /dev/null
}

%test "an && list on the last line" {
	run true
	[ "$status" -eq 0 ] && [ -z "$output" ]
}

continued() {
	true &&
		true &&
		true
}
EOF
	lint "$f"
	assert_exit 0
	[ -z "$output" ]
}

@test "lint-bats: a missing file is a usage error, exit 2" {
	lint "$BATS_TEST_TMPDIR/nonexistent.bats"
	assert_exit 2
	assert_contains "no such file"
}
