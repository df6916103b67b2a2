-- rollback.sql: undo what one run inserted ("ferry rollback RUN").
-- psql variables: run (the run id), spec (a file of "entity<TAB>target<TAB>uuid
-- column" lines in reverse load order), dry (1: report only).
--
-- Rows are found through ferry.id_map (the run that first inserted each
-- row).  Everything happens in one transaction, with triggers and
-- foreign keys on, so that the destination's own rules still hold.  The
-- rollback refuses, and says why, when it cannot undo the run exactly:
-- a later run still stands, or rows it did not insert reference rows it did.
-- What a run updated (incremental upserts, deferred fix-ups of older rows)
-- keeps its new values: ferry keeps no before-images, and says how many.
--
-- Every query is set-based: the run's rows are read from ferry.id_map once
-- into a temporary table indexed by uuid (ferry.id_map has no index on
-- run_id or uuid, on purpose: see ferry-schema.sql), and each check or
-- delete is one join of a destination table with it.  Only foreign keys to
-- an entity's uuid column are followed: a key that references another
-- column (a natural key such as currencies.code) never holds a uuid of
-- the id map.

\set ON_ERROR_STOP on
set client_min_messages = notice;

begin;
-- a foreign key cycle loaded with forward references (both columns NOT
-- NULL): the rows of the later entity are deleted first while the earlier
-- ones still point at them; a DEFERRABLE key waits for the commit, when
-- both are gone (a key that is not deferrable refuses the rollback)
set constraints all deferred;
\o /dev/null
select set_config('ferry.rollback_run', :'run', true), set_config('ferry.rollback_dry', :'dry', true);
\o

create temp table rollback_spec (entity text, target text, uuid_col text, ord serial) on commit drop;
\set cmd '\\copy rollback_spec (entity, target, uuid_col) from ' :'spec'
:cmd

do $$
declare
    run text := current_setting('ferry.rollback_run');
    dry boolean := current_setting('ferry.rollback_dry') = '1';
    later text;
    s record;
    fk record;
    kept text;
    n bigint;
    total bigint := 0;
    blocked bigint := 0;
    updated bigint;
begin
    select string_agg(run_id, ', ' order by started_at) into later
    from ferry.runs
    where started_at > (select started_at from ferry.runs where run_id = run)
      and status <> 'rolled_back'
      -- a run that failed at its start (no step begun) changed nothing
      and exists (select 1 from ferry.entity_runs e
                  where e.run_id = ferry.runs.run_id and e.status <> 'pending');
    if later is not null then
        raise exception 'cannot roll back run %: later runs still stand (%); roll them back first', run, later;
    end if;

    -- a bulk load's indexes not built again yet (a killed load): the driver
    -- builds them first (ferry-load --rebuild-indexes); without them the
    -- deletes below would scan whole tables, and the keys would not be checked
    if to_regclass('ferry.bulk_indexes') is not null then
        execute 'select string_agg(distinct target, '', '') from ferry.bulk_indexes' into later;
        if later is not null then
            raise exception 'cannot roll back run % yet: indexes of % dropped by a bulk load are not built again (ferry-load --rebuild-indexes)', run, later;
        end if;
    end if;

    -- the entities whose rows go, with their tables, in reverse load order
    create temp table rollback_entity on commit drop as
        select p.ord, p.entity, p.target::regclass::oid as rel, p.target, p.uuid_col
        from rollback_spec p
        where p.target is not null and p.target <> '-' and p.uuid_col <> '';
    -- the rows the run inserted: one read of the id map
    create temp table rollback_row on commit drop as
        select e.entity, e.rel, m.uuid
        from ferry.id_map m join rollback_entity e on e.entity = m.entity
        where m.run_id = run;
    create index on rollback_row (rel, uuid);
    create index on rollback_row (entity, uuid);
    create temp table rollback_index (ix text) on commit drop;
    analyze rollback_row;

    -- rows this rollback would not delete that point at rows it would,
    -- through a single-column foreign key to an entity's uuid column
    for fk in
        select distinct c.conrelid::regclass as rt, c.conrelid as rt_oid, a.attname as rc,
               e.rel as tt_oid, e.target
        from rollback_entity e
        join pg_attribute ua on ua.attrelid = e.rel and ua.attname = e.uuid_col
        join pg_constraint c on c.contype = 'f' and c.confrelid = e.rel
             and array_length(c.conkey, 1) = 1 and c.confkey[1] = ua.attnum
        join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    loop
        -- the rows of the referencing table that this rollback deletes itself
        select string_agg(format('not exists (select 1 from pg_temp.rollback_row k where k.rel = %s and k.uuid = r.%I)',
                                 o.rel, o.uuid_col), ' and ')
          into kept
          from (select distinct rel, uuid_col from rollback_entity where rel = fk.rt_oid) o;
        execute format('select count(*) from %s r where r.%I in (select d.uuid from pg_temp.rollback_row d where d.rel = %s) and %s',
                       fk.rt, fk.rc, fk.tt_oid, coalesce(kept, 'true')) into n;
        if n > 0 then
            raise notice 'cannot undo: % rows of % (not inserted by run %) reference rows of % it inserted (column %)',
                n, fk.rt, run, fk.target, fk.rc;
            blocked := blocked + n;
        end if;
    end loop;
    if blocked > 0 then
        raise exception 'rollback of run % refused: % rows inserted since then depend on it (listed above)', run, blocked;
    end if;

    -- each deleted row is checked by its foreign keys' triggers against the
    -- tables that reference it: without an index on the referencing column,
    -- every check scans the whole table (the rows this rollback has already
    -- deleted from it included), which grows with the square of the run's
    -- size.  Where the destination has no such index, one is built for the
    -- rollback's deletes and dropped before the commit (it needs the table's
    -- owner: otherwise the rollback is as correct, and slower).
    if not dry then
        for fk in
            select distinct c.conrelid::regclass as rt, a.attname as rc,
                   format('ferry_rollback_%s_%s', c.conrelid, a.attnum) as ix, r.relnamespace::regnamespace as ns,
                   pg_has_role(r.relowner, 'USAGE') as owner
            from rollback_entity e
            join pg_constraint c on c.contype = 'f' and c.confrelid = e.rel and array_length(c.conkey, 1) = 1
            join pg_class r on r.oid = c.conrelid
            join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
            where not exists (select 1 from pg_index i
                              where i.indrelid = c.conrelid and i.indkey[0] = c.conkey[1] and i.indpred is null)
        loop
            if fk.owner then
                execute format('create index %I on %s (%I)', fk.ix, fk.rt, fk.rc);
                insert into rollback_index values (format('%s.%I', fk.ns, fk.ix));
            else
                raise notice 'no index on %.% (not its owner): each row deleted is checked by a scan of %', fk.rt, fk.rc, fk.rt;
            end if;
        end loop;
    end if;

    -- a foreign key cycle (a deferred column, such as offices.billing_address_id):
    -- rows of the run that reference a table whose rows are deleted before
    -- theirs would block that delete, so their nullable references to it are
    -- set NULL first (the rows go next)
    if not dry then
        for s in select * from rollback_entity order by ord loop
            for fk in
                select distinct a.attname as rc
                from pg_constraint c
                join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
                join rollback_entity e on e.ord < s.ord and c.confrelid = e.rel
                where c.contype = 'f' and c.conrelid = s.rel and c.confrelid <> c.conrelid
                  and array_length(c.conkey, 1) = 1 and not a.attnotnull
            loop
                execute format('update %s set %I = null where %I is not null
                                  and %I in (select uuid from pg_temp.rollback_row where entity = $1)',
                               s.target, fk.rc, fk.rc, s.uuid_col) using s.entity;
            end loop;
        end loop;
    end if;

    for s in select * from rollback_entity order by ord loop
        if dry then
            select count(*) into n from pg_temp.rollback_row d where d.entity = s.entity;
            raise notice '% : would delete % rows from %', s.entity, n, s.target;
        else
            execute format('delete from %s where %I in (select uuid from pg_temp.rollback_row where entity = $1)',
                           s.target, s.uuid_col) using s.entity;
            get diagnostics n = row_count;
            raise notice '% : deleted % rows from %', s.entity, n, s.target;
        end if;
        total := total + n;
        -- rows the run wrote but did not insert (upserts of older rows)
        select greatest(coalesce(r.loaded_rows, 0)
                        - (select count(*) from pg_temp.rollback_row d where d.entity = s.entity), 0)
          into updated
          from ferry.entity_runs r where r.run_id = run and r.entity = s.entity;
        if coalesce(updated, 0) > 0 then
            raise notice 'cannot undo: % rows of % that run % updated keep their new values (no before-images)',
                updated, s.target, run;
        end if;
    end loop;

    for s in select * from rollback_index loop
        execute format('drop index %s', s.ix);
    end loop;

    if not dry then
        delete from ferry.id_map where run_id = run;
        delete from ferry.checkpoints where run_id = run;
        update ferry.entity_runs set status = 'rolled_back' where run_id = run;
        update ferry.runs set status = 'rolled_back', finished_at = now() where run_id = run;
        insert into ferry.audit_log (ts, run_id, program, entity, event, data)
        values (now(), run, 'ferry', null, 'rollback', jsonb_build_object('deleted', total));
    end if;
    raise notice 'run %: % rows % ', run, total, case when dry then 'would be deleted (dry run)' else 'deleted' end;
end $$;

-- The rows the run's deletes removed or changed (ferry-delete(1), saved whole
-- in ferry.deletes before each change) are put back as they were: rows
-- deleted (and those the destination's ON DELETE CASCADE took) inserted
-- again, parents first (the batches in the reverse of the order they ran,
-- each batch's rows in the order they were reached), then the rows whose
-- reference was set NULL or that were flagged given their saved values
-- again, found by their primary key.  When the role may, with triggers and
-- foreign keys off (session_replication_role = replica, as ferry-load
-- loads): a row comes back exactly, and an insert trigger (a profile made
-- for a new user) does not make a second one.
do $$
declare
    run text := current_setting('ferry.rollback_run');
    dry boolean := current_setting('ferry.rollback_dry') = '1';
    s record;
    t record;
    n bigint := 0;
begin
    if to_regclass('ferry.deletes') is null then
        return;
    end if;
    if dry then
        for s in select target, action, count(*) as rows from ferry.deletes
                 where run_id = run and action in ('deleted', 'cascaded', 'set_null', 'flagged')
                 group by 1, 2 order by 1, 2 loop
            raise notice '% : would restore % rows (%)', s.target, s.rows, s.action;
        end loop;
        return;
    end if;
    begin
        perform set_config('session_replication_role', 'replica', true);
    exception when insufficient_privilege then
        raise notice 'restoring deleted rows with triggers on (the role may not set session_replication_role)';
    end;
    -- each table's columns that take a value (not generated), and its primary key
    create temp table restore_cols on commit drop as
    select d.target,
           string_agg(quote_ident(a.attname), ', ' order by a.attnum) as cols,
           (select string_agg(quote_ident(pa.attname), ', ' order by k.ord)
              from pg_index x
              cross join lateral unnest(x.indkey::int2[]) with ordinality k(att, ord)
              join pg_attribute pa on pa.attrelid = x.indrelid and pa.attnum = k.att
             where x.indrelid = d.target::regclass and x.indisprimary) as pk
    from (select distinct target from ferry.deletes where run_id = run) d
    join pg_attribute a on a.attrelid = d.target::regclass and a.attnum > 0
         and not a.attisdropped and a.attgenerated = ''
    group by d.target;

    for s in select d.target, d.row_data, c.cols
             from ferry.deletes d join restore_cols c using (target)
             where d.run_id = run and d.action in ('deleted', 'cascaded')
             order by min(d.id) over (partition by d.entity, d.batch) desc, d.id loop
        execute format('insert into %s (%s) overriding system value select %s from jsonb_populate_record(null::%s, $1)',
                       s.target, s.cols, s.cols, s.target) using s.row_data;
        n := n + 1;
    end loop;
    for s in select d.target, d.row_data, c.cols, c.pk
             from ferry.deletes d join restore_cols c using (target)
             where d.run_id = run and d.action in ('set_null', 'flagged')
             order by d.id desc loop
        if s.pk is null then
            raise exception 'cannot roll back run %: % has no primary key to find its rows set NULL or flagged by', run, s.target;
        end if;
        execute format('update %s set (%s) = (select %s from jsonb_populate_record(null::%s, $1)) '
                       'where (%s) = (select %s from jsonb_populate_record(null::%s, $1))',
                       s.target, s.cols, s.cols, s.target, s.pk, s.pk, s.target) using s.row_data;
        n := n + 1;
    end loop;
    for t in select entity, count(*) filter (where action = 'deleted') as deleted,
                    count(*) filter (where action in ('cascaded', 'set_null', 'flagged')) as others
             from ferry.deletes where run_id = run group by 1 order by 1 loop
        if t.deleted + t.others > 0 then
            raise notice '% : restored % rows deleted (and % rows the deletes reached or flagged)',
                t.entity, t.deleted, t.others;
        end if;
    end loop;
    delete from ferry.deletes where run_id = run;
    if n > 0 then
        update ferry.audit_log set data = data || jsonb_build_object('restored', n)
        where run_id = run and event = 'rollback';
    end if;
end $$;

commit;
