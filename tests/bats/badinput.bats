#!/usr/bin/env bats
# The stage programs on bad input: each gets one error line on stderr
# that names the problem, the exit code of lib/exitcode.h, and no partial
# output file (nor temporary file) when writing one with -o.
#
#   3 source database   4 target database   5 bad input stream
#   8 local file        2 usage             143 = killed by SIGTERM

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	demo_dbs bad_src bad_dst 1
	q -d bad_dst -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	# 1000 items, loadable as they are
	q -d bad_src -c "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int);
		INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series(1, 1000) g"
	q -d bad_dst -c "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int)"

	local d=$BATS_FILE_TMPDIR
	# dispatch_office shaped like public.offices, as a plain stream and as a spool
	ferry-extract --source dbname=bad_src --key legacy_office_id --keyspace dispatch_office --query \
		"SELECT id AS legacy_office_id, name, account_code, phone,
		        upper(trim(is_active)) = 'Y' AS is_active,
		        created_at AT TIME ZONE 'UTC' AS created_at,
		        coalesce(updated_at, created_at) AT TIME ZONE 'UTC' AS updated_at
		 FROM dispatch_office" | ferry-transform --uuid id >"$d/office.stream"
	ferry-transform -o "$d/office.zst" "$d/office.stream"
	ferry-extract --source dbname=bad_src --table items >"$d/items.stream"
	ferry-extract --source dbname=bad_src --table items -o "$d/items.zst"
	# 1.1 MB of comments, one of them 1 MB long
	ferry-extract --source dbname=bad_src --table dispatch_comment >"$d/comment.stream"
}

teardown_file() {
	drop_dbs
}

teardown() {
	release_lock
}

setup() {
	q -d bad_dst -c "TRUNCATE public.offices CASCADE; TRUNCATE items;
		TRUNCATE ferry.checkpoints, ferry.rejects, ferry.id_map" >/dev/null 2>&1
}

# assert_error PROGRAM TEXT...: $stderr (of run --separate-stderr) is one
# line "PROGRAM: error: ..." that contains every TEXT
assert_error() {
	local prog=$1 t
	shift
	if [ "$(printf '%s\n' "$stderr" | grep -c .)" -ne 1 ]; then
		printf 'expected one line on stderr, got:\n%s\n' "$stderr" >&2
		return 1
	fi
	if [[ $stderr != "$prog: error: "* ]]; then
		echo "expected \"$prog: error: ...\", got: $stderr" >&2
		return 1
	fi
	for t in "$@"; do
		if [[ $stderr != *"$t"* ]]; then
			echo "expected the error to contain: $t" >&2
			echo "got: $stderr" >&2
			return 1
		fi
	done
}

# assert_no_output DIR NAME: neither DIR/NAME nor a temporary file of it
assert_no_output() {
	if [ -e "$1/$2" ]; then
		echo "$1/$2 exists" >&2
		return 1
	fi
	if compgen -G "$1/.$2.tmp.*" >/dev/null; then
		echo "temporary files left: $(compgen -G "$1/.$2.tmp.*")" >&2
		return 1
	fi
}

rows_in() {
	q1 -d bad_dst -c "SELECT count(*) FROM $1"
}

# wait_for_tmp DIR NAME [-s]: until DIR/.NAME.tmp.* exists (with -s: holds data)
wait_for_tmp() {
	wait_until 120 tmp_file "$@"
}
tmp_file() {
	local f
	for f in "$1/.$2.tmp."*; do
		if [ "${3:--e}" "$f" ]; then
			return 0
		fi
	done
	return 1
}

# checkpoint_at_least RUN N: the checkpoint of RUN counts N records or more
checkpoint_at_least() {
	[ "$(q1 -d bad_dst -c "SELECT coalesce(max(records), 0) FROM ferry.checkpoints WHERE run_id = '$1'")" -ge "$2" ]
}

# no_extract_waits: the backend of a killed ferry-extract has gone
no_extract_waits() {
	[ "$(q1 -d bad_src -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry-extract'")" -eq 0 ]
}

# ---------------------------------------------------------------------
# Wrong conninfo
# ---------------------------------------------------------------------

@test "wrong conninfo: ferry-extract exits 3 with one line naming the database" {
	run --separate-stderr ferry-extract --source dbname=bad_nope --table dispatch_office
	assert_exit 3
	assert_error ferry-extract 'cannot connect to the source database "bad_nope"' 'database "bad_nope" does not exist'
	[ -z "$output" ]

	run --separate-stderr ferry-extract --source "host=$BATS_TEST_TMPDIR/no-server dbname=bad_src" --table dispatch_office
	assert_exit 3
	assert_error ferry-extract 'cannot connect to the source database "bad_src"' "$BATS_TEST_TMPDIR/no-server"

	run --separate-stderr ferry-extract --source "postgresql://localhost:54x/bad_src" --table dispatch_office
	assert_exit 3
	assert_error ferry-extract "cannot connect to the source database" '"54x"'

	# $FERRY_SOURCE when there is no --source
	FERRY_SOURCE=dbname=bad_nope2 run --separate-stderr ferry-extract --table dispatch_office
	assert_exit 3
	assert_error ferry-extract '"bad_nope2"'
}

@test "wrong conninfo: a password in it is never printed" {
	run --separate-stderr ferry-extract --source "dbname=bad_nope password=s3cr3t-pw" --table dispatch_office
	assert_exit 3
	[[ $stderr != *s3cr3t* ]]
	run --separate-stderr ferry-load --target "postgresql://someone:s3cr3t-pw@/bad_nope?host=$PGHOST" \
		--table public.offices "$BATS_FILE_TMPDIR/office.zst"
	assert_exit 4
	[[ $stderr != *s3cr3t* ]]
	assert_error ferry-load "cannot connect to the target database"
}

@test "wrong conninfo: ferry-load exits 4, nothing loaded" {
	run --separate-stderr ferry-load --target dbname=bad_nope --table public.offices "$BATS_FILE_TMPDIR/office.zst"
	assert_exit 4
	assert_error ferry-load 'cannot connect to the target database "bad_nope"'
	FERRY_TARGET=dbname=bad_nope3 run --separate-stderr ferry-load --table public.offices "$BATS_FILE_TMPDIR/office.zst"
	assert_exit 4
	assert_error ferry-load '"bad_nope3"'
}

@test "wrong conninfo: ferry-verify exits 3 for the source, 4 for the target" {
	run --separate-stderr ferry-verify --source dbname=bad_nope --target dbname=bad_dst \
		--source-table dispatch_office --target-table public.offices
	assert_exit 3
	assert_error ferry-verify 'cannot connect to the source database "bad_nope"'
	run --separate-stderr ferry-verify --source dbname=bad_src --target dbname=bad_nope \
		--source-table dispatch_office --target-table public.offices
	assert_exit 4
	assert_error ferry-verify 'cannot connect to the target database "bad_nope"'
}

@test "wrong conninfo: ferry-transform --target (reference checks) exits 4, no output file" {
	local d=$BATS_TEST_TMPDIR
	printf 'ferry-plan 1\nentity offices\n  source public.dispatch_office\n  target public.offices\n  keyspace dispatch_office\n  key legacy_office_id\n  uuid id\nend\n' >"$d/p.plan"
	run --separate-stderr ferry-transform --plan "$d/p.plan" --entity offices --target dbname=bad_nope \
		-o "$d/out.zst" "$BATS_FILE_TMPDIR/office.zst"
	assert_exit 4
	assert_error ferry-transform 'cannot connect to the target database "bad_nope"'
	assert_no_output "$d" out.zst
}

# ---------------------------------------------------------------------
# A table that does not exist, a query that fails
# ---------------------------------------------------------------------

@test "a source table that does not exist: ferry-extract exits 3 naming it, no output file" {
	local d=$BATS_TEST_TMPDIR
	run --separate-stderr ferry-extract --source dbname=bad_src --table dispatch_nope -o "$d/out.zst"
	assert_exit 3
	assert_error ferry-extract 'table "dispatch_nope" does not exist' 'dbname=bad_src'
	assert_no_output "$d" out.zst
	run --separate-stderr ferry-extract --source dbname=bad_src --table nope_schema.dispatch_office
	assert_exit 3
	assert_error ferry-extract '"nope_schema.dispatch_office"'
	[ -z "$output" ]
}

@test "a destination table that does not exist: ferry-load exits 4 naming it" {
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.nope "$BATS_FILE_TMPDIR/office.zst"
	assert_exit 4
	assert_error ferry-load 'relation "public.nope" does not exist'
}

@test "a table that does not exist: ferry-verify exits 3 (source) or 4 (target) naming it" {
	run --separate-stderr ferry-verify --source dbname=bad_src --target dbname=bad_dst \
		--source-table dispatch_nope --target-table public.offices
	assert_exit 3
	assert_error ferry-verify 'relation "dispatch_nope" does not exist'
	run --separate-stderr ferry-verify --source dbname=bad_src --target dbname=bad_dst \
		--source-table dispatch_office --target-table public.nope
	assert_exit 4
	assert_error ferry-verify 'relation "public.nope" does not exist'
}

@test "a query the source refuses: ferry-extract exits 3 with the server's message" {
	run --separate-stderr ferry-extract --source dbname=bad_src --query "SELECT nope FROM dispatch_office"
	assert_exit 3
	assert_error ferry-extract 'column "nope" does not exist'
	[ -z "$output" ]
	run --separate-stderr ferry-extract --source dbname=bad_src --table dispatch_office --where "q.nope = 1"
	assert_exit 3
	assert_error ferry-extract 'column q.nope does not exist'
}

@test "a source error mid-stream: exit 3, no output file, an older file of that name untouched" {
	local d=$BATS_TEST_TMPDIR
	echo "older" >"$d/keep.zst"
	# 1499 rows stream out before row 1500 divides by zero
	run --separate-stderr ferry-extract --source dbname=bad_src \
		--query "SELECT g, 1 / (g - 1500) AS x FROM generate_series(1, 3000) g" -o "$d/keep.zst"
	assert_exit 3
	assert_error ferry-extract "division by zero"
	[ "$(cat "$d/keep.zst")" = older ]
	[ -z "$(compgen -G "$d/.keep.zst.tmp.*")" ]
	run --separate-stderr ferry-extract --source dbname=bad_src \
		--query "SELECT g, 1 / (g - 1500) AS x FROM generate_series(1, 3000) g" -o "$d/new.zst"
	assert_exit 3
	assert_no_output "$d" new.zst
}

@test "a stream with columns the destination lacks: ferry-load exits 4 naming them, nothing loaded" {
	# the office stream, with columns renamed to names public.offices lacks
	local d=$BATS_TEST_TMPDIR
	ferry-transform --rename phone=telephone "$BATS_FILE_TMPDIR/office.zst" >"$d/one.stream"
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.offices "$d/one.stream"
	assert_exit 4
	assert_error ferry-load 'table public.offices has no column "telephone"'
	[ "$(rows_in public.offices)" -eq 0 ]

	ferry-transform --rename phone=telephone --rename name=title "$BATS_FILE_TMPDIR/office.zst" >"$d/two.stream"
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.offices "$d/two.stream"
	assert_exit 4
	assert_error ferry-load 'no columns "title", "telephone"'
	[ "$(rows_in public.offices)" -eq 0 ]
}

# ---------------------------------------------------------------------
# Truncated streams
# ---------------------------------------------------------------------

@test "a truncated plain stream: every cut is refused with exit 5 and 'truncated'" {
	local d=$BATS_TEST_TMPDIR f=$BATS_FILE_TMPDIR/office.stream size n cuts=0
	size=$(stat -c %s "$f")
	# every 23rd byte, and each of the last 40 (inside and at the edges of the trailer)
	for n in $(seq 1 23 "$size") $(seq $((size - 40)) $((size - 1))); do
		head -c "$n" "$f" >"$d/cut"
		run --separate-stderr ferry-cat --check "$d/cut"
		assert_exit 5
		assert_error ferry-cat "\"$d/cut\": truncated stream"
		cuts=$((cuts + 1))
	done
	[ "$cuts" -gt 100 ]
}

@test "a truncated spool file: every cut is refused with exit 5 and 'truncated'" {
	local d=$BATS_TEST_TMPDIR f=$BATS_FILE_TMPDIR/office.zst size n
	size=$(stat -c %s "$f")
	for n in $(seq 4 11 "$size") $(seq $((size - 20)) $((size - 1))); do
		head -c "$n" "$f" >"$d/cut.zst"
		run --separate-stderr ferry-cat --check "$d/cut.zst"
		assert_exit 5
		assert_error ferry-cat "\"$d/cut.zst\": truncated zstd frame (the spool file is incomplete)"
	done
	# fewer than the 4 bytes of the magic number: not recognisable as anything
	head -c 3 "$f" >"$d/cut.zst"
	run --separate-stderr ferry-cat --check "$d/cut.zst"
	assert_exit 5
	assert_error ferry-cat "not a ferry stream"
}

@test "a truncated stream into ferry-transform -o: exit 5, no output file nor temporary file" {
	local d=$BATS_TEST_TMPDIR f=$BATS_FILE_TMPDIR/office.stream
	head -c $(($(stat -c %s "$f") - 30)) "$f" >"$d/cut.stream"
	run --separate-stderr ferry-transform -o "$d/out.zst" "$d/cut.stream"
	assert_exit 5
	assert_error ferry-transform "truncated stream"
	assert_no_output "$d" out.zst

	# from a pipe, cut in the middle of a row of the 1 MB comment stream
	run --separate-stderr bash -c "head -c 600000 '$BATS_FILE_TMPDIR/comment.stream' | ferry-transform -o '$d/c.zst'"
	assert_exit 5
	assert_error ferry-transform "standard input: truncated stream"
	assert_no_output "$d" c.zst

	# a cut spool
	head -c 500 "$BATS_FILE_TMPDIR/office.zst" >"$d/cut.zst"
	run --separate-stderr ferry-transform -o "$d/out2.zst" "$d/cut.zst"
	assert_exit 5
	assert_error ferry-transform "truncated zstd frame"
	assert_no_output "$d" out2.zst
}

@test "a truncated stream into ferry-load: exit 5, nothing loaded" {
	local d=$BATS_TEST_TMPDIR f=$BATS_FILE_TMPDIR/office.stream
	head -c $(($(stat -c %s "$f") - 1)) "$f" >"$d/cut.stream"
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.offices --run t1 --entity offices "$d/cut.stream"
	assert_exit 5
	assert_error ferry-load "truncated stream"
	[ "$(rows_in public.offices)" -eq 0 ]
	[ "$(rows_in ferry.checkpoints)" -eq 0 ]

	head -c 700 "$BATS_FILE_TMPDIR/office.zst" >"$d/cut.zst"
	run --separate-stderr bash -c "ferry-load --target dbname=bad_dst --table public.offices <'$d/cut.zst'"
	assert_exit 5
	assert_error ferry-load "standard input: truncated zstd frame"
	[ "$(rows_in public.offices)" -eq 0 ]
}

@test "a truncated stream longer than a batch: committed batches stay, --resume with the whole stream completes it" {
	local d=$BATS_TEST_TMPDIR f=$BATS_FILE_TMPDIR/items.stream
	head -c $(($(stat -c %s "$f") / 2)) "$f" >"$d/half.stream"
	# through a pipe (a file is verified whole first, and loads nothing): the verified chunks load
	run --separate-stderr bash -c "cat '$d/half.stream' | ferry-load --target dbname=bad_dst --table public.items \
		--run t2 --entity items --min-batch 100 --max-batch 100"
	assert_exit 5
	assert_error ferry-load "truncated stream"
	# whole batches of 100 only, and the checkpoint says exactly what landed, not complete
	local n
	n=$(rows_in items)
	[ "$n" -ge 100 ]
	[ "$n" -lt 1000 ]
	[ $((n % 100)) -eq 0 ]
	[ "$(q1 -d bad_dst -c "SELECT records, rows_loaded, complete FROM ferry.checkpoints
		WHERE run_id = 't2' AND entity = 'items'")" = "$n|$n|f" ]

	run --separate-stderr ferry-load --target dbname=bad_dst --table public.items --run t2 --entity items \
		--resume "$BATS_FILE_TMPDIR/items.zst"
	assert_exit 0
	[ "$(rows_in items)" -eq 1000 ]
	[ "$(q1 -d bad_dst -c "SELECT count(DISTINCT id) || '|' || min(id) || '|' || max(id) FROM items")" = "1000|1|1000" ]
	[ "$(q1 -d bad_dst -c "SELECT records, rows_loaded, complete FROM ferry.checkpoints
		WHERE run_id = 't2' AND entity = 'items'")" = "1000|1000|t" ]
}

# ---------------------------------------------------------------------
# Garbage, foreign files, corrupt streams
# ---------------------------------------------------------------------

@test "garbage on standard input: exit 5 from transform, load and cat" {
	local g
	for g in 'hello, world' '{"ferry":"stream","version":1}' '\x7fELF\x02\x01\x01' \
		'\x93\x01\x02\x03' '\xc1\xc1\xc1\xc1' '\xdd\xff\xff\xff\xff\x01\x02\x03' '\xdf\x7f\xff\xff\xff\xa1a\x01' \
		'\x81\xa1a\xdd\xff\xff\xff\xff\x01' '\x82\xa5ferry\xa6stream\xa7version\x03'; do
		run --separate-stderr bash -c "printf '$g' | ferry-cat"
		assert_exit 5
		assert_error ferry-cat "standard input: "
		[ -z "$output" ]
		run --separate-stderr bash -c "printf '$g' | ferry-transform -o '$BATS_TEST_TMPDIR/g.zst'"
		assert_exit 5
		assert_error ferry-transform "standard input: "
		assert_no_output "$BATS_TEST_TMPDIR" g.zst
		run --separate-stderr bash -c "printf '$g' | ferry-load --target dbname=bad_dst --table public.offices"
		assert_exit 5
		assert_error ferry-load "standard input: "
	done
	# what the messages say
	run --separate-stderr bash -c "printf 'hello, world' | ferry-cat"
	assert_error ferry-cat "standard input: not a ferry stream (no stream header)"
	run --separate-stderr bash -c "printf '\x82\xa5ferry\xa6stream\xa7version\x03' | ferry-cat"
	assert_error ferry-cat "unsupported ferry stream version"
	run --separate-stderr bash -c "printf '\xdd\xff\xff\xff\xff\x01\x02\x03' | ferry-cat"
	assert_error ferry-cat "not a ferry stream"
	[ "$(rows_in public.offices)" -eq 0 ]
}

@test "random bytes on standard input: exit 5, one line" {
	local i
	for i in 1 2 3 4 5 6 7 8; do
		head -c 5000 /dev/urandom >"$BATS_TEST_TMPDIR/rand"
		run --separate-stderr bash -c "ferry-cat --check <'$BATS_TEST_TMPDIR/rand'"
		assert_exit 5
		assert_error ferry-cat "standard input: "
	done
}

@test "empty input: exit 5, 'empty input'" {
	run --separate-stderr bash -c "ferry-cat </dev/null"
	assert_exit 5
	assert_error ferry-cat "standard input: empty input (expected a ferry stream)"
	run --separate-stderr bash -c "ferry-load --target dbname=bad_dst --table public.offices </dev/null"
	assert_exit 5
	assert_error ferry-load "empty input"
	: >"$BATS_TEST_TMPDIR/empty.zst"
	run --separate-stderr ferry-transform "$BATS_TEST_TMPDIR/empty.zst"
	assert_exit 5
	assert_error ferry-transform "\"$BATS_TEST_TMPDIR/empty.zst\": empty input"
}

@test "a spool file that is not one (text, a program, zstd of text): exit 5 naming the file" {
	local d=$BATS_TEST_TMPDIR f
	printf 'id,name\n1,Lakeshore Optometry\n' >"$d/offices.csv"
	cp "$(command -v ferry-cat)" "$d/program.bin"
	head -c 100000 /dev/urandom >"$d/random.bin"
	printf 'not a stream\n' | zstd -q >"$d/text.zst"
	for f in offices.csv program.bin random.bin text.zst; do
		run --separate-stderr ferry-cat "$d/$f"
		assert_exit 5
		assert_error ferry-cat "\"$d/$f\": "
		run --separate-stderr ferry-transform -o "$d/out.zst" "$d/$f"
		assert_exit 5
		assert_error ferry-transform "\"$d/$f\": "
		assert_no_output "$d" out.zst
		run --separate-stderr ferry-load --target dbname=bad_dst --table public.offices "$d/$f"
		assert_exit 5
		assert_error ferry-load "\"$d/$f\": "
	done
	run --separate-stderr ferry-cat "$d/offices.csv"
	assert_error ferry-cat "\"$d/offices.csv\": not a ferry stream (no stream header)"
	run --separate-stderr ferry-cat "$d/text.zst"
	assert_error ferry-cat "\"$d/text.zst\": not a ferry stream (no stream header)"
	[ "$(rows_in public.offices)" -eq 0 ]
}

@test "a corrupt stream: a changed byte fails the checksum, a flipped zstd byte the frame, exit 5" {
	local d=$BATS_TEST_TMPDIR
	LC_ALL=C sed 's/Lakeshore/Lakeshorf/' "$BATS_FILE_TMPDIR/office.stream" >"$d/changed.stream"
	run cmp -s "$d/changed.stream" "$BATS_FILE_TMPDIR/office.stream"
	assert_exit 1
	run --separate-stderr ferry-cat --check "$d/changed.stream"
	assert_exit 5
	assert_error ferry-cat "checksum mismatch: the stream is corrupt"
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.offices "$d/changed.stream"
	assert_exit 5
	assert_error ferry-load "checksum mismatch"
	[ "$(rows_in public.offices)" -eq 0 ]

	# flip one byte in the middle of the spool file
	cp "$BATS_FILE_TMPDIR/office.zst" "$d/flipped.zst"
	printf '\xff' | dd of="$d/flipped.zst" bs=1 seek=400 conv=notrunc status=none
	run cmp -s "$d/flipped.zst" "$BATS_FILE_TMPDIR/office.zst"
	assert_exit 1
	run --separate-stderr ferry-cat --check "$d/flipped.zst"
	assert_exit 5
	assert_error ferry-cat "\"$d/flipped.zst\": "
}

@test "data after the end of a stream: exit 5" {
	local d=$BATS_TEST_TMPDIR
	cat "$BATS_FILE_TMPDIR/office.stream" "$BATS_FILE_TMPDIR/office.stream" >"$d/twice.stream"
	run --separate-stderr ferry-cat --check "$d/twice.stream"
	assert_exit 5
	assert_error ferry-cat "unexpected data after the end of the stream"
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.offices "$d/twice.stream"
	assert_exit 5
	[ "$(rows_in public.offices)" -eq 0 ]
	# garbage after a spool's zstd frame
	cp "$BATS_FILE_TMPDIR/office.zst" "$d/tail.zst"
	printf 'trailing garbage' >>"$d/tail.zst"
	run --separate-stderr ferry-cat --check "$d/tail.zst"
	assert_exit 5
	assert_error ferry-cat "\"$d/tail.zst\": "
}

@test "a spool file of another entity or run: ferry-load and ferry-transform exit 5 naming it, what it holds, what was expected" {
	local d=$BATS_TEST_TMPDIR
	# the items of entity items, run r1
	ferry-extract --source dbname=bad_src --table items --entity items --run r1 -o "$d/items-r1.zst"
	# another entity
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.items --entity offices --run r1 "$d/items-r1.zst"
	assert_exit 5
	assert_error ferry-load "\"$d/items-r1.zst\": the stream holds entity \"items\" of run \"r1\", not entity \"offices\" of run \"r1\""
	# another run, with --resume too (refused before its checkpoint counts for anything)
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.items --entity items --run r2 "$d/items-r1.zst"
	assert_exit 5
	assert_error ferry-load "the stream holds entity \"items\" of run \"r1\", not entity \"items\" of run \"r2\""
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.items --entity items --run r2 --resume "$d/items-r1.zst"
	assert_exit 5
	# from standard input
	run --separate-stderr bash -c "ferry-load --target dbname=bad_dst --table public.items --entity items --run r2 <'$d/items-r1.zst'"
	assert_exit 5
	assert_error ferry-load "standard input: the stream holds entity \"items\" of run \"r1\""
	[ "$(rows_in items)" -eq 0 ]
	[ "$(rows_in ferry.checkpoints)" -eq 0 ]

	# ferry-transform: another entity (--entity), another run (--run); no output file
	run --separate-stderr ferry-transform --entity offices -o "$d/t.zst" "$d/items-r1.zst"
	assert_exit 5
	assert_error ferry-transform "\"$d/items-r1.zst\": the stream holds entity \"items\" of run \"r1\", not entity \"offices\""
	assert_no_output "$d" t.zst
	run --separate-stderr ferry-transform --entity items --run r2 -o "$d/t.zst" "$d/items-r1.zst"
	assert_exit 5
	assert_error ferry-transform "the stream holds entity \"items\" of run \"r1\", not entity \"items\" of run \"r2\""
	assert_no_output "$d" t.zst
	printf 'ferry-plan 1\nentity offices\n  source public.dispatch_office\n  target public.offices\n  keyspace dispatch_office\n  key legacy_office_id\n  uuid id\nend\n' >"$d/p.plan"
	run --separate-stderr ferry-transform --plan "$d/p.plan" --entity offices -o "$d/t.zst" "$d/items-r1.zst"
	assert_exit 5
	assert_error ferry-transform "not entity \"offices\""

	# its own entity and run: transformed and loaded; a stream that names neither is not checked
	run --separate-stderr bash -c "ferry-transform --entity items --run r1 '$d/items-r1.zst' |
		ferry-load --target dbname=bad_dst --table public.items --entity items --run r1"
	assert_exit 0
	[ "$(rows_in items)" -eq 1000 ]
	q -d bad_dst -c "TRUNCATE items" >/dev/null
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.items --entity items --run r3 \
		"$BATS_FILE_TMPDIR/items.zst"
	assert_exit 0
	[ "$(rows_in items)" -eq 1000 ]
}

# ---------------------------------------------------------------------
# Local files
# ---------------------------------------------------------------------

@test "a directory as input: exit 8 naming it" {
	local d=$BATS_TEST_TMPDIR
	run --separate-stderr ferry-cat "$d"
	assert_exit 8
	assert_error ferry-cat "\"$d\" is a directory, not a stream or spool file"
	run --separate-stderr ferry-transform -o "$d/out.zst" "$d"
	assert_exit 8
	assert_error ferry-transform "\"$d\" is a directory"
	assert_no_output "$d" out.zst
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.offices "$d"
	assert_exit 8
	assert_error ferry-load "\"$d\" is a directory"
}

@test "an input file that does not exist: exit 8 naming it" {
	run --separate-stderr ferry-cat "$BATS_TEST_TMPDIR/missing.zst"
	assert_exit 8
	assert_error ferry-cat "cannot open \"$BATS_TEST_TMPDIR/missing.zst\": No such file or directory"
	run --separate-stderr ferry-load --target dbname=bad_dst --table public.offices "$BATS_TEST_TMPDIR/missing.zst"
	assert_exit 8
	assert_error ferry-load "missing.zst"
	run --separate-stderr ferry-transform "$BATS_TEST_TMPDIR/missing.zst"
	assert_exit 8
	assert_error ferry-transform "missing.zst"
}

@test "an output file in a missing directory: exit 8 naming it" {
	local out=$BATS_TEST_TMPDIR/no/such/dir/out.zst
	run --separate-stderr ferry-extract --source dbname=bad_src --table dispatch_office -o "$out"
	assert_exit 8
	assert_error ferry-extract "cannot create \"$out\": No such file or directory"
	run --separate-stderr ferry-transform -o "$out" "$BATS_FILE_TMPDIR/office.zst"
	assert_exit 8
	assert_error ferry-transform "cannot create \"$out\""
	run --separate-stderr ferry-cat -o "$out" "$BATS_FILE_TMPDIR/office.zst"
	assert_exit 8
	assert_error ferry-cat "cannot create \"$out\""
	[ ! -e "$BATS_TEST_TMPDIR/no" ]
}

@test "an output file that is a directory: exit 8, no temporary file left" {
	local d=$BATS_TEST_TMPDIR
	mkdir "$d/dir.zst"
	run --separate-stderr ferry-extract --source dbname=bad_src --table dispatch_office -o "$d/dir.zst"
	assert_exit 8
	assert_error ferry-extract "\"$d/dir.zst\"" "Is a directory"
	[ -z "$(compgen -G "$d/.dir.zst.tmp.*")" ]
	[ -d "$d/dir.zst" ] && [ -z "$(ls -A "$d/dir.zst")" ]
}

@test "a file system that refuses to grow (ulimit -f) while writing: exit 8, no file left" {
	local d=$BATS_TEST_TMPDIR c=$BATS_FILE_TMPDIR/comment.stream
	# SIGXFSZ ignored: write(2) then fails with EFBIG past 20 kB, like a full disk
	run --separate-stderr bash -c "trap '' XFSZ; ulimit -f 20; ferry-extract --source dbname=bad_src --table dispatch_comment -o '$d/e.zst'"
	assert_exit 8
	assert_error ferry-extract "cannot write to \"$d/e.zst\": File too large"
	assert_no_output "$d" e.zst
	run --separate-stderr bash -c "trap '' XFSZ; ulimit -f 20; ferry-transform -o '$d/t.zst' '$c'"
	assert_exit 8
	assert_error ferry-transform "cannot write to \"$d/t.zst\""
	assert_no_output "$d" t.zst
	run --separate-stderr bash -c "trap '' XFSZ; ulimit -f 20; ferry-cat -o '$d/c.json.zst' '$c'"
	assert_exit 8
	assert_error ferry-cat "cannot write to \"$d/c.json.zst\""
	assert_no_output "$d" c.json.zst
}

@test "a closed pipe downstream: ferry-extract exits 8 with one line" {
	run --separate-stderr bash -c "ferry-extract --source dbname=bad_src --table dispatch_comment | head -c 100 >/dev/null; exit \${PIPESTATUS[0]}"
	assert_exit 8
	assert_error ferry-extract "cannot write to standard output: the reading end of the pipe is closed"
}

# ---------------------------------------------------------------------
# Signals: killed mid-way, no partial file
# ---------------------------------------------------------------------

# held_extract FILE: ferry-extract -o FILE of about 3 MB of rows that do
# not compress away, after which its query waits in the server for the
# advisory lock a test session holds (until release_lock); $pid is its pid
held_extract() {
	ferry-extract --source dbname=bad_src -o "$1" --query \
		"SELECT g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 30) i) AS pad,
		        CASE WHEN g = 3000 THEN pg_advisory_xact_lock_shared(hashtextextended('ferry test extract', 0)) END AS wait
		 FROM generate_series(1, 4000) g" 3>&- &
	pid=$!
}

@test "SIGTERM while ferry-extract writes a spool: no output file, no temporary file" {
	local d=$BATS_TEST_TMPDIR rc=0 pid
	hold_advisory bad_src extract
	held_extract "$d/slow.zst"
	wait_for_tmp "$d" slow.zst -s
	wait_until 120 waiting_for_lock bad_src ferry-extract
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	release_lock bad_src
	wait_until 120 no_extract_waits
	[ "$rc" -eq 143 ]
	assert_no_output "$d" slow.zst
}

@test "SIGINT and SIGHUP while ferry-extract writes a spool: no output file either" {
	local d=$BATS_TEST_TMPDIR rc sig pid
	for sig in INT HUP; do
		rc=0
		hold_advisory bad_src extract
		held_extract "$d/slow.zst"
		wait_for_tmp "$d" slow.zst -s
		wait_until 120 waiting_for_lock bad_src ferry-extract
		kill -"$sig" "$pid"
		wait "$pid" || rc=$?
		release_lock bad_src
		wait_until 120 no_extract_waits
		[ "$rc" -eq $((128 + $(kill -l "$sig"))) ]
		assert_no_output "$d" slow.zst
	done
}

@test "SIGTERM while ferry-transform writes a spool from a pipe: no output file, no temporary file" {
	local d=$BATS_TEST_TMPDIR rc=0 pid
	mkfifo "$d/in.fifo"
	ferry-transform -o "$d/t.zst" "$d/in.fifo" 3>&- &
	pid=$!
	exec 4>"$d/in.fifo"
	# half of the comment stream (more than the output buffer), and the writer stays open
	head -c 600000 "$BATS_FILE_TMPDIR/comment.stream" >&4
	# head has returned: the transform has read all of it but at most a pipe
	# buffer (64 kB); the output is opened once the header is read
	wait_for_tmp "$d" t.zst
	kill -0 "$pid"
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	exec 4>&-
	[ "$rc" -eq 143 ]
	assert_no_output "$d" t.zst
}

@test "SIGTERM while ferry-load loads: committed batches and checkpoint agree, --resume finishes exactly" {
	local d=$BATS_TEST_TMPDIR rc=0 pid n
	mkfifo "$d/in.fifo"
	ferry-load --target dbname=bad_dst --table public.items --run k1 --entity items \
		--min-batch 100 --max-batch 100 "$d/in.fifo" 3>&- &
	pid=$!
	exec 4>"$d/in.fifo"
	head -c $(($(stat -c %s "$BATS_FILE_TMPDIR/items.stream") / 2)) "$BATS_FILE_TMPDIR/items.stream" >&4
	# the half holds 500 rows: 3 batches of 100 are committed, whatever the pace
	wait_until 120 checkpoint_at_least k1 300
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	exec 4>&-
	[ "$rc" -eq 143 ]
	n=$(rows_in items)
	[ "$n" -ge 300 ]
	[ "$n" -lt 1000 ]
	[ "$(q1 -d bad_dst -c "SELECT rows_loaded, complete FROM ferry.checkpoints WHERE run_id = 'k1'")" = "$n|f" ]

	run --separate-stderr ferry-load --target dbname=bad_dst --table public.items --run k1 --entity items \
		--resume "$BATS_FILE_TMPDIR/items.stream"
	assert_exit 0
	[ "$(q1 -d bad_dst -c "SELECT count(*) || '|' || count(DISTINCT id) FROM items")" = "1000|1000" ]
	[ "$(q1 -d bad_dst -c "SELECT records, rows_loaded, complete FROM ferry.checkpoints
		WHERE run_id = 'k1'")" = "1000|1000|t" ]
}

# ---------------------------------------------------------------------
# Usage errors found once the input is read
# ---------------------------------------------------------------------

@test "ferry-transform --key naming a column the stream lacks: exit 2, no output file" {
	local d=$BATS_TEST_TMPDIR
	run --separate-stderr ferry-transform --key nope --keyspace x --uuid id -o "$d/out.zst" "$BATS_FILE_TMPDIR/office.zst"
	assert_exit 2
	assert_error ferry-transform 'key column "nope" is not in the input stream'
	assert_no_output "$d" out.zst
}
