#!/usr/bin/env bats
# The stage programs on good input: ferry-extract, ferry-transform,
# ferry-load, ferry-verify and ferry-cat, through pipes and spool files.
#
# The office pipeline runs on every office fixture present: the demo
# database (examples/demo, always here) and the shared dispatch fixture
# (../shared/fixtures/dispatch, only where FERRY_SHARED is set).  bats
# 1.8 counts the tests of a file before running any (it scans the file
# for @test lines), so a test defined inside "if shared_fixture" is still
# counted when it is not defined, and bats then fails the file with
# "Executed N instead of expected M tests".  Each fixture test therefore
# loops over the fixtures present and says on which it ran (on fd 3).
#
# Bad input (wrong conninfo, missing tables, truncated streams, garbage,
# signals ...) is in badinput.bats.

load helpers
bats_require_minimum_version 1.5.0

# ---------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------

setup_file() {
	demo_dbs st_demo_src st_demo_dst 1
	q -d st_demo_dst -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	if shared_fixture; then
		local f=$FERRY_SHARED/fixtures/dispatch
		new_db st_dispatch_src
		q -d st_dispatch_src -v scale=1 -f "$f/legacy-schema.sql" -f "$f/legacy-data.sql" >/dev/null
		new_db st_dispatch_dst
		q -d st_dispatch_dst -f "$f/destination-schema.sql" >/dev/null
		q -d st_dispatch_dst -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	fi
}

teardown_file() {
	drop_dbs
}

# the office fixtures present, one name a line
office_fixtures() {
	echo demo
	if shared_fixture; then
		echo dispatch
	fi
}

# clone_dst FIXTURE NAME: a fresh empty destination database of FIXTURE
clone_dst() {
	dropdb --if-exists --force "$2" >/dev/null 2>&1
	createdb -T "st_$1_dst" "$2"
	echo "$2" >>"$BATS_FILE_TMPDIR/dbs"
}

# office_query FIXTURE: the extract query that gives dispatch_office the
# shape of public.offices (Y/N -> boolean, timestamp read as UTC, a NULL
# updated_at -> created_at; billing_address_id is left out: the FK cycle
# with addresses is not this test's business)
office_query() {
	case $1 in
	demo)
		echo "SELECT id AS legacy_office_id, name, account_code, phone,
		        upper(trim(is_active)) = 'Y' AS is_active,
		        created_at AT TIME ZONE 'UTC' AS created_at,
		        coalesce(updated_at, created_at) AT TIME ZONE 'UTC' AS updated_at
		      FROM dispatch_office" ;;
	dispatch)
		echo "SELECT id AS legacy_office_id, name, code, phone, fax, email, website,
		        upper(trim(is_active)) = 'Y' AS is_active, timezone,
		        created_at AT TIME ZONE 'UTC' AS created_at,
		        coalesce(updated_at, created_at) AT TIME ZONE 'UTC' AS updated_at
		      FROM dispatch_office" ;;
	esac
}

# office_columns FIXTURE: the destination columns office_query fills, in order
office_columns() {
	case $1 in
	demo) echo "legacy_office_id, name, account_code, phone, is_active, created_at, updated_at" ;;
	dispatch) echo "legacy_office_id, name, code, phone, fax, email, website, is_active, timezone, created_at, updated_at" ;;
	esac
}

# office_rows_in_source FIXTURE: the query's rows as psql prints them
office_rows_in_source() {
	q1 -d "st_$1_src" -c "SELECT * FROM ($(office_query "$1")) AS q ORDER BY 1"
}

office_rows_in_dest() {
	q1 -d "$2" -c "SELECT $(office_columns "$1") FROM public.offices ORDER BY 1"
}

# office_pipe FIXTURE DST: extract | transform | load, every stage must exit 0
office_pipe() {
	ferry-extract --source "dbname=st_$1_src" --query "$(office_query "$1")" \
		--key legacy_office_id --keyspace dispatch_office \
		| ferry-transform --uuid id \
		| ferry-load --target "dbname=$2" --table public.offices
	local rc=("${PIPESTATUS[@]}")
	if [ "${rc[*]}" != "0 0 0" ]; then
		echo "office_pipe $1: exit codes ${rc[*]}" >&2
		return 1
	fi
}

# office_spool FIXTURE DST DIR: extract -o, transform FILE -o, load FILE
office_spool() {
	ferry-extract --source "dbname=st_$1_src" --query "$(office_query "$1")" \
		--key legacy_office_id --keyspace dispatch_office -o "$3/$1.extract.zst" &&
		ferry-transform --uuid id -o "$3/$1.transform.zst" "$3/$1.extract.zst" &&
		ferry-load --target "dbname=$2" --table public.offices "$3/$1.transform.zst"
}

# the four bytes of the zstd frame magic number, as od prints them
zstd_magic() {
	head -c4 "$1" | od -An -tx1 | tr -d ' \n'
}

# (legacy key, uuid) pairs of a destination's offices
office_ids() {
	q1 -d "$1" -c "SELECT legacy_office_id || ' ' || id FROM public.offices ORDER BY legacy_office_id"
}

# ---------------------------------------------------------------------
# Every program: --help, --version, unknown options
# ---------------------------------------------------------------------

@test "--help: every stage program prints its usage on stdout and exits 0" {
	for p in ferry-extract ferry-transform ferry-load ferry-verify ferry-cat; do
		run --separate-stderr "$p" --help
		assert_exit 0
		[[ $output == "Usage: $p "* ]] || { echo "$p --help: $output" >&2; return 1; }
		assert_contains "Exit codes: 0 ok, 1 internal error, 2 usage, 3 source, 4 target, 5 bad input"
		[ -z "$stderr" ] || { echo "$p --help wrote on stderr: $stderr" >&2; return 1; }
		run "$p" -h
		assert_exit 0
	done
}

@test "--version: every stage program prints its name and version" {
	for p in ferry-extract ferry-transform ferry-load ferry-verify ferry-cat; do
		run "$p" --version
		assert_exit 0
		[[ $output =~ ^$p\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "$p: $output" >&2; return 1; }
	done
}

@test "an unknown option exits 2 (usage) on every stage program, naming the option" {
	for p in ferry-extract ferry-transform ferry-load ferry-verify ferry-cat; do
		run --separate-stderr "$p" --no-such-option
		assert_exit 2
		[ -z "$output" ] || { echo "$p wrote on stdout: $output" >&2; return 1; }
		[[ $stderr == *"--no-such-option"* ]] || { echo "$p: $stderr" >&2; return 1; }
	done
}

@test "usage errors exit 2 with one line naming what is wrong" {
	run --separate-stderr ferry-extract --source dbname=st_demo_src
	assert_exit 2
	[ "$stderr" = "ferry-extract: error: give one of --table, --query or --plan (see --help)" ]

	run --separate-stderr ferry-extract --table a --query "SELECT 1"
	assert_exit 2

	run --separate-stderr ferry-extract --table dispatch_office --limit ten
	assert_exit 2
	[ "$stderr" = 'ferry-extract: error: option --limit needs a non-negative integer, not "ten"' ]

	run --separate-stderr ferry-load --target dbname=st_demo_dst
	assert_exit 2
	[ "$stderr" = "ferry-load: error: give one of --table or --plan (see --help)" ]

	run --separate-stderr ferry-load --table public.offices --mode sideways
	assert_exit 2
	[ "$stderr" = 'ferry-load: error: --mode must be insert, upsert, skip or update, not "sideways"' ]

	run --separate-stderr ferry-load --table public.offices --min-batch 10 --max-batch 5
	assert_exit 2

	run --separate-stderr ferry-load --table public.offices a.zst b.zst
	assert_exit 2

	run --separate-stderr ferry-transform --rename nonsense
	assert_exit 2
	[ "$stderr" = 'ferry-transform: error: --rename needs NAME=VALUE, not "nonsense"' ]

	run --separate-stderr ferry-verify --source-table a
	assert_exit 2

	run --separate-stderr ferry-cat a b
	assert_exit 2
	[ "$stderr" = "ferry-cat: error: too many arguments (one input file at most)" ]
}

# ---------------------------------------------------------------------
# dispatch_office -> public.offices
# ---------------------------------------------------------------------

@test "office: extract | transform | load through a pipe lands every row, values intact" {
	local f ran=""
	for f in $(office_fixtures); do
		clone_dst "$f" "st_${f}_pipe"
		run --separate-stderr office_pipe "$f" "st_${f}_pipe"
		assert_exit 0
		[ -z "$stderr" ] || { echo "stderr: $stderr" >&2; return 1; }

		local want
		want=$(q1 -d "st_${f}_src" -c "SELECT count(*) FROM dispatch_office")
		[ "$want" -gt 0 ]
		[ "$(q1 -d "st_${f}_pipe" -c "SELECT count(*) FROM public.offices")" -eq "$want" ]
		# every value as PostgreSQL prints it, source query against destination table
		diff <(office_rows_in_source "$f") <(office_rows_in_dest "$f" "st_${f}_pipe")
		# every row got a UUID, none the table's random default
		[ "$(q1 -d "st_${f}_pipe" -c "SELECT count(DISTINCT id) FROM public.offices WHERE id::text ~ '^[0-9a-f]{8}-[0-9a-f]{4}-5'")" -eq "$want" ]
		ran+=" $f"
	done
	echo "# ran on:$ran" >&3
}

@test "office: ferry-verify reports equal counts after the pipe, and a missing row" {
	local f ran=""
	for f in $(office_fixtures); do
		clone_dst "$f" "st_${f}_verify"
		office_pipe "$f" "st_${f}_verify"
		local n
		n=$(q1 -d "st_${f}_src" -c "SELECT count(*) FROM dispatch_office")

		run --separate-stderr ferry-verify --source "dbname=st_${f}_src" --target "dbname=st_${f}_verify" \
			--source-table dispatch_office --target-table public.offices
		assert_exit 0
		[ "$output" = "public.offices: source $n, destination $n, rejected 0: ok" ]
		[ -z "$stderr" ]

		q -d "st_${f}_verify" -c "DELETE FROM public.offices WHERE legacy_office_id = 3"
		run --separate-stderr ferry-verify --source "dbname=st_${f}_src" --target "dbname=st_${f}_verify" \
			--source-table dispatch_office --target-table public.offices
		assert_exit 7
		[ "$output" = "public.offices: source $n, destination $((n - 1)), rejected 0: rows missing" ]
		ran+=" $f"
	done
	echo "# ran on:$ran" >&3
}

@test "office: a spool file written by extract, replayed into transform and load, lands the same rows" {
	local f ran="" d=$BATS_TEST_TMPDIR
	for f in $(office_fixtures); do
		clone_dst "$f" "st_${f}_spool"
		run --separate-stderr office_spool "$f" "st_${f}_spool" "$d"
		assert_exit 0
		[ -z "$stderr" ] || { echo "stderr: $stderr" >&2; return 1; }

		# both spool files are zstd frames (magic 28 b5 2f fd), whole, readable by zstd itself
		[ "$(zstd_magic "$d/$f.extract.zst")" = 28b52ffd ]
		[ "$(zstd_magic "$d/$f.transform.zst")" = 28b52ffd ]
		zstd -q -t "$d/$f.extract.zst"
		# no temporary file left beside them
		[ -z "$(find "$d" -name '.*.tmp.*')" ]

		diff <(office_rows_in_source "$f") <(office_rows_in_dest "$f" "st_${f}_spool")
		run ferry-verify --source "dbname=st_${f}_src" --target "dbname=st_${f}_spool" \
			--source-table dispatch_office --target-table public.offices
		assert_exit 0
		assert_contains ": ok"
		ran+=" $f"
	done
	echo "# ran on:$ran" >&3
}

@test "office: a spool file replays from standard input too" {
	local d=$BATS_TEST_TMPDIR
	clone_dst demo st_demo_stdin
	ferry-extract --source dbname=st_demo_src --query "$(office_query demo)" \
		--key legacy_office_id --keyspace dispatch_office -o "$d/office.zst"
	ferry-transform --uuid id <"$d/office.zst" >"$d/office.stream"
	# the transform's standard output is a plain stream: not compressed without -z
	[ "$(zstd_magic "$d/office.stream")" != 28b52ffd ]
	run ferry-load --target dbname=st_demo_stdin --table public.offices <"$d/office.stream"
	assert_exit 0
	diff <(office_rows_in_source demo) <(office_rows_in_dest demo st_demo_stdin)
}

@test "office: UUIDs are identical across runs (pipe, pipe again, spool) and are UUIDv5 of dispatch_office/<id>" {
	local f ran="" d=$BATS_TEST_TMPDIR
	for f in $(office_fixtures); do
		clone_dst "$f" "st_${f}_run1"
		clone_dst "$f" "st_${f}_run2"
		clone_dst "$f" "st_${f}_run3"
		office_pipe "$f" "st_${f}_run1"
		office_pipe "$f" "st_${f}_run2"
		office_spool "$f" "st_${f}_run3" "$d"

		office_ids "st_${f}_run1" >"$d/ids1"
		office_ids "st_${f}_run2" >"$d/ids2"
		office_ids "st_${f}_run3" >"$d/ids3"
		[ -s "$d/ids1" ]
		[ "$(wc -l <"$d/ids1")" -eq "$(q1 -d "st_${f}_src" -c "SELECT count(*) FROM dispatch_office")" ]
		diff "$d/ids1" "$d/ids2"
		diff "$d/ids1" "$d/ids3"

		# the UUID is UUIDv5(ferry's namespace, "dispatch_office/" || legacy id), which
		# SQL can recompute: ferry's namespace is UUIDv5(URL namespace, "urn:ferry:legacy-key")
		q -d "st_${f}_run1" -c 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp"'
		run q1 -d "st_${f}_run1" -c "SELECT count(*) FROM public.offices
			WHERE id = uuid_generate_v5(uuid_generate_v5(uuid_ns_url(), 'urn:ferry:legacy-key'),
			                            'dispatch_office/' || legacy_office_id)"
		[ "$output" -eq "$(wc -l <"$d/ids1")" ]
		ran+=" $f"
	done
	echo "# ran on:$ran" >&3
}

@test "office: the id map and checkpoint are recorded with --run and --entity" {
	clone_dst demo st_demo_books
	ferry-extract --source dbname=st_demo_src --query "$(office_query demo)" \
		--key legacy_office_id --keyspace dispatch_office --entity offices --run r1 \
		| ferry-transform --uuid id \
		| ferry-load --target dbname=st_demo_books --table public.offices --run r1
	run q1 -d st_demo_books -c "SELECT count(*) FROM ferry.id_map m JOIN public.offices o
		ON o.legacy_office_id::text = m.legacy_id AND o.id = m.uuid
		WHERE m.entity = 'offices' AND m.run_id = 'r1'"
	[ "$output" -eq 20 ]
	run q1 -d st_demo_books -c "SELECT records, rows_loaded, rows_rejected, complete, last_key
		FROM ferry.checkpoints WHERE run_id = 'r1' AND entity = 'offices' AND phase = 'load'"
	[ "$output" = "20|20|0|t|20" ]
}

# ---------------------------------------------------------------------
# ferry-cat
# ---------------------------------------------------------------------

@test "ferry-cat: a spool file as JSON lines: header, one object per row, trailer" {
	local d=$BATS_TEST_TMPDIR
	ferry-extract --source dbname=st_demo_src --table dispatch_office -o "$d/office.zst"
	run --separate-stderr ferry-cat "$d/office.zst"
	assert_exit 0
	[ -z "$stderr" ]
	printf '%s\n' "$output" >"$d/office.jsonl"
	[ "$(wc -l <"$d/office.jsonl")" -eq 22 ]
	# every line is JSON
	jq -e . "$d/office.jsonl" >/dev/null
	# line 1: the header
	run jq -c -s '.[0] | [.ferry, .version, .source, .keyspace, .order, .key, .columns[0], .columns[5]]' "$d/office.jsonl"
	[ "$output" = '["stream",2,"dispatch_office","dispatch_office","key",["id"],["id","integer"],["is_active","character(1)"]]' ]
	# rows: objects keyed by column, in key order, with their values
	run jq -c -s '.[1] | [.id, .name, .is_active, .billing_address_id, .created_at]' "$d/office.jsonl"
	[ "$output" = "$(q1 -d st_demo_src -c "SELECT json_build_array(id, name, is_active, billing_address_id, created_at::text)
		FROM dispatch_office ORDER BY id LIMIT 1" | jq -c .)" ]
	run jq -s '[.[1:21][] | .id] == [range(1; 21)]' "$d/office.jsonl"
	[ "$output" = true ]
	# the last line: the trailer
	run jq -c -s '.[21]' "$d/office.jsonl"
	[ "$output" = '{"end":true,"rows":20,"rejects":0,"notes":0}' ]
}

@test "ferry-cat: a plain stream from a pipe prints the same lines as its spool file" {
	local d=$BATS_TEST_TMPDIR
	ferry-extract --source dbname=st_demo_src --table dispatch_office -o "$d/office.zst"
	ferry-extract --source dbname=st_demo_src --table dispatch_office | ferry-cat >"$d/from-pipe.jsonl"
	ferry-cat "$d/office.zst" >"$d/from-spool.jsonl"
	diff "$d/from-pipe.jsonl" "$d/from-spool.jsonl"
	# zstd's own tool reads the spool; its output is the plain stream
	zstdcat "$d/office.zst" | ferry-cat >"$d/from-zstdcat.jsonl"
	diff "$d/from-pipe.jsonl" "$d/from-zstdcat.jsonl"
}

@test "ferry-cat --arrays and --limit" {
	local d=$BATS_TEST_TMPDIR
	ferry-extract --source dbname=st_demo_src --table dispatch_office -o "$d/office.zst"
	run ferry-cat --arrays --limit 2 "$d/office.zst"
	assert_exit 0
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 4 ]
	[ "$(printf '%s\n' "$output" | sed -n 2p | jq -c '.[0:3]')" = '[1,"Lakeshore Optometry","LX000001"]' ]
	# the trailer still counts every row: the whole stream was read and checked
	[ "$(printf '%s\n' "$output" | tail -n 1)" = '{"end":true,"rows":20,"rejects":0,"notes":0}' ]
}

@test "ferry-cat --check: a whole stream or spool prints its counts and exits 0" {
	local d=$BATS_TEST_TMPDIR
	ferry-extract --source dbname=st_demo_src --table dispatch_office -o "$d/office.zst"
	run --separate-stderr ferry-cat --check "$d/office.zst"
	assert_exit 0
	[ "$output" = "\"$d/office.zst\": whole stream: 20 rows, 0 rejects, 0 notes" ]
	[ -z "$stderr" ]

	run bash -c "ferry-extract --source dbname=st_demo_src --table dispatch_comment | ferry-cat -c"
	assert_exit 0
	[ "$output" = "standard input: whole stream: 1197 rows, 0 rejects, 0 notes" ]
}

@test "rejects travel in the stream: transform sets a row aside, ferry-cat shows it, load records it" {
	local d=$BATS_TEST_TMPDIR
	clone_dst demo st_demo_refs
	office_pipe demo st_demo_refs
	q -d st_demo_src -c "CREATE TABLE IF NOT EXISTS office_refs (id int PRIMARY KEY, office_id int);
		TRUNCATE office_refs; INSERT INTO office_refs VALUES (1, 1), (2, 999), (3, NULL)"
	q -d st_demo_refs -c "CREATE TABLE refs (id uuid PRIMARY KEY, legacy_id int UNIQUE,
		office_id uuid REFERENCES public.offices (id))"
	cat >"$d/refs.plan" <<'EOF'
ferry-plan 1
entity offices
  source public.dispatch_office
  target public.offices
  keyspace dispatch_office
  key legacy_office_id
  uuid id
end
entity refs
  source public.office_refs
  target public.refs
  key legacy_id
  uuid id
  ref office_id offices reject
  extract
    SELECT id AS legacy_id, office_id FROM office_refs
  end
end
EOF
	ferry-extract --source dbname=st_demo_src --plan "$d/refs.plan" --entity refs \
		| ferry-transform --plan "$d/refs.plan" --entity refs --target dbname=st_demo_refs -o "$d/refs.zst"
	run ferry-cat "$d/refs.zst"
	assert_exit 0
	[ "$(printf '%s\n' "$output" | jq -c 'select(.reject) | [.reject, .stage, .key, .detail, .row.office_id]')" = \
		'["missing_reference","transform","2","office_id = 999: offices has no row with that key",999]' ]
	[ "$(printf '%s\n' "$output" | tail -n 1)" = '{"end":true,"rows":2,"rejects":1,"notes":0}' ]

	run ferry-load --target dbname=st_demo_refs --plan "$d/refs.plan" --entity refs --run rr "$d/refs.zst"
	assert_exit 6
	[ "$(q1 -d st_demo_refs -c "SELECT string_agg(legacy_id::text, ',' ORDER BY legacy_id) FROM refs")" = "1,3" ]
	[ "$(q1 -d st_demo_refs -c "SELECT count(*) FROM refs r JOIN offices o ON o.id = r.office_id
		WHERE o.legacy_office_id = 1")" -eq 1 ]
	run q1 -d st_demo_refs -c "SELECT legacy_id, stage, reason, disposition, row_data->>'office_id'
		FROM ferry.rejects WHERE run_id = 'rr' AND entity = 'refs'"
	[ "$output" = "2|transform|missing_reference|rejected|999" ]
}

# ---------------------------------------------------------------------
# Compression options
# ---------------------------------------------------------------------

@test "-z compresses standard output; --zstd-level and --zstd-threads are accepted" {
	local d=$BATS_TEST_TMPDIR
	ferry-extract --source dbname=st_demo_src --table dispatch_comment -z >"$d/z.stream"
	[ "$(zstd_magic "$d/z.stream")" = 28b52ffd ]
	ferry-extract --source dbname=st_demo_src --table dispatch_comment >"$d/plain.stream"
	[ "$(zstd_magic "$d/plain.stream")" != 28b52ffd ]
	ferry-extract --source dbname=st_demo_src --table dispatch_comment --zstd-level 19 --zstd-threads 2 -o "$d/19.zst"
	[ "$(stat -c %s "$d/19.zst")" -lt "$(stat -c %s "$d/plain.stream")" ]
	run ferry-cat --check "$d/19.zst"
	assert_exit 0
	assert_contains "1197 rows"
	# the same records whatever the compression
	diff <(ferry-cat "$d/z.stream") <(ferry-cat "$d/plain.stream")
	diff <(ferry-cat "$d/19.zst") <(ferry-cat "$d/plain.stream")
}

@test "-o - writes a plain stream on standard output" {
	run bash -c "ferry-extract --source dbname=st_demo_src --table dispatch_office -o - | ferry-cat --check"
	assert_exit 0
	[ "$output" = "standard input: whole stream: 20 rows, 0 rejects, 0 notes" ]
}

# ---------------------------------------------------------------------
# ferry-extract options
# ---------------------------------------------------------------------

@test "ferry-extract --count, --where, --limit, --after-key, --no-order" {
	run ferry-extract --source dbname=st_demo_src --table dispatch_office --count
	assert_exit 0
	[ "$output" = 20 ]
	run ferry-extract --source dbname=st_demo_src --table dispatch_office --where "q.id % 2 = 0" --count
	[ "$output" = 10 ]
	run bash -c "ferry-extract --source dbname=st_demo_src --table dispatch_office --after-key 15 | ferry-cat --arrays | jq -c 'if type == \"array\" then .[0] else empty end' | tr '\n' ' '"
	[ "$output" = "16 17 18 19 20 " ]
	run bash -c "ferry-extract --source dbname=st_demo_src --table dispatch_office --limit 3 | ferry-cat --check"
	[ "$output" = "standard input: whole stream: 3 rows, 0 rejects, 0 notes" ]
	run bash -c "ferry-extract --source dbname=st_demo_src --table dispatch_office --no-order | ferry-cat | head -n 1 | jq -c '[.order, .key]'"
	[ "$output" = '[null,["id"]]' ]
}

@test "ferry-extract --export-snapshot: another extract reads in that snapshot" {
	local d=$BATS_TEST_TMPDIR
	q -d st_demo_src -c "CREATE TABLE IF NOT EXISTS snap_t (id int PRIMARY KEY); TRUNCATE snap_t;
		INSERT INTO snap_t SELECT generate_series(1, 5)"
	ferry-extract --source dbname=st_demo_src --export-snapshot "$d/snap" 3>&- &
	local pid=$!
	wait_until 120 test -s "$d/snap"
	local snap
	snap=$(cut -f1 "$d/snap")
	q -d st_demo_src -c "INSERT INTO snap_t SELECT generate_series(6, 10)"
	run ferry-extract --source dbname=st_demo_src --table snap_t --snapshot "$snap" --count
	local in_snapshot=$output
	run ferry-extract --source dbname=st_demo_src --table snap_t --count
	local now=$output
	kill -TERM "$pid"
	wait "$pid" || true
	[ "$in_snapshot" = 5 ]
	[ "$now" = 10 ]
}

@test "--log FILE: every stage appends JSON-lines events" {
	local d=$BATS_TEST_TMPDIR
	clone_dst demo st_demo_events
	ferry-extract --source dbname=st_demo_src --query "$(office_query demo)" --key legacy_office_id \
		--keyspace dispatch_office --log "$d/events.jsonl" --run ev1 \
		| ferry-transform --uuid id --log "$d/events.jsonl" \
		| FERRY_LOG="$d/events.jsonl" ferry-load --target dbname=st_demo_events --table public.offices
	jq -e . "$d/events.jsonl" >/dev/null
	run jq -r -s 'map(.prog + ":" + .event) | join(" ")' "$d/events.jsonl"
	assert_contains "ferry-extract:extract_start"
	assert_contains "ferry-extract:extract_end"
	assert_contains "ferry-transform:transform_start"
	assert_contains "ferry-transform:transform_end"
	assert_contains "ferry-load:load_start"
	assert_contains "ferry-load:batch"
	assert_contains "ferry-load:load_end"
	run jq -r -s 'map(select(.event == "extract_end"))[0] | "\(.run) \(.rows)"' "$d/events.jsonl"
	[ "$output" = "ev1 20" ]
}

# ---------------------------------------------------------------------
# Every type keeps its PostgreSQL meaning
# ---------------------------------------------------------------------

# the table of every type, with the hard values: NULLs, extremes, NaN,
# infinities, -0, denormals, escapes, a 1 MB text, bytea, dates of year 1,
# BC and infinity, json kept verbatim, arrays
alltypes_sql() {
	cat <<'EOF'
CREATE TABLE alltypes (
  id int PRIMARY KEY,
  b boolean, i2 smallint, i4 integer, i8 bigint, n numeric, n2 numeric(12,3),
  f4 real, f8 double precision, t text, vc varchar(10), c char(3),
  by bytea, d date, ts timestamp, tstz timestamptz, tm time, tmtz timetz, iv interval,
  j json, jb jsonb, u uuid, ai int[], at text[], o oid, inet_ inet, pt point, rng int4range
);
INSERT INTO alltypes VALUES
 (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (2, true, 32767, 2147483647, 9223372036854775807, 123456789012345678901234567890.123456789012345678901, 1.5,
  3.4028235e38, 1.7976931348623157e308, 'plain', 'abc', 'ab', '\x00ff10', '2024-02-29',
  '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.789012+05:30', '23:59:59.999999', '23:59:59+05:30',
  '1 year 2 mons 3 days 04:05:06.7', '{"a": [1, 2.50, "x"], "a": 1}', '{"b": {"c": null}}',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{"a b","c,d","e\"f",NULL,"NULL"}', 4294967295,
  '192.168.0.1/24', '(1.5,-2)', '[1,10)'),
 (3, false, -32768, -2147483648, -9223372036854775808, 'NaN', -0.001, 'NaN', 'NaN',
  E'tab\there\nnewline\\backslash\r\n', '', '', '', '0001-01-01 BC', '0001-01-01 00:00:00',
  '0001-01-01 00:00:00+00 BC', '00:00:00', '00:00:00-15:59', '-1 days -00:00:01', '[]', '[]',
  '00000000-0000-0000-0000-000000000000', '{}', '{}', 0, '::1', '(0,0)', 'empty'),
 (4, true, 0, 0, 0, 'Infinity', 0, 'Infinity', 'Infinity', E'\\N', 'é', 'ü', '\x5c4e', 'infinity',
  'infinity', 'infinity', '24:00:00', '24:00:00+00', '0', 'null', 'null', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '{{1,2},{3,4}}', E'{"\\\\",""}', 1, NULL, NULL, '(,5]'),
 (5, false, 1, 1, 1, '-Infinity', NULL, '-Infinity', '-Infinity', repeat('x', 1048576), 'x', 'x',
  decode(repeat('00ff5c0a09', 1000), 'hex'), '-infinity', '-infinity', '-infinity', NULL, NULL, NULL,
  '"\u00e9 \ud83d\ude00"', '"\u00e9"', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, NULL, NULL, NULL, NULL, '-0', NULL, '-0', '-0', 'ünïcødé 😀 ' || chr(1) || chr(127), NULL, NULL, NULL,
  '4713-01-01 BC', '294276-12-31 23:59:59.999999', '4713-01-01 00:00:00+00 BC', NULL, NULL, NULL,
  '{"k":1e400}', '{"k": 1e100}', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, NULL, NULL, NULL, NULL, '1e-130', NULL, 1.17549435e-38, 4.9406564584124654e-324, '\x00', NULL, NULL, NULL,
  '5874897-12-31', NULL, NULL, NULL, NULL, NULL, '  {"ws" :  true }  ', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (8, NULL, NULL, NULL, NULL, NULL, NULL, 1.4e-45, 2.2250738585072014e-308, ' leading and trailing ', NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
EOF
}

# types_dbs SRC DST: the table in SRC, an identical empty one in DST, and
# in DST a reference copy "expected" made by PostgreSQL's own COPY
types_dbs() {
	new_db "$1"
	alltypes_sql | q -d "$1" -f -
	new_db "$2"
	q1 -d "$1" -c "SELECT 'CREATE TABLE alltypes (' || string_agg(format('%I %s', attname,
		format_type(atttypid, atttypmod)), ', ' ORDER BY attnum) || ', PRIMARY KEY (id));'
		FROM pg_attribute WHERE attrelid = 'alltypes'::regclass AND attnum > 0" | q -d "$2" -f -
	q -d "$2" -c "CREATE TABLE expected (LIKE alltypes)"
	psql -X -q -d "$1" -c "COPY alltypes TO STDOUT" | q -d "$2" -c "COPY expected FROM STDIN"
}

# rows of DB.alltypes that DB.expected lacks, and the other way round: both
# as whole-row text (exact: -0, json spacing, NaN) and as typed values
# (json compared as text, having no equality)
types_differences() {
	q1 -d "$1" -c "
		SELECT count(*) FROM (SELECT w::text FROM alltypes w EXCEPT ALL SELECT w::text FROM expected w) x;
		SELECT count(*) FROM (SELECT w::text FROM expected w EXCEPT ALL SELECT w::text FROM alltypes w) x;
		SELECT count(*) FROM (SELECT id, b, i2, i4, i8, n, n2, f4, f8, t, vc, c, by, d, ts, tstz, tm, tmtz, iv,
		                             j::text, jb, u, ai, at, o, inet_, pt::text, rng FROM alltypes
		                      EXCEPT ALL
		                      SELECT id, b, i2, i4, i8, n, n2, f4, f8, t, vc, c, by, d, ts, tstz, tm, tmtz, iv,
		                             j::text, jb, u, ai, at, o, inet_, pt::text, rng FROM expected) x;
		SELECT count(*) FROM (SELECT id, b, i2, i4, i8, n, n2, f4, f8, t, vc, c, by, d, ts, tstz, tm, tmtz, iv,
		                             j::text, jb, u, ai, at, o, inet_, pt::text, rng FROM expected
		                      EXCEPT ALL
		                      SELECT id, b, i2, i4, i8, n, n2, f4, f8, t, vc, c, by, d, ts, tstz, tm, tmtz, iv,
		                             j::text, jb, u, ai, at, o, inet_, pt::text, rng FROM alltypes) x" | tr '\n' ' '
}

@test "every type: extract | transform | load gives an identical table (EXCEPT both ways is empty)" {
	types_dbs st_types_src st_types_dst
	ferry-extract --source dbname=st_types_src --table alltypes \
		| ferry-transform \
		| ferry-load --target dbname=st_types_dst --table public.alltypes
	[ "$(q1 -d st_types_dst -c "SELECT count(*) FROM alltypes")" -eq 8 ]
	[ "$(q1 -d st_types_dst -c "SELECT count(*) FROM expected")" -eq 8 ]
	run types_differences st_types_dst
	[ "$output" = "0 0 0 0 " ]
	# spot checks that the comparison can see what matters
	[ "$(q1 -d st_types_dst -c "SELECT f8::text || ' ' || f4::text FROM alltypes WHERE id = 6")" = "-0 -0" ]
	[ "$(q1 -d st_types_dst -c "SELECT length(t) FROM alltypes WHERE id = 5")" -eq 1048576 ]
	[ "$(q1 -d st_types_dst -c "SELECT j::text FROM alltypes WHERE id = 7")" = '  {"ws" :  true }  ' ]
	[ "$(q1 -d st_types_dst -c "SELECT t = E'tab\there\nnewline\\\\backslash\r\n' FROM alltypes WHERE id = 3")" = t ]
	[ "$(q1 -d st_types_dst -c "SELECT d::text || ' ' || tstz::text FROM alltypes WHERE id = 3")" = "0001-01-01 BC 0001-01-01 00:00:00+00 BC" ]
}

@test "every type: the same through spool files, and a changed value is seen by the comparison" {
	local d=$BATS_TEST_TMPDIR
	types_dbs st_types_src2 st_types_dst2
	ferry-extract --source dbname=st_types_src2 --table alltypes -o "$d/types.zst"
	ferry-transform -o "$d/types2.zst" "$d/types.zst"
	ferry-load --target dbname=st_types_dst2 --table public.alltypes "$d/types2.zst"
	run types_differences st_types_dst2
	[ "$output" = "0 0 0 0 " ]
	# the comparison is not blind: -0 against 0 differs as text, one more row as both
	q -d st_types_dst2 -c "UPDATE alltypes SET f8 = 0 WHERE id = 6"
	run types_differences st_types_dst2
	[ "$output" = "1 1 0 0 " ]
	q -d st_types_dst2 -c "UPDATE alltypes SET f8 = '-0' WHERE id = 6; UPDATE alltypes SET t = t || ' ' WHERE id = 8"
	run types_differences st_types_dst2
	[ "$output" = "1 1 1 1 " ]
}

@test "every type: ferry-cat prints each kind of value as JSON" {
	types_dbs st_types_src3 st_types_dst3
	run bash -c "ferry-extract --source dbname=st_types_src3 --table alltypes --where 'q.id IN (2, 3, 4)' | ferry-cat"
	assert_exit 0
	local rows
	rows=$(printf '%s\n' "$output" | sed -n '2,4p')
	[ "$(printf '%s\n' "$rows" | sed -n 1p | jq -c '[.b, .i2, .i4, .n2, .by, .u, .ai]')" = \
		'[true,32767,2147483647,"1.500","\\x00ff10","a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","{1,NULL,3}"]' ]
	# a bigint beyond 2^53 is printed exactly (jq would round it: compare the text)
	[[ $(printf '%s\n' "$rows" | sed -n 1p) == *'"i8":9223372036854775807,'* ]]
	# JSON has no NaN: floats that are not numbers are strings, as PostgreSQL spells them
	[ "$(printf '%s\n' "$rows" | sed -n 2p | jq -c '[.f4, .f8, .n, .t, .d]')" = \
		'["NaN","NaN","NaN","tab\there\nnewline\\backslash\r\n","0001-01-01 BC"]' ]
	[ "$(printf '%s\n' "$rows" | sed -n 3p | jq -c '[.f8, .ts, .t]')" = '["Infinity","infinity","\\N"]' ]
}

# ---------------------------------------------------------------------
# Rejects
# ---------------------------------------------------------------------

# rej_dbs SRC DST: 50 items in SRC without constraints; row 7 breaks NOT
# NULL, row 23 the CHECK and row 41 is not JSON, in DST's jsonb column
rej_dbs() {
	new_db "$1"
	q -d "$1" -c "CREATE TABLE items (id int PRIMARY KEY, name text, qty int, doc text);
		INSERT INTO items SELECT g, 'item ' || g, g, '{\"n\": ' || g || '}' FROM generate_series(1, 50) g;
		UPDATE items SET name = NULL WHERE id = 7;
		UPDATE items SET qty = -1 WHERE id = 23;
		UPDATE items SET doc = '{bad' WHERE id = 41;"
	new_db "$2"
	q -d "$2" -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	q -d "$2" -c "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL,
		qty int CHECK (qty >= 0), doc jsonb)"
}

@test "rejects: NOT NULL, CHECK and invalid JSON rows are each rejected alone (exit 6), the rest loads" {
	local d=$BATS_TEST_TMPDIR
	rej_dbs st_rej_src st_rej_dst
	ferry-extract --source dbname=st_rej_src --table items -o "$d/items.zst"
	run ferry-load --target dbname=st_rej_dst --table public.items --run r1 --entity items \
		--rejects "$d/rejects.jsonl" "$d/items.zst"
	assert_exit 6

	# the 47 good rows, none of the 3 bad ones
	[ "$(q1 -d st_rej_dst -c "SELECT count(*) FROM items")" -eq 47 ]
	[ "$(q1 -d st_rej_dst -c "SELECT string_agg(g::text, ',') FROM generate_series(1, 50) g
		WHERE g NOT IN (SELECT id FROM items)")" = "7,23,41" ]
	# ferry.rejects: each with its reason, PostgreSQL's words and its original values
	run q1 -d st_rej_dst -c "SELECT legacy_id, stage, reason, disposition FROM ferry.rejects
		WHERE run_id = 'r1' AND entity = 'items' ORDER BY legacy_id::int"
	[ "$output" = "$(printf '%s\n' "7|load|not_null_violation|rejected" "23|load|check_violation|rejected" "41|load|invalid_input|rejected")" ]
	# the detail names the column or the constraint, and what is wrong
	run q1 -d st_rej_dst -c "SELECT detail FROM ferry.rejects WHERE legacy_id = '7'"
	assert_contains 'name'
	assert_contains 'violates not-null constraint'
	run q1 -d st_rej_dst -c "SELECT detail FROM ferry.rejects WHERE legacy_id = '23'"
	assert_contains 'violates check constraint "items_qty_check"'
	run q1 -d st_rej_dst -c "SELECT detail FROM ferry.rejects WHERE legacy_id = '41'"
	assert_contains 'doc'
	assert_contains 'invalid input syntax for type json'
	run q1 -d st_rej_dst -c "SELECT row_data::text FROM ferry.rejects WHERE legacy_id = '41'"
	[ "$output" = '{"id": 41, "doc": "{bad", "qty": 41, "name": "item 41"}' ]
	# the checkpoint counts them, the rejects file has them as JSON lines
	run q1 -d st_rej_dst -c "SELECT records, rows_loaded, rows_rejected, complete FROM ferry.checkpoints
		WHERE run_id = 'r1' AND entity = 'items'"
	[ "$output" = "50|47|3|t" ]
	[ "$(wc -l <"$d/rejects.jsonl")" -eq 3 ]
	run jq -r -s 'sort_by(.key | tonumber) | map("\(.key):\(.reason)") | join(" ")' "$d/rejects.jsonl"
	[ "$output" = "7:not_null_violation 23:check_violation 41:invalid_input" ]
	# ferry-verify accounts for them with --run
	run ferry-verify --source dbname=st_rej_src --target dbname=st_rej_dst \
		--source-table items --target-table public.items --run r1 --entity items
	assert_exit 0
	[ "$output" = "public.items: source 50, destination 47, rejected 3: ok" ]
	run ferry-verify --source dbname=st_rej_src --target dbname=st_rej_dst \
		--source-table items --target-table public.items
	assert_exit 7
}

@test "rejects: isolated alone in small batches too, wherever they fall in a batch" {
	rej_dbs st_rej_src2 st_rej_dst2
	# batches of 10: the bad rows are the 7th, 3rd and 1st of theirs; add a last-of-batch one
	q -d st_rej_src2 -c "UPDATE items SET doc = 'not json' WHERE id = 30"
	run bash -c "ferry-extract --source dbname=st_rej_src2 --table items \
		| ferry-load --target dbname=st_rej_dst2 --table public.items --run r2 --entity items \
		  --min-batch 10 --max-batch 10"
	assert_exit 6
	[ "$(q1 -d st_rej_dst2 -c "SELECT string_agg(g::text, ',') FROM generate_series(1, 50) g
		WHERE g NOT IN (SELECT id FROM items)")" = "7,23,30,41" ]
	run q1 -d st_rej_dst2 -c "SELECT records, rows_loaded, rows_rejected, complete, batches >= 5
		FROM ferry.checkpoints WHERE run_id = 'r2'"
	[ "$output" = "50|46|4|t|t" ]
}

@test "rejects: without --run the rows are still rejected alone and nothing else breaks" {
	rej_dbs st_rej_src3 st_rej_dst3
	run bash -c "ferry-extract --source dbname=st_rej_src3 --table items --entity items \
		| ferry-load --target dbname=st_rej_dst3 --table public.items"
	assert_exit 6
	[ "$(q1 -d st_rej_dst3 -c "SELECT count(*) FROM items")" -eq 47 ]
	# no run id: nothing in the run-keyed bookkeeping tables
	[ "$(q1 -d st_rej_dst3 -c "SELECT count(*) FROM ferry.rejects")" -eq 0 ]
	[ "$(q1 -d st_rej_dst3 -c "SELECT count(*) FROM ferry.checkpoints")" -eq 0 ]
}

@test "rejects: --run without an entity still loads and rejects, records nothing, and says so" {
	rej_dbs st_rej_src4 st_rej_dst4
	# a stream without an entity (--table, no --entity) and no --entity on the load
	run --separate-stderr bash -c "ferry-extract --source dbname=st_rej_src4 --table items \
		| ferry-load --target dbname=st_rej_dst4 --table public.items --run r4"
	assert_exit 6
	[ "$stderr" = "ferry-load: warning: target: no entity (--entity, or the stream's): no checkpoints, id map or rejects table" ]
	[ "$(q1 -d st_rej_dst4 -c "SELECT count(*) FROM items")" -eq 47 ]
	[ "$(q1 -d st_rej_dst4 -c "SELECT count(*) FROM ferry.rejects")" -eq 0 ]
	run --separate-stderr bash -c "ferry-extract --source dbname=st_rej_src4 --table items \
		| ferry-load --target dbname=st_rej_dst4 --table public.items --run r4 --resume"
	assert_exit 2
	[[ $stderr == *"ferry-load: error: --resume needs --run, an entity and the ferry schema"* ]]
}
