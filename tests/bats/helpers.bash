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

# clone_db TEMPLATE NAME: a fresh copy of TEMPLATE, dropped by drop_dbs
clone_db() {
	dropdb --if-exists --force "$2" >/dev/null 2>&1
	createdb -T "$1" "$2"
	echo "$2" >>"$BATS_FILE_TMPDIR/dbs"
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

# the shared fixtures are present (beside the checkout in CI: ../shared,
# found by tests/run.sh, or FERRY_SHARED)
shared_fixture() {
	[ -n "${FERRY_SHARED:-}" ] && [ -d "$FERRY_SHARED/fixtures/dispatch" ]
}

# need_shared: a test that is about the shared fixtures is skipped, and
# counted as skipped, without them
need_shared() {
	shared_fixture || skip "needs the shared fixtures (../shared or FERRY_SHARED), absent"
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

# wait_until SECONDS COMMAND...: poll every 50 ms until COMMAND succeeds,
# SECONDS at most (a deadline, generous: what is waited for is an event);
# while a background run ($RUN_PID) is set, fails as soon as it has ended
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" && return 0
		# the run must still be going: a run that ended never gets there
		if [ -n "${RUN_PID:-}" ] && ! kill -0 "$RUN_PID" 2>/dev/null; then
			"$@" && return 0
			echo "the run ended before: $*" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# hold_lock DB TABLE MODE: a session holding a lock on TABLE until
# release_lock; returns once the lock is held
hold_lock() {
	local db=$1 table=$2 mode=$3
	PGAPPNAME=ferry_test_lock psql -X -q -d "$db" -c "BEGIN; LOCK TABLE $table IN $mode MODE; SELECT pg_sleep(600)" \
		>/dev/null 2>&1 3>&- &
	wait_until 60 lock_held "$db" "$table"
}
lock_held() {
	[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE a.application_name = 'ferry_test_lock' AND l.relation = '$2'::regclass AND l.granted")" != 0 ]
}
# release_lock [DB]: the test sessions holding a lock in DB end (without
# DB: every one of the server's)
release_lock() {
	q1 -d postgres -v db="${1:-}" <<'SQL' >/dev/null
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE application_name = 'ferry_test_lock' AND (datname = :'db' OR :'db' = '')
SQL
}
# hold_advisory DB NAME: a session holding the advisory lock named NAME
# (the key hashtextextended('ferry test ' || NAME, 0)) until release_lock;
# returns once it is held.  Code under test is held at a moment by taking
# the same lock, shared, there (hold_points in driver-helpers.bash).
hold_advisory() {
	PGAPPNAME=ferry_test_lock psql -X -q -d "$1" \
		-c "SELECT pg_advisory_lock(hashtextextended('ferry test $2', 0))" \
		-c "SELECT pg_sleep(600)" >/dev/null 2>&1 3>&- &
	wait_until 60 advisory_held "$1"
}
# release_advisory DB NAME: the test session of DB holding the advisory
# lock NAME (hold_advisory) ends; the other test sessions stay
release_advisory() {
	q1 -d postgres -v db="$1" -v name="$2" <<'SQL' >/dev/null
SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE a.application_name = 'ferry_test_lock' AND a.datname = :'db' AND l.locktype = 'advisory'
   AND l.granted AND (l.classid::bigint << 32 | l.objid::bigint) = hashtextextended('ferry test ' || :'name', 0)
SQL
	RUN_PID= wait_until 60 advisory_free "$1" "$2"
}
advisory_free() {
	[ "$(q1 -d postgres -v db="$1" -v name="$2" <<'SQL'
SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE a.application_name = 'ferry_test_lock' AND a.datname = :'db' AND l.locktype = 'advisory'
   AND (l.classid::bigint << 32 | l.objid::bigint) = hashtextextended('ferry test ' || :'name', 0)
SQL
)" = 0 ]
}
advisory_held() {
	[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE a.application_name = 'ferry_test_lock' AND l.locktype = 'advisory' AND l.granted")" != 0 ]
}
# waiting_for_lock DB APP: a backend of program APP waits for a lock in DB
waiting_for_lock() {
	[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = '$2' AND wait_event_type = 'Lock'")" != 0 ]
}

