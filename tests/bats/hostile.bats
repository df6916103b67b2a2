#!/usr/bin/env bats
# Hostile names and values (issue 9): a legacy database whose schema,
# tables and columns have quotes, spaces, commas, upper case, non-ASCII
# letters, an SQL keyword, a newline and "; drop table x; --" in their names, and
# whose rows hold every character a PostgreSQL text can hold (U+0001 to
# U+00FF and beyond), backslashes, tabs, newlines, "\N" and "\." as text,
# quotes, 1 MB values and a bytea with all 256 byte values; and a
# destination for it.  "ferry plan" writes the plan from both catalogs,
# "ferry run" migrates, "ferry verify" checks: every row must arrive
# intact, and no name may reach SQL unquoted.
#
#   source (ho_src)                           destination (ho_dst)
#   public."Weird ""Table"" ñ"                public."Weird ""Table"" ñ"
#     id, "Col ""Q""", "select", "ÄÖ x",        id uuid, "legacy_Weird ""Table"" ñ_id",
#     "Raw Bytes" bytea, "Line<LF>Break",       the same columns
#     updated_at
#   public."t; drop table x; --"              public."t; drop table x; --"
#     weird_id -> Weird, "c'); drop table x; --"  (weird_id uuid)
#   "Lé ""App"""."Kéy ""Text"""               public."Kéy ""Text"""
#     text key "Code, ""K""" (a comma, quotes in its values too)
#   "Lé ""App"""."Tree ""Node"""              public."Tree ""Node""" (a tree: "Parent ""Id""",
#     and "Kéy" -> the text key)                and "Kéy" kept: a natural key, checked)
#
# x is a view on both sides: an injected "drop table x" would fail the
# run, and x must still be there.  Every statement ferry sends must
# succeed: the server's log may have no ERROR from the plan, the run or
# the verification.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	new_db ho_src
	new_db ho_dst
	q -d ho_src <<'SQL'
CREATE VIEW x AS SELECT 'must survive'::text AS note;
CREATE TABLE "Weird ""Table"" ñ" (
  id integer PRIMARY KEY,
  "Col ""Q""" text,
  "select" text,
  "ÄÖ x" text,
  "Raw Bytes" bytea,
  "Line
Break" text DEFAULT E'a\nb',
  updated_at timestamptz NOT NULL DEFAULT '2020-01-01'
);
CREATE TABLE "t; drop table x; --" (
  id integer PRIMARY KEY,
  weird_id integer REFERENCES "Weird ""Table"" ñ" (id),
  "c'); drop table x; --" text
);
CREATE SCHEMA "Lé ""App""";
CREATE TABLE "Lé ""App"""."Kéy ""Text""" (
  "Code, ""K""" text PRIMARY KEY,
  label text NOT NULL
);
CREATE TABLE "Lé ""App"""."Tree ""Node""" (
  id integer PRIMARY KEY,
  "Parent ""Id""" integer REFERENCES "Lé ""App"""."Tree ""Node""" (id),
  "Kéy" text REFERENCES "Lé ""App"""."Kéy ""Text""" ("Code, ""K"""),
  name text
);
-- 1: every character U+0001..U+00FF, every byte 0x00..0xFF
-- 2: 1 MB values: "\N", tab, newline, CR, quotes, "\." and more, repeated; U+0001..U+00FF repeated
INSERT INTO "Weird ""Table"" ñ" (id, "Col ""Q""", "select", "ÄÖ x", "Raw Bytes") VALUES
 (1, (SELECT string_agg(chr(g), '' ORDER BY g) FROM generate_series(1, 255) g),
     E'\\N', E'tab\there\nnew line\\back slash ''single'' "double"',
     (SELECT decode(string_agg(lpad(to_hex(g), 2, '0'), '' ORDER BY g), 'hex') FROM generate_series(0, 255) g)),
 (2, repeat(E'\\N\t\n\r''"ñ€😀\\.', 80000),
     repeat((SELECT string_agg(chr(g), '' ORDER BY g) FROM generate_series(1, 255) g), 4112),
     E'a\n\\.\nb', ''::bytea),
 (3, NULL, NULL, NULL, NULL),
 (4, '', '', '', '\x00'::bytea),
 (5, E'\\', E'\\\\N', E'\\.', '\x5c4e'::bytea),
 (6, 'NULL', E'\u00e9\u0301 \U0001F600 \uFFFF \u2028', ' leading and trailing ',
     (SELECT decode(string_agg(lpad(to_hex(255 - g), 2, '0'), '' ORDER BY g), 'hex') FROM generate_series(0, 255) g)),
 (7, E'line1\r\nline2', '; drop table x; --', E'\'); drop table x; --', '\x27'::bytea);
INSERT INTO "t; drop table x; --" VALUES
 (1, 1, E'\'); drop table x; --'), (2, NULL, NULL), (3, 7, E'\\N'), (4, 2, repeat(E'\t', 100));
INSERT INTO "Lé ""App"""."Kéy ""Text""" VALUES
 ('a,b', 'comma'), (E'back\\slash', 'backslash'), (E'new\nline', 'newline'), ('''quote"', 'quotes'),
 (E'\\N', 'backslash N'), ('', 'empty'), (E'tab\t', 'tab'), ('ñ€😀', 'unicode');
INSERT INTO "Lé ""App"""."Tree ""Node""" VALUES
 (1, NULL, 'a,b', 'root'), (5, 1, E'new\nline', 'child'), (3, 5, E'\\N', 'grandchild'),
 (2, NULL, '', 'other root'), (4, 2, 'ñ€😀', 'leaf'), (6, 3, NULL, 'deep');
SQL
	q -d ho_dst <<'SQL'
CREATE VIEW x AS SELECT 'must survive'::text AS note;
CREATE TABLE "Weird ""Table"" ñ" (
  id uuid PRIMARY KEY,
  "legacy_Weird ""Table"" ñ_id" integer UNIQUE,
  "Col ""Q""" text,
  "select" text,
  "ÄÖ x" text,
  "Raw Bytes" bytea,
  "Line
Break" text,
  updated_at timestamptz NOT NULL
);
CREATE TABLE "t; drop table x; --" (
  id uuid PRIMARY KEY,
  "legacy_t; drop table x; --_id" integer UNIQUE,
  weird_id uuid REFERENCES "Weird ""Table"" ñ" (id),
  "c'); drop table x; --" text
);
CREATE TABLE "Kéy ""Text""" (
  id uuid PRIMARY KEY,
  "legacy_Code, ""K""" text UNIQUE NOT NULL,
  label text NOT NULL
);
CREATE TABLE "Tree ""Node""" (
  id uuid PRIMARY KEY,
  "legacy_Tree ""Node""_id" integer UNIQUE,
  "Parent ""Id""" uuid REFERENCES "Tree ""Node""" (id),
  "Kéy" text REFERENCES "Kéy ""Text""" ("legacy_Code, ""K"""),
  name text
);
SQL
	local d=$BATS_FILE_TMPDIR
	export FERRY_SOURCE=dbname=ho_src FERRY_TARGET=dbname=ho_dst
	# from here on, every ERROR in the server's log is one of ferry's statements
	stat -c %s "$PGSERVER_DIR/server.log" >"$d/log.offset"
	ferry init >"$d/init.out" 2>&1
	ferry plan -o "$d/ho.plan" --no-date >"$d/plan.out" 2>&1
	echo $? >"$d/plan.rc"
	ferry run --plan "$d/ho.plan" --run-id h1 --workdir "$d/h1" --spool "$d/spool" >"$d/run.out" 2>&1
	echo $? >"$d/run.rc"
}

teardown_file() {
	drop_dbs
}

setup() {
	export FERRY_SOURCE=dbname=ho_src FERRY_TARGET=dbname=ho_dst
	PLAN=$BATS_FILE_TMPDIR/ho.plan
}

# server_errors: the ERROR lines of the server's log since setup_file, with their statements
server_errors() {
	tail -c +$(($(cat "$BATS_FILE_TMPDIR/log.offset") + 1)) "$PGSERVER_DIR/server.log" | grep -A2 'ERROR:' || true
}

# same_rows NAME SOURCE_SQL TARGET_SQL: both databases give the same rows
same_rows() {
	local a b
	a=$(q1 -d ho_src -c "$2")
	b=$(q1 -d ho_dst -c "$3")
	if [ -z "$a" ] || [ "$a" != "$b" ]; then
		echo "$1: the source and the destination differ:" >&2
		diff <(echo "$a") <(echo "$b") >&2
		return 1
	fi
}

# every table, row for row: keys, references and the md5 of every value (NULL stays NULL)
compare_all() {
	same_rows Weird \
		$'SELECT id, md5("Col ""Q"""), md5("select"), md5("ÄÖ x"), md5("Raw Bytes"), md5("Line\nBreak"), updated_at
		   FROM "Weird ""Table"" ñ" ORDER BY 1' \
		$'SELECT "legacy_Weird ""Table"" ñ_id", md5("Col ""Q"""), md5("select"), md5("ÄÖ x"), md5("Raw Bytes"),
		   md5("Line\nBreak"), updated_at FROM "Weird ""Table"" ñ" ORDER BY 1'
	same_rows t \
		$'SELECT id, weird_id, md5("c\'); drop table x; --") FROM "t; drop table x; --" ORDER BY 1' \
		$'SELECT t."legacy_t; drop table x; --_id", w."legacy_Weird ""Table"" ñ_id", md5(t."c\'); drop table x; --")
		   FROM "t; drop table x; --" t LEFT JOIN "Weird ""Table"" ñ" w ON w.id = t.weird_id ORDER BY 1'
	same_rows Key \
		'SELECT md5("Code, ""K"""), md5(label) FROM "Lé ""App"""."Kéy ""Text""" ORDER BY 1' \
		'SELECT md5("legacy_Code, ""K"""), md5(label) FROM "Kéy ""Text""" ORDER BY 1'
	same_rows Tree \
		'SELECT id, "Parent ""Id""", md5("Kéy"), name FROM "Lé ""App"""."Tree ""Node""" ORDER BY 1' \
		'SELECT n."legacy_Tree ""Node""_id", p."legacy_Tree ""Node""_id", md5(n."Kéy"), n.name
		   FROM "Tree ""Node""" n LEFT JOIN "Tree ""Node""" p ON p.id = n."Parent ""Id""" ORDER BY 1'
}

@test "ferry plan: a runnable plan from the catalogs; entity names made of the table names, every name quoted" {
	output=$(cat "$BATS_FILE_TMPDIR/plan.out")
	[ "$(cat "$BATS_FILE_TMPDIR/plan.rc")" -eq 0 ]
	assert_contains "4 entities: 4 migrated (0 without a source table), 0 not migrated, 0 cycles broken with defer, 0 TODOs"
	run ferry-plan check "$PLAN"
	assert_exit 0
	# entity names: what a plan may not hold in a name became _
	run ferry-plan order "$PLAN"
	[ "$output" = $'Kéy__Text_\nWeird__Table__ñ\nTree__Node_\nt__drop_table_x__--' ]
	# the names as they are, read back from the plan
	[ "$(ferry-plan get "$PLAN" Weird__Table__ñ target)" = 'public.Weird "Table" ñ' ]
	[ "$(ferry-plan get "$PLAN" Weird__Table__ñ key)" = 'legacy_Weird "Table" ñ_id' ]
	[ "$(ferry-plan get "$PLAN" Kéy__Text_ source)" = 'Lé "App".Kéy "Text"' ]
	[ "$(ferry-plan get "$PLAN" Kéy__Text_ key)" = 'legacy_Code, "K"' ]
	[ "$(ferry-plan get "$PLAN" t__drop_table_x__-- target)" = 'public.t; drop table x; --' ]
	[ "$(ferry-plan get "$PLAN" t__drop_table_x__-- refs)" = 'weird_id Weird__Table__ñ ref null' ]
	[ "$(ferry-plan get "$PLAN" Tree__Node_ tree)" = 'Parent "Id" depth=- orphan=root cycle=reject' ]
	[ "$(ferry-plan get "$PLAN" Tree__Node_ check)" = 'Kéy Kéy__Text_ null' ]
	# in the extract queries every identifier is quoted
	ferry-plan get "$PLAN" t__drop_table_x__-- extract | grep -qF $'s."c\'); drop table x; --" AS "c\'); drop table x; --"'
	ferry-plan get "$PLAN" t__drop_table_x__-- extract | grep -qF 'FROM public."t; drop table x; --" AS s'
	ferry-plan get "$PLAN" Kéy__Text_ extract | grep -qF 'FROM "Lé ""App"""."Kéy ""Text""" AS s'
	ferry-plan get "$PLAN" Weird__Table__ñ extract | grep -qF 's."select",'
	# a newline in a name: written with its escape, so that the plan's lines stay whole
	ferry-plan get "$PLAN" Weird__Table__ñ extract | grep -qF 's.U&"Line\000ABreak"'
}

@test "ferry run: exit 0, every row loaded, not one statement failed in either database" {
	output=$(cat "$BATS_FILE_TMPDIR/run.out")
	[ "$(cat "$BATS_FILE_TMPDIR/run.rc")" -eq 0 ] || { echo "$output" >&2; false; }
	assert_contains "[1/4] Kéy__Text_: 8 rows loaded, 0 rejected"
	assert_contains "[2/4] Weird__Table__ñ: 7 rows loaded, 0 rejected"
	assert_contains "[3/4] Tree__Node_: 6 rows loaded, 0 rejected"
	assert_contains "[4/4] t__drop_table_x__--: 4 rows loaded, 0 rejected"
	assert_contains "success rate 100.0000%"
	[[ $output != *error* ]]
	# each step had its rows expected from the source's catalog, spaces in
	# the table names and all
	[ "$(q1 -d ho_dst -c "SELECT count(*) FROM ferry.entity_runs WHERE run_id = 'h1' AND expected_rows IS NULL")" -eq 0 ]
	local errors
	errors=$(server_errors)
	[ -z "$errors" ] || { echo "statements that failed: $errors" >&2; false; }
}

@test "every value intact: U+0001-U+00FF, backslashes, tabs, newlines, \\N and \\. as text, quotes, 1 MB values, every byte" {
	compare_all
	# and as written in the source, to the byte
	[ "$(q1 -d ho_dst -c 'SELECT "Col ""Q""" = (SELECT string_agg(chr(g), $$$$ ORDER BY g) FROM generate_series(1, 255) g)
		AND "Raw Bytes" = (SELECT decode(string_agg(lpad(to_hex(g), 2, $$0$$), $$$$ ORDER BY g), $$hex$$) FROM generate_series(0, 255) g)
		AND octet_length("Raw Bytes") = 256 AND "select" = chr(92) || $$N$$
		FROM "Weird ""Table"" ñ" WHERE "legacy_Weird ""Table"" ñ_id" = 1')" = t ]
	[ "$(q1 -d ho_dst -c 'SELECT length("Col ""Q"""), octet_length("Col ""Q"""), length("select"), octet_length("Raw Bytes")
		FROM "Weird ""Table"" ñ" WHERE "legacy_Weird ""Table"" ñ_id" = 2')" = "960000|1440000|1048560|0" ]
	[ "$(q1 -d ho_dst -c $'SELECT count(*) FROM "Weird ""Table"" ñ" WHERE "Line\nBreak" = E\'a\\nb\'')" -eq 7 ]
	# NULL stays NULL, the empty string empty, the text "NULL" text
	[ "$(q1 -d ho_dst -c 'SELECT count(*) FILTER (WHERE "Col ""Q""" IS NULL AND "Raw Bytes" IS NULL),
		count(*) FILTER (WHERE "Col ""Q""" = $$$$ AND "Raw Bytes" = $$\x00$$::bytea), count(*) FILTER (WHERE "Col ""Q""" = $$NULL$$)
		FROM "Weird ""Table"" ñ"')" = "1|1|1" ]
}

@test "keys and references through hostile names: a text key with a comma, quotes and newlines, a tree, a checked natural key" {
	compare_all
	# each row's UUID is its legacy key's, in the id map under the entity's name (the
	# empty key too)
	[ "$(q1 -d ho_dst -c 'SELECT count(*) FROM "Kéy ""Text""" k JOIN ferry.id_map m
		ON m.entity = $$Kéy__Text_$$ AND m.legacy_id = k."legacy_Code, ""K""" AND m.uuid = k.id')" -eq 8 ]
	[ "$(q1 -d ho_dst -c 'SELECT count(*) FROM "Tree ""Node""" n JOIN ferry.id_map m
		ON m.entity = $$Tree__Node_$$ AND m.legacy_id = n."legacy_Tree ""Node""_id"::text AND m.uuid = n.id')" -eq 6 ]
	# the tree: parents before children, 3 levels under root 1
	[ "$(q1 -d ho_dst -c 'WITH RECURSIVE t(id, depth) AS (
		SELECT id, 0 FROM "Tree ""Node""" WHERE "Parent ""Id""" IS NULL
		UNION ALL SELECT n.id, t.depth + 1 FROM "Tree ""Node""" n JOIN t ON n."Parent ""Id""" = t.id)
		SELECT max(depth), count(*) FROM t')" = "3|6" ]
	# no reject, no repair: every key matched, none was mangled on the way
	[ "$(q1 -d ho_dst -c "SELECT count(*) FROM ferry.rejects")" -eq 0 ]
}

@test "nothing reached SQL unquoted: x is there on both sides, the injection texts arrived as data" {
	[ "$(q1 -d ho_src -c "SELECT note FROM x")" = "must survive" ]
	[ "$(q1 -d ho_dst -c "SELECT note FROM x")" = "must survive" ]
	[ "$(q1 -d ho_dst -c $'SELECT "c\'); drop table x; --" FROM "t; drop table x; --" WHERE "legacy_t; drop table x; --_id" = 1')" = "'); drop table x; --" ]
	[ "$(q1 -d ho_dst -c 'SELECT "select" FROM "Weird ""Table"" ñ" WHERE "legacy_Weird ""Table"" ñ_id" = 7')" = "; drop table x; --" ]
	# the books keep the names as they are
	[ "$(q1 -d ho_dst -c "SELECT string_agg(entity, ' ' ORDER BY entity COLLATE \"C\") FROM ferry.entity_runs WHERE run_id = 'h1'")" = \
		"Kéy__Text_ Tree__Node_ Weird__Table__ñ t__drop_table_x__--" ]
}

@test "ferry verify, checksum and rows: every entity intact; a changed byte anywhere is found, exit 7" {
	run ferry verify --plan "$PLAN"
	assert_exit 0
	assert_contains "verify: ok: 100% of the source rows arrived intact"
	run ferry verify --plan "$PLAN" --rows
	assert_exit 0
	assert_contains "verify: ok: 100% of the source rows arrived intact"
	# a copy of the destination with one character of the 1 MB value, one byte of the
	# bytea and the label of the key with a comma changed
	dropdb --if-exists --force ho_bad >/dev/null 2>&1
	createdb -T ho_dst ho_bad
	echo ho_bad >>"$BATS_FILE_TMPDIR/dbs"
	q -d ho_bad <<'SQL'
UPDATE "Weird ""Table"" ñ" SET "select" = overlay("select" PLACING 'y' FROM 500000 FOR 1)
 WHERE "legacy_Weird ""Table"" ñ_id" = 2;
UPDATE "Weird ""Table"" ñ" SET "Raw Bytes" = set_byte("Raw Bytes", 7, 8) WHERE "legacy_Weird ""Table"" ñ_id" = 1;
UPDATE "Kéy ""Text""" SET label = 'changed' WHERE "legacy_Code, ""K""" = 'a,b';
SQL
	local mode
	for mode in --checksum --rows; do
		run ferry verify --plan "$PLAN" --target dbname=ho_bad $mode
		assert_exit 7
		assert_contains "Kéy__Text_: different: key a,b: label: expected \"comma\", found \"changed\""
		assert_contains "Weird__Table__ñ: different: key 1: Raw Bytes: expected \"\\\\x000102030405060708"
		assert_contains "Weird__Table__ñ: different: key 2: select: expected"
		[ "$(grep -c ': different: ' <<<"$output")" -eq 3 ]
	done
	local errors
	errors=$(server_errors)
	[ -z "$errors" ] || { echo "statements that failed: $errors" >&2; false; }
}

@test "an incremental run carries a changed hostile value and a new row, and only those" {
	q -d ho_src <<'SQL'
UPDATE "Weird ""Table"" ñ" SET "select" = E'changed \\N\t''', updated_at = now() WHERE id = 7;
INSERT INTO "Weird ""Table"" ñ" (id, "Col ""Q""", updated_at) VALUES (8, E'new\\row\n', '2020-01-01');
INSERT INTO "Lé ""App"""."Kéy ""Text""" VALUES (E'new,\\key"', 'new');
SQL
	run ferry run --plan "$PLAN" --incremental --run-id h2 --workdir "$BATS_TEST_TMPDIR/h2"
	assert_exit 0
	# the changed row, and the new one by its key above the last run's highest
	assert_contains "[2/4] Weird__Table__ñ: 2 rows loaded, 0 rejected"
	assert_contains "[1/4] Kéy__Text_: 9 rows loaded, 0 rejected"
	compare_all
	[ "$(q1 -d ho_dst -c 'SELECT count(*) FROM "Weird ""Table"" ñ"')" -eq 8 ]
	local errors
	errors=$(server_errors)
	[ -z "$errors" ] || { echo "statements that failed: $errors" >&2; false; }
}

@test "the stages by hand: ferry-extract --table and ferry-load --table take hostile names as they are" {
	local d=$BATS_TEST_TMPDIR
	# the primary key of a table is found even when its name holds a comma
	ferry-extract --source dbname=ho_src --table 'Lé "App".Kéy "Text"' -o "$d/k.zst"
	[ "$(ferry-cat "$d/k.zst" | head -1 | jq -c .key)" = '["Code, \"K\""]' ]
	[ "$(ferry-cat --check "$d/k.zst" | grep -c .)" -ge 1 ]
	# into a copy of the hostile destination table, under its own odd name
	q -d ho_dst -c 'CREATE TABLE "Copy ""of"" t; --" ("Code, ""K""" text PRIMARY KEY, label text NOT NULL)'
	run --separate-stderr ferry-load --target dbname=ho_dst --table 'public.Copy "of" t; --' "$d/k.zst"
	assert_exit 0
	same_rows copy \
		'SELECT md5("Code, ""K"""), md5(label) FROM "Lé ""App"""."Kéy ""Text""" ORDER BY 1' \
		'SELECT md5("Code, ""K"""), md5(label) FROM "Copy ""of"" t; --" ORDER BY 1'
	# a table that does not exist is named as it was given
	run --separate-stderr ferry-extract --source dbname=ho_src --table 'public.Weird "Table" Ñ'
	assert_exit 3
	[[ $stderr == *'table "public.Weird "Table" Ñ" does not exist'* ]]
}
