#!/usr/bin/env bats
# Nothing corrupt is ever committed (issue 15).
#
# A stream of 4000 rows of about 400 bytes (8 chunks of 500, several load
# batches) is damaged at 13 places spread over it, always the same ones:
# in its header (chunk 0), through the middle, in its last chunk and in
# its trailer; at each, either one bit flipped (a different bit each
# time) or one byte replaced by its complement.  It goes, damaged, to
#
#   ferry-load     as a plain spool file, as a zstd spool file, and
#                  through a pipe, damaged in the middle of the pipeline
#                  by a small filter (flip, below);
#   ferry-transform, then ferry-load: the extract's stream damaged in a
#                  pipe, and as a spool file given to ferry-transform -o;
#   ferry resume   the spool file of a run that failed mid-load (a trigger
#                  ends the load's session at row 2500), damaged, and then
#                  the extract file too.
#
# After each: exit 5 with one line naming the input, the chunk and the
# byte where it starts (or the trailer); the destination holds only rows
# equal to the rows of the whole stream (EXCEPT against a reference load
# of it: empty); a spool file loads nothing at all (it is verified whole
# first); the checkpoint is not complete.  ferry resume remakes the
# damaged files, says why, and ends with the reference's rows, no reject.

load helpers
load spool-helpers
bats_require_minimum_version 1.5.0

ROWS=4000

setup_file() {
	local d=$BATS_FILE_TMPDIR
	new_db cr_src
	q -d cr_src <<SQL
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int, note text);
INSERT INTO items SELECT g, 'ITEM-' || lpad(g::text, 8, '0'), g % 97, repeat(md5(g::text), 11)
  FROM generate_series(1, $ROWS) g;
SQL
	new_db cr_tmpl
	q -d cr_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	q -d cr_tmpl <<'SQL'
CREATE TABLE items (id uuid PRIMARY KEY, legacy_id int UNIQUE NOT NULL, name text NOT NULL, qty int, note text);
SQL
	cat >"$d/items.plan" <<'EOF'
ferry-plan 1

entity items
  source public.items
  target public.items
  keyspace items
  key legacy_id
  uuid id
  extract
    SELECT s.id AS legacy_id, s.name, s.qty, s.note FROM public.items AS s
  end
end
EOF
	clone_db cr_tmpl cr_dst
	q -d cr_dst -c "CREATE TABLE ref_items (LIKE items)"
	ferry-extract --source dbname=cr_src --plan "$d/items.plan" --entity items -o "$d/items.extract.zst"
	zstd -qdc "$d/items.extract.zst" >"$d/items.extract.stream"
	ferry-transform --plan "$d/items.plan" --entity items -o "$d/items.zst" "$d/items.extract.zst" 2>/dev/null
	zstd -qdc "$d/items.zst" >"$d/items.stream"
	# the reference: the whole stream, loaded
	ferry-load --target dbname=cr_dst --table public.ref_items --no-id-map --no-progress "$d/items.zst"
	[ "$(q1 -d cr_dst -c "SELECT count(*) FROM ref_items")" -eq "$ROWS" ]
	# 8 chunks: several batches of the load
	[ "$(zstd -qdc "$d/items.zst" | grep -o -a -F chunk | wc -l)" -ge 8 ]
}

teardown_file() {
	drop_dbs
}

# flip OFFSET MASK: a filter: its input, the byte at OFFSET xored with MASK
flip() {
	local b
	dd bs=64K count="$1" iflag=count_bytes,fullblock status=none
	b=$(dd bs=1 count=1 status=none | od -An -tu1 | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ $2)))"
	cat
}

# offsets FILE: 13 places: the header and chunk 0, 7 spread over the
# middle, 2 in the last chunk, 3 in the trailer (a zstd file: its last
# block and its checksum)
offsets() {
	local s
	s=$(stat -c %s "$1")
	echo 3 70 $((s / 8)) $((s / 4)) $((3 * s / 8)) $((s / 2)) $((5 * s / 8)) $((3 * s / 4)) \
		$((7 * s / 8)) $((s - 2000)) $((s - 700)) $((s - 40)) $((s - 5))
}

# mask I: a single bit (odd I, a different one each time) or the whole byte
mask() {
	if [ $(($1 % 2)) -eq 1 ]; then echo $((1 << ($1 % 8))); else echo 255; fi
}

# refused PROG NAME: exit 5, and stderr is one line: "PROG: error: NAME:
# what is wrong (in chunk N, which starts at byte B of the stream)" or
# "(in the trailer after chunk N, at byte B of the stream)"
refused() {
	local where='\((in chunk [0-9]+, which starts at byte [0-9]+|in the trailer after chunk [0-9]+, at byte [0-9]+) of the (decompressed )?stream\)$'
	if [ "$status" -ne 5 ] || [ "$(printf '%s\n' "$stderr" | grep -c .)" -ne 1 ] ||
		[[ $stderr != "$1: error: $2: "* ]] || ! [[ $stderr =~ $where ]]; then
		echo "expected exit 5 and one line \"$1: error: $2: ... (in chunk N ...)\"; got exit $status:" >&2
		echo "$stderr" >&2
		return 1
	fi
}

# only_good_rows [MAX]: public.items in cr_dst holds only rows of the
# reference (and at most MAX of them); the load's checkpoint is not complete
only_good_rows() {
	local bad n
	bad=$(q1 -d cr_dst -c "SELECT count(*) FROM (SELECT * FROM items EXCEPT SELECT * FROM ref_items) x")
	n=$(q1 -d cr_dst -c "SELECT count(*) FROM items")
	if [ "$bad" -ne 0 ] || [ "$n" -gt "${1:-$ROWS}" ] ||
		[ "$(q1 -d cr_dst -c "SELECT count(*) FROM ferry.checkpoints WHERE complete")" -ne 0 ]; then
		echo "items: $n rows, $bad of them not in the reference (at most ${1:-$ROWS} wanted), or a complete checkpoint" >&2
		return 1
	fi
}

reset_dst() {
	q -d cr_dst -c "TRUNCATE items; TRUNCATE ferry.checkpoints, ferry.rejects"
}

# load_files FILE KIND: the damaged spool files (plain or zstd) of FILE
# at every offset into ferry-load: refused, nothing loaded
load_files() {
	local f=$1 ext=$2 bad=$BATS_TEST_TMPDIR/bad.$2 i=0 off m n=0
	for off in $(offsets "$f"); do
		m=$(mask "$i")
		i=$((i + 1))
		flip "$off" "$m" <"$f" >"$bad"
		if [ "$ext" = zst ] && zstd -qdc "$bad" 2>/dev/null | cmp -s - "$BATS_FILE_TMPDIR/items.stream"; then
			# the zstd frame changed where its content did not (a flag it ignores): whole
			echo "# offset $off mask $m: same content" >&3
			continue
		fi
		run --separate-stderr ferry-load --target dbname=cr_dst --table public.items --run "f$ext$i" \
			--entity items --no-id-map --no-progress "$bad"
		refused ferry-load "\"$bad\""
		[ "$(q1 -d cr_dst -c "SELECT count(*) FROM items")" -eq 0 ]
		n=$((n + 1))
	done
	[ "$n" -ge 11 ]
}

@test "a plain spool file, a bit or a byte changed at 13 places: refused in one line naming file, chunk and offset, nothing loaded" {
	load_files "$BATS_FILE_TMPDIR/items.stream" stream
	only_good_rows 0
}

@test "a zstd spool file, a bit or a byte changed at 13 places: refused in one line naming file, chunk and offset, nothing loaded" {
	load_files "$BATS_FILE_TMPDIR/items.zst" zst
	only_good_rows 0
}

@test "through a pipe, a bit or a byte changed at 13 places: only rows of verified chunks are committed, equal to the stream's" {
	local f=$BATS_FILE_TMPDIR/items.stream i=0 off m loaded=0 size
	size=$(stat -c %s "$f")
	for off in $(offsets "$f"); do
		m=$(mask "$i")
		reset_dst
		run --separate-stderr bash -c "$(declare -f flip); flip $off $m <'$f' | ferry-load --target dbname=cr_dst \
			--table public.items --run p$i --entity items --no-id-map --no-progress"
		refused ferry-load "standard input"
		# the rows of the chunks before the damaged one at most, each as written
		only_good_rows $((off * ROWS / size + 500))
		loaded=$((loaded + $(q1 -d cr_dst -c "SELECT count(*) FROM items")))
		i=$((i + 1))
	done
	# batches of the chunks before the damage were committed (the test is not vacuous)
	[ "$loaded" -ge "$ROWS" ]
}

@test "ferry-transform: a damaged extract in a pipe or as a file; it passes on rows of verified chunks only" {
	local f=$BATS_FILE_TMPDIR/items.extract.stream d=$BATS_TEST_TMPDIR i=0 off m loaded=0 size
	local plan=$BATS_FILE_TMPDIR/items.plan
	size=$(stat -c %s "$f")
	# the header, the middle, the last quarter (the transform has passed 1 MB
	# on, its output buffer, before it: the load has rows), the last chunk, the trailer
	for off in 70 $((size / 2)) $((3 * size / 4)) $((size - 2000)) $((size - 40)); do
		m=$(mask "$i")
		reset_dst
		# damaged between the extract and the transform; the load takes what the transform passed on
		run --separate-stderr bash -c "$(declare -f flip); flip $off $m <'$f' |
			ferry-transform --plan '$plan' --entity items --no-check 2>'$d/transform.err' |
			ferry-load --target dbname=cr_dst --table public.items --run t$i --entity items --no-id-map --no-progress 2>/dev/null;
			exit \${PIPESTATUS[1]}"
		stderr=$(cat "$d/transform.err")
		refused ferry-transform "standard input"
		only_good_rows
		loaded=$((loaded + $(q1 -d cr_dst -c "SELECT count(*) FROM items")))
		# as a spool file: refused, no output file
		flip "$off" "$m" <"$f" >"$d/bad.extract"
		run --separate-stderr ferry-transform --plan "$plan" --entity items --no-check -o "$d/out.zst" "$d/bad.extract"
		refused ferry-transform "\"$d/bad.extract\""
		[ ! -e "$d/out.zst" ]
		[ -z "$(find "$d" -name '.out.zst.tmp.*')" ]
		i=$((i + 1))
	done
	[ "$loaded" -ge 3000 ]
}

# a run of the plan into DB with spool files in $BATS_TEST_TMPDIR/spool, that
# fails in the load at row 2500: a trigger ends the load's session there
failed_run() {
	local db=$1 d=$BATS_TEST_TMPDIR
	clone_db cr_tmpl "$db"
	failed_spool_run cr_src "$db" "$d"
	# batches before row 2500 committed, the spool files whole
	local n
	n=$(q1 -d "$db" -c "SELECT count(*) FROM items")
	[ "$n" -gt 0 ] || false
	[ "$n" -lt 2500 ] || false
	ferry-cat --check "$d/spool/items.zst" >/dev/null
}

# resumed DB: ferry resume ended the run with the reference's rows, no reject
resumed() {
	local db=$1
	assert_exit 0
	[ "$(q1 -d "$db" -c "SELECT count(*) FROM items")" -eq "$ROWS" ]
	[ "$(q1 -d "$db" -c "SELECT count(*) FROM ferry.rejects")" -eq 0 ]
	[ "$(q1 -d "$db" -c "SELECT count(*) FROM ferry.id_map WHERE entity = 'items'")" -eq "$ROWS" ]
	[ "$(q1 -d "$db" -c "SELECT status FROM ferry.entity_runs WHERE run_id = 'r1' AND entity = 'items'")" = done ]
	# the same rows as the reference load of the whole stream
	q1 -d "$db" -c "COPY (SELECT * FROM items ORDER BY legacy_id) TO STDOUT" >"$BATS_TEST_TMPDIR/got.tsv"
	q1 -d cr_dst -c "COPY (SELECT * FROM ref_items ORDER BY legacy_id) TO STDOUT" >"$BATS_TEST_TMPDIR/want.tsv"
	cmp "$BATS_TEST_TMPDIR/got.tsv" "$BATS_TEST_TMPDIR/want.tsv"
}

@test "ferry resume: the run's spool file damaged in its last chunk is said (file, chunk, offset) and made again from the extract; the reference's rows, no reject" {
	local d=$BATS_TEST_TMPDIR size
	failed_run cr_res1
	size=$(stat -c %s "$d/spool/items.zst")
	flip $((size - 700)) 4 <"$d/spool/items.zst" >"$d/bad.zst"
	mv "$d/bad.zst" "$d/spool/items.zst"
	cp "$d/spool/items.extract.zst" "$d/extract.before"
	FERRY_TARGET=dbname=cr_res1 FERRY_SOURCE=dbname=cr_src run ferry resume r1
	resumed cr_res1
	assert_contains "ferry: items: \"$d/spool/items.zst\": "
	[[ $output =~ \(in\ (chunk\ [0-9]+,\ which\ starts|the\ trailer\ after\ chunk\ [0-9]+,)\ at\ byte\ [0-9]+\ of\ the\ decompressed\ stream\)\;\ made\ again ]]
	# made again from the extract file, which was whole: the same snapshot
	cmp "$d/spool/items.extract.zst" "$d/extract.before"
	ferry-cat --check "$d/spool/items.zst" >/dev/null
}

@test "ferry resume: the spool file and the extract file both damaged are made again from the source; the reference's rows, no reject" {
	local d=$BATS_TEST_TMPDIR size
	failed_run cr_res2
	flip 40 255 <"$d/spool/items.zst" >"$d/bad.zst"
	mv "$d/bad.zst" "$d/spool/items.zst"
	size=$(stat -c %s "$d/spool/items.extract.zst")
	flip $((size / 2)) 16 <"$d/spool/items.extract.zst" >"$d/bad.zst"
	mv "$d/bad.zst" "$d/spool/items.extract.zst"
	FERRY_TARGET=dbname=cr_res2 FERRY_SOURCE=dbname=cr_src run ferry resume r1
	resumed cr_res2
	assert_contains "ferry: items: \"$d/spool/items.zst\": "
	assert_contains "ferry: items: \"$d/spool/items.extract.zst\": "
	ferry-cat --check "$d/spool/items.extract.zst" >/dev/null
}
