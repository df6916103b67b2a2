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

    -- rows this rollback would not delete that point at rows it would
    for s in select * from rollback_spec order by ord loop
        continue when s.target is null or s.target = '-' or s.uuid_col = '';
        for fk in
            select c.conrelid::regclass as rt, a.attname as rc,
                   (select pa.attname from pg_index i join pg_attribute pa
                      on pa.attrelid = i.indrelid and pa.attnum = i.indkey[0]
                    where i.indrelid = c.conrelid and i.indisprimary and i.indnatts = 1) as rpk
            from pg_constraint c
            join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
            where c.contype = 'f' and c.confrelid = s.target::regclass and array_length(c.conkey, 1) = 1
        loop
            if fk.rpk is null then
                continue;
            end if;
            execute format(
                'select count(*) from %s r where r.%I in (select uuid from ferry.id_map where run_id = $1 and entity = $2)
                   and not exists (select 1 from ferry.id_map m where m.run_id = $1 and m.uuid = r.%I)',
                fk.rt, fk.rc, fk.rpk) into n using run, s.entity;
            if n > 0 then
                raise notice 'cannot undo: % rows of % (not inserted by run %) reference rows of % it inserted (column %)',
                    n, fk.rt, run, s.target, fk.rc;
                blocked := blocked + n;
            end if;
        end loop;
    end loop;
    if blocked > 0 then
        raise exception 'rollback of run % refused: % rows inserted since then depend on it (listed above)', run, blocked;
    end if;

    -- a foreign key cycle (a deferred column, such as offices.billing_address_id):
    -- rows of the run that reference a table whose rows are deleted before
    -- theirs would block that delete, so their nullable references to it are
    -- set NULL first (the rows go next)
    if not dry then
        for s in select * from rollback_spec order by ord loop
            continue when s.target is null or s.target = '-' or s.uuid_col = '';
            for fk in
                select distinct a.attname as rc
                from pg_constraint c
                join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
                join rollback_spec e on e.ord < s.ord and e.target is not null and e.target <> '-'
                     and c.confrelid = e.target::regclass
                where c.contype = 'f' and c.conrelid = s.target::regclass and c.confrelid <> c.conrelid
                  and array_length(c.conkey, 1) = 1 and not a.attnotnull
            loop
                execute format('update %s set %I = null where %I is not null
                                  and %I in (select uuid from ferry.id_map where run_id = $1 and entity = $2)',
                               s.target, fk.rc, fk.rc, s.uuid_col) using run, s.entity;
            end loop;
        end loop;
    end if;

    for s in select * from rollback_spec order by ord loop
        continue when s.target is null or s.target = '-' or s.uuid_col = '';
        if dry then
            select count(*) into n from ferry.id_map where run_id = run and entity = s.entity;
            raise notice '% : would delete % rows from %', s.entity, n, s.target;
        else
            execute format('delete from %s where %I in (select uuid from ferry.id_map where run_id = $1 and entity = $2)',
                           s.target, s.uuid_col) using run, s.entity;
            get diagnostics n = row_count;
            raise notice '% : deleted % rows from %', s.entity, n, s.target;
        end if;
        total := total + n;
        -- rows the run wrote but did not insert (upserts of older rows)
        select greatest(coalesce(r.loaded_rows, 0)
                        - (select count(*) from ferry.id_map m where m.run_id = run and m.entity = s.entity), 0)
          into updated
          from ferry.entity_runs r where r.run_id = run and r.entity = s.entity;
        if coalesce(updated, 0) > 0 then
            raise notice 'cannot undo: % rows of % that run % updated keep their new values (no before-images)',
                updated, s.target, run;
        end if;
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
