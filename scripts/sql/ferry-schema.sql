-- ferry's own bookkeeping in the destination database ("ferry init").
-- Idempotent: safe to run again; never touches application tables.
-- Schema "ferry" holds runs, id mappings, checkpoints, rejects, the audit
-- log and schema changes; schema "ferry_backup" holds column backups made
-- by "ferry cleanup backup".

\set ON_ERROR_STOP on
set client_min_messages = warning;

begin;

create schema if not exists ferry;
create schema if not exists ferry_backup;

create table if not exists ferry.meta (
    key     text primary key,
    value   text not null
);
-- 2: runs.driver_host/driver_pid/attempt_started_at,
--    entity_runs.expected_rows/attempt_started_at (ferry status, --metrics)
-- 3: lock_holders; the states pending and interrupted (ferry-books(1))
insert into ferry.meta values ('schema_version', '3')
on conflict (key) do update set value = excluded.value
where ferry.meta.value ~ '^[0-9]+$' and ferry.meta.value::int < excluded.value::int;

-- one row per "ferry run" (full or incremental)
create table if not exists ferry.runs (
    run_id          text primary key,
    kind            text not null check (kind in ('full', 'incremental')),
    status          text not null default 'pending'
                    check (status in ('pending', 'running', 'done', 'failed', 'interrupted', 'rolled_back')),
    plan_file       text,
    plan_sha256     text,
    workdir         text,                   -- spool files, logs and the plan copy of the run
    spool           boolean not null default false,
    source          text,                   -- host/port/dbname, never a password
    snapshot        text,                   -- exported snapshot id of the source
    source_time     timestamptz,            -- source clock when the snapshot was taken
    since           timestamptz,            -- incremental: changes since (with overlap)
    started_at      timestamptz not null default now(),
    finished_at     timestamptz,
    source_rows     bigint,
    loaded_rows     bigint,
    rejected_rows   bigint,
    success_rate    numeric(7, 4),
    -- the ferry process of the latest attempt (run or resume); while it
    -- runs, its bookkeeping session holds the advisory lock
    -- pg_advisory_lock(hashtextextended('ferry run ' || run_id, 0)):
    -- "ferry status" calls a run 'running' without that lock interrupted
    driver_host     text,
    driver_pid      integer,
    attempt_started_at timestamptz          -- when the latest attempt began
);

-- one row per entity of a run
create table if not exists ferry.entity_runs (
    run_id          text not null references ferry.runs (run_id) on delete cascade,
    entity          text not null,
    status          text not null default 'pending'
                    check (status in ('pending', 'running', 'done', 'failed', 'interrupted', 'rolled_back')),
    source_rows     bigint,
    loaded_rows     bigint,
    rejected_rows   bigint,
    noted_rows      bigint,
    max_key         text,                   -- highest legacy key loaded (incremental)
    started_at      timestamptz,
    finished_at     timestamptz,
    expected_rows   bigint,                 -- the source's estimate at the start, the count once done
    attempt_started_at timestamptz,         -- when the latest attempt of the step began
    primary key (run_id, entity)
);

-- progress of a load, committed in the same transaction as each batch
create table if not exists ferry.checkpoints (
    run_id          text not null,
    entity          text not null,
    phase           text not null default 'load',     -- load | fixup
    records         bigint not null default 0,        -- input records consumed
    rows_loaded     bigint not null default 0,
    rows_rejected   bigint not null default 0,
    batches         integer not null default 0,
    last_key        text,
    complete        boolean not null default false,   -- the whole stream is loaded
    updated_at      timestamptz not null default now(),
    primary key (run_id, entity, phase)
);

-- legacy key -> UUID of every row ferry loaded, and the run that first loaded it
-- (byte-wise collation: nothing sorts these keys for people, and every
-- loaded row inserts one into the primary key index)
create table if not exists ferry.id_map (
    entity          text collate "C" not null,
    legacy_id       text collate "C" not null,
    uuid            uuid not null,
    run_id          text not null,
    primary key (entity, legacy_id)
);
-- no index on run_id: it would cost every loaded row a third of its id map
-- insert; a rollback finds a run's rows through the primary key's entity prefix

-- indexes and keys a bulk load dropped from an empty table (ferry-load(1),
-- BULK LOAD), saved in the transaction that dropped them; each row goes in
-- the transaction that builds its index again ("ferry-load
-- --rebuild-indexes" builds whatever is left after a crash)
create table if not exists ferry.bulk_indexes (
    target          text not null,                    -- the table loaded, as the load quotes it
    name            text not null,                    -- the index or constraint
    on_table        text not null,                    -- the table it belongs to (a foreign key: the referencing one)
    kind            text not null check (kind in ('index', 'constraint')),
    ord             integer not null,                 -- 1: indexes and keys, 2: foreign keys (after the keys)
    definition      text not null,                    -- the statement that builds it, every name qualified
    run_id          text not null,
    entity          text not null,
    dropped_at      timestamptz not null default now(),
    primary key (on_table, name)
);

-- rows set aside (disposition 'rejected') and rows loaded under a documented
-- policy after an anomaly (disposition 'repaired'), with their original values
create table if not exists ferry.rejects (
    id              bigserial primary key,
    run_id          text not null,
    entity          text not null,
    legacy_id       text,
    stage           text not null,                    -- extract | transform | load
    phase           text not null default 'load',     -- the load that recorded it (load, load/2, fixup)
    reason          text not null,
    detail          text,
    disposition     text not null default 'rejected'
                    check (disposition in ('rejected', 'repaired')),
    row_data        jsonb,
    created_at      timestamptz not null default now()
);
create index if not exists rejects_run_idx on ferry.rejects (run_id, entity);
create index if not exists rejects_key_idx on ferry.rejects (entity, legacy_id);

-- what the deletes of incremental runs did (ferry-delete(1)): every row
-- deleted, with the rows the destination's rules reached (ON DELETE CASCADE:
-- cascaded; SET NULL or SET DEFAULT: set_null), each saved whole before the
-- change so that "ferry rollback" puts them back; rows flagged (saved before
-- the flag); keys kept (deletes keep) and deletes the destination refused,
-- with its message.  Written in each batch's transaction.
create table if not exists ferry.deletes (
    id              bigserial primary key,
    run_id          text not null,
    entity          text not null,
    batch           integer not null,                 -- the step's transaction that wrote it
    legacy_id       text collate "C",                 -- the entity's key (null for other tables' rows)
    target          text not null,                    -- the table of the row, quoted and qualified
    action          text not null
                    check (action in ('deleted', 'cascaded', 'set_null', 'flagged', 'kept', 'refused')),
    reason          text,                             -- refused: the destination's message
    row_data        jsonb,                            -- the row before the change
    created_at      timestamptz not null default now()
);
create index if not exists deletes_run_idx on ferry.deletes (run_id, entity);

-- every event of every stage (start, batch, reject, end ...)
create table if not exists ferry.audit_log (
    id              bigserial primary key,
    ts              timestamptz not null,
    run_id          text,
    program         text not null,
    entity          text,
    event           text not null,
    data            jsonb not null
);
create index if not exists audit_log_run_idx on ferry.audit_log (run_id);

-- who holds the target's lock (one run at a time per target: every command
-- that writes takes hashtextextended('ferry target', 0) in a session of
-- ferry-books for its life): a row a session, read with pg_locks to name
-- the holder in a refusal; rows of sessions that ended are ignored and
-- cleared by the next holder
create table if not exists ferry.lock_holders (
    backend_pid     integer primary key,
    what            text not null,                    -- "run R", "rollback of run R", "cleanup drop"
    run_id          text,
    host            text not null,
    pid             integer not null,                 -- the ferry process
    since           timestamptz not null default now()
);

-- schema changes made by "ferry cleanup" (and restored)
create table if not exists ferry.schema_changes (
    id              bigserial primary key,
    ts              timestamptz not null default now(),
    phase           text not null,                    -- analyse | backup | deprecate | drop | restore
    table_schema    text not null,
    table_name      text not null,
    column_name     text not null,
    status          text not null,                    -- done | refused | skipped | failed
    detail          jsonb,
    sql             text
);

-- bring a schema made by an earlier version up to date
drop index if exists ferry.id_map_run_idx;
alter table ferry.runs add column if not exists workdir text;
alter table ferry.runs add column if not exists spool boolean not null default false;
alter table ferry.checkpoints add column if not exists complete boolean not null default false;
alter table ferry.rejects add column if not exists phase text not null default 'load';
alter table ferry.runs add column if not exists driver_host text;
alter table ferry.runs add column if not exists driver_pid integer;
alter table ferry.runs add column if not exists attempt_started_at timestamptz;
alter table ferry.entity_runs add column if not exists expected_rows bigint;
alter table ferry.entity_runs add column if not exists attempt_started_at timestamptz;
-- 3: the states pending and interrupted (a check that only grows)
alter table ferry.runs drop constraint if exists runs_status_check;
alter table ferry.runs add constraint runs_status_check
    check (status in ('pending', 'running', 'done', 'failed', 'interrupted', 'rolled_back'));
alter table ferry.runs alter column status set default 'pending';
alter table ferry.entity_runs drop constraint if exists entity_runs_status_check;
alter table ferry.entity_runs add constraint entity_runs_status_check
    check (status in ('pending', 'running', 'done', 'failed', 'interrupted', 'rolled_back'));
-- the deletes of an incremental run's step (ferry-delete): policy and counts
alter table ferry.entity_runs add column if not exists deletes jsonb;

commit;
