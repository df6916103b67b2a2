#!/usr/bin/env bats
# Cycles through a join table (issue 14, point 6): kits containing kits
# through kit_items(kit_id -> kits, child_kit_id -> kits), a link entity of
# tests/fixtures/kits/kits.plan ("links kit_id child_kit_id").  The legacy
# rows make three cycles: 8 -> 28 -> 8 (rows 4, 5), 5 inside itself (row 6),
# and 10 -> 11 -> 12 -> 10 with 11 -> 10 (rows 7-10); rows 1-3 lead into a
# cycle without being on one, 12-14 make a diamond, 11 has no child.
#
#   cycle=note (default)  every row loads; the transform ends its stream with
#                         one note link_cycle per row on a cycle, naming it
#   cycle=reject          the rows on a cycle are rejected (link_cycle), the
#                         others load
#   ferry verify          names the cycles of the destination: they pass under
#                         cycle=note, fail under cycle=reject

load helpers
bats_require_minimum_version 1.5.0

KITS=$FERRY_REPO/tests/fixtures/kits
ON_CYCLE=4,5,6,7,8,9,10

setup_file() {
	new_db lk_src
	q -d lk_src -f "$KITS/legacy.sql" >/dev/null
	new_db lk_tmpl
	q -d lk_tmpl -f "$KITS/destination.sql" >/dev/null
	q -d lk_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
}

teardown_file() {
	drop_dbs
}

# fresh DB: an empty destination
fresh() {
	dropdb --if-exists --force "$1" >/dev/null 2>&1
	createdb -T lk_tmpl "$1"
	echo "$1" >>"$BATS_FILE_TMPDIR/dbs"
}

# a copy of the plan with the links directive's option set to $1
plan_with() {
	sed "s/^  links kit_id child_kit_id\$/  links kit_id child_kit_id $1/" "$KITS/kits.plan" >"$BATS_TEST_TMPDIR/kits.plan"
	grep -q "links kit_id child_kit_id $1" "$BATS_TEST_TMPDIR/kits.plan"
	echo "$BATS_TEST_TMPDIR/kits.plan"
}

# migrate DB PLAN RUN [ARGS]: ferry run
migrate() {
	local db=$1 plan=$2 id=$3
	shift 3
	run ferry run -q --source dbname=lk_src --target "dbname=$db" --plan "$plan" --run-id "$id" \
		--workdir "$BATS_TEST_TMPDIR/$id" "$@"
}

# the keys of ferry.rejects of DISPOSITION and reason link_cycle, in order
cycle_keys() {
	q1 -d "$1" -c "SELECT string_agg(legacy_id, ',' ORDER BY legacy_id::int) FROM ferry.rejects
		WHERE reason = 'link_cycle' AND disposition = '$2'"
}

@test "the stream of a link entity ends with a note link_cycle per row on a cycle, naming its keys; every row is written" {
	fresh lk_stream
	migrate lk_stream "$KITS/kits.plan" s0
	assert_exit 0
	# the stages by hand: the notes come after the last row
	ferry-extract --source dbname=lk_src --plan "$KITS/kits.plan" --entity kit_items |
		ferry-transform --target dbname=lk_stream --plan "$KITS/kits.plan" --entity kit_items |
		ferry-cat >"$BATS_TEST_TMPDIR/stream.jsonl"
	run tail -1 "$BATS_TEST_TMPDIR/stream.jsonl"
	assert_contains '"rows":14,"rejects":0,"notes":7'
	# the header, 14 rows, 7 notes, the trailer
	[ "$(wc -l <"$BATS_TEST_TMPDIR/stream.jsonl")" -eq 23 ]
	run sed -n '16,22p' "$BATS_TEST_TMPDIR/stream.jsonl"
	[ "$(grep -c '"note":"link_cycle"' <<<"$output")" -eq 7 ]
	assert_contains '{"note":"link_cycle","detail":"kit_id -> child_kit_id closes a cycle of kits: 8 -> 28 -> 8","stage":"transform","key":"4"}'
	assert_contains '"detail":"kit_id -> child_kit_id closes a cycle of kits: 8 -> 28 -> 8","stage":"transform","key":"5"}'
	assert_contains '"detail":"kit_id -> child_kit_id closes a cycle of kits: 5 -> 5","stage":"transform","key":"6"}'
	assert_contains 'closes a cycle of kits: 10 -> 11 -> 10 (3 keys of kits reach each other through these links)","stage":"transform","key":"10"}'
	[ "$(sed -n '2,15p' "$BATS_TEST_TMPDIR/stream.jsonl" | grep -c '"legacy_kit_item_id"')" -eq 14 ]
}

@test "cycle=note: every link row loads, the rows on a cycle are noted with the cycle's keys" {
	fresh lk_note
	migrate lk_note "$KITS/kits.plan" n1
	assert_exit 0
	[ "$(q1 -d lk_note -c "SELECT count(*) FROM public.kit_items")" -eq 14 ]
	[ "$(cycle_keys lk_note repaired)" = "$ON_CYCLE" ]
	[ "$(cycle_keys lk_note rejected)" = "" ]
	[ "$(q1 -d lk_note -c "SELECT detail FROM ferry.rejects WHERE legacy_id = '4'")" = \
		"kit_id -> child_kit_id closes a cycle of kits: 8 -> 28 -> 8" ]
	# the rows are the source's: kit 8 holds kit 28, which holds kit 8
	[ "$(q1 -d lk_note -c "SELECT string_agg(k.legacy_kit_id || '>' || c.legacy_kit_id, ' ' ORDER BY i.legacy_kit_item_id)
		FROM public.kit_items i JOIN public.kits k ON k.id = i.kit_id JOIN public.kits c ON c.id = i.child_kit_id
		WHERE i.legacy_kit_item_id IN (4, 5)")" = "8>28 28>8" ]
}

@test "cycle=reject: the rows on a cycle are rejected with reason link_cycle, the others load" {
	fresh lk_reject
	mkdir -p "$BATS_TEST_TMPDIR/tmp"
	TMPDIR=$BATS_TEST_TMPDIR/tmp migrate lk_reject "$(plan_with cycle=reject)" r1 --min-success 0
	assert_exit 0
	[ "$(q1 -d lk_reject -c "SELECT string_agg(legacy_kit_item_id::text, ',' ORDER BY 1) FROM public.kit_items")" = \
		"1,2,3,11,12,13,14" ]
	[ "$(cycle_keys lk_reject rejected)" = "$ON_CYCLE" ]
	[ "$(cycle_keys lk_reject repaired)" = "" ]
	[ "$(q1 -d lk_reject -c "SELECT detail FROM ferry.rejects WHERE legacy_id = '6'")" = \
		"kit_id -> child_kit_id closes a cycle of kits: 5 -> 5" ]
	# the rejected rows keep their values; the loaded ones are whole (row 11 has no child)
	[ "$(q1 -d lk_reject -c "SELECT row_data->>'quantity' FROM ferry.rejects WHERE legacy_id = '10'")" = 3 ]
	[ "$(q1 -d lk_reject -c "SELECT count(*) FROM public.kit_items WHERE legacy_kit_item_id = 11 AND child_kit_id IS NULL")" -eq 1 ]
	# the spool of the link rows is gone
	[ -z "$(ls -A "$BATS_TEST_TMPDIR/tmp")" ]
}

@test "text keys: the same cycles, named by the keys' text" {
	fresh lk_text
	sed -e 's/s.kit_id, s.child_kit_id, s.quantity/s.kit_id::text AS kit_id, s.child_kit_id::text AS child_kit_id, s.quantity/' \
		"$(plan_with cycle=reject)" >"$BATS_TEST_TMPDIR/text.plan"
	grep -q 's.kit_id::text AS kit_id' "$BATS_TEST_TMPDIR/text.plan"
	migrate lk_text "$BATS_TEST_TMPDIR/text.plan" t1 --min-success 0
	assert_exit 0
	[ "$(cycle_keys lk_text rejected)" = "$ON_CYCLE" ]
	[ "$(q1 -d lk_text -c "SELECT detail FROM ferry.rejects WHERE legacy_id = '5'")" = \
		"kit_id -> child_kit_id closes a cycle of kits: 8 -> 28 -> 8" ]
}

@test "ferry verify reports the cycles of a link entity: noted ones pass, one under cycle=reject fails" {
	fresh lk_vnote
	migrate lk_vnote "$KITS/kits.plan" v1
	assert_exit 0
	run ferry verify --source dbname=lk_src --target dbname=lk_vnote --plan "$KITS/kits.plan" \
		--report "$BATS_TEST_TMPDIR/v1.json"
	assert_exit 0
	run jq -r '.entities[] | select(.entity == "kit_items") | .checks[] | select(.check == "links cycles") | "\(.ok) \(.detail)"' \
		"$BATS_TEST_TMPDIR/v1.json"
	[ "$output" = "true 3 cycle(s) through kits, 7 link row(s) on them (cycle=note: loaded on purpose, noted by the transform): 5 -> 5; 8 -> 28 -> 8; 10 -> 11 -> 10" ]
	run ferry-verify --source dbname=lk_src --target dbname=lk_vnote --plan "$KITS/kits.plan" --entity kit_items
	assert_exit 0
	assert_contains "kit_items: links cycles: ok, 3 cycle(s) through kits"

	# cycle=reject: none in the destination, until the application closes one (3 -> 1)
	fresh lk_vrej
	local plan
	plan=$(plan_with cycle=reject)
	migrate lk_vrej "$plan" v2 --min-success 0
	assert_exit 0
	run ferry-verify --source dbname=lk_src --target dbname=lk_vrej --plan "$plan" --entity kit_items --min-success 0
	assert_exit 0
	assert_contains "kit_items: links cycles: ok, none among 6 links of kits"
	q -d lk_vrej -c "INSERT INTO public.kit_items (id, legacy_kit_item_id, kit_id, child_kit_id, quantity)
		SELECT gen_random_uuid(), 99, a.id, b.id, 1 FROM public.kits a, public.kits b
		WHERE a.legacy_kit_id = 3 AND b.legacy_kit_id = 1"
	run ferry-verify --source dbname=lk_src --target dbname=lk_vrej --plan "$plan" --entity kit_items --min-success 0
	assert_exit 7
	assert_contains "kit_items: links cycles: FAILED, 1 cycle(s) through kits, 3 link row(s) on them (cycle=reject: none should have been loaded): 1 -> 2 -> 3 -> 1"
}
