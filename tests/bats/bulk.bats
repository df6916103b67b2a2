#!/usr/bin/env bats
# Bulk load of an empty destination table (issue 16, ferry-load(1) BULK
# LOAD): the indexes a load can do without are dropped at its start, saved
# first in ferry.bulk_indexes, and built again at its end; resume, rollback
# and a failed run build again whatever a killed load left.
#
# The kill point between the drop and the rebuild is made certain: a test
# session holds the advisory lock a rebuild of public.orderitems takes, so
# the load of orderitems drops its index, loads every row, and waits for
# the lock when the run is killed.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

SRC=bk_src
ORDERITEMS_LOCK="hashtextextended('ferry bulk \"public\".\"orderitems\"', 0)"

setup_file() {
	demo_dbs bk_src bk_tmpl 1
	q -d bk_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	clone_db bk_tmpl bk_ref
	ferry run --source dbname=bk_src --target dbname=bk_ref --plan "$DEMO_PLAN" --no-bulk \
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
	stop_run bk_src
}

# schema_of DB: every index and constraint of the application's tables, by definition
schema_of() {
	q1 -d "$1" <<'SQL'
SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes
 WHERE schemaname NOT IN ('ferry', 'ferry_backup', 'pg_catalog', 'information_schema')
UNION ALL
SELECT 'constraint ' || conname || ' on ' || conrelid::regclass || ': ' || pg_get_constraintdef(oid)
       || CASE WHEN convalidated THEN '' ELSE ' (not valid)' END
  FROM pg_constraint WHERE connamespace NOT IN ('ferry'::regnamespace, 'pg_catalog'::regnamespace)
ORDER BY 1
SQL
}

assert_same_schema() {
	local a b
	a=$(schema_of "$1")
	b=$(schema_of "$2")
	if [ "$a" != "$b" ]; then
		echo "the indexes and constraints of $1 and $2 differ:" >&2
		diff <(echo "$a") <(echo "$b") >&2
		return 1
	fi
}

# hold_rebuild_lock DB: a session holding the lock a rebuild of orderitems takes
hold_rebuild_lock() {
	PGAPPNAME=ferry_test_lock psql -X -q -d "$1" \
		-c "SELECT pg_advisory_lock($ORDERITEMS_LOCK)" -c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
	wait_until 20 rebuild_lock_held "$1"
}
rebuild_lock_held() {
	[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE a.application_name = 'ferry_test_lock' AND l.locktype = 'advisory' AND l.granted")" != 0 ]
}

# killed_between DB RUN [MODE]: a run of the demo plan into a fresh
# database, killed while the load of orderitems waits to build its index again
killed_between() {
	DB=$1
	RUN=$2
	WORK=$BATS_TEST_TMPDIR/work
	clone_db bk_tmpl "$DB"
	local args=(--source "dbname=$SRC" --target "dbname=$DB" --plan "$DEMO_PLAN"
		--min-success "$DEMO_MIN" --run-id "$RUN" --workdir "$WORK")
	[ "${3:-}" = spool ] && args+=(--spool "$BATS_TEST_TMPDIR/spool")
	hold_rebuild_lock "$DB"
	start_run "$BATS_TEST_TMPDIR/run.out" "${args[@]}"
	wait_until 120 waiting_for_lock "$DB" ferry-load
	# every row of orderitems is in, its index is not
	run q1 -d "$DB" -c "SELECT count(*) FROM public.orderitems"
	[ "$output" -gt 0 ] || false
	run q1 -d "$DB" -c "SELECT to_regclass('public.orderitems_order_id_idx') IS NULL,
		(SELECT string_agg(name, ',' ORDER BY name) FROM ferry.bulk_indexes WHERE on_table = 'public.orderitems')"
	assert_contains "t|orderitems_order_id_idx"
	kill_run
	release_lock "$DB"
	wait_gone "$DB"
	wait_idle "$SRC"
	# still gone after the kill: only a rebuild brings it back
	run q1 -d "$DB" -c "SELECT count(*) FROM ferry.bulk_indexes WHERE on_table = 'public.orderitems'"
	[ "$output" -ge 1 ] || false
}

@test "a full run loads in bulk: same rows, indexes and constraints as a run with --no-bulk" {
	clone_db bk_tmpl bk_full
	run ferry run --source dbname=bk_src --target dbname=bk_full --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --run-id full --workdir "$BATS_TEST_TMPDIR/work"
	assert_exit 0
	assert_same_db bk_full bk_ref
	assert_same_schema bk_full bk_ref
	[ "$(q1 -d bk_full -c "SELECT count(*) FROM ferry.bulk_indexes")" -eq 0 ] || false
	# indexes were dropped and built again (the loads' events say so), none by the reference
	run q1 -d bk_full -c "SELECT string_agg(DISTINCT entity, ',' ORDER BY entity) FROM ferry.audit_log
		WHERE run_id = 'full' AND event = 'bulk_rebuild'"
	assert_contains "orderitems"
	assert_contains "orders"
	[ "$(q1 -d bk_ref -c "SELECT count(*) FROM ferry.audit_log WHERE event LIKE 'bulk%'")" -eq 0 ] || false
}

@test "-j 2 --split 2: split parts loaded at once into one table in bulk, same result as --no-bulk" {
	clone_db bk_tmpl bk_par
	run ferry run --source dbname=bk_src --target dbname=bk_par --plan "$DEMO_PLAN" -j 2 --split 2 \
		--split-min 1000 --min-success "$DEMO_MIN" --run-id par --workdir "$BATS_TEST_TMPDIR/work"
	assert_exit 0
	assert_same_db bk_par bk_ref
	assert_same_schema bk_par bk_ref
	assert_no_duplicates bk_par
	[ "$(q1 -d bk_par -c "SELECT count(*) FROM ferry.bulk_indexes")" -eq 0 ] || false
	# orderitems (1996 rows) went in two parts
	[ "$(q1 -d bk_par -c "SELECT count(*) FROM ferry.checkpoints WHERE run_id = 'par' AND entity = 'orderitems'")" -eq 2 ] || false
}

@test "killed between drop and rebuild (pipes): ferry resume builds the index again first" {
	killed_between bk_pipe pipe
	run ferry resume pipe --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN"
	echo "$output" | grep -v '^ \|^-\|^(' | tail -20
	assert_exit 0
	assert_same_db "$DB" bk_ref
	assert_same_schema "$DB" bk_ref
	assert_no_duplicates "$DB"
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.bulk_indexes")" -eq 0 ] || false
}

@test "killed between drop and rebuild (spool): ferry resume builds the index again first" {
	killed_between bk_spool spool spool
	run ferry resume spool --source "dbname=$SRC" --target "dbname=$DB" --min-success "$DEMO_MIN"
	assert_exit 0
	assert_same_db "$DB" bk_ref
	assert_same_schema "$DB" bk_ref
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.bulk_indexes")" -eq 0 ] || false
}

@test "killed between drop and rebuild: ferry rollback builds the index again, then undoes the run" {
	killed_between bk_rb rb
	run ferry rollback rb --target "dbname=$DB"
	assert_exit 0
	assert_same_schema "$DB" bk_tmpl
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orderitems")" -eq 0 ] || false
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.bulk_indexes")" -eq 0 ] || false
}

@test "rollback.sql refuses while a bulk load's indexes are not built again" {
	killed_between bk_refuse refuse
	printf 'orderitems\tpublic.orderitems\tid\n' >"$BATS_TEST_TMPDIR/spec.tsv"
	run q -d "$DB" -v run=refuse -v spec="$BATS_TEST_TMPDIR/spec.tsv" -v dry=0 \
		-f "$FERRY_REPO/scripts/sql/rollback.sql"
	[ "$status" -ne 0 ] || false
	assert_contains "indexes of \"public\".\"orderitems\" dropped by a bulk load are not built again"
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM public.orderitems")" -gt 0 ] || false
}

@test "ferry-load --rebuild-indexes: builds what a killed load left, and nothing is left to build" {
	killed_between bk_cmd cmd
	run ferry-load --rebuild-indexes --target "dbname=$DB"
	assert_exit 0
	[ "$(q1 -d "$DB" -c "SELECT to_regclass('public.orderitems_order_id_idx') IS NOT NULL")" = t ] || false
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM ferry.bulk_indexes")" -eq 0 ] || false
	run ferry-load --rebuild-indexes --target "dbname=$DB"
	assert_exit 0
}

@test "ferry-load --no-bulk, and a table with rows: no index is dropped (the rebuild lock is never waited for)" {
	clone_db bk_tmpl bk_nob
	DB=bk_nob
	hold_rebuild_lock bk_nob
	local spool=$BATS_TEST_TMPDIR/oi.stream log=$BATS_TEST_TMPDIR/events.jsonl
	ferry-extract --source dbname=bk_src --plan "$DEMO_PLAN" --entity orderitems -q |
		ferry-transform --plan "$DEMO_PLAN" --entity orderitems --no-check -q >"$spool"
	[ -s "$spool" ] || false
	run ferry-load --target dbname=bk_nob --plan "$DEMO_PLAN" --entity orderitems --run nob --no-bulk \
		--log "$log" "$spool"
	[ "$status" -eq 0 ] || [ "$status" -eq 6 ] || false
	grep -q '"event":"load_end"' "$log" || false
	run grep -c '"event":"bulk' "$log"
	[ "$output" = 0 ] || false
	[ "$(q1 -d bk_nob -c "SELECT count(*) FROM public.orderitems")" -gt 0 ] || false
	# the table has rows now: a load without --no-bulk is an ordinary one too
	q -d bk_nob -c "DELETE FROM ferry.id_map"
	run ferry-load --target dbname=bk_nob --plan "$DEMO_PLAN" --entity orderitems --run nob2 --mode skip \
		--log "$log" "$spool"
	[ "$status" -eq 0 ] || [ "$status" -eq 6 ] || false
	run grep -c '"event":"bulk' "$log"
	[ "$output" = 0 ] || false
	[ "$(q1 -d bk_nob -c "SELECT count(*) FROM ferry.bulk_indexes")" -eq 0 ] || false
	[ "$(q1 -d bk_nob -c "SELECT to_regclass('public.orderitems_order_id_idx') IS NOT NULL")" = t ] || false
}

@test "ferry-load on an empty table: drops the index, builds it again, says so in its events" {
	clone_db bk_tmpl bk_one
	local spool=$BATS_TEST_TMPDIR/oi.stream log=$BATS_TEST_TMPDIR/events.jsonl
	ferry-extract --source dbname=bk_src --plan "$DEMO_PLAN" --entity orderitems -q |
		ferry-transform --plan "$DEMO_PLAN" --entity orderitems --no-check -q >"$spool"
	run ferry-load --target dbname=bk_one --plan "$DEMO_PLAN" --entity orderitems --run one -vv \
		--log "$log" "$spool"
	[ "$status" -eq 0 ] || [ "$status" -eq 6 ] || false
	assert_contains "index orderitems_order_id_idx dropped until the end of the load"
	assert_contains "index orderitems_order_id_idx built again"
	grep -q '"event":"bulk_begin"' "$log" || false
	grep -q '"event":"bulk_rebuild"' "$log" || false
	assert_same_schema bk_one bk_ref
}
