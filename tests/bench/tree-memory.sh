#!/usr/bin/env bash
# tree-memory.sh BUILD_DIR [ROWS]: peak memory of ferry-transform's tree
# build on a generated comment table (docs/comment-trees.md).
#
# Needs a server (PGHOST/PGPORT/PGUSER, e.g. from tests/pgserver.sh) and
# GNU time.  Makes the database ferry_tree_bench with two tables of ROWS
# comments (default 10,000,000), bodies of about 300 bytes:
#   sorted:   parents before children in key order (what the extract
#             gives: ORDER BY key), 1 comment in 4 a root, replies up to
#             7 rows back
#   shuffled: the same rows with parent = a random later or earlier row,
#             extracted unordered: about half the rows wait for a parent
# and runs ferry-extract | ferry-transform > /dev/null on each, printing
# the peak RSS of ferry-transform.
set -eu
build=$(cd "${1:-build/release}" && pwd)
rows=${2:-10000000}
top=$(cd "$(dirname "$0")/../.." && pwd)
db=ferry_tree_bench
work=$(mktemp -d /tmp/ferry-tree-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

psql -X -q -d postgres -c "drop database if exists $db" -c "create database $db"
psql -X -q -d "$db" -v rows="$rows" <<'SQL'
\set ON_ERROR_STOP on
set synchronous_commit = off;
create unlogged table sorted_comment as
select g as id,
       case when g % 4 = 1 then null else g - 1 - (g % 7) end as parent_id,
       g % 1000 + 1 as author_id,
       repeat(md5(g::text), 9) || ' comment ' || g as body,
       timestamp '2020-01-01' + g * interval '1 second' as created_at
  from generate_series(1, :rows) g;
-- the same comments, parents anywhere in the table, stored in random order
create unlogged table shuffled_comment as
select id,
       case when id % 4 = 1 then null
            else 1 + (hashint8(id) & 2147483647) % :rows end as parent_id,
       author_id, body, created_at
  from sorted_comment order by md5(id::text);
SQL
for t in sorted shuffled; do
	cat >"$work/$t.plan" <<PLAN
ferry-plan 1
entity comments
  source public.${t}_comment
  target public.comments
  keyspace dispatch_comment
  key legacy_comment_id
  uuid id
  tree parent_id depth=depth orphan=root cycle=reject
  extract
    SELECT id AS legacy_comment_id, parent_id, author_id, body, created_at FROM public.${t}_comment
  end
end
PLAN
	order=
	[ "$t" = shuffled ] && order=--no-order
	start=$(date +%s)
	"$build/bin/ferry-extract" --source "dbname=$db" --plan "$work/$t.plan" --entity comments $order |
		/usr/bin/time -f "%M" -o "$work/rss" \
			"$build/bin/ferry-transform" -vv --no-check --tmpdir "$work" \
			--plan "$work/$t.plan" --entity comments 2>"$work/log" >/dev/null
	secs=$(( $(date +%s) - start ))
	grep -h 'tree:' "$work/log" || true
	echo "$t: $rows comments, ferry-transform peak RSS $(( $(cat "$work/rss") / 1024 )) MB, ${secs}s"
done
psql -X -q -d postgres -c "drop database $db"
