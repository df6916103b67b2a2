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
# One psql session for all tables (\gexec runs the query made for each).
db_snapshot() {
	q1 -d "$1" <<'SQL'
SELECT format($q$SELECT %L, count(*), md5(coalesce(string_agg(x::text, E'\n' ORDER BY x::text COLLATE "C"), '')) FROM %s AS x$q$,
              t, t)
  FROM (SELECT format('%I.%I', n.nspname, c.relname) AS t
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p')
           AND n.nspname NOT IN ('ferry', 'ferry_backup', 'pg_catalog', 'information_schema')
           AND n.nspname NOT LIKE 'pg\_%') AS tables
 ORDER BY t \gexec
SQL
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
	setsid ferry run "$@" >"$out" 2>&1 3>&- &
	RUN_PID=$! RUN_OUT=$out
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

# hold_points DB [TABLE ENTITY]...: moments at which a test can hold a load
# of DB, by holding an advisory lock (hold_advisory DB NAME) before it
# comes; while no test session holds it, nothing waits and nothing changes
# (the triggers fire under session_replication_role = replica too):
#   "commit ENTITY"       the COMMIT of ferry-load's first batch of ENTITY (a
#                         deferred trigger on ferry.checkpoints)
#   "row ENTITY"          the 50th row of a batch of ENTITY into TABLE:
#                         mid-batch, rows of the batch written, not committed
#   "later-batch ENTITY"  the same in a batch after one already committed
#   "start"               the run's (or resume's) start in its books, after
#                         its preflight and its checks, which read the tables
#                         (at_start takes locks there)
# Installed again on the same database, it changes nothing.
hold_points() {
	local db=$1
	shift
	q -d "$db" <<'SQL'
SET client_min_messages = warning;
DROP TRIGGER IF EXISTS zz_ferry_test_hold_commit ON ferry.checkpoints;
DROP TRIGGER IF EXISTS zz_ferry_test_hold_start ON ferry.runs;
CREATE OR REPLACE FUNCTION public.ferry_test_hold_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('ferry test start', 0));
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER zz_ferry_test_hold_start AFTER UPDATE OF attempt_started_at ON ferry.runs
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.ferry_test_hold_start();
ALTER TABLE ferry.runs ENABLE ALWAYS TRIGGER zz_ferry_test_hold_start;
CREATE OR REPLACE FUNCTION public.ferry_test_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(hashtextextended('ferry test commit ' || NEW.entity, 0));
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER zz_ferry_test_hold_commit AFTER INSERT OR UPDATE ON ferry.checkpoints
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.ferry_test_hold_commit();
ALTER TABLE ferry.checkpoints ENABLE ALWAYS TRIGGER zz_ferry_test_hold_commit;
-- the rows of this transaction counted in a setting local to it
CREATE OR REPLACE FUNCTION public.ferry_test_hold_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n int := coalesce(nullif(current_setting('ferry_test.rows', true), ''), '0')::int + 1;
BEGIN
  PERFORM set_config('ferry_test.rows', n::text, true);
  IF n = 50 THEN
    PERFORM pg_advisory_xact_lock_shared(hashtextextended('ferry test row ' || TG_ARGV[0], 0));
    IF EXISTS (SELECT FROM ferry.checkpoints WHERE entity = TG_ARGV[0] AND rows_loaded > 0) THEN
      PERFORM pg_advisory_xact_lock_shared(hashtextextended('ferry test later-batch ' || TG_ARGV[0], 0));
    END IF;
  END IF;
  RETURN NEW;
END $$;
SQL
	while [ $# -ge 2 ]; do
		q -d "$db" -v t="$1" -v e="$2" <<'SQL'
SET client_min_messages = warning;
SELECT format('DROP TRIGGER IF EXISTS zz_ferry_test_hold_row ON %s', :'t') \gexec
SELECT format('CREATE TRIGGER zz_ferry_test_hold_row BEFORE INSERT ON %s FOR EACH ROW
                 EXECUTE FUNCTION public.ferry_test_hold_row(%L)', :'t', :'e') \gexec
SELECT format('ALTER TABLE %s ENABLE ALWAYS TRIGGER zz_ferry_test_hold_row', :'t') \gexec
SQL
		shift 2
	done
}

# at_start DB COMMAND...: a run of DB held at its start (hold_points DB,
# hold_advisory DB start, then the run started): once it waits there,
# COMMAND (taking a lock its steps will wait for: the preflight and the
# books' checks before the start read the tables), then the run goes on
at_start() {
	local db=$1
	shift
	if ! wait_until 120 held "$db" ferry-books; then
		[ -z "${RUN_OUT:-}" ] || cat "$RUN_OUT" >&2
		return 1
	fi
	"$@" || return 1
	release_advisory "$db" start
}

# held DB APP: a session of program APP in DB waits for the advisory lock
# a test session holds (hold_advisory)
held() {
	[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_locks w
		JOIN pg_stat_activity a ON a.pid = w.pid
		JOIN pg_locks g ON g.locktype = 'advisory' AND g.granted AND g.database = w.database
		 AND g.classid = w.classid AND g.objid = w.objid AND g.objsubid = w.objsubid
		JOIN pg_stat_activity t ON t.pid = g.pid AND t.application_name = 'ferry_test_lock'
		WHERE w.locktype = 'advisory' AND NOT w.granted
		  AND a.datname = current_database() AND a.application_name = '$2'")" != 0 ]
}

# wait_idle DB: until the backends of killed ferry programs have gone (a
# backend notices its client is gone when it next reads from it)
wait_idle() {
	# (RUN_PID emptied: the run is over, killed or not)
	RUN_PID= wait_until 120 no_session "$1" "AND application_name LIKE 'ferry%'"
}

# wait_gone DB: until no session of a killed or failed run is left in DB:
# the stages' (wait_idle) and the driver's own psql sessions too (its
# bookkeeping session holds the run's lock: a resume started before the
# server has seen it go would find the run in progress)
wait_gone() {
	RUN_PID= wait_until 120 no_session "$1" "AND backend_type = 'client backend'"
}

# no_session DB CONDITION: no session in DB but this one and the test's locks meets CONDITION
no_session() {
	[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND pid <> pg_backend_pid() AND application_name <> 'ferry_test_lock' $2")" = 0 ]
}

# stop_run: after a test, the run it started in the background ($RUN_PID,
# its process group) killed, and every test lock gone
stop_run() {
	if [ -n "${RUN_PID:-}" ] && kill -0 "$RUN_PID" 2>/dev/null; then
		kill -KILL -- "-$RUN_PID" 2>/dev/null || true
	fi
	release_lock
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

# die_on_insert DB TABLE: the next insert into TABLE ends its own session
# (a trigger that fires under session_replication_role = replica too), as a
# lost connection would: the run fails at that entity, exit 4
die_on_insert() {
	q -d "$1" <<SQL
CREATE FUNCTION public.ferry_test_die() RETURNS trigger LANGUAGE plpgsql
AS \$\$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END \$\$;
CREATE TRIGGER zz_ferry_test_die BEFORE INSERT ON $2 FOR EACH STATEMENT EXECUTE FUNCTION public.ferry_test_die();
ALTER TABLE $2 ENABLE ALWAYS TRIGGER zz_ferry_test_die;
SQL
}
live_on_insert() {
	q -d "$1" -c "DROP TRIGGER zz_ferry_test_die ON $2; DROP FUNCTION public.ferry_test_die()"
}
