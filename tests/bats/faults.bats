#!/usr/bin/env bats
# Faults of a whole run (issue 9), each followed by "ferry resume" and a
# destination identical to an uninterrupted run's (the reference, made
# with --spool: its spool files are the "other run" of the spool tests):
#
#   connections lost    the destination session of a load is terminated
#                       (pg_terminate_backend) mid-batch; the source session
#                       of an extract mid-extract; the session holding the
#                       run's exported snapshot: ferry says which database
#                       and that the connection was lost, in one line, with
#                       the exit code of lib/exitcode.h (3 source, 4 target)
#   foreign spool files a spool file of another run, or of another entity,
#                       where ferry resume (or a new run) looks for its own:
#                       refused with exit 5 naming the file, what it holds
#                       and what was expected; nothing of it loaded
#   a full disk         ulimit -f while a stage writes a spool file: exit 8,
#                       no partial spool file left for a resume to trust
#   a commit in flight  the run killed while a load's COMMIT is still running
#                       in the server, and resumed at once: the resume waits
#                       for that session rather than load its batch again
#
# The moments are made certain, never left to timing: a test session holds
# an advisory lock that the load of orderitems takes (shared) in its second
# batch, or in the COMMIT of its first (hold_points in driver-helpers.bash),
# and a test session's lock on a source table holds an extract in its COPY,
# while the session is terminated or the run killed.  The stages' sessions
# are found in pg_stat_activity by application_name: lib/pgconn.c gives
# each its program's name (fallback_application_name ferry-extract,
# ferry-load ...).

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

SRC=fl_src

setup_file() {
	demo_dbs fl_src fl_tmpl 1
	q -d fl_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	clone_db fl_tmpl fl_ref
	ferry run --source dbname=fl_src --target dbname=fl_ref --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --run-id ref --workdir "$BATS_FILE_TMPDIR/ref" \
		--spool "$BATS_FILE_TMPDIR/refspool" >"$BATS_FILE_TMPDIR/ref.out" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/ref.out" >&2
		return 1
	}
}

teardown_file() {
	drop_dbs
}

teardown() {
	stop_run
}


# fresh NAME MODE: a fresh destination $DB and the arguments of a run
# $RUN into it ($ARGS), through pipes or spool files ($SPOOL)
fresh() {
	DB=fl_$1
	RUN=$1
	WORK=$BATS_TEST_TMPDIR/work
	SPOOL=$BATS_TEST_TMPDIR/spool
	clone_db fl_tmpl "$DB"
	ARGS=(--source "dbname=$SRC" --target "dbname=$DB" --plan "$DEMO_PLAN"
		--min-success "$DEMO_MIN" --run-id "$RUN" --workdir "$WORK")
	[ "$2" = spool ] && ARGS+=(--spool "$SPOOL")
	return 0
}

# terminate DB APP [CONDITION]: pg_terminate_backend on the sessions of
# program APP in DB (and CONDITION); how many there were
terminate() {
	q1 -d "$1" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = '$2' ${3:+AND $3}"
}

# finish: the run failed and says so; wait for it and keep its output
finish() {
	local rc=0
	wait "$RUN_PID" || rc=$?
	RUN_PID=
	status=$rc
	output=$(cat "$BATS_TEST_TMPDIR/run.out")
	echo "$output" | grep -v '^ \|^-\|^(' | tail -12
}

# lines_matching TEXT: how many lines of $output contain TEXT
lines_matching() {
	grep -cF -- "$1" <<<"$output" || true
}

# resume_and_compare: ferry resume, then the destination against the reference
resume_and_compare() {
	wait_gone "$DB"
	wait_gone "$SRC"
	run ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN"
	compare_resumed
}

# compare_resumed: the resume ($status, $output) succeeded, the destination
# and the books are the reference's
compare_resumed() {
	echo "$output" | grep -v '^ \|^-\|^(' | tail -8
	assert_exit 0
	assert_contains "resuming run $RUN"
	assert_contains "success rate 99.1271%"
	assert_same_db "$DB" fl_ref
	assert_no_duplicates "$DB"
	local a b
	a=$(books fl_ref ref)
	b=$(books "$DB" "$RUN")
	if [ "$a" != "$b" ]; then
		echo "the books of run $RUN differ from the reference's:" >&2
		diff <(echo "$a") <(echo "$b") >&2
		return 1
	fi
}

@test "the reference run: exit 0, the catalogue's rejects only" {
	grep -q "success rate 99.1271%" "$BATS_FILE_TMPDIR/ref.out"
	[ "$(q1 -d fl_ref -c "SELECT count(*) FROM ferry.rejects WHERE disposition = 'rejected'")" -eq 68 ]
}

# ---------------------------------------------------------------------
# Connections lost
# ---------------------------------------------------------------------

# target_lost MODE: the load of orderitems loses its destination session
# after its first batch is committed
target_lost() {
	fresh "tgt_$1" "$1"
	hold_points "$DB" public.orderitems orderitems
	hold_advisory "$DB" "later-batch orderitems"
	start_run "$BATS_TEST_TMPDIR/run.out" "${ARGS[@]}"
	wait_until 120 held "$DB" ferry-load
	[ "$(terminate "$DB" ferry-load)" -eq 1 ]
	release_lock "$DB"
	finish
	assert_exit 4
	# one line says which database and that its connection was lost
	[ "$(lines_matching "lost the connection")" -eq 1 ]
	assert_contains "ferry-load: error: target: lost the connection to database \"$DB\": terminating connection due to administrator command"
	assert_contains "[15/16] orderitems: ferry-load failed (exit 4); fix the cause, then: ferry resume $RUN"
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = '$RUN'")" = failed ]
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.entity_runs WHERE run_id = '$RUN' AND entity = 'orderitems'")" = failed ]
	# the batches committed before stand, with their checkpoint
	local n
	n=$(q1 -d "$DB" -c "SELECT count(*) FROM public.orderitems")
	echo "orderitems loaded before the connection was lost: $n"
	[ "$n" -gt 0 ] || false
	[ "$n" -lt 1986 ]
	[ "$(q1 -d "$DB" -c "SELECT rows_loaded = $n AND NOT complete FROM ferry.checkpoints
		WHERE run_id = '$RUN' AND entity = 'orderitems'")" = t ]
}

@test "target connection lost mid-batch, pipes: exit 4, one line naming it; resume ends identical" {
	target_lost pipe
	resume_and_compare
	# the failed step was resumed: its rows already there skipped, none rejected as a duplicate
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.rejects WHERE run_id = '$RUN' AND reason = 'unique_violation'")" -eq 0 ]
}

@test "target connection lost mid-batch, spool files: exit 4; resume replays the spool after the checkpoint" {
	target_lost spool
	local before
	before=$(q1 -d "$DB" -c "SELECT records FROM ferry.checkpoints WHERE run_id = '$RUN' AND entity = 'orderitems'")
	resume_and_compare
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = '$RUN' AND entity = 'orderitems'
		AND event = 'load_start' AND (data->>'skip')::int = $before")" -eq 1 ]
}

# source_lost MODE: the extract of orders loses its source session while it
# waits in its COPY for a lock a test session holds on dispatch_order
source_lost() {
	fresh "src_$1" "$1"
	hold_points "$DB"
	hold_advisory "$DB" start
	start_run "$BATS_TEST_TMPDIR/run.out" "${ARGS[@]}"
	at_start "$DB" hold_lock "$SRC" public.dispatch_order 'ACCESS EXCLUSIVE'
	wait_until 120 waiting_for_lock "$SRC" ferry-extract
	[ "$(terminate "$SRC" ferry-extract "wait_event_type = 'Lock'")" -eq 1 ]
	finish
	release_lock "$SRC"
	assert_exit 3
	[ "$(lines_matching "lost the connection")" -eq 1 ]
	assert_contains "ferry-extract: error: source: lost the connection to database \"$SRC\": "
	assert_contains "[12/16] orders: ferry-extract failed (exit 3); fix the cause, then: ferry resume $RUN"
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.entity_runs WHERE run_id = '$RUN' AND entity = 'orders'")" = failed ]
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orders")" -eq 0 ]
}

@test "source connection lost mid-extract, pipes: exit 3, one line naming it; resume ends identical" {
	source_lost pipe
	resume_and_compare
}

@test "source connection lost mid-extract, spool files: no spool file of it; resume ends identical" {
	source_lost spool
	[ ! -e "$SPOOL/orders.extract.zst" ] || false
	[ ! -e "$SPOOL/orders.zst" ]
	[ -z "$(compgen -G "$SPOOL/.orders*")" ]
	resume_and_compare
}

@test "the session holding the run's snapshot lost: the next extract says why it cannot read, exit 3; resume takes a new one" {
	fresh snap pipe
	# the extract of orders has set the snapshot and waits for the lock when the holder goes
	hold_points "$DB"
	hold_advisory "$DB" start
	start_run "$BATS_TEST_TMPDIR/run.out" "${ARGS[@]}"
	at_start "$DB" hold_lock "$SRC" public.dispatch_order 'ACCESS EXCLUSIVE'
	wait_until 120 waiting_for_lock "$SRC" ferry-extract
	[ "$(terminate "$SRC" ferry-extract "query LIKE '%pg_export_snapshot%'")" -eq 1 ]
	# the holder notices within a second, and says so
	wait_until 60 grep -q "the session holding the snapshot" "$BATS_TEST_TMPDIR/run.out"
	release_lock "$SRC"
	finish
	assert_exit 3
	assert_contains "ferry-extract: error: source: lost the connection to database \"$SRC\": "
	# orders read in the snapshot it had set; invoicelines could not
	assert_contains "[12/16] orders: 993 rows loaded"
	assert_contains "ferry-extract: error: source: cannot read in the snapshot "
	assert_contains "(the session that exported it must still be open)"
	assert_contains "[13/16] invoicelines: ferry-extract failed (exit 3)"
	resume_and_compare
}

# commit_race MODE: killed while the load of orderitems commits its first
# batch, which waits in the server for a test session's lock; the resume
# starts while that session still commits: it must wait for it rather than
# read the checkpoint before the batch lands and load the batch again.
# Only once the resume waits for it (a second session waits on an advisory
# lock) is the commit let through.
commit_race() {
	fresh "race_$1" "$1"
	hold_points "$DB"
	hold_advisory "$DB" "commit orderitems"
	start_run "$BATS_TEST_TMPDIR/run.out" "${ARGS[@]}"
	wait_until 120 load_committing
	kill_run
	RUN_PID=
	# the driver's own session is gone (it held the run's lock), the load's still commits
	wait_until 60 no_psql
	load_committing
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orderitems")" -eq 0 ]
	setsid ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN" \
		>"$BATS_TEST_TMPDIR/resume.out" 2>&1 3>&- &
	RUN_PID=$!
	# the resume says it waits for the earlier attempt, and does
	wait_until 120 grep -q "(an earlier attempt still committing?): waiting for it to end" \
		"$BATS_TEST_TMPDIR/resume.out"
	wait_until 120 two_waiting
	load_committing
	release_lock "$DB"
	status=0
	wait "$RUN_PID" || status=$?
	RUN_PID=
	output=$(cat "$BATS_TEST_TMPDIR/resume.out")
	compare_resumed
}
# the COMMIT of a ferry-load held by the test's lock
load_committing() {
	held "$DB" ferry-load || return 1
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND application_name = 'ferry-load' AND state = 'active' AND query = 'COMMIT'
		AND wait_event = 'advisory'")" -eq 1 ]
}
no_psql() {
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND application_name = 'psql' AND pid <> pg_backend_pid()")" -eq 0 ]
}
# the held COMMIT, and a session of the resume waiting for it: the step's
# lock (its load), or the table's (the rebuild of the indexes the killed
# bulk load dropped)
two_waiting() {
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND application_name = 'ferry-load' AND wait_event_type = 'Lock'")" -ge 2 ]
}

@test "a resume started while the killed load still commits in the server waits for it, spool files: nothing loaded twice" {
	commit_race spool
	assert_contains "(an earlier attempt still committing?): waiting for it to end"
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.rejects WHERE run_id = '$RUN' AND reason = 'unique_violation'")" -eq 0 ]
}

@test "a resume started while the killed load still commits in the server waits for it, pipes: no reject recorded twice" {
	commit_race pipe
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.rejects WHERE run_id = '$RUN' AND reason = 'unique_violation'")" -eq 0 ]
}

@test "a load that fails at once while the transform still writes: the run names ferry-load and exits 4, not the closed pipe's 8" {
	fresh badcol pipe
	# the destination loses a column the stream has once the preflight has
	# passed: ferry-load stops before it reads much, and the transform of
	# orders (350 kB) meets the closed pipe
	hold_points "$DB"
	hold_advisory "$DB" start
	start_run "$BATS_TEST_TMPDIR/run.out" "${ARGS[@]}"
	at_start "$DB" q -d "$DB" -c "ALTER TABLE public.orders DROP COLUMN metadata"
	finish
	assert_exit 4
	assert_contains 'ferry-load: error: target: table public.orders has no column "metadata" (the stream has it)'
	assert_contains "[12/16] orders: ferry-load failed (exit 4); fix the cause, then: ferry resume $RUN"
	# the transform did meet the closed pipe: without the rule above, it would be named
	[ "$(cut -d' ' -f2 "$WORK/rc.orders.load")" -eq 8 ]
}

# ---------------------------------------------------------------------
# Spool files of another run or entity
# ---------------------------------------------------------------------

@test "ferry resume finds a spool file of another run or entity in place: exit 5 naming it; without it, identical" {
	fresh foreign spool
	# killed between patients and orders: orders.zst is complete, nothing of it loaded
	hold_points "$DB"
	hold_advisory "$DB" start
	start_run "$BATS_TEST_TMPDIR/run.out" "${ARGS[@]}"
	at_start "$DB" hold_lock "$DB" public.orders 'ACCESS EXCLUSIVE'
	wait_until 120 waiting_for_lock "$DB" ferry-load
	kill_run
	release_lock "$DB"
	wait_gone "$DB"
	[ -f "$SPOOL/orders.zst" ]
	cp "$SPOOL/orders.zst" "$BATS_TEST_TMPDIR/orders.zst.own"

	# the reference run's orders.zst (same entity, same rows, another run)
	cp "$BATS_FILE_TMPDIR/refspool/orders.zst" "$SPOOL/orders.zst"
	run ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN"
	assert_exit 5
	assert_contains "ferry-load: error: \"$SPOOL/orders.zst\": the stream holds entity \"orders\" of run \"ref\", not entity \"orders\" of run \"$RUN\""
	assert_contains "[12/16] orders: ferry-load failed (exit 5)"
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orders")" -eq 0 ]

	# this run's patients.zst in the place of orders.zst
	cp "$SPOOL/patients.zst" "$SPOOL/orders.zst"
	wait_gone "$DB"
	run ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN"
	assert_exit 5
	assert_contains "\"$SPOOL/orders.zst\": the stream holds entity \"patients\" of run \"$RUN\", not entity \"orders\" of run \"$RUN\""
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orders")" -eq 0 ]

	# an extract of another run where the transform looks for this run's
	rm "$SPOOL/orders.zst"
	cp "$BATS_FILE_TMPDIR/refspool/orders.extract.zst" "$SPOOL/orders.extract.zst"
	wait_gone "$DB"
	run ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN"
	assert_exit 5
	assert_contains "ferry-transform: error: \"$SPOOL/orders.extract.zst\": the stream holds entity \"orders\" of run \"ref\", not entity \"orders\" of run \"$RUN\""
	assert_contains "[12/16] orders: ferry-transform failed (exit 5)"
	[ ! -e "$SPOOL/orders.zst" ]
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orders")" -eq 0 ]

	# the run's own file back: resume completes, identical
	rm "$SPOOL/orders.extract.zst"
	cp "$BATS_TEST_TMPDIR/orders.zst.own" "$SPOOL/orders.zst"
	resume_and_compare
}

@test "a new run given the spool directory of an earlier run refuses its files, exit 5; once they are gone, resume ends identical" {
	fresh reuse spool
	mkdir -p "$SPOOL"
	cp "$BATS_FILE_TMPDIR"/refspool/*.zst "$SPOOL"/
	run ferry run "${ARGS[@]}"
	assert_exit 5
	# the first step, auth.users: its spool file is the reference run's
	assert_contains "ferry-load: error: \"$SPOOL/auth.users.zst\": the stream holds entity \"auth.users\" of run \"ref\", not entity \"auth.users\" of run \"$RUN\""
	assert_contains "[1/16] auth.users: ferry-load failed (exit 5)"
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM auth.users")" -eq 0 ]
	rm "$SPOOL"/*.zst
	resume_and_compare
}

# ---------------------------------------------------------------------
# A full disk
# ---------------------------------------------------------------------

@test "a file system that refuses to grow (ulimit -f) mid-run with --spool: exit 8, no partial spool file; resume ends identical" {
	fresh full spool
	# SIGXFSZ ignored: write(2) fails with EFBIG past 60 kB, like a full disk; the
	# first spool file larger than that is orders.zst (65 kB), written by the transform
	run bash -c "trap '' XFSZ; ulimit -f 60; ferry run ${ARGS[*]@Q}"
	echo "$output" | grep -v '^ \|^-\|^(' | tail -5
	assert_exit 8
	assert_contains "ferry-transform: error: cannot write to \"$SPOOL/orders.zst\": File too large"
	assert_contains "[12/16] orders: ferry-transform failed (exit 8)"
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = '$RUN'")" = failed ]
	# no partial spool file, nor temporary file; every file left is whole
	[ ! -e "$SPOOL/orders.zst" ]
	[ -z "$(compgen -G "$SPOOL/.*.tmp.*")" ]
	local f
	for f in "$SPOOL"/*.zst; do
		ferry-cat --check "$f" >/dev/null
	done
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orders")" -eq 0 ]
	resume_and_compare
}
