#!/usr/bin/env bats
# ferry run --incremental (issue 4): after a full run of examples/demo.plan,
# the legacy application changes about 5 % of the rows of several tables,
# sets one updated_at to NULL and inserts new rows
# (tests/fixtures/demo-changes.sql); the incremental run must move exactly
# those rows, the rows whose change time is unknown (updated_at NULL), the
# ancestors and descendants of the comments among them (a tree is read by
# thread), and the entities the plan reads whole (no change time), and
# leave the destination equal to a fresh full migration of the changed
# source.  The timing of full against incremental runs is in
# docs/incremental.md (tests/bench/incremental.sh).

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

# the destination tables of the demo plan's entities, with their legacy key
# as text (the id map's spelling)
keys_of() {
	case $1 in
	auth.users) echo "auth.users|raw_app_meta_data->>'legacy_user_id'" ;;
	invoicelines) echo "public.invoicelines|legacy_invoice_id || ',' || legacy_line_no" ;;
	*) demo_keys | grep "^public.$1|" | sed 's/|\(.*\)$/|\1::text/' ;;
	esac
}

# xmins DB FILE: "table key xmin" of every row of the demo's tables
xmins() {
	local e t k
	: >"$2"
	for e in $(ferry-plan order "$DEMO_PLAN" | grep -v :); do
		IFS='|' read -r t k <<<"$(keys_of "$e")"
		q1 -d "$1" -F ' ' -c "SELECT '$e', $k, xmin FROM $t" >>"$2"
	done
	sort -o "$2" "$2"
}

setup_file() {
	demo_dbs in_src in_tmpl 1
	q -d in_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	clone_db in_tmpl in_dst
	local w=$BATS_FILE_TMPDIR
	ferry run -q --source dbname=in_src --target dbname=in_dst --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id full --workdir "$w/full" >"$w/full.out" 2>&1 || { cat "$w/full.out" >&2; return 1; }
	xmins in_dst "$w/xmin.before"
	# the keys before the application goes on
	q1 -d in_src -F ' ' -c "SELECT (SELECT max(id) FROM dispatch_patient), (SELECT max(id) FROM dispatch_order),
		(SELECT max(id) FROM dispatch_orderevent), (SELECT max(id) FROM dispatch_comment)" >"$w/max.before"
	q -d in_src -f "$FERRY_REPO/tests/fixtures/demo-changes.sql"
	ferry run --source dbname=in_src --target dbname=in_dst --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--incremental --run-id inc --workdir "$w/inc" >"$w/inc.out" 2>&1
	echo $? >"$w/inc.rc"
	xmins in_dst "$w/xmin.after"
}

teardown_file() {
	drop_dbs
}

# what the incremental run must read of each entity: the rows the
# application changed (demo-changes.sql), the rows whose updated_at is NULL,
# the new rows, and the entities without a change time whole (or that
# read a table their change time does not watch: orders)
expected() {
	local p o e c
	read -r p o e c <"$BATS_FILE_TMPDIR/max.before"
	q1 -d in_src -F ' ' <<SQL
SELECT 'auth.users', count(*) FROM auth_user
UNION ALL SELECT 'profiles', count(*) FROM auth_user
UNION ALL SELECT 'orderstatuses', count(*) FROM dispatch_orderstatus
UNION ALL SELECT 'productcategories', count(*) FROM dispatch_productcategory
UNION ALL SELECT 'addresses', count(*) FROM dispatch_address
UNION ALL SELECT 'products', count(*) FROM dispatch_product
UNION ALL SELECT 'office_contacts', count(*) FROM dispatch_office_contacts
UNION ALL SELECT 'offices', count(*) FROM dispatch_office WHERE id = 5 OR updated_at IS NULL
UNION ALL SELECT 'offices:billing_address_id', count(*) FROM dispatch_office WHERE id = 5 OR updated_at IS NULL
UNION ALL SELECT 'invoices', count(*) FROM dispatch_invoice WHERE id % 20 = 4 OR updated_at IS NULL
UNION ALL SELECT 'invoicelines', count(*) FROM dispatch_invoiceline l JOIN dispatch_invoice i ON i.id = l.invoice_id
                                 WHERE i.id % 20 = 4 OR i.updated_at IS NULL
UNION ALL SELECT 'patients', count(*) FROM dispatch_patient WHERE id % 20 = 2 OR updated_at IS NULL OR id > $p
UNION ALL SELECT 'orders', count(*) FROM dispatch_order
UNION ALL SELECT 'orderitems', count(*) FROM dispatch_orderitem i JOIN dispatch_order o ON o.id = i.order_id
                               WHERE o.id % 20 = 1 OR o.updated_at IS NULL OR o.id > $o
UNION ALL SELECT 'orderevents', count(*) FROM dispatch_orderevent WHERE id > $e
UNION ALL SELECT 'comments', ($(thread_of "(id % 20 = 0 AND body IS NOT NULL) OR updated_at IS NULL OR id > $c"))
ORDER BY 1
SQL
}

# thread_of CONDITION: a query counting the comments that CONDITION picks,
# with their ancestors and descendants: an incremental read of a tree takes
# them too, so that cycles, missing parents and depths come out as in a
# full read
thread_of() {
	cat <<SQL
WITH RECURSIVE changed AS (SELECT id, parent_id FROM dispatch_comment WHERE $1),
up(k) AS (SELECT parent_id FROM changed WHERE parent_id IS NOT NULL
          UNION SELECT s.parent_id FROM dispatch_comment s JOIN up ON s.id = up.k WHERE s.parent_id IS NOT NULL),
down(k) AS (SELECT id FROM changed UNION SELECT s.id FROM dispatch_comment s JOIN down ON s.parent_id = down.k)
SELECT count(*) FROM dispatch_comment WHERE id IN (SELECT k FROM up UNION SELECT k FROM down)
SQL
}

@test "ferry run --incremental: exit 0, since the last run's snapshot less the overlap" {
	output=$(cat "$BATS_FILE_TMPDIR/inc.out")
	status=$(cat "$BATS_FILE_TMPDIR/inc.rc")
	assert_exit 0
	assert_contains "incremental since "
	assert_contains "(run full, minus 300s overlap)"
	run q1 -d in_dst -c "SELECT kind, status, since = (SELECT source_time FROM ferry.runs WHERE run_id = 'full') - interval '300 s'
		FROM ferry.runs WHERE run_id = 'inc'"
	[ "$output" = "incremental|done|t" ]
}

@test "the incremental run reads exactly the changed and new rows, the NULL updated_at rows and the whole-read entities" {
	local want got
	want=$(expected)
	got=$(q1 -d in_dst -F ' ' -c "SELECT entity, source_rows FROM ferry.entity_runs WHERE run_id = 'inc' ORDER BY 1")
	echo "expected:"
	echo "$want"
	[ "$got" = "$want" ] || { echo "got:" >&2; echo "$got" >&2; false; }
	# orders whole: their office falls back to their patient's (dispatch_patient),
	# which their change time does not watch
	[ "$(q1 -d in_dst -c "SELECT source_rows FROM ferry.entity_runs WHERE run_id = 'inc' AND entity = 'orders'")" -eq \
		"$(q1 -d in_src -c "SELECT count(*) FROM dispatch_order")" ]
	output=$(cat "$BATS_FILE_TMPDIR/inc.out")
	assert_contains "orders: reads public.dispatch_patient, which its change time does not watch: read whole"
	# loaded = read less the catalogue's rejects among them (comment 340 and its
	# thread, on a deleted patient), each rejected as in the full run
	[ "$(q1 -d in_dst -c "SELECT count(*) FROM ferry.entity_runs WHERE run_id = 'inc'
		AND loaded_rows <> source_rows - rejected_rows")" -eq 0 ]
	[ "$(q1 -d in_dst -c "SELECT count(*) FROM ferry.rejects i WHERE run_id = 'inc' AND disposition = 'rejected'
		AND legacy_id = '340'")" -eq 1 ]
	[ "$(q1 -d in_dst -c "SELECT count(*) FROM ferry.rejects i WHERE run_id = 'inc' AND disposition = 'rejected'
		AND NOT EXISTS (SELECT 1 FROM ferry.rejects f WHERE f.run_id = 'full' AND f.entity = i.entity
		                AND f.legacy_id = i.legacy_id AND f.reason = i.reason AND f.disposition = 'rejected')")" -eq 0 ]
}

@test "only those rows were written: every other row of the destination is untouched (same xmin)" {
	local e written loaded
	for e in $(ferry-plan order "$DEMO_PLAN" | grep -v :); do
		# rows new or rewritten since the full run: at most the rows loaded, as a
		# row read again with the same values is not written again
		written=$(comm -13 "$BATS_FILE_TMPDIR/xmin.before" "$BATS_FILE_TMPDIR/xmin.after" | grep -c "^$e " || true)
		loaded=$(q1 -d in_dst -c "SELECT loaded_rows FROM ferry.entity_runs WHERE run_id = 'inc' AND entity = '$e'")
		echo "$e: $written rows written, $loaded loaded"
		[ "$written" -le "$loaded" ]
		# every changed entity's rows were written (demo-changes.sql touches these)
		case $e in
		orders|patients|invoices|comments) [ "$written" -gt 0 ] ;;
		esac
	done
	# nothing of auth_user changed: its whole read (no change time) writes nothing
	[ "$(comm -13 "$BATS_FILE_TMPDIR/xmin.before" "$BATS_FILE_TMPDIR/xmin.after" | grep -c "^auth.users " || true)" -eq 0 ]
	# the id map has the new rows only, under the incremental run
	[ "$(q1 -d in_dst -c "SELECT string_agg(entity || ':' || n, ',' ORDER BY entity) FROM (SELECT entity, count(*) n
		FROM ferry.id_map WHERE run_id = 'inc' GROUP BY entity) x")" = \
		"comments:2,orderevents:1,orderitems:1,orders:1,patients:2" ]
}

@test "the destination equals a fresh full migration of the changed source" {
	clone_db in_tmpl in_fresh
	run ferry run -q --source dbname=in_src --target dbname=in_fresh --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	assert_same_db in_dst in_fresh
	assert_no_duplicates in_dst
	# the changes are there
	[ "$(q1 -d in_dst -c "SELECT count(*) FROM orders WHERE legacy_order_id % 20 = 1 AND is_rush")" -eq 50 ]
	[ "$(q1 -d in_dst -c "SELECT is_rush FROM orders WHERE legacy_order_id = 2")" = f ]
	[ "$(q1 -d in_dst -c "SELECT count(*) FROM comments WHERE body LIKE '% (edited)'")" -eq 55 ]
	[ "$(q1 -d in_dst -c "SELECT p.depth FROM comments c JOIN comments p ON p.id = c.parent_id
		WHERE c.body = 'A late reply'")" -eq 0 ]
}

@test "a second incremental run with nothing changed reads the NULL updated_at rows again, and changes nothing" {
	local before
	before=$(db_snapshot in_dst)
	# no overlap: the default 300 s would read the changes of the first one again
	run ferry run -q --source dbname=in_src --target dbname=in_dst --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --incremental --overlap 0 --run-id inc2 --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	[ "$(db_snapshot in_dst)" = "$before" ]
	run q1 -d in_dst -F ' ' -c "SELECT entity, source_rows FROM ferry.entity_runs WHERE run_id = 'inc2'
		AND entity IN ('orders', 'patients', 'offices', 'invoices', 'orderevents') ORDER BY 1"
	echo "$output"
	# NULL updated_at: 11 patients, 2 offices; nothing else; orders whole
	[ "$output" = "invoices 0"$'\n'"offices 2"$'\n'"orderevents 0"$'\n'"orders $(q1 -d in_src -c "SELECT count(*) FROM dispatch_order")"$'\n'"patients 11" ]
	# and the 8 comments, with their threads
	[ "$(q1 -d in_dst -c "SELECT source_rows FROM ferry.entity_runs WHERE run_id = 'inc2' AND entity = 'comments'")" -eq \
		"$(q1 -d in_src -c "$(thread_of "updated_at IS NULL")")" ]
}

@test "an incremental run needs a successful run to start from" {
	clone_db in_tmpl in_empty
	run ferry run --source dbname=in_src --target dbname=in_empty --plan "$DEMO_PLAN" --incremental
	assert_exit 2
	assert_contains "run --incremental: no successful run to start from (run a full one first)"
	[ "$(q1 -d in_empty -c "SELECT count(*) FROM ferry.runs")" -eq 0 ]
}

@test "a changed comment of a parent cycle stays rejected, as in a full run" {
	clone_db in_tmpl in_cycle
	clone_db in_src in_cycle_src
	ferry run -q --source dbname=in_cycle_src --target dbname=in_cycle --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --workdir "$BATS_TEST_TMPDIR/w1" >/dev/null 2>&1
	q -d in_cycle_src -c "UPDATE dispatch_comment SET body = body || ' (edited)', updated_at = now() WHERE id IN (303, 307)"
	# (the cycles read again are rejected again: few rows read, so the rate is low)
	run ferry run -q --source dbname=in_cycle_src --target dbname=in_cycle --plan "$DEMO_PLAN" \
		--min-success 0 --incremental --run-id cyc --workdir "$BATS_TEST_TMPDIR/w2"
	assert_exit 0
	[ "$(q1 -d in_cycle -c "SELECT count(*) FROM comments WHERE legacy_comment_id IN (303, 307)")" -eq 0 ]
	[ "$(q1 -d in_cycle -c "SELECT string_agg(legacy_id || ':' || reason, ',' ORDER BY legacy_id) FROM ferry.rejects
		WHERE run_id = 'cyc' AND legacy_id IN ('303', '307')")" = 303:parent_cycle,307:under_cycle ]
}
