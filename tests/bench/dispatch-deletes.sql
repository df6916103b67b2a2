-- dispatch-deletes.sql: what the legacy application deletes between two
-- runs, for the incremental benchmark on the shared dispatch fixture
-- (DELETES=1 tests/bench/incremental.sh): about 1 % of the rows of every
-- table that no other table references (ids modulo 100), and the replies
-- below a deleted row of a tree (the rows that reference it through its own
-- table), as an application that deletes children with their parent would.
-- Deterministic.  The legacy foreign keys are DEFERRABLE INITIALLY
-- DEFERRED: checked at the commit.
\set ON_ERROR_STOP on
begin;
do $$
declare
    t record;
    r record;
    n bigint;
    total bigint := 0;
begin
    for t in
        select c.oid::regclass as rel
        from pg_class c join pg_namespace s on s.oid = c.relnamespace
        where s.nspname = 'public' and c.relkind = 'r'
          and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'id'
                      and a.atttypid in ('int4'::regtype, 'int8'::regtype))
          and not exists (select 1 from pg_constraint f where f.contype = 'f' and f.confrelid = c.oid
                          and f.conrelid <> c.oid)
        order by 1
    loop
        execute format('delete from %s where id %% 100 = 7', t.rel);
        get diagnostics n = row_count;
        total := total + n;
        -- a tree: the rows left without their parent go too, level by level
        for r in select a.attname as col from pg_constraint f
                 join pg_attribute a on a.attrelid = f.conrelid and a.attnum = f.conkey[1]
                 where f.contype = 'f' and f.conrelid = t.rel and f.confrelid = t.rel loop
            loop
                execute format('delete from %s c where c.%I is not null and not exists
                                  (select 1 from %s p where p.id = c.%I)', t.rel, r.col, t.rel, r.col);
                get diagnostics n = row_count;
                exit when n = 0;
                total := total + n;
            end loop;
        end loop;
    end loop;
    raise notice 'dispatch-deletes: % rows deleted', total;
end $$;
commit;
