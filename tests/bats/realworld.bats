#!/usr/bin/env bats
# Real-world sources nobody shaped for ferry (issue 14): pagila and chinook
# (../shared/realworld, only where FERRY_SHARED is set), each into a
# UUID-keyed destination a DBA would write (tests/fixtures/pagila/,
# tests/fixtures/chinook/).  Zero-config: "ferry plan" must write a plan
# with no TODO, "ferry run" must load every row, and a check of our own
# (tests/fixtures/DB/check-migration.sql, which reads no plan) must find
# every row, key, reference and value of the source in the destination;
# then "ferry verify" passes, and the destination's schema is unchanged.
#
# pagila's store.manager_staff_id <-> staff.store_id is a cycle whose
# columns are NOT NULL, both keys DEFERRABLE: it loads through a forward
# reference.  One test finishes the generated plan by hand (the cycle's
# column as "forward manager_staff_id staff"), so that the forward path is
# proven end to end whatever the generator writes for the cycle.

load helpers
bats_require_minimum_version 1.5.0

realworld() {
	[ -n "${FERRY_SHARED:-}" ] && [ -f "$FERRY_SHARED/realworld/pagila/pagila-data.sql" ] &&
		[ -f "$FERRY_SHARED/realworld/chinook/chinook.sql" ]
}

setup_file() {
	realworld || return 0
	local r=$FERRY_SHARED/realworld
	new_db rw_pagila_src
	q -d rw_pagila_src -f "$r/pagila/source-schema.sql" >/dev/null
	q -1 -d rw_pagila_src -f "$r/pagila/pagila-data.sql" >/dev/null
	new_db rw_pagila_tmpl
	q -d rw_pagila_tmpl -f "$FERRY_REPO/tests/fixtures/pagila/destination-schema.sql" >/dev/null
	new_db rw_chinook_src
	q -d rw_chinook_src -f "$r/chinook/chinook.sql" >/dev/null
	new_db rw_chinook_tmpl
	q -d rw_chinook_tmpl -f "$FERRY_REPO/tests/fixtures/chinook/destination-schema.sql" >/dev/null
}

teardown_file() {
	drop_dbs
}

setup() {
	realworld || skip "the real-world sources are not here (FERRY_SHARED unset, or no realworld/ in it)"
	unset FERRY_SOURCE FERRY_TARGET
}

# fresh_dst DB NAME: an empty copy of DB's destination, dropped by drop_dbs
fresh_dst() {
	dropdb --if-exists --force "$2" >/dev/null 2>&1
	createdb -T "rw_$1_tmpl" "$2"
	echo "$2" >>"$BATS_FILE_TMPDIR/dbs"
}

# schema_of DB: the DDL of DB's public schema, to see that a run left it alone
# (without comments and pg_dump's \restrict lines, whose key is new each time)
schema_of() {
	pg_dump --schema-only --no-owner --no-privileges --schema=public -d "$1" |
		grep -Ev '^(--|\\(un)?restrict )'
}

# plan_todos PLAN: its TODO lines, with their line numbers (none: nothing printed)
plan_todos() {
	grep -n 'TODO:' "$1" || true
}

# own_check DB SRC DST: our own comparison of DST with SRC
# (tests/fixtures/DB/check-migration.sql) in a scratch database holding
# the source in schema src and a copy of the destination in public; no
# output is a pass
own_check() {
	local chk="$3_check"
	new_db "$chk"
	pg_dump --no-owner --no-privileges -d "$2" | q -d "$chk" >/dev/null
	q -d "$chk" -c 'ALTER SCHEMA public RENAME TO src'
	pg_dump --no-owner --no-privileges --schema=public -d "$3" | q -d "$chk" >/dev/null
	run q1 -d "$chk" -f "$FERRY_REPO/tests/fixtures/$1/check-migration.sql"
	assert_exit 0
	if [ -n "$output" ]; then
		echo "check-migration.sql of $1 found differences:" >&2
		echo "$output" >&2
		return 1
	fi
}

# migrate DB PLAN DST ROWS: ferry init, run, our check, ferry verify; every
# one of the source's ROWS rows loaded, none rejected, the schema untouched
migrate() {
	local db=$1 plan=$2 dst=$3 rows=$4 before
	fresh_dst "$db" "$dst"
	before=$(schema_of "$dst")
	export FERRY_SOURCE="dbname=rw_${db}_src" FERRY_TARGET="dbname=$dst"
	run ferry init
	assert_exit 0
	run ferry run -q --plan "$plan" --run-id "$dst" --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	[ "$(q1 -d "$dst" -c "SELECT source_rows || ' ' || loaded_rows || ' ' || rejected_rows
		FROM ferry.runs WHERE run_id = '$dst'")" = "$rows $rows 0" ]
	# ferry adds its own schema; the destination's public schema is as the DBA wrote it
	[ "$(schema_of "$dst")" = "$before" ]
	own_check "$db" "rw_${db}_src" "$dst"
	run ferry verify -q --plan "$plan" --report "$BATS_TEST_TMPDIR/verify.json"
	assert_exit 0
}

@test "pagila: the plan ferry writes has no TODO (zero-config), and migrates every row, key, reference and value" {
	FERRY_SOURCE=dbname=rw_pagila_src FERRY_TARGET=dbname=rw_pagila_tmpl \
		ferry plan >"$BATS_TEST_TMPDIR/pagila.plan" 2>"$BATS_TEST_TMPDIR/plan.err"
	run plan_todos "$BATS_TEST_TMPDIR/pagila.plan"
	[ -z "$output" ] || { echo "TODOs left in the generated plan:" >&2; echo "$output" >&2; false; }
	# the NOT NULL cycle is broken with forward, which preflight accepts for a
	# superuser target (it may turn foreign-key checks off)
	[ "$(ferry-plan get "$BATS_TEST_TMPDIR/pagila.plan" store forward)" = "manager_staff_id staff reject" ] || false
	run ferry-plan check "$BATS_TEST_TMPDIR/pagila.plan" --source dbname=rw_pagila_src --target dbname=rw_pagila_tmpl
	assert_exit 0
	migrate pagila "$BATS_TEST_TMPDIR/pagila.plan" rw_pagila_zero 49636
}

@test "pagila, the cycle finished by hand as forward manager_staff_id staff: every row, key, reference and value, no fix-up step" {
	local plan=$BATS_TEST_TMPDIR/pagila.plan
	FERRY_SOURCE=dbname=rw_pagila_src FERRY_TARGET=dbname=rw_pagila_tmpl \
		ferry plan >"$plan.generated" 2>"$BATS_TEST_TMPDIR/plan.err"
	# what a DBA does with the cycle today: the column forward, its TODO gone
	sed -e 's/^\( *\)defer manager_staff_id staff$/\1forward manager_staff_id staff/' \
		-e '/TODO: store.manager_staff_id /d' "$plan.generated" >"$plan"
	grep -Eq '^ *forward manager_staff_id staff( reject)?$' "$plan"
	run plan_todos "$plan"
	[ -z "$output" ] || { echo "TODOs left besides the cycle's:" >&2; echo "$output" >&2; false; }
	# store loads before staff; no fix-up step (no "entity:column" line)
	run ferry-plan order "$plan"
	assert_exit 0
	[[ "$output" != *:* ]] || false
	[[ "$output" == *$'store\n'*staff* ]] || false
	migrate pagila "$plan" rw_pagila_fwd 49636
	# both columns of the cycle are NOT NULL in the destination, and every store has its manager
	[ "$(q1 -d rw_pagila_fwd -c "SELECT count(*) FROM store s JOIN staff m ON m.id = s.manager_staff_id
		JOIN store w ON w.id = m.store_id")" = 500 ]
}

@test "chinook: the plan ferry writes has no TODO (zero-config), and migrates every row, key, reference and value" {
	FERRY_SOURCE=dbname=rw_chinook_src FERRY_TARGET=dbname=rw_chinook_tmpl \
		ferry plan >"$BATS_TEST_TMPDIR/chinook.plan" 2>"$BATS_TEST_TMPDIR/plan.err"
	run plan_todos "$BATS_TEST_TMPDIR/chinook.plan"
	[ -z "$output" ] || { echo "TODOs left in the generated plan:" >&2; echo "$output" >&2; false; }
	migrate chinook "$BATS_TEST_TMPDIR/chinook.plan" rw_chinook_zero 15607
	# the employee hierarchy, three levels under the general manager
	[ "$(q1 -d rw_chinook_zero -c "WITH RECURSIVE h AS (
		SELECT id, 0 AS depth FROM employees WHERE reports_to IS NULL
		UNION ALL SELECT e.id, h.depth + 1 FROM employees e JOIN h ON e.reports_to = h.id)
		SELECT count(*) || ' ' || max(depth) FROM h")" = "8 2" ]
}
