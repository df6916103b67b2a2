#!/usr/bin/env bats
# ferry resume of a spool-mode run whose load failed half-way, when the
# step's spool file is gone (deleted by hand, the natural reaction to a
# damaged one) or refused (a spool file of an older ferry, version 1):
# the step is made again and its load keeps the rows the failed attempt
# committed (--mode skip, as a pipe-mode resume does): every row once, no
# reject, the same rows as a reference load (issue 15).
#
# The run loads one entity of 4000 rows with --spool; a trigger ends the
# load's session at row 2500, so that batches before it are committed and
# the run fails (exit 4) with its spool files whole.

load helpers
load spool-helpers
bats_require_minimum_version 1.5.0

ROWS=4000

setup_file() {
	local d=$BATS_FILE_TMPDIR
	new_db sr_src
	q -d sr_src <<SQL
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int);
INSERT INTO items SELECT g, 'ITEM-' || lpad(g::text, 8, '0'), g % 97 FROM generate_series(1, $ROWS) g;
SQL
	new_db sr_tmpl
	q -d sr_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	q -d sr_tmpl -c "CREATE TABLE items (id uuid PRIMARY KEY, legacy_id int UNIQUE NOT NULL, name text NOT NULL, qty int)"
	cat >"$d/items.plan" <<'EOF'
ferry-plan 1

entity items
  source public.items
  target public.items
  keyspace items
  key legacy_id
  uuid id
  extract
    SELECT s.id AS legacy_id, s.name, s.qty FROM public.items AS s
  end
end
EOF
	# the reference: an uninterrupted run
	clone_db sr_tmpl sr_ref
	ferry run --source dbname=sr_src --target dbname=sr_ref --plan "$d/items.plan" --run-id ref \
		--workdir "$d/ref" >"$d/ref.out" 2>&1 || { cat "$d/ref.out" >&2; return 1; }
	q1 -d sr_ref -c "COPY (SELECT * FROM items ORDER BY legacy_id) TO STDOUT" >"$d/want.tsv"
	[ "$(wc -l <"$d/want.tsv")" -eq "$ROWS" ]
}

teardown_file() {
	drop_dbs
}

# failed_run DB: the run r1 into DB with spool files in $BATS_TEST_TMPDIR/spool,
# failed in its load at row 2500 with batches before it committed
failed_run() {
	local db=$1 d=$BATS_TEST_TMPDIR n
	clone_db sr_tmpl "$db"
	failed_spool_run sr_src "$db" "$d"
	n=$(q1 -d "$db" -c "SELECT count(*) FROM items")
	[ "$n" -gt 0 ] || false
	[ "$n" -lt 2500 ] || false
	[ -f "$d/spool/items.zst" ] || false
}

# resumed DB: the run done, every row once, equal to the reference's, no reject
resumed() {
	local db=$1
	assert_exit 0
	[ "$(q1 -d "$db" -c "SELECT status FROM ferry.runs WHERE run_id = 'r1'")" = done ]
	[ "$(q1 -d "$db" -c "SELECT count(*) FROM ferry.rejects")" -eq 0 ]
	[ "$(q1 -d "$db" -c "SELECT count(*) FROM ferry.id_map WHERE entity = 'items'")" -eq "$ROWS" ]
	[ "$(q1 -d "$db" -c "SELECT loaded_rows, rejected_rows FROM ferry.entity_runs WHERE run_id = 'r1' AND entity = 'items'")" = "$ROWS|0" ]
	q1 -d "$db" -c "COPY (SELECT * FROM items ORDER BY legacy_id) TO STDOUT" >"$BATS_TEST_TMPDIR/got.tsv"
	cmp "$BATS_TEST_TMPDIR/got.tsv" "$BATS_FILE_TMPDIR/want.tsv"
}

@test "the spool file gone: resume makes it again from the extract file and skips the rows loaded: no reject" {
	local d=$BATS_TEST_TMPDIR
	failed_run sr_gone
	rm "$d/spool/items.zst"
	FERRY_TARGET=dbname=sr_gone FERRY_SOURCE=dbname=sr_src run ferry resume r1
	resumed sr_gone
	ferry-cat --check "$d/spool/items.zst" >/dev/null
}

@test "both files gone: resume extracts again and skips the rows loaded: no reject" {
	local d=$BATS_TEST_TMPDIR
	failed_run sr_both
	rm "$d/spool/items.zst" "$d/spool/items.extract.zst"
	FERRY_TARGET=dbname=sr_both FERRY_SOURCE=dbname=sr_src run ferry resume r1
	resumed sr_both
}

@test "a spool file refused (an older ferry's, version 1): resume says so in one line and makes it again: no reject" {
	local d=$BATS_TEST_TMPDIR
	failed_run sr_old
	cp "$FERRY_REPO/tests/fuzz/corpus/stream/bad-version1.stream" "$d/spool/items.zst"
	FERRY_TARGET=dbname=sr_old FERRY_SOURCE=dbname=sr_src run ferry resume r1
	resumed sr_old
	assert_contains "ferry: items: \"$d/spool/items.zst\": a version 1 stream, without the chunk checksums this program needs"
	assert_contains "(in chunk 0, which starts at byte 0 of the stream); made again"
}
