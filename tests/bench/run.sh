#!/usr/bin/env bash
# run.sh BUILD_DIR [SCALE] [TABLES]: ferry against its peers ("make bench").
#
# On one throwaway server, with the same databases, in one run:
#   1. generates the legacy fixture at SCALE (the shared dispatch fixture
#      when $FERRY_SHARED, or ../shared beside the repository, has it; else
#      the project's demo database at a scale giving about as many rows) and
#      its empty destination;
#   2. the peers on the same legacy database:
#        raw pipe  psql -c "COPY t TO STDOUT" | psql -c "COPY t FROM STDIN",
#                  table after table, into a pre-created copy of the legacy
#                  schema (its indexes included; triggers off);
#        pgcopydb  "pgcopydb clone --table-jobs N --index-jobs N" into an
#                  empty database, when pgcopydb is installed
#                  (scripts/install-deps.sh --bench);
#   3. times "ferry run" of the whole plan (its default -j), then
#      "ferry verify", and prints the ratios peer time / ferry time;
#   4. the scaling of "ferry run" from 1 to N cores (BENCH_CORES, default
#      "1 .. nproc"; BENCH_CORES=none skips it): the server's processes and
#      ferry's are pinned to the first n cores with taskset, ferry run -j n;
#   5. for the TABLES largest entities (default 3; 0 skips it): the baseline
#        psql -c "COPY t TO STDOUT" | psql -c "COPY t2 FROM STDIN"
#      in text and binary format into a copy of the legacy table (same
#      indexes), and ferry's stages alone (extract to /dev/null, transform
#      of a spool, load of a spool) and the whole extract | transform | load
#      into a copy of the destination table (same indexes), with rows/s,
#      MB/s and the peak memory (max RSS) of every process.
# Prints a table and writes it to build/bench/results-scaleSCALE.md.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build/release}" && pwd)
scale=${2:-50}
ntables=${3:-3}
case "$scale" in ''|*[!0-9]*|0) echo "bench: SCALE must be a positive integer" >&2; exit 2 ;; esac

export PATH="$build/bin:$top/scripts:$PATH"
out_dir="$top/build/bench"
mkdir -p "$out_dir"
out="$out_dir/results-scale$scale.md"
work=$(mktemp -d /tmp/ferry-bench.XXXXXX)
chmod 755 "$work"
shared=${FERRY_SHARED:-$top/../shared}

if [ -d "$shared/fixtures/dispatch" ]; then
	fixture=$(cd "$shared/fixtures/dispatch" && pwd)
	plan="$top/examples/dispatch.plan"
	gen_scale=$scale
	min=99.5
	what="shared dispatch fixture"
else
	fixture="$top/examples/demo"
	plan="$top/examples/demo.plan"
	# the demo has about 7,800 rows a scale unit, the dispatch fixture 50,000
	gen_scale=$((scale * 6))
	# the demo's anomalies are denser than the 99.5 % bar (examples/demo/README.md)
	min=99
	what="demo database (no \$FERRY_SHARED or ../shared)"
fi
ncpu=$(nproc)
cores=${BENCH_CORES:-$(seq -s' ' 1 "$ncpu")}
[ "$cores" = none ] && cores=

export PGSERVER_SHARED_BUFFERS=${PGSERVER_SHARED_BUFFERS:-1GB}
srv=$("$top/tests/pgserver.sh" start)
eval "$srv"
trap '"$top/tests/pgserver.sh" stop "$PGSERVER_DIR"; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM HUP

say() { echo "bench: $*" >&2; }
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
q1() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }

# seconds, with a fraction, of a command; its peak RSS (kB) in $rss_file
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }
mb() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", n / s / 1048576; else print "-" }'; }
rss() { tail -n 1 "$1" | awk '{ printf "%.0f", $1 / 1024 }'; }    # kB -> MB (the last line: time may print a status line first)
T() { /usr/bin/time -o "$1" -f '%M %U %S' "${@:2}"; }
# CPU seconds: on a shared machine the wall clock mostly measures the wait
# for a CPU, so each whole-database step also counts the CPU time of the
# server (every backend it forks while the step runs: perf stat on the
# postmaster) and of the tool's own processes (user + system, /usr/bin/time)
tool_cpu() { tail -n 1 "$1" | awk '{ printf "%.1f", $2 + $3 }'; }
server_cpu_start() {
	server_cpu_pid=
	command -v perf >/dev/null || return 0
	perf stat -x, -e task-clock -p "$(postmaster_pid)" -o "$work/server-cpu.$1" 2>/dev/null &
	server_cpu_pid=$!
	sleep 0.5    # attached before the step begins
}
server_cpu_stop() {
	[ -n "$server_cpu_pid" ] || { echo -; return; }
	kill -INT "$server_cpu_pid"
	wait "$server_cpu_pid" 2>/dev/null || true
	awk -F, '/task-clock/ { printf "%.1f", $1 / 1000 }' "$work/server-cpu.$1"
}

# "A + B" -> A + B ("-" parts count nothing; empty stays empty)
sum() { [ -n "$1" ] && awk -v e="$1" 'BEGIN { n = split(e, p, " "); t = 0; for (i = 1; i <= n; i++) if (p[i] ~ /^[0-9.]+$/) t += p[i]; printf "%.1f", t }'; }
ratio() { awk -v p="$1" -v f="$2" 'BEGIN { if (p != "" && f > 0) printf "%.2f", p / f; else print "-" }'; }
# a database with the fixture's destination schema and ferry's books
new_destination() {
	createdb "$1"
	if [ -f "$fixture/destination-schema.sql" ]; then
		q -d "$1" -f "$fixture/destination-schema.sql"
	fi
	FERRY_TARGET="dbname=$1" ferry init -q
}
# pin the server (its postmaster and every backend it forks from now on)
# and what runs after "pinned N" to the first N cores
postmaster_pid() { head -n 1 "$PGSERVER_DIR/data/postmaster.pid"; }
pin_server() { taskset -a -p -c "$1" "$(postmaster_pid)" >/dev/null; }
uri() { echo "postgresql:///$1?host=$PGHOST&port=$PGPORT&user=$PGUSER"; }

createdb bench_src
say "generating the $what at scale $gen_scale"
t0=$(now)
q -d bench_src -v scale="$gen_scale" -f "$fixture/legacy-schema.sql" -f "$fixture/legacy-data.sql"
gen_s=$(elapsed "$t0" "$(now)")
q -d bench_src -c "vacuum analyze"
src_rows=$(q1 -d bench_src -c "select sum(n_live_tup) from pg_stat_user_tables")
say "generated $src_rows rows in ${gen_s}s"
cd "$work"

# ---- the peers ----
say "raw pipe: COPY TO STDOUT | COPY FROM STDIN, table after table"
createdb bench_raw
q -d bench_raw -f "$fixture/legacy-schema.sql"
q1 -d bench_src -c "select format('%I.%I', schemaname, relname) from pg_stat_user_tables
	order by schemaname, relname" >"$work/tables"
server_cpu_start raw
t0=$(now)
T "$work/raw.rss" bash -c 'while read -r t; do
	psql -X -q -d bench_src -c "copy $t to stdout" |
		psql -X -q -d bench_raw -c "set session_replication_role = replica" -c "copy $t from stdin"
done <"$1"' raw "$work/tables"
raw_s=$(elapsed "$t0" "$(now)")
raw_cpu="$(server_cpu_stop raw) + $(tool_cpu "$work/raw.rss")"
say "raw pipe: ${raw_s}s, CPU $raw_cpu s"
dropdb bench_raw

pgc_s= pgc_rss= pgc_cpu=
if command -v pgcopydb >/dev/null; then
	say "pgcopydb clone --table-jobs $ncpu --index-jobs $ncpu"
	createdb bench_pgc
	server_cpu_start pgc
	t0=$(now)
	# in a session of its own: on a failure pgcopydb ends its whole process group
	if T "$work/pgc.rss" setsid --wait pgcopydb clone --source "$(uri bench_src)" --target "$(uri bench_pgc)" \
		--table-jobs "$ncpu" --index-jobs "$ncpu" --dir "$work/pgcopydb" --no-owner --no-acl \
		>"$work/pgcopydb.log" 2>&1; then
		pgc_s=$(elapsed "$t0" "$(now)")
		pgc_rss=$(rss "$work/pgc.rss")
		pgc_cpu="$(server_cpu_stop pgc) + $(tool_cpu "$work/pgc.rss")"
		say "pgcopydb: ${pgc_s}s, CPU $pgc_cpu s"
	else
		server_cpu_stop pgc >/dev/null
		say "pgcopydb failed: see below"; tail -n 20 "$work/pgcopydb.log" >&2
	fi
	dropdb bench_pgc
else
	say "pgcopydb is not installed (scripts/install-deps.sh --bench): its column stays empty"
fi

# ---- ferry ----
export FERRY_SOURCE=dbname=bench_src FERRY_TARGET=dbname=bench_dst
new_destination bench_dst
say "ferry run (whole plan)"
server_cpu_start run
t0=$(now)
T "$work/run.rss" ferry run --plan "$plan" -q --min-success "$min" --workdir "$work/run" >"$work/run.out" 2>&1 || true
run_s=$(elapsed "$t0" "$(now)")
run_cpu="$(server_cpu_stop run) + $(tool_cpu "$work/run.rss")"
say "ferry run: ${run_s}s, CPU $run_cpu s"
run_id=$(q1 -d bench_dst -c "select run_id from ferry.runs order by started_at desc limit 1")
read -r run_src run_loaded run_rate < <(q1 -F' ' -d bench_dst -c \
	"select source_rows, loaded_rows, success_rate from ferry.runs where run_id = '$run_id'")
# the peak memory of each program, from the end events of its stages
peaks=$(q1 -d bench_dst -c "select string_agg(format('%s %s MB', program, round(kb / 1024.0)), ', ' order by program)
	from (select program, max((data->>'max_rss_kb')::bigint) as kb from ferry.audit_log
	      where run_id = '$run_id' and event like '%\_end' and data ? 'max_rss_kb' group by 1) m")

say "ferry verify (whole plan)"
server_cpu_start verify
t0=$(now)
T "$work/verify.rss" ferry verify --plan "$plan" --min-success "$min" >"$work/verify.out" 2>&1 && verify_ok=passed || verify_ok="failed (exit $?)"
verify_s=$(elapsed "$t0" "$(now)")
verify_cpu="$(server_cpu_stop verify) + $(tool_cpu "$work/verify.rss")"
say "ferry verify: ${verify_s}s, CPU $verify_cpu s"

# ---- scaling: 1 .. N cores ----
scaling=
for n in $cores; do
	say "ferry run -j $n on $n core(s)"
	mask="0-$((n - 1))"
	new_destination "bench_dst$n"
	pin_server "$mask"
	t0=$(now)
	FERRY_TARGET="dbname=bench_dst$n" taskset -c "$mask" ferry run --plan "$plan" -q -j "$n" \
		--min-success "$min" --workdir "$work/run$n" >"$work/run$n.out" 2>&1 || true
	s=$(elapsed "$t0" "$(now)")
	pin_server "0-$((ncpu - 1))"
	dropdb "bench_dst$n"
	scaling+="| $n | $s | $(ratio "${scaling_1:-$s}" "$s") |"$'\n'
	scaling_1=${scaling_1:-$s}
done

# the stage loads below write their own id map: the run's (verified above)
# would turn every insert into a conflict
q -d bench_dst -c "truncate ferry.id_map"

# the largest migrated entities: entity, legacy table, destination table, rows
q1 -F' ' -d bench_dst -c "select entity, loaded_rows from ferry.entity_runs
	where run_id = '$run_id' and entity not like '%:%' order by loaded_rows desc limit $ntables" >"$work/big"

{
	echo "# ferry benchmark, scale $scale ($what, generation scale $gen_scale)"
	echo
	echo "Machine: $ncpu CPUs, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM,"\
		"$(psql -X -qAt -d postgres -c 'select version()' | cut -d, -f1)," \
		"shared_buffers $PGSERVER_SHARED_BUFFERS, fsync off (tests/pgserver.sh), load average" \
		"$(cut -d' ' -f1-3 /proc/loadavg) at the end. $(date -u +%Y-%m-%d)."
	echo
	echo "Legacy database: $src_rows rows, generated in ${gen_s}s."
	echo
	echo "| whole database | seconds | CPU seconds, server + tool | rows | rows/s | peer / ferry: time (CPU) |"
	echo "| --- | --- | --- | --- | --- | --- |"
	echo "| raw pipe (COPY TO STDOUT \\| COPY FROM STDIN, table after table, legacy schema, triggers off) | $raw_s | $raw_cpu | $src_rows | $(rate "$src_rows" "$raw_s") | $(ratio "$raw_s" "$run_s") ($(ratio "$(sum "$raw_cpu")" "$(sum "$run_cpu")")) |"
	echo "| pgcopydb clone --table-jobs $ncpu --index-jobs $ncpu (peak RSS ${pgc_rss:--} MB) | ${pgc_s:--} | ${pgc_cpu:--} | $src_rows | $(rate "$src_rows" "${pgc_s:-0}") | $(ratio "$pgc_s" "$run_s") ($(ratio "$(sum "${pgc_cpu:-}")" "$(sum "$run_cpu")")) |"
	echo "| ferry run (peak RSS of the driver's tree $(rss "$work/run.rss") MB; $peaks) | $run_s | $run_cpu | $run_loaded loaded of $run_src ($run_rate %) | $(rate "$run_loaded" "$run_s") | 1 |"
	echo "| ferry verify, checksum mode ($verify_ok) | $verify_s | $verify_cpu | | | run / verify: $(ratio "$run_s" "$verify_s") ($(ratio "$(sum "$run_cpu")" "$(sum "$verify_cpu")")) |"
	echo
	if [ -n "$scaling" ]; then
		echo "Scaling: the server and ferry pinned to the first n cores (taskset), ferry run -j n."
		echo
		echo "| cores | ferry run seconds | speed-up |"
		echo "| --- | --- | --- |"
		printf '%s' "$scaling"
		echo
	fi
	if [ "$ntables" -gt 0 ]; then
	echo "Per table: the baseline is \`psql -c \"COPY t TO STDOUT\" | psql -c \"COPY t2 FROM STDIN\"\` into a"
	echo "copy of the legacy table (its indexes included); ferry writes a copy of the destination"
	echo "table (its indexes included) with the run's id map, checkpoints and rejects.  The"
	echo "destination COPY column is a raw COPY of the rows ferry wrote into that same copy of the"
	echo "destination table: what writing the destination costs by itself (UUID keys, more indexes)."
	echo
	echo "| table | rows | legacy COPY pipe text rows/s | binary rows/s | COPY into the destination table rows/s | ferry pipeline rows/s | ratio to the legacy pipe / to the destination COPY | extract rows/s (MB/s) | transform rows/s | load rows/s | peak RSS extract/transform/load MB |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	fi
} >"$out"

while read -r entity rows; do
	src=$(ferry-plan get "$plan" "$entity" source)
	dst=$(ferry-plan get "$plan" "$entity" target)
	say "$entity ($src -> $dst, $rows rows)"

	# baseline: the legacy table into a copy of itself, text then binary
	q -d bench_src -c "create schema if not exists bench; create table bench.t (like $src including all)"
	t0=$(now)
	psql -X -q -d bench_src -c "copy $src to stdout" | psql -X -q -d bench_src -c "copy bench.t from stdin"
	text_s=$(elapsed "$t0" "$(now)")
	q -d bench_src -c "truncate bench.t"
	t0=$(now)
	psql -X -q -d bench_src -c "copy $src to stdout (format binary)" |
		psql -X -q -d bench_src -c "copy bench.t from stdin (format binary)"
	bin_s=$(elapsed "$t0" "$(now)")
	q -d bench_src -c "drop table bench.t"

	# ferry: a copy of the destination table, loaded with the run's bookkeeping
	q -d bench_dst -c "create schema if not exists bench; create table bench.t (like $dst including all)"
	common=(--plan "$plan" --entity "$entity")
	t0=$(now)
	T "$work/e.rss" ferry-extract "${common[@]}" >/dev/null
	ext_s=$(elapsed "$t0" "$(now)")
	bytes=$(ferry-extract "${common[@]}" | wc -c)
	ferry-extract "${common[@]}" -o "$work/x.zst"
	t0=$(now)
	T "$work/t.rss" ferry-transform "${common[@]}" "$work/x.zst" >"$work/t.stream"
	tf_s=$(elapsed "$t0" "$(now)")
	t0=$(now)
	T "$work/l.rss" ferry-load --target "$FERRY_TARGET" --table bench.t --entity "$entity" \
		--run "bench-load-$entity" "$work/t.stream" || true
	ld_s=$(elapsed "$t0" "$(now)")
	q -d bench_dst -c "truncate bench.t, ferry.id_map"
	t0=$(now)
	T "$work/pe.rss" ferry-extract "${common[@]}" |
		T "$work/pt.rss" ferry-transform "${common[@]}" |
		T "$work/pl.rss" ferry-load --target "$FERRY_TARGET" --table bench.t \
			--entity "$entity" --run "bench-pipe-$entity" || true
	pipe_s=$(elapsed "$t0" "$(now)")
	# the same rows into the same destination table by a raw COPY: the
	# physical limit of writing the destination (its UUID keys and indexes)
	psql -X -q -d bench_dst -c "copy bench.t to stdout" >"$work/dest.copy"
	q -d bench_dst -c "truncate bench.t"
	t0=$(now)
	psql -X -q -d bench_dst -c "set session_replication_role = replica" -c "copy bench.t from stdin" <"$work/dest.copy"
	dcopy_s=$(elapsed "$t0" "$(now)")
	rm -f "$work/dest.copy"
	q -d bench_dst -c "drop table bench.t"
	rm -f "$work/x.zst" "$work/t.stream"

	ratio=$(awk -v p="$pipe_s" -v t="$text_s" 'BEGIN { if (p > 0) printf "%.2f", t / p; else print "-" }')
	dratio=$(awk -v p="$pipe_s" -v t="$dcopy_s" 'BEGIN { if (p > 0) printf "%.2f", t / p; else print "-" }')
	echo "| $entity | $rows | $(rate "$rows" "$text_s") | $(rate "$rows" "$bin_s") | $(rate "$rows" "$dcopy_s") | $(rate "$rows" "$pipe_s") | $ratio / $dratio | $(rate "$rows" "$ext_s") ($(mb "$bytes" "$ext_s")) | $(rate "$rows" "$tf_s") | $(rate "$rows" "$ld_s") | $(rss "$work/pe.rss")/$(rss "$work/pt.rss")/$(rss "$work/pl.rss") (alone: $(rss "$work/e.rss")/$(rss "$work/t.rss")/$(rss "$work/l.rss")) |" >>"$out"
done <"$work/big"

echo >>"$out"
echo "Raw figures: seconds per step are in the rates (rows / seconds); ratio = ferry pipeline rows/s / COPY text rows/s." >>"$out"
cat "$out"
say "results written to $out"
