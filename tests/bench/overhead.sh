#!/usr/bin/env bash
# overhead.sh BUILD_DIR [ENTITIES]: the driver's own time per step (issue
# 19: under 50 ms), on a plan of many tiny entities (default 60, three
# rows each), and an incremental run with nothing changed against the full
# run.  On a throwaway server (tests/pgserver.sh).
#
# A step's driver time is read from the books: from the last event of its
# stages to its finish in ferry.entity_runs (the step recorded), and from
# its finish to the next step's start (the driver's work between steps).
# From a step's start to the first event of its stages is shown apart: it
# is mostly the stages' own start-up (exec, connecting to the databases).
# The runs are sequential (-j 1): with -j N the steps overlap and the time
# from one step's finish to the next one's start means nothing.
#
#   tests/bench/overhead.sh build/release 60
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build/release}" && pwd)
n=${2:-60}
case "$n" in ''|*[!0-9]*|0) echo "overhead.sh: ENTITIES must be a positive integer" >&2; exit 2 ;; esac

work=$(mktemp -d /tmp/ferry-overhead.XXXXXX)
# a copy of the driver: bash reads a script as it runs
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

createdb ovh_src
createdb ovh_dst
q -d ovh_src -v n="$n" <<'SQL'
SELECT format('CREATE TABLE public.src_%s (id integer PRIMARY KEY, name text, updated_at timestamptz NOT NULL);
               INSERT INTO public.src_%s SELECT g, ''row '' || g, now() - interval ''1 day'' FROM generate_series(1, 3) g',
              i, i)
FROM generate_series(1, :n) i \gexec
SQL
q -d ovh_dst -v n="$n" <<'SQL'
SELECT format('CREATE TABLE public.dst_%s (id uuid PRIMARY KEY, legacy_id integer UNIQUE, name text,
                                           updated_at timestamptz NOT NULL)', i)
FROM generate_series(1, :n) i \gexec
SQL
{
	printf 'ferry-plan 1\n'
	for i in $(seq 1 "$n"); do
		cat <<EOF2

entity t$i
  source public.src_$i
  target public.dst_$i
  key legacy_id
  uuid id
  incremental q.updated_at
  extract
    SELECT s.id AS legacy_id, s.name, s.updated_at FROM public.src_$i s
  end
end
EOF2
	done
} >"$work/tiny.plan"

export FERRY_SOURCE=dbname=ovh_src FERRY_TARGET=dbname=ovh_dst
cd "$work"
ferry init -q
t0=$(now)
ferry run -q -j 1 --plan "$work/tiny.plan" --run-id full --workdir "$work/full" >"$work/full.out" 2>&1 ||
	{ cat "$work/full.out" >&2; exit 1; }
t1=$(now)
ferry run -q -j 1 --plan "$work/tiny.plan" --incremental --run-id same --workdir "$work/same" >"$work/same.out" 2>&1 ||
	{ cat "$work/same.out" >&2; exit 1; }
t2=$(now)

# the driver's time of each step of a run, in ms: (last stage event ->
# finish) + (finish -> next step's begin); then each part, and the start-up
driver_ms() {
	q1 -d ovh_dst -v run="$1" <<'SQL'
WITH s AS (
    SELECT e.entity, e.started_at, e.finished_at,
           lead(e.attempt_started_at) OVER (ORDER BY e.started_at) AS next_start,
           (SELECT min(a.ts) FROM ferry.audit_log a WHERE a.run_id = e.run_id AND a.data->>'step' = e.entity) AS first_ev,
           (SELECT max(a.ts) FROM ferry.audit_log a WHERE a.run_id = e.run_id AND a.data->>'step' = e.entity) AS last_ev
    FROM ferry.entity_runs e WHERE e.run_id = :'run')
SELECT round(avg(extract(epoch FROM (finished_at - last_ev)
                                     + coalesce(next_start - finished_at, interval '0'))) * 1000, 1),
       round(avg(extract(epoch FROM first_ev - started_at)) * 1000, 1),
       round(avg(extract(epoch FROM finished_at - last_ev)) * 1000, 1),
       round(avg(extract(epoch FROM next_start - finished_at)) * 1000, 1),
       count(*)
FROM s
SQL
}
IFS='|' read -r full_ms full_in full_out full_gap steps <<<"$(driver_ms full)"
IFS='|' read -r same_ms _ _ _ _ <<<"$(driver_ms same)"

cat <<EOF2
## Driver overhead per step ($steps tiny entities, 3 rows each, -j 1)

| run | wall time | driver time per step (bar 50 ms) |
| --- | --- | --- |
| full | $(elapsed "$t0" "$t1") s | $full_ms ms (last stage event to the step's finish $full_out ms, finish to the next step $full_gap ms; apart: the step's start to its stages' first event, their start-up, $full_in ms) |
| incremental, nothing changed | $(elapsed "$t1" "$t2") s | $same_ms ms |
EOF2
