-- cleanup-lib.sql: the logic of "ferry cleanup", loaded into every psql
-- session that ferry-cleanup starts.
--
-- Everything here is created in pg_temp: it disappears with the session and
-- leaves nothing in the target database, so that --dry-run changes nothing
-- and ferry needs no other object installed.  The entry point is
-- pg_temp.fc_run(phase, columns, ...); see the end of this file.
--
-- Messages for the user are NOTICEs (ferry-cleanup prints them on stdout),
-- warnings are WARNINGs, and errors carry their own SQLSTATE so that
-- ferry-cleanup can map them to exit codes:
--   FE002  refused: fix the command or the columns file   (exit 2)
--   FE007  verification failed: checksum or count differ   (exit 7)
-- Any other error is a target error (exit 4).

\set ON_ERROR_STOP on
set client_min_messages = warning;

-- working tables of the session: the columns of the run, the dependency walk
create temp table fc_cols (
    n int, sch text, tab text, col text, relid oid, attnum int2, present boolean,
    meta boolean, dropped_at timestamptz, backup_table text);
create temp table fc_walk (
    ord int, depth int, classid oid, objid oid, objsubid int,
    auto boolean, report boolean, done boolean, via text,
    own_c oid, own_o oid, own_s int);   -- the reported object this one is (part of)

-- ---------------------------------------------------------------------
-- Small helpers
-- ---------------------------------------------------------------------

create function pg_temp.fc_dry() returns boolean
language sql stable as $$
    select coalesce(current_setting('ferry_cleanup.dry_run', true), 'off') = 'on'
$$;

-- under --dry-run, messages are SQL comments: the output reads as a script
create function pg_temp.fc_say(msg text) returns void
language plpgsql as $$
begin
    if pg_temp.fc_dry() and msg !~ '^--' then
        msg := '-- ' || replace(msg, E'\n', E'\n-- ');
    end if;
    raise notice '%', msg;
end $$;

create function pg_temp.fc_fail(code text, msg text) returns void
language plpgsql as $$
begin
    raise exception using errcode = code, message = msg;
end $$;

-- Run one statement that changes the target, or print it under --dry-run.
-- Either way it is appended to the SQL recorded in ferry.schema_changes.
create function pg_temp.fc_exec(stmt text) returns void
language plpgsql as $$
begin
    if pg_temp.fc_dry() then
        raise notice '%;', stmt;
    else
        execute stmt;
    end if;
    perform set_config('ferry_cleanup.sql',
                       coalesce(current_setting('ferry_cleanup.sql', true), '') || stmt || E';\n',
                       false);
end $$;

-- schema.table, quoted
create function pg_temp.fc_rel(rel oid) returns text
language sql stable as $$
    select format('%I.%I', n.nspname, c.relname)
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.oid = rel
$$;

-- schema.table.column, quoted: how the user is told about a column
create function pg_temp.fc_colname(sch text, tab text, col text) returns text
language sql immutable as $$
    select format('%I.%I.%I', sch, tab, col)
$$;

create function pg_temp.fc_grantee(oid) returns text
language sql stable as $$
    select case when $1 = 0 then 'PUBLIC' else (select quote_ident(rolname) from pg_roles where oid = $1) end
$$;

-- Stable name of the backup table in ferry_backup: "<table>__<column>"
-- ("<schema>__<table>__<column>" outside public), shortened with a hash
-- when it would pass the 63-byte identifier limit.
create function pg_temp.fc_backup_name(sch text, tab text, col text) returns text
language plpgsql immutable as $$
declare
    n text := case when sch = 'public' then tab || '__' || col
                   else sch || '__' || tab || '__' || col end;
begin
    if octet_length(n) <= 63 then
        return n;
    end if;
    while octet_length(n) > 48 loop
        n := left(n, -1);
    end loop;
    return n || '__' || left(md5(sch || '.' || tab || '.' || col), 12);
end $$;

-- primary key columns of a table, in key order (NULL: no primary key)
create function pg_temp.fc_key(rel oid) returns text[]
language sql stable as $$
    select array_agg(a.attname::text order by k.ord)
    from pg_index i
    cross join lateral unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
    where i.indrelid = rel and i.indisprimary
$$;

-- Checksum of (key..., column) over a table: "<rows>:<sum of row hashes>".
-- Each row's text form is hashed (md5, first 64 bits) and the hashes are
-- summed: independent of row order, so no sort and no big string in memory.
create function pg_temp.fc_checksum(rel text, cols text[]) returns text
language plpgsql stable as $$
declare
    r text;
begin
    execute format($q$select count(*) || ':' ||
                          coalesce(sum(('x' || left(md5(row(%s)::text), 16))::bit(64)::bigint::numeric), 0)
                   from %s$q$,
                   (select string_agg(quote_ident(c), ', ') from unnest(cols) c), rel)
        into r;
    return r;
end $$;

-- regular expression matching a column name as a word in source text
create function pg_temp.fc_word_re(col text) returns text
language sql immutable as $$
    select case
        when col ~ '^[a-z_][a-z0-9_$]*$'
            then '\m' || replace(col, '$', '\$') || '\M'
        else regexp_replace('"' || replace(col, '"', '""') || '"', '([.^$*+?()[\]{}|\\-])', '\\\1', 'g')
    end
$$;

-- GRANT statements that give back the column privileges of a column
create function pg_temp.fc_column_grants(rel oid, att int2) returns text[]
language sql stable as $$
    select coalesce(array_agg(format('GRANT %s (%I) ON %s TO %s%s', x.privilege_type, a.attname,
                                     pg_temp.fc_rel(rel), pg_temp.fc_grantee(x.grantee),
                                     case when x.is_grantable then ' WITH GRANT OPTION' else '' end)
                              order by x.grantee, x.privilege_type), '{}')
    from pg_attribute a cross join lateral aclexplode(a.attacl) x
    where a.attrelid = rel and a.attnum = att
$$;

-- ---------------------------------------------------------------------
-- What depends on a column
-- ---------------------------------------------------------------------

-- kind of a catalog object, in words
create function pg_temp.fc_kind(c oid, o oid, s int) returns text
language sql stable as $$
    select case c
        when 'pg_class'::regclass then
            (select case
                when s > 0 then
                    (select case when a.attgenerated <> '' then 'generated column' else 'column' end
                     from pg_attribute a where a.attrelid = o and a.attnum = s)
                when r.relkind = 'v' then 'view'
                when r.relkind = 'm' then 'materialized view'
                when r.relkind in ('i', 'I') then
                    (select case when x.indisunique then 'unique index' else 'index' end
                     from pg_index x where x.indexrelid = o)
                when r.relkind = 'S' then 'sequence'
                else 'relation' end
             from pg_class r where r.oid = o)
        when 'pg_constraint'::regclass then
            (select case contype when 'c' then 'check constraint' when 'f' then 'foreign key'
                                 when 'u' then 'unique constraint' when 'p' then 'primary key'
                                 when 'x' then 'exclusion constraint' else 'constraint' end
             from pg_constraint where oid = o)
        when 'pg_trigger'::regclass then 'trigger'
        when 'pg_policy'::regclass then 'policy'
        when 'pg_proc'::regclass then
            (select case prokind when 'p' then 'procedure' else 'function' end from pg_proc where oid = o)
        when 'pg_rewrite'::regclass then 'rule'
        when 'pg_statistic_ext'::regclass then 'statistics'
        when 'pg_publication_rel'::regclass then 'publication'
        else (pg_identify_object(c, o, s)).type
    end
$$;

-- name of a catalog object, with a word on how it uses the column
create function pg_temp.fc_ident(c oid, o oid, s int) returns text
language sql stable as $$
    select (pg_identify_object(c, o, s)).identity || coalesce(
        case
            when c = 'pg_trigger'::regclass then
                (select ' (column list: UPDATE OF ' ||
                        (select string_agg(quote_ident(a.attname), ', ')
                         from unnest(t.tgattr::int2[]) k join pg_attribute a on a.attrelid = t.tgrelid and a.attnum = k) || ')'
                 from pg_trigger t where t.oid = o and array_length(t.tgattr::int2[], 1) > 0)
            when c = 'pg_proc'::regclass then
                (select ' (SQL-standard body)' from pg_proc where oid = o and prosqlbody is not null)
            else null
        end, '')
$$;

-- The objects that go when the column is dropped, found by walking
-- pg_depend from the column the way DROP ... CASCADE does: each object
-- that depends on the column (or on an object already found) is found in
-- turn, so view chains, indexes on a dropped materialized view and foreign
-- keys on a dropped unique index are followed.  An object that is an
-- internal part of another (a view's rewrite rule, a constraint's index, a
-- column's default) stands for its owner.
-- auto: reached through an automatic dependency, so a plain DROP COLUMN
-- removes it silently; otherwise a plain DROP COLUMN fails because of it.
create function pg_temp.fc_deps(p_rel oid, p_att int2)
returns table (ord int, depth int, classid oid, objid oid, objsubid int, auto boolean,
               kind text, name text, via text)
language plpgsql as $$
#variable_conflict use_column
declare
    n int := 0;
    cur record;
    d record;
    o record;
    oc oid; oo oid; os int;
    hit record;
    cur_label text;
begin
    truncate fc_walk;
    insert into fc_walk values (0, 0, 'pg_class'::regclass, p_rel, p_att, true, false, false, null,
                                'pg_class'::regclass, p_rel, p_att);
    loop
        select * into cur from fc_walk w where not w.done order by w.ord limit 1;
        exit when not found;
        update fc_walk w set done = true where w.ord = cur.ord;
        cur_label := case when cur.report
                          then pg_temp.fc_kind(cur.classid, cur.objid, cur.objsubid) || ' ' ||
                               (pg_identify_object(cur.classid, cur.objid, cur.objsubid)).identity
                          else cur.via end;
        for d in
            select dp.classid, dp.objid, dp.objsubid, dp.deptype
            from pg_depend dp
            where dp.refclassid = cur.classid and dp.refobjid = cur.objid
              and (cur.objsubid = 0 or dp.refobjsubid = cur.objsubid)
              and dp.deptype in ('n', 'a', 'i')
            order by dp.classid, dp.objid, dp.objsubid
        loop
            -- follow internal dependencies up to the object that really goes
            oc := d.classid; oo := d.objid; os := d.objsubid;
            loop
                if oc = 'pg_attrdef'::regclass then
                    -- a default or generation expression belongs to its column
                    select 'pg_class'::regclass, ad.adrelid, ad.adnum into oc, oo, os
                    from pg_attrdef ad where ad.oid = oo;
                    exit;
                end if;
                select dp.refclassid, dp.refobjid, dp.refobjsubid into o
                from pg_depend dp
                where dp.classid = oc and dp.objid = oo and dp.objsubid = os and dp.deptype = 'i'
                limit 1;
                exit when not found;
                oc := o.refclassid; oo := o.refobjid; os := o.refobjsubid;
            end loop;

            -- never the table itself
            continue when oc = 'pg_class'::regclass and oo = p_rel and os = 0;

            if (oc = 'pg_class'::regclass and oo = p_rel and os = p_att)
               or (oc = cur.own_c and oo = cur.own_o and os = cur.own_s)
               or (oc = 'pg_class'::regclass
                   and exists (select 1 from pg_class t where t.oid = oo and t.relnamespace = 'pg_toast'::regnamespace)) then
                -- an internal part of the column or of the current object
                -- (a view's rule and row type ...): not reported, but what
                -- depends on it goes too
                if not exists (select 1 from fc_walk w
                               where w.classid = d.classid and w.objid = d.objid and w.objsubid = d.objsubid) then
                    n := n + 1;
                    insert into fc_walk values (n, cur.depth, d.classid, d.objid, d.objsubid,
                                                cur.auto, false, false, cur_label, cur.own_c, cur.own_o, cur.own_s);
                end if;
                continue;
            end if;

            select * into hit from fc_walk w where w.classid = oc and w.objid = oo and w.objsubid = os;
            if found then
                if d.deptype in ('a', 'i') and not hit.auto then
                    update fc_walk w set auto = true where w.ord = hit.ord;
                end if;
            else
                n := n + 1;
                insert into fc_walk values (n, cur.depth + 1, oc, oo, os,
                                            d.deptype in ('a', 'i'), true, false, cur_label, oc, oo, os);
            end if;
        end loop;
    end loop;

    return query
        select w.ord, w.depth, w.classid, w.objid, w.objsubid, w.auto,
               pg_temp.fc_kind(w.classid, w.objid, w.objsubid),
               pg_temp.fc_ident(w.classid, w.objid, w.objsubid),
               case when w.depth > 1 then w.via end
        from fc_walk w
        where w.report
        order by w.ord;
end $$;

-- Functions whose body names the column as a word but that PostgreSQL does
-- not track (plpgsql, old-style SQL, other languages): a drop succeeds and
-- they fail at their next call.  triggers: the triggers on the same table
-- that run the function (they fail at the next INSERT/UPDATE/DELETE).
create function pg_temp.fc_mentions(p_rel oid, p_att int2)
returns table (fn oid, name text, triggers text)
language sql stable as $$
    select p.oid,
           format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
           (select string_agg(format('%I on %s (fires on %s)', t.tgname, pg_temp.fc_rel(t.tgrelid),
                                     concat_ws(', ',
                                               case when t.tgtype & 4 <> 0 then 'INSERT' end,
                                               case when t.tgtype & 16 <> 0 then 'UPDATE' end,
                                               case when t.tgtype & 8 <> 0 then 'DELETE' end)), '; '
                              order by t.tgname)
            from pg_trigger t
            where t.tgfoid = p.oid and t.tgrelid = p_rel and not t.tgisinternal)
    from pg_proc p
    join pg_namespace n on n.oid = p.pronamespace
    join pg_language l on l.oid = p.prolang
    join pg_attribute a on a.attrelid = p_rel and a.attnum = p_att
    where n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname !~ '^pg_(toast_)?temp'
      and l.lanname not in ('c', 'internal')
      and p.prosqlbody is null
      and not exists (select 1 from pg_depend e
                      where e.classid = 'pg_proc'::regclass and e.objid = p.oid and e.deptype = 'e')
      and p.prosrc ~* pg_temp.fc_word_re(a.attname)
    order by 2
$$;

-- What goes with the column but is not an object: its privileges, and the
-- publications that replicate it without a column list.
create function pg_temp.fc_notes(p_rel oid, p_att int2) returns setof text
language sql stable as $$
    select 'column privileges (' ||
           string_agg(x.privilege_type || ' to ' || pg_temp.fc_grantee(x.grantee), ', '
                      order by x.grantee, x.privilege_type) ||
           '): removed with the column, granted again by restore'
    from pg_attribute a cross join lateral aclexplode(a.attacl) x
    where a.attrelid = p_rel and a.attnum = p_att
    having count(*) > 0
    union all
    select format('publication %I replicates the column: subscribers stop receiving it', p.pubname)
    from pg_publication p
    where p.puballtables
       or exists (select 1 from pg_publication_rel r
                  where r.prpubid = p.oid and r.prrelid = p_rel and r.prattrs is null)
       or exists (select 1 from pg_publication_namespace pn join pg_class c on c.relnamespace = pn.pnnspid
                  where pn.pnpubid = p.oid and c.oid = p_rel)
$$;

-- ---------------------------------------------------------------------
-- Definitions of dependents, so that restore can recreate them
-- ---------------------------------------------------------------------

-- COMMENT ON statement for an object that has a comment, else NULL
create function pg_temp.fc_comment_ddl(c oid, o oid, s int) returns text
language sql stable as $$
    select format('COMMENT ON %s %s IS %L',
                  case i.type when 'table constraint' then 'CONSTRAINT'
                              when 'statistics object' then 'STATISTICS'
                              when 'table column' then 'COLUMN'
                              else upper(i.type) end,
                  i.identity, d.description)
    from pg_identify_object(c, o, s) i
    join pg_description d on d.classoid = c and d.objoid = o and d.objsubid = s
    where i.type in ('view', 'materialized view', 'index', 'function', 'procedure', 'table constraint',
                     'trigger', 'policy', 'rule', 'statistics object', 'table column')
$$;

-- GRANTs (and owner) of a relation or function, given back after it is recreated
create function pg_temp.fc_acl_ddl(c oid, o oid) returns text[]
language sql stable as $$
    with obj as (
        select 'TABLE' as what, pg_temp.fc_rel(r.oid) as ident, r.relowner as owner, r.relacl as acl,
               case r.relkind when 'v' then 'VIEW' when 'm' then 'MATERIALIZED VIEW' end as alter_what
        from pg_class r where c = 'pg_class'::regclass and r.oid = o
        union all
        select case p.prokind when 'p' then 'PROCEDURE' else 'FUNCTION' end,
               (pg_identify_object(c, o, 0)).identity, p.proowner, p.proacl,
               case p.prokind when 'p' then 'PROCEDURE' else 'FUNCTION' end
        from pg_proc p where c = 'pg_proc'::regclass and p.oid = o
    )
    select array_remove(
        array[case when obj.owner <> (select oid from pg_roles where rolname = current_user)
                   then format('ALTER %s %s OWNER TO %s', obj.alter_what, obj.ident, pg_temp.fc_grantee(obj.owner)) end,
              case when obj.what <> 'TABLE' and obj.acl is not null
                   then format('REVOKE ALL ON %s %s FROM PUBLIC', obj.what, obj.ident) end]
        || coalesce((select array_agg(format('GRANT %s ON %s %s TO %s%s', x.privilege_type, obj.what, obj.ident,
                                             pg_temp.fc_grantee(x.grantee),
                                             case when x.is_grantable then ' WITH GRANT OPTION' else '' end)
                                      order by x.grantee, x.privilege_type)
                     from aclexplode(obj.acl) x where x.grantee <> obj.owner), '{}'),
        null)
    from obj
$$;

-- statements that recreate a dependent; empty when ferry cannot
create function pg_temp.fc_ddl(c oid, o oid, s int) returns text[]
language plpgsql stable as $$
declare
    ddl text[] := '{}';
    r record;
begin
    if c = 'pg_class'::regclass and s = 0 then
        select * into r from pg_class where oid = o;
        if r.relkind in ('v', 'm') then
            ddl := array[format('CREATE %s %s%s AS %s',
                                case r.relkind when 'v' then 'VIEW' else 'MATERIALIZED VIEW' end,
                                pg_temp.fc_rel(o),
                                case when r.reloptions is not null
                                     then ' WITH (' || array_to_string(r.reloptions, ', ') || ')' else '' end,
                                rtrim(pg_get_viewdef(o), '; ' || E'\n'))]
                   || pg_temp.fc_acl_ddl(c, o);
        elsif r.relkind in ('i', 'I') then
            ddl := array[pg_get_indexdef(o)];
        else
            return '{}';   -- sequences and others: not recreated
        end if;
    elsif c = 'pg_class'::regclass then
        -- a generated column that used the dropped column
        select format('ALTER TABLE %s ADD COLUMN %I %s GENERATED ALWAYS AS (%s) STORED%s',
                      pg_temp.fc_rel(o), a.attname, format_type(a.atttypid, a.atttypmod),
                      pg_get_expr(ad.adbin, ad.adrelid), case when a.attnotnull then ' NOT NULL' else '' end) as stmt
            into r
        from pg_attribute a join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
        where a.attrelid = o and a.attnum = s and a.attgenerated = 's';
        if not found then
            return '{}';
        end if;
        ddl := array[r.stmt] || pg_temp.fc_column_grants(o, s::int2);
    elsif c = 'pg_constraint'::regclass then
        select format('ALTER TABLE %s ADD CONSTRAINT %I %s', pg_temp.fc_rel(conrelid), conname,
                      pg_get_constraintdef(oid)) as stmt, conrelid into r
        from pg_constraint where oid = o;
        if r.conrelid = 0 then
            return '{}';
        end if;
        ddl := array[r.stmt];
    elsif c = 'pg_trigger'::regclass then
        select pg_get_triggerdef(oid) as stmt,
               case tgenabled when 'D' then format('ALTER TABLE %s DISABLE TRIGGER %I', pg_temp.fc_rel(tgrelid), tgname)
                              when 'R' then format('ALTER TABLE %s ENABLE REPLICA TRIGGER %I', pg_temp.fc_rel(tgrelid), tgname)
                              when 'A' then format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', pg_temp.fc_rel(tgrelid), tgname)
               end as enable
            into r
        from pg_trigger where oid = o;
        ddl := array_remove(array[r.stmt, r.enable], null);
    elsif c = 'pg_policy'::regclass then
        select format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, pg_temp.fc_rel(p.polrelid),
                      case when p.polpermissive then 'PERMISSIVE' else 'RESTRICTIVE' end,
                      case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE'
                                    when 'd' then 'DELETE' else 'ALL' end,
                      (select string_agg(pg_temp.fc_grantee(x), ', ') from unnest(p.polroles) x),
                      ' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')',
                      ' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')') as stmt
            into r
        from pg_policy p where p.oid = o;
        ddl := array[r.stmt];
    elsif c = 'pg_proc'::regclass then
        ddl := array[pg_get_functiondef(o)] || pg_temp.fc_acl_ddl(c, o);
    elsif c = 'pg_rewrite'::regclass then
        ddl := array[pg_get_ruledef(o)];
    elsif c = 'pg_statistic_ext'::regclass then
        ddl := array[pg_get_statisticsobjdef(o)];
    elsif c = 'pg_publication_rel'::regclass then
        select format('ALTER PUBLICATION %I ADD TABLE %s%s%s', p.pubname, pg_temp.fc_rel(pr.prrelid),
                      ' (' || (select string_agg(quote_ident(a.attname), ', ' order by k.ord)
                               from unnest(pr.prattrs::int2[]) with ordinality k(attnum, ord)
                               join pg_attribute a on a.attrelid = pr.prrelid and a.attnum = k.attnum) || ')',
                      ' WHERE (' || pg_get_expr(pr.prqual, pr.prrelid) || ')') as stmt
            into r
        from pg_publication_rel pr join pg_publication p on p.oid = pr.prpubid
        where pr.oid = o;
        ddl := array[r.stmt];
    else
        return '{}';
    end if;
    return array_remove(ddl || pg_temp.fc_comment_ddl(c, o, s), null);
end $$;

-- ---------------------------------------------------------------------
-- The columns of a run
-- ---------------------------------------------------------------------

-- fc_cols: one row per column of the run, resolved against the catalogs
-- and ferry's metadata.  present: the column exists now.
create function pg_temp.fc_load_cols(p_cols text) returns void
language plpgsql as $$
declare
    has_meta boolean := to_regclass('ferry.column_backups') is not null;
begin
    truncate fc_cols;
    insert into fc_cols (n, sch, tab, col)
    select l.n, f[1], f[2], f[3]
    from unnest(string_to_array(p_cols, E'\n')) with ordinality l(line, n)
    cross join lateral string_to_array(l.line, E'\t') f
    where l.line <> '';

    update fc_cols c set relid = r.oid
    from pg_class r join pg_namespace s on s.oid = r.relnamespace
    where s.nspname = c.sch and r.relname = c.tab and r.relkind in ('r', 'p');

    update fc_cols c set attnum = a.attnum
    from pg_attribute a
    where a.attrelid = c.relid and a.attname = c.col and a.attnum > 0 and not a.attisdropped;
    update fc_cols set present = attnum is not null;

    update fc_cols set meta = false;
    if has_meta then
        update fc_cols c set meta = true, dropped_at = b.dropped_at, backup_table = b.backup_table
        from ferry.column_backups b
        where (b.table_schema, b.table_name, b.column_name) = (c.sch, c.tab, c.col);
    end if;
end $$;

-- refuse the run when a table or column does not exist (unless ferry
-- dropped it and the phase accepts that)
create function pg_temp.fc_check_cols(p_phase text) returns void
language plpgsql as $$
declare
    c record;
begin
    for c in select * from fc_cols order by n loop
        if c.relid is null then
            perform pg_temp.fc_fail('FE002', format('%s: no such table %I.%I',
                                                    pg_temp.fc_colname(c.sch, c.tab, c.col), c.sch, c.tab));
        end if;
        if not c.present and c.dropped_at is null and p_phase <> 'restore' then
            perform pg_temp.fc_fail('FE002', format('%s: no such column in table %I.%I',
                                                    pg_temp.fc_colname(c.sch, c.tab, c.col), c.sch, c.tab));
        end if;
        if p_phase = 'restore' and c.backup_table is null then
            perform pg_temp.fc_fail('FE002', format('%s: no backup made by ferry cleanup, nothing to restore from',
                                                    pg_temp.fc_colname(c.sch, c.tab, c.col)));
        end if;
    end loop;
end $$;

-- ---------------------------------------------------------------------
-- Phase: analyse
-- ---------------------------------------------------------------------

-- Print the plan of one column; returns what was found (for the record).
create function pg_temp.fc_analyse_one(c record) returns jsonb
language plpgsql as $$
declare
    d record;
    a record;
    name text := pg_temp.fc_colname(c.sch, c.tab, c.col);
    deps jsonb := '[]';
    mentions jsonb := '[]';
    notes jsonb := '[]';
    blocks int := 0;
    line text;
begin
    if not c.present then
        perform pg_temp.fc_say(format('%s: dropped by ferry cleanup on %s; backup in ferry_backup.%I (ferry cleanup restore brings it back)',
                                      name, to_char(c.dropped_at, 'YYYY-MM-DD HH24:MI:SS TZ'), c.backup_table));
        return jsonb_build_object('state', 'dropped');
    end if;
    select format_type(atttypid, atttypmod) as typ, attnotnull, attidentity, attgenerated into a
    from pg_attribute where attrelid = c.relid and attnum = c.attnum;
    perform pg_temp.fc_say(format('%s (%s%s%s)', name, a.typ,
                                  case when a.attnotnull then ', not null' else '' end,
                                  case when a.attidentity <> '' then ', identity'
                                       when a.attgenerated <> '' then ', generated' else '' end));
    for d in select * from pg_temp.fc_deps(c.relid, c.attnum) loop
        line := format('  %-7s %s %s', case when d.auto then 'DROPS' else 'BLOCKS' end, d.kind, d.name);
        if d.via is not null then
            line := line || format(' (through %s)', d.via);
        end if;
        perform pg_temp.fc_say(line);
        deps := deps || jsonb_build_object('kind', d.kind, 'name', d.name, 'via', d.via,
                                           'effect', case when d.auto then 'drops' else 'blocks' end);
        blocks := blocks + case when d.auto then 0 else 1 end;
    end loop;
    for d in select * from pg_temp.fc_mentions(c.relid, c.attnum) loop
        if d.triggers is not null then
            perform pg_temp.fc_say(format('  BREAKS  function %s mentions the column (not tracked by PostgreSQL) and is run by trigger %s: after a drop every statement that fires it fails',
                                          d.name, d.triggers));
        else
            perform pg_temp.fc_say(format('  BREAKS  function %s mentions the column (not tracked by PostgreSQL): after a drop it fails at its next call if it uses this column',
                                          d.name));
        end if;
        mentions := mentions || jsonb_build_object('function', d.name, 'triggers', d.triggers);
    end loop;
    for line in select * from pg_temp.fc_notes(c.relid, c.attnum) loop
        perform pg_temp.fc_say('  NOTE    ' || line);
        notes := notes || to_jsonb(line);
    end loop;

    perform pg_temp.fc_say('  plan: ' || case
        when jsonb_array_length(deps) = 0 and jsonb_array_length(mentions) = 0 then 'nothing depends on it; drop needs no flag'
        else concat_ws('; ',
            case when blocks > 0 then format('a plain DROP COLUMN fails (%s blocking)', blocks) end,
            case when jsonb_array_length(deps) > blocks then format('a plain DROP COLUMN silently drops %s', jsonb_array_length(deps) - blocks) end,
            case when jsonb_array_length(deps) > 0 then format('ferry drop needs --cascade (%s object(s) go with it)', jsonb_array_length(deps)) end,
            case when jsonb_array_length(mentions) > 0 then 'fix the function(s) that mention it first, or drop with --force-breaking' end)
        end);
    return jsonb_build_object('dependents', deps, 'mentions', mentions, 'notes', notes);
end $$;

-- ---------------------------------------------------------------------
-- Phase: backup
-- ---------------------------------------------------------------------

-- why a column cannot be backed up by key (NULL: it can)
create function pg_temp.fc_backup_problem(c record) returns text
language plpgsql stable as $$
declare
    keys text[] := pg_temp.fc_key(c.relid);
    a record;
begin
    if keys is null then
        return format('table %I.%I has no primary key: ferry cannot back up %s by key', c.sch, c.tab,
                      pg_temp.fc_colname(c.sch, c.tab, c.col));
    end if;
    if c.col = any (keys) then
        return format('%s is part of the primary key of %I.%I: ferry cleanup does not drop key columns',
                      pg_temp.fc_colname(c.sch, c.tab, c.col), c.sch, c.tab);
    end if;
    select attidentity into a from pg_attribute where attrelid = c.relid and attnum = c.attnum;
    if a.attidentity <> '' or exists (
        select 1 from pg_depend d join pg_class s on s.oid = d.objid and s.relkind = 'S'
        where d.classid = 'pg_class'::regclass and d.refobjid = c.relid and d.refobjsubid = c.attnum
          and d.deptype in ('a', 'i')) then
        return format('%s is an identity or serial column: ferry cleanup does not drop those (restore could not rebuild its sequence)',
                      pg_temp.fc_colname(c.sch, c.tab, c.col));
    end if;
    return null;
end $$;

create function pg_temp.fc_backup_one(c record) returns jsonb
language plpgsql as $$
declare
    name text := pg_temp.fc_colname(c.sch, c.tab, c.col);
    keys text[] := pg_temp.fc_key(c.relid);
    btab text := pg_temp.fc_backup_name(c.sch, c.tab, c.col);
    bq text := format('ferry_backup.%I', btab);
    rel text := pg_temp.fc_rel(c.relid);
    live text;
    saved text;
    copy text;
    m record;
    a record;
begin
    if not c.present then
        perform pg_temp.fc_say(format('%s: already dropped; backup kept in %s', name, bq));
        return jsonb_build_object('status', 'skipped', 'reason', 'already dropped', 'backup_table', bq);
    end if;
    perform pg_temp.fc_exec(format('SET LOCAL lock_timeout = %L', current_setting('ferry_cleanup.lock_timeout')));
    -- writers wait while the copy is taken and checked
    perform pg_temp.fc_exec(format('LOCK TABLE %s IN SHARE MODE', rel));
    live := pg_temp.fc_checksum(rel, keys || c.col);

    if c.meta then
        select * into m from ferry.column_backups b
        where (b.table_schema, b.table_name, b.column_name) = (c.sch, c.tab, c.col);
        if m.checksum = live and to_regclass(bq) is not null
           and pg_temp.fc_checksum(bq, keys || c.col) = live then
            perform pg_temp.fc_say(format('%s: backup %s is up to date (%s rows, checksum %s)',
                                          name, bq, split_part(live, ':', 1), live));
            return jsonb_build_object('status', 'skipped', 'reason', 'backup up to date',
                                      'backup_table', bq, 'checksum', live);
        end if;
    end if;

    perform pg_temp.fc_say(format('%s: backing up %s rows into %s', name, split_part(live, ':', 1), bq));
    if to_regclass(bq) is not null then
        perform pg_temp.fc_exec(format('DROP TABLE %s', bq));
    end if;
    perform pg_temp.fc_exec(format('CREATE TABLE %s AS SELECT %s FROM %s', bq,
                                   (select string_agg(quote_ident(k), ', ') from unnest(keys || c.col) k), rel));
    perform pg_temp.fc_exec(format('ALTER TABLE %s ADD PRIMARY KEY (%s)', bq,
                                   (select string_agg(quote_ident(k), ', ') from unnest(keys) k)));
    if pg_temp.fc_dry() then
        perform pg_temp.fc_say(format('-- then check: checksum of %s equals %s (%s)', bq, rel, live));
        return jsonb_build_object('status', 'done', 'backup_table', bq);
    end if;

    copy := pg_temp.fc_checksum(bq, keys || c.col);
    if copy is distinct from live then
        perform pg_temp.fc_fail('FE007', format('%s: backup check failed: %s has checksum %s, the column has %s',
                                                name, bq, copy, live));
    end if;

    select format_type(at.atttypid, at.atttypmod) as typ,
           case when at.attcollation <> 0 and at.attcollation <> t.typcollation
                then format('%I.%I', cn.nspname, co.collname) end as coll,
           case when at.attgenerated = '' then pg_get_expr(ad.adbin, ad.adrelid) end as def,
           case when at.attgenerated <> '' then pg_get_expr(ad.adbin, ad.adrelid) end as gen,
           at.attnotnull, col_description(c.relid, c.attnum) as cmt
        into a
    from pg_attribute at
    join pg_type t on t.oid = at.atttypid
    left join pg_collation co on co.oid = at.attcollation
    left join pg_namespace cn on cn.oid = co.collnamespace
    left join pg_attrdef ad on ad.adrelid = at.attrelid and ad.adnum = at.attnum
    where at.attrelid = c.relid and at.attnum = c.attnum;

    insert into ferry.column_backups as b
        (table_schema, table_name, column_name, backup_table, key_columns, attnum, data_type,
         collation_name, default_expr, not_null, generated_expr, comment, column_grants,
         row_count, checksum, backed_up_at, verified_at)
    values (c.sch, c.tab, c.col, btab, keys, c.attnum, a.typ, a.coll, a.def, a.attnotnull, a.gen,
            a.cmt, pg_temp.fc_column_grants(c.relid, c.attnum),
            split_part(live, ':', 1)::bigint, live, now(), now())
    on conflict (table_schema, table_name, column_name) do update set
        backup_table = excluded.backup_table, key_columns = excluded.key_columns,
        attnum = excluded.attnum, data_type = excluded.data_type,
        collation_name = excluded.collation_name, default_expr = excluded.default_expr,
        not_null = excluded.not_null, generated_expr = excluded.generated_expr,
        -- once "deprecate" has marked the column, keep the comment from before
        comment = case when b.deprecated_at is not null then b.comment else excluded.comment end,
        column_grants = excluded.column_grants,
        row_count = excluded.row_count, checksum = excluded.checksum,
        backed_up_at = excluded.backed_up_at, verified_at = excluded.verified_at;

    perform pg_temp.fc_say(format('%s: backup verified (%s rows, checksum %s)', name, split_part(live, ':', 1), live));
    return jsonb_build_object('status', 'done', 'backup_table', bq, 'rows', split_part(live, ':', 1)::bigint,
                              'checksum', live, 'keys', to_jsonb(keys));
end $$;

-- ---------------------------------------------------------------------
-- Phase: deprecate
-- ---------------------------------------------------------------------

-- The statements of "deprecate --revoke" for one column, and those that
-- undo them.  Column privileges on the column are revoked.  A role with a
-- table-wide SELECT/INSERT/UPDATE/REFERENCES keeps it on every other
-- column only: a column REVOKE does not narrow a table-wide GRANT, so the
-- table-wide grant is revoked (which also revokes that privilege's column
-- grants) and granted again on the other columns.  The undo gives the
-- table-wide grant back and revokes the column grants ferry added.
create function pg_temp.fc_revoke_plan(p_rel oid, p_att int2)
returns table (ord int, stmt text, undo text[])
language sql stable as $$
    with t as (
        select r.oid, r.relowner, r.relacl, pg_temp.fc_rel(r.oid) as rel,
               (select quote_ident(a.attname) from pg_attribute a
                where a.attrelid = p_rel and a.attnum = p_att) as col
        from pg_class r where r.oid = p_rel
    ),
    wide as (
        select x.grantee, x.privilege_type as priv,
               case when x.is_grantable then ' WITH GRANT OPTION' else '' end as opt
        from t cross join lateral aclexplode(t.relacl) x
        where x.grantee <> t.relowner and x.privilege_type in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
    )
    select 1, format('REVOKE %s (%s) ON %s FROM %s', x.privilege_type, t.col, t.rel, pg_temp.fc_grantee(x.grantee)),
           array[format('GRANT %s (%s) ON %s TO %s%s', x.privilege_type, t.col, t.rel, pg_temp.fc_grantee(x.grantee),
                        case when x.is_grantable then ' WITH GRANT OPTION' else '' end)]
    from t cross join pg_attribute a cross join lateral aclexplode(a.attacl) x
    where a.attrelid = p_rel and a.attnum = p_att
    union all
    select 2, format('REVOKE %s ON %s FROM %s', w.priv, t.rel, pg_temp.fc_grantee(w.grantee))
              || coalesce(E';\n' || format('GRANT %s (%s) ON %s TO %s%s', w.priv, o.cols, t.rel,
                                           pg_temp.fc_grantee(w.grantee), w.opt), ''),
           array[format('GRANT %s ON %s TO %s%s', w.priv, t.rel, pg_temp.fc_grantee(w.grantee), w.opt)]
              || coalesce(o.undo, '{}')
    from t cross join wide w
    cross join lateral (
        select string_agg(quote_ident(a.attname), ', ' order by a.attnum) as cols,
               array_agg(format('REVOKE %s (%I) ON %s FROM %s', w.priv, a.attname, t.rel, pg_temp.fc_grantee(w.grantee))
                         order by a.attnum)
                   filter (where not exists (select 1 from aclexplode(a.attacl) y
                                             where y.grantee = w.grantee and y.privilege_type = w.priv)) as undo
        from pg_attribute a
        where a.attrelid = p_rel and a.attnum > 0 and not a.attisdropped and a.attnum <> p_att
    ) o
    order by 1, 2
$$;

create function pg_temp.fc_deprecate_one(c record, p_revoke boolean) returns jsonb
language plpgsql as $$
declare
    name text := pg_temp.fc_colname(c.sch, c.tab, c.col);
    cur text;
    marker text := format('ferry: deprecated on %s by ferry cleanup; this column will be dropped, stop using it',
                          to_char(current_date, 'YYYY-MM-DD'));
    changed boolean := false;
    undo jsonb := '[]';
    p record;
    s text;
begin
    if not c.present then
        perform pg_temp.fc_say(format('%s: already dropped', name));
        return jsonb_build_object('status', 'skipped', 'reason', 'already dropped');
    end if;
    cur := col_description(c.relid, c.attnum);
    if not pg_temp.fc_dry() then
        -- remember the comment from before, once
        insert into ferry.column_backups as b (table_schema, table_name, column_name, comment)
        values (c.sch, c.tab, c.col, cur)
        on conflict (table_schema, table_name, column_name) do update
            set comment = excluded.comment
            where b.deprecated_at is null and b.comment is distinct from excluded.comment;
    end if;
    if cur is not null and cur like 'ferry: deprecated on %' then
        perform pg_temp.fc_say(format('%s: already marked deprecated (%s)', name, cur));
        marker := cur;
    else
        perform pg_temp.fc_exec(format('COMMENT ON COLUMN %s.%I IS %L', pg_temp.fc_rel(c.relid), c.col, marker));
        changed := true;
    end if;
    if p_revoke then
        for p in select * from pg_temp.fc_revoke_plan(c.relid, c.attnum) loop
            foreach s in array string_to_array(p.stmt, E';\n') loop
                perform pg_temp.fc_exec(s);
            end loop;
            undo := undo || to_jsonb(p.undo);
            changed := true;
        end loop;
        if jsonb_array_length(undo) = 0 then
            perform pg_temp.fc_say(format('%s: no privileges left to revoke', name));
        end if;
    end if;
    if not pg_temp.fc_dry() and changed then
        update ferry.column_backups b
        set deprecated_at = coalesce(b.deprecated_at, now()), revoked = b.revoked || undo
        where (b.table_schema, b.table_name, b.column_name) = (c.sch, c.tab, c.col);
    end if;
    if changed then
        perform pg_temp.fc_say(format('%s: deprecated%s', name,
                                      case when jsonb_array_length(undo) > 0 then ', privileges revoked' else '' end));
    end if;
    return jsonb_build_object('status', case when changed then 'done' else 'skipped' end,
                              'comment', marker, 'revoked', undo);
end $$;

-- ---------------------------------------------------------------------
-- Phase: drop
-- ---------------------------------------------------------------------

-- why the drop of a column is refused (NULL: it may go ahead)
create function pg_temp.fc_drop_refusal(c record, p_cascade boolean, p_force boolean, p_assume_backup boolean)
returns text
language plpgsql as $$
declare
    name text := pg_temp.fc_colname(c.sch, c.tab, c.col);
    ndeps int;
    ment text;
    problem text;
begin
    if not c.present then
        return null;   -- already dropped: nothing to refuse
    end if;
    problem := pg_temp.fc_backup_problem(c);
    if problem is not null then
        return problem;
    end if;
    if not p_assume_backup then
        if c.backup_table is null or to_regclass(format('ferry_backup.%I', c.backup_table)) is null then
            return format('%s: no verified backup; run "ferry cleanup backup" first', name);
        end if;
        if not exists (select 1 from ferry.column_backups b
                       where (b.table_schema, b.table_name, b.column_name) = (c.sch, c.tab, c.col)
                         and b.verified_at is not null) then
            return format('%s: no verified backup; run "ferry cleanup backup" first', name);
        end if;
    end if;
    select count(*) into ndeps from pg_temp.fc_deps(c.relid, c.attnum);
    if ndeps > 0 and not p_cascade then
        return format('%s: %s object(s) depend on it (see above); pass --cascade to drop them with it', name, ndeps);
    end if;
    select string_agg(m.name, ', ') into ment from pg_temp.fc_mentions(c.relid, c.attnum) m;
    if ment is not null and not p_force then
        return format('%s: function(s) %s mention it and would fail after the drop (PostgreSQL does not track them); fix them first, or pass --force-breaking',
                      name, ment);
    end if;
    return null;
end $$;

create function pg_temp.fc_drop_one(c record, p_cascade boolean, p_force boolean, p_assume_backup boolean)
returns jsonb
language plpgsql as $$
declare
    name text := pg_temp.fc_colname(c.sch, c.tab, c.col);
    rel text;
    m record;
    d record;
    live text;
    copy text;
    gone jsonb := '[]';
    unsupported jsonb := '[]';
    ddl text[];
    why text;
begin
    if not c.present then
        perform pg_temp.fc_say(format('%s: already dropped', name));
        return jsonb_build_object('status', 'skipped', 'reason', 'already dropped');
    end if;
    rel := pg_temp.fc_rel(c.relid);
    perform pg_temp.fc_exec(format('SET LOCAL lock_timeout = %L', current_setting('ferry_cleanup.lock_timeout')));
    perform pg_temp.fc_exec(format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', rel));

    -- the same checks as before the run, now under the lock
    why := pg_temp.fc_drop_refusal(c, p_cascade, p_force, p_assume_backup);
    if why is not null then
        perform pg_temp.fc_fail('FE002', why);
    end if;

    if c.meta and not (pg_temp.fc_dry() and p_assume_backup) then
        select * into m from ferry.column_backups b
        where (b.table_schema, b.table_name, b.column_name) = (c.sch, c.tab, c.col);
        live := pg_temp.fc_checksum(rel, m.key_columns || c.col);
        copy := pg_temp.fc_checksum(format('ferry_backup.%I', m.backup_table), m.key_columns || c.col);
        if live is distinct from m.checksum or copy is distinct from m.checksum then
            perform pg_temp.fc_fail('FE007', format('%s: the backup no longer matches (column %s, backup %s, verified %s); run "ferry cleanup backup" again',
                                                    name, live, copy, m.checksum));
        end if;
        if pg_temp.fc_dry() then
            perform pg_temp.fc_say(format('-- backup ferry_backup.%I verified: %s', m.backup_table, live));
        end if;
    end if;

    for d in select * from pg_temp.fc_deps(c.relid, c.attnum) loop
        if jsonb_array_length(gone) = 0 then
            perform pg_temp.fc_say(format('%s: %s with it:', name,
                                          case when pg_temp.fc_dry() then 'would drop' else 'dropping' end));
        end if;
        ddl := pg_temp.fc_ddl(d.classid, d.objid, d.objsubid);
        perform pg_temp.fc_say(format('  %s %s%s%s', d.kind, d.name,
                                      case when d.via is not null then format(' (through %s)', d.via) else '' end,
                                      case when cardinality(ddl) = 0 then ' [restore cannot recreate it]' else '' end));
        gone := gone || jsonb_build_object('kind', d.kind, 'name', d.name);
        if cardinality(ddl) = 0 then
            unsupported := unsupported || to_jsonb(d.kind || ' ' || d.name);
        end if;
        if not pg_temp.fc_dry() then
            insert into ferry.column_backup_dependents (table_schema, table_name, column_name, ord, kind, name, ddl, status)
            values (c.sch, c.tab, c.col, d.ord, d.kind, d.name, ddl,
                    case when cardinality(ddl) = 0 then 'unsupported' else 'saved' end);
        end if;
    end loop;
    for d in select * from pg_temp.fc_mentions(c.relid, c.attnum) loop
        raise warning 'function % mentions %; it is not changed and will fail if it uses the column (--force-breaking)',
            d.name, name;
    end loop;

    if not pg_temp.fc_dry() then
        update ferry.column_backups b
        set column_grants = pg_temp.fc_column_grants(c.relid, c.attnum), dropped_at = now(), restored_at = null
        where (b.table_schema, b.table_name, b.column_name) = (c.sch, c.tab, c.col);
    end if;
    -- the cascade is listed above; keep PostgreSQL's own notices quiet
    if not pg_temp.fc_dry() then
        perform set_config('client_min_messages', 'warning', true);
    end if;
    perform pg_temp.fc_exec(format('ALTER TABLE %s DROP COLUMN %I%s', rel, c.col,
                                   case when p_cascade then ' CASCADE' else '' end));
    perform set_config('client_min_messages', 'notice', true);
    perform pg_temp.fc_say(format('%s: %s', name, case when pg_temp.fc_dry() then 'would be dropped' else 'dropped' end));
    return jsonb_build_object('status', 'done', 'cascade', p_cascade, 'dropped_with', gone,
                              'not_recreatable', unsupported, 'checksum', live);
end $$;

-- ---------------------------------------------------------------------
-- Phase: restore
-- ---------------------------------------------------------------------

-- undo what "deprecate" did: the comment and revoked privileges
create function pg_temp.fc_undeprecate(c record, m record) returns boolean
language plpgsql as $$
declare
    s text;
    cur text := col_description(c.relid, (select attnum from pg_attribute
                                          where attrelid = c.relid and attname = c.col and not attisdropped));
    changed boolean := false;
begin
    if cur is not null and cur like 'ferry: deprecated on %' then
        perform pg_temp.fc_exec(format('COMMENT ON COLUMN %s.%I IS %L', pg_temp.fc_rel(c.relid), c.col, m.comment));
        changed := true;
    end if;
    for s in select jsonb_array_elements_text(m.revoked) loop
        -- a column named in a REVOKE may be gone (dropped since): nothing to undo there
        begin
            perform pg_temp.fc_exec(s);
        exception when undefined_column then
            null;
        end;
        changed := true;
    end loop;
    if changed and not pg_temp.fc_dry() then
        update ferry.column_backups b set deprecated_at = null, revoked = '[]'
        where (b.table_schema, b.table_name, b.column_name) = (c.sch, c.tab, c.col);
    end if;
    return changed;
end $$;

-- The table's own triggers off for the restore's UPDATE, in its
-- transaction: a restore puts back the values the drop took away, it is not
-- a change made by the application, and a BEFORE UPDATE trigger would
-- rewrite them (doctors_fill_display_name() fills legacy_display_name),
-- another would touch updated_at or record a change.  Each enabled user
-- trigger is disabled by name (ALTER TABLE: the owner, whom cleanup needs
-- anyway, and a lock the restore's ADD COLUMN already holds); the returned
-- statements put each back as it was (ENABLE, ENABLE ALWAYS or ENABLE
-- REPLICA), and an error rolls back the lot with the transaction.  Not
-- session_replication_role = replica: that needs a superuser, still fires
-- ALWAYS triggers, fires REPLICA ones, and turns foreign-key checks off.
-- Internal triggers (foreign keys) stay on.
create function pg_temp.fc_triggers_off(rel oid) returns text[]
language plpgsql as $$
declare
    t record;
    back text[] := '{}';
begin
    for t in select tgname, tgenabled from pg_trigger
             where tgrelid = rel and not tgisinternal and tgenabled <> 'D' order by tgname loop
        perform pg_temp.fc_exec(format('ALTER TABLE %s DISABLE TRIGGER %I', pg_temp.fc_rel(rel), t.tgname));
        back := back || format('ALTER TABLE %s ENABLE %sTRIGGER %I', pg_temp.fc_rel(rel),
                               case t.tgenabled when 'A' then 'ALWAYS ' when 'R' then 'REPLICA ' else '' end, t.tgname);
    end loop;
    return back;
end $$;

create function pg_temp.fc_restore_one(c record) returns jsonb
language plpgsql as $$
declare
    name text := pg_temp.fc_colname(c.sch, c.tab, c.col);
    rel text := pg_temp.fc_rel(c.relid);
    m record;
    bq text;
    cols text[];
    live text;
    bad bigint;
    missing bigint;
    s text;
    triggers text[];
    changed boolean;
begin
    select * into m from ferry.column_backups b
    where (b.table_schema, b.table_name, b.column_name) = (c.sch, c.tab, c.col);
    bq := format('ferry_backup.%I', m.backup_table);
    if to_regclass(bq) is null then
        perform pg_temp.fc_fail('FE002', format('%s: backup table %s is missing', name, bq));
    end if;
    cols := m.key_columns || c.col;

    if c.present then
        changed := pg_temp.fc_undeprecate(c, m);
        live := pg_temp.fc_checksum(rel, cols);
        perform pg_temp.fc_say(format('%s: present%s; values %s the backup (%s)', name,
                                      case when changed then ', deprecation undone' else ', nothing to do' end,
                                      case when live = m.checksum then 'match' else 'differ from' end, live));
        return jsonb_build_object('status', case when changed then 'done' else 'skipped' end,
                                  'reason', 'column present', 'checksum', live,
                                  'matches_backup', live = m.checksum);
    end if;

    perform pg_temp.fc_say(format('%s: restoring from %s (%s rows)', name, bq, m.row_count));
    perform pg_temp.fc_exec(format('SET LOCAL lock_timeout = %L', current_setting('ferry_cleanup.lock_timeout')));
    if m.generated_expr is not null then
        perform pg_temp.fc_exec(format('ALTER TABLE %s ADD COLUMN %I %s GENERATED ALWAYS AS (%s) STORED', rel,
                                       c.col, m.data_type, m.generated_expr));
    else
        perform pg_temp.fc_exec(format('ALTER TABLE %s ADD COLUMN %I %s%s%s', rel, c.col, m.data_type,
                                       ' COLLATE ' || m.collation_name, ' DEFAULT ' || m.default_expr));
        triggers := pg_temp.fc_triggers_off(c.relid);
        perform pg_temp.fc_exec(format('UPDATE %s AS t SET %I = b.%I FROM %s AS b WHERE %s', rel, c.col, c.col, bq,
                                       (select string_agg(format('t.%I = b.%I', k, k), ' AND ') from unnest(m.key_columns) k)));
        foreach s in array triggers loop
            perform pg_temp.fc_exec(s);
        end loop;
    end if;
    if m.not_null then
        perform pg_temp.fc_exec(format('ALTER TABLE %s ALTER COLUMN %I SET NOT NULL', rel, c.col));
    end if;
    if m.comment is not null then
        perform pg_temp.fc_exec(format('COMMENT ON COLUMN %s.%I IS %L', rel, c.col, m.comment));
    end if;
    foreach s in array coalesce(m.column_grants, '{}') loop
        perform pg_temp.fc_exec(s);
    end loop;
    perform pg_temp.fc_undeprecate(c, m);
    if pg_temp.fc_dry() then
        perform pg_temp.fc_say(format('-- then check: every row of %s has its value back (checksum %s)', bq, m.checksum));
        return jsonb_build_object('status', 'done');
    end if;

    -- check: every backed-up row has its value back
    execute format('select count(*) filter (where t.%I is not null and t.%I is distinct from b.%I), count(*) filter (where t.%I is null) from %s as b left join %s as t on %s',
                   m.key_columns[1], c.col, c.col, m.key_columns[1], bq, rel,
                   (select string_agg(format('t.%I = b.%I', k, k), ' and ') from unnest(m.key_columns) k))
        into bad, missing;
    live := pg_temp.fc_checksum(rel, cols);
    if bad > 0 then
        perform pg_temp.fc_fail('FE007', format('%s: restore check failed: %s row(s) differ from the backup', name, bad));
    end if;
    if live is distinct from m.checksum then
        perform pg_temp.fc_say(format('%s: rows changed since the backup (%s rows of the backup are gone); every remaining row has its value back',
                                      name, missing));
    end if;
    update ferry.column_backups b set dropped_at = null, restored_at = now()
    where (b.table_schema, b.table_name, b.column_name) = (c.sch, c.tab, c.col);
    perform pg_temp.fc_say(format('%s: restored and verified (checksum %s, backup %s)', name, live, m.checksum));
    return jsonb_build_object('status', 'done', 'checksum', live, 'backup_checksum', m.checksum,
                              'matches_backup', live = m.checksum);
end $$;

-- Recreate the saved dependents whose columns are back, parents first,
-- in passes until no more can be made (one may need another column).
create function pg_temp.fc_recreate_dependents(p_dry boolean) returns jsonb
language plpgsql as $$
declare
    d record;
    s text;
    progress boolean := true;
    made jsonb := '[]';
    failed jsonb := '[]';
    err text;
begin
    if p_dry then
        for d in select * from ferry.column_backup_dependents x
                 where x.status in ('saved', 'failed') order by x.id loop
            raise notice '-- recreate % %', d.kind, d.name;
            foreach s in array d.ddl loop
                raise notice '%;', s;
            end loop;
        end loop;
        return '{}';
    end if;
    while progress loop
        progress := false;
        for d in select * from ferry.column_backup_dependents x
                 where x.status in ('saved', 'failed')
                   and exists (select 1 from pg_attribute a
                               join pg_class r on r.oid = a.attrelid
                               join pg_namespace n on n.oid = r.relnamespace
                               where n.nspname = x.table_schema and r.relname = x.table_name
                                 and a.attname = x.column_name and not a.attisdropped)
                 order by x.id loop
            begin
                foreach s in array d.ddl loop
                    execute s;
                end loop;
                update ferry.column_backup_dependents set status = 'recreated', error = null, recreated_at = now()
                where id = d.id;
                perform pg_temp.fc_say(format('recreated %s %s', d.kind, d.name));
                made := made || to_jsonb(d.kind || ' ' || d.name);
                progress := true;
            exception when others then
                get stacked diagnostics err = message_text;
                update ferry.column_backup_dependents set status = 'failed', error = err
                where id = d.id and (status, error) is distinct from ('failed', err);
            end;
        end loop;
    end loop;
    for d in select * from ferry.column_backup_dependents x
             where x.status in ('failed', 'unsupported')
               and exists (select 1 from pg_attribute a
                           join pg_class r on r.oid = a.attrelid
                           join pg_namespace n on n.oid = r.relnamespace
                           where n.nspname = x.table_schema and r.relname = x.table_name
                             and a.attname = x.column_name and not a.attisdropped)
             order by x.id loop
        perform pg_temp.fc_say(format('not recreated: %s %s (%s)', d.kind, d.name,
                                      coalesce(d.error, 'ferry cannot recreate this kind of object')));
        failed := failed || to_jsonb(d.kind || ' ' || d.name);
    end loop;
    return jsonb_build_object('recreated', made, 'not_recreated', failed);
end $$;

-- ---------------------------------------------------------------------
-- Entry point
-- ---------------------------------------------------------------------

create function pg_temp.fc_record(c record, p_phase text, p_status text, p_detail jsonb) returns void
language plpgsql as $$
begin
    if not pg_temp.fc_dry() then
        insert into ferry.schema_changes (phase, table_schema, table_name, column_name, status, detail, sql)
        values (p_phase, c.sch, c.tab, c.col, p_status, p_detail,
                nullif(current_setting('ferry_cleanup.sql', true), ''));
    end if;
end $$;

-- Run one phase over the columns ("schema<TAB>table<TAB>column" lines).
-- Each column is one transaction, recorded in ferry.schema_changes with
-- its outcome; the first failure stops the run.
create procedure pg_temp.fc_run(p_phase text, p_cols text, p_cascade boolean, p_force boolean,
                                p_revoke boolean, p_dry boolean, p_lock_timeout text,
                                p_assume_backup boolean)
language plpgsql as $$
declare
    c record;
    res jsonb;
    err_code text;
    err_msg text;
    refusals text[] := '{}';
    why text;
    ncols int;
begin
    perform set_config('ferry_cleanup.dry_run', case when p_dry then 'on' else 'off' end, false);
    perform set_config('ferry_cleanup.lock_timeout', p_lock_timeout, false);
    perform set_config('client_min_messages', 'notice', false);
    perform pg_temp.fc_load_cols(p_cols);
    perform pg_temp.fc_check_cols(p_phase);
    select count(*) into ncols from fc_cols;
    perform pg_temp.fc_say(format('%s%s: %s column(s)', p_phase, case when p_dry then ' (dry run: nothing is changed)' else '' end, ncols));

    -- refuse before changing anything
    if p_phase in ('backup', 'drop') then
        for c in select * from fc_cols f where f.present order by f.n loop
            why := case p_phase when 'backup' then pg_temp.fc_backup_problem(c)
                                else pg_temp.fc_drop_refusal(c, p_cascade, p_force, p_assume_backup) end;
            if why is not null then
                if p_phase = 'drop' and not p_cascade then
                    perform pg_temp.fc_analyse_one(c);
                end if;
                perform pg_temp.fc_say('refused: ' || why);
                refusals := refusals || why;
                perform set_config('ferry_cleanup.sql', '', false);
                perform pg_temp.fc_record(c, p_phase, 'refused', jsonb_build_object('reason', why));
            end if;
        end loop;
        if cardinality(refusals) > 0 then
            commit;
            perform pg_temp.fc_fail('FE002', case when cardinality(refusals) = 1 then refusals[1]
                else format('%s refused for %s columns (see above), nothing was changed: %s',
                            p_phase, cardinality(refusals), refusals[1]) end);
        end if;
    end if;

    -- restore goes in reverse order: it undoes what deprecate --revoke did
    -- for several columns of a table in the opposite order
    for c in select * from fc_cols f order by case when p_phase = 'restore' then -f.n else f.n end loop
        perform set_config('ferry_cleanup.sql', '', false);
        err_code := null;
        begin
            if p_dry and p_phase <> 'analyse' then
                perform pg_temp.fc_say(format('-- %s %s', p_phase, pg_temp.fc_colname(c.sch, c.tab, c.col)));
                raise notice 'BEGIN;';
            end if;
            res := case p_phase
                when 'analyse' then pg_temp.fc_analyse_one(c) || '{"status": "done"}'
                when 'backup' then pg_temp.fc_backup_one(c)
                when 'deprecate' then pg_temp.fc_deprecate_one(c, p_revoke)
                when 'drop' then pg_temp.fc_drop_one(c, p_cascade, p_force, p_assume_backup)
                when 'restore' then pg_temp.fc_restore_one(c)
            end;
            if p_dry and p_phase <> 'analyse' then
                raise notice 'COMMIT;';
            end if;
        exception when others then
            get stacked diagnostics err_code = returned_sqlstate, err_msg = message_text;
        end;
        if err_code is not null then
            perform pg_temp.fc_record(c, p_phase, case when err_code = 'FE002' then 'refused' else 'failed' end,
                                      jsonb_build_object('error', err_msg, 'sqlstate', err_code));
            commit;
            perform pg_temp.fc_fail(err_code, err_msg);
        end if;
        perform pg_temp.fc_record(c, p_phase, res ->> 'status', res - 'status');
        commit;
    end loop;

    if p_phase = 'restore' then
        res := pg_temp.fc_recreate_dependents(p_dry);
        commit;
    end if;
end $$;

set client_min_messages = notice;
