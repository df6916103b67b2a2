-- ferry cleanup's bookkeeping, beside ferry.schema_changes (ferry-schema.sql).
-- Idempotent: run by ferry-cleanup before every phase that is not a dry run.
--
-- ferry.column_backups holds, for each column that went through a phase,
-- what restore needs to rebuild it: the backup table in ferry_backup, the
-- key columns, the column's type, collation, default, NOT NULL, generation
-- expression, original comment and privileges, and the verified checksum.
-- ferry.column_backup_dependents holds the definitions of the objects a
-- "drop --cascade" took with the column, so that restore can recreate them.

\set ON_ERROR_STOP on
set client_min_messages = warning;

begin;

create table if not exists ferry.column_backups (
    table_schema    text not null,
    table_name      text not null,
    column_name     text not null,
    backup_table    text,                   -- name of the table in schema ferry_backup
    key_columns     text[],                 -- the table's primary key, in order
    attnum          smallint,               -- position when backed up (informational)
    data_type       text,                   -- format_type(): keeps typmod
    collation_name  text,                   -- qualified, NULL when the type's default
    default_expr    text,                   -- pg_get_expr() of the default, NULL if none
    not_null        boolean,
    generated_expr  text,                   -- GENERATED ALWAYS AS (...) STORED expression
    comment         text,                   -- the comment before "deprecate" marked it
    column_grants   text[],                 -- GRANT statements for column privileges
    row_count       bigint,
    checksum        text,                   -- "<rows>:<sum of row hashes>"
    backed_up_at    timestamptz,
    verified_at     timestamptz,
    deprecated_at   timestamptz,
    revoked         jsonb not null default '[]',   -- what "deprecate --revoke" did, to undo
    dropped_at      timestamptz,
    restored_at     timestamptz,
    primary key (table_schema, table_name, column_name)
);

create table if not exists ferry.column_backup_dependents (
    id              bigserial primary key,
    table_schema    text not null,
    table_name      text not null,
    column_name     text not null,
    saved_at        timestamptz not null default now(),
    ord             integer not null,       -- creation order (parents first)
    kind            text not null,          -- view, index, policy ...
    name            text not null,          -- e.g. public.late_shipments_v
    ddl             text[] not null,        -- statements that recreate it; empty: cannot
    status          text not null default 'saved'
                    check (status in ('saved', 'recreated', 'failed', 'unsupported')),
    error           text,
    recreated_at    timestamptz,
    foreign key (table_schema, table_name, column_name)
        references ferry.column_backups on delete cascade
);

commit;
