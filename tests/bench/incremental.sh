#!/usr/bin/env bash
# incremental.sh BUILD_DIR [SCALE]: the wall time of a full "ferry run" of
# examples/demo.plan against an incremental one after the application has
# changed about 5 % of the rows (tests/fixtures/demo-changes.sql).
#
#   tests/bench/incremental.sh build/release 10
#   JOBS=4 tests/bench/incremental.sh build/release 100    both runs with -j 4
#   FIXTURE=dispatch tests/bench/incremental.sh build/release 100
#       the shared dispatch fixture (../shared) with examples/dispatch.plan
#       and tests/bench/dispatch-changes.sql
#   DELETES=1 FIXTURE=dispatch tests/bench/incremental.sh build/release 10
#       the application also deletes about 1 % of the rows
#       (tests/bench/dispatch-deletes.sql), which the incremental run deletes
#       too; then "ferry verify" of the destination (its time and verdict)
#
# On a throwaway server (tests/pgserver.sh): the demo legacy database at
# SCALE (default 10) and its empty destination; a full run; the changes; an
# incremental run.  Prints the two wall times, the rows each read and
# wrote, and where the time of each went (per step, from ferry.entity_runs),
# as Markdown (docs/incremental.md has the figures).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build/release}" && pwd)
scale=${2:-10}
jobs=${JOBS:-1}
case "$scale" in ''|*[!0-9]*|0) echo "incremental.sh: SCALE must be a positive integer" >&2; exit 2 ;; esac

work=$(mktemp -d /tmp/ferry-incr.XXXXXX)
# a copy of the driver: bash reads a script as it runs, and an edit of
# scripts/ferry during a long run would break it
mkdir -p "$work/bin"
cp -r "$top/scripts/ferry" "$top/scripts/sql" "$work/bin/"
export PATH="$work/bin:$build/bin:$top/scripts:$PATH"
srv=$("$top/tests/pgserver.sh" start)
eval "$srv"
trap '"$top/tests/pgserver.sh" stop "$PGSERVER_DIR"; rm -rf "$work"' EXIT

q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
q1() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

if [ "${FIXTURE:-demo}" = dispatch ]; then
	fixture=$(cd "${FERRY_SHARED:-$top/../shared}/fixtures/dispatch" && pwd)
	plan=$top/examples/dispatch.plan
	changes=$top/tests/bench/dispatch-changes.sql
	min=99.5
else
	fixture=$top/examples/demo
	plan=$top/examples/demo.plan
	changes=$top/tests/fixtures/demo-changes.sql
	min=99
fi
createdb inc_src
q -d inc_src -v scale="$scale" -f "$fixture/legacy-schema.sql" -f "$fixture/legacy-data.sql" >/dev/null
createdb inc_dst
q -d inc_dst -f "$fixture/destination-schema.sql" >/dev/null
export FERRY_SOURCE=dbname=inc_src FERRY_TARGET=dbname=inc_dst
mkdir -p "$work/runs"
cd "$work/runs"
ferry init -q

run() {
	local id=$1 t0 t1
	shift
	t0=$(now)
	ferry run -q --plan "$plan" --min-success "$min" -j "$jobs" --run-id "$id" "$@" >"$id.out" 2>&1 ||
		{ cat "$id.out" >&2; exit 1; }
	t1=$(now)
	elapsed "$t0" "$t1"
}

full=$(run full)
q -d inc_src -f "$changes" >/dev/null
if [ "${DELETES:-0}" = 1 ]; then
	before=$(q1 -d inc_src -c "SELECT sum(n_live_tup) FROM pg_stat_user_tables")
	q -d inc_src -f "$top/tests/bench/dispatch-deletes.sql" 2>&1 | sed 's/^NOTICE:  /# /' >&2
fi
incr=$(run incr --incremental)
if [ "${DELETES:-0}" = 1 ]; then
	t0=$(now)
	vrc=0
	ferry verify --min-success "$min" >verify.out 2>&1 || vrc=$?
	echo "# ferry verify after the incremental run: exit $vrc in $(elapsed "$t0" "$(now)") s;" \
		"$(grep '^ferry: verify:' verify.out)" >&2
	# what failed, when it did: the entities that did not pass, and their differences
	[ "$vrc" -eq 0 ] || { grep -Ev ': ok( |$)|^ok |[[:space:]]ok$' verify.out | head -60 >&2 || true; }
	q1 -d inc_dst -F ' ' -c "SELECT '# deletes: ' || coalesce(sum((deletes->>'deleted')::bigint), 0) || ' deleted, '
		|| coalesce(sum((deletes->>'refused')::bigint), 0) || ' refused, of ' || '$before' || ' legacy rows'
		FROM ferry.entity_runs WHERE run_id = 'incr'" >&2
fi

jflag=
[ "$jobs" -gt 1 ] && jflag=" -j $jobs"
rows() { q1 -d inc_dst -c "SELECT source_rows || ' read, ' || loaded_rows || ' written' FROM ferry.runs WHERE run_id = '$1'"; }

cat <<EOF
## ${FIXTURE:-demo}, scale $scale ($(q1 -d inc_src -c "SELECT to_char(sum(n_live_tup), 'FM999,999,999') FROM pg_stat_user_tables") legacy rows)

| run | command | wall time | rows |
| --- | --- | --- | --- |
| full | \`ferry run --plan ${plan#$top/}$jflag\` | ${full} s | $(rows full) |
| incremental | \`ferry run --plan ${plan#$top/}$jflag --incremental\` | ${incr} s | $(rows incr) |

Incremental / full: $(awk -v a="$incr" -v b="$full" 'BEGIN { printf "%.0f %% of the time (%.0f %% less)", 100 * a / b, 100 - 100 * a / b }').

Where the time goes, per step (seconds from ferry.entity_runs; the rest is
the driver's own work between steps: the snapshot, the plan, bookkeeping):

| step | full: rows | full: s | incremental: rows | incremental: s |
| --- | ---: | ---: | ---: | ---: |
EOF
q1 -d inc_dst -F ' | ' <<'SQL' | sed 's/^/| /; s/$/ |/'
SELECT f.entity, f.source_rows, round(extract(epoch FROM f.finished_at - f.started_at)::numeric, 2),
       i.source_rows, round(extract(epoch FROM i.finished_at - i.started_at)::numeric, 2)
  FROM ferry.entity_runs f JOIN ferry.entity_runs i ON i.entity = f.entity AND i.run_id = 'incr'
 WHERE f.run_id = 'full' ORDER BY f.started_at;
SQL
q1 -d inc_dst -F ' | ' <<'SQL' | sed 's/^/| /; s/$/ |/'
SELECT 'all steps', sum(f.source_rows), round(sum(extract(epoch FROM f.finished_at - f.started_at))::numeric, 2),
       sum(i.source_rows), round(sum(extract(epoch FROM i.finished_at - i.started_at))::numeric, 2)
  FROM ferry.entity_runs f JOIN ferry.entity_runs i ON i.entity = f.entity AND i.run_id = 'incr'
 WHERE f.run_id = 'full';
SQL
