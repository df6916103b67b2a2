-- =====================================================================
-- ferry demo: check the destination constraints by hand
--
--   psql -X -q -d demo_dest -f check-destination.sql
--
-- On a freshly loaded destination-schema.sql: inserts one clean row per
-- table (must succeed), then one statement per kind of legacy dirt
-- (README.md, "What the destination rejects") that must fail with the
-- given SQLSTATE, then checks the behaviour of dropping cleanup columns.
-- Prints "case<TAB>expected<TAB>got" and fails if any case differs.
-- Everything runs in one transaction that is rolled back.
-- =====================================================================

\set ON_ERROR_STOP on
set client_min_messages = warning;

begin;

create temp table result (n serial, label text, expected text, got text);

-- run sql; record the SQLSTATE it fails with ('ok' if it succeeds)
create function pg_temp.try(label text, expected text, sql text) returns void
language plpgsql
as $$
declare
    st text := 'ok';
begin
    begin
        execute sql;
    exception when others then
        st := sqlstate;
    end;
    insert into result (label, expected, got) values (label, expected, st);
end $$;

\o /dev/null

-- ---------------------------------------------------------------------
-- Clean rows (fixed uuids so that later statements can point at them)
-- ---------------------------------------------------------------------
select pg_temp.try('clean: auth.users insert creates the profile', 'ok', $q$
    insert into auth.users (id, email, encrypted_password, created_at, updated_at,
                            raw_app_meta_data, raw_user_meta_data)
    values ('00000000-0000-4000-8000-000000000001', 'patient71@mailbox.example',
            'pbkdf2_sha256$150000$abc$def', '2017-12-19 13:17:33+00', '2017-12-19 13:17:33+00',
            '{"legacy_user_id": 71, "legacy_patient_id": 3}',
            '{"username": "pt.71", "first_name": "Connor", "last_name": "Castillo"}')
$q$);
select pg_temp.try('clean: office (billing address NULL first)', 'ok', $q$
    insert into offices (id, legacy_office_id, name, account_code, is_active, created_at, updated_at)
    values ('00000000-0000-4000-8000-000000000010', 1, 'Lakeshore Optometry', 'LX000001', true,
            '2019-11-24 09:00:00+00', '2020-08-30 09:00:00+00')
$q$);
select pg_temp.try('clean: address (trigger fills legacy_one_line)', 'ok', $q$
    insert into addresses (id, legacy_address_id, office_id, kind, line1, line2, city, region, postcode, country_code)
    values ('00000000-0000-4000-8000-000000000011', 2, '00000000-0000-4000-8000-000000000010', 'billing',
            '1233 Market Sq', 'Attn: Accounts Payable', 'Dayton', 'OH', '81896', 'US')
$q$);
select pg_temp.try('clean: office billing address fix-up', 'ok', $q$
    update offices set billing_address_id = '00000000-0000-4000-8000-000000000011'
    where id = '00000000-0000-4000-8000-000000000010'
$q$);
select pg_temp.try('clean: profile merge (userprofile fields)', 'ok', $q$
    update profiles set legacy_userprofile_id = 65, timezone = 'America/Chicago', phone = '+1-555-0001',
                        preferences = '{"theme":"system","signature":"Caf\u00e9 71"}'
    where id = '00000000-0000-4000-8000-000000000001'
$q$);
select pg_temp.try('clean: office contact', 'ok', $q$
    insert into office_contacts (legacy_office_contacts_id, office_id, profile_id)
    values (1, '00000000-0000-4000-8000-000000000010', '00000000-0000-4000-8000-000000000001')
$q$);
select pg_temp.try('clean: order status (text legacy key)', 'ok', $q$
    insert into orderstatuses (id, legacy_orderstatus_id, code, label, sort_order, is_final)
    values ('00000000-0000-4000-8000-000000000020', 'delivered', 'delivered', 'Delivered', 70, true)
$q$);
select pg_temp.try('clean: product category tree (child before parent id)', 'ok', $q$
    insert into productcategories (id, legacy_productcategory_id, parent_id, name, slug) values
        ('00000000-0000-4000-8000-000000000030', 10, null, 'Frames', 'frames'),
        ('00000000-0000-4000-8000-000000000031', 17, '00000000-0000-4000-8000-000000000030', 'Specialty frames', 'frames-specialty'),
        ('00000000-0000-4000-8000-000000000032', 2, '00000000-0000-4000-8000-000000000031', 'Sports wraps', 'sports-wraps')
$q$);
select pg_temp.try('clean: product', 'ok', $q$
    insert into products (id, legacy_product_id, category_id, sku, name, unit_price, is_active)
    values ('00000000-0000-4000-8000-000000000040', 24, '00000000-0000-4000-8000-000000000032',
            'LX-1024', 'Sports wraps “Dune”', 61.25, true)
$q$);
select pg_temp.try('clean: patient with a login', 'ok', $q$
    insert into patients (id, legacy_patient_id, office_id, profile_id, first_name, last_name,
                          date_of_birth, notes, created_at, updated_at)
    values ('00000000-0000-4000-8000-000000000050', 3, '00000000-0000-4000-8000-000000000010',
            '00000000-0000-4000-8000-000000000001', 'Liam', 'Fitzgerald', '1960-01-31',
            'Prefers text reminders 📱', '2019-04-05 14:04:48+00', '2020-05-17 14:04:48+00')
$q$);
select pg_temp.try('clean: order', 'ok', $q$
    insert into orders (id, legacy_order_id, office_id, patient_id, status_id, placed_by, is_rush,
                        metadata, total, created_at, shipped_at, updated_at)
    values ('00000000-0000-4000-8000-000000000060', 1, '00000000-0000-4000-8000-000000000010',
            '00000000-0000-4000-8000-000000000050', '00000000-0000-4000-8000-000000000020',
            '00000000-0000-4000-8000-000000000001', false,
            '{"channel":"fax","tray":"T001","pd":{"right":30.5,"left":30.0}}', 199.99,
            '2021-01-05 04:43:41+00', '2021-01-09 05:43:41+00', '2021-01-11 04:43:41+00')
$q$);
select pg_temp.try('clean: order item (CSV -> text[])', 'ok', $q$
    insert into orderitems (legacy_orderitem_id, order_id, product_id, quantity, unit_price, coatings)
    values (1, '00000000-0000-4000-8000-000000000060', '00000000-0000-4000-8000-000000000040', 2, 91.78,
            array(select btrim(x) from unnest(string_to_array(' AR , BLUE', ',')) x))
$q$);
select pg_temp.try('clean: order event (bigint legacy key > 2^31)', 'ok', $q$
    insert into orderevents (legacy_orderevent_id, order_id, status_id, actor_id, note, created_at)
    values (3000000001, '00000000-0000-4000-8000-000000000060', '00000000-0000-4000-8000-000000000020',
            null, '', '2021-01-05 06:43:41+00')
$q$);
select pg_temp.try('clean: invoice (money -> cents)', 'ok', $q$
    insert into invoices (id, legacy_invoice_id, office_id, number, issued_on, due_on, total_cents,
                          is_paid, created_at, updated_at)
    values ('00000000-0000-4000-8000-000000000070', 1, '00000000-0000-4000-8000-000000000010',
            'INV-0000001', '2021-04-04', '2021-05-04', (666.82 * 100)::bigint, true,
            '2021-04-04 06:00:00+00', '2021-04-25 00:00:00+00')
$q$);
select pg_temp.try('clean: invoice line (composite legacy key)', 'ok', $q$
    insert into invoicelines (legacy_invoice_id, legacy_line_no, invoice_id, order_id, description, amount)
    values (1, 1, '00000000-0000-4000-8000-000000000070', '00000000-0000-4000-8000-000000000060',
            'Job #1 delivered', 199.99)
$q$);
select pg_temp.try('clean: invoice line whose order was purged (order_id NULL)', 'ok', $q$
    insert into invoicelines (legacy_invoice_id, legacy_line_no, invoice_id, order_id, description, amount)
    values (1, 2, '00000000-0000-4000-8000-000000000070', null, 'Job #250 purged', 120.00)
$q$);
select pg_temp.try('clean: comment thread (root and reply with depth)', 'ok', $q$
    insert into comments (id, legacy_comment_id, parent_id, depth, entity_type, entity_id,
                          author_id, body, is_internal, created_at, updated_at) values
        ('00000000-0000-4000-8000-000000000080', 351, null, 0, 'orders',
         '00000000-0000-4000-8000-000000000060', '00000000-0000-4000-8000-000000000001',
         'Please use the lab''s courier.', false, '2021-03-10 09:27:13+00', '2021-03-10 10:27:13+00'),
        ('00000000-0000-4000-8000-000000000081', 352, '00000000-0000-4000-8000-000000000080', 1, 'orders',
         '00000000-0000-4000-8000-000000000060', null,
         'Frames look great 😍', true, '2021-03-10 10:12:24+00', '2021-03-10 12:12:24+00')
$q$);

select pg_temp.try('clean: handle_new_user copied the legacy ids and names', 'ok', $q$
    do $d$ begin
        if not exists (select from profiles where id = '00000000-0000-4000-8000-000000000001'
                       and legacy_user_id = 71 and legacy_patient_id = 3 and username = 'pt.71'
                       and last_name = 'Castillo') then
            raise exception 'profile not as expected';
        end if;
        if (select legacy_one_line from addresses where legacy_address_id = 2)
           <> '1233 Market Sq, Attn: Accounts Payable, Dayton, OH, 81896, US' then
            raise exception 'legacy_one_line not filled';
        end if;
    end $d$
$q$);

-- ---------------------------------------------------------------------
-- Legacy dirt, loaded as-is, must be rejected
-- ---------------------------------------------------------------------
select pg_temp.try('dirty: blank e-mail (profiles_email_check in handle_new_user)', '23514', $q$
    insert into auth.users (email, raw_app_meta_data) values ('', '{"legacy_user_id": 12}')
$q$);
select pg_temp.try('dirty: case-only duplicate e-mail (unique lower(email))', '23505', $q$
    insert into auth.users (email) values ('Patient71@Mailbox.Example')
$q$);
select pg_temp.try('dirty: profile inserted by hand after the trigger made it (pkey)', '23505', $q$
    insert into profiles (id, email, username) values ('00000000-0000-4000-8000-000000000001', 'x@y.example', 'x')
$q$);
select pg_temp.try('dirty: second patient on one login (patients.profile_id unique)', '23505', $q$
    insert into patients (legacy_patient_id, office_id, profile_id, first_name, last_name)
    values (4, '00000000-0000-4000-8000-000000000010', '00000000-0000-4000-8000-000000000001', 'A', 'B')
$q$);
select pg_temp.try('dirty: patients.last_name NULL', '23502', $q$
    insert into patients (legacy_patient_id, office_id, first_name, last_name)
    values (62, '00000000-0000-4000-8000-000000000010', 'Noah', null)
$q$);
select pg_temp.try('dirty: patients.date_of_birth 0001-01-01', '23514', $q$
    insert into patients (legacy_patient_id, office_id, first_name, last_name, date_of_birth)
    values (64, '00000000-0000-4000-8000-000000000010', 'Priya', 'Bianchi', '0001-01-01')
$q$);
select pg_temp.try('dirty: patients.updated_at NULL', '23502', $q$
    insert into patients (legacy_patient_id, office_id, first_name, last_name, updated_at)
    values (45, '00000000-0000-4000-8000-000000000010', 'A', 'B', null)
$q$);
select pg_temp.try('dirty: orders.office_id NULL', '23502', $q$
    insert into orders (legacy_order_id, office_id, patient_id, status_id)
    values (77, null, '00000000-0000-4000-8000-000000000050', '00000000-0000-4000-8000-000000000020')
$q$);
select pg_temp.try('dirty: orders.patient_id NULL (orphan legacy patient)', '23502', $q$
    insert into orders (legacy_order_id, office_id, patient_id, status_id)
    values (13, '00000000-0000-4000-8000-000000000010', null, '00000000-0000-4000-8000-000000000020')
$q$);
select pg_temp.try('dirty: orders.patient_id unknown uuid', '23503', $q$
    insert into orders (legacy_order_id, office_id, patient_id, status_id)
    values (13, '00000000-0000-4000-8000-000000000010', '00000000-0000-4000-8000-0000000000ff',
            '00000000-0000-4000-8000-000000000020')
$q$);
select pg_temp.try('dirty: orders.shipped_at infinity', '23514', $q$
    insert into orders (legacy_order_id, office_id, patient_id, status_id, shipped_at)
    values (444, '00000000-0000-4000-8000-000000000010', '00000000-0000-4000-8000-000000000050',
            '00000000-0000-4000-8000-000000000020', 'infinity')
$q$);
select pg_temp.try('dirty: orders.updated_at NULL', '23502', $q$
    insert into orders (legacy_order_id, office_id, patient_id, status_id, updated_at)
    values (55, '00000000-0000-4000-8000-000000000010', '00000000-0000-4000-8000-000000000050',
            '00000000-0000-4000-8000-000000000020', null)
$q$);
select pg_temp.try('dirty: orders.metadata Python repr as jsonb', '22P02', $q$
    insert into orders (legacy_order_id, office_id, patient_id, status_id, metadata)
    values (99, '00000000-0000-4000-8000-000000000010', '00000000-0000-4000-8000-000000000050',
            '00000000-0000-4000-8000-000000000020', $j${'channel': 'fax', 'tray': None}$j$)
$q$);
select pg_temp.try('dirty: orders.metadata NaN as jsonb', '22P02', $q$
    select 'NaN'::jsonb
$q$);
select pg_temp.try('dirty: orders.metadata empty string as jsonb', '22P02', $q$
    select ''::jsonb
$q$);
select pg_temp.try('dirty: orders.is_rush NULL', '23502', $q$
    insert into orders (legacy_order_id, office_id, patient_id, status_id, is_rush)
    values (103, '00000000-0000-4000-8000-000000000010', '00000000-0000-4000-8000-000000000050',
            '00000000-0000-4000-8000-000000000020', null)
$q$);
select pg_temp.try('dirty: Y/N value blank cast to boolean', '22P02', $q$
    select ' '::boolean
$q$);
select pg_temp.try('note: Y/N value y casts to boolean (true)', 'ok', $q$
    select 'y'::boolean, '1'::boolean
$q$);
select pg_temp.try('dirty: orderevents.created_at year 0001', '23514', $q$
    insert into orderevents (legacy_orderevent_id, order_id, status_id, created_at)
    values (3000000321, '00000000-0000-4000-8000-000000000060', '00000000-0000-4000-8000-000000000020',
            '0001-01-01 00:00:00+00')
$q$);
select pg_temp.try('dirty: invoices.issued_on NULL', '23502', $q$
    insert into invoices (legacy_invoice_id, office_id, number, issued_on, total_cents)
    values (17, '00000000-0000-4000-8000-000000000010', 'INV-0000017', null, 115860)
$q$);
select pg_temp.try('dirty: invoice line key twice', '23505', $q$
    insert into invoicelines (legacy_invoice_id, legacy_line_no, invoice_id, description, amount)
    values (1, 1, '00000000-0000-4000-8000-000000000070', 'again', 1)
$q$);
select pg_temp.try('dirty: comments.body NULL', '23502', $q$
    insert into comments (legacy_comment_id, entity_type, entity_id, body)
    values (140, 'orders', '00000000-0000-4000-8000-000000000060', null)
$q$);
select pg_temp.try('dirty: comment root with depth 1', '23514', $q$
    insert into comments (legacy_comment_id, depth, entity_type, entity_id, body)
    values (1, 1, 'orders', '00000000-0000-4000-8000-000000000060', 'x')
$q$);
select pg_temp.try('dirty: comment reply with depth 0', '23514', $q$
    insert into comments (legacy_comment_id, parent_id, depth, entity_type, entity_id, body)
    values (2, '00000000-0000-4000-8000-000000000080', 0, 'orders', '00000000-0000-4000-8000-000000000060', 'x')
$q$);
select pg_temp.try('dirty: comment is its own parent', '23514', $q$
    insert into comments (id, legacy_comment_id, parent_id, depth, entity_type, entity_id, body)
    values ('00000000-0000-4000-8000-000000000099', 306, '00000000-0000-4000-8000-000000000099', 1,
            'invoices', '00000000-0000-4000-8000-000000000070', 'x')
$q$);
select pg_temp.try('dirty: comment parent missing', '23503', $q$
    insert into comments (legacy_comment_id, parent_id, depth, entity_type, entity_id, body)
    values (316, '00000000-0000-4000-8000-0000000000ee', 1, 'invoices', '00000000-0000-4000-8000-000000000070', 'x')
$q$);
select pg_temp.try('dirty: comment on a stale content type (faxmessages)', '23514', $q$
    insert into comments (legacy_comment_id, entity_type, entity_id, body)
    values (341, 'faxmessages', gen_random_uuid(), 'x')
$q$);
select pg_temp.try('dirty: comments.updated_at NULL', '23502', $q$
    insert into comments (legacy_comment_id, entity_type, entity_id, body, updated_at)
    values (75, 'orders', '00000000-0000-4000-8000-000000000060', 'x', null)
$q$);
select pg_temp.try('dirty: comment author unknown', '23503', $q$
    insert into comments (legacy_comment_id, entity_type, entity_id, body, author_id)
    values (199, 'orders', '00000000-0000-4000-8000-000000000060', 'x', '00000000-0000-4000-8000-0000000000dd')
$q$);
select pg_temp.try('dirty: offices.updated_at NULL', '23502', $q$
    insert into offices (legacy_office_id, name, account_code, updated_at) values (9, 'x', 'LX000009', null)
$q$);

-- ---------------------------------------------------------------------
-- Dropping cleanup columns (cleanup-columns.txt), plain DROP COLUMN
-- ---------------------------------------------------------------------
select pg_temp.try('cleanup BLOCKED: orders.legacy_import_batch (view)', '2BP01',
                   'alter table orders drop column legacy_import_batch');
select pg_temp.try('cleanup BLOCKED: patients.legacy_recall_code (view chain)', '2BP01',
                   'alter table patients drop column legacy_recall_code');
select pg_temp.try('cleanup BLOCKED: invoices.legacy_ledger_code (matview)', '2BP01',
                   'alter table invoices drop column legacy_ledger_code');
select pg_temp.try('cleanup BLOCKED: offices.legacy_region (RLS policy)', '2BP01',
                   'alter table offices drop column legacy_region');
select pg_temp.try('cleanup BLOCKED: products.legacy_price_rev (trigger column list)', '2BP01',
                   'alter table products drop column legacy_price_rev');
select pg_temp.try('cleanup BLOCKED: profiles.legacy_login_count (BEGIN ATOMIC body)', '2BP01',
                   'alter table profiles drop column legacy_login_count');
select pg_temp.try('protected BLOCKED: profiles.legacy_patient_id', '2BP01',
                   'alter table profiles drop column legacy_patient_id');
select pg_temp.try('cleanup SILENT: comments.legacy_thread_id (index)', 'ok', $q$
    do $d$ begin
        alter table comments drop column legacy_thread_id;
        if to_regclass('public.comments_legacy_thread_idx') is not null then raise exception 'index survived'; end if;
    end $d$
$q$);
select pg_temp.try('cleanup SILENT: invoices.legacy_export_ref (unique index)', 'ok', $q$
    do $d$ begin
        alter table invoices drop column legacy_export_ref;
        if to_regclass('public.invoices_legacy_export_ref_key') is not null then raise exception 'index survived'; end if;
    end $d$
$q$);
select pg_temp.try('cleanup SILENT: orders.legacy_priority (check constraint)', 'ok', $q$
    do $d$ begin
        alter table orders drop column legacy_priority;
        if exists (select from pg_constraint where conname = 'orders_legacy_priority_check') then raise exception 'check survived'; end if;
    end $d$
$q$);
select pg_temp.try('cleanup SILENT: patients.legacy_duplicate_of (self FK)', 'ok', $q$
    do $d$ begin
        alter table patients drop column legacy_duplicate_of;
        if exists (select from pg_constraint where conname = 'patients_legacy_duplicate_of_fkey') then raise exception 'FK survived'; end if;
    end $d$
$q$);
select pg_temp.try('cleanup CLEAN: offices.legacy_crm_ref', 'ok',
                   'alter table offices drop column legacy_crm_ref');
select pg_temp.try('cleanup CLEAN: orderevents.legacy_source_ip', 'ok',
                   'alter table orderevents drop column legacy_source_ip');
-- BREAKS: the drop succeeds (kept for the next case), the next insert fails
alter table addresses drop column legacy_one_line;
select pg_temp.try('cleanup BREAKS: insert into addresses after dropping legacy_one_line', '42703', $q$
    insert into addresses (legacy_address_id, office_id, kind, line1, city, postcode, country_code)
    values (1, '00000000-0000-4000-8000-000000000010', 'shipping', '2015 Main St', 'Dayton', '81896', 'US')
$q$);

-- ---------------------------------------------------------------------
-- Report
-- ---------------------------------------------------------------------
\o
\pset format unaligned
\pset fieldsep '\t'
\pset footer off
select label as "case", expected, got,
       case when expected = got then '' else 'MISMATCH' end as status
from result order by n;

do $$
declare
    bad integer;
begin
    select count(*) into bad from result where expected <> got;
    if bad > 0 then
        raise exception 'check-destination.sql: % case(s) did not behave as documented', bad;
    end if;
end $$;

rollback;
