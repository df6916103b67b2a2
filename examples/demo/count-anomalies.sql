-- =====================================================================
-- ferry demo: measure a loaded legacy database
--
--   psql -X -q -d demo_legacy -f count-anomalies.sql > measured.tsv
--   diff measured.tsv expected-scale1.tsv
--
-- Prints a TSV "table<TAB>metric<TAB>count": the row count of every table,
-- then each anomaly metric that is not zero.  The checks do not reuse the
-- generator's id rules: most scan every column of a kind (catalog-driven),
-- the rest follow references, so unplanned dirt shows up too.  Read-only.
-- =====================================================================

\set ON_ERROR_STOP on
set client_min_messages = warning;

create temp table m (tbl text, metric text, n bigint);

create function pg_temp.is_json(t text) returns boolean
language plpgsql immutable
as $$
begin
    perform t::jsonb;
    return true;
exception when others then
    return false;
end $$;

-- ---------------------------------------------------------------------
-- Every table, every column of a kind
-- ---------------------------------------------------------------------
do $$
declare
    t record;
    c text;
    n bigint;
    keycol text;
begin
    for t in
        select c.oid, c.relname::text as tbl,
               coalesce(array_agg(a.attname::text order by a.attnum)
                        filter (where a.atttypid in ('timestamp'::regtype, 'timestamptz'::regtype, 'date'::regtype)), '{}') as tcols,
               coalesce(array_agg(a.attname::text order by a.attnum)
                        filter (where a.atttypid in ('text'::regtype, 'varchar'::regtype)), '{}') as scols,
               coalesce(array_agg(a.attname::text order by a.attnum)
                        filter (where a.atttypid = 'bpchar'::regtype and a.atttypmod = 5), '{}') as flagcols,
               bool_or(a.attname = 'updated_at') as has_updated_at
        from pg_class c
        join pg_namespace ns on ns.oid = c.relnamespace and ns.nspname = 'public'
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relkind = 'r'
        group by c.oid, c.relname
    loop
        execute format('select count(*) from %I', t.tbl) into n;
        insert into m values (t.tbl, 'rows', n);

        -- id gaps: missing values between min and max of a one-column integer key
        select a.attname into keycol
        from pg_index i
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
        where i.indrelid = t.oid and i.indisprimary and i.indnatts = 1
          and a.atttypid in ('int4'::regtype, 'int8'::regtype);
        if found then
            execute format('select coalesce(max(%1$I) - min(%1$I) + 1 - count(*), 0) from %2$I', keycol, t.tbl) into n;
            insert into m values (t.tbl, 'id_gaps', n);
        end if;

        if t.has_updated_at then
            execute format('select count(*) from %I where updated_at is null', t.tbl) into n;
            insert into m values (t.tbl, 'null_updated_at', n);
        end if;

        -- char(1) flags: anything but Y / N
        foreach c in array t.flagcols loop
            execute format('select count(*) from %I where %I not in (''Y'', ''N'')', t.tbl, c) into n;
            insert into m values (t.tbl, 'yn_nonstandard', n);
        end loop;

        foreach c in array t.tcols loop
            execute format('select count(*) from %I where not isfinite(%I)', t.tbl, c) into n;
            insert into m values (t.tbl, 'infinity', n);
            execute format('select count(*) from %1$I where isfinite(%2$I) and %2$I < ''1000-01-01''', t.tbl, c) into n;
            insert into m values (t.tbl, 'year_0001', n);
        end loop;

        foreach c in array t.scols loop
            -- C0 controls other than TAB, LF, CR; and DEL
            execute format('select count(*) from %I where %I ~ ''[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]''', t.tbl, c) into n;
            insert into m values (t.tbl, 'control_chars', n);
            execute format('select count(*) from %I where %I ~ ''[\U0001F000-\U0001FAFF]''', t.tbl, c) into n;
            insert into m values (t.tbl, 'emoji', n);
            execute format('select count(*) from %I where length(%I) > 100000', t.tbl, c) into n;
            insert into m values (t.tbl, 'huge_text', n);
        end loop;
    end loop;
end $$;

-- ---------------------------------------------------------------------
-- NULL in columns the destination declares NOT NULL
-- ---------------------------------------------------------------------
insert into m
select 'dispatch_order', 'null_required', count(*) from dispatch_order where office_id is null
union all
select 'dispatch_patient', 'null_required', count(*) from dispatch_patient where last_name is null
union all
select 'dispatch_invoice', 'null_required', count(*) from dispatch_invoice where issued_on is null
union all
select 'dispatch_comment', 'null_required', count(*) from dispatch_comment where body is null;

-- ---------------------------------------------------------------------
-- JSON kept in text
-- ---------------------------------------------------------------------
insert into m
select 'dispatch_order', 'invalid_json', count(*)
from dispatch_order where metadata is not null and not pg_temp.is_json(metadata)
union all
select 'dispatch_userprofile', 'invalid_json', count(*)
from dispatch_userprofile where preferences is not null and not pg_temp.is_json(preferences);

-- ---------------------------------------------------------------------
-- Users
-- ---------------------------------------------------------------------
insert into m
select 'auth_user', 'blank_email', count(*) from auth_user where btrim(email) = ''
union all
select 'auth_user', 'email_case_duplicate', count(*)
from auth_user a
where a.email <> ''
  and exists (select from auth_user b
              where b.id <> a.id and lower(b.email) = lower(a.email) and b.email <> a.email)
union all
select 'auth_user', 'missing_userprofile', count(*)
from auth_user a
where not exists (select from dispatch_userprofile p where p.user_id = a.id);

-- ---------------------------------------------------------------------
-- References without a FK constraint
-- ---------------------------------------------------------------------
insert into m
select 'dispatch_order', 'orphan_fk', count(*)
from dispatch_order o
where o.patient_id is not null
  and not exists (select from dispatch_patient p where p.id = o.patient_id)
union all
select 'dispatch_orderevent', 'dangling_ref', count(*)
from dispatch_orderevent e
where e.actor_id is not null
  and not exists (select from auth_user u where u.id = e.actor_id)
union all
select 'dispatch_invoiceline', 'dangling_ref', count(*)
from dispatch_invoiceline l
where l.order_id is not null
  and not exists (select from dispatch_order o where o.id = l.order_id)
union all
select 'dispatch_comment', 'missing_author', count(*)
from dispatch_comment c
where c.author_id is not null
  and not exists (select from auth_user u where u.id = c.author_id);

-- ---------------------------------------------------------------------
-- Comment targets (generic relation): the model's table is
-- <app_label>_<model>; no such table = stale content type
-- ---------------------------------------------------------------------
do $$
declare
    r record;
    n bigint;
    stale bigint := 0;
    gone bigint := 0;
begin
    for r in
        select ct.id, ct.app_label, ct.model, to_regclass(format('public.%I', ct.app_label || '_' || ct.model)) as rel
        from django_content_type ct
        where exists (select from dispatch_comment c where c.content_type_id = ct.id)
    loop
        if r.rel is null then
            select count(*) into n from dispatch_comment where content_type_id = r.id;
            stale := stale + n;
        else
            execute format('select count(*) from dispatch_comment c
                            where c.content_type_id = $1
                              and not exists (select from %s t where t.id = c.object_id)', r.rel)
                into n using r.id;
            gone := gone + n;
        end if;
    end loop;
    insert into m values ('dispatch_comment', 'stale_content_type', stale),
                         ('dispatch_comment', 'deleted_target', gone);
end $$;

-- ---------------------------------------------------------------------
-- Comment tree: walk every comment up to its root
-- ---------------------------------------------------------------------
create temp table walk as
with recursive w (id, cur, path, steps) as (
    select id, parent_id, array[id], 0 from dispatch_comment
    union all
    select w.id, p.parent_id, w.path || w.cur, w.steps + 1
    from w
    join dispatch_comment p on p.id = w.cur
    where w.cur <> all (w.path)
)
select distinct on (id) id, cur, path, steps
from w
order by id, steps desc;

insert into m
select 'dispatch_comment', 'missing_parent', count(*)            -- parent row does not exist
from walk where cur is not null and cur <> all (path) and steps = 0
union all
select 'dispatch_comment', 'under_missing_parent', count(*)      -- an ancestor's parent does not exist
from walk where cur is not null and cur <> all (path) and steps > 0
union all
select 'dispatch_comment', 'self_parent', count(*)
from dispatch_comment where parent_id = id
union all
select 'dispatch_comment', 'parent_cycle', count(*)              -- on a cycle of 2 or more
from walk w join dispatch_comment c using (id)
where w.cur = w.id and c.parent_id <> c.id
union all
select 'dispatch_comment', 'under_cycle', count(*)               -- reaches a cycle it is not part of
from walk where cur = any (path) and cur <> id
union all
select 'dispatch_comment', 'shape_max_depth', coalesce(max(steps), 0)
from walk where cur is null
union all
select 'dispatch_comment', 'shape_max_replies', coalesce(max(n), 0)
from (select parent_id, count(*) as n from dispatch_comment
      where parent_id is not null group by parent_id) r;

-- ---------------------------------------------------------------------
-- Output
-- ---------------------------------------------------------------------
\pset format unaligned
\pset fieldsep '\t'
\pset footer off
select tbl as "table", metric, sum(n) as count
from m
group by tbl, metric
having metric = 'rows' or sum(n) <> 0
order by tbl, metric <> 'rows', metric;
