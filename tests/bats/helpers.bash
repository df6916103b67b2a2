# helpers.bash: shared by the bats tests (load "helpers").
#
# tests/run.sh has started a PostgreSQL server (PGHOST/PGPORT/PGUSER are
# set) and put the programs under test first in PATH.  Each test file
# makes its own databases with new_db and drops them in teardown.

: "${FERRY_REPO:?run the tests through tests/run.sh}"

# psql quiet, stop at the first error, no ~/.psqlrc
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
# one value
q1() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }

# new_db NAME: a fresh empty database, dropped by drop_dbs
new_db() {
	local name=$1
	dropdb --if-exists "$name" >/dev/null 2>&1
	createdb "$name"
	echo "$name" >>"$BATS_FILE_TMPDIR/dbs"
}

drop_dbs() {
	[ -f "$BATS_FILE_TMPDIR/dbs" ] || return 0
	local d
	while read -r d; do
		dropdb --if-exists --force "$d" >/dev/null 2>&1 || true
	done <"$BATS_FILE_TMPDIR/dbs"
	rm -f "$BATS_FILE_TMPDIR/dbs"
}

# the demo legacy database at a scale, and its empty destination
demo_dbs() {
	local src=$1 dst=$2 scale=${3:-1}
	new_db "$src"
	q -d "$src" -v scale="$scale" -f "$FERRY_REPO/examples/demo/legacy-schema.sql" \
		-f "$FERRY_REPO/examples/demo/legacy-data.sql" >/dev/null
	new_db "$dst"
	q -d "$dst" -f "$FERRY_REPO/examples/demo/destination-schema.sql" >/dev/null
}

# require the shared fixtures (present beside the checkout in CI)
shared_fixture() {
	[ -n "${FERRY_SHARED:-}" ] && [ -d "$FERRY_SHARED/fixtures/dispatch" ]
}

# assert_exit CODE: $status of the last run
assert_exit() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit $1, got $status; output:" >&2
		echo "$output" >&2
		return 1
	fi
}

# assert_contains TEXT: $output contains TEXT
assert_contains() {
	if [[ "$output" != *"$1"* ]]; then
		echo "expected output to contain: $1" >&2
		echo "got: $output" >&2
		return 1
	fi
}

# assert_one_line_error: a non-empty stderr-style output of exactly one line
assert_one_line() {
	local n
	n=$(printf '%s\n' "$output" | grep -c .)
	if [ "$n" -ne 1 ]; then
		echo "expected one line, got $n:" >&2
		echo "$output" >&2
		return 1
	fi
}
