#!/usr/bin/env bats
# The ferry driver (issue 4): a full run of examples/demo.plan on the demo
# database and its books, users and passwords, what the destination does
# during a load (triggers, RLS, sequences, a pooler refused), connections,
# and bad usage.  Crashes and resume are in resume.bats, incremental runs
# in incremental.bats, rollback in rollback.bats.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

RUN=full1

setup_file() {
	demo_dbs dr_src dr_tmpl 1
	q -d dr_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	clone_db dr_tmpl dr_dst
	# the connection comes from the environment here; other tests pass --source/--target
	FERRY_SOURCE=dbname=dr_src FERRY_TARGET=dbname=dr_dst \
		ferry run --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" --run-id "$RUN" \
		--workdir "$BATS_FILE_TMPDIR/$RUN" >"$BATS_FILE_TMPDIR/run.out" 2>&1
	echo $? >"$BATS_FILE_TMPDIR/run.rc"
}

teardown_file() {
	drop_dbs
	q1 -d postgres -c "DROP ROLE IF EXISTS ferry_loader" >/dev/null 2>&1 || true
}

setup() {
	unset FERRY_SOURCE FERRY_TARGET
}

# ---------------------------------------------------------------------
# A full run and its books
# ---------------------------------------------------------------------

@test "ferry run: exit 0, a line per entity, the summary and the success rate" {
	output=$(cat "$BATS_FILE_TMPDIR/run.out")
	status=$(cat "$BATS_FILE_TMPDIR/run.rc")
	assert_exit 0
	assert_contains "run $RUN (full): plan $DEMO_PLAN"
	assert_contains "[12/16] orders: 993 rows loaded, 5 rejected, 12 repaired"
	assert_contains "[16/16] comments: 1154 rows loaded, 43 rejected, 7 repaired"
	assert_contains "run $RUN: success rate 99.1271% (minimum 99%)"
	# the summary: the entities, the run's totals, the rejects by reason
	assert_contains " orderitems                 | done   |   1996 |   1986 |       10 |        0 |     99.50"
	grep -Eq "^ $RUN +\| full +\| done +\| +7790 \| +7722 \| +68 \| +99.1271 \|" <<<"$output"
	assert_contains " missing_reference   | transform |   45 | comments"
}

@test "ferry run: below --min-success the run is done but exits 6 and says where the rejects are" {
	clone_db dr_tmpl dr_min
	run ferry run -q --source dbname=dr_src --target dbname=dr_min --plan "$DEMO_PLAN" \
		--workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 6
	# with -q too, the reason of exit 6
	assert_contains "success rate 99.1271% is below the minimum 99.5%: see ferry.rejects and $BATS_TEST_TMPDIR/w/rejects.jsonl"
	[ "$(q1 -d dr_min -c "SELECT status FROM ferry.runs")" = done ]
}

@test "ferry.entity_runs: every step of the plan done, with its counts; the run done with its totals" {
	local steps
	steps=$(ferry-plan order "$DEMO_PLAN" | sort | tr '\n' ',')
	[ "$(q1 -d dr_dst -c "SELECT string_agg(entity, ',' ORDER BY entity COLLATE \"C\") || ',' FROM ferry.entity_runs
		WHERE run_id = '$RUN' AND status = 'done'")" = "$steps" ]
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.entity_runs WHERE run_id = '$RUN'
		AND (source_rows <> loaded_rows + rejected_rows OR started_at IS NULL OR finished_at < started_at)")" -eq 0 ]
	run q1 -d dr_dst -c "SELECT kind, status, source_rows, loaded_rows, rejected_rows, success_rate, snapshot <> '',
		source_time IS NOT NULL, finished_at >= started_at FROM ferry.runs WHERE run_id = '$RUN'"
	[ "$output" = "full|done|7790|7722|68|99.1271|t|t|t" ]
	# every source row is loaded or rejected
	[ "$(q1 -d dr_src -c "SELECT count(*) FROM dispatch_order")" -eq \
		"$(q1 -d dr_dst -c "SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM ferry.rejects
			WHERE run_id = '$RUN' AND entity = 'orders' AND disposition = 'rejected')")" ]
}

# rej ENTITY REASON: the legacy ids of the rejected rows, sorted, comma-separated
rej() {
	q1 -d dr_dst -c "SELECT string_agg(legacy_id, ',' ORDER BY legacy_id::bigint) FROM ferry.rejects
		WHERE run_id = '$RUN' AND entity = '$1' AND reason = '$2' AND disposition = 'rejected'"
}

@test "every reject is an anomaly of the catalogue (or a row of one), with its reason, stage, detail and row" {
	# orders of a deleted patient (orphan_fk), with their items and events
	[ "$(rej orders missing_reference)" = 13,213,413,613,813 ]
	[ "$(rej orderitems missing_reference)" = 25,26,425,426,825,826,1225,1226,1625,1626 ]
	[ "$(rej orderevents missing_reference)" = \
		3000000013,3000000213,3000000413,3000000613,3000000813,3000001007,3000001107,3000001207,3000001307,3000001407 ]
	# comments: NULL body, parent cycles, on deleted objects, on a removed model
	[ "$(rej comments not_null_violation)" = 140,440,740,1040 ]
	[ "$(rej comments parent_cycle)" = 301,302,303,304,305 ]
	[ "$(rej comments self_parent)" = 306 ]
	[ "$(rej comments under_cycle)" = 307,308,309 ]
	[ "$(rej comments missing_reference)" = "$(seq -s, 321 340)" ]
	[ "$(rej comments unknown_entity_type)" = "$(seq -s, 341 350)" ]
	# nothing else, and each says why, where, and keeps the original row
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.rejects WHERE run_id = '$RUN' AND disposition = 'rejected'")" -eq 68 ]
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.rejects WHERE run_id = '$RUN'
		AND (reason = '' OR coalesce(detail, '') = '' OR legacy_id IS NULL OR stage NOT IN ('extract', 'transform', 'load')
		     OR (disposition = 'rejected' AND row_data IS NULL))")" -eq 0 ]
	q1 -d dr_dst -c "SELECT detail FROM ferry.rejects WHERE run_id = '$RUN' AND entity = 'orders' AND legacy_id = '13'" |
		grep -q "patient_id = 111: patients has no row with that key"
	# the same in the run's rejects file
	[ "$(jq -s 'map(select(.disposition == "rejected")) | length' "$BATS_FILE_TMPDIR/$RUN/rejects.jsonl")" -eq 68 ]
}

@test "repairs: the catalogue's repairable anomalies are loaded and noted, with their reason" {
	run q1 -d dr_dst -c "SELECT entity || ':' || reason || ':' || count(*) FROM ferry.rejects
		WHERE run_id = '$RUN' AND disposition = 'repaired' GROUP BY entity, reason ORDER BY 1"
	[ "$output" = "auth.users:blank_email:2
auth.users:email_case_duplicate:1
comments:orphan_root:2
comments:reference_set_null:5
invoicelines:reference_set_null:7
invoices:missing_issued_on:4
orderevents:implausible_created_at:2
orderevents:reference_set_null:5
orders:infinite_shipped_at:2
orders:office_from_patient:4
orders:value_repaired:6
patients:implausible_date_of_birth:4
patients:missing_last_name:5
profiles:blank_email:2
profiles:value_repaired:3" ]
	# as loaded: NULL office from the patient, invalid JSON as {}, ' ' rush as false, infinity as NULL
	run q1 -d dr_dst -c "SELECT o.legacy_order_id, o.office_id = p.office_id, o.metadata = '{}', o.is_rush, o.shipped_at IS NULL
		FROM orders o JOIN patients p ON p.id = o.patient_id WHERE o.legacy_order_id IN (77, 99, 599, 103, 444)
		ORDER BY o.legacy_order_id"
	[ "$output" = $'77|t|f|f|f\n99|t|t|t|f\n103|t|f|f|f\n444|t|f|f|t\n599|t|t|f|f' ] || { echo "$output" >&2; false; }
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM patients WHERE legacy_patient_id IN (64, 189, 314, 439) AND date_of_birth IS NULL")" -eq 4 ]
	[ "$(q1 -d dr_dst -c "SELECT email FROM profiles WHERE legacy_user_id = 12")" = user-12@blank-email.invalid ]
}

@test "ferry.audit_log: start, batch and end events of every stage for every entity, with counts and durations" {
	local e missing
	for e in $(ferry-plan order "$DEMO_PLAN" | grep -v :); do
		missing=$(q1 -d dr_dst -c "SELECT string_agg(ev, ',') FROM unnest(ARRAY['extract_start', 'extract_end',
			'transform_start', 'transform_end', 'load_start', 'batch', 'load_end', 'entity_done']) ev
			WHERE NOT EXISTS (SELECT 1 FROM ferry.audit_log WHERE run_id = '$RUN' AND entity = '$e' AND event = ev)")
		if [ -n "$missing" ]; then
			echo "$e: no $missing event" >&2
			return 1
		fi
	done
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = '$RUN' AND event IN ('run_start', 'run_end')")" -eq 2 ]
	# counts: the batches add up to the rows loaded, the ends agree with ferry.entity_runs
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.entity_runs r WHERE run_id = '$RUN' AND entity NOT LIKE '%:%'
		AND loaded_rows <> (SELECT sum((data->>'rows')::int) FROM ferry.audit_log a
		                     WHERE a.run_id = r.run_id AND a.entity = r.entity AND a.event = 'batch'
		                       AND a.data->>'pid' = (SELECT data->>'pid' FROM ferry.audit_log b WHERE b.run_id = r.run_id
		                                              AND b.entity = r.entity AND b.event = 'load_start' ORDER BY id LIMIT 1))")" -eq 0 ]
	[ "$(q1 -d dr_dst -c "SELECT sum((data->>'rejected')::int) FROM ferry.audit_log
		WHERE run_id = '$RUN' AND event = 'transform_end'")" -eq 68 ]
	[ "$(q1 -d dr_dst -c "SELECT (data->>'loaded')::int FROM ferry.audit_log
		WHERE run_id = '$RUN' AND entity = 'orders' AND event = 'entity_done'")" -eq 993 ]
	# durations (milliseconds of extracts and batches, seconds of each step) and the run id everywhere
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = '$RUN'
		AND ((event IN ('extract_end', 'batch') AND NOT data ? 'ms')
		     OR (event = 'entity_done' AND NOT data ? 'seconds') OR data->>'run' <> '$RUN' OR ts IS NULL)")" -eq 0 ]
}

@test "the events files are recorded in ferry.audit_log line for line, then renamed" {
	local files lines
	files=$(find "$BATS_FILE_TMPDIR/$RUN/log" -name '*.jsonl' | wc -l)
	[ "$files" -eq 0 ]
	lines=$(cat "$BATS_FILE_TMPDIR/$RUN"/log/*.jsonl.recorded | grep -c .)
	[ "$lines" -eq "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = '$RUN'")" ]
	# each line is JSON with the run id
	[ "$(cat "$BATS_FILE_TMPDIR/$RUN"/log/*.jsonl.recorded | jq -s "map(select(.run != \"$RUN\")) | length")" -eq 0 ]
}

@test "ferry.id_map: one mapping per loaded row, to that row's UUID" {
	local e n
	for e in $(ferry-plan order "$DEMO_PLAN" | grep -v :); do
		n=$(q1 -d dr_dst -c "SELECT (SELECT count(*) FROM ferry.id_map WHERE run_id = '$RUN' AND entity = '$e')
			- loaded_rows FROM ferry.entity_runs WHERE run_id = '$RUN' AND entity = '$e'")
		[ "$n" -eq 0 ] || { echo "$e: id_map - loaded = $n" >&2; return 1; }
	done
	# and the UUIDs are the rows' ids, keys included
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.id_map m JOIN orders o ON o.id = m.uuid
		AND o.legacy_order_id::text = m.legacy_id WHERE m.entity = 'orders'")" -eq 993 ]
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.id_map m JOIN auth.users u ON u.id = m.uuid
		AND u.raw_app_meta_data->>'legacy_user_id' = m.legacy_id WHERE m.entity = 'auth.users'")" -eq 118 ]
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.id_map m JOIN invoicelines l ON l.id = m.uuid
		AND l.legacy_invoice_id || ',' || l.legacy_line_no = m.legacy_id WHERE m.entity = 'invoicelines'")" -eq 1000 ]
	assert_no_duplicates dr_dst
}

# ---------------------------------------------------------------------
# Users
# ---------------------------------------------------------------------

@test "users: auth_user becomes auth.users plus one profiles row per user, paired by id" {
	[ "$(q1 -d dr_src -c "SELECT count(*) FROM auth_user")" -eq 118 ]
	run q1 -d dr_dst -c "SELECT count(*), count(u.id), count(p.id) FROM auth.users u FULL JOIN profiles p ON p.id = u.id"
	[ "$output" = "118|118|118" ]
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM auth.users u JOIN profiles p ON p.id = u.id
		WHERE (u.raw_app_meta_data->>'legacy_user_id')::int <> p.legacy_user_id
		   OR u.raw_user_meta_data->>'username' <> p.username")" -eq 0 ]
	# the login e-mail: lower case; blank and case-duplicate addresses load without one (noted)
	run q1 -d dr_dst -c "SELECT p.legacy_user_id, coalesce(u.email, 'NULL'), p.email FROM auth.users u JOIN profiles p
		ON p.id = u.id WHERE p.legacy_user_id IN (12, 44, 45) ORDER BY 1"
	[ "$output" = $'12|NULL|user-12@blank-email.invalid\n44|frontdesk44@office7.example|frontdesk44@office7.example\n45|NULL|Frontdesk44@Office7.Example' ]
	# a user without a dispatch_userprofile row has a profile with the defaults
	[ "$(q1 -d dr_dst -c "SELECT legacy_userprofile_id IS NULL AND timezone = 'UTC' AND preferences = '{}'
		FROM profiles WHERE legacy_user_id = 7")" = t ]
}

@test "users: a patient's login carries legacy_patient_id, and the patient its profile" {
	local want got
	want=$(q1 -d dr_src -c "SELECT string_agg(user_id || ':' || id, ',' ORDER BY user_id)
		FROM dispatch_patient WHERE user_id IS NOT NULL")
	got=$(q1 -d dr_dst -c "SELECT string_agg(legacy_user_id || ':' || legacy_patient_id, ',' ORDER BY legacy_user_id)
		FROM profiles WHERE legacy_patient_id IS NOT NULL")
	[ -n "$want" ]
	[ "$got" = "$want" ]
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM profiles p JOIN patients pa ON pa.profile_id = p.id
		AND pa.legacy_patient_id = p.legacy_patient_id
		JOIN auth.users u ON u.id = p.id AND (u.raw_app_meta_data->>'legacy_patient_id')::int = p.legacy_patient_id")" -eq 50 ]
	# the protected view reads it
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM patient_logins_v")" -eq 50 ]
}

@test "passwords: the Django hashes verbatim in auth.users.encrypted_password, never in a log or the output" {
	local src dst
	src=$(q1 -d dr_src -c "SELECT md5(string_agg(id || ':' || password, ',' ORDER BY id)) FROM auth_user")
	dst=$(q1 -d dr_dst -c "SELECT md5(string_agg((raw_app_meta_data->>'legacy_user_id') || ':' || encrypted_password,
		',' ORDER BY (raw_app_meta_data->>'legacy_user_id')::int)) FROM auth.users")
	[ "$src" = "$dst" ]
	q1 -d dr_dst -c "SELECT encrypted_password FROM auth.users" | grep -q '^pbkdf2_sha256\$150000\$'
	# not in the output, the events, the rejects file, ferry.audit_log, ferry.rejects
	q1 -d dr_src -c "SELECT password FROM auth_user WHERE password <> ''" >"$BATS_TEST_TMPDIR/hashes"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/hashes")" -eq 118 ]
	run grep -F -f "$BATS_TEST_TMPDIR/hashes" "$BATS_FILE_TMPDIR/run.out"
	assert_exit 1
	run grep -r -F -f "$BATS_TEST_TMPDIR/hashes" "$BATS_FILE_TMPDIR/$RUN"
	assert_exit 1
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.audit_log a, auth.users u
		WHERE strpos(a.data::text, u.encrypted_password) > 0")" -eq 0 ]
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM ferry.rejects r, auth.users u
		WHERE strpos(coalesce(r.row_data::text, '') || r.detail, u.encrypted_password) > 0")" -eq 0 ]
}

# ---------------------------------------------------------------------
# What the destination does during a load
# ---------------------------------------------------------------------

@test "the load runs with session_replication_role = replica: no destination trigger fired" {
	# handle_new_user would have made the profiles (then every profile insert
	# would collide); addresses_fill_one_line would fill legacy_one_line;
	# set_updated_at would stamp the offices the fix-up updated
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM addresses WHERE legacy_one_line IS NOT NULL")" -eq 0 ]
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM offices WHERE billing_address_id IS NOT NULL")" -eq 18 ]
	[ "$(q1 -d dr_dst -c "SELECT max(updated_at) < '2025-01-01' FROM offices")" = t ]
	# RLS (enabled on profiles, patients, comments, offices) does not apply to the
	# loading role, a superuser: every row is there
	[ "$(q1 -d dr_dst -c "SELECT count(*) FROM pg_class WHERE relrowsecurity
		AND relname IN ('profiles', 'patients', 'comments', 'offices')")" -eq 4 ]
	[ "$(q1 -d dr_dst -c "SELECT (SELECT count(*) FROM profiles) + (SELECT count(*) FROM patients)
		+ (SELECT count(*) FROM comments) + (SELECT count(*) FROM offices)")" -eq $((118 + 498 + 1154 + 20)) ]
}

@test "a role that may not set session_replication_role loads with triggers and foreign keys on, and says so" {
	new_db dr_role
	q -d dr_role -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	q -d dr_role <<'SQL'
DROP ROLE IF EXISTS ferry_loader;
CREATE ROLE ferry_loader LOGIN;
CREATE TABLE stamped (id int PRIMARY KEY, name text NOT NULL, stamped boolean NOT NULL DEFAULT false);
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.stamped := true; RETURN NEW; END $$;
CREATE TRIGGER stamp BEFORE INSERT ON stamped FOR EACH ROW EXECUTE FUNCTION stamp();
ALTER TABLE stamped OWNER TO ferry_loader;
-- RLS enabled and forced on a table the role owns, with no policy for it: no row may go in
CREATE TABLE guarded (id int PRIMARY KEY, name text NOT NULL);
ALTER TABLE guarded OWNER TO ferry_loader;
ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
ALTER TABLE guarded FORCE ROW LEVEL SECURITY;
SQL
	ferry-extract --source dbname=dr_src --query "SELECT g AS id, 'row ' || g AS name FROM generate_series(1, 20) g" \
		--key id -o "$BATS_TEST_TMPDIR/rows.zst"
	run --separate-stderr ferry-load --target "dbname=dr_role user=ferry_loader" --table stamped "$BATS_TEST_TMPDIR/rows.zst"
	echo "$stderr"
	assert_exit 0
	[[ $stderr == *"cannot set session_replication_role = replica"*"loading with triggers and foreign-key checks on"* ]]
	[ "$(q1 -d dr_role -c "SELECT count(*) FROM stamped WHERE stamped")" -eq 20 ]
	# --triggers replica: refused rather than loading with triggers on
	run --separate-stderr ferry-load --target "dbname=dr_role user=ferry_loader" --table stamped \
		--triggers replica "$BATS_TEST_TMPDIR/rows.zst"
	assert_exit 4
	[[ $stderr == *"cannot set session_replication_role = replica"* ]]
	# RLS is honoured for a role it applies to: the load stops, with the server's reason, nothing loaded
	run --separate-stderr ferry-load --target "dbname=dr_role user=ferry_loader" --table guarded "$BATS_TEST_TMPDIR/rows.zst"
	echo "$stderr"
	assert_exit 4
	[[ $stderr == *"row-level security"* ]]
	[ "$(q1 -d dr_role -c "SELECT count(*) FROM guarded")" -eq 0 ]
}

@test "sequences of tables that keep explicit integer keys are set past the largest key after the load" {
	new_db dr_seq_src
	clone_db dr_tmpl dr_seq
	q -d dr_seq_src -c "CREATE TABLE film (film_id int PRIMARY KEY, title text NOT NULL);
		INSERT INTO film SELECT g * 3, 'film ' || g FROM generate_series(1, 100) g;
		CREATE TABLE staff (staff_id int PRIMARY KEY, name text NOT NULL);
		INSERT INTO staff VALUES (1, 'Mike'), (2, 'Jon'), (7, 'Ada')"
	# pagila-like: a serial key and an identity key, loaded with the legacy values
	q -d dr_seq -c "CREATE TABLE film (film_id serial PRIMARY KEY, title text NOT NULL);
		CREATE TABLE staff (staff_id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text NOT NULL)"
	cat >"$BATS_TEST_TMPDIR/seq.plan" <<'EOF'
ferry-plan 1

entity film
  source public.film
  target public.film
  key film_id
  extract
    SELECT film_id, title FROM public.film
  end
end

entity staff
  source public.staff
  target public.staff
  key staff_id
  extract
    SELECT staff_id, name FROM public.staff
  end
end
EOF
	run ferry run -q --source dbname=dr_seq_src --target dbname=dr_seq --plan "$BATS_TEST_TMPDIR/seq.plan" \
		--workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	# the application's next inserts do not collide
	[ "$(q1 -d dr_seq -c "INSERT INTO film (title) VALUES ('new') RETURNING film_id")" -eq 301 ]
	[ "$(q1 -d dr_seq -c "INSERT INTO staff (name) VALUES ('new') RETURNING staff_id")" -eq 8 ]
}

@test "a transaction-mode pooler (port 6543) is refused, with the explanation" {
	# a socket named for port 6543 that leads to the test server: libpq
	# reports port 6543, as through Supavisor's transaction mode
	local dir
	dir=$(mktemp -d /tmp/ferry-pooler.XXXXXX)
	ln -s "$PGHOST/.s.PGSQL.$PGPORT" "$dir/.s.PGSQL.6543"
	clone_db dr_tmpl dr_pool
	q1 -h "$dir" -p 6543 -d dr_pool -c "SELECT 1" >/dev/null
	ferry-extract --source dbname=dr_src --query "SELECT 1 AS id, 'x' AS name" --key id -o "$BATS_TEST_TMPDIR/one.zst"
	q -d dr_pool -c "CREATE TABLE one (id int, name text)"
	run --separate-stderr ferry-load --target "host=$dir port=6543 dbname=dr_pool" --table one "$BATS_TEST_TMPDIR/one.zst"
	assert_exit 4
	[ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ]
	[[ $stderr == *"port=6543"*"looks like a transaction-mode connection pooler"* ]]
	[[ $stderr == *"connect directly to PostgreSQL (Supabase: port 5432"* ]]
	[ "$(q1 -d dr_pool -c "SELECT count(*) FROM one")" -eq 0 ]
	# through the driver: refused before anything is written, by init and run
	run ferry run --source dbname=dr_src --target "host=$dir port=6543 dbname=dr_pool" --plan "$DEMO_PLAN" \
		--run-id pooled --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 4
	[ "$(printf '%s\n' "$output" | grep -c error)" -eq 1 ]
	assert_contains "ferry: error: the target looks like a transaction-mode connection pooler"
	[ "$(q1 -d dr_pool -c "SELECT count(*) FROM ferry.runs")" -eq 0 ]
	[ "$(q1 -d dr_pool -c "SELECT count(*) FROM auth.users")" -eq 0 ]
	q -d dr_pool -c "DROP SCHEMA ferry CASCADE"
	run ferry init --target "host=$dir port=6543 dbname=dr_pool"
	rm -rf "$dir"
	assert_exit 4
	assert_contains "looks like a transaction-mode connection pooler"
	[ "$(q1 -d dr_pool -c "SELECT to_regclass('ferry.runs') IS NULL")" = t ]
}

# ---------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------

@test "connections: --source/--target on every subcommand, or FERRY_SOURCE/FERRY_TARGET, or the PG* defaults" {
	run ferry status --target dbname=dr_dst
	assert_exit 0
	assert_contains "$RUN"
	FERRY_TARGET=dbname=dr_dst run ferry status "$RUN"
	assert_exit 0
	assert_contains "comments"
	PGDATABASE=dr_dst run ferry status
	assert_exit 0
	assert_contains "$RUN"
	run ferry verify --source dbname=dr_src --target dbname=dr_dst --plan "$DEMO_PLAN" --min-success "$DEMO_MIN"
	assert_exit 0
	assert_contains "verify: ok: 99.1271% of the source rows arrived intact"
	run ferry rollback "$RUN" --dry-run --target dbname=dr_dst
	assert_exit 0
	assert_contains "would be deleted (dry run)"
	run ferry plan --source dbname=dr_src --target dbname=dr_dst
	assert_exit 0
	assert_contains "entity orders"
	clone_db dr_tmpl dr_init
	q -d dr_init -c "DROP SCHEMA ferry CASCADE"
	run ferry init --target dbname=dr_init
	assert_exit 0
	[ "$(q1 -d dr_init -c "SELECT to_regclass('ferry.runs') IS NOT NULL")" = t ]
}

@test "connections: a service file names the databases, no password on the command line" {
	cat >"$BATS_TEST_TMPDIR/pg_service.conf" <<EOF
[legacy]
host=$PGHOST
port=$PGPORT
dbname=dr_src

[dest]
host=$PGHOST
port=$PGPORT
dbname=dr_dst
EOF
	export PGSERVICEFILE=$BATS_TEST_TMPDIR/pg_service.conf
	run ferry status --target service=dest
	assert_exit 0
	assert_contains "$RUN"
	FERRY_SOURCE=service=legacy FERRY_TARGET=service=dest run ferry verify --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN"
	assert_exit 0
	assert_contains "verify: ok: 99.1271% of the source rows arrived intact"
}

@test "connections: a wrong target is one clear error line, exit 4, and never shows the password" {
	local cmd secret=SeCrEt-pw-42
	for cmd in status init "resume" "rollback x" "verify --plan $DEMO_PLAN" "run --plan $DEMO_PLAN"; do
		# shellcheck disable=SC2086
		run ferry $cmd --target "host=/nonexistent dbname=nowhere user=someone password=$secret"
		echo "ferry $cmd: $output"
		assert_exit 4
		[[ $output != *"$secret"* ]]
		[ "$(printf '%s\n' "$output" | grep -c .)" -eq 1 ]
		assert_contains "ferry: error: cannot connect to the target database"
	done
	# a URI with a password, through the environment
	FERRY_TARGET="postgresql://someone:$secret@/nowhere?host=/nonexistent" run ferry status
	assert_exit 4
	[[ $output != *"$secret"* ]]
	# and a wrong source: the stage that connects says it, without the password
	clone_db dr_tmpl dr_badsrc
	run ferry run --source "host=/nonexistent dbname=nowhere password=$secret" --target dbname=dr_badsrc \
		--plan "$DEMO_PLAN" --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 3
	[[ $output != *"$secret"* ]]
	assert_contains "cannot connect to the source database"
}

# ---------------------------------------------------------------------
# Bad usage
# ---------------------------------------------------------------------

@test "bad usage: no command, an unknown command or option is exit 2 with one line" {
	run ferry
	assert_exit 2
	assert_contains "Usage: ferry COMMAND"
	run ferry frobnicate
	assert_exit 2
	assert_one_line
	assert_contains 'ferry: error: unknown command "frobnicate" (see ferry --help)'
	run ferry run --plan "$DEMO_PLAN" --frobnicate
	assert_exit 2
	assert_one_line
	assert_contains 'run: unknown option "--frobnicate"'
	run ferry resume --frobnicate
	assert_exit 2
	assert_one_line
	run ferry rollback --frobnicate
	assert_exit 2
	assert_one_line
	run ferry verify --frobnicate
	assert_exit 2
	assert_one_line
	run ferry run --plan "$DEMO_PLAN" --jobs zero
	assert_exit 2
	assert_contains "--jobs needs a positive integer"
	run ferry --help
	assert_exit 0
	assert_contains "rollback RUN"
}

@test "bad usage: run without --plan, with a plan that does not exist, rollback without a run" {
	run ferry run --target dbname=dr_dst
	assert_exit 2
	assert_one_line
	assert_contains "run: --plan FILE is required"
	run ferry run --target dbname=dr_dst --plan "$BATS_TEST_TMPDIR/nothing.plan"
	assert_exit 8
	assert_one_line
	assert_contains "cannot read the plan"
	clone_db dr_tmpl dr_norun
	run ferry verify --target dbname=dr_norun
	assert_exit 2
	assert_contains "verify: --plan FILE is required"
	run ferry rollback --target dbname=dr_dst
	assert_exit 2
	assert_contains "rollback: which run?"
	run ferry rollback no-such-run --target dbname=dr_dst
	assert_exit 2
	assert_contains 'rollback: no run "no-such-run"'
	run ferry resume no-such-run --target dbname=dr_dst
	assert_exit 2
	assert_contains 'resume: no run "no-such-run"'
}

@test "bad usage: a plan with a TODO is refused before anything is written, naming its line" {
	clone_db dr_tmpl dr_todo
	ferry plan --source dbname=dr_src --target dbname=dr_todo >"$BATS_TEST_TMPDIR/draft.plan"
	local line
	line=$(grep -n 'TODO: legacy_patient_id' "$BATS_TEST_TMPDIR/draft.plan" | cut -d: -f1)
	[ -n "$line" ]
	run ferry run --source dbname=dr_src --target dbname=dr_todo --plan "$BATS_TEST_TMPDIR/draft.plan"
	assert_exit 2
	assert_contains "draft.plan:$line: entity \"profiles\": TODO: legacy_patient_id holds keys"
	assert_contains "ferry: error: run: the plan \"$BATS_TEST_TMPDIR/draft.plan\" is not runnable (see above)"
	[ "$(q1 -d dr_todo -c "SELECT count(*) FROM ferry.runs")" -eq 0 ]
}

@test "bad usage: a target without the ferry schema: exit 2, run ferry init" {
	clone_db dr_tmpl dr_noschema
	q -d dr_noschema -c "DROP SCHEMA ferry CASCADE"
	local cmd
	for cmd in "run --plan $DEMO_PLAN" status resume "rollback x" "verify --plan $DEMO_PLAN"; do
		# shellcheck disable=SC2086
		run ferry $cmd --source dbname=dr_src --target dbname=dr_noschema
		echo "ferry $cmd: $output"
		assert_exit 2
		assert_contains 'ferry: error: the target has no ferry schema: run "ferry init" first'
	done
	[ "$(q1 -d dr_noschema -c "SELECT count(*) FROM auth.users")" -eq 0 ]
}

@test "bad usage: a run id that exists already is refused, the earlier run untouched" {
	run ferry run --source dbname=dr_src --target dbname=dr_dst --plan "$DEMO_PLAN" --run-id "$RUN" \
		--workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 4
	assert_contains "cannot record the run"
	[ "$(q1 -d dr_dst -c "SELECT status || ':' || loaded_rows FROM ferry.runs WHERE run_id = '$RUN'")" = done:7722 ]
}
