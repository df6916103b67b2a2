#!/usr/bin/env bats
# forward references (plan directive "forward", ferry-plan(5)): a foreign
# key cycle whose two columns are NOT NULL, loaded with no change to the
# destination.  Stores name their manager, a member of their staff, and
# every staff member names a store: store.manager_id points forward to
# staff, which loads after store.  Both destination keys are DEFERRABLE,
# one of them INITIALLY IMMEDIATE (the rollback has to defer it).
#
# Source rows that matter:
#   store 3 names manager 99, who is not in the source: rejected
#   store 4 names manager 13, whom staff's extract query rejects (no
#     name): rejected too, as the row it names will never load
#   staff 14 works at store 3, which was rejected: rejected by the ref

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	new_db fw_src
	q -d fw_src <<'SQL'
-- a legacy schema with the cycle, and no foreign key on store.manager_id
-- (a manager who left is still named: the row forward checking is for)
CREATE TABLE store (id int PRIMARY KEY, city text NOT NULL, manager_id int NOT NULL);
CREATE TABLE staff (id int PRIMARY KEY, name text NOT NULL,
                    store_id int NOT NULL REFERENCES store DEFERRABLE INITIALLY DEFERRED);
BEGIN;
INSERT INTO store VALUES (1, 'Lyon', 10), (2, 'Zürich', 11), (3, 'Porto', 99), (4, 'Gent', 13);
INSERT INTO staff VALUES (10, 'Ana', 1), (11, 'Bo', 2), (12, 'Cy', 1), (13, '', 2), (14, 'Di', 3);
COMMIT;
SQL
	new_db fw_tmpl
	q -d fw_tmpl <<'SQL'
CREATE TABLE store (id uuid PRIMARY KEY, legacy_store_id int UNIQUE, city text NOT NULL,
                    manager_id uuid NOT NULL);
CREATE TABLE staff (id uuid PRIMARY KEY, legacy_staff_id int UNIQUE, name text NOT NULL,
                    store_id uuid NOT NULL REFERENCES store (id) DEFERRABLE INITIALLY DEFERRED);
ALTER TABLE store ADD CONSTRAINT store_manager_id_fkey FOREIGN KEY (manager_id)
    REFERENCES staff (id) DEFERRABLE INITIALLY IMMEDIATE;
SQL
	q -d fw_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	plan_file "$BATS_FILE_TMPDIR/fw.plan" reject
}

teardown_file() {
	drop_dbs
}

setup() {
	unset FERRY_SOURCE FERRY_TARGET
}

# plan_file FILE POLICY: the plan, its forward column with POLICY (reject|null)
plan_file() {
	cat >"$1" <<EOF
ferry-plan 1
entity store
  source public.store
  target public.store
  key legacy_store_id
  uuid id
  forward manager_id staff $2
  extract
    SELECT id AS legacy_store_id, city, manager_id FROM public.store
  end
end
entity staff
  source public.staff
  target public.staff
  key legacy_staff_id
  uuid id
  ref store_id store
  extract
    SELECT id AS legacy_staff_id, name, store_id,
           CASE WHEN name = '' THEN 'no_name: staff ' || id || ' has no name' END AS _ferry_reject
      FROM public.staff
  end
end
EOF
}

# a fresh destination, dropped by drop_dbs
clone_dst() {
	dropdb --if-exists --force "$1" >/dev/null 2>&1
	createdb -T fw_tmpl "$1"
	echo "$1" >>"$BATS_FILE_TMPDIR/dbs"
}

@test "ferry-plan order: store, then staff; a forward column is no ordering edge and has no fix-up step" {
	run ferry-plan order "$BATS_FILE_TMPDIR/fw.plan" --levels
	assert_exit 0
	[ "$output" = $'0 store\n1 staff' ]
}

@test "ferry run: a forward target missing from the source (or rejected by its query) rejects the row with its reason; every other row loads with the right references; verify passes" {
	clone_dst fw_run
	run ferry run -q --source dbname=fw_src --target dbname=fw_run --plan "$BATS_FILE_TMPDIR/fw.plan" \
		--run-id fw1 --min-success 50 --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	run q1 -d fw_run -c "SELECT entity, legacy_id, reason, detail FROM ferry.rejects
		WHERE run_id = 'fw1' ORDER BY entity DESC, legacy_id"
	[ "$output" = "store|3|missing_reference|manager_id = 99: staff has no row with that key in the source
store|4|missing_reference|manager_id = 13: staff has no row with that key in the source
staff|13|no_name|staff 13 has no name
staff|14|missing_reference|store_id = 3: store has no row with that key" ]
	# the rows that load, each reference the row its legacy key names
	run q1 -d fw_run -c "SELECT s.legacy_store_id, s.city, m.legacy_staff_id FROM store s
		JOIN staff m ON m.id = s.manager_id ORDER BY 1"
	[ "$output" = $'1|Lyon|10\n2|Zürich|11' ]
	run q1 -d fw_run -c "SELECT t.legacy_staff_id, t.name, s.legacy_store_id FROM staff t
		JOIN store s ON s.id = t.store_id ORDER BY 1"
	[ "$output" = $'10|Ana|1\n11|Bo|2\n12|Cy|1' ]
	run ferry verify -q --source dbname=fw_src --target dbname=fw_run --plan "$BATS_FILE_TMPDIR/fw.plan" \
		--min-success 50
	assert_exit 0
	# the destination's keys hold: checked now, as they would be at a commit
	q -d fw_run -c "SET CONSTRAINTS ALL IMMEDIATE"
}

@test "ferry verify: a forward column pointing at no row (loaded with FK checks off) is an orphan" {
	clone_dst fw_orphan
	run ferry run -q --source dbname=fw_src --target dbname=fw_orphan --plan "$BATS_FILE_TMPDIR/fw.plan" \
		--run-id fw2 --min-success 50 --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	q -d fw_orphan -c "SET session_replication_role = replica;
		DELETE FROM staff WHERE legacy_staff_id = 11"
	run ferry verify --source dbname=fw_src --target dbname=fw_orphan --plan "$BATS_FILE_TMPDIR/fw.plan" \
		--min-success 50
	assert_exit 7
	assert_contains "store: orphan: key 2: manager_id = "
	assert_contains ": no such row in staff"
}

@test "ferry rollback: both entities of the cycle are undone (one key deferrable but immediate)" {
	clone_dst fw_rb
	run ferry run -q --source dbname=fw_src --target dbname=fw_rb --plan "$BATS_FILE_TMPDIR/fw.plan" \
		--run-id fw3 --min-success 50 --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	run ferry rollback fw3 --target dbname=fw_rb
	assert_exit 0
	[ "$(q1 -d fw_rb -c "SELECT (SELECT count(*) FROM store) + (SELECT count(*) FROM staff)")" = 0 ]
}

@test "ferry-transform: forward with null loads NULL and notes it; without a source, a warning" {
	plan_file "$BATS_TEST_TMPDIR/null.plan" null
	ferry-extract --source dbname=fw_src --plan "$BATS_TEST_TMPDIR/null.plan" --entity store \
		-o "$BATS_TEST_TMPDIR/store.zst"
	ferry-transform --source dbname=fw_src --plan "$BATS_TEST_TMPDIR/null.plan" --entity store \
		"$BATS_TEST_TMPDIR/store.zst" -o "$BATS_TEST_TMPDIR/t.zst"
	run ferry-cat "$BATS_TEST_TMPDIR/t.zst"
	assert_exit 0
	# store 3: NULL and a note; store 1: the UUID of staff 10 (UUIDv5 of its key alone)
	[ "$(grep -c '"manager_id":null' <<<"$output")" = 2 ]
	assert_contains '{"note":"reference_set_null","detail":"manager_id = 99: staff has no row with that key in the source","stage":"transform","key":"3"}'
	local staff10
	staff10=$(ferry-transform --key id --keyspace staff --uuid u < <(ferry-extract --source dbname=fw_src \
		--query "SELECT 10 AS id") | ferry-cat | grep -o '"u":"[0-9a-f-]*"' | cut -d'"' -f4)
	[ -n "$staff10" ]
	assert_contains "\"legacy_store_id\":1,\"city\":\"Lyon\",\"manager_id\":\"$staff10\""
	# no source: mapped, not checked, and said so
	run --separate-stderr ferry-transform --plan "$BATS_TEST_TMPDIR/null.plan" --entity store \
		"$BATS_TEST_TMPDIR/store.zst" -o "$BATS_TEST_TMPDIR/u.zst"
	assert_exit 0
	[[ "$stderr" == *"no --source: forward references are mapped but not checked"* ]]
}

@test "ferry-load --triggers on: a forward column under a foreign key is refused in one line before anything is written" {
	clone_dst fw_trig
	ferry-extract --source dbname=fw_src --plan "$BATS_FILE_TMPDIR/fw.plan" --entity store --run t1 \
		| ferry-transform --source dbname=fw_src --plan "$BATS_FILE_TMPDIR/fw.plan" --entity store \
			--run t1 -o "$BATS_TEST_TMPDIR/store.zst"
	run --separate-stderr ferry-load --target dbname=fw_trig --plan "$BATS_FILE_TMPDIR/fw.plan" \
		--entity store --run t1 --triggers on "$BATS_TEST_TMPDIR/store.zst"
	assert_exit 2
	output=$stderr
	assert_one_line
	assert_contains "forward manager_id staff cannot load with foreign-key checks on: foreign key store_manager_id_fkey"
	[ "$(q1 -d fw_trig -c "SELECT (SELECT count(*) FROM store) + (SELECT count(*) FROM ferry.checkpoints)")" = 0 ]
	# with them off (the default, as a role that may), the same stream loads
	run ferry-load --target dbname=fw_trig --plan "$BATS_FILE_TMPDIR/fw.plan" --entity store --run t1 \
		"$BATS_TEST_TMPDIR/store.zst"
	assert_exit 6
	[ "$(q1 -d fw_trig -c "SELECT count(*) FROM store")" = 2 ]
}
