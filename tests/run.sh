#!/usr/bin/env bash
# run.sh BUILD_DIR: run every test of ferry against a throwaway PostgreSQL.
#
# Starts a server (tests/pgserver.sh), runs the C unit tests (TAP) and the
# bats end-to-end tests (TAP) with BUILD_DIR/bin and scripts/ first in PATH,
# always stops the server, and ends with the line
# "tests: N passed, N failed, N skipped" (a test skipped, "ok ... # skip",
# is not counted as passed).  Exit 0 only when none failed.
# Run one file with:  tests/run.sh build/asan tests/bats/extract.bats
# and only the tests whose names match a regex with BATS_FILTER=REGEX.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build/asan}" && pwd) || exit 2
shift || true

srv=$("$top/tests/pgserver.sh" start) || { echo "run.sh: cannot start PostgreSQL" >&2; exit 1; }
eval "$srv"
trap '"$top/tests/pgserver.sh" stop "$PGSERVER_DIR"' EXIT INT TERM

export PATH="$build/bin:$top/scripts:$PATH"
export FERRY_REPO="$top" FERRY_BUILD="$build"
# the shared fixtures, when this checkout sits beside them
if [ -d "$top/../shared/fixtures/dispatch" ]; then
	FERRY_SHARED=$(cd "$top/../shared" && pwd)
	export FERRY_SHARED
fi
# leaks are checked in the C unit tests; in the end-to-end tests a leak
# report at exit would replace the exit code the test is about
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=99}
export LSAN_OPTIONS=${LSAN_OPTIONS:-exitcode=99}

log=$(mktemp /tmp/ferry-tests.XXXXXX)
passed=0
failed=0
skipped=0

# count TAP lines of one test program's output
tally() {
	local ok nok skip
	ok=$(grep -c '^ok ' "$log")
	nok=$(grep -c '^not ok ' "$log")
	skip=$(grep -Eic '^ok [0-9]+.* # skip([^a-z]|$)' "$log")
	passed=$((passed + ok - skip))
	failed=$((failed + nok))
	skipped=$((skipped + skip))
}

if [ $# -gt 0 ]; then
	bats_files=("$@")
else
	for t in "$build"/tests/*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		echo "# unit: $(basename "$t")"
		ASAN_OPTIONS=detect_leaks=1:exitcode=99 "$t" >"$log" 2>&1
		rc=$?
		cat "$log"
		tally
		if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$log"; then
			echo "not ok - $(basename "$t") exited with $rc"
			failed=$((failed + 1))
		fi
	done
	bats_files=("$top"/tests/bats/*.bats)
fi

if [ ${#bats_files[@]} -gt 0 ] && [ -e "${bats_files[0]}" ]; then
	echo "# bats: ${bats_files[*]##*/}"
	bats --tap --timing ${BATS_FILTER:+--filter "$BATS_FILTER"} "${bats_files[@]}" 2>&1 | tee "$log"
	tally
	if ! grep -q '^1\.\.' "$log"; then
		echo "not ok - bats did not run"
		failed=$((failed + 1))
	fi
fi
rm -f "$log"

echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
