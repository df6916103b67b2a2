-- status.sql: one run of ferry as a JSON object, read from ferry's books in
-- the destination ("ferry status", "ferry run --metrics", "--notify", and
-- ferry-serve): ferry-books and ferry-serve run it (lib/runstatus.c) as
--
--   psql -X -qAt -v run=RUN -v detail=0|1 -f status.sql
--
-- run: the run id; empty: the latest run.  detail=1 adds, per step, what
-- the stages' events in ferry.audit_log tell (rows read, batch latencies,
-- bytes and peak memory of each stage) and the run's rejects by reason.
-- Prints nothing when there is no such run.  Reads only.
--
-- Where each figure comes from:
--   state     ferry.entity_runs.status; a 'running' step is "loading" once
--             its load has committed a batch (a checkpoint row: it is
--             committed with each batch), "extracting" before (extract and
--             transform, and a load that has not committed yet), and
--             "interrupted" when no ferry process holds the run
--   alive     the advisory lock hashtextextended('ferry run ' || run_id, 0)
--             is held by a session of this database: the bookkeeping session
--             of the ferry process running the run (scripts/ferry, execute)
--   rows      loaded + rejected: from the checkpoints while the step runs,
--             from ferry.entity_runs once it has ended
--   expected  the source's estimate recorded when the run started
--             (reltuples, or the count of a small table), the count once done
\set ON_ERROR_STOP on
\if :{?detail}
\else
\set detail 0
\endif
select coalesce(nullif(:'run', ''),
                (select run_id from ferry.runs order by started_at desc, run_id desc limit 1), '')
       as ferry_status_run \gset

with r as (
    select r.*,
           exists (select 1 from pg_locks l
                   where l.locktype = 'advisory' and l.granted and l.objsubid = 1
                     and l.database = (select oid from pg_database where datname = current_database())
                     and l.classid::bigint = (k.k >> 32) & 4294967295
                     and l.objid::bigint = k.k & 4294967295) as alive,
           extract(epoch from coalesce(r.finished_at, now()) - r.started_at) as elapsed,
           extract(epoch from now() - coalesce(r.attempt_started_at, r.started_at)) as attempt_elapsed
    from ferry.runs r
    cross join lateral (select hashtextextended('ferry run ' || r.run_id, 0) as k) k
    where r.run_id = :'ferry_status_run'
),
ck as (
    -- the checkpoints of each step: a split entity has one a part (load/1 ...)
    select e.entity, count(c.run_id) as parts, sum(c.rows_loaded) as loaded,
           sum(c.rows_rejected) as rejected, sum(c.batches) as batches, max(c.updated_at) as updated_at
    from ferry.entity_runs e
    left join ferry.checkpoints c
      on c.run_id = e.run_id and c.entity = split_part(e.entity, ':', 1)
     and case when e.entity like '%:%' then c.phase = 'fixup'
              else c.phase = 'load' or c.phase like 'load/%' end
    where e.run_id = :'ferry_status_run'
    group by e.entity
),
e0 as (
    select e.entity, e.status, e.started_at, e.finished_at, e.expected_rows, e.noted_rows,
           -- what the step's deletes did (ferry-delete; an older schema has no such column)
           to_jsonb(e)->'deletes' as deletes,
           case when e.status = 'running' and not r.alive then 'interrupted'
                when e.status = 'running' and ck.parts > 0 then 'loading'
                when e.status = 'running' then 'extracting'
                else e.status end as state,
           case when e.status = 'running' and ck.parts > 0 then 'loading'
                when e.status = 'running' then 'extracting' end as stage,
           case when e.status in ('done', 'failed', 'rolled_back') and e.loaded_rows is not null
                then e.loaded_rows else coalesce(ck.loaded, 0) end as loaded,
           case when e.status in ('done', 'failed', 'rolled_back') and e.rejected_rows is not null
                then e.rejected_rows else coalesce(ck.rejected, 0) end as rejected,
           coalesce(ck.batches, 0) as batches,
           extract(epoch from coalesce(e.finished_at, now())
                              - coalesce(e.attempt_started_at, e.started_at)) as seconds,
           coalesce(e.attempt_started_at, e.started_at) as attempt_started_at
    from ferry.entity_runs e
    join ck using (entity)
    cross join r
    where e.run_id = r.run_id
),
e1 as (
    select entity, status, started_at, finished_at, noted_rows, deletes, state, stage, loaded, rejected, batches,
           seconds, attempt_started_at, loaded + rejected as rows_done,
           -- a step done by a ferry that did not record the rows expected: its count
           coalesce(expected_rows, case when status = 'done' then loaded + rejected end) as expected_rows,
           case when state in ('loading', 'extracting', 'done') and seconds > 0 and loaded + rejected > 0
                then (loaded + rejected) / seconds end as rate
    from e0
),
ents as (
    select e1.*,
           case when state in ('loading', 'extracting') and rate > 0 and expected_rows > rows_done
                then round((expected_rows - rows_done) / rate) end as eta
    from e1
),
tot as (
    select count(*) as entities,
           count(*) filter (where state = 'done') as done,
           count(*) filter (where state = 'failed') as failed,
           count(*) filter (where state in ('loading', 'extracting')) as running,
           count(*) filter (where state = 'interrupted') as interrupted,
           count(*) filter (where state = 'pending') as pending,
           -- rows: the entities' (a fix-up step updates rows its entity brought)
           coalesce(sum(rows_done) filter (where entity not like '%:%'), 0) as rows_done,
           coalesce(sum(greatest(coalesce(expected_rows, rows_done), rows_done))
                    filter (where entity not like '%:%'), 0) as rows_expected,
           count(*) filter (where expected_rows is null and state <> 'done' and entity not like '%:%')
               as unknown_expected,
           -- the rows of this attempt (the steps begun since it started)
           coalesce(sum(rows_done) filter (where entity not like '%:%' and attempt_started_at
                                           >= (select coalesce(attempt_started_at, started_at) from r)), 0)
               as attempt_rows
    from ents
),
audit as (
    -- the stages' events of each step (the driver tags each with its step)
    select coalesce(a.data->>'step', a.entity) as entity,
           sum((a.data->>'rows')::bigint) filter (where a.event = 'extract_end') as rows_read,
           count(*) filter (where a.event = 'batch') as batches,
           sum((a.data->>'ms')::numeric) filter (where a.event = 'batch') / 1000 as batch_sum,
           percentile_cont(0.5) within group (order by (a.data->>'ms')::numeric) filter (where a.event = 'batch') / 1000 as p50,
           percentile_cont(0.9) within group (order by (a.data->>'ms')::numeric) filter (where a.event = 'batch') / 1000 as p90,
           percentile_cont(0.99) within group (order by (a.data->>'ms')::numeric) filter (where a.event = 'batch') / 1000 as p99,
           max((a.data->>'ms')::numeric) filter (where a.event = 'batch') / 1000 as pmax
    from ferry.audit_log a
    where :detail::int = 1 and a.run_id = :'ferry_status_run' and a.entity is not null
      and a.event in ('extract_end', 'batch')
    group by 1
),
stages as (
    select coalesce(a.data->>'step', a.entity) as entity, regexp_replace(a.program, '^ferry-', '') as stage,
           max((a.data->>'max_rss_kb')::bigint) * 1024 as peak_memory_bytes,
           sum((a.data->>'bytes_in')::bigint) as bytes_in,
           sum((a.data->>'bytes_out')::bigint) as bytes_out
    from ferry.audit_log a
    where :detail::int = 1 and a.run_id = :'ferry_status_run' and a.entity is not null
      and a.event like '%\_end' and a.data ? 'max_rss_kb'
    group by 1, 2
)
select jsonb_build_object(
    'ferry', 'status', 'version', 1,
    'run', r.run_id, 'kind', r.kind, 'status', r.status,
    'state', case when r.status = 'running' and not r.alive then 'interrupted' else r.status end,
    'alive', r.alive,
    'driver', jsonb_build_object('host', r.driver_host, 'pid', r.driver_pid),
    'workdir', r.workdir, 'spool', r.spool,
    'started_at', r.started_at, 'finished_at', r.finished_at,
    'started_at_epoch', round(extract(epoch from r.started_at)::numeric, 3),
    'attempt_started_at', coalesce(r.attempt_started_at, r.started_at),
    'elapsed_seconds', round(r.elapsed::numeric, 3),
    'success_rate', r.success_rate,
    'source_rows', r.source_rows, 'loaded_rows', r.loaded_rows, 'rejected_rows', r.rejected_rows,
    'entities', coalesce((
        select jsonb_agg(jsonb_build_object(
            'entity', x.entity, 'state', x.state, 'stage', x.stage, 'status', x.status,
            'rows_done', x.rows_done, 'rows_expected', x.expected_rows,
            'loaded', x.loaded, 'rejected', x.rejected, 'repaired', coalesce(x.noted_rows, 0),
            'batches', x.batches,
            'rows_per_second', round(x.rate::numeric, 1), 'eta_seconds', x.eta,
            'seconds', case when x.attempt_started_at is not null then round(x.seconds::numeric, 3) end,
            'started_at', x.started_at, 'finished_at', x.finished_at, 'deletes', x.deletes)
            || case when :detail::int = 1 then jsonb_build_object(
                'rows_read', coalesce(a.rows_read, 0),
                'batch_latency', jsonb_build_object(
                    'count', coalesce(a.batches, 0), 'sum', coalesce(a.batch_sum, 0),
                    'p50', a.p50, 'p90', a.p90, 'p99', a.p99, 'max', a.pmax),
                'stages', coalesce((select jsonb_agg(jsonb_build_object(
                        'stage', s.stage, 'peak_memory_bytes', s.peak_memory_bytes,
                        'bytes_in', s.bytes_in, 'bytes_out', s.bytes_out) order by s.stage)
                    from stages s where s.entity = x.entity), '[]'::jsonb))
              else '{}'::jsonb end
            order by x.started_at nulls last, x.entity)
        from ents x left join audit a using (entity)), '[]'::jsonb),
    'totals', (select jsonb_build_object(
        'entities', t.entities, 'done', t.done, 'failed', t.failed, 'running', t.running,
        'interrupted', t.interrupted, 'pending', t.pending,
        'rows_done', t.rows_done, 'rows_expected', t.rows_expected,
        'rows_left', t.rows_expected - t.rows_done,
        'unknown_expected', t.unknown_expected,
        'percent', case when t.rows_expected > 0 then round(100.0 * t.rows_done / t.rows_expected, 1) end,
        'rows_per_second', case when r.status = 'running' and r.alive and r.attempt_elapsed > 0 and t.attempt_rows > 0
                                then round((t.attempt_rows / r.attempt_elapsed)::numeric, 1) end,
        'eta_seconds', case when r.status = 'running' and r.alive and r.attempt_elapsed > 0 and t.attempt_rows > 0
                                 and t.rows_expected > t.rows_done
                            then round((t.rows_expected - t.rows_done) / (t.attempt_rows / r.attempt_elapsed)) end)
        from tot t),
    'left', coalesce((select jsonb_agg(x.entity order by x.started_at nulls last, x.entity)
                      from ents x where x.state not in ('done', 'rolled_back')), '[]'::jsonb))
    || case when :detail::int = 1 then jsonb_build_object(
        'rejects_by_reason', coalesce((select jsonb_object_agg(reason, n) from (
            select reason, count(*) as n from ferry.rejects
            where run_id = r.run_id and disposition = 'rejected' group by reason) q), '{}'::jsonb),
        'repaired_rows', (select count(*) from ferry.rejects
                          where run_id = r.run_id and disposition = 'repaired'))
       else '{}'::jsonb end
from r;
