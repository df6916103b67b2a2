#!/usr/bin/env bats
# Verification (issue 6): ferry-verify and "ferry verify".
#
# The demo database (examples/demo) is migrated with examples/demo.plan
# through "ferry run --spool", then a copy of the destination is corrupted
# in each way a migration can go wrong: a value changed, a row deleted, a
# row added, a foreign key pointed at nothing (with session_replication_role
# = replica, as the load runs), a comment's parent broken; and on entities
# whose rows are found differently: a repaired value, a value a reference
# note set NULL, a composite key, a key only ferry.id_map knows.  Both
# modes, checksum (hashes of key ranges, narrowed) and rows (the run's own
# spooled streams), must name exactly those rows (legacy key) and columns,
# and the same ones.  A clean migration passes in both modes with missing,
# extra and different 0; the success-rate bar gives exit 7.  The last test
# runs "ferry verify" on a clean migration of every fixture present: the
# demo always, the shared dispatch fixture at scale 1 when FERRY_SHARED is
# set (bats 1.8 cannot define tests conditionally: the test loops).

load helpers
bats_require_minimum_version 1.5.0

PLAN=$FERRY_REPO/examples/demo.plan
RUN=vf1

setup_file() {
	local T=$BATS_FILE_TMPDIR
	demo_dbs vf_src vf_dst 1
	q -d vf_dst -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	(
		cd "$T" || exit 1
		FERRY_SOURCE=dbname=vf_src FERRY_TARGET=dbname=vf_dst \
			ferry run --plan "$PLAN" --run-id "$RUN" --spool "$T/spool" -q >"$T/run.out" 2>&1
		rc=$?
		[ $rc -eq 0 ] || [ $rc -eq 6 ]
	) || { cat "$T/run.out" >&2; return 1; }

	# the corrupted copy: values kept to check the messages
	q1 -d vf_dst -c "SELECT unit_price || ' ' || unit_price + 1 FROM orderitems WHERE legacy_orderitem_id = 37" >"$T/price37"
	q1 -d vf_dst -c "SELECT legacy_order_id FROM orders o JOIN orderitems i ON i.order_id = o.id
		WHERE i.legacy_orderitem_id = 41" >"$T/order41"
	q1 -d vf_dst -c "SELECT c.legacy_comment_id || ' ' || p.legacy_comment_id FROM comments c
		JOIN comments p ON p.id = c.parent_id ORDER BY c.legacy_comment_id LIMIT 1" >"$T/comment"
	new_db vf_bad
	dropdb vf_bad
	createdb -T vf_dst vf_bad
	local x
	read -r x _ <"$T/comment"
	q -d vf_bad >/dev/null <<SQL
SET session_replication_role = replica;
UPDATE orderitems SET unit_price = unit_price + 1 WHERE legacy_orderitem_id = 37;
DELETE FROM orderitems WHERE legacy_orderitem_id = 38;
INSERT INTO orderitems (id, legacy_orderitem_id, order_id, product_id, quantity, unit_price, coatings)
SELECT '00000000-0000-4000-8000-000000000001', 999999, order_id, product_id, quantity, unit_price, coatings
  FROM orderitems WHERE legacy_orderitem_id = 40;
UPDATE orderitems SET order_id = '00000000-0000-4000-8000-0000000000ff' WHERE legacy_orderitem_id = 41;
UPDATE comments SET parent_id = '00000000-0000-4000-8000-0000000000cc' WHERE legacy_comment_id = $x;
UPDATE profiles SET preferences = '{"x": 1}' WHERE legacy_user_id = 25;
UPDATE invoicelines SET description = 'changed' WHERE legacy_invoice_id = 1 AND legacy_line_no = 1;
UPDATE invoicelines SET order_id = (SELECT id FROM orders WHERE legacy_order_id = 7)
 WHERE legacy_invoice_id = 12 AND legacy_line_no = 1;
UPDATE auth.users SET email = 'changed@example.invalid'
 WHERE id = (SELECT uuid FROM ferry.id_map WHERE entity = 'auth.users' AND legacy_id = '5');
SQL
	# both modes on the corrupted entities, JSON reports kept
	local e m rc
	for e in orderitems comments profiles invoicelines auth.users; do
		for m in checksum rows; do
			verify_one "$m" "$e" vf_bad >"$T/$m.$e.out" 2>&1 && rc=0 || rc=$?
			echo "$rc" >"$T/$m.$e.rc"
		done
	done
}

teardown_file() {
	drop_dbs
}

# verify_one MODE ENTITY DB [OPTIONS]: ferry-verify in MODE, report in $T/DB.MODE.ENTITY.json
# (rows: the stream the run's load was given, from the spool)
verify_one() {
	local m=$1 e=$2 db=$3 T=$BATS_FILE_TMPDIR
	shift 3
	local args=(--source dbname=vf_src --target "dbname=$db" --plan "$PLAN" --entity "$e" --run "$RUN"
		--report "$T/$db.$m.$e.json" --min-success 0 "$@")
	if [ "$m" = rows ]; then
		ferry-verify --rows "${args[@]}" "$T/spool/$e.zst"
	else
		ferry-verify --checksum "${args[@]}"
	fi
}

# the differences of a report of vf_bad, one "kind key column" line each, sorted
diffs() {
	jq -r '.entities[0].differences[] | "\(.kind) \(.key // "?") \(.column // "-")"' \
		"$BATS_FILE_TMPDIR/vf_bad.$1" | sort
}

# both modes: exit 7, and exactly these differences ("kind key column" lines)
assert_diffs() {
	local e=$1 want=$2 m got
	for m in checksum rows; do
		output=$(cat "$BATS_FILE_TMPDIR/$m.$e.out")
		status=$(cat "$BATS_FILE_TMPDIR/$m.$e.rc")
		assert_exit 7
		got=$(diffs "$m.$e.json")
		if [ "$got" != "$want" ]; then
			printf '%s mode, %s: expected differences:\n%s\ngot:\n%s\n' "$m" "$e" "$want" "$got" >&2
			return 1
		fi
	done
}

# the value a report of vf_bad gives for one difference: FIELD of (kind, key, column)
diff_field() {
	jq -r --arg k "$2" --arg key "$3" --arg c "$4" --arg f "$5" '.entities[0].differences[]
		| select(.kind == $k and .key == $key and (.column // "-") == $c) | .[$f] // "NULL"' \
		"$BATS_FILE_TMPDIR/vf_bad.$1"
}

# ---------------------------------------------------------------------
# A clean migration
# ---------------------------------------------------------------------

@test "clean: ferry-verify passes every entity in both modes, missing 0, extra 0, different 0" {
	local e m T=$BATS_FILE_TMPDIR
	for e in $(ferry-plan order "$PLAN"); do
		[[ $e == *:* ]] && continue
		for m in checksum rows; do
			run verify_one "$m" "$e" vf_dst
			assert_exit 0
			run jq -r '.entities[0] | "\(.missing) \(.extra) \(.different) \(.orphans) \(.ok) \(.source_rows == .loaded + .rejected) \(.rejected == ([.rejected_by_reason[]] | add // 0))"' \
				"$T/vf_dst.$m.$e.json"
			[ "$output" = "0 0 0 0 true true true" ] || { echo "$m $e: $output" >&2; return 1; }
		done
	done
}

@test "clean: row mode through extract | transform | verify passes too" {
	local e
	for e in orders comments auth.users invoicelines; do
		run bash -c "ferry-extract --source dbname=vf_src --plan '$PLAN' --entity '$e' |
			ferry-transform --target dbname=vf_dst --plan '$PLAN' --entity '$e' 2>/dev/null |
			ferry-verify --rows --source dbname=vf_src --target dbname=vf_dst --plan '$PLAN' \
				--entity '$e' --run $RUN --min-success 0"
		assert_exit 0
		assert_contains "$e: source "
		assert_contains "missing 0, extra 0, different 0, orphans 0: ok"
	done
}

@test "clean: rejected and repaired rows are accounted, not missing or different" {
	local T=$BATS_FILE_TMPDIR m
	for m in checksum rows; do
		verify_one "$m" orders vf_dst >/dev/null
		verify_one "$m" comments vf_dst >/dev/null
		# orders: 5 rows rejected by the transform, 6 repaired by the load
		[ "$(jq -r '.entities[0].rejected_by_reason.missing_reference' "$T/vf_dst.$m.orders.json")" = 5 ]
		[ "$(jq -r '.entities[0].repaired_by_reason.value_repaired' "$T/vf_dst.$m.orders.json")" = 6 ]
		[ "$(jq -r '.entities[0] | "\(.source_rows) \(.loaded) \(.rejected) \(.different)"' \
			"$T/vf_dst.$m.orders.json")" = "998 993 5 0" ]
		# comments: the tree checks are in the report
		[ "$(jq -r '[.entities[0].checks[] | select(.ok | not)] | length' "$T/vf_dst.$m.comments.json")" = 0 ]
		jq -e '.entities[0].checks[] | select(.check == "tree parents" and .ok)' \
			"$T/vf_dst.$m.comments.json" >/dev/null
	done
}

# ---------------------------------------------------------------------
# A corrupted destination: each way, named by key and column, in both modes
# ---------------------------------------------------------------------

@test "corrupted: a changed value is named by key and column, with both values" {
	local T=$BATS_FILE_TMPDIR price changed m
	read -r price changed <"$T/price37"
	for m in checksum rows; do
		[ "$(diff_field "$m.orderitems.json" different 37 unit_price expected)" = "$price" ]
		[ "$(diff_field "$m.orderitems.json" different 37 unit_price actual)" = "$changed" ]
		grep -qF "orderitems:   different: key 37: unit_price: expected \"$price\"" "$T/$m.orderitems.out"
	done
}

@test "corrupted: a deleted row is missing, an added row is extra" {
	local T=$BATS_FILE_TMPDIR m
	for m in checksum rows; do
		grep -qF "orderitems:   missing: key 38 (uuid " "$T/$m.orderitems.out"
		grep -qF "orderitems:   extra: key 999999 (uuid 00000000-0000-4000-8000-000000000001)" "$T/$m.orderitems.out"
		[ "$(jq -r '.entities[0] | "\(.missing) \(.extra) \(.loaded)"' "$T/vf_bad.$m.orderitems.json")" = "1 1 1985" ]
	done
}

@test "corrupted: a foreign key pointing at nothing is an orphan, and a different value" {
	local T=$BATS_FILE_TMPDIR m
	for m in checksum rows; do
		[ "$(diff_field "$m.orderitems.json" orphan 41 order_id value)" = 00000000-0000-4000-8000-0000000000ff ]
		[ "$(diff_field "$m.orderitems.json" orphan 41 order_id references)" = orders ]
		[ "$(diff_field "$m.orderitems.json" different 41 order_id actual)" != NULL ]
		grep -qF "orderitems:   orphan: key 41 (uuid " "$T/$m.orderitems.out"
	done
	# checksum mode compares references as legacy keys, row mode as uuids
	[ "$(diff_field checksum.orderitems.json different 41 order_id expected)" = "$(cat "$T/order41")" ]
	[[ "$(diff_field checksum.orderitems.json different 41 order_id actual)" == "00000000-0000-4000-8000-0000000000ff (no migrated orders row"* ]]
	[ "$(diff_field rows.orderitems.json different 41 order_id actual)" = 00000000-0000-4000-8000-0000000000ff ]
}

@test "corrupted: orderitems, exactly these differences in both modes" {
	assert_diffs orderitems "$(printf '%s\n' 'different 37 unit_price' 'different 41 order_id' \
		'extra 999999 -' 'missing 38 -' 'orphan 41 order_id' | sort)"
}

@test "corrupted: a comment's broken parent: the row and column, the orphan, the tree checks" {
	local T=$BATS_FILE_TMPDIR x p m
	read -r x p <"$T/comment"
	assert_diffs comments "$(printf '%s\n' "different $x parent_id" "orphan $x parent_id" | sort)"
	for m in checksum rows; do
		grep -qF "comments: tree parents: FAILED, 1 rows whose parent is not in the table: $x" "$T/$m.comments.out"
		jq -e '.entities[0].checks[] | select(.check == "tree parents" and (.ok | not))' \
			"$T/vf_bad.$m.comments.json" >/dev/null
	done
	[ "$(diff_field checksum.comments.json different "$x" parent_id expected)" = "$p" ]
}

@test "corrupted: a repaired value changed is different, the run's repair named" {
	assert_diffs profiles "different 25 preferences"
	local m
	for m in checksum rows; do
		# expected: the repair value ({}), or the source's value (not JSON here)
		[ "$(diff_field "$m.profiles.json" different 25 preferences note)" = \
			'the run repaired this value: expected "{}", or the value' ]
		[ "$(diff_field "$m.profiles.json" different 25 preferences expected)" = \
			"$(q1 -d vf_src -c "SELECT preferences FROM dispatch_userprofile WHERE user_id = 25")" ]
		[ "$(diff_field "$m.profiles.json" different 25 preferences actual)" = '{"x": 1}' ]
		# the other repaired rows still count as repaired
		[ "$(jq -r '.entities[0].repaired_by_reason.value_repaired' "$BATS_FILE_TMPDIR/vf_bad.$m.profiles.json")" = 3 ]
	done
}

@test "corrupted: composite key; a reference the transform set NULL (noted) given a value" {
	assert_diffs invoicelines "$(printf '%s\n' 'different 1,1 description' 'different 12,1 order_id' | sort)"
	[ "$(diff_field checksum.invoicelines.json different 1,1 description actual)" = changed ]
	# the stream has the NULL the transform wrote; the source, the legacy key it had
	[ "$(diff_field rows.invoicelines.json different 12,1 order_id expected)" = NULL ]
	[ "$(diff_field checksum.invoicelines.json different 12,1 order_id actual)" = 7 ]
	[ "$(diff_field checksum.invoicelines.json different 12,1 order_id note)" = \
		"the run set this value NULL (a note in ferry.rejects): expected NULL, or the value" ]
}

@test "corrupted: a key only ferry.id_map knows (auth.users)" {
	assert_diffs auth.users "different 5 email"
	[ "$(diff_field checksum.auth.users.json different 5 email actual)" = changed@example.invalid ]
}

@test "corrupted: ferry verify, both modes: exit 7, the differences listed, the report merged" {
	local T=$BATS_FILE_TMPDIR m x
	read -r x _ <"$T/comment"
	for m in "" --rows; do
		run bash -c "cd '$T' && FERRY_SOURCE=dbname=vf_src FERRY_TARGET=dbname=vf_bad \
			ferry verify --plan '$PLAN' --run $RUN $m --min-success 0 --report '$T/bad$m.json' 2>&1"
		assert_exit 7
		assert_contains "orderitems: different: key 37: unit_price: expected"
		assert_contains "orderitems: missing: key 38"
		assert_contains "orderitems: extra: key 999999"
		assert_contains "orderitems: orphan: key 41: order_id = 00000000-0000-4000-8000-0000000000ff"
		assert_contains "comments: different: key $x: parent_id"
		assert_contains "comments: tree parents: FAILED"
		assert_contains "verify: FAILED"
		run jq -r '"\(.ok) \(.totals.missing) \(.totals.extra) \(.totals.orphans)"' "$T/bad$m.json"
		[ "$output" = "false 1 1 2" ]
	done
}

@test "the JSON report: per entity counts, reasons, differences; written atomically" {
	local T=$BATS_FILE_TMPDIR
	verify_one checksum orders vf_dst >/dev/null
	run jq -r '.entities[0] | keys | join(" ")' "$T/vf_dst.checksum.orders.json"
	for k in entity target mode source_rows source_counted loaded rejected rejected_by_reason repaired \
		repaired_by_reason missing extra different different_by_column orphans success_rate ok \
		differences checks; do
		[[ " $output " == *" $k "* ]] || { echo "no $k in: $output" >&2; return 1; }
	done
	[ "$(jq -r '.ferry + " " + (.version | tostring) + " " + .run' "$T/vf_dst.checksum.orders.json")" = "verify 1 $RUN" ]
	[ "$(jq -r '.entities[0].different_by_column.unit_price' "$T/vf_bad.checksum.orderitems.json")" = 1 ]
	[ -z "$(find "$T" -maxdepth 1 -name '.*.tmp.*')" ]
	# a report that cannot be written: exit 8, nothing left behind
	run verify_one checksum orders vf_dst --report /nonexistent/dir/r.json
	assert_exit 8
}

# ---------------------------------------------------------------------
# The success rate, the command line
# ---------------------------------------------------------------------

@test "success rate: exit 7 under --min-success, 0 at or over it" {
	# orders: 993 of 998 rows arrived (99.499%)
	run verify_one checksum orders vf_dst --min-success 99.4
	assert_exit 0
	run verify_one checksum orders vf_dst --min-success 99.5
	assert_exit 7
	assert_contains "orders: success 99.50% is under the minimum of 99.50%"
	run verify_one rows orders vf_dst --min-success 99.5
	assert_exit 7
	# the run as a whole: 99.13%
	run bash -c "cd '$BATS_FILE_TMPDIR' && FERRY_SOURCE=dbname=vf_src FERRY_TARGET=dbname=vf_dst \
		ferry verify --plan '$PLAN' --min-success 99.5 2>&1"
	assert_exit 7
	assert_contains "verify: FAILED: 99.1271% intact (minimum 99.5%)"
	run bash -c "cd '$BATS_FILE_TMPDIR' && FERRY_SOURCE=dbname=vf_src FERRY_TARGET=dbname=vf_dst \
		ferry verify --plan '$PLAN' --min-success 99 2>&1"
	assert_exit 0
	assert_contains "verify: ok: 99.1271% of the source rows arrived intact"
}

@test "command line: bad options exit 2" {
	run --separate-stderr ferry-verify --rows --checksum --plan "$PLAN" --entity orders
	assert_exit 2
	run --separate-stderr ferry-verify --plan "$PLAN" --entity orders --min-success 120
	assert_exit 2
	run --separate-stderr ferry-verify --fixup --plan "$PLAN" --entity offices
	assert_exit 2
	run --separate-stderr ferry-verify --plan "$PLAN" --entity nope
	assert_exit 2
	run bash -c "FERRY_TARGET=dbname=vf_dst ferry verify --plan '$PLAN' --min-success lots"
	assert_exit 2
}

@test "row mode: the fix-up stream of deferred columns is checked with --fixup" {
	local T=$BATS_FILE_TMPDIR
	run ferry-verify --rows --fixup --target dbname=vf_dst --plan "$PLAN" --entity offices --run "$RUN" \
		--min-success 0 "$T/spool/offices:billing_address_idfixup.zst"
	assert_exit 0
	assert_contains "offices:billing_address_id: source 20"
	new_db vf_fix
	dropdb vf_fix
	createdb -T vf_dst vf_fix
	q -d vf_fix -c "SET session_replication_role = replica;
		UPDATE offices SET billing_address_id = NULL WHERE legacy_office_id = 2" >/dev/null
	run ferry-verify --rows --fixup --target dbname=vf_fix --plan "$PLAN" --entity offices --run "$RUN" \
		--min-success 0 "$T/spool/offices:billing_address_idfixup.zst"
	assert_exit 7
	assert_contains "offices:billing_address_id:   different: key 2: billing_address_id: expected \""
	assert_contains ", found NULL"
	run verify_one checksum offices vf_fix
	assert_exit 7
	assert_contains "offices:   different: key 2: billing_address_id: expected \""
}

@test "incremental: after an incremental run both modes pass, the full run's rejects still accounted" {
	local T=$BATS_FILE_TMPDIR m
	new_db vf_inc_src
	new_db vf_inc_dst
	dropdb vf_inc_src
	dropdb vf_inc_dst
	createdb -T vf_src vf_inc_src
	createdb -T vf_dst vf_inc_dst
	q -d vf_inc_src -f "$FERRY_REPO/tests/fixtures/demo-changes.sql" >/dev/null
	run bash -c "cd '$T' && FERRY_SOURCE=dbname=vf_inc_src FERRY_TARGET=dbname=vf_inc_dst \
		ferry run --plan '$PLAN' --incremental --overlap 0 --run-id vf_inc --spool '$T/spool_inc' -q 2>&1"
	[ "$status" -eq 0 ] || [ "$status" -eq 6 ] || { echo "$output" >&2; return 1; }
	for m in "" --rows; do
		# the latest run is the incremental one; its spool files are not whole streams
		run bash -c "cd '$T' && FERRY_SOURCE=dbname=vf_inc_src FERRY_TARGET=dbname=vf_inc_dst \
			ferry verify --plan '$PLAN' $m --min-success 99 --report '$T/inc$m.json' 2>&1"
		assert_exit 0
		[ "$(jq -r '.run' "$T/inc$m.json")" = vf_inc ]
		[ "$(jq -r '.entities[] | select(.entity == "orders") | "\(.source_rows) \(.rejected) \(.missing) \(.extra)"' \
			"$T/inc$m.json")" = "999 5 0 0" ]
	done
}

# ---------------------------------------------------------------------
# Every fixture: a clean migration passes "ferry verify" in both modes
# ---------------------------------------------------------------------

# "name<TAB>plan<TAB>source db<TAB>target db" of every fixture present, migrated
fixtures() {
	printf 'demo\t%s\tvf_src\tvf_dst\n' "$PLAN"
	if shared_fixture; then
		printf 'dispatch\t%s\tvf_disp_src\tvf_disp_dst\n' "$FERRY_REPO/examples/dispatch.plan"
	fi
}

migrate_dispatch() {
	local P=$FERRY_SHARED/fixtures/dispatch T=$BATS_FILE_TMPDIR rc
	new_db vf_disp_src
	new_db vf_disp_dst
	q -d vf_disp_src -v scale=1 -f "$P/legacy-schema.sql" -f "$P/legacy-data.sql" >/dev/null
	q -d vf_disp_dst -f "$P/destination-schema.sql" >/dev/null
	q -d vf_disp_dst -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	rc=0
	(cd "$T" || exit; FERRY_SOURCE=dbname=vf_disp_src FERRY_TARGET=dbname=vf_disp_dst \
		ferry run --plan "$FERRY_REPO/examples/dispatch.plan" --run-id vfd1 -q >"$T/disp.out" 2>&1) || rc=$?
	[ $rc -eq 0 ] || [ $rc -eq 6 ] || { cat "$T/disp.out" >&2; return 1; }
}

@test "every fixture: ferry verify on a clean migration passes, per entity missing 0, extra 0, different 0" {
	local name plan src dst ran="" m T=$BATS_FILE_TMPDIR
	while IFS=$'\t' read -r name plan src dst; do
		if [ "$name" = dispatch ]; then
			migrate_dispatch
		fi
		for m in "" --rows; do
			run bash -c "cd '$T' && FERRY_SOURCE=dbname=$src FERRY_TARGET=dbname=$dst \
				ferry verify --plan '$plan' $m --min-success 0 --report '$T/$name$m.json' 2>&1"
			assert_exit 0
			assert_contains "verify: ok: "
			# the summary table: a line per entity and the totals
			assert_contains "total "
			echo "$output" >"$T/$name$m.out"
			# every entity: source = loaded + rejected (by reason), nothing missing, extra or different
			run jq -r '.entities[] | select(.mode != "fixup") | select(.missing != 0 or .extra != 0
				or .different != 0 or .orphans != 0 or (.ok | not)
				or .source_rows != .loaded + .rejected
				or .rejected != ([.rejected_by_reason[]] | add // 0)) | .entity' "$T/$name$m.json"
			[ -z "$output" ] || { echo "$name $m: entities not clean: $output" >&2; return 1; }
			[ "$(jq -r '.totals | "\(.missing) \(.extra) \(.different) \(.orphans)"' "$T/$name$m.json")" = "0 0 0 0" ]
		done
		ran+=" $name"
	done < <(fixtures)
	echo "# ran on:$ran" >&3
}
