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
lane_pids=()
lane_dirs=()
# every server this run started is stopped, whatever ends it
stop_servers() {
	local p d
	for p in "${lane_pids[@]}"; do kill -- "$p" 2>/dev/null; done
	for d in "$PGSERVER_DIR" "${lane_dirs[@]}"; do "$top/tests/pgserver.sh" stop "$d"; done
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

export PATH="$build/bin:$top/scripts:$PATH"
export FERRY_REPO="$top" FERRY_BUILD="$build"
# the shared fixtures: $FERRY_SHARED, or when this checkout sits beside them
if [ -z "${FERRY_SHARED:-}" ] && [ -d "$top/../shared/fixtures/dispatch" ]; then
	FERRY_SHARED=$(cd "$top/../shared" && pwd)
	export FERRY_SHARED
fi
# one entity at a time unless a test says -j: the kill points and orders the
# end-to-end tests wait for assume a sequential run (ferry's default is the cores)
export FERRY_JOBS=${FERRY_JOBS:-1}
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

# the bats files, each on its own lane: FERRY_TEST_JOBS lanes (default: the
# cores), each with a PostgreSQL server of its own, so that a test may
# restart its server, change its pg_hba.conf or create roles without
# touching another file's tests.  A lane takes the next file from a queue,
# the longest first (tests/bats/weights, seconds a file took).
lanes=${FERRY_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$lanes" -ge 1 ] 2>/dev/null || lanes=1
[ "$lanes" -le ${#bats_files[@]} ] || lanes=${#bats_files[@]}

# bats_file FILE OUT: one file's tests (TAP) into OUT, with the time it took
# (and each line as it comes, "[FILE] " before it: the log of a run cut
# short still says where each lane was)
bats_file() {
	local t0=$SECONDS name=${1##*/}
	bats --tap --timing ${BATS_FILTER:+--filter "$BATS_FILTER"} "$1" 2>&1 | tee "$2" |
		while IFS= read -r line; do printf '[%s] %s\n' "$name" "$line"; done
	echo "# $name: $((SECONDS - t0)) s" | tee -a "$2"
}

# longest_first FILE...: the files, those tests/bats/weights says are longest first
longest_first() {
	local f w
	for f in "$@"; do
		w=$(awk -v f="${f##*/}" '$2 == f { print $1; exit }' "$top/tests/bats/weights" 2>/dev/null)
		echo "${w:-0} $f"
	done | sort -s -k1,1nr | cut -d' ' -f2-
}

if [ ${#bats_files[@]} -gt 0 ] && [ -e "${bats_files[0]}" ]; then
	echo "# bats: ${bats_files[*]##*/} ($lanes lane(s))"
	out=$(mktemp -d /tmp/ferry-tests-out.XXXXXX)
	longest_first "${bats_files[@]}" >"$out/queue"
	lane() {
		local f
		while :; do
			# take the next file of the queue (the lock on a file of its own:
			# sed -i puts a new queue file in place)
			f=$(flock "$out/lock" sh -c 'head -n 1 "$1"; sed -i 1d "$1"' sh "$out/queue")
			[ -n "$f" ] || return 0
			bats_file "$f" "$out/${f##*/}.tap"
		done
	}
	for ((i = 2; i <= lanes; i++)); do
		srv_i=$("$top/tests/pgserver.sh" start) || { echo "run.sh: cannot start PostgreSQL for lane $i" >&2; exit 1; }
		lane_dirs+=("$(eval "$srv_i"; echo "$PGSERVER_DIR")")
		(eval "$srv_i"; lane) &
		lane_pids+=($!)
	done
	lane
	for pid in "${lane_pids[@]}"; do wait "$pid"; done
	lane_pids=()
	for f in "${bats_files[@]}"; do
		t="$out/${f##*/}.tap"
		if [ -f "$t" ] && grep -q '^1\.\.' "$t"; then
			cp "$t" "$log"
			tally
		else
			echo "not ok - bats did not run ${f##*/}"
			failed=$((failed + 1))
		fi
	done
	rm -rf "$out"
fi
rm -f "$log"

echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
