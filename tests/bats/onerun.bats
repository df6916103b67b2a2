#!/usr/bin/env bats
# One run at a time, and every command safe around a run (issue 19): each
# test walks one thing a user did and that broke, on the demo (always) and
# on the shared dispatch fixture at scale 1 with examples/dispatch.plan
# (where FERRY_SHARED is set; skipped otherwise, saying so).
#
#   a second run       refused at once while a run holds the target, naming
#                      the run, host and pid that hold it
#   rollback           of a run still going: refused the same way
#   a repeated full    run over a destination that already holds the rows:
#                      refused at once, saying --incremental (or rollback);
#                      "ferry verify" still accounts against the run that
#                      loaded them
#   a start that fails (a source that cannot be reached): the run is failed,
#                      not running; resume does not pick it; a rollback of
#                      the run before it is not refused because of it
#   target restart     mid-run: one line, exit 4, the "ferry resume" hint;
#                      the resume completes the run
#   SIGTERM            to the driver: its stages stop within 2 s, exit 9,
#                      the run resumes
#   --split --spool    works; --plan without a value is a usage error
#   totals             the rejected total equals the rejects by reason (a
#                      fix-up step's too); a failed run shows no 100 %
#
# A run is held at a known point by a test session's lock on a destination
# table (SHARE: the load of that entity waits for it, seen in
# pg_stat_activity, the preflight's reads do not), never by a sleep.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

setup_file() {
	demo_dbs or_demo_src or_demo_tmpl 1
	q -d or_demo_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	reference demo
	if shared_fixture; then
		local f=$FERRY_SHARED/fixtures/dispatch
		new_db or_dispatch_src
		q -d or_dispatch_src -v scale=1 -f "$f/legacy-schema.sql" -f "$f/legacy-data.sql" >/dev/null
		new_db or_dispatch_tmpl
		q -d or_dispatch_tmpl -f "$f/destination-schema.sql" >/dev/null
		q -d or_dispatch_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
		reference dispatch
	fi
}

teardown_file() {
	drop_dbs
}

teardown() {
	[ -z "${SRC:-}" ] || stop_run "$SRC"
	[ -z "${RUN2_PID:-}" ] || kill -KILL -- "-$RUN2_PID" 2>/dev/null || true
}

# fixture NAME: SRC, TMPL (an empty destination with ferry's schema), REF
# (a destination loaded by an uninterrupted run "ref"), PLAN and MIN of
# the demo or the dispatch fixture; skips a dispatch test without it
fixture() {
	if [ "$1" = dispatch ]; then
		shared_fixture || skip "the shared dispatch fixture is not here (FERRY_SHARED unset)"
		PLAN=$FERRY_REPO/examples/dispatch.plan
		MIN=99.5
	else
		PLAN=$DEMO_PLAN
		MIN=$DEMO_MIN
	fi
	SRC=or_$1_src TMPL=or_$1_tmpl REF=or_$1_ref
}

# reference NAME: the uninterrupted run of the fixture into or_NAME_ref
reference() {
	fixture "$1"
	clone_db "$TMPL" "$REF"
	ferry run --source "dbname=$SRC" --target "dbname=$REF" --plan "$PLAN" --min-success "$MIN" \
		--run-id ref --workdir "$BATS_FILE_TMPDIR/ref-$1" >"$BATS_FILE_TMPDIR/ref-$1.out" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/ref-$1.out" >&2
		return 1
	}
}

# fresh NAME: a fresh destination $DB (a copy of TMPL) and the arguments of
# a run $RUN into it ($ARGS)
fresh() {
	DB=or_$1
	RUN=$1
	WORK=$BATS_TEST_TMPDIR/work
	clone_db "$TMPL" "$DB"
	ARGS=(--source "dbname=$SRC" --target "dbname=$DB" --plan "$PLAN" --min-success "$MIN"
		--run-id "$RUN" --workdir "$WORK")
}

# held_at_orders: a run started in the background ($RUN_PID, its process
# group) waits for a test session's lock on public.orders in $DB: every
# entity before orders is done, orders has loaded nothing.  SHARE mode: it
# stops the load's writes, not the reads of the run's preflight
held_at_orders() {
	hold_lock "$DB" public.orders 'SHARE'
	start_run "$BATS_TEST_TMPDIR/run.out" "${ARGS[@]}" "$@"
	wait_until 120 waiting_for_lock "$DB" ferry-load
}

# ended_within SECONDS PID: waits for PID (a child of this shell) to end,
# killing its group after SECONDS; $status is its exit, $took the seconds
ended_within() {
	local limit=$1 pid=$2 t0 rc
	t0=$(date +%s.%N)
	( sleep "$limit"; kill -KILL -- "-$pid" 2>/dev/null ) 3>&- &
	local watchdog=$!
	rc=0
	wait "$pid" || rc=$?
	kill "$watchdog" 2>/dev/null || true
	wait "$watchdog" 2>/dev/null || true
	took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	status=$rc
}

# ---------------------------------------------------------------------
# One run at a time
# ---------------------------------------------------------------------

second_run_refused() {
	fixture "$1"
	fresh "second_$1"
	held_at_orders
	# a second run on the same target: refused at once, naming the holder
	local t0 took
	t0=$SECONDS
	run timeout -s KILL 60 ferry run --source "dbname=$SRC" --target "dbname=$DB" --plan "$PLAN" --min-success "$MIN" \
		--run-id other --workdir "$BATS_TEST_TMPDIR/other"
	took=$((SECONDS - t0))
	assert_exit 2
	assert_contains "run $RUN is in progress: ferry pid $RUN_PID on $(uname -n) holds the target"
	assert_contains "pid $RUN_PID on $(uname -n)"
	[ "$took" -le 10 ] || { echo "refused after ${took}s" >&2; false; }
	# nothing of it recorded or loaded
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.runs WHERE run_id = 'other'")" -eq 0 ]
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.id_map WHERE run_id = 'other'")" -eq 0 ]
	# a resume of the run in progress and a cleanup that writes: refused too
	run timeout -s KILL 60 ferry resume "$RUN" --target "dbname=$DB"
	assert_exit 2
	assert_contains "run $RUN is in progress: ferry pid $RUN_PID on $(uname -n) holds the target"
	# the run itself goes on to the end
	release_lock "$DB"
	wait "$RUN_PID"
	RUN_PID=
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = '$RUN'")" = done ]
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.rejects WHERE run_id = '$RUN' AND reason = 'unique_violation'")" -eq 0 ]
}

@test "a second ferry run while one runs is refused at once, naming the run, pid and host (demo)" {
	second_run_refused demo
}

@test "a second ferry run while one runs is refused at once, naming the run, pid and host (dispatch)" {
	second_run_refused dispatch
}

rollback_running_refused() {
	fixture "$1"
	fresh "rbrun_$1"
	held_at_orders
	local before
	before=$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.id_map WHERE run_id = '$RUN'")
	[ "$before" -gt 0 ]
	run timeout -s KILL 60 ferry rollback "$RUN" --target "dbname=$DB"
	assert_exit 2
	assert_contains "run $RUN is in progress: ferry pid $RUN_PID on $(uname -n) holds the target"
	run timeout -s KILL 60 ferry rollback "$RUN" --dry-run --target "dbname=$DB"
	assert_exit 2
	assert_contains "run $RUN is in progress: ferry pid $RUN_PID on $(uname -n) holds the target"
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.id_map WHERE run_id = '$RUN'")" -eq "$before" ]
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = '$RUN'")" = running ]
}

@test "ferry rollback of a run still going is refused, nothing deleted (demo)" {
	rollback_running_refused demo
}

@test "ferry rollback of a run still going is refused, nothing deleted (dispatch)" {
	rollback_running_refused dispatch
}

# ---------------------------------------------------------------------
# A repeated full run
# ---------------------------------------------------------------------

repeated_full_refused() {
	fixture "$1"
	DB=or_again_$1
	clone_db "$REF" "$DB"
	local before t0 took
	before=$(db_snapshot "$DB")
	t0=$SECONDS
	run timeout -s KILL 300 ferry run --source "dbname=$SRC" --target "dbname=$DB" --plan "$PLAN" --min-success "$MIN" \
		--run-id again --workdir "$BATS_TEST_TMPDIR/again"
	took=$((SECONDS - t0))
	assert_exit 2
	assert_contains "already holds the rows of run ref"
	assert_contains "--incremental"
	[ "$took" -le 15 ] || { echo "refused after ${took}s" >&2; false; }
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.runs WHERE run_id = 'again'")" -eq 0 ]
	[ "$(db_snapshot "$DB")" = "$before" ]
	# a plain verify still accounts against the run that loaded the rows
	run ferry verify --source "dbname=$SRC" --target "dbname=$DB" --min-success "$MIN"
	assert_exit 0
	assert_contains "against run ref"
	# an incremental run is what it says to do, and it works
	run ferry run --source "dbname=$SRC" --target "dbname=$DB" --plan "$PLAN" --min-success "$MIN" \
		--incremental --run-id incr --workdir "$BATS_TEST_TMPDIR/incr"
	assert_exit 0
}

@test "a second full run over a loaded destination is refused at once, says --incremental; verify still accounts against the first (demo)" {
	repeated_full_refused demo
}

@test "a second full run over a loaded destination is refused at once, says --incremental; verify still accounts against the first (dispatch)" {
	repeated_full_refused dispatch
}

# ---------------------------------------------------------------------
# Failures are states
# ---------------------------------------------------------------------

failed_start() {
	fixture "$1"
	DB=or_badstart_$1
	clone_db "$REF" "$DB"
	# an incremental run whose source cannot be reached
	run ferry run --source "dbname=or_no_such_db" --target "dbname=$DB" --plan "$PLAN" --min-success "$MIN" \
		--incremental --run-id badstart --workdir "$BATS_TEST_TMPDIR/badstart"
	assert_exit 3
	assert_contains "cannot connect to the source"
	# refused by the preflight before anything is recorded, or recorded
	# failed when the source goes at the snapshot: never left running
	local state
	state=$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = 'badstart'")
	[ -z "$state" ] || [ "$state" = failed ]
	if [ -n "$state" ]; then
		run ferry status badstart --target "dbname=$DB"
		assert_exit 0
		assert_contains "run badstart (incremental): failed"
		[ "$(ferry status badstart --json --target "dbname=$DB" | jq -r .state)" = failed ]
	fi
	run ferry status --target "dbname=$DB"
	assert_exit 0
	[[ $output != *INTERRUPTED* ]]
	# resume does not pick it: there is nothing to resume
	run ferry resume --source "dbname=$SRC" --target "dbname=$DB"
	assert_exit 2
	assert_contains "no unfinished run"
	# and the run before it can still be rolled back
	run ferry rollback ref --dry-run --target "dbname=$DB"
	assert_exit 0
	run ferry rollback ref --target "dbname=$DB"
	assert_exit 0
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = 'ref'")" = rolled_back ]
}

@test "a run that fails at its start is failed: status says so, resume does not pick it, the run before rolls back (demo)" {
	failed_start demo
}

@test "a run that fails at its start is failed: status says so, resume does not pick it, the run before rolls back (dispatch)" {
	failed_start dispatch
}

restart_target() {
	fixture "$1"
	fresh "restart_$1"
	held_at_orders
	# a fast restart ends every session: the run's, the stages', the test's
	# lock (the server must not keep bats's descriptors: only 0, 1 and 2)
	local bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin} as=()
	[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
	"${as[@]}" "$bindir/pg_ctl" -D "$PGSERVER_DIR/data" -l "$PGSERVER_DIR/server.log" -w -t 60 \
		restart -m fast </dev/null >/dev/null 2>&1 3>&-
	ended_within 60 "$RUN_PID"
	RUN_PID=
	output=$(cat "$BATS_TEST_TMPDIR/run.out")
	echo "$output"
	assert_exit 4
	[[ $output != *"unbound variable"* ]]
	[[ $output != *"line "[0-9]* ]]
	# one line says what happened and how to go on
	[ "$(grep -c 'ferry: error: ' <<<"$output")" -eq 1 ]
	assert_contains "ferry resume $RUN"
	run ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB"
	assert_exit 0
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = '$RUN'")" = done ]
	assert_same_db "$DB" "$REF"
}

@test "the target restarting mid-run ends the run with one line, exit 4 and the resume hint; resume completes it (demo)" {
	restart_target demo
}

@test "the target restarting mid-run ends the run with one line, exit 4 and the resume hint; resume completes it (dispatch)" {
	restart_target dispatch
}

sigterm_run() {
	fixture "$1"
	fresh "term_$1"
	held_at_orders
	kill -TERM "$RUN_PID"
	ended_within 30 "$RUN_PID"
	echo "ferry run ended ${took}s after SIGTERM (exit $status)"
	local pid=$RUN_PID
	RUN_PID=
	assert_exit 9
	awk -v t="$took" 'BEGIN { exit !(t <= 2) }' || { echo "took ${took}s" >&2; false; }
	# no stage of it is left (but a zombie its dead parent left to init)
	local left
	left=$(ps -o pid=,stat=,args= -g "$pid" | awk '$2 !~ /^Z/')
	[ -z "$left" ] || { echo "left running: $left" >&2; false; }
	output=$(cat "$BATS_TEST_TMPDIR/run.out")
	assert_contains "finish it with: ferry resume $RUN"
	release_lock "$DB"
	run ferry status "$RUN" --target "dbname=$DB"
	assert_contains "INTERRUPTED"
	run ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB"
	assert_exit 0
	assert_same_db "$DB" "$REF"
}

@test "SIGTERM to the driver stops the running stages within 2 s, exit 9, and the run resumes (demo)" {
	sigterm_run demo
}

@test "SIGTERM to the driver stops the running stages within 2 s, exit 9, and the run resumes (dispatch)" {
	sigterm_run dispatch
}

# ---------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------

split_spool() {
	fixture "$1"
	fresh "split_$1"
	run ferry run "${ARGS[@]}" --split 2 --split-min 100 --spool "$BATS_TEST_TMPDIR/spool"
	assert_exit 0
	# some entity was cut in two, each part its checkpoint
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.checkpoints WHERE run_id = '$RUN' AND phase = 'load/2'")" -gt 0 ]
	assert_same_db "$DB" "$REF"
}

@test "ferry run --split 2 --spool DIR loads what a plain run loads (demo)" {
	split_spool demo
}

@test "ferry run --split 2 --spool DIR loads what a plain run loads (dispatch)" {
	split_spool dispatch
}

@test "an option without its value is a usage error, one line, exit 2" {
	local opt
	for opt in --plan --spool --workdir --overlap --min-success --jobs --run-id --only --split --split-min \
		--metrics --max-memory --notify --progress-every --source --target; do
		run ferry run "$opt"
		echo "ferry run $opt: $output"
		assert_exit 2
		assert_one_line
		assert_contains "$opt needs a value"
	done
	for opt in --run --plan --min-success --report --show --only; do
		run ferry verify "$opt"
		assert_exit 2
		assert_one_line
	done
	run ferry resume --jobs
	assert_exit 2
	assert_one_line
}

# ---------------------------------------------------------------------
# Totals
# ---------------------------------------------------------------------

totals() {
	fixture "$1"
	fresh "totals_$1"
	# an office's billing address that the destination refuses (a check):
	# the address is rejected, and so is the fix-up of the office's
	# deferred billing_address_id that points at it (a reject of the
	# fix-up step "offices:billing_address_id")
	local address
	address=$(q1 -d "$SRC" -c "SELECT min(billing_address_id) FROM public.dispatch_office")
	q -d "$DB" -c "ALTER TABLE public.addresses ADD CONSTRAINT ferry_test_refused CHECK (legacy_address_id <> $address)"
	run ferry run "${ARGS[@]}" --min-success 0
	assert_exit 0
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.rejects WHERE run_id = '$RUN' AND entity = 'offices'
		AND phase = 'fixup' AND disposition = 'rejected'")" -ge 1 ]
	local total by_reason
	total=$(q1 -d "$DB" -c "SELECT rejected_rows FROM ferry.runs WHERE run_id = '$RUN'")
	by_reason=$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.rejects WHERE run_id = '$RUN' AND disposition = 'rejected'")
	echo "rejected total $total, by reason $by_reason"
	[ "$total" -eq "$by_reason" ]
	# and ferry status --json says the same
	ferry status "$RUN" --json --target "dbname=$DB" >"$BATS_TEST_TMPDIR/status.json"
	[ "$(jq '.rejected_rows' "$BATS_TEST_TMPDIR/status.json")" -eq "$by_reason" ]
	[ "$(jq '[.entities[].rejected] | add' "$BATS_TEST_TMPDIR/status.json")" -eq "$by_reason" ]

	# a run that fails half way shows no success rate of 100 %: a trigger of
	# the destination stops the fix-up of offices.billing_address_id (an
	# error ferry-load cannot set aside as a row's: exit 4)
	fresh "failed_$1"
	q -d "$DB" <<'SQL'
CREATE FUNCTION public.ferry_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'ferry test: no update of offices'; END $$;
CREATE TRIGGER zz_ferry_test_refuse BEFORE UPDATE ON public.offices
  FOR EACH ROW EXECUTE FUNCTION public.ferry_test_refuse();
ALTER TABLE public.offices ENABLE ALWAYS TRIGGER zz_ferry_test_refuse;
SQL
	run ferry run "${ARGS[@]}"
	[ "$status" -ne 0 ]
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = '$RUN'")" = failed ]
	[ "$(q1 -d "$DB" -c "SELECT coalesce(success_rate::text, 'none') FROM ferry.runs WHERE run_id = '$RUN'")" = none ]
	[[ $output != *"100.0000"* ]]
	run ferry status "$RUN" --target "dbname=$DB"
	assert_contains "run $RUN (full): failed"
	[[ $output != *"100 %"* ]]
}

@test "the rejected total equals the rejects by reason, a fix-up step's included; a failed run shows no 100 % (demo)" {
	totals demo
}

@test "the rejected total equals the rejects by reason, a fix-up step's included; a failed run shows no 100 % (dispatch)" {
	totals dispatch
}

# ---------------------------------------------------------------------
# Driver overhead
# ---------------------------------------------------------------------

# A full run and an incremental one with nothing changed, back to back in
# the test (the reference run of setup_file ran at another moment, on a
# machine perhaps busier or quieter then), up to three pairs, each into a
# fresh destination: the best time of each kind is compared, as a
# benchmark does (the other lane's tests run beside them; a run's best time
# is the one least disturbed).  Stops at the first pair where it holds.
nothing_changed() {
	fixture "$1"
	local pair full incr best_full= best_incr= t
	for pair in 1 2 3; do
		DB=or_same_$1_$pair
		clone_db "$TMPL" "$DB"
		run ferry run --source "dbname=$SRC" --target "dbname=$DB" --plan "$PLAN" --min-success "$MIN" \
			--run-id full --workdir "$BATS_TEST_TMPDIR/full$pair"
		assert_exit 0
		run ferry run --source "dbname=$SRC" --target "dbname=$DB" --plan "$PLAN" --min-success "$MIN" \
			--incremental --run-id same --workdir "$BATS_TEST_TMPDIR/same$pair"
		assert_exit 0
		# the entities of which no row changed run no stage
		assert_contains ": nothing changed since "
		# each run from its start to its end in the books (the preflight before
		# either is the same work)
		full=$(q1 -d "$DB" -c "SELECT extract(epoch FROM finished_at - started_at) FROM ferry.runs WHERE run_id = 'full'")
		incr=$(q1 -d "$DB" -c "SELECT extract(epoch FROM finished_at - started_at) FROM ferry.runs WHERE run_id = 'same'")
		echo "pair $pair: full run ${full}s, incremental run with nothing changed ${incr}s" >&3
		best_full=$(awk -v a="${best_full:-$full}" -v b="$full" 'BEGIN { print (b < a ? b : a) }')
		best_incr=$(awk -v a="${best_incr:-$incr}" -v b="$incr" 'BEGIN { print (b < a ? b : a) }')
		t=$(awk -v f="$best_full" -v i="$best_incr" 'BEGIN { print (i < f ? "faster" : "slower") }')
		[ "$t" = slower ] || break
	done
	echo "best: full run ${best_full}s, incremental run ${best_incr}s" >&3
	[ "$t" = faster ] || false
}

@test "an incremental run with nothing changed takes less time than the full run (demo)" {
	nothing_changed demo
}

@test "an incremental run with nothing changed takes less time than the full run (dispatch)" {
	nothing_changed dispatch
}
