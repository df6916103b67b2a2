#!/usr/bin/env bats
# Comment trees (issue 5): the demo database's dispatch_comment through
# ferry-extract | ferry-transform | ferry-load with tests/fixtures/comments.plan.
#
# Every anomaly of the comment catalogue (examples/demo/README.md) must be
# in ferry.rejects with its reason and ids (rejected, or loaded under a
# documented policy and noted), every other comment must arrive with its
# content, author, entity and parent, the destination tree must pass
# ferry-verify's tree checks, and a broken tree must fail them.  The demo's
# deepest thread is 39 and its widest 240 replies: the test adds a chain of
# 150 comments (depth 149), a comment with 3000 replies, and replies to a
# comment with a NULL body (which the destination refuses).

load helpers
bats_require_minimum_version 1.5.0

PLAN=$FERRY_REPO/tests/fixtures/comments.plan
RUN=cm1

# one entity through the three stages
migrate() {
	local e=$1 src=$2 dst=$3
	shift 3
	ferry-extract --source "dbname=$src" --plan "$PLAN" --entity "$e" --run "$RUN" |
		ferry-transform --target "dbname=$dst" --plan "$PLAN" --entity "$e" --run "$RUN" "$@" |
		ferry-load --target "dbname=$dst" --plan "$PLAN" --entity "$e" --run "$RUN"
	local rc=("${PIPESTATUS[@]}")
	# 6: finished with rejects
	[ "${rc[0]}" -eq 0 ] && [ "${rc[1]}" -eq 0 ] && { [ "${rc[2]}" -eq 0 ] || [ "${rc[2]}" -eq 6 ]; }
}

setup_file() {
	demo_dbs cm_src cm_dst 1
	q -d cm_dst -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	# deep (5001-5150, depth 0-149), wide (6000 + 3000 replies), replies below a NULL body (140)
	q -d cm_src <<'SQL'
INSERT INTO dispatch_comment (id, content_type_id, object_id, parent_id, author_id, body, is_internal, created_at)
SELECT g, 14, 10, CASE WHEN g > 5001 THEN g - 1 END, 32, 'deep ' || g, 'N', timestamp '2022-01-01' + g * interval '1 minute'
  FROM generate_series(5001, 5150) g;
INSERT INTO dispatch_comment (id, content_type_id, object_id, parent_id, author_id, body, is_internal, created_at)
SELECT g, 13, 5, CASE WHEN g > 6000 THEN 6000 END, 2, 'wide ' || g, 'N', timestamp '2022-02-01' + g * interval '1 second'
  FROM generate_series(6000, 9000) g;
INSERT INTO dispatch_comment (id, content_type_id, object_id, parent_id, author_id, body, is_internal, created_at)
VALUES (9001, 14, 10, 140, 32, 'reply to a comment without a body', 'N', '2022-03-01'),
       (9002, 14, 10, 9001, 32, 'and its reply', 'N', '2022-03-02');
SQL
	local e
	for e in profiles offices patients orders invoices; do
		migrate "$e" cm_src cm_dst >/dev/null 2>&1 || { echo "cannot load $e" >&2; return 1; }
	done
	ferry-extract --source dbname=cm_src --plan "$PLAN" --entity comments --run "$RUN" \
		-o "$BATS_FILE_TMPDIR/comments.extract.zst"
	ferry-transform --target dbname=cm_dst --plan "$PLAN" --entity comments --run "$RUN" \
		-o "$BATS_FILE_TMPDIR/comments.zst" "$BATS_FILE_TMPDIR/comments.extract.zst" \
		2>"$BATS_FILE_TMPDIR/transform.err"
	ferry-load --target dbname=cm_dst --plan "$PLAN" --entity comments --run "$RUN" \
		"$BATS_FILE_TMPDIR/comments.zst" 2>"$BATS_FILE_TMPDIR/load.err" || [ $? -eq 6 ]
}

teardown_file() {
	drop_dbs
}

# legacy ids of the comment rejects/notes of the run with a reason, sorted, comma-separated
ids() {
	q1 -d cm_dst -v reason="$1" -v disp="${2:-rejected}" <<'SQL'
SELECT string_agg(legacy_id, ',' ORDER BY legacy_id::int) FROM ferry.rejects
 WHERE run_id = 'cm1' AND entity = 'comments' AND reason = :'reason' AND disposition = :'disp'
SQL
}

# the transform's output for other policies, as JSON lines
transform_with() {
	ferry-transform --target dbname=cm_dst --plan "$PLAN" --entity comments --run "$RUN" "$@" \
		"$BATS_FILE_TMPDIR/comments.extract.zst" 2>/dev/null | ferry-cat
}

@test "every source comment is loaded or in the rejects" {
	local src dst rej
	src=$(q1 -d cm_src -c "SELECT count(*) FROM dispatch_comment")
	dst=$(q1 -d cm_dst -c "SELECT count(*) FROM comments")
	rej=$(q1 -d cm_dst -c "SELECT count(*) FROM ferry.rejects WHERE run_id = 'cm1'
		AND entity = 'comments' AND disposition = 'rejected'")
	echo "source $src, destination $dst, rejected $rej"
	[ "$src" -eq $((1197 + 150 + 3001 + 2)) ]
	[ "$src" -eq $((dst + rej)) ]
	[ "$rej" -eq 43 ]
}

@test "parent cycles: 301-305 rejected parent_cycle, 306 self_parent, 307-309 under_cycle" {
	[ "$(ids parent_cycle)" = "301,302,303,304,305" ]
	[ "$(ids self_parent)" = "306" ]
	[ "$(ids under_cycle)" = "307,308,309" ]
	grep -q "5 parent_cycle (rejected): " "$BATS_FILE_TMPDIR/transform.err"
}

@test "missing parent: 316, 317 load as roots noted orphan_root; 318 stays below 316" {
	[ "$(ids orphan_root repaired)" = "316,317" ]
	run q1 -d cm_dst -c "SELECT legacy_comment_id, parent_id IS NULL, depth FROM comments
		WHERE legacy_comment_id IN (316, 317) ORDER BY 1"
	[ "$output" = $'316|t|0\n317|t|0' ]
	run q1 -d cm_dst -c "SELECT p.legacy_comment_id, c.depth FROM comments c
		JOIN comments p ON p.id = c.parent_id WHERE c.legacy_comment_id = 318"
	[ "$output" = "316|1" ]
	q1 -d cm_dst -c "SELECT detail FROM ferry.rejects WHERE run_id = 'cm1' AND legacy_id = '316'
		AND reason = 'orphan_root'" | grep -q "parent_id = 315"
}

@test "comments on deleted objects (321-340) and on a removed model (341-350) are rejected" {
	[ "$(ids missing_reference)" = "$(seq -s, 321 340)" ]
	[ "$(ids unknown_entity_type)" = "$(seq -s, 341 350)" ]
	q1 -d cm_dst -c "SELECT detail FROM ferry.rejects WHERE run_id = 'cm1' AND legacy_id = '321'" |
		grep -q "entity_id = 250: orders has no row"
}

@test "missing author: 199, 449, 699, 949, 1199 load with author NULL, noted" {
	[ "$(ids reference_set_null repaired)" = "199,449,699,949,1199" ]
	run q1 -d cm_dst -c "SELECT count(*) FROM comments WHERE author_id IS NULL"
	[ "$output" -eq 5 ]
}

@test "NULL bodies: rejected by the transform; a reply becomes a root noted parent_rejected" {
	[ "$(ids not_null_violation)" = "140,440,740,1040" ]
	q1 -d cm_dst -c "SELECT stage FROM ferry.rejects WHERE run_id = 'cm1' AND legacy_id = '140'" |
		grep -qx transform
	[ "$(ids parent_rejected repaired)" = "9001" ]
	run q1 -d cm_dst -c "SELECT c.legacy_comment_id, c.depth, p.legacy_comment_id FROM comments c
		LEFT JOIN comments p ON p.id = c.parent_id WHERE c.legacy_comment_id IN (9001, 9002) ORDER BY 1"
	[ "$output" = $'9001|0|\n9002|1|9001' ]
}

@test "content, authorship, entity and parent of every loaded comment are the source's" {
	# what the notes say was changed: the parent of orphan and parent_rejected
	# roots, the author of reference_set_null rows
	local roots nulled
	roots=$(q1 -d cm_dst -c "SELECT coalesce(string_agg(legacy_id, ','), '0') FROM ferry.rejects
		WHERE run_id = 'cm1' AND reason IN ('orphan_root', 'parent_rejected')")
	nulled=$(q1 -d cm_dst -c "SELECT coalesce(string_agg(legacy_id, ','), '0') FROM ferry.rejects
		WHERE run_id = 'cm1' AND reason = 'reference_set_null'")
	q1 -d cm_dst -c "SELECT legacy_id FROM ferry.rejects WHERE run_id = 'cm1' AND entity = 'comments'
		AND disposition = 'rejected'" >"$BATS_FILE_TMPDIR/rejected"
	# keep only the rows not rejected (the id is the first field)
	awk -F'|' 'NR == FNR { r[$1] = 1; next } !($1 in r)' "$BATS_FILE_TMPDIR/rejected" \
		<(q1 -d cm_src -c "SELECT s.id, CASE WHEN s.id IN ($roots) THEN '-' ELSE coalesce(s.parent_id::text, '-') END,
			md5(s.body), CASE WHEN s.id IN ($nulled) THEN '-' ELSE s.author_id::text END,
			ct.model || 's:' || s.object_id, s.is_internal IN ('Y', 'y', '1'),
			to_char(s.created_at, 'YYYY-MM-DD HH24:MI:SS')
		  FROM dispatch_comment s JOIN django_content_type ct ON ct.id = s.content_type_id
		 ORDER BY 1") >"$BATS_FILE_TMPDIR/src.txt"
	q1 -d cm_dst -c "SELECT c.legacy_comment_id, coalesce(p.legacy_comment_id::text, '-'), md5(c.body),
			coalesce(pr.legacy_user_id::text, '-'),
			c.entity_type || ':' || coalesce(o.legacy_order_id, pa.legacy_patient_id, i.legacy_invoice_id,
			                                 f.legacy_office_id),
			c.is_internal, to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
		  FROM comments c
		  LEFT JOIN comments p ON p.id = c.parent_id
		  LEFT JOIN profiles pr ON pr.id = c.author_id
		  LEFT JOIN orders o ON c.entity_type = 'orders' AND o.id = c.entity_id
		  LEFT JOIN patients pa ON c.entity_type = 'patients' AND pa.id = c.entity_id
		  LEFT JOIN invoices i ON c.entity_type = 'invoices' AND i.id = c.entity_id
		  LEFT JOIN offices f ON c.entity_type = 'offices' AND f.id = c.entity_id
		 ORDER BY 1" >"$BATS_FILE_TMPDIR/dst.txt"
	run diff "$BATS_FILE_TMPDIR/src.txt" "$BATS_FILE_TMPDIR/dst.txt"
	echo "$output" | head -20
	[ "$status" -eq 0 ]
	[ "$(wc -l <"$BATS_FILE_TMPDIR/dst.txt")" -eq $((1197 + 3153 - 43)) ]
	# the 1 MB body, emoji and control characters are among them
	run q1 -d cm_dst -c "SELECT length(body) FROM comments WHERE legacy_comment_id = 999"
	[ "$output" -eq 1048576 ]
}

@test "deep thread: 150 comments in a chain, depth 0 to 149, each below the one before" {
	run q1 -d cm_dst -c "SELECT count(*), min(c.depth), max(c.depth),
		count(*) FILTER (WHERE c.depth = c.legacy_comment_id - 5001
		                 AND (c.depth = 0 OR p.legacy_comment_id = c.legacy_comment_id - 1))
		FROM comments c LEFT JOIN comments p ON p.id = c.parent_id
		WHERE c.legacy_comment_id BETWEEN 5001 AND 5150"
	[ "$output" = "150|0|149|150" ]
	# and the demo's own chain: 1-40, depth 0-39
	run q1 -d cm_dst -c "SELECT max(depth) FROM comments WHERE legacy_comment_id BETWEEN 1 AND 40"
	[ "$output" -eq 39 ]
}

@test "wide thread: 3000 replies to one comment, all at depth 1 below it" {
	run q1 -d cm_dst -c "SELECT count(*), min(c.depth), max(c.depth) FROM comments c
		JOIN comments p ON p.id = c.parent_id WHERE p.legacy_comment_id = 6000"
	[ "$output" = "3000|1|1" ]
	run q1 -d cm_dst -c "SELECT count(*) FROM comments c JOIN comments p ON p.id = c.parent_id
		WHERE p.legacy_comment_id = 41"
	[ "$output" -eq 239 ]    # 240 replies, 140 has no body
}

@test "parents are loaded before their children (the stream's order)" {
	run bash -c "ferry-cat '$BATS_FILE_TMPDIR/comments.zst' | jq -r 'select(.id) | [.id, (.parent_id // \"\")] | @tsv' |
		awk -F'\t' '\$2 != \"\" && !(\$2 in seen) { bad++ } { seen[\$1] = 1 } END { print bad + 0, NR }'"
	[ "$status" -eq 0 ]
	[ "${output%% *}" = 0 ]
}

@test "ferry-verify: counts and tree checks pass" {
	run ferry-verify --source dbname=cm_src --target dbname=cm_dst --plan "$PLAN" --entity comments --run "$RUN"
	echo "$output"
	assert_exit 0
	assert_contains "comments: tree parents: ok"
	assert_contains "comments: tree depth: ok"
	assert_contains "comments: tree per entity: ok"
	assert_contains "comments: tree per thread: ok"
	assert_contains "comments: tree entity orders: ok"
}

@test "ferry-verify: a broken parent, a wrong depth and a cycle fail the tree checks" {
	new_db cm_broken
	dropdb --force cm_broken
	createdb -T cm_dst cm_broken
	q -d cm_broken -c "SET session_replication_role = replica;
		UPDATE comments SET parent_id = gen_random_uuid() WHERE legacy_comment_id = 5;
		UPDATE comments SET depth = 7 WHERE legacy_comment_id = 45;
		UPDATE comments SET entity_id = gen_random_uuid() WHERE legacy_comment_id = 42" >/dev/null
	run ferry-verify --source dbname=cm_src --target dbname=cm_broken --plan "$PLAN" --entity comments --run "$RUN"
	echo "$output"
	assert_exit 7
	assert_contains "comments: tree parents: FAILED, 1 rows whose parent is not in the table: 5"
	assert_contains "comments: tree depth: FAILED"
	assert_contains "comments: tree entity orders: FAILED, 1 rows whose entity_id is not in the entity's table: 42"
	assert_contains "comments: tree per thread: FAILED"

	# a cycle with consistent-looking depths is caught by the walk from the roots
	dropdb --force cm_broken
	createdb -T cm_dst cm_broken
	q -d cm_broken -c "ALTER TABLE comments DROP CONSTRAINT comments_root_depth;
		SET session_replication_role = replica;
		UPDATE comments SET parent_id = (SELECT id FROM comments WHERE legacy_comment_id = 40)
		 WHERE legacy_comment_id = 1" >/dev/null
	run ferry-verify --source dbname=cm_src --target dbname=cm_broken --plan "$PLAN" --entity comments --run "$RUN"
	echo "$output"
	assert_exit 7
	assert_contains "comments: tree depth: FAILED"
	assert_contains "comments: tree cycles: FAILED, 40 rows no root leads to"
}

@test "--orphans reject: 316, 317 rejected missing_parent, 318 under_missing_parent" {
	run transform_with --orphans reject
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r 'select(.reject == "missing_parent") | .key' | paste -sd,)" = "316,317" ]
	[ "$(echo "$output" | jq -r 'select(.reject == "under_missing_parent") | .key' | paste -sd,)" = "318" ]
}

@test "--cycles root: cycles broken at their smallest key, everything below loaded" {
	run transform_with --cycles root
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r 'select(.reject) | .reject' | sort -u | paste -sd,)" = \
		"missing_reference,not_null_violation,unknown_entity_type" ]
	[ "$(echo "$output" | jq -r 'select(.legacy_comment_id == 301 or .legacy_comment_id == 303 or .legacy_comment_id == 306) |
		[.legacy_comment_id, .depth, (.parent_id // "-")] | @tsv' | sort | paste -sd' ')" = $'301\t0\t- 303\t0\t- 306\t0\t-' ]
	[ "$(echo "$output" | jq -r 'select(.legacy_comment_id == 305 or .legacy_comment_id == 308) |
		[.legacy_comment_id, .depth] | @tsv' | sort | paste -sd' ')" = $'305\t2 308\t2' ]
	[ "$(echo "$output" | jq -r 'select(.note == "parent_cycle") | .key' | sort -n | paste -sd,)" = "301,302,303,304,305" ]
}

@test "--rejected-parent reject: the reply to a rejected comment is rejected with its subtree" {
	run transform_with --rejected-parent reject
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r 'select(.reject == "under_rejected_parent") | .key' | paste -sd,)" = "9001,9002" ]
}

@test "--missing-object null: the object is NULL, which this destination refuses: rejected here, saying why" {
	run transform_with --missing-object null
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r 'select(.reject == "not_null_violation" and (.detail | startswith("entity_id is NULL"))) | .key' |
		paste -sd,)" = "$(seq -s, 321 340)" ]
	echo "$output" | jq -r 'select(.key == "321") | .detail' | grep -q "reference_set_null: entity_id = 250: orders has no row"
}

@test "bad policy values are usage errors" {
	run ferry-transform --orphans maybe --plan "$PLAN" --entity comments /dev/null
	assert_exit 2
	assert_contains "--orphans: expected root or reject"
}

@test "the load rejects the replies of a comment it refused itself (FK checks off)" {
	new_db cm_guard
	dropdb --force cm_guard
	createdb -T cm_dst cm_guard
	# a destination rule the transform does not know: comment 2 (chain 1-40) is refused;
	# the spool of run cm1 is loaded again (ferry-load refuses another run's spool)
	q -d cm_guard -c "TRUNCATE comments; DELETE FROM ferry.rejects WHERE entity = 'comments';
		DELETE FROM ferry.checkpoints WHERE entity = 'comments';
		ALTER TABLE comments ADD CONSTRAINT no_two CHECK (legacy_comment_id <> 2)" >/dev/null
	run ferry-load --target dbname=cm_guard --plan "$PLAN" --entity comments --run "$RUN" \
		--min-batch 7 --max-batch 7 "$BATS_FILE_TMPDIR/comments.zst"
	assert_exit 6
	run q1 -d cm_guard -c "SELECT reason, count(*), min(legacy_id::int), max(legacy_id::int) FROM ferry.rejects
		WHERE run_id = '$RUN' AND stage = 'load' GROUP BY 1 ORDER BY 1"
	[ "$output" = $'check_violation|1|2|2\nunder_rejected_parent|38|3|40' ]
	run q1 -d cm_guard -c "SELECT count(*) FROM comments c WHERE parent_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM comments p WHERE p.id = c.parent_id)"
	[ "$output" -eq 0 ]
}
