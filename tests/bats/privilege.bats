#!/usr/bin/env bats
# Least privilege (issue 9): what ferry needs on each side, proven with
# roles that have that and nothing more, on the demo database.
#
# The source role (pv_reader) may connect and SELECT the legacy tables,
# nothing else: PUBLIC's default rights on the database (CONNECT, TEMP) and
# on schema public are revoked, and every transaction of the role is read
# only.  "ferry plan", "ferry run" (the extracts, the exported snapshot they
# share, the split ranges, the row estimates) and "ferry verify" (checksum
# and rows) must all work with it, and the destination be identical to a
# run made by a superuser.
#
# The destination role (pv_loader) gets what docs/reliability.md lists, on
# a target where "ferry init" was run by the owner: CONNECT and TEMP on the
# database, USAGE on the schemas, SELECT, INSERT, UPDATE and DELETE on the
# tables (the destination's and ferry's), USAGE on ferry's sequences, SET
# on session_replication_role and BYPASSRLS.  Each of those is then taken
# away in turn: the run must fail (or, without session_replication_role,
# load with triggers on and say so), naming what is missing.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

# the destination role's grants, in a database made from pv_tmpl (the
# database-wide ones are not copied by createdb -T: granted here)
loader_grants() {
	q -d "$1" <<SQL
REVOKE ALL ON DATABASE $1 FROM PUBLIC;
GRANT CONNECT, TEMP ON DATABASE $1 TO pv_loader;
SQL
}

setup_file() {
	q -d postgres <<'SQL'
DROP ROLE IF EXISTS pv_reader;
CREATE ROLE pv_reader LOGIN;
ALTER ROLE pv_reader SET default_transaction_read_only = on;
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pv_loader') THEN
    REVOKE SET ON PARAMETER session_replication_role FROM pv_loader;
    DROP ROLE pv_loader;
  END IF;
END $$;
CREATE ROLE pv_loader LOGIN BYPASSRLS;
GRANT SET ON PARAMETER session_replication_role TO pv_loader;
SQL
	demo_dbs pv_src pv_tmpl 1
	# the source: CONNECT and SELECT, nothing else
	q -d pv_src <<'SQL'
REVOKE ALL ON DATABASE pv_src FROM PUBLIC;
GRANT CONNECT ON DATABASE pv_src TO pv_reader;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO pv_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO pv_reader;
SQL
	# the destination: ferry init by the owner, then the loading role's grants
	ferry init --target dbname=pv_tmpl >/dev/null
	q -d pv_tmpl <<'SQL'
GRANT USAGE ON SCHEMA public, auth, ferry TO pv_loader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public, auth, ferry TO pv_loader;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA ferry TO pv_loader;
SQL
	clone_db pv_tmpl pv_ref
	ferry run --source dbname=pv_src --target dbname=pv_ref --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --run-id ref --workdir "$BATS_FILE_TMPDIR/ref" \
		>"$BATS_FILE_TMPDIR/ref.out" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/ref.out" >&2
		return 1
	}
}

teardown_file() {
	drop_dbs
	q -d postgres <<'SQL' >/dev/null 2>&1 || true
REVOKE SET ON PARAMETER session_replication_role FROM pv_loader;
DROP ROLE IF EXISTS pv_reader;
DROP ROLE IF EXISTS pv_loader;
SQL
}

# the run's books, to compare with the reference's (as resume.bats)
books() {
	q1 -d "$1" -v run="$2" <<'SQL'
SELECT entity, status, loaded_rows, rejected_rows, noted_rows
  FROM ferry.entity_runs WHERE run_id = :'run' ORDER BY entity;
SELECT entity, stage, reason, disposition, count(*), string_agg(legacy_id, ',' ORDER BY legacy_id)
  FROM ferry.rejects WHERE run_id = :'run' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT entity, count(*) FROM ferry.id_map WHERE run_id = :'run' GROUP BY 1 ORDER BY 1;
SQL
}

same_as_reference() {
	assert_same_db "$1" pv_ref
	local a b
	a=$(books pv_ref ref)
	b=$(books "$1" "$2")
	if [ "$a" != "$b" ]; then
		echo "the books of run $2 differ from the reference's:" >&2
		diff <(echo "$a") <(echo "$b") >&2
		return 1
	fi
}

# server_errors_since OFFSET: ERROR lines of the server's log after OFFSET bytes
# (but a bulk load's NOWAIT lock on a table that another part of the same
# split step is loading: ferry-load(1) BULK LOAD expects it and keeps the
# table's indexes; no privilege is missing)
server_errors_since() {
	tail -c +$(($1 + 1)) "$PGSERVER_DIR/server.log" | grep 'ERROR:' |
		grep -v 'ERROR:  could not obtain lock on relation' || true
}

READER="dbname=pv_src user=pv_reader"

@test "the source role can read and nothing more: no TEMP, no CREATE, no write" {
	run q1 -d "$READER" -c "SELECT has_database_privilege('pv_src', 'TEMP'), has_database_privilege('pv_src', 'CREATE'),
		has_schema_privilege('public', 'CREATE'), has_table_privilege('dispatch_order', 'INSERT, UPDATE, DELETE, TRUNCATE')"
	[ "$output" = "f|f|f|f" ]
	run q1 -d "$READER" -c "SELECT count(*) FROM dispatch_order"
	assert_exit 0
	run psql -X -q -d "$READER" -c "CREATE TEMP TABLE t (x int)"
	[ "$status" -ne 0 ]
	# refused as a write of a read-only transaction, or for want of TEMP
	[[ $output == *"read-only transaction"* || $output == *"permission denied to create temporary tables"* ]]
	run psql -X -q -d "$READER" -c "BEGIN READ WRITE; UPDATE dispatch_order SET id = id WHERE id = 1"
	[ "$status" -ne 0 ]
	[[ $output == *"permission denied for table dispatch_order"* ]]
}

@test "source: SELECT only is enough for ferry plan, ferry run (snapshot, --split, estimates) and ferry verify; identical" {
	local off
	off=$(stat -c %s "$PGSERVER_DIR/server.log")
	# the plan from the catalogs as the reader sees them: the same as a superuser's
	ferry plan --source "$READER" --target dbname=pv_tmpl --no-date -o "$BATS_TEST_TMPDIR/reader.plan" 2>/dev/null
	ferry plan --source dbname=pv_src --target dbname=pv_tmpl --no-date -o "$BATS_TEST_TMPDIR/super.plan" 2>/dev/null
	diff <(grep -v '^# source:' "$BATS_TEST_TMPDIR/reader.plan") <(grep -v '^# source:' "$BATS_TEST_TMPDIR/super.plan")
	grep -q '^entity orders$' "$BATS_TEST_TMPDIR/reader.plan"

	clone_db pv_tmpl pv_src_only
	# every entity of at least 500 rows read as two key ranges in the run's snapshot
	run ferry run --source "$READER" --target dbname=pv_src_only --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id r1 --workdir "$BATS_TEST_TMPDIR/r1" --split 2 --split-min 500
	echo "$output" | grep -v '^ \|^-\|^(' | tail -5
	assert_exit 0
	assert_contains "success rate 99.1271%"
	[ "$(q1 -d pv_src_only -c "SELECT count(*) FROM ferry.checkpoints WHERE run_id = 'r1' AND phase LIKE 'load/%'")" -gt 0 ]
	same_as_reference pv_src_only r1
	run ferry verify --source "$READER" --target dbname=pv_src_only --min-success "$DEMO_MIN"
	assert_exit 0
	assert_contains "verify: ok: 99.1271%"
	run ferry verify --rows --source "$READER" --target dbname=pv_src_only --min-success "$DEMO_MIN"
	assert_exit 0
	assert_contains "verify: ok: 99.1271%"
	# and not one statement was refused on the way
	[ -z "$(server_errors_since "$off")" ] || { server_errors_since "$off" >&2; false; }
}

# (The plan check before the run plans each extract query with EXPLAIN, which
# the server refuses on a table the role may not read: the run stops there,
# before it writes anything.)
@test "source: a table the role may not read stops the run before it writes, exit 3, with the server's reason" {
	q -d pv_src -c "REVOKE SELECT ON dispatch_orderitem FROM pv_reader"
	clone_db pv_tmpl pv_src_noread
	run ferry run --source "$READER" --target dbname=pv_src_noread --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id r2 --workdir "$BATS_TEST_TMPDIR/r2"
	q -d pv_src -c "GRANT SELECT ON dispatch_orderitem TO pv_reader"
	assert_exit 3
	assert_contains "entity \"orderitems\": cannot trace what its incremental expression watches: permission denied for table dispatch_orderitem"
	assert_contains "ferry: error: run: cannot check the plan against the source database (see above)"
	[ "$(q1 -d pv_src_noread -c "SELECT count(*) FROM ferry.runs")" = 0 ] || false
	[ "$(q1 -d pv_src_noread -c "SELECT count(*) FROM public.orderevents")" = 0 ] || false
}

LOADER="user=pv_loader"

@test "destination: the listed grants are enough for run, status, verify and rollback --dry-run; identical" {
	clone_db pv_tmpl pv_dst_ok
	loader_grants pv_dst_ok
	local t="dbname=pv_dst_ok $LOADER"
	run ferry run --source "$READER" --target "$t" --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id r3 --workdir "$BATS_TEST_TMPDIR/r3"
	echo "$output" | grep -v '^ \|^-\|^(' | tail -5
	assert_exit 0
	[[ $output != *warning* ]]
	same_as_reference pv_dst_ok r3
	run ferry status r3 --target "$t"
	assert_exit 0
	run ferry verify --source "$READER" --target "$t" --min-success "$DEMO_MIN"
	assert_exit 0
	assert_contains "verify: ok: 99.1271%"
	run ferry rollback r3 --dry-run --target "$t"
	assert_exit 0
	assert_contains "7722 rows would be deleted (dry run)"
	# it owns nothing, and is no superuser
	[ "$(q1 -d pv_dst_ok -c "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = 'pv_loader'")" = f ]
	[ "$(q1 -d pv_dst_ok -c "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = 'pv_loader'")" -eq 0 ]
	# ferry init (and an upgrade of the ferry schema) is the owner's: CREATE on the database
	run ferry init --target "$t"
	assert_exit 4
	assert_contains "permission denied for database pv_dst_ok"
	assert_contains "ferry: error: cannot create the ferry schema in the target"
}

# without WHAT (words) SQL: a run as pv_loader in a fresh destination where SQL took a right away
without() {
	local name=$1 sql=$2
	DB=pv_dst_$name
	clone_db pv_tmpl "$DB"
	loader_grants "$DB"
	q -d "$DB" -c "$sql"
	run ferry run --source "$READER" --target "dbname=$DB $LOADER" --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id "$name" --workdir "$BATS_TEST_TMPDIR/$name"
	echo "$output" | grep -v '^ \|^-\|^(' | tail -4
}

@test "destination: each listed right is needed; without it the run stops or degrades, and says which" {
	# BYPASSRLS: the destination's RLS tables refuse COPY from a role RLS applies to
	q -d postgres -c "ALTER ROLE pv_loader NOBYPASSRLS"
	without rls "SELECT 1"
	q -d postgres -c "ALTER ROLE pv_loader BYPASSRLS"
	assert_exit 4
	assert_contains "ferry-load: error: target: COPY FROM not supported with row-level security"
	assert_contains "[2/16] offices: ferry-load failed (exit 4)"

	# TEMP: the driver's bookkeeping and the load's stage tables are temporary tables
	without temp "REVOKE TEMP ON DATABASE pv_dst_temp FROM pv_loader"
	assert_exit 4
	assert_contains "permission denied to create temporary tables in database \"pv_dst_temp\""

	# USAGE on ferry's sequences: rejects and audit events are numbered by them
	without seq "REVOKE USAGE ON ALL SEQUENCES IN SCHEMA ferry FROM pv_loader"
	assert_exit 4
	assert_contains "permission denied for sequence"

	# UPDATE on a destination table: the fix-up of a deferred column updates offices
	without upd "REVOKE UPDATE ON public.offices FROM pv_loader"
	assert_exit 4
	assert_contains "ferry-load: error: target: permission denied for table offices"
	assert_contains "[11/16] offices:billing_address_id: ferry-load failed (exit 4)"

	# INSERT on ferry's id map: the books are written with each batch
	without idmap "REVOKE INSERT ON ferry.id_map FROM pv_loader"
	assert_exit 4
	assert_contains "permission denied for table id_map"
	[ "$(q1 -d "$DB" -c "SELECT count(*) FROM auth.users")" -eq 0 ]

	# SET on session_replication_role: the load goes on with the destination's triggers
	# and foreign keys on, says so, and the triggers' rows collide with the loaded ones
	q -d postgres -c "REVOKE SET ON PARAMETER session_replication_role FROM pv_loader"
	without srr "SELECT 1"
	q -d postgres -c "GRANT SET ON PARAMETER session_replication_role TO pv_loader"
	assert_contains 'ferry-load: warning: target: cannot set session_replication_role = replica (permission denied to set parameter "session_replication_role"): loading with triggers and foreign-key checks on'
	assert_exit 6
	# on_auth_user_created made a profile for each user: of the 118 profiles none loads
	[ "$(q1 -d "$DB" -c "SELECT count(*), count(*) FILTER (WHERE reason = 'unique_violation') FROM ferry.rejects
		WHERE run_id = 'srr' AND entity = 'profiles' AND disposition = 'rejected'")" = "118|115" ]
}

@test "destination: resetting a serial column's sequence after a load needs UPDATE on it, and says so without" {
	clone_db pv_tmpl pv_dst_seq
	loader_grants pv_dst_seq
	q -d pv_dst_seq -c "CREATE TABLE film (film_id serial PRIMARY KEY, title text NOT NULL);
		GRANT SELECT, INSERT ON film TO pv_loader"
	ferry-extract --source "$READER" --query "SELECT g AS film_id, 'film ' || g AS title FROM generate_series(1, 50) g" \
		--key film_id -o "$BATS_TEST_TMPDIR/film.zst"
	run --separate-stderr ferry-load --target "dbname=pv_dst_seq $LOADER" --table public.film "$BATS_TEST_TMPDIR/film.zst"
	assert_exit 0
	[[ $stderr == *"permission denied for sequence film_film_id_seq"* ]]
	[ "$(q1 -d pv_dst_seq -c "SELECT last_value FROM film_film_id_seq")" -eq 1 ]
	q -d pv_dst_seq -c "TRUNCATE film; GRANT UPDATE ON SEQUENCE film_film_id_seq TO pv_loader"
	run --separate-stderr ferry-load --target "dbname=pv_dst_seq $LOADER" --table public.film "$BATS_TEST_TMPDIR/film.zst"
	assert_exit 0
	[ -z "$stderr" ]
	[ "$(q1 -d pv_dst_seq -c "SELECT last_value FROM film_film_id_seq")" -eq 50 ]
}
