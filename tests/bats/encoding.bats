#!/usr/bin/env bats
# A source text that is not UTF-8 (issue 15): a legacy database in
# SQL_ASCII keeps any bytes; PostgreSQL fails the COPY at the first one
# that is not UTF-8 without naming the table or the row.  ferry-extract
# names the entity or table, the first such row's key (in the extract's
# order) and columns, and the fix: convert in the plan's extract query,
# which this file then applies.

load helpers
bats_require_minimum_version 1.5.0

ADVICE="the source database is SQL_ASCII, which keeps bytes without saying their encoding: in the plan's extract query, convert that column from the encoding its bytes are in, e.g. convert_from(convert(convert_to(EXPR, 'SQL_ASCII'), 'LATIN1', 'UTF8'), 'UTF8'), or correct the row in the source"

setup_file() {
	dropdb --if-exists enc_src >/dev/null 2>&1
	createdb -E SQL_ASCII -T template0 --locale=C enc_src
	echo enc_src >>"$BATS_FILE_TMPDIR/dbs"
	# bytes as stored: valid UTF-8 of 2, 3 and 4 bytes in rows 1-3 (PostgreSQL
	# passes them), LATIN1's é (0xe9) in rows 7 and 9, inserted out of order
	q -d enc_src <<'SQL'
CREATE FUNCTION raw(hex text) RETURNS text LANGUAGE sql
  AS $$ SELECT convert_from(decode(hex, 'hex'), 'SQL_ASCII') $$;
CREATE TABLE notes (id int PRIMARY KEY, title text, body varchar(80), n int);
INSERT INTO notes VALUES
  (9, 'late' || raw('e9'), 'fine', 9),
  (1, 'caf' || raw('c3a9'), 'two bytes', 1),
  (2, raw('e282ac') || '5', 'three bytes', 2),
  (3, 'smile ' || raw('f09f9880'), 'four bytes', 3),
  (4, 'plain', NULL, 4),
  (7, 'caf' || raw('e9'), 'cr' || raw('e8') || 'me', 7),
  (8, 'after', 'after', 8);
CREATE TABLE codes (code text PRIMARY KEY, label text);
INSERT INTO codes VALUES ('ab' || raw('e9'), 'x' || raw('e9'));
SQL
	cat >"$BATS_FILE_TMPDIR/notes.plan" <<'EOF'
ferry-plan 1

entity notes
  source public.notes
  target public.notes
  keyspace notes
  key legacy_id
  uuid id
  extract
    SELECT n.id AS legacy_id, n.title, n.body
      FROM public.notes AS n
  end
end
EOF
}

teardown_file() {
	drop_dbs
}

@test "a table: one line with the table, the first bad row's key in key order, its columns and the fix; exit 3, no spool file" {
	run --separate-stderr ferry-extract --source dbname=enc_src --table public.notes -o "$BATS_TEST_TMPDIR/notes.zst"
	assert_exit 3
	[ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ]
	[ "$stderr" = "ferry-extract: error: source: table public.notes: row id=7, columns \"title\", \"body\": a text that is not UTF-8 (invalid byte sequence for encoding \"UTF8\": 0xe9); $ADVICE" ]
	[ ! -e "$BATS_TEST_TMPDIR/notes.zst" ]
}

@test "a plan's entity: named with its source table, the row by its legacy key" {
	run --separate-stderr ferry-extract --source dbname=enc_src --plan "$BATS_FILE_TMPDIR/notes.plan" --entity notes
	assert_exit 3
	[ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ]
	[[ $stderr == "ferry-extract: error: source: entity \"notes\" (public.notes): row legacy_id=7, columns \"title\", \"body\": a text that is not UTF-8 ("*"); $ADVICE" ]]
}

@test "a query without a key: the row by its number in the extract; a text key shown with its odd bytes escaped" {
	run --separate-stderr ferry-extract --source dbname=enc_src --no-order --query "SELECT title FROM notes WHERE id < 9 ORDER BY id"
	assert_exit 3
	[[ $stderr == "ferry-extract: error: source: the query: row 5 of the extract, column \"title\": a text that is not UTF-8 ("* ]]
	run --separate-stderr ferry-extract --source dbname=enc_src --table codes
	assert_exit 3
	[[ $stderr == "ferry-extract: error: source: table codes: row code=ab\\351, columns \"code\", \"label\": a text that is not UTF-8 ("* ]]
}

@test "the fix the message gives works: the columns converted in the plan's extract query, the rows come out as UTF-8" {
	sed 's/SELECT n.id AS legacy_id, n.title, n.body/SELECT n.id AS legacy_id, latin1(n.title) AS title, latin1(n.body) AS body/' \
		"$BATS_FILE_TMPDIR/notes.plan" >"$BATS_TEST_TMPDIR/fixed.plan"
	# latin1(x) stands for the expression of the message: the plan holds it whole
	sed -i "s/latin1(\([a-z.]*\))/convert_from(convert(convert_to(\1, 'SQL_ASCII'), 'LATIN1', 'UTF8'), 'UTF8')/g" \
		"$BATS_TEST_TMPDIR/fixed.plan"
	[ "$(grep -c "convert_from(convert(convert_to(n\.[a-z]*, 'SQL_ASCII'), 'LATIN1', 'UTF8'), 'UTF8') AS" "$BATS_TEST_TMPDIR/fixed.plan")" -eq 1 ]
	run --separate-stderr ferry-extract --source dbname=enc_src --plan "$BATS_TEST_TMPDIR/fixed.plan" --entity notes \
		-o "$BATS_TEST_TMPDIR/notes.zst"
	assert_exit 0
	run ferry-cat "$BATS_TEST_TMPDIR/notes.zst"
	assert_exit 0
	# the rows whose bytes were LATIN1 (a column mixing encodings needs its own CASE)
	assert_contains '"legacy_id":7,"title":"café","body":"crème"'
	assert_contains '"legacy_id":9,"title":"lateé","body":"fine"'
}
