#!/usr/bin/env bats
# quickstart.bats: docs/quickstart.md, run as a DBA would paste it.
#
# setup_file installs ferry into a temporary PREFIX ("make install", without
# building: the build of tests/run.sh), then extracts the document's ```sh
# blocks and runs them in order in one bash (set -eu -o pipefail), from the
# repository root with an empty HOME, each block's output kept in
# $QS/block-N.log.  The ```output blocks are excerpts that must be found in
# the output of the ```sh block above them ("…": any text); ```text blocks
# are not run.  A line <!-- test: NAME --> of the document calls qs_hook NAME
# at that point, which keeps what the tests below compare (the destination
# before the first run and after the rollback, the plan as generated, the
# columns after the cleanup).  The blocks create the demo databases
# (demo_legacy, demo_dest) and the role ferry_reader themselves.
#
# The tests then check the claims of the document that its outputs do not
# show: the rollback restored the destination, the migration is verified,
# the crash and resume lost and doubled nothing, the incremental run
# brought the changes, the cleanup dropped and restored what it says, a
# transaction pooler and a role without SET on session_replication_role
# behave as described, and the exit codes are ferry's.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

DOC=${QS_DOC:-$FERRY_REPO/docs/quickstart.md}   # QS_DOC: another copy, to try changes

# ---------------------------------------------------------------------
# the extraction
# ---------------------------------------------------------------------

# qs_script DOC: the bash script that runs the document (see the top)
qs_script() {
	awk '
	BEGIN { n = 0; infence = 0; nexp = 0 }
	infence == 0 && /^<!-- test: [a-z0-9-]+ -->$/ { printf "qs_hook %s\n", $3; next }
	infence == 0 && /^```/ {
		lang = substr($0, 4); sub(/[ \t].*/, "", lang)
		infence = 1; start = NR
		if (lang == "sh") {
			n++
			printf "qs_begin %d %d\n{\n", n, NR
		} else if (lang == "output") {
			if (n == 0) { print "quickstart: an output block before any sh block, line " NR > "/dev/stderr"; exit 2 }
			nexp++
			printf "cat >>\"$QS/expect-%d.txt\" <<'"'"'QS_EXPECT_%d_EOF'"'"'\n", n, nexp
		}
		next
	}
	infence == 1 && /^```[ \t]*$/ {
		if (lang == "sh") printf "} >\"$QS/block-%d.log\" 2>&1\n", n
		else if (lang == "output") printf "QS_EXPECT_%d_EOF\n", nexp
		infence = 0; lang = ""
		next
	}
	infence == 1 && (lang == "sh" || lang == "output") { print; next }
	END {
		if (infence) { print "quickstart: unclosed fence from line " start > "/dev/stderr"; exit 2 }
		printf "qs_done %d\n", n
	}' "$1"
}

# line_found PATTERN FILE: a line of FILE holds the parts of PATTERN, in
# order ("…" between them stands for any text)
line_found() {
	local pat=$1 file=$2 line rest piece p found
	while IFS= read -r line || [ -n "$line" ]; do
		rest=$line p=$pat found=1
		while :; do
			piece=${p%%…*}
			if [ -n "$piece" ]; then
				[[ "$rest" == *"$piece"* ]] || { found=0; break; }
				rest=${rest#*"$piece"}
			fi
			[[ "$p" == *…* ]] || break
			p=${p#*…}
		done
		[ $found = 1 ] && return 0
	done <"$file"
	return 1
}

# doc_block_after MARKER: the lines of the first fenced block of the
# document that follows the first line containing MARKER
doc_block_after() {
	awk -v m="$1" '
		!seen && index($0, m) { seen = 1; next }
		seen && !infence && /^```/ { infence = 1; next }
		infence && /^```[ \t]*$/ { exit }
		infence { print }' "$DOC"
}

# ---------------------------------------------------------------------
# the hooks, run inside the document's shell (they are written into
# $QS/hooks.bash with declare -f)
# ---------------------------------------------------------------------

qs_begin() {
	echo "$1 $2" >"$QS/current"


	# however slow the machine; released when the next block begins
	if [ "$1" = "${QS_CRASH_BLOCK:-}" ]; then
		hold_lock demo_dest public.orders 'SHARE'
	elif [ -n "${QS_CRASH_BLOCK:-}" ] && [ "$1" -eq $((QS_CRASH_BLOCK + 1)) ]; then
		release_lock demo_dest
	fi
}
qs_done() { echo "$1" >"$QS/done"; }
qs_hook() {
	case $1 in
	after-plan)
		cp my.plan "$QS/draft.plan"
		;;
	before-first-run)
		# what the document set, and the destination before any run
		printf '%s\n%s\n' "$FERRY_SOURCE" "$FERRY_TARGET" >"$QS/connections"
		type -P ferry ferry-extract ferry-conninfo >"$QS/programs"
		db_snapshot demo_dest >"$QS/dest-before-first-run"
		;;
	after-rollback)
		db_snapshot demo_dest >"$QS/dest-after-rollback"
		;;
	after-cleanup)
		# the columns and dependents of the cleanup list, and the backups
		q1 -d demo_dest >"$QS/after-cleanup" <<'SQL'
SELECT 'column ' || c.table_name || '.' || c.column_name
  FROM information_schema.columns c
 WHERE (c.table_name, c.column_name) IN (('offices', 'legacy_crm_ref'), ('comments', 'legacy_thread_id'),
                                         ('orders', 'legacy_import_batch'))
UNION ALL
SELECT 'relation ' || c.oid::regclass::text FROM pg_class c
 WHERE c.oid IN (to_regclass('public.comments_legacy_thread_idx'), to_regclass('public.order_import_batches_v'))
UNION ALL
SELECT 'backup ' || c.relname || ' ' || c.reltuples::bigint FROM pg_class c
 WHERE c.relnamespace = 'ferry_backup'::regnamespace AND c.relkind = 'r'
ORDER BY 1
SQL
		;;
	*)
		echo "quickstart: unknown hook \"$1\"" >&2
		return 1
		;;
	esac
}

setup_file() {
	QS=$BATS_FILE_TMPDIR/qs
	PREFIX_DIR=$BATS_FILE_TMPDIR/prefix
	export QS PREFIX_DIR
	mkdir -p "$QS" "$BATS_FILE_TMPDIR/home"
	# what the document creates, left over from an earlier run of this file
	dropdb --if-exists --force demo_legacy >/dev/null 2>&1
	dropdb --if-exists --force demo_dest >/dev/null 2>&1
	q -d postgres -c "DROP ROLE IF EXISTS ferry_reader" >/dev/null 2>&1
	printf '%s\n' demo_legacy demo_dest >>"$BATS_FILE_TMPDIR/dbs"

	# section 1: make install, of the build under test (-o all: build nothing)
	local rc=0
	make -s -C "$FERRY_REPO" -o all B="$FERRY_BUILD" install PREFIX="$PREFIX_DIR" \
		>"$QS/install.log" 2>&1 || rc=$?
	echo $rc >"$QS/install.rc"
	export PATH="$PREFIX_DIR/bin:$PATH"

	rc=0
	qs_script "$DOC" >"$QS/script.sh" 2>"$QS/extract.err" || rc=$?
	echo $rc >"$QS/extract.rc"
	declare -f qs_begin qs_done qs_hook q q1 db_tables db_snapshot \
		wait_until hold_lock lock_held release_lock >"$QS/hooks.bash"
	QS_CRASH_BLOCK=$(qs_script "$DOC" | awk '/^qs_begin / { n = $2 } /kill -KILL/ { print n; exit }')
	export QS_CRASH_BLOCK
	local started=$SECONDS
	rc=0
	# (at most 15 minutes, a deadline for a slow machine: a block that hangs fails the test instead)
	(
		cd "$FERRY_REPO" || exit
		HOME=$BATS_FILE_TMPDIR/home timeout -k 10 900 bash --noprofile --norc -c '
				set -eu -o pipefail
				source "$QS/hooks.bash"
				source "$QS/script.sh"'
	) >"$QS/run.log" 2>&1 || rc=$?
	echo $rc >"$QS/run.rc"
	echo $((SECONDS - started)) >"$QS/run.seconds"
	REHEARSAL=$BATS_FILE_TMPDIR/home/ferry-rehearsal
	export REHEARSAL
}

teardown_file() {
	# QS_KEEP=DIR keeps the document's script, outputs and rehearsal directory
	if [ -n "${QS_KEEP:-}" ]; then
		mkdir -p "$QS_KEEP"
		cp -r "$QS" "$REHEARSAL" "$QS_KEEP/"
	fi
	release_lock
	drop_dbs
	q -d postgres -c "DROP ROLE IF EXISTS ferry_reader" >/dev/null 2>&1 || true
	q -d postgres -c "REVOKE SET ON PARAMETER session_replication_role FROM qs_owner" >/dev/null 2>&1 || true
	q -d postgres -c "DROP ROLE IF EXISTS qs_owner" >/dev/null 2>&1 || true
}

# the log of the sh block holding TEXT
block_log_of() {
	local n
	n=$(qs_script "$DOC" | awk -v t="$1" '
		/^qs_begin / { n = $2; inblock = 1; next }
		/^} >"\$QS\/block-/ { inblock = 0 }
		inblock && index($0, t) { print n; exit }')
	[ -n "$n" ] || { echo "no sh block holds: $1" >&2; return 1; }
	echo "$QS/block-$n.log"
}

# ---------------------------------------------------------------------
# the document runs
# ---------------------------------------------------------------------

@test "make install PREFIX puts the programs, the SQL files and the man pages where section 1 says" {
	cat "$QS/install.log"
	[ "$(cat "$QS/install.rc")" -eq 0 ]
	local f
	for f in bin/ferry bin/ferry-cleanup bin/ferry-extract bin/ferry-transform bin/ferry-load \
		bin/ferry-verify bin/ferry-plan bin/ferry-cat bin/ferry-conninfo share/ferry/sql/ferry-schema.sql \
		share/ferry/sql/rollback.sql share/man/man1/ferry.1 share/man/man5/ferry-plan.5; do
		[ -e "$PREFIX_DIR/$f" ] || { echo "missing: PREFIX/$f" >&2; return 1; }
	done
	# the document ran the installed programs
	cat "$QS/programs"
	[ "$(grep -c "^$PREFIX_DIR/bin/ferry" "$QS/programs")" -eq 3 ]
}

@test "every sh block of docs/quickstart.md runs, in order, without an error" {
	[ "$(cat "$QS/extract.rc")" -eq 0 ] || { cat "$QS/extract.err"; return 1; }
	local rc n
	rc=$(cat "$QS/run.rc")
	if [ "$rc" -ne 0 ]; then
		read -r n line <"$QS/current"
		echo "the sh block at line $line of docs/quickstart.md failed (exit $rc); its output:" >&2
		cat "$QS/block-$n.log" >&2
		cat "$QS/run.log" >&2
		return 1
	fi
	# every block ran (qs_done counts them), and there are some
	n=$(grep -c '^qs_begin ' "$QS/script.sh")
	[ "$n" -ge 15 ]
	[ "$(cat "$QS/done")" -eq "$n" ]
	echo "# the document ran in $(cat "$QS/run.seconds") s" >&3
}

@test "every output excerpt of the document is in the output of its sh block" {
	local f n line bad=0 count=0
	for f in "$QS"/expect-*.txt; do
		n=${f##*/expect-}
		n=${n%.txt}
		while IFS= read -r line; do
			line=${line%"${line##*[![:space:]]}"}
			{ [ -z "$line" ] || [ "$line" = … ]; } && continue
			count=$((count + 1))
			if ! line_found "$line" "$QS/block-$n.log"; then
				echo "not in the output of sh block $n: $line" >&2
				bad=1
			fi
		done <"$f"
	done
	[ "$count" -ge 60 ]
	[ $bad = 0 ] || { echo "(outputs in $QS)" >&2; return 1; }
}

# ---------------------------------------------------------------------
# the claims
# ---------------------------------------------------------------------

@test "the source was read as ferry_reader, which has the documented grants and cannot write" {
	[ "$(head -n 1 "$QS/connections")" = "dbname=demo_legacy user=ferry_reader" ]
	[ "$(q1 -d postgres -c "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolbypassrls FROM pg_roles
		WHERE rolname = 'ferry_reader'")" = f ]
	run q1 -d "dbname=demo_legacy user=ferry_reader" -c "UPDATE dispatch_order SET total = 0 WHERE id = 1"
	assert_exit 1
	assert_contains "read-only transaction"
	run q1 -d "dbname=demo_legacy user=ferry_reader" -c "SET default_transaction_read_only = off" \
		-c "UPDATE dispatch_order SET total = 0 WHERE id = 1"
	assert_exit 1
	assert_contains "permission denied"
	# and with it the document made its three runs
	[ "$(q1 -d demo_dest -c "SELECT count(*) FROM ferry.runs WHERE run_id LIKE 'rehearsal-%'")" -eq 3 ]
}

@test "the TODO and the entity the document quotes are those ferry plan wrote, at the line it says" {
	local todo
	todo=$(doc_block_after 'Line 210 of the draft')
	[ -n "$todo" ]
	[ "$(sed -n 210p "$QS/draft.plan")" = "$todo" ]
	# the TODOs the check lists (one output line each) are all of the draft's
	[ "$(grep -c 'TODO:' "$QS/draft.plan")" -eq 11 ]
	# the offices entity, as quoted (the "..." line stands for lines left out)
	local line n=0
	while IFS= read -r line; do
		[[ "$line" == *"           ..." ]] && continue
		grep -qxF -- "$line" "$QS/draft.plan" || { echo "not in the draft: $line" >&2; return 1; }
		n=$((n + 1))
	done < <(doc_block_after 'An entity looks like this')
	[ "$n" -ge 20 ]
	# the fix the document shows is the line the sed wrote (in the run's copy of rehearsal-1)
	grep -qxF -- "$(doc_block_after 'and the line no longer holds')" "$REHEARSAL/ferry-runs/rehearsal-1/plan"
	# so are the default lines and the output the answers to the other TODOs show
	while IFS= read -r line; do
		grep -qxF -- "$line" "$REHEARSAL/ferry-runs/rehearsal-1/plan" || { echo "not in the run's plan: $line" >&2; return 1; }
	done < <(doc_block_after '`default` line naming its columns'; doc_block_after 'one more output in the extract query')
	! grep -q 'TODO:' "$REHEARSAL/ferry-runs/rehearsal-1/plan"
}

@test "the rollback left the destination as it was before the first run" {
	[ -s "$QS/dest-before-first-run" ]
	[ "$(wc -l <"$QS/dest-before-first-run")" -eq 15 ]
	diff "$QS/dest-before-first-run" "$QS/dest-after-rollback"
	[ "$(q1 -d demo_dest -c "SELECT status FROM ferry.runs WHERE run_id = 'rehearsal-1'")" = rolled_back ]
	[ "$(q1 -d demo_dest -c "SELECT count(*) FROM ferry.id_map m JOIN ferry.runs r ON r.run_id = m.run_id
		WHERE r.run_id = 'rehearsal-1'")" -eq 0 ]
}

@test "the migration is verified: the reports of the full and the incremental run say ok, nothing lost" {
	# the last verify of rehearsal-2 was --rows, of rehearsal-3 checksum
	local r mode
	for r in rehearsal-2:rows rehearsal-3:checksum; do
		mode=${r#*:}
		jq -e --arg mode "$mode" '.ok and .mode == $mode and .totals.source_rows == 7790
			and .totals.loaded == 7722 and .totals.rejected == 68 and .totals.missing == 0
			and .totals.extra == 0 and .totals.different == 0 and .totals.orphans == 0' \
			"$REHEARSAL/ferry-runs/${r%:*}/verify.json"
	done
	# and the destination holds what the summary says
	[ "$(q1 -d demo_dest -c "SELECT (SELECT count(*) FROM auth.users) + (SELECT count(*) FROM profiles)
		+ (SELECT count(*) FROM orders) + (SELECT count(*) FROM comments)")" -eq $((118 + 118 + 993 + 1154)) ]
}

@test "the crashed run was killed mid-way, and the resume finished it with no row lost or loaded twice" {
	# killed: its output stops before the end, after at least four entities
	[ "$(grep -c 'rows loaded' "$REHEARSAL/rehearsal-2.log")" -ge 4 ]
	run grep -q 'success rate' "$REHEARSAL/rehearsal-2.log"
	assert_exit 1
	grep -q 'done in an earlier attempt, skipped' "$(block_log_of 'ferry resume')"
	[ "$(q1 -d demo_dest -c "SELECT status || ' ' || loaded_rows FROM ferry.runs WHERE run_id = 'rehearsal-2'")" = "done 7722" ]
	assert_no_duplicates demo_dest
}

@test "the incremental run brought the 25 orders the application changed" {
	local ids src dst
	# the orders 1 to 25 that are in the destination (13 is an order of a deleted patient)
	ids=$(q1 -d demo_dest -c "SELECT string_agg(legacy_order_id::text, ',' ORDER BY legacy_order_id)
		FROM orders WHERE legacy_order_id <= 25")
	[ "$ids" = "$(seq -s, 1 12),$(seq -s, 14 25)" ]
	src=$(q1 -d demo_legacy -c "SELECT string_agg(id || '=' || total, ' ' ORDER BY id) FROM dispatch_order WHERE id IN ($ids)")
	dst=$(q1 -d demo_dest -c "SELECT string_agg(legacy_order_id || '=' || total, ' ' ORDER BY legacy_order_id)
		FROM orders WHERE legacy_order_id IN ($ids)")
	[ "$src" = "$dst" ]
	[ "$(q1 -d demo_dest -c "SELECT kind || ' ' || status FROM ferry.runs WHERE run_id = 'rehearsal-3'")" = "incremental done" ]
	# the change is there: 25 orders updated since the full run's snapshot
	[ "$(q1 -d demo_legacy -c "SELECT count(*) FROM dispatch_order WHERE updated_at >= (now() - interval '1 hour') AT TIME ZONE 'UTC'")" -eq 25 ]
}

@test "the cut-over deleted the order events the application deleted, verified every entity and said EQUAL" {
	local gone
	# order 2's events: in the destination after the full run, none now, each saved
	gone=$(q1 -d demo_dest -c "SELECT count(*) FROM ferry.deletes WHERE run_id = 'cutover' AND entity = 'orderevents'
		AND action = 'deleted'")
	[ "$gone" -gt 0 ]
	[ "$(q1 -d demo_dest -c "SELECT count(*) FROM orderevents e JOIN orders o ON o.id = e.order_id
		WHERE o.legacy_order_id = 2")" -eq 0 ]
	[ "$(q1 -d demo_dest -c "SELECT count(*) FROM ferry.deletes WHERE run_id = 'cutover' AND action <> 'deleted'")" -eq 0 ]
	jq -e '.ok and .totals.extra == 0 and .totals.missing == 0' "$REHEARSAL/ferry-runs/cutover/verify.json"
	grep -q '^cutover: exit 0$' "$(block_log_of 'ferry run --plan my.plan --final')"
}

@test "the cleanup dropped the three columns and what went with them, after a backup; the restore brought one back" {
	# after the drop: no column, no index, no view; three verified backups
	[ "$(cat "$QS/after-cleanup")" = "backup comments__legacy_thread_id 1154
backup offices__legacy_crm_ref 20
backup orders__legacy_import_batch 993" ]
	# now (after the restore): the column with its values and its view; the others still gone
	[ "$(q1 -d demo_dest -c "SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'orders' AND column_name = 'legacy_import_batch'")" -eq 1 ]
	[ "$(q1 -d demo_dest -c "SELECT count(*) FROM order_import_batches_v")" -gt 0 ]
	[ "$(q1 -d demo_dest -c "SELECT to_regclass('public.comments_legacy_thread_idx') IS NULL
		AND NOT EXISTS (SELECT FROM information_schema.columns WHERE table_name = 'offices' AND column_name = 'legacy_crm_ref')")" = t ]
	[ "$(q1 -d demo_dest -c "SELECT phase || ' ' || count(*) FROM ferry.schema_changes WHERE status = 'done'
		GROUP BY phase ORDER BY phase" | tr '\n' ' ')" = "analyse 3 backup 3 deprecate 3 drop 3 restore 1 " ]
	# "without --cascade, drop refuses (exit 2) and changes nothing"
	run ferry cleanup drop --columns "$REHEARSAL/one-column.txt" --target dbname=demo_dest
	assert_exit 2
	[ "$(q1 -d demo_dest -c "SELECT count(*) FROM order_import_batches_v")" -gt 0 ]
}

@test "a target through a transaction pooler (port 6543) is refused before anything is written, as section 3 quotes" {
	local dir plan=$REHEARSAL/my.plan
	new_db qs_pool
	q -d qs_pool -f "$FERRY_REPO/examples/demo/destination-schema.sql" >/dev/null
	# a socket named for port 6543 that leads to the test server: libpq
	# reports port 6543, as through Supavisor's transaction mode
	dir=$(mktemp -d /tmp/ferry-qs-pool.XXXXXX)
	ln -s "$PGHOST/.s.PGSQL.$PGPORT" "$dir/.s.PGSQL.6543"
	cd "$BATS_TEST_TMPDIR"
	export FERRY_SOURCE="dbname=demo_legacy user=ferry_reader" FERRY_TARGET="host=$dir port=6543 dbname=qs_pool"
	run ferry init
	assert_exit 4
	echo "$output" >"$BATS_TEST_TMPDIR/out"
	[ "$(q1 -d qs_pool -c "SELECT to_regnamespace('ferry') IS NULL")" = t ]
	FERRY_TARGET=dbname=qs_pool ferry init
	run ferry run --plan "$plan" --run-id qs-pool --min-success 99
	rm -rf "$dir"
	assert_exit 4
	echo "$output" >>"$BATS_TEST_TMPDIR/out"
	[ "$(q1 -d qs_pool -c "SELECT count(*) FROM ferry.runs")" -eq 0 ]
	local line n=0
	while IFS= read -r line; do
		line_found "$line" "$BATS_TEST_TMPDIR/out" || { echo "not in the output: $line" >&2; return 1; }
		[ "$(grep -cF -- "$line" "$BATS_TEST_TMPDIR/out")" -eq 2 ]
		n=$((n + 1))
	done < <(doc_block_after '### Never the transaction pooler' | grep -v '^$')
	[ "$n" -eq 1 ]
}

@test "without SET on session_replication_role the triggers fire and no profile loads; the owner with it loads them all" {
	local db line
	q -d postgres -c "DROP ROLE IF EXISTS qs_owner" >/dev/null
	q -d postgres -c "CREATE ROLE qs_owner LOGIN" >/dev/null
	for db in qs_noset qs_set; do
		new_db "$db"
		q -d "$db" -f "$FERRY_REPO/examples/demo/destination-schema.sql" >/dev/null
		# a role like Supabase's postgres: owns the tables, is no superuser
		q -d "$db" <<SQL >/dev/null
GRANT CREATE ON DATABASE $db TO qs_owner;
GRANT USAGE ON SCHEMA auth TO qs_owner;
DO \$\$ DECLARE t regclass; BEGIN
  FOR t IN SELECT c.oid FROM pg_class c WHERE c.relnamespace IN ('public'::regnamespace, 'auth'::regnamespace)
            AND c.relkind IN ('r', 'p') LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO qs_owner', t);
  END LOOP;
END \$\$;
SQL
	done
	cd "$BATS_TEST_TMPDIR"
	export FERRY_SOURCE="dbname=demo_legacy user=ferry_reader"
	# no SET privilege: the documented check says so; the documented warning,
	# the trigger's profiles, every profile rejected
	export FERRY_TARGET="dbname=qs_noset user=qs_owner"
	run q -d "$FERRY_TARGET" -c 'SET session_replication_role = replica'
	assert_exit 1
	assert_contains 'permission denied to set parameter "session_replication_role"'
	ferry init
	run ferry run --plan "$REHEARSAL/my.plan" --only auth.users,profiles --run-id noset
	echo "$output"
	assert_exit 6
	echo "$output" >"$BATS_TEST_TMPDIR/out"
	line=$(doc_block_after 'Without that privilege')
	line_found "$line" "$BATS_TEST_TMPDIR/out"
	[ "$(q1 -d qs_noset -c "SELECT loaded_rows || ' ' || rejected_rows FROM ferry.entity_runs
		WHERE run_id = 'noset' AND entity = 'profiles'")" = "0 118" ]
	[ "$(q1 -d qs_noset -c "SELECT count(*) FROM ferry.rejects WHERE run_id = 'noset' AND entity = 'profiles'
		AND reason = 'unique_violation'")" -gt 100 ]
	# granted, the documented check passes and the same load is clean
	q -d postgres -c "GRANT SET ON PARAMETER session_replication_role TO qs_owner" >/dev/null
	export FERRY_TARGET="dbname=qs_set user=qs_owner"
	q -v ON_ERROR_STOP=1 -d "$FERRY_TARGET" -c 'SET session_replication_role = replica'
	ferry init
	run ferry run --plan "$REHEARSAL/my.plan" --only auth.users,profiles --run-id set
	echo "$output"
	assert_exit 0
	[[ "$output" != *"cannot set session_replication_role"* ]]
	[ "$(q1 -d qs_set -c "SELECT string_agg(loaded_rows || ' ' || rejected_rows, ', ' ORDER BY entity)
		FROM ferry.entity_runs WHERE run_id = 'set'")" = "118 0, 118 0" ]
	q -d postgres -c "REVOKE SET ON PARAMETER session_replication_role FROM qs_owner" >/dev/null
}

@test "the exit codes of section 14 are ferry's, each with what to do" {
	local codes code
	codes=$(ferry --help | sed -n '/^Exit codes:/,$p' | grep -o '[0-9]\+ [a-z]\+' | cut -d' ' -f1)
	[ "$(echo "$codes" | wc -l)" -eq 11 ]
	for code in $codes; do
		grep -qE "^\| $code \| [^|]+ \| [^|]+ \|$" "$DOC" || { echo "no row for exit $code" >&2; return 1; }
	done
	[ "$(sed -n '/^## 14\./,$p' "$DOC" | grep -cE '^\| [0-9]+ \|')" -eq 11 ]
}
