-- =====================================================================
-- ferry demo: DESTINATION SCHEMA (Supabase-shaped)
--
--   createdb demo_dest
--   psql -X -q -d demo_dest -f destination-schema.sql
--
-- Where the Lumen Optical Lab data goes (README.md has the table map):
--   * public table = legacy model name without "dispatch_", pluralised;
--     the M2M join table keeps its name (office_contacts);
--     auth_user -> auth.users + public.profiles (dispatch_userprofile
--     merges into profiles); django_content_type is not migrated
--   * every table: id uuid primary key default gen_random_uuid()
--     (profiles.id is auth.users.id) and legacy_<model>_id unique, typed
--     like the legacy key (integer, bigint for orderevents, text for
--     orderstatuses); invoicelines keeps its composite legacy key as the
--     unique pair (legacy_invoice_id, legacy_line_no)
--   * foreign keys are uuid columns with real, NOT deferrable constraints
--   * Y/N -> boolean, JSON text -> jsonb, timestamp -> timestamptz (legacy
--     values are UTC), CSV -> text[], invoices.total -> total_cents bigint
--   * columns named legacy_* that are not legacy keys are destination-only
--     leftovers to drop after the migration (cleanup-columns.txt); each has
--     a different kind of dependent object
-- Load into an EMPTY database.  Requires PostgreSQL 14+ (BEGIN ATOMIC).
-- =====================================================================

\set ON_ERROR_STOP on
set client_min_messages = warning;

begin;

-- ---------------------------------------------------------------------
-- Roles and the auth schema, as Supabase sets them up (trimmed down)
-- ---------------------------------------------------------------------

do $$
begin
    if not exists (select from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
end $$;

create schema if not exists auth;

create table auth.users (
    id                  uuid primary key default gen_random_uuid(),
    email               text,
    encrypted_password  text,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    raw_app_meta_data   jsonb not null default '{}'::jsonb,
    raw_user_meta_data  jsonb not null default '{}'::jsonb,
    constraint users_email_key unique (email)
);
-- e-mail addresses are unique regardless of case
create unique index users_email_lower_idx on auth.users (lower(email));

-- the caller's user id (from the JWT in Supabase; a setting here)
create function auth.uid() returns uuid
language sql stable
as $$ select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;

-- BEFORE UPDATE: keep updated_at current
create function public.set_updated_at() returns trigger
language plpgsql
as $$
begin
    new.updated_at := now();
    return new;
end $$;

-- ---------------------------------------------------------------------
-- Offices and addresses (FK cycle: offices.billing_address_id is added
-- after addresses exists; it is nullable so the cycle can be broken)
-- ---------------------------------------------------------------------

create table public.offices (
    id                  uuid primary key default gen_random_uuid(),
    legacy_office_id    integer unique,
    name                text not null,
    account_code        text not null unique,
    phone               text not null default '',
    billing_address_id  uuid,                            -- FK below
    is_active           boolean not null default true,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    legacy_region       text,                            -- cleanup: RLS policy
    legacy_crm_ref      text                             -- cleanup: nothing depends on it
);

create table public.addresses (
    id                  uuid primary key default gen_random_uuid(),
    legacy_address_id   integer unique,
    office_id           uuid not null references public.offices (id),
    kind                text not null check (kind in ('shipping', 'billing')),
    line1               text not null,
    line2               text not null default '',
    city                text not null,
    region              text not null default '',
    postcode            text not null,
    country_code        char(2) not null,
    legacy_one_line     text                             -- cleanup: assigned by a trigger function
);

alter table public.offices
    add constraint offices_billing_address_id_fkey
    foreign key (billing_address_id) references public.addresses (id);

-- fills addresses.legacy_one_line; plpgsql, so no catalog dependency:
-- once the column is dropped every INSERT/UPDATE on addresses fails
create function public.addresses_fill_one_line() returns trigger
language plpgsql
as $$
begin
    new.legacy_one_line := concat_ws(', ', new.line1, nullif(new.line2, ''), new.city,
                                     nullif(new.region, ''), new.postcode, new.country_code);
    return new;
end $$;

create trigger addresses_fill_one_line
    before insert or update on public.addresses
    for each row execute function public.addresses_fill_one_line();

-- ---------------------------------------------------------------------
-- Profiles (auth_user + dispatch_userprofile)
-- ---------------------------------------------------------------------

create table public.profiles (
    id                      uuid primary key references auth.users (id) on delete cascade,
    legacy_user_id          integer unique,
    legacy_userprofile_id   integer unique,
    legacy_patient_id       integer unique,          -- the patient behind a patient login (protected)
    email                   text not null check (email <> ''),
    username                text not null,
    first_name              text not null default '',
    last_name               text not null default '',
    is_staff                boolean not null default false,
    is_superuser            boolean not null default false,
    is_active               boolean not null default true,
    last_login_at           timestamptz,
    office_id               uuid references public.offices (id),
    phone                   text not null default '',
    timezone                text not null default 'UTC',
    preferences             jsonb not null default '{}'::jsonb,
    created_at              timestamptz not null default now(),
    updated_at              timestamptz not null default now(),
    legacy_login_count      integer                  -- cleanup: SQL-standard function body
);

-- Supabase pattern: a new auth user gets its profile from a trigger
create function public.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    insert into public.profiles (id, email, username, first_name, last_name,
                                 legacy_user_id, legacy_patient_id, created_at, updated_at)
    values (new.id,
            new.email,
            coalesce(new.raw_user_meta_data ->> 'username', split_part(new.email, '@', 1)),
            coalesce(new.raw_user_meta_data ->> 'first_name', ''),
            coalesce(new.raw_user_meta_data ->> 'last_name', ''),
            (new.raw_app_meta_data ->> 'legacy_user_id')::integer,
            (new.raw_app_meta_data ->> 'legacy_patient_id')::integer,
            new.created_at,
            new.updated_at);
    return new;
end $$;

create trigger on_auth_user_created
    after insert on auth.users
    for each row execute function public.handle_new_user();

-- the legacy patient id of the caller (NULL unless a patient login).
-- SQL-standard body: records a dependency on profiles.legacy_patient_id
create function public.current_patient_legacy_id() returns integer
language sql stable
begin atomic
    select p.legacy_patient_id from public.profiles p where p.id = auth.uid();
end;

-- how many profiles still carry a legacy login counter (SQL-standard body:
-- a plain DROP COLUMN profiles.legacy_login_count is refused)
create function public.legacy_login_users() returns bigint
language sql stable
begin atomic
    select count(*) from public.profiles where legacy_login_count > 0;
end;

-- M2M Office.contacts (keeps its name)
create table public.office_contacts (
    id                          uuid primary key default gen_random_uuid(),
    legacy_office_contacts_id   integer unique,
    office_id                   uuid not null references public.offices (id),
    profile_id                  uuid not null references public.profiles (id),
    unique (office_id, profile_id)
);

-- ---------------------------------------------------------------------
-- Catalogue
-- ---------------------------------------------------------------------

create table public.orderstatuses (
    id                      uuid primary key default gen_random_uuid(),
    legacy_orderstatus_id   text unique,             -- legacy text key (the code)
    code                    text not null unique,
    label                   text not null,
    sort_order              smallint not null,
    is_final                boolean not null default false
);

create table public.productcategories (
    id                          uuid primary key default gen_random_uuid(),
    legacy_productcategory_id   integer unique,
    parent_id                   uuid references public.productcategories (id),
    name                        text not null,
    slug                        text not null unique,
    check (parent_id <> id)
);

create table public.products (
    id                  uuid primary key default gen_random_uuid(),
    legacy_product_id   integer unique,
    category_id         uuid not null references public.productcategories (id),
    sku                 text not null unique,
    name                text not null,
    unit_price          numeric(8,2) not null check (unit_price >= 0),
    is_active           boolean not null default true,
    legacy_price_rev    integer,                     -- cleanup: trigger column list
    price_changed_at    timestamptz
);

-- BEFORE UPDATE OF legacy_price_rev: the column list is a catalog
-- dependency, so DROP COLUMN products.legacy_price_rev is refused
create function public.products_touch_price() returns trigger
language plpgsql
as $$
begin
    new.price_changed_at := now();
    return new;
end $$;

create trigger products_price_rev_touch
    before update of legacy_price_rev on public.products
    for each row execute function public.products_touch_price();

-- ---------------------------------------------------------------------
-- Patients and orders
-- ---------------------------------------------------------------------

create table public.patients (
    id                  uuid primary key default gen_random_uuid(),
    legacy_patient_id   integer unique,
    office_id           uuid not null references public.offices (id),
    profile_id          uuid unique references public.profiles (id),
    first_name          text not null,
    last_name           text not null,
    date_of_birth       date check (date_of_birth >= date '1900-01-01'),
    chart_no            text,
    notes               text,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    legacy_recall_code  text,                        -- cleanup: view chain
    legacy_duplicate_of uuid                         -- cleanup: self FK
        constraint patients_legacy_duplicate_of_fkey references public.patients (id)
);

create table public.orders (
    id                  uuid primary key default gen_random_uuid(),
    legacy_order_id     integer unique,
    office_id           uuid not null references public.offices (id),
    patient_id          uuid not null references public.patients (id),
    status_id           uuid not null references public.orderstatuses (id),
    placed_by           uuid references public.profiles (id),
    is_rush             boolean not null default false,
    metadata            jsonb not null default '{}'::jsonb,
    total               numeric(10,2) not null default 0,
    created_at          timestamptz not null default now(),
    shipped_at          timestamptz check (isfinite(shipped_at)),
    updated_at          timestamptz not null default now(),
    legacy_import_batch text,                        -- cleanup: plain view
    legacy_priority     smallint                     -- cleanup: check constraint
        constraint orders_legacy_priority_check check (legacy_priority between 0 and 9)
);
create index orders_office_id_idx on public.orders (office_id);
create index orders_patient_id_idx on public.orders (patient_id);

create table public.orderitems (
    id                  uuid primary key default gen_random_uuid(),
    legacy_orderitem_id integer unique,
    order_id            uuid not null references public.orders (id) on delete cascade,
    product_id          uuid not null references public.products (id),
    quantity            integer not null check (quantity > 0),
    unit_price          numeric(8,2) not null,
    coatings            text[] not null default '{}'
);
create index orderitems_order_id_idx on public.orderitems (order_id);

create table public.orderevents (
    id                      uuid primary key default gen_random_uuid(),
    legacy_orderevent_id    bigint unique,           -- legacy bigserial key
    order_id                uuid not null references public.orders (id) on delete cascade,
    status_id               uuid not null references public.orderstatuses (id),
    actor_id                uuid references public.profiles (id),
    note                    text not null default '',
    created_at              timestamptz not null check (created_at >= timestamptz '2000-01-01 00:00:00+00'),
    legacy_source_ip        text                     -- cleanup: nothing depends on it
);
create index orderevents_order_id_idx on public.orderevents (order_id);

-- ---------------------------------------------------------------------
-- Billing
-- ---------------------------------------------------------------------

create table public.invoices (
    id                  uuid primary key default gen_random_uuid(),
    legacy_invoice_id   integer unique,
    office_id           uuid not null references public.offices (id),
    number              text not null unique,
    issued_on           date not null,
    due_on              date,
    total_cents         bigint not null check (total_cents >= 0),
    is_paid             boolean not null default false,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    legacy_ledger_code  text,                        -- cleanup: materialized view
    legacy_export_ref   text                         -- cleanup: unique index
);
create unique index invoices_legacy_export_ref_key on public.invoices (legacy_export_ref);

-- legacy key is the pair (legacy_invoice_id, legacy_line_no).  Careful:
-- legacy_invoice_id is part of the key, not a foreign key (invoice_id is)
create table public.invoicelines (
    id                  uuid primary key default gen_random_uuid(),
    legacy_invoice_id   integer not null,
    legacy_line_no      smallint not null,
    invoice_id          uuid not null references public.invoices (id) on delete cascade,
    order_id            uuid references public.orders (id),   -- NULL: order purged in legacy
    description         text not null,
    amount              numeric(10,2) not null,
    constraint invoicelines_legacy_key unique (legacy_invoice_id, legacy_line_no)
);

-- ---------------------------------------------------------------------
-- Comments: a tree with its depth, on one entity (polymorphic)
-- ---------------------------------------------------------------------

create table public.comments (
    id                  uuid primary key default gen_random_uuid(),
    legacy_comment_id   integer unique,
    parent_id           uuid references public.comments (id) on delete cascade,
    depth               integer not null default 0 check (depth >= 0),
    entity_type         text not null
        constraint comments_entity_type_check
        check (entity_type in ('orders', 'patients', 'invoices', 'offices')),
    entity_id           uuid not null,
    author_id           uuid references public.profiles (id),
    body                text not null,
    is_internal         boolean not null default false,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    legacy_thread_id    integer,                     -- cleanup: index (not a legacy key!)
    constraint comments_root_depth check ((parent_id is null) = (depth = 0)),
    constraint comments_not_own_parent check (parent_id <> id)
);
create index comments_entity_idx on public.comments (entity_type, entity_id);
create index comments_parent_id_idx on public.comments (parent_id);
create index comments_legacy_thread_idx on public.comments (legacy_thread_id);

-- ---------------------------------------------------------------------
-- set_updated_at triggers
-- ---------------------------------------------------------------------

create trigger offices_set_updated_at before update on public.offices
    for each row execute function public.set_updated_at();
create trigger profiles_set_updated_at before update on public.profiles
    for each row execute function public.set_updated_at();
create trigger patients_set_updated_at before update on public.patients
    for each row execute function public.set_updated_at();
create trigger orders_set_updated_at before update on public.orders
    for each row execute function public.set_updated_at();
create trigger invoices_set_updated_at before update on public.invoices
    for each row execute function public.set_updated_at();
create trigger comments_set_updated_at before update on public.comments
    for each row execute function public.set_updated_at();

-- ---------------------------------------------------------------------
-- Views and a materialized view (some read cleanup columns)
-- ---------------------------------------------------------------------

-- reads orders.legacy_import_batch (cleanup, BLOCKED)
create view public.order_import_batches_v as
    select legacy_import_batch, count(*) as orders, min(created_at) as first_order
    from public.orders
    group by legacy_import_batch;

-- view chain on patients.legacy_recall_code (cleanup, BLOCKED)
create view public.patient_recalls_v as
    select id, office_id, first_name, last_name, legacy_recall_code
    from public.patients
    where legacy_recall_code is not null;

create view public.patient_recalls_overdue_v as
    select r.*, o.name as office_name
    from public.patient_recalls_v r
    join public.offices o on o.id = r.office_id
    where r.legacy_recall_code like 'OVERDUE%';

-- reads profiles.legacy_patient_id (protected)
create view public.patient_logins_v as
    select pr.id as profile_id, pr.email, pa.id as patient_id, pa.office_id
    from public.profiles pr
    join public.patients pa on pa.legacy_patient_id = pr.legacy_patient_id;

-- groups by invoices.legacy_ledger_code (cleanup, BLOCKED)
create materialized view public.ledger_totals_mv as
    select legacy_ledger_code, office_id, sum(total_cents) as total_cents, count(*) as invoices
    from public.invoices
    group by legacy_ledger_code, office_id
with no data;

-- ---------------------------------------------------------------------
-- Row level security (enabled, not forced: owners and service_role pass)
-- ---------------------------------------------------------------------

alter table public.profiles enable row level security;
alter table public.patients enable row level security;
alter table public.comments enable row level security;
alter table public.offices enable row level security;

create policy profiles_self_read on public.profiles
    for select to authenticated
    using (id = auth.uid());

create policy patients_self_read on public.patients
    for select to authenticated
    using (legacy_patient_id = public.current_patient_legacy_id());

create policy comments_public_read on public.comments
    for select to authenticated
    using (not is_internal);

-- reads offices.legacy_region (cleanup, BLOCKED)
create policy offices_region_read on public.offices
    for select to authenticated
    using (legacy_region = current_setting('request.jwt.claim.region', true));

-- ---------------------------------------------------------------------
-- Grants
-- ---------------------------------------------------------------------

grant usage on schema public to anon, authenticated, service_role;
grant select on all tables in schema public to authenticated;
grant all on all tables in schema public to service_role;

commit;
