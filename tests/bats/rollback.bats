#!/usr/bin/env bats
# ferry rollback RUN (issue 4, issue 19): the destination as it was before
# the run (the md5 of every table's rows, ferry's schema excepted), with
# rows that were there before (not ferry's) untouched; refused while a later
# run stands, and while rows the run did not insert reference rows it did.
# A full, an incremental and a failed run are each undone, and --dry-run
# changes nothing, on the demo and on the shared dispatch fixture (scale 1,
# where FERRY_SHARED is set): its plan has foreign keys to natural keys
# (orders.currency_code -> currencies.code) that a rollback must not follow
# as uuids.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

DISPATCH_PLAN=$FERRY_REPO/examples/dispatch.plan

setup_file() {
	demo_dbs rb_src rb_tmpl 1
	q -d rb_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	# rows the application made in the destination before any migration
	q -d rb_tmpl <<'SQL'
INSERT INTO public.orderstatuses (code, label, sort_order) VALUES ('archived', 'Archived', 99);
INSERT INTO public.offices (name, account_code) VALUES ('Walk-in counter', 'WALKIN');
SQL
	shared_fixture || return 0
	# the dispatch fixture at scale 1, and a full run of its plan (rb_dfull)
	local d=$FERRY_SHARED/fixtures/dispatch
	new_db rb_dsrc
	q -d rb_dsrc -v scale=1 -f "$d/legacy-schema.sql" -f "$d/legacy-data.sql" >/dev/null
	new_db rb_dtmpl
	q -d rb_dtmpl -f "$d/destination-schema.sql" >/dev/null
	q -d rb_dtmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	clone_db rb_dtmpl rb_dfull
	dispatch_run rb_dsrc rb_dfull full "$BATS_FILE_TMPDIR"
}

need_dispatch() {
	shared_fixture || skip "the shared dispatch fixture is not here (FERRY_SHARED unset)"
}

# dispatch_run SRC DB RUN DIR [ARGS]: a run of examples/dispatch.plan, which must succeed
dispatch_run() {
	local src=$1 db=$2 id=$3 dir=$4
	shift 4
	ferry run -q --source "dbname=$src" --target "dbname=$db" --plan "$DISPATCH_PLAN" \
		--run-id "$id" --workdir "$dir/$id" "$@" >"$dir/$id.out" 2>&1 || {
		cat "$dir/$id.out" >&2
		return 1
	}
}

# undone DB RUN BEFORE: "ferry rollback RUN --dry-run" says what it would
# delete and changes nothing; then "ferry rollback RUN" brings DB back to
# the snapshot BEFORE and marks the run rolled back
undone() {
	local db=$1 id=$2 before=$3 during
	during=$(db_snapshot "$db")
	[ "$during" != "$before" ]
	run ferry rollback "$id" --dry-run --target "dbname=$db"
	assert_exit 0
	assert_contains "run $id: "
	assert_contains " rows would be deleted (dry run)"
	[ "$(db_snapshot "$db")" = "$during" ]
	run ferry rollback "$id" --target "dbname=$db"
	assert_exit 0
	assert_contains " rows deleted"
	if [ "$(db_snapshot "$db")" != "$before" ]; then
		echo "$db after the rollback of $id differs from before the run:" >&2
		diff <(echo "$before") <(db_snapshot "$db") >&2
		return 1
	fi
	[ "$(q1 -d "$db" -c "SELECT status FROM ferry.runs WHERE run_id = '$id'")" = rolled_back ]
	[ "$(q1 -d "$db" -c "SELECT count(*) FROM ferry.id_map WHERE run_id = '$id'")" = 0 ]
}

teardown_file() {
	drop_dbs
}

# migrate DB RUN [ARGS]: a run of the demo plan, which must succeed
migrate() {
	local db=$1 id=$2
	shift 2
	ferry run -q --source dbname=rb_src --target "dbname=$db" --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id "$id" --workdir "$BATS_TEST_TMPDIR/$id" "$@" >"$BATS_TEST_TMPDIR/$id.out" 2>&1 || {
		cat "$BATS_TEST_TMPDIR/$id.out" >&2
		return 1
	}
}

@test "ferry rollback RUN leaves the destination as it was before the run" {
	clone_db rb_tmpl rb_one
	local before
	before=$(db_snapshot rb_one)
	migrate rb_one r1
	[ "$(db_snapshot rb_one)" != "$before" ]
	run ferry rollback r1 --target dbname=rb_one
	assert_exit 0
	assert_contains "offices : deleted 20 rows from public.offices"
	assert_contains "run r1: 7722 rows deleted"
	[ "$(db_snapshot rb_one)" = "$before" ]
	# the books say so; the rows that were there before are untouched
	run q1 -d rb_one -c "SELECT status, (SELECT count(*) FROM ferry.id_map), (SELECT count(*) FROM ferry.checkpoints),
		(SELECT string_agg(DISTINCT status, ',') FROM ferry.entity_runs),
		(SELECT (data->>'deleted')::int FROM ferry.audit_log WHERE event = 'rollback')
		FROM ferry.runs WHERE run_id = 'r1'"
	[ "$output" = "rolled_back|0|0|rolled_back|7722" ]
	[ "$(q1 -d rb_one -c "SELECT count(*) FROM offices WHERE account_code = 'WALKIN'")" -eq 1 ]
	# a rolled back run is not resumed, nor rolled back twice
	run ferry resume r1 --target dbname=rb_one
	assert_exit 2
	assert_contains "resume: run r1 was rolled back"
	run ferry rollback r1 --target dbname=rb_one
	assert_exit 0
	assert_contains "run r1 is already rolled back"
	# and the same plan migrates again into it
	migrate rb_one r1b
}

@test "ferry rollback --dry-run says what it would delete and deletes nothing" {
	clone_db rb_tmpl rb_dry
	migrate rb_dry d1
	local before
	before=$(db_snapshot rb_dry)
	run ferry rollback d1 --dry-run --target dbname=rb_dry
	assert_exit 0
	assert_contains "comments : would delete 1154 rows from public.comments"
	assert_contains "run d1: 7722 rows would be deleted (dry run)"
	[ "$(db_snapshot rb_dry)" = "$before" ]
	[ "$(q1 -d rb_dry -c "SELECT status FROM ferry.runs WHERE run_id = 'd1'")" = done ]
}

@test "a rollback is refused while a later run stands; rolled back in reverse order, each run is undone" {
	clone_db rb_tmpl rb_two
	clone_db rb_src rb_src2
	local s0 s1 s2
	s0=$(db_snapshot rb_two)
	ferry run -q --source dbname=rb_src2 --target dbname=rb_two --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id full --workdir "$BATS_TEST_TMPDIR/full"
	s1=$(db_snapshot rb_two)
	# the application adds rows (only adds: what a run updates keeps its new values)
	q -d rb_src2 <<'SQL'
INSERT INTO dispatch_patient (id, office_id, first_name, last_name, created_at, updated_at)
VALUES (9001, 1, 'New', 'Patient', now(), now());
INSERT INTO dispatch_order (id, office_id, patient_id, status_id, rush, metadata, total, created_at, updated_at)
VALUES (9001, 1, 9001, 'received', 'N', '{}', 10, now(), now());
INSERT INTO dispatch_orderitem (id, order_id, product_id, quantity, unit_price, coatings)
VALUES (9001, 9001, 1, 1, 10, 'AR');
INSERT INTO dispatch_comment (id, content_type_id, object_id, parent_id, author_id, body, is_internal, created_at, updated_at)
VALUES (9001, 14, 9001, NULL, 2, 'New order', 'N', now(), now()), (9002, 14, 9001, 9001, 3, 'Seen', 'N', now(), now());
SQL
	ferry run -q --source dbname=rb_src2 --target dbname=rb_two --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--incremental --run-id inc --workdir "$BATS_TEST_TMPDIR/inc"
	s2=$(db_snapshot rb_two)
	[ "$s2" != "$s1" ]
	# the full run cannot go while the incremental one stands
	run ferry rollback full --target dbname=rb_two
	assert_exit 2
	assert_contains "cannot roll back run full: later runs still stand (inc); roll them back first"
	[ "$(db_snapshot rb_two)" = "$s2" ]
	[ "$(q1 -d rb_two -c "SELECT status FROM ferry.runs WHERE run_id = 'full'")" = done ]
	# the incremental run: its 5 new rows go, the rows it read again and wrote keep their (same) values
	run ferry rollback inc --dry-run --target dbname=rb_two
	assert_exit 0
	assert_contains "run inc: 5 rows would be deleted (dry run)"
	[ "$(db_snapshot rb_two)" = "$s2" ]
	run ferry rollback inc --target dbname=rb_two
	assert_exit 0
	assert_contains "run inc: 5 rows deleted"
	assert_contains "that run inc updated keep their new values (no before-images)"
	[ "$(db_snapshot rb_two)" = "$s1" ]
	# then the full run
	run ferry rollback full --target dbname=rb_two
	assert_exit 0
	[ "$(db_snapshot rb_two)" = "$s0" ]
}

@test "a rollback is refused while rows it did not insert reference rows it did, and lists them" {
	clone_db rb_tmpl rb_ref
	migrate rb_ref r1
	# the application, after the migration: a comment by a migrated user on a migrated order
	q -d rb_ref -c "INSERT INTO comments (entity_type, entity_id, author_id, body)
		SELECT 'orders', o.id, p.id, 'written in the new application' FROM orders o, profiles p
		WHERE o.legacy_order_id = 1 AND p.legacy_user_id = 2"
	local before
	before=$(db_snapshot rb_ref)
	run ferry rollback r1 --target dbname=rb_ref
	assert_exit 2
	assert_contains "cannot undo: 1 rows of comments (not inserted by run r1) reference rows of public.profiles it inserted (column author_id)"
	assert_contains "rollback of run r1 refused: "
	[ "$(db_snapshot rb_ref)" = "$before" ]
	[ "$(q1 -d rb_ref -c "SELECT status FROM ferry.runs WHERE run_id = 'r1'")" = done ]
}

@test "a failed run of the demo is undone; --dry-run changes nothing" {
	clone_db rb_tmpl rb_fail
	local before
	before=$(db_snapshot rb_fail)
	die_on_insert rb_fail public.orders
	run ferry run --source dbname=rb_src --target dbname=rb_fail --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id f1 --workdir "$BATS_TEST_TMPDIR/f1"
	assert_exit 4
	assert_contains "orders: ferry-load failed (exit 4)"
	[ "$(q1 -d rb_fail -c "SELECT status FROM ferry.runs WHERE run_id = 'f1'")" = failed ]
	live_on_insert rb_fail public.orders
	undone rb_fail f1 "$before"
}

@test "dispatch fixture: a full run is undone; --dry-run changes nothing" {
	need_dispatch
	clone_db rb_dfull rb_d1
	undone rb_d1 full "$(db_snapshot rb_dtmpl)"
}

@test "dispatch fixture: an incremental run is undone; --dry-run changes nothing" {
	need_dispatch
	clone_db rb_dfull rb_d2
	clone_db rb_dsrc rb_dsrc2
	local before
	before=$(db_snapshot rb_d2)
	# the application adds rows (only adds: what a run updates keeps its new values)
	q -d rb_dsrc2 <<'SQL'
INSERT INTO dispatch_order (order_number, office_id, doctor_id, patient_id, casetype_id, status_id, currency_id,
                            rush, total_amount, instructions, metadata, created_by_id, created_at, updated_at)
SELECT 'NEW-' || id, office_id, doctor_id, patient_id, casetype_id, status_id, currency_id,
       'N', total_amount, 'new order', '{}', created_by_id, now(), now()
  FROM dispatch_order WHERE id % 100 = 7;
INSERT INTO dispatch_orderitem (order_id, product_id, quantity, unit_price, line_total, created_at, updated_at)
SELECT id, (SELECT min(id) FROM dispatch_product), 1, 10, 10, now(), now()
  FROM dispatch_order WHERE order_number LIKE 'NEW-%';
INSERT INTO dispatch_orderstatushistory (order_id, from_status_id, to_status_id, changed_by_id, changed_at, note)
SELECT id, status_id, status_id, created_by_id, now(), 'new order' FROM dispatch_order WHERE order_number LIKE 'NEW-%';
SQL
	dispatch_run rb_dsrc2 rb_d2 inc "$BATS_TEST_TMPDIR" --incremental --min-success 0
	[ "$(q1 -d rb_d2 -c "SELECT count(*) FROM public.orders WHERE order_number LIKE 'NEW-%'")" -gt 0 ]
	undone rb_d2 inc "$before"
	# then the full run under it
	undone rb_d2 full "$(db_snapshot rb_dtmpl)"
}

@test "dispatch fixture: a failed run is undone; --dry-run changes nothing" {
	need_dispatch
	clone_db rb_dtmpl rb_d3
	local before
	before=$(db_snapshot rb_d3)
	die_on_insert rb_d3 public.orders
	run ferry run --source dbname=rb_dsrc --target dbname=rb_d3 --plan "$DISPATCH_PLAN" \
		--run-id f3 --workdir "$BATS_TEST_TMPDIR/f3"
	assert_exit 4
	assert_contains "orders: ferry-load failed (exit 4)"
	[ "$(q1 -d rb_d3 -c "SELECT status FROM ferry.runs WHERE run_id = 'f3'")" = failed ]
	[ "$(q1 -d rb_d3 -c "SELECT count(*) FROM public.patients")" -gt 0 ]
	live_on_insert rb_d3 public.orders
	undone rb_d3 f3 "$before"
}
