#!/usr/bin/env bats
# ferry run killed with SIGKILL, then ferry resume (issue 4): the
# destination ends identical to an uninterrupted run of the same plan, with
# no duplicate and no missing row, through pipes and through spool files.
#
# The whole process group of "ferry run" is killed (it runs under setsid),
# as a crash would end every stage and not only the driver.  The kill
# points are made certain rather than left to timing:
#
#   during an extract      a test session holds an ACCESS EXCLUSIVE lock on
#                          dispatch_order in the source: every entity before
#                          orders is done, and the extract of orders has
#                          started and waits for the lock when the kill comes
#   mid-batch in a load    a test session holds the advisory lock that the
#                          50th row of a batch of orderitems takes once a
#                          batch of it is committed (hold_points in
#                          driver-helpers.bash): the kill comes while the
#                          load waits for it in its second batch
#   between entities       a test session holds a lock on public.orders in
#                          the destination: patients and the offices fix-up
#                          are done, orders has not written a row
#
# Then "ferry resume", and the destination is compared with the reference
# (an uninterrupted run of examples/demo.plan into another database): the
# md5 of every table's rows (every column, ferry's schema excepted), the
# legacy keys unique (by constraint and in fact), and the run's books
# (rows loaded and rejected per entity, rejects by reason) equal too.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

SRC=rs_src

setup_file() {
	demo_dbs rs_src rs_tmpl 1
	q -d rs_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	clone_db rs_tmpl rs_ref
	ferry run --source dbname=rs_src --target dbname=rs_ref --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --run-id ref --workdir "$BATS_FILE_TMPDIR/ref" \
		>"$BATS_FILE_TMPDIR/ref.out" 2>&1 || {
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


# crash POINT MODE: a run of the demo plan into a fresh database $DB,
# killed at POINT (extract, load, between), with pipes or spool files
crash() {
	local point=$1 mode=$2
	DB=rs_${point}_$mode
	RUN=$point-$mode
	WORK=$BATS_TEST_TMPDIR/work
	clone_db rs_tmpl "$DB"
	local args=(--source "dbname=$SRC" --target "dbname=$DB" --plan "$DEMO_PLAN"
		--min-success "$DEMO_MIN" --run-id "$RUN" --workdir "$WORK")
	[ "$mode" = spool ] && args+=(--spool "$BATS_TEST_TMPDIR/spool")

	case $point in
	extract)
		hold_points "$DB"
		hold_advisory "$DB" start
		start_run "$BATS_TEST_TMPDIR/run.out" "${args[@]}"
		at_start "$DB" hold_lock "$SRC" public.dispatch_order 'ACCESS EXCLUSIVE'
		wait_until 120 waiting_for_lock "$SRC" ferry-extract
		kill_run
		release_lock "$SRC"
		# patients done, the orders step begun and nothing of it loaded
		[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.entity_runs WHERE run_id = '$RUN' AND entity = 'patients'")" = done ]
		[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.entity_runs WHERE run_id = '$RUN' AND entity = 'orders'")" = running ]
		[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orders")" -eq 0 ]
		;;
	load)
		hold_points "$DB" public.orderitems orderitems
		hold_advisory "$DB" "later-batch orderitems"
		start_run "$BATS_TEST_TMPDIR/run.out" "${args[@]}"
		wait_until 120 held "$DB" ferry-load
		kill_run
		release_lock "$DB"
		wait_idle "$DB"
		# some of orderitems is committed with its checkpoint, not all
		local n
		n=$(q1 -d "$DB" -c "SELECT count(*) FROM public.orderitems")
		echo "orderitems loaded before the kill: $n"
		[ "$n" -gt 0 ] || false
		[ "$n" -lt 1986 ]
		[ "$(q1 -d "$DB" -c "SELECT rows_loaded = $n AND NOT complete FROM ferry.checkpoints
			WHERE run_id = '$RUN' AND entity = 'orderitems'")" = t ]
		;;
	between)
		hold_points "$DB"
		hold_advisory "$DB" start
		start_run "$BATS_TEST_TMPDIR/run.out" "${args[@]}"
		at_start "$DB" hold_lock "$DB" public.orders 'ACCESS EXCLUSIVE'
		wait_until 120 waiting_for_lock "$DB" ferry-load
		kill_run
		release_lock "$DB"
		[ "$(q1 -d "$DB" -c "SELECT string_agg(status, ',' ORDER BY entity) FROM ferry.entity_runs
			WHERE run_id = '$RUN' AND entity IN ('patients', 'offices:billing_address_id')")" = done,done ]
		[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orders")" -eq 0 ]
		;;
	esac
	# the run is not finished, and the backends of the killed stages are gone
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = '$RUN'")" = running ]
	wait_idle "$DB"
	wait_idle "$SRC"
}

# resume_and_compare: ferry resume, then the destination against the reference
resume_and_compare() {
	run ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN"
	echo "$output" | grep -v '^ \|^-\|^(' | tail -25
	assert_exit 0
	assert_contains "resuming run $RUN"
	assert_contains "success rate 99.1271%"
	assert_same_db "$DB" rs_ref
	assert_no_duplicates "$DB"
	local a b
	a=$(books rs_ref ref)
	b=$(books "$DB" "$RUN")
	if [ "$a" != "$b" ]; then
		echo "the books of run $RUN differ from the reference's:" >&2
		diff <(echo "$a") <(echo "$b") >&2
		return 1
	fi
	# the audit log has the events of every attempt (each starts the run
	# again, in the log of the killed ones too), and one end
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = '$RUN' AND event = 'run_start'")" -ge 2 ]
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = '$RUN' AND event = 'run_end'")" -eq 1 ]
}

@test "the reference run: exit 0, the catalogue's rejects only" {
	grep -q "success rate 99.1271%" "$BATS_FILE_TMPDIR/ref.out"
	[ "$(q1 -d rs_ref -c "SELECT count(*) FROM ferry.rejects WHERE disposition = 'rejected'")" -eq 68 ]
	assert_no_duplicates rs_ref
}

@test "SIGKILL during an extract, pipes: resume ends identical to an uninterrupted run" {
	crash extract pipe
	resume_and_compare
}

@test "SIGKILL during an extract, spool files: resume ends identical to an uninterrupted run" {
	crash extract spool
	# no partial spool file of orders is left in place
	[ ! -e "$BATS_TEST_TMPDIR/spool/orders.extract.zst" ]
	[ -f "$BATS_TEST_TMPDIR/spool/patients.zst" ]
	resume_and_compare
}

@test "SIGKILL mid-batch in a load, pipes: resume ends identical to an uninterrupted run" {
	crash load pipe
	resume_and_compare
}

@test "SIGKILL mid-batch in a load, spool files: resume replays the spool after the checkpoint" {
	crash load spool
	local before
	before=$(q1 -d "$DB" -c "SELECT records FROM ferry.checkpoints WHERE run_id = '$RUN' AND entity = 'orderitems'")
	resume_and_compare
	# the load resumed from the spool file, after the records the checkpoint counted
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = '$RUN' AND entity = 'orderitems'
		AND event = 'load_start' AND (data->>'skip')::int = $before")" -eq 1 ]
}

@test "SIGKILL between entities, pipes: resume ends identical to an uninterrupted run" {
	crash between pipe
	resume_and_compare
}

@test "SIGKILL between entities, spool files: resume loads the spool file left complete" {
	crash between spool
	[ -f "$BATS_TEST_TMPDIR/spool/orders.zst" ]
	resume_and_compare
}

@test "killed twice (during an extract, then mid-batch), one resume still ends identical" {
	crash extract pipe
	# the first resume is killed too, in the second batch of orderitems
	hold_points "$DB" public.orderitems orderitems
	hold_advisory "$DB" "later-batch orderitems"
	setsid ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN" \
		>"$BATS_TEST_TMPDIR/resume1.out" 2>&1 3>&- &
	RUN_PID=$!
	wait_until 120 held "$DB" ferry-load
	kill_run
	release_lock "$DB"
	wait_idle "$DB"
	[ "$(q1 -d "$DB" -c "SELECT rows_loaded > 0 AND NOT complete FROM ferry.checkpoints
		WHERE run_id = '$RUN' AND entity = 'orderitems'")" = t ]
	resume_and_compare
}
