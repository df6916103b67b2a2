#!/usr/bin/env bats
# Operating a migration (issue 10): "ferry status" from another terminal
# during a run and after a crash, the loads' progress lines (a terminal, a
# log), --metrics (the Prometheus text format), --max-memory and --notify.
#
# The moments a test looks at are made certain rather than left to timing:
# a test session holds a lock on the source table the extract reads (the
# step is "extracting"), or the advisory lock the load of orderitems takes
# in its second batch, once its first is committed (hold_points in
# driver-helpers.bash: the step is "loading", its rows done still); a
# trigger (ENABLE ALWAYS, so that it fires under session_replication_role
# = replica) slows the load of a table whose progress lines are read.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

SLOW_PLAN=$BATS_FILE_TMPDIR/slow.plan

setup_file() {
	demo_dbs op_src op_tmpl 1
	# a table of 3000 rows for the progress lines: 10 ms of every 10th row in the
	# destination (in a schema of its own: not a table the demo plan leaves out)
	q -d op_src -c "CREATE SCHEMA slow; CREATE TABLE slow.slow_items (id int PRIMARY KEY, name text NOT NULL);
		INSERT INTO slow.slow_items SELECT g, 'item ' || g FROM generate_series(1, 3000) g"
	# the source's estimates (reltuples) exact
	q -d op_src -c "ANALYZE"
	q -d op_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	q -d op_tmpl <<'SQL'
CREATE TABLE public.slow_items (id int PRIMARY KEY, name text NOT NULL);
CREATE FUNCTION public.ferry_test_slow() RETURNS trigger LANGUAGE plpgsql
AS $$ BEGIN IF NEW.id % 10 = 0 THEN PERFORM pg_sleep(0.01); END IF; RETURN NEW; END $$;
CREATE TRIGGER zz_ferry_test_slow BEFORE INSERT ON public.slow_items
  FOR EACH ROW EXECUTE FUNCTION public.ferry_test_slow();
ALTER TABLE public.slow_items ENABLE ALWAYS TRIGGER zz_ferry_test_slow;
SQL
	cat >"$SLOW_PLAN" <<'EOF'
ferry-plan 1

entity slow_items
  source slow.slow_items
  target public.slow_items
  key id
  extract
    SELECT id, name FROM slow.slow_items
  end
end
EOF
	# one full run of the demo with --metrics and --notify, read by several tests
	clone_db op_tmpl op_dst
	mkdir -p "$BATS_FILE_TMPDIR/prom"
	ferry run --source dbname=op_src --target dbname=op_dst --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id full1 --workdir "$BATS_FILE_TMPDIR/full1" --metrics "$BATS_FILE_TMPDIR/prom/ferry.prom" \
		--notify "cat >'$BATS_FILE_TMPDIR/notify-done.json'" >"$BATS_FILE_TMPDIR/full1.out" 2>&1 &&
		echo 0 >"$BATS_FILE_TMPDIR/full1.rc" || echo $? >"$BATS_FILE_TMPDIR/full1.rc"
}

teardown_file() {
	drop_dbs
}

teardown() {
	if [ -n "${RUN_PID:-}" ] && kill -0 "$RUN_PID" 2>/dev/null; then
		kill -KILL -- "-$RUN_PID" 2>/dev/null || true
	fi
	release_lock
}

# hold_orderitems DB: the load of orderitems into DB held in its second
# batch (hold_points), its first committed, until release_lock DB
hold_orderitems() {
	hold_points "$1" public.orderitems orderitems
	hold_advisory "$1" "later-batch orderitems"
}

# run_unlocked DB RUN: until no session of DB holds the lock of RUN (the
# backend of a killed bookkeeping session takes a moment to notice)
run_unlocked() {
	RUN_PID= wait_until 120 run_lock_free "$1" "$2"
}
run_lock_free() {
	[ "$(q1 -d "$1" -c "SELECT pg_try_advisory_lock(hashtextextended('ferry run $2', 0))")" = t ]
}

# the line of ENTITY in the output of "ferry status"
status_line() {
	grep -E "^$1 " <<<"$output"
}

# the value of one sample of a metrics file: sample FILE 'name{labels}'
sample() {
	awk -v k="$2" 'substr($0, 1, length(k) + 1) == k " " { print $2; n++ } END { exit n != 1 }' "$1"
}

# check_exposition FILE: the Prometheus text exposition format, line by
# line; prints the metric families (in order), or what is wrong
check_exposition() {
	awk '
	function fail(msg) { printf "%s:%d: %s: %s\n", FILENAME, FNR, msg, $0; bad = 1 }
	BEGIN {
		name = "[a-zA-Z_:][a-zA-Z0-9_:]*"
		lname = "[a-zA-Z_][a-zA-Z0-9_]*"
		lvalue = "\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
		labels = "\\{(" lname "=" lvalue "(," lname "=" lvalue ")*)?\\}"
		value = "([-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?|[-+]?Inf|NaN)"
	}
	/^# HELP / {
		if ($0 !~ "^# HELP " name " [^ ].*$") fail("bad HELP line")
		if ($3 in helped) fail("a second HELP")
		helped[$3] = 1; help = $3; next
	}
	/^# TYPE / {
		if ($0 !~ "^# TYPE " name " (counter|gauge|summary|histogram|untyped)$") fail("bad TYPE line")
		if ($3 != help) fail("TYPE without its HELP just before")
		if ($3 in typed) fail("a second TYPE")
		typed[$3] = $4; family = $3; order[++nf] = $3; next
	}
	/^#/ || /^$/ { fail("unexpected comment or empty line"); next }
	{
		if ($0 !~ "^" name "(" labels ")? " value "$") { fail("bad sample"); next }
		s = $0; sub(/[{ ].*/, "", s)
		ok = s == family || (typed[family] == "summary" && (s == family "_sum" || s == family "_count"))
		if (!ok) fail("sample outside its family " family)
		if (typed[family] == "summary" && s == family && $0 !~ /quantile="[0-9.]+"/) fail("summary sample without a quantile")
		series = $0; sub(/ [^ ]*$/, "", series)
		if (series in seen) fail("duplicate series")
		seen[series] = 1
		count[family]++
	}
	END {
		for (i = 1; i <= nf; i++) {
			if (!count[order[i]]) { printf "%s: no sample\n", order[i]; bad = 1 }
			print order[i]
		}
		exit bad
	}' "$1"
}

@test "ferry status during a run: the step extracting, then loading with its rows done of expected; --json; a second resume refused" {
	clone_db op_tmpl op_live
	hold_orderitems op_live
	local w=$BATS_TEST_TMPDIR/w m=$BATS_TEST_TMPDIR/live.prom
	# the extract of orderitems waits for a lock on its source table
	hold_advisory op_live start
	start_run "$BATS_TEST_TMPDIR/run.out" --source dbname=op_src --target dbname=op_live --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --run-id live --workdir "$w" --metrics "$m"
	at_start op_live hold_lock op_src public.dispatch_orderitem 'ACCESS EXCLUSIVE'
	# a reader of the metrics file, as node_exporter: it never sees a partial file
	mkdir "$BATS_TEST_TMPDIR/reads"
	(
		n=0
		while kill -0 "$RUN_PID" 2>/dev/null; do
			cp "$m" "$BATS_TEST_TMPDIR/reads/$n" 2>/dev/null && n=$((n + 1))
			sleep 0.01
		done
	) &
	local reader=$!
	wait_until 120 waiting_for_lock op_src ferry-extract
	run ferry status --target dbname=op_live
	assert_exit 0
	assert_contains "run live (full): running, ferry pid $RUN_PID on "
	[[ "$(status_line orderitems)" =~ ^orderitems\ +extracting\ +0\ +~1996\ +0\  ]] || { echo "$output"; false; }
	[[ "$(status_line orders)" =~ ^orders\ +done\ +998\ +998\ +100\  ]]
	[[ "$(status_line comments)" =~ ^comments\ +pending\ +0\ +~1197\ +0\  ]]
	# let it read; the load stops in its second batch: its rows done stay put
	release_lock op_src
	wait_until 120 held op_live ferry-load
	local done_rows
	done_rows=$(q1 -d op_live -c "SELECT sum(rows_loaded + rows_rejected) FROM ferry.checkpoints
		WHERE run_id = 'live' AND entity = 'orderitems'")
	echo "orderitems rows done: $done_rows"
	[ "$done_rows" -gt 0 ]
	[ "$done_rows" -lt 1996 ]
	run ferry status live --target dbname=op_live
	assert_exit 0
	echo "$output"
	[[ "$(status_line orderitems)" =~ ^orderitems\ +loading\ +$done_rows\ +~1996\ +[0-9.]+\ +[0-9]+\ +[0-9hms]+\ +[0-9]+$ ]]
	assert_contains "total: 14 of 16 steps done, 1 running, 1 pending; "
	# --json parses, field by field
	run --separate-stderr ferry status live --json --target dbname=op_live
	assert_exit 0
	jq -e --argjson pid "$RUN_PID" --argjson done "$done_rows" '
		.run == "live" and .kind == "full" and .status == "running" and .state == "running" and .alive
		and .driver.pid == $pid and (.driver.host | length > 0)
		and (.entities | length) == 16
		and (.entities[] | select(.entity == "orderitems")
		     | .state == "loading" and .stage == "loading" and .rows_done == $done and .rows_expected == 1996
		       and .loaded + .rejected == $done and .rows_per_second > 0 and (.eta_seconds | type) == "number")
		and (.entities[] | select(.entity == "orders") | .state == "done" and .rows_done == 998 and .rejected == 5)
		and (.entities[] | select(.entity == "comments") | .state == "pending" and .rows_expected == 1197)
		and .totals.done == 14 and .totals.running == 1 and .totals.pending == 1 and .totals.interrupted == 0
		and .totals.rows_expected == 7790 and .totals.rows_done == 7790 - 1996 - 1197 + $done
		and .left == ["orderitems", "comments"]' <<<"$output"
	# the metrics file was rewritten after each step: orders done, comments pending
	[ "$(sample "$m" 'ferry_run_state{run="live",kind="full",state="running"}')" = 1 ]
	[ "$(sample "$m" 'ferry_entity_state{run="live",entity="orders",state="done"}')" = 1 ]
	[ "$(sample "$m" 'ferry_entity_state{run="live",entity="comments",state="pending"}')" = 1 ]
	# a second process may not run the same run
	run ferry resume live --source dbname=op_src --target dbname=op_live
	assert_exit 2
	assert_contains "run live is in progress: ferry pid $RUN_PID on "
	release_lock op_live
	wait "$RUN_PID"
	[ "$(q1 -d op_live -c "SELECT status FROM ferry.runs WHERE run_id = 'live'")" = done ]
	run ferry status live --target dbname=op_live
	assert_contains "run live (full): done in "
	[[ "$(status_line orderitems)" =~ ^orderitems\ +done\ +1996\ +1996\ +100\  ]]
	wait "$reader"
	local f reads=0
	for f in "$BATS_TEST_TMPDIR"/reads/*; do
		[ "$(tail -n 1 "$f" | cut -d'{' -f1)" = ferry_metrics_updated_time_seconds ] || {
			echo "a partial metrics file: $f" >&2
			return 1
		}
		reads=$((reads + 1))
	done
	echo "$reads reads of the metrics file"
	[ "$reads" -gt 10 ]
	# rewritten at the end, nothing left beside it (its temporary files are renamed)
	[ "$(sample "$m" 'ferry_run_state{run="live",kind="full",state="done"}')" = 1 ]
	[ "$(sample "$m" 'ferry_entity_state{run="live",entity="comments",state="done"}')" = 1 ]
	[ "$(find "$BATS_TEST_TMPDIR" -maxdepth 1 -name 'live.prom*' | wc -l)" -eq 1 ]
}

@test "ferry status after SIGKILL: interrupted, what is left; resume --metrics --notify finishes it" {
	clone_db op_tmpl op_kill
	hold_orderitems op_kill
	local w=$BATS_TEST_TMPDIR/w
	start_run "$BATS_TEST_TMPDIR/run.out" --source dbname=op_src --target dbname=op_kill --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --run-id killed --workdir "$w"
	wait_until 120 held op_kill ferry-load
	kill_run
	release_lock op_kill
	wait_idle op_kill
	run_unlocked op_kill killed
	# the books still say running: no process holds the run
	[ "$(q1 -d op_kill -c "SELECT status FROM ferry.runs WHERE run_id = 'killed'")" = running ]
	local done_rows
	done_rows=$(q1 -d op_kill -c "SELECT sum(rows_loaded + rows_rejected) FROM ferry.checkpoints
		WHERE run_id = 'killed' AND entity = 'orderitems'")
	[ "$done_rows" -gt 0 ]
	[ "$done_rows" -lt 1996 ]
	run ferry status killed --target dbname=op_kill
	assert_exit 0
	echo "$output"
	assert_contains "run killed (full): INTERRUPTED: no ferry process holds it (the last was pid $RUN_PID on "
	[[ "$(status_line orderitems)" =~ ^orderitems\ +interrupted\ \(loading\)\ +$done_rows\ +~1996\  ]]
	[[ "$(status_line comments)" =~ ^comments\ +pending\ +0\ +~1197\  ]]
	assert_contains "total: 14 of 16 steps done, 1 interrupted, 1 pending; "
	assert_contains "left: orderitems, comments (about $((1996 + 1197 - done_rows)) rows)"
	assert_contains "finish it with: ferry resume killed"
	run --separate-stderr ferry status --json --target dbname=op_kill
	jq -e '.run == "killed" and .status == "running" and .state == "interrupted" and (.alive | not)
		and (.entities[] | select(.entity == "orderitems") | .state == "interrupted" and .stage == "loading"
		     and .eta_seconds == null)
		and .left == ["orderitems", "comments"] and .totals.interrupted == 1
		and .totals.rows_per_second == null' <<<"$output"
	# the list of runs says it too
	run ferry status --target dbname=op_kill
	[[ "$output" =~ killed\ +\|\ full\ +\|\ interrupted ]]
	# resume finishes it, with its metrics and its notification
	run ferry resume killed --source dbname=op_src --target dbname=op_kill --metrics "$BATS_TEST_TMPDIR/r.prom" \
		--notify "cat >'$BATS_TEST_TMPDIR/r.json'"
	assert_exit 0
	[ "$(sample "$BATS_TEST_TMPDIR/r.prom" 'ferry_run_state{run="killed",kind="full",state="done"}')" = 1 ]
	[ "$(sample "$BATS_TEST_TMPDIR/r.prom" 'ferry_entity_rows_written_total{run="killed",entity="orderitems"}')" = 1986 ]
	jq -e '.event == "run_done" and .run == "killed" and .status == "done" and .exit_code == 0
		and .rows.loaded == 7722 and .left == []' "$BATS_TEST_TMPDIR/r.json"
	run ferry status killed --target dbname=op_kill
	assert_contains "run killed (full): done in "
}

@test "--metrics: the Prometheus text format, every metric, values from the books" {
	[ "$(cat "$BATS_FILE_TMPDIR/full1.rc")" -eq 0 ]
	local m=$BATS_FILE_TMPDIR/prom/ferry.prom families
	families=$(check_exposition "$m") || { echo "$families"; false; }
	[ "$families" = "ferry_run_state
ferry_run_start_time_seconds
ferry_run_duration_seconds
ferry_run_success_ratio
ferry_run_min_success_ratio
ferry_run_entities
ferry_run_rows_expected
ferry_run_rows_done
ferry_memory_limit_bytes
ferry_entity_state
ferry_entity_rows_expected
ferry_entity_rows_read_total
ferry_entity_rows_written_total
ferry_entity_rows_rejected_total
ferry_entity_rows_repaired_total
ferry_entity_duration_seconds
ferry_entity_batch_latency_seconds
ferry_stage_bytes_total
ferry_stage_peak_memory_bytes
ferry_metrics_updated_time_seconds" ] || { echo "$families"; false; }
	# the parser finds what a broken file has
	printf '# HELP x_total y\n# TYPE x_total counter\nx_total{a="b} 1\ny 2\n' >"$BATS_TEST_TMPDIR/bad.prom"
	run check_exposition "$BATS_TEST_TMPDIR/bad.prom"
	[ "$status" -ne 0 ]
	assert_contains "bad sample"
	assert_contains "sample outside its family"
	# the values are the books'
	[ "$(sample "$m" 'ferry_run_state{run="full1",kind="full",state="done"}')" = 1 ]
	[ "$(sample "$m" 'ferry_run_state{run="full1",kind="full",state="running"}')" = 0 ]
	[ "$(sample "$m" 'ferry_run_success_ratio{run="full1"}')" = 0.991271 ]
	[ "$(sample "$m" 'ferry_run_min_success_ratio{run="full1"}')" = 0.99 ]
	[ "$(sample "$m" 'ferry_run_entities{run="full1",state="done"}')" = 16 ]
	[ "$(sample "$m" 'ferry_run_rows_done{run="full1"}')" = 7790 ]
	[ "$(sample "$m" 'ferry_memory_limit_bytes{run="full1"}')" = 536870912 ]
	[ "$(sample "$m" 'ferry_entity_rows_read_total{run="full1",entity="orders"}')" = 998 ]
	[ "$(sample "$m" 'ferry_entity_rows_written_total{run="full1",entity="orders"}')" = 993 ]
	[ "$(sample "$m" 'ferry_entity_rows_rejected_total{run="full1",entity="orders"}')" = 5 ]
	[ "$(sample "$m" 'ferry_entity_rows_repaired_total{run="full1",entity="orders"}')" = 12 ]
	[ "$(sample "$m" 'ferry_entity_rows_written_total{run="full1",entity="offices:billing_address_id"}')" = 20 ]
	[ "$(sample "$m" 'ferry_entity_rows_expected{run="full1",entity="comments"}')" = 1197 ]
	[ "$(sample "$m" 'ferry_entity_state{run="full1",entity="comments",state="done"}')" = 1 ]
	# batches: as many as the audit log's, and their latencies
	[ "$(sample "$m" 'ferry_entity_batch_latency_seconds_count{run="full1",entity="orderitems"}')" -eq \
		"$(q1 -d op_dst -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = 'full1' AND entity = 'orderitems'
			AND event = 'batch'")" ]
	sample "$m" 'ferry_entity_batch_latency_seconds{run="full1",entity="orderitems",quantile="0.99"}' |
		grep -Eq '^[0-9.]+$'
	# bytes and peak memory of every stage of every step, above zero
	local stage e
	for e in $(ferry-plan order "$DEMO_PLAN"); do
		for stage in extract transform load; do
			[ "$(sample "$m" "ferry_stage_peak_memory_bytes{run=\"full1\",entity=\"$e\",stage=\"$stage\"}")" -gt 1000000 ]
			[ "$(sample "$m" "ferry_stage_bytes_total{run=\"full1\",entity=\"$e\",stage=\"$stage\",direction=\"out\"}")" -gt 0 ]
		done
	done
	# the extract counts the rows it read from the source
	[ "$(sample "$m" 'ferry_stage_bytes_total{run="full1",entity="orders",stage="extract",direction="in"}')" -gt 0 ]
	# written through a temporary file and a rename: nothing else in the directory
	[ "$(ls "$BATS_FILE_TMPDIR/prom")" = ferry.prom ]
}

@test "the stages' end events carry their peak memory and bytes, tagged with the step" {
	[ "$(q1 -d op_dst -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = 'full1'
		AND event IN ('extract_end', 'transform_end', 'load_end')")" -eq 48 ]
	[ "$(q1 -d op_dst -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = 'full1'
		AND event IN ('extract_end', 'transform_end', 'load_end')
		AND (data->>'max_rss_kb')::bigint > 1000 AND (data->>'bytes_out')::bigint > 0
		AND (data->>'bytes_in')::bigint > 0 AND data->>'step' IS NOT NULL")" -eq 48 ]
	# the fix-up step's events are told from its entity's
	[ "$(q1 -d op_dst -c "SELECT count(*) FROM ferry.audit_log WHERE run_id = 'full1' AND entity = 'offices'
		AND data->>'step' = 'offices:billing_address_id' AND event = 'load_end'")" -eq 1 ]
}

@test "--notify: a done run's summary on the command's standard input, field by field" {
	local f=$BATS_FILE_TMPDIR/notify-done.json
	[ "$(wc -l <"$f")" -eq 1 ]
	jq -e --arg w "$BATS_FILE_TMPDIR/full1" --arg m "$BATS_FILE_TMPDIR/prom/ferry.prom" '
		.ferry == "notify" and .version == 1 and .event == "run_done" and .run == "full1" and .kind == "full"
		and .status == "done" and .ok == true and .exit_code == 0
		and .reason == "done: success rate 99.1271% (minimum 99%)"
		and .success_rate == 99.1271 and .min_success == 99 and .below_min_success == false
		and .rows == {source: 7790, loaded: 7722, rejected: 68, repaired: 54}
		and .rejects == 68 and .rejects_by_reason.missing_reference == 45 and .rejects_by_reason.parent_cycle == 5
		and (.rejects_by_reason | add) == 68
		and (.entities | length) == 16
		and (.entities[] | select(.entity == "orders")
		     == {entity: "orders", status: "done", rows_expected: 998, source_rows: 998, loaded: 993,
		         rejected: 5, repaired: 12, seconds: .seconds})
		and ([.entities[] | select(.status != "done")] | length) == 0 and .left == []
		and .duration_seconds > 0 and (.started_at | test("^20")) and (.finished_at | test("^20"))
		and (.host | length > 0) and (.pid | type) == "number" and .workdir == $w and .metrics == $m
		and .memory.limit_bytes == 536870912 and .memory.peak_bytes > 1000000 and .memory.exceeded == []' "$f"
}

@test "--notify: a failed run (exit 4), the stage that failed; the command's own failure changes nothing" {
	clone_db op_tmpl op_fail
	# a trigger of the destination refuses every row of orderstatuses: an error
	# ferry-load cannot set aside as a row's (the preflight sees nothing wrong)
	q -d op_fail <<'SQL'
CREATE FUNCTION public.ferry_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'ferry test: no insert into orderstatuses'; END $$;
CREATE TRIGGER zz_ferry_test_refuse BEFORE INSERT ON public.orderstatuses
  FOR EACH STATEMENT EXECUTE FUNCTION public.ferry_test_refuse();
ALTER TABLE public.orderstatuses ENABLE ALWAYS TRIGGER zz_ferry_test_refuse;
SQL
	run ferry run --only orderstatuses,orders --source dbname=op_src --target dbname=op_fail --plan "$DEMO_PLAN" \
		--run-id failed1 --workdir "$BATS_TEST_TMPDIR/w" \
		--notify "cat >'$BATS_TEST_TMPDIR/n.json'; echo the hook is down >&2; exit 3"
	assert_exit 4
	assert_contains "the hook is down"
	assert_contains "ferry: warning: the --notify command failed (exit 3); the run's exit code stays 4"
	jq -e '.event == "run_failed" and .run == "failed1" and .status == "failed" and .ok == false
		and .exit_code == 4 and .reason == "orderstatuses: ferry-load failed (exit 4)"
		and .below_min_success == false
		and .entities == [
		  {entity: "orderstatuses", status: "failed", rows_expected: 8, source_rows: 0, loaded: 0, rejected: 0,
		   repaired: 0, seconds: .entities[0].seconds},
		  {entity: "orders", status: "pending", rows_expected: 998, source_rows: 0, loaded: 0, rejected: 0,
		   repaired: 0, seconds: null}]
		and .left == ["orderstatuses", "orders"] and .rows.loaded == 0' "$BATS_TEST_TMPDIR/n.json"
	# and ferry status says it failed, and what is left
	run ferry status failed1 --target dbname=op_fail
	assert_contains "run failed1 (full): failed after "
	assert_contains "left: orderstatuses, orders (about 1006 rows)"
}

@test "--notify: a run below --min-success (exit 6), and an interrupted one (SIGTERM, exit 9)" {
	clone_db op_tmpl op_below
	# orders alone: every order references a patient that is not there
	run ferry run -q --only orders --source dbname=op_src --target dbname=op_below --plan "$DEMO_PLAN" \
		--run-id below1 --workdir "$BATS_TEST_TMPDIR/w" --notify "cat >'$BATS_TEST_TMPDIR/n.json'"
	assert_exit 6
	jq -e '.event == "run_below_min_success" and .run == "below1" and .status == "done" and .ok == false
		and .exit_code == 6 and .below_min_success == true and .success_rate == 0 and .min_success == 99.5
		and .reason == "success rate 0.0000% is below the minimum 99.5%"
		and .rows == {source: 998, loaded: 0, rejected: 998, repaired: 0}
		and .rejects_by_reason == {missing_reference: 998}' "$BATS_TEST_TMPDIR/n.json"
	# SIGTERM: the run ends with 9, its metrics and its notification say interrupted
	clone_db op_tmpl op_term
	hold_orderitems op_term
	local w=$BATS_TEST_TMPDIR/t
	start_run "$BATS_TEST_TMPDIR/run.out" --source dbname=op_src --target dbname=op_term --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --run-id term1 --workdir "$w" --metrics "$BATS_TEST_TMPDIR/t.prom" \
		--notify "cat >'$BATS_TEST_TMPDIR/t.json'"
	wait_until 120 held op_term ferry-load
	kill -TERM -- "-$RUN_PID"
	release_lock op_term
	local rc=0
	wait "$RUN_PID" || rc=$?
	[ "$rc" -eq 9 ]
	grep -q "ferry: run term1 interrupted; finish it with: ferry resume term1" "$BATS_TEST_TMPDIR/run.out"
	jq -e '.event == "run_interrupted" and .status == "interrupted" and .exit_code == 9 and .ok == false
		and (.reason | contains("ferry resume term1")) and .left == ["orderitems", "comments"]' "$BATS_TEST_TMPDIR/t.json"
	[ "$(sample "$BATS_TEST_TMPDIR/t.prom" 'ferry_run_state{run="term1",kind="full",state="interrupted"}')" = 1 ]
}

@test "--max-memory: a warning from 80 %, MEMORY LIMIT EXCEEDED above it, the exit code unchanged" {
	clone_db op_tmpl op_mem1
	run ferry run --only orderstatuses --source dbname=op_src --target dbname=op_mem1 --plan "$DEMO_PLAN" \
		--run-id mem1 --workdir "$BATS_TEST_TMPDIR/w1" --max-memory 1M --metrics "$BATS_TEST_TMPDIR/m.prom" \
		--notify "cat >'$BATS_TEST_TMPDIR/n.json'"
	assert_exit 0
	local stage
	for stage in extract transform load; do
		assert_contains "ferry: warning: orderstatuses: ferry-$stage used "
		assert_contains "ferry: run mem1: MEMORY LIMIT EXCEEDED: orderstatuses: ferry-$stage used "
	done
	assert_contains "more than --max-memory (1.0 MB)"
	[ "$(sample "$BATS_TEST_TMPDIR/m.prom" 'ferry_memory_limit_bytes{run="mem1"}')" = 1048576 ]
	jq -e '.exit_code == 0 and .memory.limit_bytes == 1048576 and (.memory.exceeded | length) == 3
		and (.memory.exceeded | map(.stage) | sort) == ["extract", "load", "transform"]' "$BATS_TEST_TMPDIR/n.json"
	# a limit just above the largest peak: the warning at 80 %, nothing exceeded
	local kb
	kb=$(q1 -d op_mem1 -c "SELECT max((data->>'max_rss_kb')::bigint) FROM ferry.audit_log WHERE run_id = 'mem1'")
	clone_db op_tmpl op_mem2
	run ferry run --only orderstatuses --source dbname=op_src --target dbname=op_mem2 --plan "$DEMO_PLAN" \
		--run-id mem2 --workdir "$BATS_TEST_TMPDIR/w2" --max-memory "$((kb * 115 / 100))K"
	assert_exit 0
	echo "$output" | grep -E "ferry: warning: orderstatuses: ferry-[a-z]+ used [0-9.]+ MB of memory at its peak, (8[0-9]|9[0-9]) % of --max-memory"
	[[ "$output" != *"MEMORY LIMIT EXCEEDED"* ]]
	# the default 512M: no warning, the run's peak said
	run cat "$BATS_FILE_TMPDIR/full1.out"
	[[ "$output" != *"--max-memory ("* ]]
	assert_contains "ferry: run full1: peak memory "
	assert_contains "--max-memory 512.0 MB"
}

@test "progress, not a terminal: a plain line every --progress-every seconds from the load, with an ETA" {
	clone_db op_tmpl op_plain
	run --separate-stderr ferry run --source dbname=op_src --target dbname=op_plain --plan "$SLOW_PLAN" \
		--workdir "$BATS_TEST_TMPDIR/w" --progress-every 0.2
	echo "$stderr"
	assert_exit 0
	local lines
	lines=$(grep -E '^ferry-load: slow_items: [0-9]+ rows, [0-9]+ rows/s, [0-9.]+ s, ETA [0-9]+ s \(of ~3000\)$' <<<"$stderr")
	[ "$(grep -c . <<<"$lines")" -ge 2 ]
	# the rows grow from line to line
	[ "$(awk '{ print $3 }' <<<"$lines" | sort -n -c && echo sorted)" = sorted ]
	# plain lines: no carriage return, no escape; no line from the extract or the transform
	[[ "$stderr" != *$'\r'* ]]
	[[ "$stderr" != *$'\033'* ]]
	[ "$(grep -Ec '^ferry-(extract|transform): slow_items: [0-9]+ rows' <<<"$stderr")" -eq 0 ]
	[[ "$stderr" == *"[1/1] slow_items: 3000 rows loaded"* ]]
	# --progress-every 0: none
	clone_db op_tmpl op_plain0
	run --separate-stderr ferry run --source dbname=op_src --target dbname=op_plain0 --plan "$SLOW_PLAN" \
		--workdir "$BATS_TEST_TMPDIR/w0" --progress-every 0
	assert_exit 0
	[[ "$stderr" != *"ferry-load: slow_items: "* ]]
	[[ "$stderr" == *"[1/1] slow_items: 3000 rows loaded"* ]]
}

@test "progress on a terminal: the load's line redrawn in place (carriage return), then erased" {
	clone_db op_tmpl op_tty
	# script(1) gives the run a pseudo-terminal
	run script -qec "ferry run --source dbname=op_src --target dbname=op_tty --plan '$SLOW_PLAN' --workdir '$BATS_TEST_TMPDIR/w'" /dev/null
	assert_exit 0
	# at least two redraws of the live line: \r, the line, erase to its end
	[ "$(grep -o $'\rferry-load: slow_items: [0-9]* rows, [0-9]* rows/s, [0-9.]* s, ETA [0-9]* s (of ~3000)\033\\[K' <<<"$output" | wc -l)" -ge 2 ]
	# erased (\r, erase) before the driver's line about the step
	[[ "$output" == *$'\r\033[K'"ferry: [1/1] slow_items: 3000 rows loaded"* ]]
	# the extract and the transform draw nothing
	[[ "$output" != *"ferry-extract: slow_items: "* ]]
	[[ "$output" != *"ferry-transform: slow_items: "* ]]
}

@test "ferry init brings an older ferry schema up to date; the runs it has keep working" {
	clone_db op_dst op_old
	# the schema of the previous version: without the columns of this one
	q -d op_old <<'SQL'
ALTER TABLE ferry.runs DROP COLUMN driver_host, DROP COLUMN driver_pid, DROP COLUMN attempt_started_at;
ALTER TABLE ferry.entity_runs DROP COLUMN expected_rows, DROP COLUMN attempt_started_at;
DROP TABLE ferry.lock_holders;
UPDATE ferry.meta SET value = '1' WHERE key = 'schema_version';
SQL
	run ferry status --target dbname=op_old
	assert_exit 2
	assert_contains 'ferry schema is older than this ferry: run "ferry init" again'
	run ferry run --source dbname=op_src --target dbname=op_old --plan "$DEMO_PLAN" --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 2
	assert_contains 'run "ferry init" again'
	[ "$(q1 -d op_old -c "SELECT count(*) FROM ferry.runs")" -eq 1 ]
	run ferry init --target dbname=op_old
	assert_exit 0
	run ferry init --target dbname=op_old
	assert_exit 0
	[ "$(q1 -d op_old -c "SELECT value FROM ferry.meta WHERE key = 'schema_version'")" = 3 ]
	[ "$(q1 -d op_old -c "SELECT to_regclass('ferry.lock_holders') IS NOT NULL")" = t ]
	[ "$(q1 -d op_old -c "SELECT count(*) FROM pg_attribute WHERE attrelid IN ('ferry.runs'::regclass, 'ferry.entity_runs'::regclass)
		AND attname IN ('driver_host', 'driver_pid', 'attempt_started_at', 'expected_rows') AND NOT attisdropped")" -eq 5 ]
	# the run made before: its books intact, its status readable
	run ferry status full1 --target dbname=op_old
	assert_exit 0
	assert_contains "run full1 (full): done in "
	[[ "$(status_line orders)" =~ ^orders\ +done\ +998\ +998\ +100\  ]]
	[ "$(q1 -d op_old -c "SELECT loaded_rows FROM ferry.runs WHERE run_id = 'full1'")" -eq 7722 ]
}

@test "bad usage: --max-memory, --progress-every, --metrics, status" {
	run ferry run --plan "$DEMO_PLAN" --max-memory lots --target dbname=op_dst
	assert_exit 2
	assert_one_line
	assert_contains "run: --max-memory needs a size of at least 1M"
	run ferry run --plan "$DEMO_PLAN" --max-memory 100K --target dbname=op_dst
	assert_exit 2
	run ferry run --plan "$DEMO_PLAN" --progress-every soon --target dbname=op_dst
	assert_exit 2
	assert_contains "run: --progress-every needs seconds"
	run ferry run --plan "$DEMO_PLAN" --metrics "$BATS_TEST_TMPDIR/no/such/dir/m.prom" --target dbname=op_dst
	assert_exit 8
	assert_one_line
	assert_contains "cannot write the metrics file"
	run ferry resume full1 --max-memory 0 --target dbname=op_dst
	assert_exit 2
	run ferry run --plan "$DEMO_PLAN" --notify
	assert_exit 2
	run ferry status --frobnicate --target dbname=op_dst
	assert_exit 2
	assert_one_line
	run ferry status no-such-run --target dbname=op_dst
	assert_exit 2
	assert_contains 'status: no run "no-such-run"'
	clone_db op_tmpl op_empty
	run ferry status --json --target dbname=op_empty
	assert_exit 0
	[ "$output" = null ]
	run ferry status --target dbname=op_empty
	assert_exit 0
	[ "$output" = "no run yet" ]
	run ferry --help
	local o
	for o in "--metrics FILE" "--max-memory SIZE" "--notify COMMAND" "--progress-every S" "--json" "status [RUN]"; do
		assert_contains "$o"
	done
}
