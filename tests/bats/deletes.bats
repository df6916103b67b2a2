#!/usr/bin/env bats
# Deletes in incremental runs and the cutover (issue 17).  After a full run
# of examples/demo.plan, the legacy application deletes rows
# (tests/fixtures/demo-deletes.sql): a leaf (an order event), a parent with
# its children (an invoice and its lines), a thread (a comment, its
# replies and theirs) and a join table row (an office contact); the
# destination holds rows made there that reference the invoice, through a
# foreign key ON DELETE CASCADE (invoice_notes) and one ON DELETE SET NULL
# (invoice_marks).  The incremental run must delete exactly the rows gone,
# children first, under the destination's rules, and leave a destination
# that ferry verify finds equal; its rollback must give back every table as
# it was; a kill during the deletes must resume to the same destination;
# keep and flag must keep; a delete the destination refuses must be a
# reject with its reason; and ferry run --final must say EQUAL, or name the
# difference, with the exit code a cutover script needs.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

SRC=dl_src

setup_file() {
	local w=$BATS_FILE_TMPDIR
	demo_dbs dl_src dl_tmpl 1
	q -d dl_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	# tables of the destination's own, whose rows reference invoices
	q -d dl_tmpl <<'SQL'
CREATE TABLE public.invoice_notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    invoice_id uuid NOT NULL REFERENCES public.invoices (id) ON DELETE CASCADE, note text);
CREATE TABLE public.invoice_marks (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    invoice_id uuid REFERENCES public.invoices (id) ON DELETE SET NULL, mark text);
SQL
	clone_db dl_tmpl dl_full
	ferry run -q --source dbname=dl_src --target dbname=dl_full --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id full --workdir "$w/full" >"$w/full.out" 2>&1 || { cat "$w/full.out" >&2; return 1; }
	# the application deletes; the destination's own rows reference the invoice gone
	q -d dl_src -f "$FERRY_REPO/tests/fixtures/demo-deletes.sql"
	q1 -d dl_src -F '|' -c "SELECT entity, key FROM ferry_test.gone ORDER BY 1, 2" >"$w/gone"
	local inv
	inv=$(q1 -d dl_src -c "SELECT key FROM ferry_test.gone WHERE entity = 'invoices'")
	q -d dl_full -c "INSERT INTO invoice_notes (invoice_id, note) SELECT id, 'made here' FROM invoices WHERE legacy_invoice_id = $inv;
		INSERT INTO invoice_marks (invoice_id, mark) SELECT id, 'made here' FROM invoices WHERE legacy_invoice_id = $inv"
	db_snapshot dl_full >"$w/before"
	# the incremental run every test reads
	clone_db dl_full dl_inc
	ferry run --source dbname=dl_src --target dbname=dl_inc --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--incremental --run-id inc --workdir "$w/inc" --metrics "$w/inc.prom" >"$w/inc.out" 2>&1
	echo $? >"$w/inc.rc"
}

teardown_file() {
	drop_dbs
}

teardown() {
	stop_run "$SRC"
}

# the legacy key of entity $1 in its destination table, as text
key_sql() {
	case $1 in
	invoicelines) echo "legacy_invoice_id || ',' || legacy_line_no" ;;
	*) demo_keys | grep "^public.$1|" | cut -d'|' -f2 ;;
	esac
}

# gone_left DB: the rows the source deleted that DB still has, "entity key"
gone_left() {
	local e k
	while IFS='|' read -r e k; do
		[ "$(q1 -d "$1" -c "SELECT count(*) FROM public.$e WHERE ($(key_sql "$e"))::text = '$k'")" = 0 ] ||
			echo "$e $k"
	done <"$BATS_FILE_TMPDIR/gone"
}

# deletes DB RUN: a run's deletes, by entity, action and table, with the keys
deletes_of() {
	q1 -d "$1" -c "SELECT entity, action, target, count(*), string_agg(legacy_id, ',' ORDER BY legacy_id)
		FROM ferry.deletes WHERE run_id = '$2' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
}

@test "an incremental run deletes the rows gone from the source: a leaf, a parent and its children, a thread, a join row" {
	run cat "$BATS_FILE_TMPDIR/inc.rc"
	[ "$output" = 0 ] || { cat "$BATS_FILE_TMPDIR/inc.out" >&2; false; }
	# they were there after the full run, and are not now
	[ "$(gone_left dl_full | wc -l)" -eq "$(wc -l <"$BATS_FILE_TMPDIR/gone")" ] || false
	run gone_left dl_inc
	[ -z "$output" ] || { echo "still there: $output" >&2; false; }
	# each recorded with its key, saved whole, in its entity's step, and nothing else deleted
	local e k
	while IFS='|' read -r e k; do
		[ "$(q1 -d dl_inc -c "SELECT count(*) FROM ferry.deletes WHERE run_id = 'inc' AND entity = '$e'
			AND action = 'deleted' AND legacy_id = '$k' AND row_data IS NOT NULL")" = 1 ] ||
			{ echo "$e $k not recorded" >&2; false; }
	done <"$BATS_FILE_TMPDIR/gone"
	[ "$(q1 -d dl_inc -c "SELECT count(*) FROM ferry.deletes WHERE run_id = 'inc' AND action = 'deleted'")" = \
		"$(wc -l <"$BATS_FILE_TMPDIR/gone")" ] || false
	# every table holds what it held less the rows gone (and the cascade's one row)
	[ "$(q1 -d dl_inc -c "SELECT count(*) FROM public.comments")" = \
		"$(( $(q1 -d dl_full -c "SELECT count(*) FROM public.comments") - $(grep -c '^comments|' "$BATS_FILE_TMPDIR/gone") ))" ] || false
	# children first: each step's deletes ran in reverse load order
	run q1 -d dl_inc -c "SELECT string_agg(entity, ' ' ORDER BY min) FROM (SELECT entity, min(id)
		FROM ferry.deletes WHERE run_id = 'inc' AND action = 'deleted' GROUP BY 1) d"
	[ "$output" = "comments orderevents invoicelines office_contacts invoices" ] || { echo "$output" >&2; false; }
	# and the summary counts them
	run cat "$BATS_FILE_TMPDIR/inc.out"
	assert_contains "ferry-delete: comments: 40 gone from the source: 40 deleted"
}

@test "the destination's rules apply: ON DELETE CASCADE takes its rows, SET NULL clears the reference; both saved first" {
	[ "$(q1 -d dl_inc -c "SELECT count(*) FROM invoice_notes")" = 0 ] || false
	[ "$(q1 -d dl_inc -c "SELECT count(*) FROM invoice_marks WHERE invoice_id IS NULL AND mark = 'made here'")" = 1 ] || false
	run deletes_of dl_inc inc
	assert_contains "invoices|cascaded|public.invoice_notes|1|"
	assert_contains "invoices|set_null|public.invoice_marks|1|"
	assert_contains "invoicelines|deleted|public.invoicelines|"
	[ "$(q1 -d dl_inc -c "SELECT row_data->>'note' FROM ferry.deletes WHERE action = 'cascaded'")" = "made here" ] || false
	[ "$(q1 -d dl_inc -c "SELECT deletes->>'cascaded' || ' ' || (deletes->>'set_null') || ' ' || (deletes->>'by')
		FROM ferry.entity_runs WHERE run_id = 'inc' AND entity = 'invoices'")" = "1 1 key" ] || false
}

@test "after the deletes, ferry verify passes with 0 extra" {
	run ferry verify --source dbname=dl_src --target dbname=dl_inc --run inc --min-success "$DEMO_MIN"
	assert_exit 0
	[ "$(jq '.totals.extra, .totals.missing, .totals.different' "$BATS_FILE_TMPDIR/inc/verify.json" | tr '\n' ' ')" = "0 0 0 " ] || false
}

@test "ferry status and the metrics show the deletes" {
	local n
	n=$(wc -l <"$BATS_FILE_TMPDIR/gone")
	run ferry status inc --target dbname=dl_inc
	assert_exit 0
	assert_contains "deletes: $n deleted, 1 cascaded, 1 set null, 0 flagged, 0 kept, 0 refused"
	run ferry status inc --json --target dbname=dl_inc
	[ "$(jq -r '.entities[] | select(.entity == "comments") | .deletes.deleted' <<<"$output")" = 40 ] || false
	run grep '^ferry_entity_deletes_total{run="inc",entity="comments",action="deleted"} 40$' "$BATS_FILE_TMPDIR/inc.prom"
	assert_exit 0
}

@test "ferry rollback of the run puts back every row deleted, cascaded or set NULL: every table as before" {
	clone_db dl_inc dl_rb
	run ferry rollback inc --target dbname=dl_rb
	assert_exit 0
	assert_contains "comments : restored 40 rows deleted"
	db_snapshot dl_rb >"$BATS_TEST_TMPDIR/after"
	run diff "$BATS_FILE_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	[ "$status" -eq 0 ] || { echo "$output" >&2; false; }
	[ "$(q1 -d dl_rb -c "SELECT count(*) FROM ferry.deletes")" = 0 ] || false
}

@test "a delete the destination refuses (a row made there references it) is a reject with its reason, not an error" {
	clone_db dl_full dl_ref
	q -d dl_ref -c "CREATE TABLE public.invoice_holds (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
		invoice_id uuid REFERENCES public.invoices (id));
		INSERT INTO invoice_holds (invoice_id) SELECT id FROM invoices
		WHERE legacy_invoice_id = $(q1 -d dl_src -c "SELECT key FROM ferry_test.gone WHERE entity = 'invoices'")"
	run ferry run --source dbname=dl_src --target dbname=dl_ref --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--incremental --run-id ref --workdir "$BATS_TEST_TMPDIR/ref" --only invoices,invoicelines
	assert_exit 0
	assert_contains "invoices: 1 gone from the source: 0 deleted, 0 cascaded, 0 set null, 0 flagged, 0 kept, 1 refused"
	assert_contains "invoice_holds"
	# the lines went, the invoice stays, and why is in the books
	[ "$(q1 -d dl_ref -c "SELECT count(*) FROM invoicelines WHERE invoice_id IN (SELECT id FROM invoice_holds)
		UNION ALL SELECT count(*) FROM invoices WHERE id IN (SELECT invoice_id FROM invoice_holds)" | tr '\n' ' ')" = "0 1 " ] || false
	run q1 -d dl_ref -c "SELECT reason FROM ferry.deletes WHERE run_id = 'ref' AND action = 'refused' AND entity = 'invoices'"
	assert_contains 'violates foreign key constraint "invoice_holds_invoice_id_fkey" on table "invoice_holds"'
	# nothing saved for it, and its cascade was undone with it
	[ "$(q1 -d dl_ref -c "SELECT count(*) FROM ferry.deletes WHERE run_id = 'ref' AND entity = 'invoices' AND action <> 'refused'")" = 0 ] || false
	[ "$(q1 -d dl_ref -c "SELECT count(*) FROM invoice_notes")" = 1 ] || false
	# verification names the row that stayed
	run ferry verify --source dbname=dl_src --target dbname=dl_ref --run ref --only invoices --min-success 0
	assert_exit 7
	assert_contains "invoices: extra: key $(q1 -d dl_src -c "SELECT key FROM ferry_test.gone WHERE entity = 'invoices'")"
}

@test "deletes keep and deletes flag COLUMN keep the rows; a row flagged keeps its time; rollback clears the flag" {
	clone_db dl_full dl_keep
	q -d dl_keep -c "ALTER TABLE public.office_contacts ADD COLUMN gone_at timestamptz"
	local plan=$BATS_TEST_TMPDIR/keep.plan
	awk '{ print } /^entity comments$/ { print "  deletes keep" }
		/^entity office_contacts$/ { print "  deletes flag gone_at"; print "  default gone_at" }' "$DEMO_PLAN" >"$plan"
	run ferry-plan get "$plan" office_contacts deletes
	[ "$output" = "flag gone_at" ] || false
	run ferry run --source dbname=dl_src --target dbname=dl_keep --plan "$plan" --min-success "$DEMO_MIN" \
		--incremental --run-id keep1 --workdir "$BATS_TEST_TMPDIR/keep1" --only comments,office_contacts
	assert_exit 0
	run gone_left dl_keep
	[ "$(grep -c '^comments ' <<<"$output")" = 40 ] || false
	assert_contains "office_contacts "
	[ "$(q1 -d dl_keep -c "SELECT count(*) FROM ferry.deletes WHERE run_id = 'keep1' AND entity = 'comments' AND action = 'kept'")" = 40 ] || false
	local k when
	k=$(q1 -d dl_src -c "SELECT key FROM ferry_test.gone WHERE entity = 'office_contacts'")
	when=$(q1 -d dl_keep -c "SELECT gone_at = (SELECT source_time FROM ferry.runs WHERE run_id = 'keep1')
		FROM office_contacts WHERE legacy_office_contacts_id = $k")
	[ "$when" = t ] || false
	[ "$(q1 -d dl_keep -c "SELECT count(*) FROM office_contacts WHERE gone_at IS NOT NULL")" = 1 ] || false
	# a second run: the row flagged keeps its time, recorded as kept
	run ferry run --source dbname=dl_src --target dbname=dl_keep --plan "$plan" --min-success "$DEMO_MIN" \
		--incremental --run-id keep2 --workdir "$BATS_TEST_TMPDIR/keep2" --only comments,office_contacts
	assert_exit 0
	[ "$(q1 -d dl_keep -c "SELECT action || ' ' || reason FROM ferry.deletes WHERE run_id = 'keep2' AND entity = 'office_contacts'")" = \
		"kept flagged by an earlier run" ] || false
	[ "$(q1 -d dl_keep -c "SELECT gone_at = (SELECT source_time FROM ferry.runs WHERE run_id = 'keep1')
		FROM office_contacts WHERE legacy_office_contacts_id = $k")" = t ] || false
	run ferry rollback keep2 --target dbname=dl_keep
	assert_exit 0
	run ferry rollback keep1 --target dbname=dl_keep
	assert_exit 0
	[ "$(q1 -d dl_keep -c "SELECT count(*) FROM office_contacts WHERE gone_at IS NOT NULL")" = 0 ] || false
}

@test "a run killed during its deletes resumes to the same destination and the same books" {
	DB=dl_kill
	clone_db dl_full dl_kill
	# the invoices' delete sets invoice_marks.invoice_id NULL: a lock there holds it,
	# after the deletes of comments, order events, invoice lines and office contacts
	hold_lock dl_kill public.invoice_marks SHARE
	start_run "$BATS_TEST_TMPDIR/kill.out" --source dbname=dl_src --target dbname=dl_kill --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --incremental --run-id kill --workdir "$BATS_TEST_TMPDIR/kill"
	wait_until 300 waiting_for_lock dl_kill ferry-delete
	[ "$(q1 -d dl_kill -c "SELECT count(*) FROM ferry.checkpoints WHERE run_id = 'kill' AND phase = 'delete' AND complete")" -ge 4 ] || false
	[ "$(q1 -d dl_kill -c "SELECT count(*) FROM ferry.deletes WHERE run_id = 'kill' AND entity = 'invoices'")" = 0 ] || false
	kill_run
	release_lock dl_kill
	wait_gone dl_kill
	run ferry resume kill --source dbname=dl_src --target dbname=dl_kill
	assert_exit 0
	assert_contains "comments: deletes done in an earlier attempt"
	assert_same_db dl_inc dl_kill
	[ "$(deletes_of dl_kill kill)" = "$(deletes_of dl_inc inc)" ] || false
}

@test "ferry run --final: EQUAL and exit 0; a difference is named and exits 7; a session writing to the source stops it, exit 10" {
	clone_db dl_full dl_cut
	run ferry run --source dbname=dl_src --target dbname=dl_cut --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--final --run-id cut1 --workdir "$BATS_TEST_TMPDIR/cut1"
	assert_exit 0
	assert_contains "cutover: 16 source tables locked"
	assert_contains "cutover: EQUAL: every entity is the source through the plan"
	# a patient lost in the destination (an incremental run does not read it again)
	local k
	k=$(q1 -d dl_cut -c "SELECT min(legacy_patient_id) FROM patients p WHERE NOT EXISTS
		(SELECT 1 FROM orders o WHERE o.patient_id = p.id)")
	q -d dl_cut -c "DELETE FROM patients WHERE legacy_patient_id = $k"
	run ferry run --source dbname=dl_src --target dbname=dl_cut --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--final --run-id cut2 --workdir "$BATS_TEST_TMPDIR/cut2"
	assert_exit 7
	assert_contains "patients: missing: key $k"
	assert_contains "cutover: NOT EQUAL: patients (missing 1, extra 0, different 0, orphans 0)"
	# the application still writes: nothing starts
	hold_lock dl_src public.dispatch_order "ROW EXCLUSIVE"
	run ferry run --source dbname=dl_src --target dbname=dl_cut --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--final --run-id cut3 --workdir "$BATS_TEST_TMPDIR/cut3"
	assert_exit 10
	assert_contains "application ferry_test_lock"
	assert_contains "dispatch_order"
	assert_contains "cutover: NOT STARTED"
	[ "$(q1 -d dl_cut -c "SELECT count(*) FROM ferry.runs WHERE run_id = 'cut3'")" = 0 ] || false
}
