#!/usr/bin/env bats
# Kill anywhere (issue 9): "ferry run" on the demo database is killed with
# SIGKILL again and again, each "ferry resume" killed in its turn, then
# resumed to the end; the destination must be identical to an
# uninterrupted run's.  Through pipes and through spool files.
#
# resume.bats kills once at three chosen moments; here a chain of kills
# (kill the run, resume and kill again, ... , then a last resume) puts 13
# kills a chain, 26 in all, at moments spread over the whole migration, in
# the order of its steps: each kill point names the step it falls in (its
# anchor), so that the chain walks through the run from its first step to
# its last.  The whole process group goes (the run is under setsid), as a
# crash of the machine would end every stage.  The kill points:
#
#   start            at once when the attempt has begun (run_start in the
#                    log): the snapshot taken, the first step starting
#   boundary@STEP    the moment STEP is done (entity_done): between steps
#   extract@STEP     during an extract: before the attempt, a test session
#                    locks STEP's source table; the kill comes while a
#                    ferry-extract waits in its COPY for it
#   transform@STEP/T during a transform: before the attempt, a test session
#                    locks destination table T (done, written by no step
#                    before STEP), whose keys STEP's transform reads to
#                    check references; the kill comes while it waits
#   load@STEP        a load that cannot write yet: a test session locks
#                    STEP's destination table; the kill comes while a
#                    ferry-load waits for it in its first COPY
#   copy@STEP        mid-batch: a test session holds the lock that the 50th
#                    row of a batch of STEP takes (hold_points in
#                    driver-helpers.bash); the kill comes while a ferry-load
#                    backend waits for it in STEP's COPY (or the INSERT from
#                    its stage), rows of the batch written, none committed
#   commit@STEP      the same in the COMMIT of STEP's first batch (a
#                    deferred trigger on ferry.checkpoints takes the lock)
#
# No point is chosen by time: each waits for a lock it made certain, or for
# an event of the run's log after which the run still has steps to do.
# The triggers of hold_points change nothing and wait for nothing while no
# test session holds their lock; the reference run has them too.
#
# After every kill: the run is not done, the process or backend the kill
# point waited for was there when the kill came, and the books agree with
# the tables: with spool files, every entity's checkpoint counts exactly the
# rows its table holds (a batch and its checkpoint commit together: this is
# what resume trusts); with pipes, never more.  Before the next attempt the
# killed attempt's sessions are gone (wait_gone).  At the end: every kind of
# moment was hit, every table identical to the reference (md5 of all rows),
# no duplicate key, and the books (rows loaded and rejected per entity,
# rejects by entity, stage, reason, disposition and legacy key, id map
# counts) identical too: no row lost, none duplicated, no reject recorded
# twice.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

SRC=ka_src

setup_file() {
	demo_dbs ka_src ka_tmpl 1
	q -d ka_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	hold_points ka_tmpl public.orders orders public.orderitems orderitems
	clone_db ka_tmpl ka_ref
	local t0=$SECONDS
	ferry run --source dbname=ka_src --target dbname=ka_ref --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --run-id ref --workdir "$BATS_FILE_TMPDIR/ref" \
		>"$BATS_FILE_TMPDIR/ref.out" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/ref.out" >&2
		return 1
	}
	# the reference's duration (an attempt's length), printed by the first test
	echo $((SECONDS - t0 > 0 ? SECONDS - t0 : 1)) >"$BATS_FILE_TMPDIR/ref.secs"
}

teardown_file() {
	drop_dbs
}

teardown() {
	stop_run
}


# the steps of the plan, and the target table of each entity
steps() { ferry-plan order "$DEMO_PLAN"; }
target_of() { ferry-plan get "$DEMO_PLAN" "$1" target; }

dones() {
	local n
	n=$(grep -hcs "\"entity\":\"$1\",\"event\":\"entity_done\"" "$WORK/log/ferry.jsonl")
	echo "${n:-0}"
}

# attempt: "ferry run" (the first) or "ferry resume" in a process group of
# its own; what the log held when it began, to tell its events apart
attempt() {
	DONE0=$(dones "$ANCHOR")
	if [ "$1" = run ]; then
		start_run "$BATS_TEST_TMPDIR/attempt.out" "${ARGS[@]}"
	else
		setsid ferry resume "$RUN" --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN" \
			>"$BATS_TEST_TMPDIR/attempt.out" 2>&1 3>&- &
		RUN_PID=$!
	fi
}

# poll COMMAND: every 20 ms until it succeeds, 120 s at most, while the run goes on
poll() {
	local end=$((SECONDS + 120))
	while [ "$SECONDS" -lt "$end" ]; do
		"$@" && return 0
		if ! kill -0 "$RUN_PID" 2>/dev/null; then
			echo "the run ended before: $*; its output:" >&2
			cat "$BATS_TEST_TMPDIR/attempt.out" >&2
			return 1
		fi
		sleep 0.02
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# conditions a kill point waits for
ran_start() {
	local n
	n=$(grep -hcs '"event":"run_start"' "$WORK/log/ferry.jsonl")
	[ "${n:-0}" -ge "$ATTEMPT" ]
}
anchor_done() {
	[ "$(dones "$ANCHOR")" -gt "$DONE0" ]
}
# a ferry-load backend of the destination held by the test's lock in a
# statement (COPY|INSERT, COMMIT)
held_doing() {
	held "$DB" ferry-load || return 1
	SEEN_DB=$(q1 -d "$DB" -c "SELECT state || '|' || left(query, 40) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'ferry-load' AND state = 'active'
		  AND wait_event = 'advisory'")
	grep -Eq "^active\|($1)" <<<"$SEEN_DB"
}

# the programs of the run's process group
programs() {
	ps -o args= -g "$RUN_PID" 2>/dev/null | awk '
		/ferry-extract .*--export-snapshot/ { next }
		/ferry-extract/ { p["extract"] = 1 } /ferry-transform/ { p["transform"] = 1 }
		/ferry-load/ { p["load"] = 1 } /psql/ { p["psql"] = 1 }
		END { for (k in p) printf "%s ", k }'
}

# prepare POINT: what a kill point sets up before its attempt begins; a
# table lock is taken once the attempt is held at its start (at_start:
# its preflight and its books' checks read the tables), in LOCK_AT_START
prepare() {
	local kind=${1%%@*} arg=${1#*/}
	ANCHOR=${1#*@}
	ANCHOR=${ANCHOR%%/*}
	LOCK_AT_START=()
	case $kind in
	extract)
		# the extract of the anchor (or of a step before it reading that table) will wait
		LOCK_AT_START=(hold_lock "$SRC" "$(ferry-plan get "$DEMO_PLAN" "$ANCHOR" source)" 'ACCESS EXCLUSIVE')
		;;
	transform)
		# a destination table (done, and written by no step before the anchor) whose
		# keys the anchor's transform reads: the transform waits
		LOCK_AT_START=(hold_lock "$DB" "$arg" 'ACCESS EXCLUSIVE')
		;;
	load)
		LOCK_AT_START=(hold_lock "$DB" "$(target_of "$ANCHOR")" 'ACCESS EXCLUSIVE')
		;;
	copy)
		hold_advisory "$DB" "row $ANCHOR"
		;;
	commit)
		hold_advisory "$DB" "commit $ANCHOR"
		;;
	esac
	if [ ${#LOCK_AT_START[@]} -gt 0 ]; then hold_advisory "$DB" start; fi
}

# kill_at POINT: wait for the moment the point names in this attempt, note
# what is alive, kill the process group; the point must have been what it meant
#   start            the attempt's run_start
#   boundary@E       step E done (its entity_done event)
#   extract@E        a ferry-extract waits for the lock prepare took
#   transform@E/T    a ferry-transform waits for the lock on T
#   load@E           a ferry-load waits for the lock on E's table
#   copy@E           a ferry-load backend held in step E's COPY (or INSERT from its stage)
#   commit@E         a ferry-load backend held in step E's COMMIT
kill_at() {
	local kind=${1%%@*} seen
	SEEN_DB=
	case $kind in
	start) poll ran_start ;;
	boundary) poll anchor_done ;;
	extract) poll waiting_for_lock "$SRC" ferry-extract && SEEN_DB="extract waits for a lock" ;;
	transform) poll waiting_for_lock "$DB" ferry-transform && SEEN_DB="transform waits for a lock" ;;
	load) poll waiting_for_lock "$DB" ferry-load && SEEN_DB="load waits for a lock" ;;
	copy) poll held_doing 'COPY|INSERT' ;;
	commit) poll held_doing 'COMMIT' ;;
	esac || return 1
	seen="programs: $(programs)${SEEN_DB:+; $SEEN_DB}"
	kill_run || return 1
	release_lock "$SRC"
	release_lock "$DB"
	KILLS=$((KILLS + 1))
	echo "kill $KILLS ($1): $seen" | tee -a "$BATS_TEST_TMPDIR/kills"
	case $kind in
	extract) [[ $seen == *extract* ]] ;;
	transform) [[ $seen == *transform* ]] ;;
	load|copy|commit) [[ $seen == *load* ]] ;;
	esac || { echo "kill $KILLS ($1): not what it waited for: $seen" >&2; return 1; }
}

# after a kill: the run is not done, the killed attempt's sessions are gone,
# and each entity's checkpoint agrees with its table
check_after_kill() {
	[ "$(q1 -d "$DB" -c "SELECT status FROM ferry.runs WHERE run_id = '$RUN'")" = running ]
	wait_gone "$DB"
	wait_gone "$SRC"
	local e n k
	for e in $(steps | grep -v :); do
		n=$(q1 -d "$DB" -c "SELECT count(*) FROM $(target_of "$e")")
		k=$(q1 -d "$DB" -c "SELECT coalesce(sum(rows_loaded), 0) FROM ferry.checkpoints
			WHERE run_id = '$RUN' AND entity = '$e' AND phase = 'load'")
		if [ "$MODE" = spool ] && [ "$n" -ne "$k" ]; then
			echo "after kill $KILLS: $e holds $n rows, its checkpoint counts $k" >&2
			return 1
		elif [ "$k" -gt "$n" ]; then
			echo "after kill $KILLS: $e holds $n rows, its checkpoint counts more: $k" >&2
			return 1
		fi
	done
}

# chain MODE POINT...: a run into a fresh database, killed at each point in
# turn (each attempt after the first a "ferry resume"), then resumed to the
# end, which must exit 0
chain() {
	MODE=$1
	shift
	DB=ka_$MODE
	RUN=chain-$MODE
	WORK=$BATS_TEST_TMPDIR/work
	KILLS=0
	ATTEMPT=0
	clone_db ka_tmpl "$DB"
	ARGS=(--source "dbname=$SRC" --target "dbname=$DB" --plan "$DEMO_PLAN"
		--min-success "$DEMO_MIN" --run-id "$RUN" --workdir "$WORK")
	[ "$MODE" = spool ] && ARGS+=(--spool "$BATS_TEST_TMPDIR/spool")
	local p
	for p in "$@"; do
		prepare "$p"
		ATTEMPT=$((ATTEMPT + 1))
		if [ "$ATTEMPT" -eq 1 ]; then attempt run; else attempt resume; fi
		if [ ${#LOCK_AT_START[@]} -gt 0 ]; then at_start "$DB" "${LOCK_AT_START[@]}"; fi
		kill_at "$p"
		check_after_kill
	done
	# the last resume runs to the end
	local rc=0
	ANCHOR=none
	attempt resume
	wait "$RUN_PID" || rc=$?
	RUN_PID=
	output=$(cat "$BATS_TEST_TMPDIR/attempt.out")
	echo "$output" | grep -v '^ \|^-\|^(' | tail -5
	status=$rc
	assert_exit 0
	assert_contains "resuming run $RUN"
	assert_contains "success rate 99.1271%"
	[ "$KILLS" -eq $# ]
	# every kind of moment was hit
	local k
	for k in extract transform load; do
		grep -q "programs: .*$k" "$BATS_TEST_TMPDIR/kills" || { echo "no kill hit a running $k" >&2; return 1; }
	done
	grep -qF 'load waits for a lock' "$BATS_TEST_TMPDIR/kills" || { echo "no kill hit a load waiting to write" >&2; return 1; }
	grep -Eq 'active\|(COPY|INSERT)' "$BATS_TEST_TMPDIR/kills" || { echo "no kill hit a batch being written" >&2; return 1; }
	grep -qF 'active|COMMIT' "$BATS_TEST_TMPDIR/kills" || { echo "no kill hit a COMMIT" >&2; return 1; }
}

# compare: the destination against the reference, tables and books
compare() {
	assert_same_db "$DB" ka_ref
	assert_no_duplicates "$DB"
	local a b
	a=$(books ka_ref ref)
	b=$(books "$DB" "$RUN")
	if [ "$a" != "$b" ]; then
		echo "the books of run $RUN differ from the reference's:" >&2
		diff <(echo "$a") <(echo "$b") >&2
		return 1
	fi
	# every attempt started the run again; it ended once
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = '$RUN' AND event = 'run_start'")" -eq $((KILLS + 1)) ]
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = '$RUN' AND event = 'run_end'")" -eq 1 ]
}

@test "the reference run: exit 0, the catalogue's rejects only" {
	echo "reference run: $(cat "$BATS_FILE_TMPDIR/ref.secs")s"
	grep -q "success rate 99.1271%" "$BATS_FILE_TMPDIR/ref.out"
	[ "$(q1 -d ka_ref -c "SELECT count(*) FROM ferry.rejects WHERE disposition = 'rejected'")" -eq 68 ]
	assert_no_duplicates ka_ref
}

@test "pipes: 13 kills spread over the run (extract, transform, load, mid-batch, commit, boundaries), resumed each time: identical" {
	chain pipe start commit@offices load@orderstatuses transform@addresses/public.offices \
		boundary@invoices extract@profiles commit@patients copy@orders load@invoicelines \
		extract@orderevents copy@orderitems transform@comments/public.invoices commit@comments
	compare
}

@test "spool files: 13 kills spread over the run, resumed each time: identical, every spool file left whole" {
	chain spool load@auth.users extract@offices boundary@orderstatuses transform@addresses/public.offices \
		commit@invoices load@products extract@patients boundary@offices:billing_address_id copy@orders \
		commit@invoicelines load@orderevents copy@orderitems transform@comments/public.invoices
	compare
	# every spool file left is whole (read to its verified trailer): a temporary file
	# is never renamed into place, and those of the killed stages were removed
	local f n=0
	for f in "$BATS_TEST_TMPDIR"/spool/*.zst; do
		ferry-cat --check "$f" >/dev/null
		n=$((n + 1))
	done
	[ "$n" -eq 32 ]
	[ -z "$(compgen -G "$BATS_TEST_TMPDIR/spool/.*.tmp.*")" ]
}
