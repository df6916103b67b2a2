-- =====================================================================
-- ferry demo: LEGACY DATA GENERATOR
--
--   psql -X -q -d demo_legacy -v scale=1 -f legacy-schema.sql -f legacy-data.sql
--
-- Pure SQL, set-based (generate_series), deterministic: every value is a
-- function of row ids, mostly through md5 with a fixed salt.  No random(),
-- no clock.  Rows are linear in :scale (default 1); the catalogue tables
-- (content types, statuses, categories, products) are fixed.
--
-- Data is laid out in "scale units" u = 0 .. scale-1.  Each unit holds the
-- same shapes with its own ids:
--   auth_user        id = 120u + j   j 1-30 lab staff, 31-70 office staff,
--                                      71-120 patient logins
--   dispatch_office  id =  20u + o   o 1-20
--   dispatch_patient id = 500u + p   p 1-500
--   dispatch_order   id = 1000u + n  n 1-1000
--   dispatch_orderevent id = 3000000000 + 1500u + e   e 1-1500
--   dispatch_invoice id = 200u + i   i 1-200
--   dispatch_comment id = 1200u + k  k 1-1200
-- Every anomaly is planted by a rule on j / o / p / n / e / i / k (README.md,
-- "Anomaly catalogue"); count-anomalies.sql measures them.
--
-- Helper functions live in pg_temp and vanish with the session, so the
-- loaded database holds only the legacy tables.  Run once, right after
-- legacy-schema.sql, on an empty database.
-- =====================================================================

\set ON_ERROR_STOP on
set client_min_messages = warning;

\if :{?scale}
\else
\set scale 1
\endif

set timezone = 'UTC';

-- scale must be a positive integer (the cast fails on anything else)
select (:'scale')::integer >= 1 as scale_ok \gset
\if :scale_ok
\else
do $$ begin raise exception 'legacy-data.sql: scale must be a positive integer'; end $$;
\endif

begin;

-- ---------------------------------------------------------------------
-- Helpers (session-local)
-- ---------------------------------------------------------------------

-- h(salt, n): a stable pseudo-random integer in [0, 2^28)
create function pg_temp.h(salt text, n bigint) returns integer
language sql immutable strict
as $$ select ('x' || substr(md5(salt || '/' || n::text), 1, 7))::bit(28)::integer $$;

-- pick(list, n): the element of list chosen by n (wraps around)
create function pg_temp.pick(list text[], n bigint) returns text
language sql immutable strict
as $$ select list[1 + (n % array_length(list, 1))::integer] $$;

create function pg_temp.first_name(n bigint) returns text
language sql immutable strict
as $$ select pg_temp.pick(array['Ana', 'Benoît', 'Chloé', 'Dmitri', 'Emma', 'Farah',
    'Gareth', 'Hana', 'Ignacio', 'Jürgen', 'Keiko', 'Liam', 'María', 'Noah',
    'Olúwaseun', 'Priya', 'Quentin', 'Rosa', 'Søren', 'Tomás', 'Ulla', 'Vikram',
    'Wen', 'Xavier', 'Yusuf', 'Zoë', 'Grace', 'Mateo', 'Aisha', 'Connor'],
    pg_temp.h('first', n)) $$;

create function pg_temp.last_name(n bigint) returns text
language sql immutable strict
as $$ select pg_temp.pick(array['Abbott', 'Bianchi', 'Castillo', 'D''Amico', 'Eriksson',
    'Fitzgerald', 'Gómez', 'Haddad', 'Ivanova', 'Jensen', 'Kowalczyk', 'Lefèvre',
    'McAllister', 'Nakamura', 'O''Neill', 'Petrović', 'Quinn', 'Rahman', 'Schröder',
    'Trần', 'Underwood', 'Vásquez', 'Whitfield', 'Xu', 'Yamamoto', 'Zielińska',
    'Okafor', 'Brennan', 'Lindqvist', 'Moreau'],
    pg_temp.h('last', n)) $$;

-- the e-mail a user would normally have (before the planted anomalies)
create function pg_temp.user_email(id bigint) returns text
language sql immutable strict
as $$ select case
    when (id - 1) % 120 + 1 <= 30 then 'tech' || id || '@lumen-lab.example'
    when (id - 1) % 120 + 1 <= 70 then 'frontdesk' || id || '@office'
                                       || ((id - 1) / 120 * 20 + ((id - 1) % 120 - 30) / 2 + 1)
                                       || '.example'
    else 'patient' || id || '@mailbox.example'
    end $$;

-- created_at of order id (same calendar in every scale unit)
create function pg_temp.order_created(id bigint) returns timestamp
language sql immutable strict
as $$ select timestamp '2021-01-04 07:30:00'
           + ((id - 1) % 1000 + 1) * interval '21 hours'
           + (pg_temp.h('order-created', id) % 3600) * interval '1 second' $$;

-- status code of order id (by its position n in the unit)
create function pg_temp.order_status(id bigint) returns text
language sql immutable strict
as $$ select case
    when n % 50 = 0 then 'cancelled'
    when n > 950 then pg_temp.pick(array['draft', 'received', 'surfacing', 'coating', 'qc_hold'], n)
    when n > 900 then 'shipped'
    else 'delivered'
    end
    from (select (id - 1) % 1000 + 1 as n) x $$;

-- ---------------------------------------------------------------------
-- django_content_type (fixed).  17 = dispatch.faxmessage: the model was
-- removed, its table dropped, the content type row stayed.
-- ---------------------------------------------------------------------

insert into django_content_type (id, app_label, model) values
    (1, 'admin', 'logentry'),
    (2, 'auth', 'permission'),
    (3, 'auth', 'group'),
    (4, 'auth', 'user'),
    (5, 'contenttypes', 'contenttype'),
    (6, 'sessions', 'session'),
    (7, 'dispatch', 'office'),
    (8, 'dispatch', 'address'),
    (9, 'dispatch', 'userprofile'),
    (10, 'dispatch', 'orderstatus'),
    (11, 'dispatch', 'productcategory'),
    (12, 'dispatch', 'product'),
    (13, 'dispatch', 'patient'),
    (14, 'dispatch', 'order'),
    (15, 'dispatch', 'orderitem'),
    (16, 'dispatch', 'orderevent'),
    (17, 'dispatch', 'faxmessage'),
    (18, 'dispatch', 'invoice'),
    (19, 'dispatch', 'invoiceline'),
    (20, 'dispatch', 'comment');

-- ---------------------------------------------------------------------
-- auth_user: 120 ids per unit, j = 29 and 30 deleted (gaps, still
-- referenced by columns without FK)
-- ---------------------------------------------------------------------

insert into auth_user (id, password, last_login, is_superuser, username,
                       first_name, last_name, email, is_staff, is_active, date_joined)
select id,
       case
           when j % 25 = 24 then '!' || substr(md5('unusable' || id), 1, 40)
           when j <= 30 and j % 6 = 5 then 'sha1$' || substr(md5('s' || id), 1, 5)
                                           || '$' || md5('sha1' || id) || substr(md5('x' || id), 1, 8)
           else 'pbkdf2_sha256$150000$' || substr(md5('salt' || id), 1, 12) || '$'
                || encode(decode(md5('pw' || id) || md5('pw2' || id), 'hex'), 'base64')
       end,
       case when j % 9 = 0 then null
            else joined + (pg_temp.h('login', id) % 900) * interval '1 day'
                        + (pg_temp.h('login-s', id) % 86400) * interval '1 second'
       end,
       j = 1,
       case when j <= 30 then 'tech.' when j <= 70 then 'desk.' else 'pt.' end || id,
       pg_temp.first_name(id),
       pg_temp.last_name(id),
       case
           when j in (12, 88) then ''                                  -- blank e-mail
           when j = 45 then initcap(pg_temp.user_email(id - 1))        -- case-only duplicate of j 44
           else pg_temp.user_email(id)
       end,
       j <= 30,
       j % 17 <> 0,
       joined
from (
    select u * 120 + j as id, j,
           timestamptz '2016-03-01 00:00:00+00'
               + (pg_temp.h('joined', u * 120 + j) % 1800) * interval '1 day'
               + (pg_temp.h('joined-s', u * 120 + j) % 86400) * interval '1 second' as joined
    from generate_series(0, :scale - 1) u
    cross join generate_series(1, 120) j
    where j not in (29, 30)
) x;

-- ---------------------------------------------------------------------
-- Offices (20 per unit) and addresses; billing address linked afterwards
-- ---------------------------------------------------------------------

insert into dispatch_office (id, name, account_code, phone, billing_address_id,
                             is_active, created_at, updated_at)
select id,
       pg_temp.pick(array['Clearview', 'Brightsight', 'Northgate', 'Riverside', 'Maple Street',
                          'Harbor', 'Summit', 'Lakeshore', 'Old Town', 'Parkside', 'Westfield',
                          'Cedar Hill', 'Bayview', 'Prairie', 'Elmwood', 'Granite'], id * 7 + u)
           || ' '
           || pg_temp.pick(array['Eye Care', 'Optometry', 'Vision Center', 'Family Eye Clinic',
                                 'Optical', 'Eye Associates'], pg_temp.h('office-kind', id)),
       'LX' || lpad(id::text, 6, '0'),
       '+1-555-' || lpad((pg_temp.h('office-phone', id) % 10000)::text, 4, '0'),
       null,
       case when o = 13 then 'y'          -- odd Y/N value
            when o = 20 then 'N'
            else 'Y' end,
       created,
       case when o % 10 = 9 then null     -- NULL updated_at
            else created + (pg_temp.h('office-upd', id) % 700) * interval '1 day' end
from (
    select u, o, u * 20 + o as id,
           timestamp '2016-01-04 09:00:00'
               + (pg_temp.h('office-created', u * 20 + o) % 1500) * interval '1 day' as created
    from generate_series(0, :scale - 1) u
    cross join generate_series(1, 20) o
) x;

-- shipping address for every office, billing address unless o % 10 = 4;
-- o % 8 = 0 are in Canada
insert into dispatch_address (id, office_id, kind, line1, line2, city, region, postcode, country)
select row_number() over (order by x.office_id, x.kind desc),
       x.office_id, x.kind,
       (10 + pg_temp.h('street-no', x.office_id * 2 + x.k) % 9000)::text || ' '
           || pg_temp.pick(array['Main St', 'Oak Ave', 'Elm St', 'Lakeview Rd', 'King St W',
                                 'Rue Sainte-Catherine', 'Market Sq', '2nd Ave'],
                           pg_temp.h('street', x.office_id * 2 + x.k)),
       case when x.kind = 'billing' then 'Attn: Accounts Payable'
            when x.office_id % 3 = 0 then 'Suite ' || (100 + x.office_id % 400)
            else '' end,
       case when x.ca then pg_temp.pick(array['Toronto', 'Ottawa', 'Montréal', 'Hamilton'], x.office_id)
            else pg_temp.pick(array['Albany', 'Dayton', 'Eugene', 'Fresno', 'Green Bay',
                                    'Savannah', 'Boise', 'Tucson'], x.office_id) end,
       case when x.ca then pg_temp.pick(array['ON', 'ON', 'QC', 'ON'], x.office_id)
            else pg_temp.pick(array['NY', 'OH', 'OR', 'CA', 'WI', 'GA', 'ID', 'AZ'], x.office_id) end,
       case when x.ca then 'K' || (x.office_id % 10) || 'A ' || (x.office_id % 9) || 'B' || (x.office_id % 7)
            else lpad((pg_temp.h('zip', x.office_id) % 99999)::text, 5, '0') end,
       case when x.ca then 'CA' else 'US' end
from (
    select of.id as office_id, k.kind, k.k, (of.id - 1) % 20 + 1 = 8 or (of.id - 1) % 20 + 1 = 16 as ca
    from dispatch_office of
    cross join (values ('shipping', 0), ('billing', 1)) k (kind, k)
    where k.kind = 'shipping' or ((of.id - 1) % 20 + 1) % 10 <> 4
) x;

update dispatch_office of
set billing_address_id = a.id
from dispatch_address a
where a.office_id = of.id and a.kind = 'billing';

-- ---------------------------------------------------------------------
-- User profiles: one per existing user except j % 20 = 7
-- ---------------------------------------------------------------------

insert into dispatch_userprofile (id, user_id, office_id, phone, timezone, preferences, updated_at)
select row_number() over (order by au.id),
       au.id,
       case when j between 31 and 70 then (au.id - 1) / 120 * 20 + (j - 31) / 2 + 1 end,
       case when j % 4 = 0 then '' else '+1-555-' || lpad((pg_temp.h('phone', au.id) % 10000)::text, 4, '0') end,
       case when j <= 30 then 'UTC'
            when j <= 70 and ((j - 31) / 2 + 1) % 8 = 0 then 'America/Toronto'
            when j % 5 = 1 then 'America/Chicago'
            else 'America/New_York' end,
       case
           when j % 40 = 25 then pg_temp.pick(array[    -- invalid JSON
                   '{''theme'': ''dark'', ''compact'': True}',
                   '{"theme":"dark","columns":["id","patient"',
                   'None'], (au.id - 1) / 40)
           when j % 11 = 0 then null
           else '{"theme":"' || pg_temp.pick(array['light', 'dark', 'system'], au.id)
                || '","notify":{"email":' || (j % 2 = 0)::text || ',"sms":' || (j % 3 = 0)::text
                || '},"lang":"' || pg_temp.pick(array['en', 'fr', 'es'], au.id / 3)
                || '","signature":"Caf\u00e9 ' || au.id || '"}'
       end,
       au.date_joined at time zone 'UTC' + (pg_temp.h('profile-upd', au.id) % 400) * interval '1 day'
from auth_user au
cross join lateral (select (au.id - 1) % 120 + 1 as j) jj
where j % 20 <> 7;

-- M2M Office.contacts: both office staff users, plus a lab contact for o % 5 = 0
insert into dispatch_office_contacts (id, office_id, user_id)
select row_number() over (order by office_id, user_id), office_id, user_id
from (
    select of.id as office_id, (of.id - 1) / 20 * 120 + 31 + 2 * ((of.id - 1) % 20) + s as user_id
    from dispatch_office of cross join generate_series(0, 1) s
    union all
    select of.id, (of.id - 1) / 20 * 120 + 1 + ((of.id - 1) % 20 + 1) / 5
    from dispatch_office of
    where ((of.id - 1) % 20 + 1) % 5 = 0
) x;

-- ---------------------------------------------------------------------
-- Catalogue (fixed size)
-- ---------------------------------------------------------------------

insert into dispatch_orderstatus (code, label, sort_order, is_final) values
    ('draft', 'Draft', 10, 'N'),
    ('received', 'Received at lab', 20, 'N'),
    ('surfacing', 'Surfacing', 30, 'N'),
    ('coating', 'Coating', 40, 'N'),
    ('qc_hold', 'On hold (QC)', 50, 'N'),
    ('shipped', 'Shipped', 60, 'N'),
    ('delivered', 'Delivered', 70, 'Y'),
    ('cancelled', 'Cancelled', 80, 'Y');

-- 2 'Sports wraps' was added under 17 later: a child with a lower id than its parent
insert into dispatch_productcategory (id, parent_id, name, slug) values
    (1, null, 'Lenses', 'lenses'),
    (2, 17, 'Sports wraps', 'sports-wraps'),
    (3, 1, 'Single vision', 'single-vision'),
    (4, 1, 'Progressive', 'progressive'),
    (5, 1, 'Bifocal & trifocal', 'multifocal'),
    (6, 3, 'Stock single vision', 'sv-stock'),
    (7, 3, 'Surfaced single vision', 'sv-surfaced'),
    (8, 4, 'Standard progressive', 'pal-standard'),
    (9, 4, 'Freeform progressive', 'pal-freeform'),
    (10, null, 'Frames', 'frames'),
    (11, 10, 'Metal frames', 'frames-metal'),
    (12, 10, 'Acetate frames', 'frames-acetate'),
    (13, 10, 'Rimless mounts', 'frames-rimless'),
    (14, null, 'Treatments', 'treatments'),
    (15, 14, 'Anti-reflective', 'treatment-ar'),
    (16, 14, 'Photochromic & tints', 'treatment-tint'),
    (17, 10, 'Specialty frames', 'frames-specialty');

-- 40 products over the leaf categories; ids 1-20 lenses, 21-34 frames, 35-40 treatments
insert into dispatch_product (id, category_id, sku, name, unit_price, is_active)
select pid, cat,
       'LX-' || (1000 + pid),
       c.name || ' '
           || case when pid <= 20 then pg_temp.pick(array['CR-39 1.50', 'Polycarbonate 1.59',
                                                          'Hi-index 1.67', 'Hi-index 1.74', 'Trivex 1.53'], pid)
                   when pid <= 34 then pg_temp.pick(array['“Aster”', '“Birch”', '“Comet”', '“Dune”',
                                                          '“Ember”', '“Fjord”', '“Gale”'], pid)
                   else pg_temp.pick(array['standard', 'premium', 'kids'], pid) end,
       round((case when pid <= 20 then 24 when pid <= 34 then 39 else 12 end
              + pg_temp.h('price', pid) % 9000 / 100.0)::numeric, 2),
       case pid when 9 then 'y' when 27 then '0'        -- odd Y/N values
               else case when pid % 13 = 0 then 'N' else 'Y' end end
from (
    select pid,
           case when pid <= 20 then (array[6, 7, 8, 9, 5])[1 + pid % 5]
                when pid <= 34 then (array[11, 12, 13, 17, 2])[1 + pid % 5]
                else (array[15, 16])[1 + pid % 2] end as cat
    from generate_series(1, 40) pid
) x
join dispatch_productcategory c on c.id = x.cat;

-- ---------------------------------------------------------------------
-- Patients: 500 per unit, p % 250 = 111 deleted.  p % 10 = 3 have a
-- portal login (user j = 70 + (p + 7) / 10).
-- ---------------------------------------------------------------------

insert into dispatch_patient (id, office_id, user_id, first_name, last_name, date_of_birth,
                              chart_no, notes, created_at, updated_at)
select id,
       u * 20 + 1 + (p - 1) % 20,
       case when p % 10 = 3 then u * 120 + 70 + (p + 7) / 10 end,
       pg_temp.first_name(id * 31),
       case when p % 100 = 62 then null                       -- NULL where required
            else pg_temp.last_name(id * 17) end,
       case when p % 125 = 64 then date '0001-01-01'          -- year 0001
            when p % 40 = 0 then null
            else date '1938-01-01' + pg_temp.h('dob', id) % 27000 end,
       case when p % 9 = 0 then null else 'C-' || lpad(id::text, 7, '0') end,
       case
           when p % 100 = 8 then 'Prefers text reminders 📱 — very happy with the last pair 😀👓'
           when p % 125 = 20 then 'Scanned referral' || chr(12) || 'page 2' || chr(7) || chr(27) || '[0m'
           when p % 7 = 0 then E'Allergic to nickel frames.\nUse titanium or acetate only.'
           when p % 5 = 0 then pg_temp.pick(array['Wide PD', 'Monovision wearer', 'Drives at night',
                                                   'Needs large print invoices'], id)
       end,
       created,
       case when p % 50 = 45 then null                        -- NULL updated_at
            else created + (pg_temp.h('pat-upd', id) % 900) * interval '1 day' end
from (
    select u, p, u * 500 + p as id,
           timestamp '2016-06-01 10:00:00'
               + (pg_temp.h('pat-created', u * 500 + p) % 1800) * interval '1 day'
               + (pg_temp.h('pat-created-s', u * 500 + p) % 28800) * interval '1 second' as created
    from generate_series(0, :scale - 1) u
    cross join generate_series(1, 500) p
    where p % 250 <> 111
) x;

-- ---------------------------------------------------------------------
-- Orders: 1000 per unit, n % 500 = 250 deleted.  Office o = 1 + 7n mod 20,
-- patient of that office; totals filled from the items below.
-- ---------------------------------------------------------------------

insert into dispatch_order (id, office_id, patient_id, status_id, placed_by_id, rush,
                            metadata, total, created_at, shipped_at, updated_at)
select id,
       case when n % 250 = 77 then null else u * 20 + o end,            -- NULL where required
       u * 500 + case
           when n % 200 = 13 then case when n / 200 % 2 = 0 then 111 else 361 end   -- orphan
           when pp % 250 = 111 then pp + 20
           else pp end,
       st,
       case when n % 17 = 0 then null else u * 120 + 31 + 2 * (o - 1) + n % 2 end,
       case n % 500 when 101 then 'y' when 102 then '1' when 103 then ' '         -- odd Y/N
           else case when n % 9 = 0 then 'Y' else 'N' end end,
       case
           when n % 250 = 99 then pg_temp.pick(array[                   -- invalid JSON
                   '{''channel'': ''fax'', ''tray'': None}',
                   '{"channel":"portal","tray":"T1',
                   '',
                   'NaN'], n / 250)
           when n % 23 = 0 then null
           else '{"channel":"' || pg_temp.pick(array['portal', 'fax', 'email', 'rep'], pg_temp.h('chan', id))
                || '","tray":"T' || lpad((n % 300)::text, 3, '0')
                || '","frame_supplied":' || (n % 4 = 0)::text
                || ',"pd":{"right":' || (29 + n % 7)::text || '.5,"left":' || (29 + n % 6)::text || '.0}'
                || case when n % 10 = 1 then ',"note":"Verre d\u00e9j\u00e0 taill\u00e9"' else '' end
                || '}'
       end,
       0,
       created,
       case
           when n % 500 = 444 then 'infinity'::timestamp                  -- infinity
           when st in ('shipped', 'delivered') then created + (3 + n % 6) * interval '1 day'
                                                            + (n % 8) * interval '1 hour'
       end,
       case
           when n % 100 = 55 then null                                     -- NULL updated_at
           when st in ('shipped', 'delivered') then created + (5 + n % 6) * interval '1 day'
           else created + (1 + n % 20) * interval '1 hour'
       end
from (
    select u, n, u * 1000 + n as id,
           1 + (n * 7) % 20 as o,
           1 + (n * 7) % 20 + 20 * ((n * 13) % 25) as pp,
           pg_temp.order_status(u * 1000 + n) as st,
           pg_temp.order_created(u * 1000 + n) as created
    from generate_series(0, :scale - 1) u
    cross join generate_series(1, 1000) n
    where n % 500 <> 250
) x;

-- two lines per order: ids 2*order-1 (lenses) and 2*order (frame or treatment);
-- the lines of deleted orders are gone too
insert into dispatch_orderitem (id, order_id, product_id, quantity, unit_price, coatings)
select 2 * o.id - 1 + l.line,
       o.id, x.product_id,
       case when l.line = 0 and o.id % 6 <> 0 then 2 else 1 end,
       case when o.id % 10 = 0 then round(p.unit_price * 0.9, 2) else p.unit_price end,
       case when l.line = 0 then pg_temp.pick(array['AR,UV', 'AR,UV,HC', 'HC', ' AR , BLUE',
                                                    '', 'UV', 'AR,PHOTO', null], pg_temp.h('coat', o.id))
       end
from dispatch_order o
cross join (values (0), (1)) l (line)
cross join lateral (
    select case when l.line = 0 then 1 + pg_temp.h('lens', o.id) % 20
                else 21 + pg_temp.h('frame', o.id) % 20 end as product_id
) x
join dispatch_product p on p.id = x.product_id;

update dispatch_order o
set total = t.total
from (select order_id, sum(quantity * unit_price) as total
      from dispatch_orderitem group by order_id) t
where t.order_id = o.id;

-- ---------------------------------------------------------------------
-- Order events (bigserial, ids from 3,000,000,001): per unit e = 1-1000
-- 'received' for order n = e, e = 1001-1500 'surfacing' for odd n;
-- events of deleted orders are gone.
-- ---------------------------------------------------------------------

insert into dispatch_orderevent (id, order_id, status_id, actor_id, note, created_at)
select 3000000000 + u * 1500 + e,
       u * 1000 + n,
       case when e <= 1000 then 'received' else 'surfacing' end,
       case when e % 300 = 123 then u * 120 + 29 + e % 2          -- dangling: deleted user
            else u * 120 + 1 + e % 28 end,
       case
           when e % 375 = 200 then 'Edger log:' || chr(27) || '[1mOK' || chr(27) || '[0m' || chr(1)
           when e <= 1000 then pg_temp.pick(array['', '', 'Tray scanned', 'Frame received with job',
                                                  'Rx re-checked by phone'], pg_temp.h('ev-note', e))
           else pg_temp.pick(array['', 'Generator pass 1', 'Blocked and surfaced'], e)
       end,
       case when e % 750 = 321 then timestamp '0001-01-01 00:00:00'          -- year 0001
            else pg_temp.order_created(u * 1000 + n)
                 + case when e <= 1000 then interval '2 hours' else interval '1 day 3 hours' end
       end
from (
    select u, e, case when e <= 1000 then e else 2 * (e - 1000) - 1 end as n
    from generate_series(0, :scale - 1) u
    cross join generate_series(1, 1500) e
) x
where n % 500 <> 250;

-- ---------------------------------------------------------------------
-- Invoices: 200 per unit = 20 offices x 10 billing periods of 100 orders;
-- invoice i: office 1 + (i-1) % 20, period (i-1) / 20.  Lines: one per
-- order (deleted orders keep their line: dangling order_id).
-- ---------------------------------------------------------------------

insert into dispatch_invoice (id, office_id, number, issued_on, due_on, total, is_paid,
                              created_at, updated_at)
select id,
       u * 20 + 1 + (i - 1) % 20,
       'INV-' || lpad(id::text, 7, '0'),
       case when i % 50 = 17 then null else issued end,             -- NULL where required
       issued + 30,
       0,
       case when (i - 1) / 20 = 9 or i % 13 = 0 then 'N' else 'Y' end,
       issued + interval '6 hours',
       case when (i - 1) / 20 = 9 then issued + interval '6 hours 5 minutes'
            else issued + (20 + i % 15) * interval '1 day' end
from (
    select u, i, u * 200 + i as id,
           (pg_temp.order_created(((i - 1) / 20 + 1) * 100) + interval '3 days')::date as issued
    from generate_series(0, :scale - 1) u
    cross join generate_series(1, 200) i
) x;

insert into dispatch_invoiceline (invoice_id, line_no, order_id, description, amount)
select u * 200 + ((n - 1) / 100) * 20 + 1 + (n * 7) % 20,
       row_number() over (partition by u, (n - 1) / 100, (n * 7) % 20 order by n),
       u * 1000 + n,
       'Job #' || (u * 1000 + n) || ' ' || coalesce(o.status_id, 'purged'),
       coalesce(o.total, 100 + n % 50)
from generate_series(0, :scale - 1) u
cross join generate_series(1, 1000) n
left join dispatch_order o on o.id = u * 1000 + n;

update dispatch_invoice i
set total = t.total
from (select invoice_id, sum(amount) as total from dispatch_invoiceline group by invoice_id) t
where t.invoice_id = i.id;

-- ---------------------------------------------------------------------
-- Comments: 1200 ids per unit, k = id - 1200u.
--   1-40      one chain (depth 0-39) on patient p 5
--   41-300    wide thread on order n 10: root 41, 240 direct replies
--             (42-281), 19 grandchildren (282-300)
--   301-320   odd parents, on invoices i 3 and 4 (cycles, self parent,
--             deleted parent; see README)
--   321-340   threads on a deleted order (n 250) and a deleted patient (p 111)
--   341-350   thread on dispatch.faxmessage (stale content type)
--   351-1200  170 threads of 5: root, 2 replies to it, a reply to the
--             second reply, a reply to that
--   k % 400 = 315 deleted (gaps)
-- Content types: 7 office, 13 patient, 14 order, 17 faxmessage, 18 invoice
-- ---------------------------------------------------------------------

insert into dispatch_comment (id, content_type_id, object_id, parent_id, author_id, body,
                              is_internal, created_at, updated_at)
select id,
       t.ct, t.obj,
       case when pk is null then null else u * 1200 + pk end,
       case when k % 250 = 199 then u * 120 + 29                    -- missing author (deleted user)
            when k % 2 = 0 then u * 120 + 1 + (k / 2) % 28
            else u * 120 + 31 + k % 40 end,
       case
           when k = 999 then rpad('Pasted lab log: ', 1048576,       -- ~1 MB
                                  'surfacing run ok; coating chamber nominal; edger calibrated. ')
           when k % 300 = 140 then null                              -- NULL where required
           when k % 200 = 15 then 'Copied from LIMS:' || chr(1) || ' job' || chr(31) || ' ok' || chr(127)
           when k % 100 = 42 then pg_temp.pick(array['Frames look great 😍', 'Rush approved 🚀 thanks!',
                                                     'Lens cracked in transit 😞 remaking', '👩‍⚕️ Dr. asked for a call back'], k / 100)
           when k % 19 = 0 then E'Called the office.\nThey will confirm the PD tomorrow.'
           else pg_temp.pick(array['Checked Rx against the chart.', 'Patient asked about delivery date.',
                                   'Frame arrived scratched, sent photo.', 'Approved remake at no charge.',
                                   'Invoice question forwarded to billing.', 'Please use the lab''s courier.',
                                   'Spoke with Dr. about base curve.', 'OK'], pg_temp.h('body', id))
       end,
       case when k % 600 = 77 then pg_temp.pick(array['y', '1'], k / 600)   -- odd Y/N
            when k % 4 = 0 then 'Y' else 'N' end,
       created,
       case when k % 150 = 75 then null                                  -- NULL updated_at
            else created + (k % 7) * interval '1 hour' end
from (
    select u, k, u * 1200 + k as id,
           timestamp '2021-03-01 09:00:00' + k * interval '37 minutes'
               + (pg_temp.h('cm-created', u * 1200 + k) % 600) * interval '1 second' as created,
           case
               when k = 1 then null
               when k <= 40 then k - 1
               when k = 41 then null
               when k <= 281 then 41
               when k <= 300 then 42 + (k - 282)
               -- 301-320: odd parents
               when k = 301 then 302                 -- 2-cycle 301 <-> 302
               when k = 302 then 301
               when k = 303 then 305                 -- 3-cycle 303 -> 305 -> 304 -> 303
               when k = 304 then 303
               when k = 305 then 304
               when k = 306 then 306                 -- own parent
               when k = 307 then 301                 -- under the 2-cycle
               when k = 308 then 307                 -- under the 2-cycle, two levels down
               when k = 309 then 304                 -- under the 3-cycle
               when k = 310 then null
               when k in (311, 313, 314) then 310
               when k = 312 then 311
               when k in (316, 317) then 315         -- parent deleted
               when k = 318 then 316                 -- below a comment whose parent is gone
               when k = 319 then null
               when k = 320 then 319
               -- 321-350: roots 321, 331, 341, the rest reply to their root
               when k in (321, 331, 341) then null
               when k <= 350 then (k - 1) / 10 * 10 + 1
               -- 351-1200: threads of five
               else case (k - 351) % 5
                        when 0 then null
                        when 1 then k - 1
                        when 2 then k - 2
                        else k - 1 end
           end as pk
    from generate_series(0, :scale - 1) u
    cross join generate_series(1, 1200) k
    where k % 400 <> 315
) x
cross join lateral (
    select case
               when k <= 40 then 13
               when k <= 300 then 14
               when k <= 320 then 18
               when k <= 330 then 14
               when k <= 340 then 13
               when k <= 350 then 17
               else case when g % 20 <= 10 then 14 when g % 20 <= 14 then 13
                         when g % 20 <= 17 then 18 else 7 end
           end as ct,
           case
               when k <= 40 then u * 500 + 5
               when k <= 300 then u * 1000 + 10
               when k <= 309 then u * 200 + 3
               when k <= 320 then u * 200 + 4
               when k <= 330 then u * 1000 + 250                 -- deleted order
               when k <= 340 then u * 500 + 111                  -- deleted patient
               when k <= 350 then 9000 + u * 10 + k - 340        -- faxmessage ids (no table)
               when g % 20 <= 10 then u * 1000 + on_ + case when on_ % 500 = 250 then 1 else 0 end
               when g % 20 <= 14 then u * 500 + pn + case when pn % 250 = 111 then 1 else 0 end
               when g % 20 <= 17 then u * 200 + 1 + (g * 11) % 200
               else u * 20 + 1 + g % 20
           end as obj
    from (select (k - 351) / 5 as g) gg
    cross join lateral (select 1 + ((k - 351) / 5 * 37) % 1000 as on_,
                               1 + ((k - 351) / 5 * 53) % 500 as pn) q
) t;

-- ---------------------------------------------------------------------
-- Sequences follow the explicit ids
-- ---------------------------------------------------------------------

do $$
declare
    r record;
begin
    for r in
        select c.relname as tbl, a.attname as col
        from pg_class c
        join pg_namespace ns on ns.oid = c.relnamespace and ns.nspname = 'public'
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0
        where c.relkind = 'r' and pg_get_serial_sequence(c.relname, a.attname) is not null
    loop
        execute format('select setval(%L, (select max(%I) from %I))',
                       pg_get_serial_sequence(r.tbl, r.col), r.col, r.tbl);
    end loop;
end $$;

commit;

analyze;
