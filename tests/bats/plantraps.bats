#!/usr/bin/env bats
# ferry-plan generate on the traps of issue 14: small legacy schemas,
# written here, where a plan could lose data without a word.  Each trap
# gets either the right mapping, said in the plan, or a TODO naming it:
#   renamed columns (birth_date / date_of_birth and tracking_no /
#     tracking_number matched by name similarity, with a note; user_id /
#     author_id without a foreign key: a TODO naming both);
#   singular / plural legacy names (us_states / legacy_us_state_id,
#     customer_demographics / legacy_customer_demographic_id): matched, the
#     key fed, no TODO;
#   a legacy_* destination column nothing feeds: a TODO;
#   a NOT NULL foreign key cycle: "forward", no TODO;
#   a source table no destination table matches: target -, a reason, a TODO;
#   and the coverage lists: sources, merges, unused, default, reason.

load helpers
bats_require_minimum_version 1.5.0

renamed_source() {
	q -d "$1" <<'SQL'
create table auth_user (id serial primary key, email text not null, last_login timestamp);
create table clinic_userprofile (
    id serial primary key, user_id integer not null unique references auth_user (id), phone text);
create table clinic_patient (
    id serial primary key, full_name text not null, birth_date date, chart_no text);
create table clinic_shipment (
    id serial primary key, patient_id integer not null references clinic_patient (id),
    tracking_no varchar(40));
-- user_id holds a user's key, but no foreign key says so
create table clinic_note (id serial primary key, user_id integer, body text not null);
-- here one does
create table clinic_reply (
    id serial primary key, user_id integer references auth_user (id), body text not null);
create table clinic_auditjunk (id serial primary key, payload text);
-- two columns say what one destination column says: no guess
create table clinic_parcel (id serial primary key, shipped_at date, shipped_on date);

insert into auth_user (email, last_login) values ('a@example.com', '2020-01-01'), ('b@example.com', null);
insert into clinic_userprofile (user_id, phone) values (1, '555');
insert into clinic_patient (full_name, birth_date, chart_no) values ('Ann', '1980-02-03', 'C1');
insert into clinic_shipment (patient_id, tracking_no) values (1, '1Z999');
insert into clinic_note (user_id, body) values (2, 'hello');
insert into clinic_reply (user_id, body) values (1, 'hi');
SQL
}

renamed_target() {
	q -d "$1" <<'SQL'
create table users (
    id uuid primary key, legacy_user_id integer unique, legacy_userprofile_id integer unique,
    email text not null, phone text, avatar_url text);
create table patients (
    id uuid primary key, legacy_patient_id integer unique, full_name text not null,
    date_of_birth date, chart_no text, legacy_chart_ref text);
create table shipments (
    id uuid primary key, legacy_shipment_id integer unique,
    patient_id uuid not null references patients (id), tracking_number text);
create table notes (
    id uuid primary key, legacy_note_id integer unique, author_id uuid references users (id),
    body text not null);
create table replies (
    id uuid primary key, legacy_reply_id integer unique, author_id uuid references users (id),
    body text not null);
create table parcels (id uuid primary key, legacy_parcel_id integer unique, shipped_date date);
SQL
}

plural_source() {
	q -d "$1" <<'SQL'
create table us_states (state_id serial primary key, name text not null);
create table customer_demographics (id serial primary key, label text not null);
create table categories (id serial primary key, name text not null);
create table sales_regions (region_code text primary key, name text not null);
create table shop_address (
    id serial primary key, state_id integer not null references us_states (state_id),
    line1 text not null);
create table statuses (id serial primary key, label text not null);
create table boxes (
    id serial primary key, label text not null, status_id integer not null references statuses (id));

insert into us_states (name) values ('Ohio'), ('Utah');
insert into customer_demographics (label) values ('retail');
insert into categories (name) values ('tools');
insert into sales_regions values ('NE', 'North East');
insert into shop_address (state_id, line1) values (2, '1 Main St');
insert into statuses (label) values ('open');
insert into boxes (label, status_id) values ('b1', 1);
SQL
}

plural_target() {
	q -d "$1" <<'SQL'
create table states (id uuid primary key, legacy_us_state_id integer unique, name text not null);
create table demographics (
    id uuid primary key, legacy_customer_demographic_id integer unique, label text not null);
create table category (id uuid primary key, legacy_category_id integer unique, name text not null);
create table territories (id uuid primary key, legacy_region_code text unique, name text not null);
create table addresses (
    id uuid primary key, legacy_address_id integer unique,
    state_id uuid not null references states (id), line1 text not null);
-- no legacy key column: matched by name, singular from plural
create table status (id uuid primary key, label text not null);
create table boxes (
    id uuid primary key, legacy_box_id integer unique, label text not null,
    status_id uuid not null references status (id));
SQL
}

# pagila's cycle: both columns NOT NULL; the source defers the store side
cycle_source() {
	q -d "$1" <<'SQL'
create table store (store_id serial primary key, manager_staff_id integer not null, name text not null);
create table staff (
    staff_id serial primary key, store_id integer not null references store (store_id),
    name text not null);
alter table store add constraint store_manager_fkey foreign key (manager_staff_id)
    references staff (staff_id) deferrable initially deferred;
begin;
insert into store values (1, 1, 'Main');
insert into staff values (1, 1, 'Mike');
commit;
SQL
}

# the same cycle, deferred nowhere
cycle_source_plain() {
	cycle_source "$1"
	q -d "$1" -c "alter table store alter constraint store_manager_fkey not deferrable"
}

# $2: which destination foreign keys are DEFERRABLE: staff, both or none
cycle_target() {
	q -d "$1" <<SQL
create table store (
    id uuid primary key, legacy_store_id integer unique, manager_staff_id uuid not null,
    name text not null);
create table staff (
    id uuid primary key, legacy_staff_id integer unique,
    store_id uuid not null constraint staff_store_fkey references store (id)
        $([ "$2" != none ] && echo deferrable initially deferred),
    name text not null);
alter table store add constraint store_manager_fkey foreign key (manager_staff_id) references staff (id)
    $([ "$2" = both ] && echo deferrable initially deferred);
SQL
}

setup_file() {
	local d=$BATS_FILE_TMPDIR db
	for db in tr_ren_src tr_ren_dst tr_pl_src tr_pl_dst tr_cy_src tr_cy_dst tr_cy_dst2 tr_cy_src3 tr_cy_dst3; do
		new_db "$db"
	done
	renamed_source tr_ren_src >/dev/null
	renamed_target tr_ren_dst >/dev/null
	plural_source tr_pl_src >/dev/null
	plural_target tr_pl_dst >/dev/null
	cycle_source tr_cy_src >/dev/null
	cycle_target tr_cy_dst staff >/dev/null
	cycle_target tr_cy_dst2 both >/dev/null
	cycle_source_plain tr_cy_src3 >/dev/null
	cycle_target tr_cy_dst3 none >/dev/null
	for db in ren:tr_ren_src:tr_ren_dst pl:tr_pl_src:tr_pl_dst cy:tr_cy_src:tr_cy_dst cy2:tr_cy_src:tr_cy_dst2 \
		cy3:tr_cy_src3:tr_cy_dst3; do
		IFS=: read -r name src dst <<<"$db"
		ferry-plan generate --source "dbname=$src" --target "dbname=$dst" --no-date \
			-o "$d/$name.plan" 2>"$d/$name.err"
		echo "$?" >"$d/$name.rc"
	done
}

teardown_file() {
	drop_dbs
}

setup() {
	P=$BATS_FILE_TMPDIR
}

# generated NAME: the plan was written (exit 0)
generated() {
	[ "$(cat "$P/$1.rc")" = 0 ] || { cat "$P/$1.err" >&2; return 1; }
}

# block PLAN ENTITY: the entity's lines, from the comments above "entity NAME" to its "end"
block() {
	awk -v n="entity $2" '
		!on && /^#/ { above = above $0 "\n"; next }
		$0 == n { on = 1; printf "%s", above }
		on { print }
		on && /^end$/ { exit }
		{ above = "" }' "$1"
}

# queries_run PLAN SRC: every migrated entity's extract query runs on the source
queries_run() {
	local e sql n=0
	while read -r e; do
		[[ $e == *:* ]] && continue
		sql=$(ferry-plan get "$1" "$e" extract)
		q1 -d "$2" -c "select count(*) from ($sql
		) q" >/dev/null || { echo "$e: the query fails" >&2; return 1; }
		n=$((n + 1))
	done < <(ferry-plan order "$1")
	[ "$n" -gt 0 ]
}

# ---------------------------------------------------------------------
# Renamed columns
# ---------------------------------------------------------------------

@test "traps: birth_date -> date_of_birth and tracking_no -> tracking_number, matched by name similarity and said so" {
	generated ren
	run ferry-plan get "$P/ren.plan" patients extract
	assert_contains "s.birth_date AS date_of_birth,  -- matched by name similarity: birth_date"
	run block "$P/ren.plan" patients
	assert_contains "# matched by name similarity (check them): date_of_birth <- birth_date"
	run ferry-plan get "$P/ren.plan" shipments extract
	assert_contains "s.tracking_no AS tracking_number  -- matched by name similarity: tracking_no"
	run block "$P/ren.plan" shipments
	assert_contains "# matched by name similarity (check them): tracking_number <- tracking_no"
	[ -z "$(ferry-plan get "$P/ren.plan" shipments todo)" ] || false
}

@test "traps: two source columns like one destination column: no guess, one TODO naming the three" {
	generated ren
	run ferry-plan get "$P/ren.plan" parcels todo
	[ "$output" = "source columns shipped_at, shipped_on are not migrated and destination column shipped_date is left to its default: feed a destination column from the source column that holds its value in the query, or list them under unused / default" ] || false
	run ferry-plan get "$P/ren.plan" parcels extract
	[[ $output != *shipped* ]] || false
}

@test "traps: user_id -> author_id without a foreign key is a TODO naming both; with foreign keys on both sides, a ref" {
	generated ren
	run ferry-plan get "$P/ren.plan" notes todo
	assert_contains "source column user_id is not migrated and destination column author_id is left to its default: feed author_id from user_id in the query, or list them under unused / default"
	assert_contains 'feeding it takes "ref author_id users" too'
	run ferry-plan get "$P/ren.plan" notes extract
	[[ $output != *author_id* ]] || false
	run ferry-plan get "$P/ren.plan" notes refs
	[ -z "$output" ] || false
	# clinic_reply.user_id references auth_user, replies.author_id users: certain
	run ferry-plan get "$P/ren.plan" replies refs
	[ "$output" = "author_id users ref null" ] || false
	run ferry-plan get "$P/ren.plan" replies extract
	assert_contains "s.user_id AS author_id,  -- <- user_id (foreign key to auth_user)"
	[ -z "$(ferry-plan get "$P/ren.plan" replies todo)" ] || false
	# the plan cannot run until the question is answered
	run ferry-plan check "$P/ren.plan"
	assert_exit 2
	assert_contains "entity \"notes\": TODO: source column user_id"
}

@test "traps: a legacy_* destination column nothing feeds is a TODO, never NULL in silence" {
	generated ren
	run ferry-plan get "$P/ren.plan" patients todo
	assert_contains "destination column legacy_chart_ref (text) is named like a legacy key or value, but no convention feeds it"
	run ferry-plan get "$P/ren.plan" patients extract
	[[ $output != *legacy_chart_ref* ]] || false
	run block "$P/ren.plan" patients
	[[ $output != *"default legacy_chart_ref"* ]] || false
}

@test "traps: a source table no destination table matches: target -, a reason, a TODO" {
	generated ren
	[ "$(ferry-plan get "$P/ren.plan" clinic_auditjunk target)" = - ] || false
	run block "$P/ren.plan" clinic_auditjunk
	assert_contains "  reason no destination table matches it"
	assert_contains "  TODO: map public.clinic_auditjunk to a destination table"
}

@test "traps: coverage lists: sources, merges, unused and default with their reasons, reason of a merged table" {
	generated ren
	grep -qx 'sources public' "$P/ren.plan"
	run block "$P/ren.plan" users
	assert_contains "  merges public.clinic_userprofile"
	assert_contains "m.phone"
	# last_login (a timestamp) fits no destination column left over; avatar_url no source column
	assert_contains $'  # no destination column for it\n  unused last_login'
	assert_contains $'  # no source column feeds them: left to their default\n  default avatar_url'
	run block "$P/ren.plan" clinic_userprofile
	assert_contains "  target -"
	assert_contains "  reason merged into users"
	# a column read by one entity goes to it in the others of its table
	run block "$P/ren.plan" shipments
	[[ $output != *unused* ]] || false
	# and the plan reads back
	run ferry-plan order "$P/ren.plan"
	assert_exit 0
}

@test "traps: the renamed plan runs once its TODOs are answered as a DBA would" {
	generated ren
	local fixed=$BATS_TEST_TMPDIR/fixed.plan
	awk '
		/^  TODO: (source columns? (user_id|shipped_at)|destination column legacy_chart_ref|map public.clinic_auditjunk)/ { next }
		/^entity notes$/ { notes = 1 }
		notes && /^  extract$/ { print "  ref author_id users null" }
		notes && /AS legacy_note_id,/ { print; print "           s.user_id AS author_id,"; next }
		notes && /^end$/ { notes = 0 }
		{ print }
	' "$P/ren.plan" >"$fixed"
	# legacy_chart_ref: left NULL, said so; shipped_on is the ship date
	sed -i '/^entity patients$/,/^end$/s/^  extract$/  default legacy_chart_ref\n&/' "$fixed"
	sed -i '/^entity parcels$/,/^end$/{s/^  extract$/  unused shipped_at\n&/;s/SELECT s.id AS legacy_parcel_id  /SELECT s.id AS legacy_parcel_id, s.shipped_on AS shipped_date  /}' "$fixed"
	run ferry-plan check "$fixed"
	assert_exit 0
	run ferry-plan get "$fixed" notes extract
	assert_contains "s.user_id AS author_id"
	run ferry-plan get "$fixed" parcels extract
	assert_contains "s.shipped_on AS shipped_date"
	queries_run "$fixed" tr_ren_src
}

# ---------------------------------------------------------------------
# Singular and plural
# ---------------------------------------------------------------------

@test "traps: singular / plural legacy names: matched, key fed, no TODO" {
	generated pl
	local p=$P/pl.plan
	[ "$(ferry-plan get "$p" states source)" = public.us_states ] || false
	[ "$(ferry-plan get "$p" states key)" = legacy_us_state_id ] || false
	run ferry-plan get "$p" states extract
	assert_contains "s.state_id AS legacy_us_state_id"
	[ "$(ferry-plan get "$p" demographics source)" = public.customer_demographics ] || false
	[ "$(ferry-plan get "$p" demographics key)" = legacy_customer_demographic_id ] || false
	run ferry-plan get "$p" demographics extract
	assert_contains "s.id AS legacy_customer_demographic_id"
	[ "$(ferry-plan get "$p" category key)" = legacy_category_id ] || false
	# legacy_<key column>
	[ "$(ferry-plan get "$p" territories source)" = public.sales_regions ] || false
	[ "$(ferry-plan get "$p" territories key)" = legacy_region_code ] || false
	# by name, plural to singular: the key goes out as legacy_<singular>_id
	[ "$(ferry-plan get "$p" status source)" = public.statuses ] || false
	[ "$(ferry-plan get "$p" status drop)" = legacy_status_id ] || false
	[ "$(ferry-plan get "$p" boxes key)" = legacy_box_id ] || false
	run ferry-plan get "$p" addresses refs
	[ "$output" = "state_id states ref reject" ] || false
	run ferry-plan get "$p" boxes refs
	[ "$output" = "status_id status ref reject" ] || false
	grep -q '0 TODOs' "$P/pl.err"
	run ferry-plan check "$p"
	assert_exit 0
	queries_run "$p" tr_pl_src
}

# ---------------------------------------------------------------------
# A cycle of NOT NULL columns
# ---------------------------------------------------------------------

@test "traps: a NOT NULL cycle is broken with forward on the edge the destination defers, no TODO" {
	generated cy
	local p=$P/cy.plan
	[ "$(ferry-plan get "$p" staff forward)" = "store_id store reject" ] || false
	[ -z "$(ferry-plan get "$p" store forward)" ] || false
	run ferry-plan get "$p" store refs
	[ "$output" = "manager_staff_id staff ref reject" ] || false
	run block "$p" staff
	assert_contains "staff_store_fkey is DEFERRABLE, not enough on its own: each batch commits before"
	assert_contains "foreign-key checks off during the load"
	grep -q '0 cycles broken with defer, 1 with forward, 0 TODOs' "$P/cy.err"
	run ferry-plan check "$p"
	assert_exit 0
	run ferry-plan order "$p"
	assert_exit 0
	[ "$output" = $'staff\nstore' ] || false
	queries_run "$p" tr_cy_src
}

@test "traps: both destination keys deferrable: forward where the source defers; the same plan every time" {
	generated cy2
	local p=$P/cy2.plan
	[ "$(ferry-plan get "$p" store forward)" = "manager_staff_id staff reject" ] || false
	[ -z "$(ferry-plan get "$p" staff forward)" ] || false
	run ferry-plan check "$p"
	assert_exit 0
	ferry-plan generate --source dbname=tr_cy_src --target dbname=tr_cy_dst2 --no-date \
		-o "$BATS_TEST_TMPDIR/again.plan" 2>/dev/null
	cmp "$p" "$BATS_TEST_TMPDIR/again.plan"
}

@test "traps: deferred nowhere: forward on the first edge by entity name, and what the destination must allow" {
	generated cy3
	local p=$P/cy3.plan
	[ "$(ferry-plan get "$p" staff forward)" = "store_id store reject" ] || false
	[ -z "$(ferry-plan get "$p" store forward)" ] || false
	run block "$p" staff
	assert_contains "staff_store_fkey is not DEFERRABLE"
	assert_contains "session_replication_role = replica"
	run ferry-plan check "$p"
	assert_exit 0
}
