-- =====================================================================
-- ferry demo: LEGACY SCHEMA
--
-- "Lumen Optical Lab": a Django site (app label "dispatch") that an
-- optical lab ran for years.  Optometry offices send spectacle jobs
-- (orders) for their patients; the lab surfaces lenses, fits frames,
-- ships and bills the offices monthly.
--
--   createdb demo_legacy
--   psql -X -q -d demo_legacy -v scale=1 -f legacy-schema.sql -f legacy-data.sql
--
-- The DDL looks like what Django 1.x + a few hand migrations left behind:
--   * serial integer keys; dispatch_orderevent has a bigserial key
--   * dispatch_orderstatus has a varchar primary key (the status code)
--   * dispatch_invoiceline has a composite key (invoice_id, line_no)
--   * dispatch_productcategory.parent_id: self-referencing tree (FK)
--   * FK cycle dispatch_office.billing_address_id <-> dispatch_address.office_id
--     (the office side added at the end with ALTER TABLE)
--   * Django FKs are DEFERRABLE INITIALLY DEFERRED; some reference columns
--     have no constraint at all (see "no FK" below)
--   * dispatch_* timestamps are "timestamp without time zone" holding UTC;
--     auth_user uses timestamptz (created by a newer Django)
--   * char(1) Y/N flags, JSON kept in text, numeric money,
--     a comma-separated list in text (dispatch_orderitem.coatings)
--   * dispatch_comment: Django generic relation (content_type_id, object_id)
-- Load into an EMPTY database.
-- =====================================================================

\set ON_ERROR_STOP on
set client_min_messages = warning;

begin;

-- ---------------------------------------------------------------------
-- Django framework tables
-- ---------------------------------------------------------------------

create table django_content_type (
    id          serial primary key,
    app_label   varchar(100) not null,
    model       varchar(100) not null,
    constraint django_content_type_app_label_model_uniq unique (app_label, model)
);

create table auth_user (
    id              serial primary key,
    password        varchar(128) not null,
    last_login      timestamp with time zone,
    is_superuser    boolean not null,
    username        varchar(150) not null unique,
    first_name      varchar(150) not null,
    last_name       varchar(150) not null,
    email           varchar(254) not null,          -- not unique, may be ''
    is_staff        boolean not null,
    is_active       boolean not null,
    date_joined     timestamp with time zone not null
);

-- ---------------------------------------------------------------------
-- Offices and their addresses (FK cycle)
-- ---------------------------------------------------------------------

create table dispatch_office (
    id                  serial primary key,
    name                varchar(120) not null,
    account_code        varchar(12) not null unique,
    phone               varchar(32) not null default '',
    billing_address_id  integer,                    -- FK added below (cycle)
    is_active           char(1) not null default 'Y',
    created_at          timestamp not null,
    updated_at          timestamp
);

create table dispatch_address (
    id          serial primary key,
    office_id   integer not null
                references dispatch_office (id) deferrable initially deferred,
    kind        varchar(10) not null,               -- 'shipping' | 'billing'
    line1       varchar(200) not null,
    line2       varchar(200) not null default '',
    city        varchar(80) not null,
    region      varchar(40) not null default '',
    postcode    varchar(16) not null,
    country     char(2) not null default 'US'
);
create index dispatch_address_office_id on dispatch_address (office_id);

-- ManyToManyField Office.contacts -> User (Django's auto join table)
create table dispatch_office_contacts (
    id          serial primary key,
    office_id   integer not null
                references dispatch_office (id) deferrable initially deferred,
    user_id     integer not null
                references auth_user (id) deferrable initially deferred,
    constraint dispatch_office_contacts_office_id_user_id_uniq unique (office_id, user_id)
);

-- one per auth_user (not every user has one)
create table dispatch_userprofile (
    id          serial primary key,
    user_id     integer not null unique
                references auth_user (id) deferrable initially deferred,
    office_id   integer
                references dispatch_office (id) deferrable initially deferred,
    phone       varchar(32) not null default '',
    timezone    varchar(40) not null default 'America/New_York',
    preferences text,                               -- JSON in text
    updated_at  timestamp
);

-- ---------------------------------------------------------------------
-- Catalogue
-- ---------------------------------------------------------------------

-- text primary key: the status code
create table dispatch_orderstatus (
    code        varchar(20) primary key,
    label       varchar(60) not null,
    sort_order  smallint not null,
    is_final    char(1) not null default 'N'
);

-- three-level tree; a few children have lower ids than their parents
create table dispatch_productcategory (
    id          serial primary key,
    parent_id   integer
                references dispatch_productcategory (id) deferrable initially deferred,
    name        varchar(80) not null,
    slug        varchar(80) not null unique
);

create table dispatch_product (
    id          serial primary key,
    category_id integer not null
                references dispatch_productcategory (id) deferrable initially deferred,
    sku         varchar(20) not null unique,
    name        varchar(120) not null,
    unit_price  numeric(8,2) not null,
    is_active   char(1) not null default 'Y'
);

-- ---------------------------------------------------------------------
-- Patients and orders
-- ---------------------------------------------------------------------

create table dispatch_patient (
    id              serial primary key,
    office_id       integer not null
                    references dispatch_office (id) deferrable initially deferred,
    user_id         integer                          -- patient portal login
                    references auth_user (id) deferrable initially deferred,
    first_name      varchar(80) not null,
    last_name       varchar(80),                     -- nullable (old import)
    date_of_birth   date,
    chart_no        varchar(20),
    notes           text,
    created_at      timestamp not null,
    updated_at      timestamp
);

create table dispatch_order (
    id              serial primary key,
    office_id       integer                           -- nullable (fax intake)
                    references dispatch_office (id) deferrable initially deferred,
    patient_id      integer,                          -- no FK
    status_id       varchar(20) not null
                    references dispatch_orderstatus (code) deferrable initially deferred,
    placed_by_id    integer
                    references auth_user (id) deferrable initially deferred,
    rush            char(1) not null default 'N',
    metadata        text,                             -- JSON in text
    total           numeric(10,2) not null default 0,
    created_at      timestamp not null,
    shipped_at      timestamp,
    updated_at      timestamp
);
create index dispatch_order_status_id on dispatch_order (status_id);
create index dispatch_order_office_id on dispatch_order (office_id);

create table dispatch_orderitem (
    id          serial primary key,
    order_id    integer not null
                references dispatch_order (id) deferrable initially deferred,
    product_id  integer not null
                references dispatch_product (id) deferrable initially deferred,
    quantity    integer not null default 1,
    unit_price  numeric(8,2) not null,
    coatings    varchar(100)                          -- CSV: 'AR,UV,HC'
);
create index dispatch_orderitem_order_id on dispatch_orderitem (order_id);

-- status history: bigserial key (ids start above 2^31)
create table dispatch_orderevent (
    id          bigserial primary key,
    order_id    integer not null
                references dispatch_order (id) deferrable initially deferred,
    status_id   varchar(20) not null
                references dispatch_orderstatus (code) deferrable initially deferred,
    actor_id    integer,                              -- no FK (user)
    note        text not null default '',
    created_at  timestamp not null
);
create index dispatch_orderevent_order_id on dispatch_orderevent (order_id);

-- ---------------------------------------------------------------------
-- Billing
-- ---------------------------------------------------------------------

create table dispatch_invoice (
    id          serial primary key,
    office_id   integer not null
                references dispatch_office (id) deferrable initially deferred,
    number      varchar(20) not null unique,
    issued_on   date,
    due_on      date,
    total       numeric(12,2) not null default 0,
    is_paid     char(1) not null default 'N',
    created_at  timestamp not null,
    updated_at  timestamp
);

-- composite primary key; order_id has no FK (orders get purged)
create table dispatch_invoiceline (
    invoice_id  integer not null
                references dispatch_invoice (id) deferrable initially deferred,
    line_no     smallint not null,
    order_id    integer,                              -- no FK
    description varchar(200) not null,
    amount      numeric(10,2) not null,
    primary key (invoice_id, line_no)
);

-- ---------------------------------------------------------------------
-- Comments: generic relation to orders, patients, invoices, offices
-- (content_type_id, object_id); parent_id and author_id have no FK
-- ---------------------------------------------------------------------

create table dispatch_comment (
    id              serial primary key,
    content_type_id integer not null
                    references django_content_type (id) deferrable initially deferred,
    object_id       integer not null,
    parent_id       integer,                          -- no FK
    author_id       integer,                          -- no FK
    body            text,
    is_internal     char(1) not null default 'N',
    created_at      timestamp not null,
    updated_at      timestamp
);
create index dispatch_comment_target on dispatch_comment (content_type_id, object_id);
create index dispatch_comment_parent_id on dispatch_comment (parent_id);

-- ---------------------------------------------------------------------
-- The other half of the office <-> address cycle
-- ---------------------------------------------------------------------

alter table dispatch_office
    add constraint dispatch_office_billing_address_id_fk
    foreign key (billing_address_id) references dispatch_address (id)
    deferrable initially deferred;

commit;
