#!/usr/bin/env bats
# preflight.bats: the plan checked against the live databases (issue 14).
#
# "ferry-plan check FILE --source --target" and the start of "ferry run"
# prepare every extract query on the source (no row read), compare its
# output columns with the destination's columns and types, and check the
# plan's coverage against both catalogs; "ferry verify" reports what a plan
# drops in silence.  A small legacy schema (patients, shipments) is built
# here, a plan written for it, and the source changed after planning the
# way a production database drifts: a column added, a column renamed, a
# table added; then a bad query, an output the destination lacks, a
# destination column nobody feeds.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

PLAN=$BATS_FILE_TMPDIR/lab.plan

setup_file() {
	new_db pf_src_tmpl
	q -d pf_src_tmpl <<'SQL'
CREATE TABLE dispatch_patient (id int PRIMARY KEY, name text NOT NULL, birth_date date);
CREATE TABLE dispatch_shipment (id int PRIMARY KEY, patient_id int NOT NULL REFERENCES dispatch_patient,
                                tracking_no text, weight_grams int);
INSERT INTO dispatch_patient SELECT g, 'patient ' || g, date '1970-01-01' + g * 100 FROM generate_series(1, 20) g;
INSERT INTO dispatch_shipment SELECT g, 1 + g % 20, 'TRK' || g, 100 * g FROM generate_series(1, 40) g;
SQL
	new_db pf_dst_tmpl
	q -d pf_dst_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	q -d pf_dst_tmpl <<'SQL'
CREATE TABLE patients (id uuid PRIMARY KEY, legacy_patient_id int UNIQUE NOT NULL, name text NOT NULL,
                       date_of_birth date, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shipments (id uuid PRIMARY KEY, legacy_shipment_id int UNIQUE NOT NULL,
                        patient_id uuid NOT NULL REFERENCES patients, tracking_number text,
                        weight_grams int);
SQL
	# the plan, as written when the source looked like pf_src_tmpl
	cat >"$PLAN" <<'EOF'
ferry-plan 1
sources public

entity patients
  source public.dispatch_patient
  target public.patients
  key legacy_patient_id
  uuid id
  default created_at
  extract
    SELECT s.id AS legacy_patient_id,
           s.name,
           s.birth_date AS date_of_birth
      FROM public.dispatch_patient AS s
  end
end

entity shipments
  source public.dispatch_shipment
  target public.shipments
  key legacy_shipment_id
  uuid id
  ref patient_id patients
  extract
    SELECT s.id AS legacy_shipment_id,
           s.patient_id,
           s.tracking_no AS tracking_number,
           s.weight_grams
      FROM public.dispatch_shipment AS s
  end
end
EOF
}

teardown_file() {
	drop_dbs
	psql -X -q -c "DROP ROLE IF EXISTS pf_forward_loader" >/dev/null 2>&1 || true
}

# dbs NAME: a fresh source pf_NAME_src and destination pf_NAME_dst
dbs() {
	clone_db pf_src_tmpl "pf_$1_src"
	clone_db pf_dst_tmpl "pf_$1_dst"
}

# check NAME [PLAN]: preflight of PLAN (default the lab plan) on pf_NAME_*
check() {
	run --separate-stderr ferry-plan check "${2:-$PLAN}" --source "dbname=pf_$1_src" --target "dbname=pf_$1_dst"
}

# line_of TEXT [PLAN]: the line number of the first line of PLAN holding TEXT
line_of() {
	grep -nF -- "$1" "${2:-$PLAN}" | head -1 | cut -d: -f1
}

# books DB: every row of ferry's books and of the destination tables, one line a table
books_of() {
	q1 -d "$1" -c "SELECT 'runs ' || (SELECT count(*) FROM ferry.runs) || ', entity_runs '
		|| (SELECT count(*) FROM ferry.entity_runs) || ', checkpoints ' || (SELECT count(*) FROM ferry.checkpoints)
		|| ', id_map ' || (SELECT count(*) FROM ferry.id_map) || ', rejects ' || (SELECT count(*) FROM ferry.rejects)
		|| ', patients ' || (SELECT count(*) FROM patients) || ', shipments ' || (SELECT count(*) FROM shipments)"
}

@test "the plan as written passes preflight, and the run it checks loads every row" {
	dbs ok
	check ok
	assert_exit 0
	[[ $stderr == *"lab.plan: ok, 2 entities (2 migrated), every query prepared on the source"* ]]
	run ferry run -q --source dbname=pf_ok_src --target dbname=pf_ok_dst --plan "$PLAN" \
		--workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	[ "$(q1 -d pf_ok_dst -c "SELECT count(*) FROM shipments")" -eq 40 ]
}

@test "a column added to the source after planning: named with its entity and line, exit 2, nothing written" {
	dbs added
	q -d pf_added_src -c "ALTER TABLE dispatch_patient ADD COLUMN phone text"
	local before
	before=$(books_of pf_added_dst)
	check added
	assert_exit 2
	[[ $stderr == *"lab.plan:$(line_of extract):"' entity "patients": source column public.dispatch_patient.phone is not read by the extract query: read it, or list it "unused phone"'* ]]
	[[ $stderr == *"lab.plan: 1 problem: the plan cannot run on these databases"* ]]
	# preflight writes nothing: the books and the tables as they were
	[ "$(books_of pf_added_dst)" = "$before" ]
}

@test "a column renamed in the source after planning: the query's error and the new name, both named" {
	dbs renamed
	q -d pf_renamed_src -c "ALTER TABLE dispatch_patient RENAME COLUMN birth_date TO dob"
	check renamed
	assert_exit 2
	# the query line that reads the old name, with the server's hint
	[[ $stderr == *"lab.plan:$(line_of 's.birth_date AS'):"' entity "patients": the extract query does not run on the source: column s.birth_date does not exist'* ]]
	[[ $stderr == *'entity "patients": source column public.dispatch_patient.dob is not read by the extract query'* ]]
	[ "$(printf '%s\n' "$stderr" | grep -c 'ferry-plan: error:')" -eq 3 ]
}

@test "a bad extract query (SQL syntax error): named with its entity and the plan line of the error" {
	dbs syntax
	sed 's/s.tracking_no AS tracking_number,/s.tracking_no AS tracking_number,,/' "$PLAN" >"$BATS_TEST_TMPDIR/bad.plan"
	# the offline check cannot see it
	run ferry-plan check "$BATS_TEST_TMPDIR/bad.plan"
	assert_exit 0
	check syntax "$BATS_TEST_TMPDIR/bad.plan"
	assert_exit 2
	local line
	line=$(line_of 'tracking_number,,' "$BATS_TEST_TMPDIR/bad.plan")
	[[ $stderr == *"bad.plan:$line:"' entity "shipments": the extract query does not run on the source: syntax error at or near ","'* ]]
}

@test "a source table that no entity names: named, with what to do" {
	dbs table
	q -d pf_table_src -c "CREATE TABLE dispatch_note (id int PRIMARY KEY, body text)"
	check table
	assert_exit 2
	[[ $stderr == *'lab.plan: source table public.dispatch_note (schema public of "sources") is in no entity: add an entity for it ("target -" and a "reason" if it is not migrated), or name it in an entity'"'"'s "merges"'* ]]
	# listed as not migrated, with its reason: covered
	{ cat "$PLAN"; printf '\nentity dispatch_note\n  source public.dispatch_note\n  target -\n  reason notes are not kept\nend\n'; } \
		>"$BATS_TEST_TMPDIR/noted.plan"
	check table "$BATS_TEST_TMPDIR/noted.plan"
	assert_exit 0
}

@test "an output column the destination lacks, and a destination column nobody feeds: each named" {
	dbs cols
	sed 's/s.name,/s.name AS full_name,/' "$PLAN" >"$BATS_TEST_TMPDIR/cols.plan"
	q -d pf_cols_dst -c "ALTER TABLE shipments ADD COLUMN carrier text"
	check cols "$BATS_TEST_TMPDIR/cols.plan"
	assert_exit 2
	[[ $stderr == *"cols.plan:$(line_of 'AS full_name' "$BATS_TEST_TMPDIR/cols.plan"):"' entity "patients": output column full_name is not a column of public.patients'* ]]
	# name was fed by the query's "name" output: now nobody feeds it
	[[ $stderr == *'entity "patients": destination column public.patients.name is not fed by the extract query: output it, or list it "default name" to leave it to its default (it is NOT NULL without a default: every row would be rejected)'* ]]
	[[ $stderr == *'entity "shipments": destination column public.shipments.carrier is not fed by the extract query: output it, or list it "default carrier"'* ]]
	[[ $stderr == *"cols.plan: 3 problems"* ]]
}

@test "a type that can never load, and a key the query does not output: named" {
	dbs types
	q -d pf_types_dst -c "ALTER TABLE shipments ALTER COLUMN weight_grams TYPE uuid USING NULL"
	sed 's/  key legacy_shipment_id/  key legacy_shipment_id\n  drop courier_id/' "$PLAN" >"$BATS_TEST_TMPDIR/types.plan"
	check types "$BATS_TEST_TMPDIR/types.plan"
	assert_exit 2
	[[ $stderr == *'entity "shipments": output column weight_grams is integer in the source, and no integer value loads into public.shipments.weight_grams (uuid)'* ]]
	[[ $stderr == *'entity "shipments": "drop courier_id": the extract query has no output column courier_id'* ]]
	# a ref column is mapped to a uuid: integer in the source is what it should be
	[[ $stderr != *"patient_id"* ]]
}

@test "a forward reference: the target role must be able to turn foreign-key checks off, DEFERRABLE or not" {
	dbs fwd
	sed 's/  ref patient_id patients/  forward patient_id patients/' "$PLAN" >"$BATS_TEST_TMPDIR/fwd.plan"
	# a superuser may set session_replication_role: the load can run with foreign-key checks off
	check fwd "$BATS_TEST_TMPDIR/fwd.plan"
	assert_exit 0
	# a role that may not, and a foreign key checked at once
	psql -X -q -c "DROP ROLE IF EXISTS pf_forward_loader; CREATE ROLE pf_forward_loader LOGIN"
	run --separate-stderr ferry-plan check "$BATS_TEST_TMPDIR/fwd.plan" --source dbname=pf_fwd_src \
		--target "dbname=pf_fwd_dst user=pf_forward_loader"
	assert_exit 2
	[[ $stderr == *"fwd.plan:$(line_of 'forward patient_id' "$BATS_TEST_TMPDIR/fwd.plan"):"' entity "shipments": "forward patient_id patients": the foreign key shipments_patient_id_fkey of public.shipments would refuse the rows'* ]] || false
	# the same role, the foreign key DEFERRABLE: still refused, each batch commits before patients loads
	q -d pf_fwd_dst -c "ALTER TABLE shipments ALTER CONSTRAINT shipments_patient_id_fkey DEFERRABLE INITIALLY DEFERRED"
	run --separate-stderr ferry-plan check "$BATS_TEST_TMPDIR/fwd.plan" --source dbname=pf_fwd_src \
		--target "dbname=pf_fwd_dst user=pf_forward_loader"
	assert_exit 2
	[[ $stderr == *"session_replication_role"* ]]
}

@test "ferry run refuses a plan that no longer fits, before its first step, listing every problem" {
	dbs run
	q -d pf_run_src -c "ALTER TABLE dispatch_patient ADD COLUMN phone text;
		CREATE TABLE dispatch_note (id int PRIMARY KEY, body text)"
	q -d pf_run_dst -c "ALTER TABLE shipments ADD COLUMN carrier text"
	sed 's/           s.name,/           s.name,,/' "$PLAN" >"$BATS_TEST_TMPDIR/run.plan"
	local before
	before=$(books_of pf_run_dst)
	run ferry run --source dbname=pf_run_src --target dbname=pf_run_dst --plan "$BATS_TEST_TMPDIR/run.plan" \
		--workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 2
	assert_contains 'entity "patients": source column public.dispatch_patient.phone is not read'
	assert_contains 'entity "patients": the extract query does not run on the source: syntax error'
	assert_contains 'source table public.dispatch_note (schema public of "sources") is in no entity'
	assert_contains 'entity "shipments": destination column public.shipments.carrier is not fed'
	assert_contains "run.plan: 4 problems: the plan cannot run on these databases"
	assert_contains "ferry: error: run: the plan \"$BATS_TEST_TMPDIR/run.plan\" is not runnable (see above)"
	# before its first step: no run recorded, no work directory, no row
	[ "$(books_of pf_run_dst)" = "$before" ]
	[ ! -e "$BATS_TEST_TMPDIR/w" ]
}

@test "ferry verify fails on a plan that drops a column in silence, and passes once the plan says so" {
	dbs silent
	# the same plan, but nothing feeds date_of_birth and nothing says birth_date is dropped
	sed '/s.birth_date AS date_of_birth/d; s/           s.name,/           s.name/' "$PLAN" >"$BATS_TEST_TMPDIR/silent.plan"
	# ... which preflight refuses, naming both
	check silent "$BATS_TEST_TMPDIR/silent.plan"
	assert_exit 2
	[[ $stderr == *"source column public.dispatch_patient.birth_date is not read"* ]]
	[[ $stderr == *"destination column public.patients.date_of_birth is not fed"* ]]
	# with both listed, the run goes through (date_of_birth NULL in every row) ...
	sed 's/  default created_at/  default created_at,date_of_birth\n  unused birth_date/' \
		"$BATS_TEST_TMPDIR/silent.plan" >"$BATS_TEST_TMPDIR/said.plan"
	run ferry run -q --source dbname=pf_silent_src --target dbname=pf_silent_dst \
		--plan "$BATS_TEST_TMPDIR/said.plan" --run-id said --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	[ "$(q1 -d pf_silent_dst -c "SELECT count(*) FROM patients WHERE date_of_birth IS NOT NULL")" -eq 0 ]
	# ... and ferry verify passes it: the plan says the column is dropped on purpose
	run ferry verify --source dbname=pf_silent_src --target dbname=pf_silent_dst \
		--plan "$BATS_TEST_TMPDIR/said.plan" --run said
	assert_exit 0
	assert_contains "verify: ok"
	# the same destination against the silent plan: every row compares equal, but the
	# verdict fails, naming the columns, in the summary and in the JSON report
	run ferry verify --source dbname=pf_silent_src --target dbname=pf_silent_dst \
		--plan "$BATS_TEST_TMPDIR/silent.plan" --run said --report "$BATS_TEST_TMPDIR/v.json"
	assert_exit 7
	assert_contains 'patients: coverage: FAILED, source column public.dispatch_patient.birth_date is not read by the extract query'
	assert_contains 'patients: coverage: FAILED, destination column public.patients.date_of_birth is not fed by the extract query'
	assert_contains 'patients: all NULL: FAILED, public.patients.date_of_birth is NULL in every row (20), while the source'"'"'s public.dispatch_patient.birth_date has 20 values'
	assert_contains "verify: FAILED"
	[ "$(jq -r '.entities[] | select(.entity == "patients") | .ok' "$BATS_TEST_TMPDIR/v.json")" = false ]
	[ "$(jq '[.entities[] | select(.entity == "patients") | .checks[] | select(.ok | not)] | length' \
		"$BATS_TEST_TMPDIR/v.json")" -eq 3 ]
	[ "$(jq -r '.entities[] | select(.entity == "shipments") | .ok' "$BATS_TEST_TMPDIR/v.json")" = true ]
}

@test "ferry verify: a legacy key column left NULL in every row fails, and every row must have its key" {
	dbs legacy
	run ferry run -q --source dbname=pf_legacy_src --target dbname=pf_legacy_dst --plan "$PLAN" \
		--run-id full --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	# a legacy_* column that no plan line feeds (the us_states / legacy_us_state_id trap)
	q -d pf_legacy_dst -c "ALTER TABLE shipments ADD COLUMN legacy_us_state_id int"
	sed 's/  ref patient_id patients/  ref patient_id patients\n  default legacy_us_state_id/' "$PLAN" \
		>"$BATS_TEST_TMPDIR/said.plan"
	run ferry-verify --source dbname=pf_legacy_src --target dbname=pf_legacy_dst --plan "$PLAN" \
		--entity shipments --run full
	assert_exit 7
	assert_contains 'shipments:   legacy key: FAILED, public.shipments.legacy_us_state_id is NULL in every row (40): the legacy key it names is not kept'
	run ferry-verify --source dbname=pf_legacy_src --target dbname=pf_legacy_dst --plan "$BATS_TEST_TMPDIR/said.plan" \
		--entity shipments --run full
	assert_exit 0
	# a loaded row without its legacy key
	q -d pf_legacy_dst -c "ALTER TABLE patients ALTER COLUMN legacy_patient_id DROP NOT NULL;
		UPDATE patients SET legacy_patient_id = NULL WHERE legacy_patient_id = 7"
	run ferry-verify --source dbname=pf_legacy_src --target dbname=pf_legacy_dst --plan "$PLAN" \
		--entity patients --run full --no-refs
	assert_exit 7
	assert_contains 'patients:   legacy key: FAILED, 1 of 20 rows of public.patients have no legacy key (legacy_patient_id NULL)'
}

@test "the shipped demo plan passes preflight on the demo databases" {
	demo_dbs pf_demo_src pf_demo_dst 1
	run ferry-plan check "$DEMO_PLAN" --source dbname=pf_demo_src --target dbname=pf_demo_dst
	assert_exit 0
	assert_contains "demo.plan: ok, 17 entities (15 migrated), every query prepared on the source"
}

@test "the shipped dispatch plan passes preflight on the shared fixture (scale 1), in a second or two" {
	shared_fixture || skip "the shared fixtures are not here (FERRY_SHARED)"
	local f=$FERRY_SHARED/fixtures/dispatch
	new_db pf_disp_src
	q -d pf_disp_src -v scale=1 -f "$f/legacy-schema.sql" -f "$f/legacy-data.sql" >/dev/null
	new_db pf_disp_dst
	q -d pf_disp_dst -f "$f/destination-schema.sql" >/dev/null 2>&1
	local start end
	start=$(date +%s%N)
	run ferry-plan check "$FERRY_REPO/examples/dispatch.plan" --source dbname=pf_disp_src --target dbname=pf_disp_dst
	end=$(date +%s%N)
	assert_exit 0
	assert_contains "dispatch.plan: ok, 66 entities (64 migrated), every query prepared on the source"
	echo "preflight of 66 entities: $(( (end - start) / 1000000 )) ms" >&3
}
