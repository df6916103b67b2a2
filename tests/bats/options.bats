#!/usr/bin/env bats
# Every option a program's --help lists is exercised (issue 19, point 6):
# a lint over the tests and the driver scripts, then a test of the
# documented effect of each option no other test gave, then combinations
# of the ferry driver's options a DBA would use, each compared with a
# plain run's destination (the demo at scale 1).

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

W=$BATS_FILE_TMPDIR

setup_file() {
	demo_dbs op_src op_unused 1
	dst_template op_tmpl
	# the reference: a plain run, every option its default
	clone_db op_tmpl op_plain
	ferry run --source dbname=op_src --target dbname=op_plain --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id plain --workdir "$W/plain" >"$W/plain.out" 2>&1 || {
		cat "$W/plain.out" >&2
		return 1
	}
}

teardown_file() {
	drop_dbs
}

teardown() {
	stop_run
}

# ---------------------------------------------------------------------
# The lint
# ---------------------------------------------------------------------

# programs ferry installs: the driver, the cleanup script and build/bin
installed_programs() {
	echo ferry
	echo ferry-cleanup
	ls "$FERRY_BUILD/bin"
}

# shared_options: the options of the block every stage program's --help
# shares (lib/cli.h CLI_COMMON_USAGE, one parser in lib/cli.c) but -o and
# -z, whose effect is each program's own: given to any program, counted
# for every one
shared_options() {
	local p
	for p in ferry-cat ferry-delete ferry-extract ferry-load ferry-transform ferry-verify; do
		"$p" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u
	done | sort | uniq -c | awk '$1 == 6 && $2 != "--output" && $2 != "--compress" { print $2 }'
}

# unexercised PROG HELP_FILE SHARED_FILE: the long options HELP_FILE lists
# that no test (tests/bats/*.bats, *.bash) nor driver script gives PROG,
# one a line (lint-options.awk says how a site of PROG is told)
unexercised() {
	local p=$1 re files=("$FERRY_REPO"/tests/bats/*.bats "$FERRY_REPO"/tests/bats/*.bash)
	case $p in
	ferry)
		# its own script holds its help: the tests only
		re='(^|[^A-Za-z0-9_.-])ferry([^A-Za-z0-9_.-]|$)'
		files+=("$FERRY_REPO/scripts/ferry-cleanup") ;;
	ferry-cleanup)
		re='(^|[^A-Za-z0-9_.-])ferry[- ]cleanup([^A-Za-z0-9_-]|$)'
		files+=("$FERRY_REPO/scripts/ferry") ;;
	*)
		re="(^|[^A-Za-z0-9_.-])$p([^A-Za-z0-9_-]|\$)"
		files+=("$FERRY_REPO/scripts/ferry" "$FERRY_REPO/scripts/ferry-cleanup") ;;
	esac
	awk -v progre="$re" -f "$BATS_TEST_DIRNAME/lint-options.awk" "$2" "$3" "${files[@]}"
}

@test "lint: every long option of every program's --help is given by some test or driver script" {
	local p missing=() o
	shared_options >"$W/shared"
	[ -s "$W/shared" ] || false
	while IFS= read -r p; do
		run --separate-stderr "$p" --help
		assert_exit 0
		printf '%s\n' "$output" >"$W/help.$p"
		# a help that lists no option would pass anything
		grep -q -- '--[a-z]' "$W/help.$p" || { echo "$p --help lists no long option" >&2; return 1; }
		while IFS= read -r o; do
			missing+=("$p $o")
		done < <(unexercised "$p" "$W/help.$p" "$W/shared")
	done < <(installed_programs)
	if [ ${#missing[@]} -gt 0 ]; then
		printf 'exercised by no test: %s\n' "${missing[@]}" >&2
		return 1
	fi
}

@test "lint: an option no test gives is named, in its long or its short form" {
	shared_options >"$W/shared"
	# a help with one option that exists nowhere, one the tests give in
	# their short form only (-z of ferry-extract, stages.bats) and a shared one
	printf '%s\n' "Usage: PROG [options]" "  --no-such-option-ever  what no test gives" \
		"  -z, --compress   compress" "  --zstd-level N" >"$W/fake.help"
	run unexercised ferry-extract "$W/fake.help" "$W/shared"
	assert_exit 0
	[ "$output" = "--no-such-option-ever" ] || { echo "got: $output" >&2; return 1; }
	# without the short form on its line, -z does not count for --compress
	printf '%s\n' "  --compress   compress" >"$W/fake2.help"
	run unexercised ferry-books "$W/fake2.help" /dev/null
	[ "$output" = "--compress" ] || { echo "got: $output" >&2; return 1; }
}

@test "ferry --help works without FERRY_JOBS in the environment" {
	run env -u FERRY_JOBS ferry --help
	assert_exit 0
	assert_contains "(default: \$FERRY_JOBS,"
	run env -u FERRY_JOBS ferry run --help
	assert_exit 0
	assert_contains "--max-memory SIZE"
}

# ---------------------------------------------------------------------
# Stage options no other test gives
# ---------------------------------------------------------------------

# the four bytes of the zstd frame magic number
zstd_magic() {
	head -c4 "$1" | od -An -tx1 | tr -d ' \n'
}

@test "ferry-books --host names the holder of the target's lock; --source is where split reads key ranges" {
	clone_db op_tmpl op_books
	# a second command while the first holds the target: refused, naming the first's host and pid
	run ferry-books --target dbname=op_books --host bastion-7 --pid 4242 hold "first command" "" -- \
		ferry-books --target dbname=op_books hold "second command" "" -- true
	assert_exit 2
	assert_contains "ferry pid 4242 on bastion-7 holds the target"
	run ferry-books --target dbname=op_books --host bastion-7 --pid 4242 hold "first command" "" -- \
		psql -X -qAt -d op_books -c "SELECT host || ' ' || pid FROM ferry.lock_holders"
	assert_exit 0
	[ "$output" = "bastion-7 4242" ] || false
	# the key ranges of an entity, from the source --source names
	run ferry-books --target dbname=op_books --source dbname=op_src split "$DEMO_PLAN" orders 2 100 "" "$BATS_TEST_TMPDIR/ranges"
	assert_exit 0
	[ "$(wc -l <"$BATS_TEST_TMPDIR/ranges")" = 2 ] || false
	# the two ranges cut the orders in two, none lost (the extract query's alias is q)
	local a b
	a=$(q1 -d op_src -c "SELECT count(*) FROM (SELECT id AS legacy_order_id FROM dispatch_order) q WHERE $(sed -n 1p "$BATS_TEST_TMPDIR/ranges")")
	b=$(q1 -d op_src -c "SELECT count(*) FROM (SELECT id AS legacy_order_id FROM dispatch_order) q WHERE $(sed -n 2p "$BATS_TEST_TMPDIR/ranges")")
	[ "$a" -gt 0 ] || false
	[ "$b" -gt 0 ] || false
	[ $((a + b)) = "$(q1 -d op_src -c "SELECT count(*) FROM dispatch_order")" ] || false
	run --separate-stderr ferry-books --target dbname=op_books --source dbname=op_no_such_db \
		split "$DEMO_PLAN" orders 2 100 "" "$BATS_TEST_TMPDIR/ranges2"
	assert_exit 3
	[[ $stderr == *'source database "op_no_such_db"'* ]] || false
	# status --json: the run as one JSON object (ferry status --json prints it)
	run ferry-books --target dbname=op_plain status --json plain
	assert_exit 0
	[ "$(jq -r '.run + " " + .status' <<<"$output")" = "plain done" ] || false
}

@test "ferry-cat --output writes plain JSON lines atomically, --compress zstd; a damaged stream leaves no file" {
	local d=$BATS_TEST_TMPDIR
	ferry-extract --source dbname=op_src --table dispatch_office -o "$d/office.zst"
	run ferry-cat --output "$d/office.jsonl" "$d/office.zst"
	assert_exit 0
	[ -z "$output" ] || false
	[ "$(head -c2 "$d/office.jsonl")" = '{"' ] || false
	[ "$(wc -l <"$d/office.jsonl")" = 22 ] || false
	diff "$d/office.jsonl" <(ferry-cat "$d/office.zst")
	ferry-cat --compress --output "$d/office.jsonl.zst" "$d/office.zst"
	[ "$(zstd_magic "$d/office.jsonl.zst")" = 28b52ffd ] || false
	diff <(zstdcat "$d/office.jsonl.zst") "$d/office.jsonl"
	ferry-cat --compress "$d/office.zst" >"$d/stdout.zst"
	[ "$(zstd_magic "$d/stdout.zst")" = 28b52ffd ] || false
	diff <(zstdcat "$d/stdout.zst") "$d/office.jsonl"
	# a truncated spool file: exit 5 and no output file, not even a temporary one
	head -c 300 "$d/office.zst" >"$d/cut.zst"
	run ferry-cat --output "$d/cut.jsonl" "$d/cut.zst"
	assert_exit 5
	[ ! -e "$d/cut.jsonl" ] || false
	[ -z "$(find "$d" -name '.*.tmp.*')" ] || false
}

@test "ferry-extract --output, --compress, and --since with --incremental EXPR" {
	local d=$BATS_TEST_TMPDIR
	ferry-extract --source dbname=op_src --table dispatch_office --output "$d/office.zst"
	[ "$(zstd_magic "$d/office.zst")" = 28b52ffd ] || false
	ferry-extract --source dbname=op_src --table dispatch_office --compress >"$d/stdout.zst"
	[ "$(zstd_magic "$d/stdout.zst")" = 28b52ffd ] || false
	diff <(ferry-cat "$d/office.zst") <(ferry-cat "$d/stdout.zst")
	# --since needs a change time: the plan's, or --incremental's
	run --separate-stderr ferry-extract --source dbname=op_src --table dispatch_office --since 2021-01-01 --count
	assert_exit 2
	run ferry-extract --source dbname=op_src --table dispatch_office --incremental "q.updated_at" \
		--since 2021-01-01 --count
	assert_exit 0
	local want
	want=$(q1 -d op_src -c "SELECT count(*) FROM dispatch_office WHERE updated_at >= '2021-01-01' OR updated_at IS NULL")
	[ "$output" = "$want" ] || false
	[ "$want" -gt 0 ] || false
	[ "$want" -lt "$(q1 -d op_src -c "SELECT count(*) FROM dispatch_office")" ] || false
}

# nums_stream FILE N: a stream of N rows (id 1..N, v 'v' || id) keyed by id
nums_stream() {
	ferry-extract --source dbname=op_src --query "SELECT g AS id, 'v' || g AS v FROM generate_series(1, $2) g" \
		--key id --keyspace nums -o "$1"
}

@test "ferry-load --batch-bytes and --target-ms size the batches; --output and --compress write nothing" {
	local d=$BATS_TEST_TMPDIR
	clone_db op_tmpl op_ld1
	nums_stream "$d/nums.zst" 600
	q -d op_ld1 -c "CREATE TABLE public.nums (id int PRIMARY KEY, v text); CREATE TABLE public.nums2 (LIKE public.nums)"
	# 600 rows fit one batch of rows; 1000 bytes of COPY data do not
	run ferry-load --target dbname=op_ld1 --table public.nums --run b1 --entity nums "$d/nums.zst"
	assert_exit 0
	[ "$(q1 -d op_ld1 -c "SELECT batches FROM ferry.checkpoints WHERE run_id = 'b1'")" = 1 ] || false
	q -d op_ld1 -c "TRUNCATE public.nums"
	run ferry-load --target dbname=op_ld1 --table public.nums --run b2 --entity nums --batch-bytes 1000 "$d/nums.zst"
	assert_exit 0
	[ "$(q1 -d op_ld1 -c "SELECT batches >= 5 FROM ferry.checkpoints WHERE run_id = 'b2'")" = t ] || false
	[ "$(q1 -d op_ld1 -c "SELECT count(*) FROM public.nums")" = 600 ] || false

	# every batch takes 20 ms at least (a statement trigger): with --target-ms 10
	# the batches shrink by a quarter each time, with a target far above they
	# stay at --max-batch
	q -d op_ld1 <<'SQL'
CREATE FUNCTION public.slow_batch() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN PERFORM pg_sleep(0.02); RETURN NULL; END $$;
CREATE TRIGGER slow_batch AFTER INSERT ON public.nums2 FOR EACH STATEMENT EXECUTE FUNCTION public.slow_batch();
ALTER TABLE public.nums2 ENABLE ALWAYS TRIGGER slow_batch;
SQL
	ferry-load --target dbname=op_ld1 --table public.nums2 --min-batch 10 --max-batch 100 --target-ms 10 \
		--log "$d/short.jsonl" "$d/nums.zst"
	run jq -r -s '[.[] | select(.event == "batch") | .size][0:4] | map(tostring) | join(" ")' "$d/short.jsonl"
	[ "$output" = "100 75 56 42" ] || { echo "batch sizes: $output" >&2; return 1; }
	q -d op_ld1 -c "TRUNCATE public.nums2"
	ferry-load --target dbname=op_ld1 --table public.nums2 --min-batch 10 --max-batch 100 --target-ms 100000 \
		--log "$d/long.jsonl" "$d/nums.zst"
	run jq -r -s '[.[] | select(.event == "batch") | .size] | unique | map(tostring) | join(" ")' "$d/long.jsonl"
	[ "$output" = "100" ] || { echo "batch sizes: $output" >&2; return 1; }

	# -o and -z: accepted, without effect (ferry-load writes no stream)
	q -d op_ld1 -c "TRUNCATE public.nums"
	run --separate-stderr ferry-load --target dbname=op_ld1 --table public.nums --output "$d/load.out" --compress "$d/nums.zst"
	assert_exit 0
	[ -z "$output" ] || false
	[ ! -e "$d/load.out" ] || false
	[ "$(q1 -d op_ld1 -c "SELECT count(*) FROM public.nums")" = 600 ] || false
}

@test "ferry-load --conflict, --repair, --no-sequences, --synchronous-commit" {
	local d=$BATS_TEST_TMPDIR
	clone_db op_tmpl op_ld2
	q -d op_ld2 <<'SQL'
CREATE TABLE public.kv (id int PRIMARY KEY, code text UNIQUE, v text NOT NULL);
INSERT INTO public.kv VALUES (1000, 'c1', 'old');
CREATE TABLE public.sq (id serial PRIMARY KEY, v text);
-- the session's synchronous_commit, seen by a trigger that fires under replica too
CREATE TABLE public.seen (setting text);
CREATE FUNCTION public.note_sync() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN INSERT INTO public.seen VALUES (current_setting('synchronous_commit')); RETURN NULL; END $$;
CREATE TRIGGER note_sync AFTER INSERT ON public.sq FOR EACH STATEMENT EXECUTE FUNCTION public.note_sync();
ALTER TABLE public.sq ENABLE ALWAYS TRIGGER note_sync;
SQL
	ferry-extract --source dbname=op_src --query "SELECT 1 AS id, 'c1' AS code, 'new' AS v UNION ALL
		SELECT 2, 'c2', NULL" --key id --keyspace kv -o "$d/kv.zst"
	# upsert on the key (id): c1 is a new row whose code is taken, rejected
	run ferry-load --target dbname=op_ld2 --table public.kv --mode upsert --repair v=unknown "$d/kv.zst"
	assert_exit 6
	[ "$(q1 -d op_ld2 -c "SELECT v FROM public.kv WHERE code = 'c1'")" = old ] || false
	# --conflict code: the row of code c1 is updated; row 2's NULL v repaired
	q -d op_ld2 -c "DELETE FROM public.kv WHERE code = 'c2'"
	run ferry-load --target dbname=op_ld2 --table public.kv --mode upsert --conflict code --repair v=unknown \
		--run k1 --entity kv "$d/kv.zst"
	assert_exit 0
	run q1 -d op_ld2 -c "SELECT id, code, v FROM public.kv ORDER BY code"
	[ "$output" = "$(printf '%s\n' "1|c1|new" "2|c2|unknown")" ] || { echo "$output" >&2; return 1; }
	run q1 -d op_ld2 -c "SELECT legacy_id, reason, disposition, row_data->>'v' IS NULL FROM ferry.rejects WHERE run_id = 'k1'"
	[ "$output" = "2|value_repaired|repaired|t" ] || { echo "$output" >&2; return 1; }
	# without --repair the NULL is a reject
	q -d op_ld2 -c "DELETE FROM public.kv WHERE code = 'c2'"
	run ferry-load --target dbname=op_ld2 --table public.kv --mode upsert --conflict code "$d/kv.zst"
	assert_exit 6

	# the serial's sequence moves past the loaded ids, unless --no-sequences
	nums_stream "$d/nums.zst" 50
	ferry-load --target dbname=op_ld2 --table public.sq "$d/nums.zst"
	[ "$(q1 -d op_ld2 -c "SELECT nextval('public.sq_id_seq')")" = 51 ] || false
	q -d op_ld2 -c "TRUNCATE public.sq; ALTER SEQUENCE public.sq_id_seq RESTART WITH 1"
	ferry-load --target dbname=op_ld2 --table public.sq --no-sequences --synchronous-commit "$d/nums.zst"
	[ "$(q1 -d op_ld2 -c "SELECT nextval('public.sq_id_seq')")" = 1 ] || false
	# synchronous_commit: off by default, on with --synchronous-commit
	[ "$(q1 -d op_ld2 -c "SELECT string_agg(DISTINCT setting, ',') FROM public.seen")" = "off,on" ] || false
}

@test "ferry-transform --drop, --ref, --namespace, --tmpdir, --output, --compress" {
	local d=$BATS_TEST_TMPDIR
	ferry-extract --source dbname=op_src --query "SELECT id AS legacy_address_id, office_id, line1 FROM dispatch_address" \
		--key legacy_address_id --keyspace dispatch_address -o "$d/addr.zst"
	# --drop: a column gone from the header and rows; a key column kept, marked skip
	run bash -c "ferry-transform --drop line1 --drop legacy_address_id '$d/addr.zst' | ferry-cat | head -n 2"
	assert_exit 0
	[ "$(sed -n 1p <<<"$output" | jq -c '[[.columns[][0]], .skip]')" = '[["legacy_address_id","office_id"],["legacy_address_id"]]' ] ||
		{ echo "$output" >&2; return 1; }
	[ "$(sed -n 2p <<<"$output" | jq -c 'has("line1")')" = false ] || false
	# --ref: office_id becomes the uuid of that office, the one the plain run gave it
	ferry-transform --uuid id --ref office_id=dispatch_office --output "$d/addr.t.zst" "$d/addr.zst"
	[ "$(zstd_magic "$d/addr.t.zst")" = 28b52ffd ] || false
	run bash -c "ferry-cat --arrays '$d/addr.t.zst' | jq -r 'select(type == \"array\") | \"\(.[1]) \(.[2])\"' | sort"
	assert_exit 0
	[ "$output" = "$(q1 -d op_plain -c "SELECT a.legacy_address_id || ' ' || o.id FROM public.addresses a
		JOIN public.offices o ON o.id = a.office_id ORDER BY 1" | sort)" ] || { echo "$output" >&2; return 1; }
	# --namespace: the uuids are UUIDv5 of that namespace, no longer ferry's
	local ns=1b671a64-40d5-491e-99b0-da01ff1f3341
	run bash -c "ferry-transform --uuid id --namespace $ns '$d/addr.zst' | ferry-cat --arrays | jq -r 'select(type == \"array\") | \"\(.[1]) \(.[0])\"' | sort"
	assert_exit 0
	q -d op_unused -c 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp"'
	local keys
	keys=$(q1 -d op_src -c "SELECT string_agg(id::text, ',') FROM dispatch_address")
	[ "$output" = "$(q1 -d op_unused -c "SELECT k || ' ' || uuid_generate_v5('$ns', 'dispatch_address/' || k)
		FROM unnest(string_to_array('$keys', ',')) AS k" | sort)" ] || { echo "$output" >&2; return 1; }
	[[ $output != *"$(q1 -d op_plain -c "SELECT id FROM public.addresses LIMIT 1")"* ]] || false
	# --compress: standard output in zstd, the same records
	ferry-transform --uuid id --compress "$d/addr.zst" >"$d/addr.z"
	[ "$(zstd_magic "$d/addr.z")" = 28b52ffd ] || false
	[ "$(ferry-cat --check "$d/addr.z")" = "\"$d/addr.z\": whole stream: 38 rows, 0 rejects, 0 notes" ] || false
	# --tmpdir: where a tree's waiting rows are spooled (one that cannot be made is an error, exit 8)
	run bash -c "ferry-extract --source dbname=op_src --plan '$DEMO_PLAN' --entity productcategories \
		| ferry-transform --plan '$DEMO_PLAN' --entity productcategories --no-check --tmpdir '$d/none' -o '$d/pc.zst'"
	assert_exit 8
	assert_contains "cannot create a spool file in $d/none"
	[ ! -e "$d/pc.zst" ] || false
	mkdir "$d/spooldir"
	run bash -c "ferry-extract --source dbname=op_src --plan '$DEMO_PLAN' --entity productcategories \
		| ferry-transform --plan '$DEMO_PLAN' --entity productcategories --no-check --tmpdir '$d/spooldir' -o '$d/pc.zst'"
	assert_exit 0
	[ -z "$(ls -A "$d/spooldir")" ] || false
	run ferry-cat --check "$d/pc.zst"
	assert_contains "17 rows"
}

@test "ferry-verify --segments, --leaf, --max-listed, --no-coverage, --tree, --no-tree, --snapshot; -o and -z without effect" {
	local d=$BATS_TEST_TMPDIR
	clone_db op_plain op_vf
	q -d op_vf -c "UPDATE public.orders SET total = total + 1 WHERE legacy_order_id IN (5, 300, 700)"
	local vf=(ferry-verify --source dbname=op_src --target dbname=op_vf --plan "$DEMO_PLAN" --run plain)
	# the narrowing: how many ranges and leaves depends on --segments and --leaf, the rows found do not
	run --separate-stderr "${vf[@]}" --entity orders -vv
	assert_exit 7
	local narrow_default
	narrow_default=$(grep -o 'orders: [0-9]* queries, [0-9]* splits, [0-9]* leaves of [0-9]* rows' <<<"$stderr")
	[ -n "$narrow_default" ] || { echo "$stderr" >&2; return 1; }
	local diffs=$output
	run --separate-stderr "${vf[@]}" --entity orders -vv --segments 2 --leaf 4
	assert_exit 7
	[ "$output" = "$diffs" ] || false
	local narrow
	narrow=$(grep -o 'orders: [0-9]* queries, [0-9]* splits, [0-9]* leaves of [0-9]* rows' <<<"$stderr")
	[ -n "$narrow" ] || false
	[ "$narrow" != "$narrow_default" ] || false
	# a leaf holds at most --leaf rows a side
	[ "$(awk '{ print ($9 <= $6 * 2 * 4) }' <<<"$narrow")" = 1 ] || { echo "$narrow" >&2; return 1; }
	run "${vf[@]}" --entity orders --segments 1
	assert_exit 2
	# --max-listed: the report keeps 1 difference, the counts count all 3
	run "${vf[@]}" --entity orders --max-listed 1 --report "$d/orders.json"
	assert_exit 7
	[ "$(jq -c '.entities[0] | [.different, (.differences | length), .listed]' "$d/orders.json")" = '[3,1,1]' ] ||
		{ jq -c '.entities[0] | [.different, (.differences | length), .listed]' "$d/orders.json" >&2; return 1; }

	# --no-coverage: no check of what the plan missed
	run "${vf[@]}" --entity offices --report "$d/cov.json"
	assert_exit 0
	[ "$(jq -c '[.entities[0].checks[].check] | sort' "$d/cov.json")" != '[]' ] || false
	jq -e '[.entities[0].checks[].check] | index("coverage") != null' "$d/cov.json" >/dev/null
	run "${vf[@]}" --entity offices --report "$d/nocov.json" --no-coverage
	assert_exit 0
	jq -e '[.entities[0].checks[].check] | (index("coverage") == null and index("legacy key") == null)' "$d/nocov.json" >/dev/null

	# the tree checks: by default and with --tree for a tree, none with --no-tree, refused for another
	run "${vf[@]}" --entity productcategories --report "$d/tree.json"
	assert_exit 0
	local tree_checks
	tree_checks=$(jq -c '[.entities[0].checks[].check | select(startswith("tree"))]' "$d/tree.json")
	[ "$tree_checks" != '[]' ] || false
	run "${vf[@]}" --entity productcategories --report "$d/tree2.json" --tree
	assert_exit 0
	[ "$(jq -c '[.entities[0].checks[].check | select(startswith("tree"))]' "$d/tree2.json")" = "$tree_checks" ] || false
	run "${vf[@]}" --entity productcategories --report "$d/notree.json" --no-tree
	assert_exit 0
	[ "$(jq -c '[.entities[0].checks[].check | select(startswith("tree"))]' "$d/notree.json")" = '[]' ] || false
	run "${vf[@]}" --entity offices --tree
	assert_exit 2

	# --snapshot: the source counted in that snapshot, which the report says
	ferry-extract --source dbname=op_src --export-snapshot "$d/snap" 3>&- &
	local pid=$!
	wait_until 120 test -s "$d/snap"
	run "${vf[@]}" --entity offices --snapshot "$(cut -f1 "$d/snap")" --report "$d/snap.json"
	kill -TERM "$pid"
	wait "$pid" || true
	assert_exit 0
	[ "$(jq -r '.entities[0].source_counted' "$d/snap.json")" = snapshot ] || false
	[ "$(jq -r '.entities[0].source_counted' "$d/cov.json")" = now ] || false

	# -o and -z: accepted, without effect (ferry-verify writes no stream)
	run "${vf[@]}" --entity offices --output "$d/v.out" --compress
	assert_exit 0
	assert_contains "offices: source 20"
	[ ! -e "$d/v.out" ] || false
}

@test "ferry-delete --batch (keys a transaction); --freeze with --check-only and --lock-timeout; -o and -z without effect" {
	local d=$BATS_TEST_TMPDIR
	clone_db op_plain op_del
	createdb -T op_src op_src_del
	echo op_src_del >>"$BATS_FILE_TMPDIR/dbs"
	# 7 comments gone from the source: with --batch 3, three transactions
	q -d op_src_del -c "DELETE FROM dispatch_comment WHERE id IN (SELECT id FROM dispatch_comment ORDER BY id DESC LIMIT 7)
		AND id NOT IN (SELECT parent_id FROM dispatch_comment WHERE parent_id IS NOT NULL)"
	local gone
	gone=$(($(q1 -d op_src -c "SELECT count(*) FROM dispatch_comment") - $(q1 -d op_src_del -c "SELECT count(*) FROM dispatch_comment")))
	[ "$gone" -gt 0 ] || false
	run ferry-delete --plan "$DEMO_PLAN" --entity comments --run plain --source dbname=op_src_del --target dbname=op_del \
		--batch 3 --log "$d/del.jsonl" --output "$d/del.out" --compress
	assert_exit 0
	[ "$(jq -s '[.[] | select(.event == "delete_batch")] | length' "$d/del.jsonl")" = $(((gone + 2) / 3)) ] ||
		{ cat "$d/del.jsonl" >&2; return 1; }
	[ ! -e "$d/del.out" ] || false
	[ "$(q1 -d op_del -c "SELECT count(*) FROM ferry.deletes WHERE run_id = 'plain' AND entity = 'comments'")" -ge "$gone" ] || false

	# the cutover's guard: --check-only checks instead of locking; held until stopped
	ferry-delete --plan "$DEMO_PLAN" --freeze "$d/checked" --check-only --source dbname=op_src 3>&- &
	local pid=$!
	wait_until 120 test -s "$d/checked"
	kill -TERM "$pid"
	wait "$pid" || true
	[ "$(cut -f1 "$d/checked")" = checked ] || false
	ferry-delete --plan "$DEMO_PLAN" --freeze "$d/locked" --source dbname=op_src 3>&- &
	pid=$!
	wait_until 120 test -s "$d/locked"
	kill -TERM "$pid"
	wait "$pid" || true
	[ "$(cut -f1 "$d/locked")" = locked ] || false
	# a session that writes: --check-only names it at once; the lock waits --lock-timeout for it
	hold_lock op_src dispatch_office "ROW EXCLUSIVE"
	run --separate-stderr ferry-delete --plan "$DEMO_PLAN" --freeze "$d/f2" --check-only --source dbname=op_src
	assert_exit 10
	[[ $stderr == *"writes to dispatch_office"* ]] || false
	local t0=$SECONDS
	run --separate-stderr ferry-delete --plan "$DEMO_PLAN" --freeze "$d/f3" --lock-timeout 1 --source dbname=op_src
	assert_exit 10
	[[ $stderr == *"no SHARE lock within 1 s"* ]] || { echo "$stderr" >&2; return 1; }
	[ $((SECONDS - t0)) -lt 8 ] || false
	release_lock op_src
	[ ! -e "$d/f2" ] || false
	[ ! -e "$d/f3" ] || false
}

@test "ferry-plan --source-schema, --target-schema, --output" {
	local d=$BATS_TEST_TMPDIR
	createdb -T op_src op_src_sch
	echo op_src_sch >>"$BATS_FILE_TMPDIR/dbs"
	q -d op_src_sch -c "CREATE SCHEMA legacy2; CREATE TABLE legacy2.widgets (id int PRIMARY KEY)"
	local gen=(ferry-plan generate --source dbname=op_src_sch --target dbname=op_plain --no-date)
	run --separate-stderr "${gen[@]}" --output "$d/all.plan"
	assert_exit 0
	[ -z "$output" ] || false
	grep -q 'legacy2.widgets' "$d/all.plan"
	grep -q '^entity auth.users$' "$d/all.plan"
	grep -q '^entity offices$' "$d/all.plan"
	run --separate-stderr "${gen[@]}" --source-schema public -o "$d/public.plan"
	assert_exit 0
	run grep -c 'legacy2' "$d/public.plan"
	[ "$output" = 0 ] || false
	grep -q '^entity offices$' "$d/public.plan"
	# the target's auth schema only: its entity named by table name, no public table
	run --separate-stderr "${gen[@]}" --source-schema public --target-schema auth
	assert_exit 0
	assert_contains $'\nentity users\n'
	[[ $output != *"entity offices"* ]] || false
	[[ $output != *"target public."* ]] || false
}

@test "ferry-serve --share: status.sql read from that directory" {
	local d=$BATS_TEST_TMPDIR token
	token=$(openssl rand -hex 24)
	(umask 077 && echo "read $token" >"$d/tokens")
	mkdir "$d/empty" "$d/share"
	run --separate-stderr ferry-serve --tokens "$d/tokens" --listen 127.0.0.1:0 --target dbname=op_plain --share "$d/empty"
	assert_exit 8
	[[ $stderr == *"cannot find status.sql in $d/empty"* ]] || false
	echo "SELECT json_build_object('run', run_id, 'share', 'the test copy')::text FROM ferry.runs WHERE run_id = :'run'" \
		>"$d/share/status.sql"
	ferry-serve --tokens "$d/tokens" --listen 127.0.0.1:0 --target dbname=op_plain --share "$d/share" 2>"$d/serve.log" 3>&- &
	RUN_PID=$!
	wait_until 60 grep -q 'listening on' "$d/serve.log"
	local port
	port=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$d/serve.log")
	run curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/runs/plain"
	kill -TERM "$RUN_PID"
	wait "$RUN_PID" || true
	RUN_PID=
	[ "$(jq -c . <<<"$output")" = '{"run":"plain","share":"the test copy"}' ] || { echo "$output" >&2; return 1; }
}

@test "ferry-cleanup --lock-timeout: a drop waits that long for its table lock" {
	clone_db op_tmpl op_clean
	q -d op_clean -c "CREATE TABLE public.gadgets (id int PRIMARY KEY, old_note text);
		INSERT INTO public.gadgets SELECT g, 'n' || g FROM generate_series(1, 10) g"
	echo public.gadgets.old_note >"$BATS_TEST_TMPDIR/cols"
	run ferry-cleanup backup --target dbname=op_clean --columns "$BATS_TEST_TMPDIR/cols"
	assert_exit 0
	hold_lock op_clean public.gadgets "ACCESS SHARE"
	local t0=$SECONDS
	run ferry-cleanup drop --target dbname=op_clean --columns "$BATS_TEST_TMPDIR/cols" --lock-timeout 200ms
	release_lock op_clean
	[ "$status" -ne 0 ] || { echo "the drop went through a held lock: $output" >&2; return 1; }
	assert_contains "lock"
	[ $((SECONDS - t0)) -lt 8 ] || false
	[ "$(q1 -d op_clean -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.gadgets'::regclass AND attname = 'old_note'")" = 1 ] || false
	run ferry-cleanup drop --target dbname=op_clean --columns "$BATS_TEST_TMPDIR/cols" --lock-timeout 5s
	assert_exit 0
	[ "$(q1 -d op_clean -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.gadgets'::regclass AND attname = 'old_note' AND NOT attisdropped")" = 0 ] || false
}

# ---------------------------------------------------------------------
# The driver's options together, against a plain run's destination
# ---------------------------------------------------------------------

FIRST=auth.users,offices,orderstatuses,productcategories,addresses,invoices,products,profiles,office_contacts,patients
REST=orders,invoicelines,orderevents,orderitems,comments

@test "run --spool --split --split-min -j --no-bulk --only --run-id --workdir -q, then a failed run resumed with -j --metrics --max-memory --notify --progress-every -q: the plain run's destination" {
	local d=$W/combo
	clone_db op_tmpl op_combo
	# half the entities, through spool files, in key ranges of at least 100 rows, two at once
	run ferry run --source dbname=op_src --target dbname=op_combo --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--spool "$d/spool" --split 2 --split-min 100 -j 2 --no-bulk --only "$FIRST" --run-id A --workdir "$d/A" -q
	assert_exit 0
	# -q: no step lines
	[[ $output != *"[1/"* ]] || { echo "$output" >&2; return 1; }
	[ -f "$d/A/plan" ] || false
	[ "$(q1 -d op_combo -c "SELECT status || ' ' || workdir FROM ferry.runs WHERE run_id = 'A'")" = "done $d/A" ] || false
	# only those entities
	[ "$(q1 -d op_combo -c "SELECT string_agg(DISTINCT entity, ',' ORDER BY entity) FROM ferry.entity_runs WHERE run_id = 'A'")" = \
		"addresses,auth.users,invoices,office_contacts,offices,offices:billing_address_id,orderstatuses,patients,productcategories,products,profiles" ] || false
	[ "$(q1 -d op_combo -c "SELECT count(*) FROM public.orders")" = 0 ] || false
	# patients (498 rows) in two key ranges, each through its spool file
	[ "$(q1 -d op_combo -c "SELECT string_agg(phase, ',' ORDER BY phase) FROM ferry.checkpoints WHERE run_id = 'A' AND entity = 'patients'")" = "load/1,load/2" ] || false
	[ -f "$d/spool/patients.part1.zst" ] || { ls "$d/spool" >&2; return 1; }
	[ -f "$d/spool/patients.part2.zst" ] || false
	# --no-bulk: no load dropped an index to build it again (a plain run's do)
	[ "$(q1 -d op_combo -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = 'A' AND event = 'bulk_begin'")" = 0 ] || false
	[ "$(q1 -d op_plain -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = 'plain' AND event = 'bulk_begin'")" -gt 0 ] || false

	# the rest, failing at orders; then resumed with the operating options
	die_on_insert op_combo public.orders
	# (the rejects of the demo are all in these entities: 98.98 % of their rows load)
	run ferry run --source dbname=op_src --target dbname=op_combo --plan "$DEMO_PLAN" --min-success 98 \
		--only "$REST" --run-id B --workdir "$d/B" -q
	assert_exit 4
	assert_contains "ferry resume B"
	live_on_insert op_combo public.orders
	run ferry resume B --source dbname=op_src --target dbname=op_combo -j 2 --metrics "$d/B.prom" --max-memory 1G \
		--notify "cat >'$d/notify.json'" --progress-every 0 -q
	assert_exit 0
	[[ $output != *"rows/s, ETA"* ]] || { echo "$output" >&2; return 1; }
	[[ $output != *"[1/"* ]] || false
	assert_same_db op_combo op_plain
	# --metrics: the run done, the memory limit 1G
	grep -qx 'ferry_run_state{run="B",kind="full",state="done"} 1' "$d/B.prom"
	grep -qx 'ferry_memory_limit_bytes{run="B"} 1073741824' "$d/B.prom"
	# --notify: the summary on its standard input
	[ "$(jq -c '[.run, .status, .ok, .exit_code, .memory.limit_bytes]' "$d/notify.json")" = '["B","done",true,0,1073741824]' ] || false
}

@test "verify --rows --only E --show 1 --report F --run R --plan P --min-success 100 --quiet" {
	local d=$BATS_TEST_TMPDIR
	[ "$(q1 -d op_combo -c "SELECT status FROM ferry.runs WHERE run_id = 'B'")" = done ] || false
	clone_db op_combo op_vr
	local v=(ferry verify --source dbname=op_src --target dbname=op_vr --rows --only invoicelines --show 1
		--report "$d/v.json" --run B --plan "$DEMO_PLAN" --min-success 100 --quiet)
	run "${v[@]}"
	assert_exit 0
	[[ $output != *"verify: ok"* ]] || { echo "$output" >&2; return 1; }
	[ "$(jq -c '[.run, .mode, [.entities[].entity], .min_success, .ok, .totals.source_rows]' "$d/v.json")" = \
		'["B","rows",["invoicelines"],100,true,1000]' ] || { jq -c . "$d/v.json" >&2; return 1; }
	# two rows changed: exit 7, one difference printed, both in the report
	q -d op_vr -c "UPDATE public.invoicelines SET amount = amount + 1 WHERE legacy_line_no = 1 AND legacy_invoice_id IN (1, 2)"
	run "${v[@]}"
	assert_exit 7
	[ "$(grep -c ': different: ' <<<"$output")" = 1 ] || { echo "$output" >&2; return 1; }
	assert_contains "... 1 more in the report"
	[ "$(jq '.totals.different' "$d/v.json")" = 2 ] || false
}

@test "status RUN --json: the run's state, steps and totals as one JSON object" {
	run --separate-stderr ferry status B --json --target dbname=op_combo
	assert_exit 0
	[ "$(jq -c '[.run, .kind, .state, (.entities | map(.entity) | sort), .totals.done, .totals.entities, .left]' <<<"$output")" = \
		'["B","full","done",["comments","invoicelines","orderevents","orderitems","orders"],5,5,[]]' ] ||
		{ echo "$output" >&2; return 1; }
	run ferry status no-such-run --json --target dbname=op_combo
	assert_exit 2
}

@test "run --incremental --spool --overlap 0 --only after source changes, then verify passes" {
	local d=$W/inc
	[ "$(q1 -d op_combo -c "SELECT status FROM ferry.runs WHERE run_id = 'B'")" = done ] || false
	createdb -T op_src op_src_inc
	echo op_src_inc >>"$BATS_FILE_TMPDIR/dbs"
	q -d op_src_inc -c "UPDATE dispatch_patient SET first_name = 'Changed', updated_at = now() WHERE id = 7"
	run ferry run --incremental --source dbname=op_src_inc --target dbname=op_combo --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --spool "$d/spool" --overlap 0 --only patients --run-id I --workdir "$d/I" -q
	assert_exit 0
	[ "$(q1 -d op_combo -c "SELECT first_name FROM public.patients WHERE legacy_patient_id = 7")" = Changed ] || false
	# --overlap 0: changes since the previous run's source time exactly
	[ "$(q1 -d op_combo -c "SELECT r.since = p.source_time FROM ferry.runs r, ferry.runs p
		WHERE r.run_id = 'I' AND p.run_id = 'B'")" = t ] || false
	[ -n "$(ls "$d/spool")" ] || false
	[ "$(q1 -d op_combo -c "SELECT string_agg(entity, ',') FROM ferry.entity_runs WHERE run_id = 'I'")" = patients ] || false
	# the other tables as the plain run left them
	diff <(db_snapshot op_combo | grep -v '^public.patients|') <(db_snapshot op_plain | grep -v '^public.patients|')
	run ferry verify --source dbname=op_src_inc --target dbname=op_combo --only patients --min-success "$DEMO_MIN"
	assert_exit 0
	assert_contains "verify: ok"
}
