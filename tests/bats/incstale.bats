#!/usr/bin/env bats
# Incremental runs and tables the change time does not watch (issue 17).
# An entity whose extract reads another table (here members, whose
# first_badge and badges come from subqueries on badge) changes when only
# that table changes, while its own change time (member.updated_at) stands
# still.  The plan check must name the entity and the table; an incremental
# run must read the entity whole, say so, and end with a destination that
# ferry verify finds equal; an entity whose extract reads its own table
# only (teams) is still read by change.  "unwatched TABLE" in the plan
# takes the DBA's word for it; a change time that reads the other table
# (a subquery in the expression's column) watches it.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	local w=$BATS_FILE_TMPDIR
	new_db st_src
	q -d st_src <<'SQL'
CREATE TABLE team (id int PRIMARY KEY, name text NOT NULL, updated_at timestamp NOT NULL DEFAULT now());
CREATE TABLE member (id int PRIMARY KEY, team_id int NOT NULL REFERENCES team, name text NOT NULL,
                     updated_at timestamp NOT NULL DEFAULT now());
CREATE TABLE badge (id int PRIMARY KEY, member_id int NOT NULL REFERENCES member, label text NOT NULL,
                    updated_at timestamp NOT NULL DEFAULT now());
INSERT INTO team SELECT t, 'team ' || t, now() - interval '2 days' FROM generate_series(1, 3) t;
INSERT INTO member SELECT m, 1 + m % 3, 'member ' || m, now() - interval '2 days' FROM generate_series(1, 20) m;
INSERT INTO badge SELECT b, 1 + b % 20, 'badge ' || b, now() - interval '2 days' FROM generate_series(1, 40) b;
SQL
	new_db st_tmpl
	q -d st_tmpl <<'SQL'
CREATE TABLE teams (id uuid PRIMARY KEY, legacy_team_id int UNIQUE, name text NOT NULL);
CREATE TABLE members (id uuid PRIMARY KEY, legacy_member_id int UNIQUE, team_id uuid NOT NULL REFERENCES teams,
                      name text NOT NULL, first_badge text, badges int NOT NULL);
SQL
	q -d st_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	plan_file "$w/st.plan" ""
	plan_file "$w/accepted.plan" "  unwatched public.badge"
	# the full run, on a copy of the destination every test starts from
	clone_dst st_full
	ferry run -q --source dbname=st_src --target dbname=st_full --plan "$w/st.plan" --run-id full \
		--workdir "$w/full" >"$w/full.out" 2>&1 || { cat "$w/full.out" >&2; return 1; }
	# the application changes badges only: one deleted (member 1's first),
	# one renamed (member 2's first), one added (to member 3); no member or
	# team row moves
	q -d st_src <<'SQL'
DELETE FROM badge WHERE id = 20;
UPDATE badge SET label = 'a renamed badge', updated_at = now() WHERE id = 21;
INSERT INTO badge VALUES (41, 3, 'a new badge', now());
SQL
}

teardown_file() {
	drop_dbs
}

setup() {
	unset FERRY_SOURCE FERRY_TARGET
}

# plan_file FILE EXTRA: the plan, with EXTRA (a directive line) in members
plan_file() {
	cat >"$1" <<EOF
ferry-plan 1
entity teams
  source public.team
  target public.teams
  key legacy_team_id
  uuid id
  incremental q.updated_at
  drop updated_at
  extract
    SELECT id AS legacy_team_id, name, updated_at FROM public.team
  end
end
entity members
  source public.member
  target public.members
  key legacy_member_id
  uuid id
  ref team_id teams
  incremental q.updated_at
  drop updated_at
$2
  extract
    SELECT s.id AS legacy_member_id, s.team_id, s.name,
           (SELECT min(b.label) FROM public.badge AS b WHERE b.member_id = s.id) AS first_badge,
           (SELECT count(*) FROM public.badge AS b WHERE b.member_id = s.id)::int AS badges,
           s.updated_at
      FROM public.member AS s
  end
end
EOF
}

# a fresh destination, dropped by drop_dbs
clone_dst() {
	dropdb --if-exists --force "$1" >/dev/null 2>&1
	createdb -T st_tmpl "$1"
	echo "$1" >>"$BATS_FILE_TMPDIR/dbs"
}

# incremental DB PLAN RUN: the full run's destination copied to DB, then an incremental run of PLAN
incremental() {
	dropdb --if-exists --force "$1" >/dev/null 2>&1
	createdb -T st_full "$1"
	echo "$1" >>"$BATS_FILE_TMPDIR/dbs"
	run ferry run --source dbname=st_src --target "dbname=$1" --plan "$2" --incremental --run-id "$3" \
		--workdir "$BATS_TEST_TMPDIR/$3"
}

@test "ferry-plan check --live names the entity whose extract reads a table its change time does not watch, and the table" {
	run ferry-plan check "$BATS_FILE_TMPDIR/st.plan" --source dbname=st_src --target dbname=st_full
	assert_exit 0
	assert_contains "st.plan:13: note: entity \"members\" reads public.badge, which its incremental expression does not watch: an incremental run reads it whole"
	# one line for it; teams reads its own table only: not named
	[ "$(grep -c 'does not watch' <<<"$output")" -eq 1 ] || false
	[ "$(grep -c '"teams"' <<<"$output")" -eq 0 ] || false
}

@test "ferry run --incremental preflight names it too" {
	incremental st_pre "$BATS_FILE_TMPDIR/st.plan" pre
	assert_exit 0
	assert_contains "note: entity \"members\" reads public.badge, which its incremental expression does not watch"
}

@test "an incremental run after changes of the other table only: the entity read whole, said; verify: 0 different" {
	incremental st_inc "$BATS_FILE_TMPDIR/st.plan" inc
	assert_exit 0
	assert_contains "members: reads public.badge, which its change time does not watch: read whole"
	# members whole (20 rows), teams by change (none changed)
	run q1 -d st_inc -F ' ' -c "SELECT entity, source_rows FROM ferry.entity_runs WHERE run_id = 'inc' ORDER BY 1"
	[ "$output" = $'members 20\nteams 0' ] || { echo "$output" >&2; false; }
	[ "$(q1 -d st_inc -c "SELECT first_badge || '/' || badges FROM members WHERE legacy_member_id = 1")" = "badge 40/1" ] || false
	[ "$(q1 -d st_inc -c "SELECT first_badge || '/' || badges FROM members WHERE legacy_member_id = 2")" = "a renamed badge/2" ] || false
	[ "$(q1 -d st_inc -c "SELECT first_badge || '/' || badges FROM members WHERE legacy_member_id = 3")" = "a new badge/3" ] || false
	run ferry verify --source dbname=st_src --target dbname=st_inc --plan "$BATS_FILE_TMPDIR/st.plan" --run inc
	assert_exit 0
	# missing, extra, different: 0 in every entity
	[ "$(awk '$1 == "members" || $1 == "teams" { print $1, $6, $7, $8, $NF }' <<<"$output")" = \
		$'teams 0 0 0 ok\nmembers 0 0 0 ok' ] || { echo "$output" >&2; false; }
	[ "$(grep -c 'different: key' <<<"$output")" -eq 0 ] || false
}

@test "\"unwatched public.badge\": the DBA's word taken: not named, read by change, and verify shows what it costs" {
	run ferry-plan check "$BATS_FILE_TMPDIR/accepted.plan" --source dbname=st_src --target dbname=st_full
	assert_exit 0
	[ "$(grep -c 'does not watch' <<<"$output")" -eq 0 ] || { echo "$output" >&2; false; }
	incremental st_acc "$BATS_FILE_TMPDIR/accepted.plan" acc
	assert_exit 0
	[ "$(q1 -d st_acc -c "SELECT source_rows FROM ferry.entity_runs WHERE run_id = 'acc' AND entity = 'members'")" -eq 0 ] || false
	run ferry verify --source dbname=st_src --target dbname=st_acc --plan "$BATS_FILE_TMPDIR/accepted.plan" --run acc
	assert_exit 7
	[ "$(awk '$1 == "members" { print $8, $NF }' <<<"$output")" = "3 FAILED" ] || { echo "$output" >&2; false; }
	assert_contains 'members: different: key 2: first_badge: expected "a renamed badge", found "badge 1"'
}

@test "a change time that reads the other table (a subquery in its column) watches it" {
	sed -e '/^entity members$/,/^end$/s/^  incremental q.updated_at$/  incremental greatest(q.updated_at, q.badge_changed_at)\n  drop badge_changed_at/' \
		-e 's/^           s.updated_at$/           s.updated_at, (SELECT max(b.updated_at) FROM public.badge AS b WHERE b.member_id = s.id) AS badge_changed_at/' \
		"$BATS_FILE_TMPDIR/st.plan" >"$BATS_TEST_TMPDIR/watched.plan"
	grep -q badge_changed_at "$BATS_TEST_TMPDIR/watched.plan"
	run ferry-plan check "$BATS_TEST_TMPDIR/watched.plan" --source dbname=st_src --target dbname=st_full
	assert_exit 0
	[ "$(grep -c 'does not watch' <<<"$output")" -eq 0 ] || { echo "$output" >&2; false; }
}
