# driver-helpers.bash: what the tests of the ferry driver share
# (driver.bats, resume.bats, incremental.bats, rollback.bats), loaded after
# helpers.bash.  They run examples/demo.plan on the demo database.

DEMO_PLAN=$FERRY_REPO/examples/demo.plan
# the demo's bar: the catalogue's rows that cannot stand are 0.9 % of the
# rows (examples/demo/README.md, "Migrating it"), so the default 99.5 would
# fail every run
DEMO_MIN=99

# dst_template NAME: an empty demo destination with ferry's schema, to be
# copied by clone_db (createdb -T is much faster than loading the DDL)
dst_template() {
	new_db "$1"
	q -d "$1" -f "$FERRY_REPO/examples/demo/destination-schema.sql" >/dev/null
	q -d "$1" -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
}

# clone_db TEMPLATE NAME: a fresh copy of TEMPLATE, dropped by drop_dbs
clone_db() {
	dropdb --if-exists --force "$2" >/dev/null 2>&1
	createdb -T "$1" "$2"
	echo "$2" >>"$BATS_FILE_TMPDIR/dbs"
}

# db_tables DB: every ordinary table outside ferry's own schemas
db_tables() {
	q1 -d "$1" <<'SQL'
SELECT format('%I.%I', n.nspname, c.relname)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname NOT IN ('ferry', 'ferry_backup', 'pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\_%'
 ORDER BY 1
SQL
}

# db_snapshot DB: "table|rows|md5" for every table but ferry's, the md5 of
# its rows as text in a fixed order, every column included (the demo plan
# feeds every timestamp from the source: no now() default is left to the
# destination, so nothing needs excluding).  The order is the row text
# (COLLATE "C"): it sorts by the legacy key where that column comes first,
# and is a total order for tables without one (auth.users).
db_snapshot() {
	local t
	for t in $(db_tables "$1"); do
		q1 -d "$1" -c "SELECT '$t', count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text COLLATE \"C\"), ''))
			FROM $t AS x"
	done
}

# assert_same_db A B: same tables, same rows; says which tables differ
assert_same_db() {
	local a b
	a=$(db_snapshot "$1")
	b=$(db_snapshot "$2")
	if [ "$a" != "$b" ]; then
		echo "$1 and $2 differ:" >&2
		diff <(echo "$a") <(echo "$b") >&2
		return 1
	fi
}

# the legacy key of each destination table of the demo (auth.users keeps
# it in raw_app_meta_data; invoicelines has a composite key)
demo_keys() {
	cat <<'EOF'
auth.users|raw_app_meta_data->>'legacy_user_id'
public.offices|legacy_office_id
public.orderstatuses|legacy_orderstatus_id
public.productcategories|legacy_productcategory_id
public.addresses|legacy_address_id
public.invoices|legacy_invoice_id
public.products|legacy_product_id
public.profiles|legacy_user_id
public.office_contacts|legacy_office_contacts_id
public.patients|legacy_patient_id
public.orders|legacy_order_id
public.invoicelines|(legacy_invoice_id, legacy_line_no)
public.orderevents|legacy_orderevent_id
public.orderitems|legacy_orderitem_id
public.comments|legacy_comment_id
EOF
}

# assert_no_duplicates DB: every table's legacy key is unique by a
# constraint (a unique index on it; auth.users: its primary key, the UUIDv5
# of the legacy key) and in fact: count(*) = count(DISTINCT key), no NULL key
assert_no_duplicates() {
	local db=$1 t k line
	while IFS='|' read -r t k; do
		line=$(q1 -d "$db" -c "SELECT count(*), count(DISTINCT $k), count(*) FILTER (WHERE $k IS NULL) FROM $t")
		if [ "$(cut -d'|' -f1 <<<"$line")" != "$(cut -d'|' -f2 <<<"$line")" ] ||
			[ "$(cut -d'|' -f3 <<<"$line")" != 0 ]; then
			echo "$db: $t: rows, distinct keys, NULL keys = $line" >&2
			return 1
		fi
	done < <(demo_keys)
	# the constraints: a unique index on exactly the key columns of every table but auth.users
	local missing
	missing=$(q1 -d "$db" <<'SQL'
WITH k(t, cols) AS (VALUES
  ('public.offices', '{legacy_office_id}'), ('public.orderstatuses', '{legacy_orderstatus_id}'),
  ('public.productcategories', '{legacy_productcategory_id}'), ('public.addresses', '{legacy_address_id}'),
  ('public.invoices', '{legacy_invoice_id}'), ('public.products', '{legacy_product_id}'),
  ('public.profiles', '{legacy_user_id}'), ('public.office_contacts', '{legacy_office_contacts_id}'),
  ('public.patients', '{legacy_patient_id}'), ('public.orders', '{legacy_order_id}'),
  ('public.invoicelines', '{legacy_invoice_id,legacy_line_no}'),
  ('public.orderevents', '{legacy_orderevent_id}'), ('public.orderitems', '{legacy_orderitem_id}'),
  ('public.comments', '{legacy_comment_id}'))
SELECT string_agg(k.t, ', ') FROM k
 WHERE NOT EXISTS (
   SELECT 1 FROM pg_index i
    WHERE i.indrelid = k.t::regclass AND i.indisunique
      AND (SELECT array_agg(a.attname::text ORDER BY a.attname)
             FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))
          = (SELECT array_agg(c ORDER BY c) FROM unnest(k.cols::text[]) c))
SQL
)
	if [ -n "$missing" ]; then
		echo "$db: no unique index on the legacy key of: $missing" >&2
		return 1
	fi
}

# start_run OUT ARGS...: "ferry run ARGS" in a session (and process group)
# of its own, output in OUT; RUN_PID is its pid, which is also the group's
start_run() {
	local out=$1
	shift
	setsid ferry run "$@" >"$out" 2>&1 &
	RUN_PID=$!
}

# kill_run: SIGKILL to the whole process group of start_run, as a crash
# of the machine would end every stage, not only the driver
kill_run() {
	local pgid
	pgid=$(ps -o pgid= -p "$RUN_PID" | tr -d ' ')
	if [ -z "$pgid" ]; then
		echo "the run had ended before the kill" >&2
		return 1
	fi
	if [ "$pgid" != "$RUN_PID" ]; then
		echo "ferry run is not the leader of its process group ($pgid)" >&2
		return 1
	fi
	kill -KILL -- "-$pgid"
	wait "$RUN_PID" 2>/dev/null || true
}

# wait_until SECONDS COMMAND...: poll every 50 ms until COMMAND succeeds
wait_until() {
	local limit=$1 i
	shift
	for i in $(seq 1 $((limit * 20))); do
		"$@" && return 0
		# the run must still be going: a run that ended never gets there
		if [ -n "${RUN_PID:-}" ] && ! kill -0 "$RUN_PID" 2>/dev/null; then
			"$@" && return 0
			echo "the run ended before: $*" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "timed out after ${limit}s waiting for: $*" >&2
	return 1
}

# wait_idle DB: until the backends of killed ferry programs have gone (a
# backend notices its client is gone when it next reads from it)
wait_idle() {
	local n i
	for i in $(seq 1 600); do
		n=$(q1 -d "$1" -c "SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()
			  AND application_name LIKE 'ferry%'")
		[ "$n" = 0 ] && return 0
		sleep 0.05
	done
	echo "$1: ferry backends still there after 30s" >&2
	return 1
}

# hold_lock DB TABLE MODE: a session holding a lock on TABLE until
# release_lock; returns once the lock is held
hold_lock() {
	local db=$1 table=$2 mode=$3
	PGAPPNAME=ferry_test_lock psql -X -q -d "$db" -c "BEGIN; LOCK TABLE $table IN $mode MODE; SELECT pg_sleep(600)" \
		>/dev/null 2>&1 &
	wait_until 20 lock_held "$db" "$table"
}
lock_held() {
	[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE a.application_name = 'ferry_test_lock' AND l.relation = '$2'::regclass AND l.granted")" != 0 ]
}
release_lock() {
	q1 -d "$1" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'ferry_test_lock'" >/dev/null
}
# waiting_for_lock DB APP: a backend of program APP waits for a lock in DB
waiting_for_lock() {
	[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = '$2' AND wait_event_type = 'Lock'")" != 0 ]
}

# wait_gone DB: until no session of a killed or failed run is left in DB:
# the stages' (wait_idle) and the driver's own psql sessions too (its
# bookkeeping session holds the run's lock: a resume started before the
# server has seen it go would find the run in progress)
wait_gone() {
	local i
	for i in $(seq 1 600); do
		[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND pid <> pg_backend_pid() AND backend_type = 'client backend'
			AND application_name <> 'ferry_test_lock'")" = 0 ] && return 0
		sleep 0.05
	done
	echo "$1: sessions of the run still there after 30s" >&2
	return 1
}

# stop_run SRC: after a test, the run it started in the background
# ($RUN_PID, its process group) killed, and the test locks on SRC and $DB gone
stop_run() {
	if [ -n "${RUN_PID:-}" ] && kill -0 "$RUN_PID" 2>/dev/null; then
		kill -KILL -- "-$RUN_PID" 2>/dev/null || true
	fi
	release_lock "$1"
	[ -z "${DB:-}" ] || release_lock "$DB" 2>/dev/null || true
}

# books DB RUN: a run's books, to compare with a reference run's: its steps'
# counts, its rejects by entity, stage, reason and key, its id map, its totals
books() {
	q1 -d "$1" -v run="$2" <<'SQL'
SELECT entity, status, loaded_rows, rejected_rows, noted_rows
  FROM ferry.entity_runs WHERE run_id = :'run' ORDER BY entity;
SELECT entity, stage, reason, disposition, count(*), string_agg(legacy_id, ',' ORDER BY legacy_id)
  FROM ferry.rejects WHERE run_id = :'run' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT entity, count(*) FROM ferry.id_map WHERE run_id = :'run' GROUP BY 1 ORDER BY 1;
SELECT status, source_rows, loaded_rows, rejected_rows, success_rate FROM ferry.runs WHERE run_id = :'run';
SQL
}
