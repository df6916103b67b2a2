#!/usr/bin/env bats
# ferry cleanup: analyse, backup, deprecate, drop and restore of unused
# destination columns.
#
# The fixture tests run on every destination schema that ships a columns
# file and a protected file: the demo (examples/demo, always here) and the
# shared dispatch fixture (only where FERRY_SHARED is set).  bats 1.8
# counts tests before it runs them, so a test cannot be left undefined at
# run time; each fixture test therefore loops over the fixtures present and
# says on which it ran.  Rows are inserted by rows_<fixture> below, since no
# migration fills these columns.  The other tests build a small schema of
# their own with the kinds of dependents the fixtures lack.

load helpers
bats_require_minimum_version 1.5.0

# the run's stderr is one "ferry-cleanup: error: ..." line
assert_one_error() {
	if [ "$(printf '%s\n' "$stderr" | grep -c .)" -ne 1 ] || [[ $stderr != "ferry-cleanup: error: "* ]]; then
		echo "expected one error line on stderr, got: $stderr" >&2
		return 1
	fi
}

teardown() {
	drop_dbs
}

# ---------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------

# "name<TAB>directory" of every fixture present
fixtures() {
	if [ -f "$FERRY_REPO/examples/demo/cleanup-columns.txt" ]; then
		printf 'demo\t%s\n' "$FERRY_REPO/examples/demo"
	fi
	if shared_fixture; then
		printf 'dispatch\t%s\n' "$FERRY_SHARED/fixtures/dispatch"
	fi
}

# each_fixture FUNCTION: FUNCTION NAME DIR DB for every fixture, on a fresh
# database holding the fixture's destination schema and rows
each_fixture() {
	local fn=$1 name dir ran=""
	while IFS=$'\t' read -r name dir; do
		fixture_db "$name" "$dir" "cl_$name"
		"$fn" "$name" "$dir" "cl_$name"
		ran+=" $name"
	done < <(fixtures)
	[ -n "$ran" ] || { echo "no fixture found" >&2; return 1; }
	echo "# ran on:$ran" >&3
}

fixture_db() {
	local name=$1 dir=$2 db=$3
	new_db "$db"
	q -d "$db" -f "$dir/destination-schema.sql" >/dev/null 2>&1
	"rows_$name" | q -d "$db" -f - >/dev/null
}

# "table<TAB>column<TAB>TAG<TAB>names" for every line of a columns file:
# TAG is BLOCKED, SILENT, BREAKS or CLEAN, names the identifiers that the
# line's comment gives for the dependents
listed() {
	local t c tag text
	sed -n 's/^\([a-z0-9_]*\)\.\([a-z0-9_]*\)[[:space:]]*#[[:space:]]*\([A-Z]*\):\(.*\)$/\1\t\2\t\3\t\4/p' "$1" |
		while IFS=$'\t' read -r t c tag text; do
			printf '%s\t%s\t%s\t%s\n' "$t" "$c" "$tag" "$(grep -o '[a-z0-9]*_[a-z0-9_]*' <<<"$text" | tr '\n' ' ')"
		done
}

# the analyse report of one column: its header line to the next header
section() {
	awk -v h="public.$2 (" 'index($0, h) == 1 { p = 1; print; next } /^public\./ { p = 0 } p' <<<"$1"
}

# one column of a columns file, into a file of its own
one_column() {
	echo "$1" >"$BATS_TEST_TMPDIR/one.txt"
	echo "$BATS_TEST_TMPDIR/one.txt"
}

# the values of every listed column, keyed by id (computed without ferry)
values_snapshot() {
	local db=$1 file=$2 t c rest
	while IFS=$'\t' read -r t c rest; do
		printf '%s.%s ' "$t" "$c"
		q1 -d "$db" -c "select count(*) || ' ' || md5(coalesce(string_agg(x::text, E'\n' order by x::text), ''))
		                from (select id, \"$c\" from public.\"$t\") x"
	done < <(listed "$file")
}

# The application schemas' objects by name, not position, with their
# definitions, privileges and comments: equal before a drop and after
# the restore when everything came back.
catalog_snapshot() {
	q1 -d "$1" <<'SQL'
with app as (select oid from pg_namespace where nspname in ('public', 'auth'))
select 'col ' || format('%I.%I.%I', n.nspname, c.relname, a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' notnull=' || a.attnotnull || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
       || ' gen=' || a.attgenerated::text || ' coll=' || a.attcollation || ' acl=' || coalesce((select string_agg(x::text, ',' order by x::text) from unnest(a.attacl) x), '')
       || ' comment=' || coalesce(col_description(c.oid, a.attnum), '')
from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where n.oid in (select oid from app) and a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'v', 'm', 'p')
union all
select 'rel ' || c.relkind::text || ' ' || c.oid::regclass || ' acl=' || coalesce((select string_agg(x::text, ',' order by x::text) from unnest(c.relacl) x), '') || ' '
       || case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) when c.relkind = 'i' then pg_get_indexdef(c.oid) else '' end
from pg_class c where c.relnamespace in (select oid from app) and c.relkind in ('r', 'v', 'm', 'i', 'p')
union all
select 'con ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
from pg_constraint where connamespace in (select oid from app)
union all
select 'trg ' || pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
from pg_trigger t join pg_class c on c.oid = t.tgrelid where not t.tgisinternal and c.relnamespace in (select oid from app)
union all
select 'pol ' || polrelid::regclass || ' ' || polname || ' ' || polcmd::text || ' ' || polroles::text || ' '
       || coalesce(pg_get_expr(polqual, polrelid), '') || ' ' || coalesce(pg_get_expr(polwithcheck, polrelid), '')
from pg_policy
union all
select 'fn ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) || ' acl=' || coalesce((select string_agg(x::text, ',' order by x::text) from unnest(p.proacl) x), '')
from pg_proc p where p.pronamespace in (select oid from app)
union all
select 'pub ' || p.pubname || ' ' || r.prrelid::regclass || ' ' ||
       coalesce((select string_agg(a.attname, ',' order by a.attname) from pg_attribute a
                 where a.attrelid = r.prrelid and a.attnum = any (r.prattrs::int2[])), '*')
from pg_publication_rel r join pg_publication p on p.oid = r.prpubid
union all
select 'stx ' || stxname || ' ' || stxrelid::regclass || ' ' || stxkind::text || ' '
       || (select string_agg(attname, ',' order by attname) from pg_attribute
           where attrelid = stxrelid and attnum = any (stxkeys::int2[]))
from pg_statistic_ext
order by 1;
SQL
}

# everything in the database; the log of ferry.schema_changes left out when
# $2 is "nolog" (a second run adds "skipped" lines to it, by design)
full_snapshot() {
	local db=$1
	if [ "${2:-}" = nolog ]; then
		pg_dump --no-owner -d "$db" --exclude-table-data=ferry.schema_changes |
			grep -v -e 'schema_changes_id_seq' -e '^\\restrict ' -e '^\\unrestrict '
	else
		pg_dump --no-owner -d "$db" | grep -v -e '^\\restrict ' -e '^\\unrestrict '
	fi
}

cleanup() {
	ferry-cleanup "$@"
}

# ---------------------------------------------------------------------
# Rows for the fixtures' cleanup columns (non-NULL values, FKs respected)
# ---------------------------------------------------------------------

rows_dispatch() {
	cat <<'SQL'
\set ON_ERROR_STOP on
insert into public.countries (code, name) values ('US', 'United States');
insert into public.currencies (code, name, symbol) values ('USD', 'US dollar', '$');
insert into public.orderstatuses (code, label, sort_order) values ('new', 'New', 1), ('done', 'Done', 2);
insert into public.casetypes (code, name, default_turnaround_days) values ('crown', 'Crown', 5);
insert into public.productcategories (name, slug) values ('Fixed', 'fixed');
insert into public.shippingcarriers (code, name, tracking_url_template) values ('ups', 'UPS', 'https://t.example/{tracking}');
insert into public.paymentmethods (code, name) values ('card', 'Card');
insert into public.offices (name, code, fax, legacy_sync_token)
select 'Office ' || g, 'OF' || g, case when g % 3 = 0 then null else '555-010' || g end, 'tok-' || g
from generate_series(1, 4) g;
-- profiles come from auth.users through handle_new_user()
insert into auth.users (email, raw_app_meta_data)
select 'u' || g || '@example.com', jsonb_build_object('legacy_user_id', g) from generate_series(1, 4) g;
update public.profiles set legacy_password_hash = 'pbkdf2$' || md5(email) where legacy_user_id <> 4;
-- legacy_display_name is filled by the doctors_fill_display_name trigger
insert into public.doctors (first_name, last_name, license_number)
select 'Ann' || g, 'Smith', 'L' || g from generate_series(1, 3) g;
insert into public.patients (office_id, chart_number, first_name, last_name, legacy_archived)
select (select id from public.offices where code = 'OF' || (1 + g % 4)), 'C' || g, 'Pat' || g, 'Doe',
       case when g % 2 = 0 then 'Y' else 'N' end
from generate_series(1, 5) g;
insert into public.products (category_id, casetype_id, sku, name, base_price, turnaround_days, legacy_sku_old)
select (select id from public.productcategories), (select id from public.casetypes), 'SKU' || g, 'Crown ' || g, 10 * g, 5, 'OLD-' || g
from generate_series(1, 3) g;
insert into public.orders (order_number, office_id, doctor_id, patient_id, casetype_id, status_id, currency_code,
                           total_amount, legacy_status_code, legacy_rush_flag, legacy_source)
select 'O' || g, (select id from public.offices where code = 'OF' || (1 + g % 4)),
       (select id from public.doctors where license_number = 'L' || (1 + g % 3)),
       (select id from public.patients where chart_number = 'C' || (1 + g % 5)),
       (select id from public.casetypes), (select id from public.orderstatuses where code = 'new'), 'USD',
       12.5 * g, 'ST' || (g % 3), case when g % 2 = 0 then 'Y' else 'N' end, case when g % 2 = 0 then 'web' else 'fax' end
from generate_series(1, 6) g;
update public.orders set legacy_reorder_of = (select id from public.orders where order_number = 'O1')
where order_number in ('O4', 'O5');
insert into public.invoices (office_id, invoice_number, currency_code, issued_on, status, legacy_pdf_path, legacy_sync_status)
select (select id from public.offices where code = 'OF' || (1 + g % 4)), 'INV' || g, 'USD', date '2024-01-01' + g, 'sent',
       '/pdf/inv' || g || '.pdf', case when g % 2 = 0 then 'synced' else 'pending' end
from generate_series(1, 4) g;
insert into public.shipments (order_id, carrier_id, direction, tracking_number, shipped_at, legacy_carrier_code)
select (select id from public.orders where order_number = 'O' || g), (select id from public.shippingcarriers), 'outbound',
       '1Z' || g, now() - g * interval '5 days', 'UPS-' || g
from generate_series(1, 4) g;
insert into public.payments (office_id, method_id, currency_code, amount_cents, received_at, legacy_amount)
select (select id from public.offices where code = 'OF' || (1 + g % 4)), (select id from public.paymentmethods), 'USD',
       1000 * g, now(), 10.00 * g
from generate_series(1, 3) g;
insert into public.comments (entity_type, entity_id, body, legacy_content_type_id, legacy_object_id)
select 'orders', (select id from public.orders where order_number = 'O' || g), 'note ' || g, 12, 100 + g
from generate_series(1, 4) g;
refresh materialized view public.office_order_stats_mv;
SQL
}

rows_demo() {
	cat <<'SQL'
\set ON_ERROR_STOP on
insert into public.offices (name, account_code, legacy_region, legacy_crm_ref)
select 'Office ' || g, 'AC' || g, case when g % 2 = 0 then 'north' else 'south' end, 'crm-' || g
from generate_series(1, 4) g;
-- legacy_one_line is filled by the addresses_fill_one_line trigger
insert into public.addresses (office_id, kind, line1, city, postcode, country_code)
select (select id from public.offices where account_code = 'AC' || g), 'shipping', g || ' Main St', 'Springfield', '0000' || g, 'US'
from generate_series(1, 4) g;
-- profiles come from auth.users through handle_new_user()
insert into auth.users (email, raw_app_meta_data)
select 'u' || g || '@example.com', jsonb_build_object('legacy_user_id', g) from generate_series(1, 4) g;
update public.profiles set legacy_login_count = legacy_user_id * 3 where legacy_user_id <> 4;
insert into public.orderstatuses (code, label, sort_order) values ('new', 'New', 1), ('done', 'Done', 2);
insert into public.productcategories (name, slug) values ('Lenses', 'lenses');
insert into public.products (category_id, sku, name, unit_price, legacy_price_rev)
select (select id from public.productcategories), 'SKU' || g, 'Lens ' || g, 20 * g, g from generate_series(1, 3) g;
insert into public.patients (office_id, first_name, last_name, legacy_recall_code)
select (select id from public.offices where account_code = 'AC' || (1 + g % 4)), 'Pat' || g, 'Doe',
       case when g % 2 = 0 then 'OVERDUE-' || g else 'RECALL-' || g end
from generate_series(1, 5) g;
update public.patients set legacy_duplicate_of = (select id from public.patients where first_name = 'Pat1')
where first_name in ('Pat3', 'Pat4');
insert into public.orders (office_id, patient_id, status_id, total, legacy_import_batch, legacy_priority)
select (select id from public.offices where account_code = 'AC' || (1 + g % 4)),
       (select id from public.patients where first_name = 'Pat' || (1 + g % 5)),
       (select id from public.orderstatuses where code = 'new'), 15 * g, 'batch-' || (g % 2), g % 10
from generate_series(1, 6) g;
insert into public.orderevents (order_id, status_id, created_at, legacy_source_ip)
select o.id, o.status_id, now(), '10.0.0.' || row_number() over (order by o.total) from public.orders o;
insert into public.invoices (office_id, number, issued_on, total_cents, legacy_ledger_code, legacy_export_ref)
select (select id from public.offices where account_code = 'AC' || (1 + g % 4)), 'INV' || g, date '2024-01-01' + g,
       1000 * g, 'L' || (g % 2), 'EXP-' || g
from generate_series(1, 4) g;
insert into public.comments (entity_type, entity_id, body, legacy_thread_id)
select 'orders', (select id from public.orders order by total limit 1 offset g - 1), 'note ' || g, 100 + g
from generate_series(1, 4) g;
refresh materialized view public.ledger_totals_mv;
SQL
}

# ---------------------------------------------------------------------
# Fixture tests (demo; shared dispatch fixture where FERRY_SHARED is set)
# ---------------------------------------------------------------------

check_analyse() {
	local name=$1 dir=$2 db=$3 t c tag names n sec kind
	run cleanup analyse --target "$db" --columns "$dir/cleanup-columns.txt" --protected "$dir/protected-columns.txt"
	assert_exit 0
	# every kind of dependent, found from the catalogs
	for kind in "BLOCKS  view " "(through view " "BLOCKS  materialized view " "BLOCKS  policy " \
		"BLOCKS  trigger " "(column list: UPDATE OF " "(SQL-standard body)" "BREAKS  function " \
		"not tracked by PostgreSQL" "DROPS   index " "DROPS   unique index " "DROPS   check constraint " \
		"DROPS   foreign key "; do
		assert_contains "$kind"
	done
	# and, under each column, what the columns file says depends on it
	while IFS=$'\t' read -r t c tag names; do
		sec=$(section "$output" "$t.$c")
		[ -n "$sec" ] || { echo "$name: no report for $t.$c" >&2; return 1; }
		case $tag in
		BLOCKED) [[ $sec == *"BLOCKS "* ]] ;;
		SILENT) [[ $sec == *"DROPS "* && $sec != *"BLOCKS "* ]] ;;
		BREAKS) [[ $sec == *"BREAKS "* && $sec != *"BLOCKS "* && $sec != *"DROPS "* ]] ;;
		CLEAN) [[ $sec == *"nothing depends on it"* ]] ;;
		esac || { echo "$name: $t.$c is not reported $tag: $sec" >&2; return 1; }
		for n in $names; do
			[[ $sec == *"$n"* ]] || { echo "$name: $t.$c: $n missing from: $sec" >&2; return 1; }
		done
	done < <(listed "$dir/cleanup-columns.txt")
}

@test "analyse finds every kind of dependent, from the catalogs (demo; dispatch with FERRY_SHARED)" {
	each_fixture check_analyse
}

check_protected() {
	local name=$1 dir=$2 db=$3 prot phase flags before
	prot=$(grep -v '^[[:space:]]*#' "$dir/protected-columns.txt" | grep -m1 .)
	{ echo "$prot"; grep -v '^#' "$dir/cleanup-columns.txt" | grep -m1 .; } >"$BATS_TEST_TMPDIR/with-protected.txt"
	before=$(full_snapshot "$db")
	for phase in analyse backup deprecate drop restore all; do
		for flags in "" "--cascade --force-breaking"; do
			# shellcheck disable=SC2086
			run cleanup "$phase" --target "$db" --columns "$BATS_TEST_TMPDIR/with-protected.txt" \
				--protected "$dir/protected-columns.txt" $flags
			assert_exit 2
			assert_one_line
			assert_contains "is protected"
			assert_contains "${prot%%[[:space:]]*}"
		done
	done
	[ "$before" = "$(full_snapshot "$db")" ]
}

@test "a protected column is refused with its reason, whatever the flags (demo; dispatch with FERRY_SHARED)" {
	each_fixture check_protected
}

# Every listed column through analyse, backup, deprecate and drop, one at
# a time: those with dependents are refused without --cascade, those that
# a function names without --force-breaking; then restore brings back the
# same values, columns and dependents.
check_cycle() {
	local name=$1 dir=$2 db=$3 cols=$2/cleanup-columns.txt prot=$2/protected-columns.txt
	local t c tag names f values catalog refused=0
	values=$(values_snapshot "$db" "$cols")
	catalog=$(catalog_snapshot "$db")
	run cleanup analyse --target "$db" --columns "$cols" --protected "$prot"
	assert_exit 0
	run cleanup backup --target "$db" --columns "$cols" --protected "$prot"
	assert_exit 0
	assert_contains "backup verified"
	run cleanup deprecate --revoke --target "$db" --columns "$cols" --protected "$prot"
	assert_exit 0
	while IFS=$'\t' read -r t c tag names; do
		f=$(one_column "$t.$c")
		if [ "$tag" = CLEAN ]; then
			run cleanup drop --target "$db" --columns "$f" --protected "$prot"
			assert_exit 0
			assert_contains "public.$t.$c: dropped"
			continue
		fi
		# a dependent shared with a column dropped before may be gone already
		run cleanup analyse --target "$db" --columns "$f"
		if [[ $output == *"nothing depends on it"* ]]; then
			run cleanup drop --target "$db" --columns "$f" --protected "$prot"
			assert_exit 0
			assert_contains "public.$t.$c: dropped"
			continue
		fi
		refused=$((refused + 1))
		run --separate-stderr cleanup drop --target "$db" --columns "$f" --protected "$prot"
		assert_exit 2
		assert_one_error
		output+=$stderr
		if [ "$tag" = BREAKS ]; then
			assert_contains "--force-breaking"
			run cleanup drop --cascade --target "$db" --columns "$f" --protected "$prot"
			assert_exit 2
			assert_contains "--force-breaking"
			run cleanup drop --cascade --force-breaking --target "$db" --columns "$f" --protected "$prot"
		else
			assert_contains "pass --cascade"
			run cleanup drop --cascade --target "$db" --columns "$f" --protected "$prot"
			assert_contains "with it:"
		fi
		assert_exit 0
		assert_contains "public.$t.$c: dropped"
		[ "$(q1 -d "$db" -c "select count(*) from pg_attribute where attrelid = 'public.$t'::regclass and attname = '$c' and not attisdropped")" = 0 ]
		# a second drop: already done
		run cleanup drop --cascade --force-breaking --target "$db" --columns "$f" --protected "$prot"
		assert_exit 0
		assert_contains "already dropped"
	done < <(listed "$cols")
	[ "$refused" -ge "$(listed "$cols" | grep -vc $'\tCLEAN\t')" ] || [ "$refused" -gt 5 ]

	run cleanup restore --target "$db" --columns "$cols" --protected "$prot"
	assert_exit 0
	assert_contains "restored and verified"
	[ "$values" = "$(values_snapshot "$db" "$cols")" ]
	diff <(echo "$catalog") <(catalog_snapshot "$db")
}

@test "every listed column goes through the four phases; restore brings back values, columns and dependents (demo; dispatch with FERRY_SHARED)" {
	each_fixture check_cycle
}

check_twice() {
	local name=$1 dir=$2 db=$3 phase first
	local args=(--target "$db" --columns "$dir/cleanup-columns.txt" --protected "$dir/protected-columns.txt")
	for phase in analyse backup "deprecate --revoke" "drop --cascade --force-breaking" restore; do
		# shellcheck disable=SC2086
		run cleanup $phase "${args[@]}"
		assert_exit 0
		first=$(full_snapshot "$db" nolog)
		# shellcheck disable=SC2086
		run cleanup $phase "${args[@]}"
		assert_exit 0
		[[ $phase == analyse ]] || [[ $output =~ (up to date|already|nothing to do) ]]
		diff <(echo "$first") <(echo "$(full_snapshot "$db" nolog)") || { echo "$name: second $phase changed the database" >&2; return 1; }
	done
	# every phase of every column is in the log, the second runs as "skipped"
	[ "$(q1 -d "$db" -c "select count(distinct phase) from ferry.schema_changes where status = 'skipped'")" = 4 ]
}

@test "every phase run twice changes nothing the second time (demo; dispatch with FERRY_SHARED)" {
	each_fixture check_twice
}

check_dry_run() {
	local name=$1 dir=$2 db=$3 before
	local args=(--target "$db" --columns "$dir/cleanup-columns.txt" --protected "$dir/protected-columns.txt")
	before=$(full_snapshot "$db")
	run cleanup backup --dry-run "${args[@]}"
	assert_exit 0
	assert_contains "CREATE TABLE ferry_backup."
	assert_contains "ALTER TABLE ferry_backup."
	run cleanup deprecate --revoke --dry-run "${args[@]}"
	assert_exit 0
	assert_contains "COMMENT ON COLUMN public."
	assert_contains "REVOKE SELECT ON public."
	run cleanup all --cascade --force-breaking --dry-run "${args[@]}"
	assert_exit 0
	assert_contains "DROP COLUMN"
	assert_contains " CASCADE;"
	run cleanup analyse --dry-run "${args[@]}"
	assert_exit 0
	# nothing changed, not even ferry's own schema was made
	[ "$before" = "$(full_snapshot "$db")" ]

	run cleanup backup "${args[@]}"
	run cleanup drop --cascade --force-breaking "${args[@]}"
	assert_exit 0
	before=$(full_snapshot "$db")
	run cleanup restore --dry-run "${args[@]}"
	assert_exit 0
	assert_contains "ADD COLUMN"
	assert_contains "UPDATE public."
	assert_contains "-- recreate "
	[ "$before" = "$(full_snapshot "$db")" ]
}

@test "--dry-run prints the SQL of each phase and changes nothing (demo; dispatch with FERRY_SHARED)" {
	each_fixture check_dry_run
}

# ---------------------------------------------------------------------
# A schema of our own: the dependents the fixtures do not have
# ---------------------------------------------------------------------

own_db() {
	new_db "$1"
	q -d "$1" >/dev/null 2>&1 <<'SQL'
do $$ begin
    if not exists (select 1 from pg_roles where rolname = 'ferry_test_reader') then
        create role ferry_test_reader nologin;
    end if;
end $$;
create table t (
    id      integer primary key,
    code    text collate "C" not null default 'none',
    amount  numeric(10, 2) default 0,
    doubled numeric generated always as (amount * 2) stored,
    note    text,
    secret  text
);
comment on column t.code is 'the code of a row';
alter table t add constraint t_code_key unique (code);
create table child (id integer primary key, t_code text references t (code));
create statistics t_stats on amount, note from t;
create publication t_pub for table t (id, note);
grant select on t to ferry_test_reader;
grant update (secret) on t to ferry_test_reader;
create view note_v as select id, note from t;
create view note_v2 as select id, note from note_v where note <> '';
create function note_total() returns bigint language sql stable
begin atomic select sum(length(note)) from t; end;
alter table t enable row level security;
create policy t_note_read on t for select to ferry_test_reader using (note is not null);
create function t_touch() returns trigger language plpgsql as $f$
begin
    new.secret := upper(new.secret);
    return new;
end $f$;
create trigger t_touch before insert or update on t for each row execute function t_touch();
insert into t (id, code, amount, note, secret)
select g, 'c' || g, g * 1.5, case when g % 3 = 0 then null else 'note ' || g end, 's' || g
from generate_series(1, 20) g;
insert into child values (1, 'c1'), (2, 'c2');
create table nokey (a integer, b text);
SQL
	printf 't.code\nt.amount\nt.note\nt.secret\n' >"$BATS_TEST_TMPDIR/own.txt"
}

@test "analyse finds generated columns, publications, statistics, column privileges and FKs through a unique constraint" {
	own_db cl_own
	run cleanup analyse --target cl_own --columns "$BATS_TEST_TMPDIR/own.txt"
	assert_exit 0
	assert_contains "BLOCKS  foreign key child_t_code_fkey on public.child"
	assert_contains "DROPS   unique constraint t_code_key on public.t"
	assert_contains "BLOCKS  generated column public.t.doubled"
	assert_contains "DROPS   statistics public.t_stats"
	assert_contains "BLOCKS  publication"
	assert_contains "BLOCKS  view public.note_v2 (through view public.note_v)"
	assert_contains "BLOCKS  policy t_note_read on public.t"
	assert_contains "BLOCKS  function public.note_total() (SQL-standard body)"
	assert_contains "NOTE    column privileges (UPDATE to ferry_test_reader)"
	assert_contains "BREAKS  function public.t_touch() mentions the column (not tracked by PostgreSQL) and is run by trigger t_touch on public.t"
}

@test "restore rebuilds type, collation, default, NOT NULL, comment, privileges, generated columns and dependents" {
	own_db cl_own
	local values catalog
	values=$(q1 -d cl_own -c "select md5(string_agg(format('%s|%s|%s|%s|%s|%s', id, code, amount, doubled, note, secret), ',' order by id)) from t")
	catalog=$(catalog_snapshot cl_own)
	run cleanup all --cascade --force-breaking --target cl_own --columns "$BATS_TEST_TMPDIR/own.txt"
	assert_exit 0
	[ "$(q1 -d cl_own -c "select count(*) from pg_attribute where attrelid = 't'::regclass and attnum > 0 and not attisdropped")" = 1 ]
	run cleanup restore --target cl_own --columns "$BATS_TEST_TMPDIR/own.txt"
	assert_exit 0
	[ "$values" = "$(q1 -d cl_own -c "select md5(string_agg(format('%s|%s|%s|%s|%s|%s', id, code, amount, doubled, note, secret), ',' order by id)) from t")" ]
	diff <(echo "$catalog") <(catalog_snapshot cl_own)
	# the function that --force-breaking left alone works again
	q -d cl_own -c "insert into t (id, code, note, secret) values (99, 'c99', 'n', 'lower')"
	[ "$(q1 -d cl_own -c "select secret from t where id = 99")" = LOWER ]
}

# every row of every table of the application's schemas (public, auth), as
# JSON objects: the same whatever the columns' positions (a restored column
# comes back at the end of its table)
rows_snapshot() {
	local rel
	for rel in $(q1 -d "$1" -c "select c.oid::regclass from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where n.nspname in ('public', 'auth') and c.relkind in ('r', 'p') order by 1"); do
		q1 -d "$1" -c "select '$rel', count(*), md5(coalesce(string_agg(to_jsonb(x)::text, E'\n' order by to_jsonb(x)::text collate \"C\"), ''))
			from $rel as x"
	done
}

# the user triggers of a database and their states (O, A, R, D)
trigger_states() {
	q1 -d "$1" -c "select tgrelid::regclass || ' ' || tgname || ' ' || tgenabled::text from pg_trigger where not tgisinternal order by 1"
}

@test "restore puts back the backed-up values of a column that triggers write, touches no other column, leaves each trigger as it was" {
	new_db cl_trg
	q -d cl_trg >/dev/null <<'SQL'
create table d (id integer primary key, first_name text not null, display text, updated_at timestamptz);
create table d_log (d_id integer, at timestamptz default now());
-- what the application does on every write: fill display, touch updated_at, log the change
create function d_fill() returns trigger language plpgsql as $f$
begin new.display := new.first_name || ' (filled)'; return new; end $f$;
create function d_touch() returns trigger language plpgsql as $f$
begin new.updated_at := now(); return new; end $f$;
create function d_logged() returns trigger language plpgsql as $f$
begin insert into d_log (d_id) values (new.id); return new; end $f$;
create trigger d_fill before insert or update on d for each row execute function d_fill();
create trigger d_touch before update on d for each row execute function d_touch();
create trigger d_logged after update on d for each row execute function d_logged();
-- triggers in the other states, which must stay so: one that fires under
-- session_replication_role = replica too, one only there, one disabled
create trigger d_always before update on d for each row execute function d_fill();
alter table d enable always trigger d_always;
create trigger d_replica before update on d for each row execute function d_touch();
alter table d enable replica trigger d_replica;
create trigger d_off before update on d for each row execute function d_fill();
alter table d disable trigger d_off;
-- rows as ferry-load writes them, with the triggers off: values the trigger would not write
set session_replication_role = replica;
insert into d select g, 'n' || g, case when g % 4 = 0 then null else 'legacy ' || g end, '2020-01-01'
from generate_series(1, 20) g;
SQL
	[ "$(q1 -d cl_trg -c "select count(*) from d where display like '%(filled)'")" = 0 ]
	echo d.display >"$BATS_TEST_TMPDIR/d.txt"
	local rows triggers
	rows=$(rows_snapshot cl_trg)
	triggers=$(trigger_states cl_trg)
	# d_fill() names the column: --force-breaking
	run cleanup all --cascade --force-breaking --target cl_trg --columns "$BATS_TEST_TMPDIR/d.txt"
	assert_exit 0
	assert_contains "public.d.display: dropped"
	run cleanup restore --target cl_trg --columns "$BATS_TEST_TMPDIR/d.txt"
	assert_exit 0
	assert_contains "public.d.display: restored and verified"
	# the values of the backup, updated_at untouched, nothing logged
	diff <(echo "$rows") <(rows_snapshot cl_trg)
	[ "$(q1 -d cl_trg -c "select count(*) from d_log")" = 0 ]
	# every trigger in its state, and working again
	diff <(echo "$triggers") <(trigger_states cl_trg)
	q -d cl_trg -c "update d set first_name = 'x' where id = 1"
	[ "$(q1 -d cl_trg -c "select display from d where id = 1")" = "x (filled)" ]
	[ "$(q1 -d cl_trg -c "select count(*) from d_log")" = 1 ]
	# --dry-run shows the triggers turned off and back on around the UPDATE
	run cleanup backup --target cl_trg --columns "$BATS_TEST_TMPDIR/d.txt"
	assert_exit 0
	run cleanup drop --cascade --force-breaking --target cl_trg --columns "$BATS_TEST_TMPDIR/d.txt"
	assert_exit 0
	run cleanup restore --dry-run --target cl_trg --columns "$BATS_TEST_TMPDIR/d.txt"
	assert_exit 0
	assert_contains "ALTER TABLE public.d DISABLE TRIGGER d_always;"
	assert_contains "ALTER TABLE public.d ENABLE ALWAYS TRIGGER d_always;"
	assert_contains "ALTER TABLE public.d ENABLE REPLICA TRIGGER d_replica;"
	assert_contains "ALTER TABLE public.d ENABLE TRIGGER d_fill;"
	[[ $output != *"TRIGGER d_off"* ]]
}

@test "dispatch fixture migrated by ferry run: drop then restore of every listed column brings back identical rows (FERRY_SHARED)" {
	shared_fixture || skip "the shared dispatch fixture is not here (FERRY_SHARED unset)"
	local dir=$FERRY_SHARED/fixtures/dispatch
	local cols=$dir/cleanup-columns.txt prot=$dir/protected-columns.txt
	new_db cl_msrc
	q -d cl_msrc -v scale=1 -f "$dir/legacy-schema.sql" -f "$dir/legacy-data.sql" >/dev/null
	new_db cl_mdst
	q -d cl_mdst -f "$dir/destination-schema.sql" >/dev/null
	ferry init --target dbname=cl_mdst >/dev/null
	run ferry run -q --source dbname=cl_msrc --target dbname=cl_mdst --plan "$FERRY_REPO/examples/dispatch.plan" \
		--workdir "$BATS_TEST_TMPDIR/run"
	assert_exit 0
	# the migrated rows: legacy_display_name was not filled by the trigger (the load turns triggers off)
	[ "$(q1 -d cl_mdst -c "select count(*) from doctors")" -gt 0 ]
	local rows values catalog
	rows=$(rows_snapshot cl_mdst)
	values=$(values_snapshot cl_mdst "$cols")
	catalog=$(catalog_snapshot cl_mdst)
	run cleanup all --cascade --force-breaking --target cl_mdst --columns "$cols" --protected "$prot"
	assert_exit 0
	[ "$(grep -c ': dropped$' <<<"$output")" = "$(listed "$cols" | wc -l)" ]
	run cleanup restore --target cl_mdst --columns "$cols" --protected "$prot"
	assert_exit 0
	assert_contains "public.doctors.legacy_display_name: restored and verified"
	[ "$(grep -c ': restored and verified' <<<"$output")" = "$(listed "$cols" | wc -l)" ]
	diff <(echo "$values") <(values_snapshot cl_mdst "$cols")
	diff <(echo "$rows") <(rows_snapshot cl_mdst)
	diff <(echo "$catalog") <(catalog_snapshot cl_mdst)
}

@test "a column named by a plpgsql function is refused until the function is fixed" {
	own_db cl_own
	local f
	f=$(one_column t.secret)
	run cleanup backup --target cl_own --columns "$f"
	assert_exit 0
	run cleanup drop --cascade --target cl_own --columns "$f"
	assert_exit 2
	assert_contains "public.t_touch() mention it and would fail after the drop"
	q -d cl_own -c "create or replace function t_touch() returns trigger language plpgsql as \$f\$ begin return new; end \$f\$"
	run cleanup drop --target cl_own --columns "$f"
	assert_exit 0
	assert_contains "public.t.secret: dropped"
	q -d cl_own -c "update t set note = 'still works' where id = 1"
}

@test "drop refuses a column whose backup no longer matches (exit 7), until backed up again" {
	own_db cl_own
	local f
	f=$(one_column t.note)
	run cleanup backup --target cl_own --columns "$f"
	assert_exit 0
	q -d cl_own -c "update t set note = 'changed' where id = 1"
	run cleanup drop --cascade --target cl_own --columns "$f"
	assert_exit 7
	assert_contains "the backup no longer matches"
	[ "$(q1 -d cl_own -c "select count(*) from pg_attribute where attrelid = 't'::regclass and attname = 'note'")" = 1 ]
	[ "$(q1 -d cl_own -c "select status from ferry.schema_changes where phase = 'drop' order by id desc limit 1")" = failed ]
	run cleanup backup --target cl_own --columns "$f"
	assert_contains "backing up 20 rows"
	run cleanup drop --cascade --target cl_own --columns "$f"
	assert_exit 0
	run cleanup restore --target cl_own --columns "$f"
	assert_exit 0
	[ "$(q1 -d cl_own -c "select note from t where id = 1")" = changed ]
}

@test "drop refuses a column without a verified backup" {
	own_db cl_own
	run cleanup drop --cascade --target cl_own --columns "$(one_column t.note)"
	assert_exit 2
	assert_contains "no verified backup"
}

@test "deprecate marks the column, --revoke makes readers fail loudly, restore gives access back" {
	own_db cl_own
	local f acl
	f=$(one_column t.secret)
	acl=$(q1 -d cl_own -c "select relacl::text || attacl::text from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'secret' where c.relname = 't'")
	run cleanup deprecate --revoke --target cl_own --columns "$f"
	assert_exit 0
	[[ $(q1 -d cl_own -c "select col_description('t'::regclass, 6)") == "ferry: deprecated on "* ]]
	run q1 -d cl_own -c "set role ferry_test_reader; select secret from t limit 1"
	[ "$status" -ne 0 ]
	[[ $output == *"permission denied"* ]]
	q1 -d cl_own -c "set role ferry_test_reader; select id, note from t limit 1"
	run cleanup restore --target cl_own --columns "$f"
	assert_exit 2
	assert_contains "no backup made by ferry cleanup"
	run cleanup backup --target cl_own --columns "$f"
	run cleanup restore --target cl_own --columns "$f"
	assert_exit 0
	assert_contains "deprecation undone"
	[ "$(q1 -d cl_own -c "select col_description('t'::regclass, 6) is null")" = t ]
	[ "$acl" = "$(q1 -d cl_own -c "select relacl::text || attacl::text from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'secret' where c.relname = 't'")" ]
	q1 -d cl_own -c "set role ferry_test_reader; select secret from t limit 1"
}

@test "every phase is recorded per column in ferry.schema_changes, with its SQL" {
	own_db cl_own
	run cleanup all --cascade --force-breaking --target cl_own --columns "$BATS_TEST_TMPDIR/own.txt"
	assert_exit 0
	run cleanup restore --target cl_own --columns "$BATS_TEST_TMPDIR/own.txt"
	assert_exit 0
	run q1 -d cl_own -c "select phase || ' ' || count(*) from ferry.schema_changes where status = 'done' group by phase order by phase"
	[ "$output" = "$(printf 'analyse 4\nbackup 4\ndeprecate 4\ndrop 4\nrestore 4')" ]
	[ "$(q1 -d cl_own -c "select count(*) from ferry.schema_changes where phase = 'drop' and sql like '%DROP COLUMN%'")" = 4 ]
	[ "$(q1 -d cl_own -c "select detail -> 'dropped_with' ->> 0 from ferry.schema_changes where phase = 'drop' and column_name = 'note'")" != "" ]
}

@test "backup refuses a table without a primary key" {
	own_db cl_own
	run --separate-stderr cleanup backup --target cl_own --columns "$(one_column nokey.b)"
	assert_exit 2
	assert_one_error
	output=$stderr
	assert_contains "has no primary key"
}

# ---------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------

@test "usage: --help, unknown option, missing phase or columns" {
	run cleanup --help
	assert_exit 0
	assert_contains "usage: ferry cleanup PHASE --columns FILE"
	run cleanup analyse --columns x --bogus
	assert_exit 2
	assert_one_line
	assert_contains "unknown option --bogus"
	run cleanup --columns x
	assert_exit 2
	assert_contains "no phase given"
	run cleanup vacuum --columns x
	assert_exit 2
	assert_contains "unknown phase vacuum"
	run cleanup analyse
	assert_exit 2
	assert_contains "--columns FILE is required"
}

@test "a missing columns file is a local file error (exit 8)" {
	run cleanup analyse --columns "$BATS_TEST_TMPDIR/nope.txt"
	assert_exit 8
	assert_one_line
	assert_contains "ferry-cleanup: error: cannot read columns file $BATS_TEST_TMPDIR/nope.txt"
}

@test "a malformed line is a usage error naming file and line (exit 2)" {
	printf '# ok\nt.note\njust_a_table   # oops\n' >"$BATS_TEST_TMPDIR/bad.txt"
	run cleanup analyse --columns "$BATS_TEST_TMPDIR/bad.txt"
	assert_exit 2
	assert_one_line
	assert_contains "$BATS_TEST_TMPDIR/bad.txt:3: malformed line"
}

@test "an unknown table or column is refused (exit 2)" {
	own_db cl_own
	run cleanup analyse --target cl_own --columns "$(one_column nosuch.col)"
	assert_exit 2
	assert_one_line
	assert_contains "public.nosuch.col: no such table public.nosuch"
	run cleanup backup --target cl_own --columns "$(one_column t.nosuch)"
	assert_exit 2
	assert_one_line
	assert_contains "public.t.nosuch: no such column in table public.t"
}

@test "a bad conninfo is a target error that does not print it (exit 4)" {
	printf 't.note\n' >"$BATS_TEST_TMPDIR/c.txt"
	run cleanup analyse --target "host=$BATS_TEST_TMPDIR/nohost port=1 user=u password=Sekrit99" --columns "$BATS_TEST_TMPDIR/c.txt"
	assert_exit 4
	assert_one_line
	assert_contains "cannot connect to the target database"
	[[ $output != *Sekrit99* ]]
	FERRY_TARGET="postgresql://u:Sekrit99@/nodb?host=$BATS_TEST_TMPDIR/nohost" run cleanup analyse --columns "$BATS_TEST_TMPDIR/c.txt"
	assert_exit 4
	[[ $output != *Sekrit99* ]]
}
