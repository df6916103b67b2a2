#!/usr/bin/env bats
# A transaction-mode connection pooler in front of the target (issue 15):
# a real PgBouncer (Debian's), started here in front of the test server,
# refused by ferry-load, ferry init, run and resume even when it is idle
# and on no well-known port, with nothing written; a session-mode one
# accepted.  An idle PgBouncer in transaction mode hands a connection the
# same server session every time, so only a second connection tells it
# (pg_session_check in lib/pgconn.c).

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

POOLER_MSG="the target looks like a transaction-mode connection pooler (port 6543 or one session per transaction); ferry needs a session: connect directly to PostgreSQL (Supabase: port 5432, the direct or session-mode connection string)"

# PgBouncer refuses to run as root: as the server's owner then, as
# tests/pgserver.sh runs PostgreSQL
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# start_pgbouncer NAME PORT SETTING...: a PgBouncer listening only on a
# Unix socket in $PGB (port PORT names the socket), passing every database
# to the test server with trust; returns once it accepts connections
start_pgbouncer() {
	local name=$1 port=$2
	shift 2
	{
		echo "[databases]"
		echo "* = host=$PGHOST port=$PGPORT"
		echo "[pgbouncer]"
		echo "listen_addr ="
		echo "listen_port = $port"
		echo "unix_socket_dir = $PGB"
		echo "auth_type = trust"
		echo "auth_file = $PGB/users.txt"
		echo "pidfile = $PGB/$name.pid"
		echo "logfile = $PGB/$name.log"
		printf '%s\n' "$@"
	} >"$PGB/$name.ini"
	# -d: in the background, stdio closed (bats' fd 3 too, or bats would
	# wait for it); /usr/sbin is not in every user's PATH
	as_postgres "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" -d "$PGB/$name.ini" 3>&- || return 1
	wait_until 30 grep -q 'process up' "$PGB/$name.log"
}

stop_pgbouncer() {
	local pid
	pid=$(cat "$PGB/$1.pid" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait_until 30 eval "! kill -0 $pid 2>/dev/null"
}

setup_file() {
	demo_dbs pl_src pl_dst 1
	dst_template pl_tmpl
	# the socket directory must be reachable by the postgres user (the
	# bats temporary directory is root's, mode 0700), and short
	PGB=$(mktemp -d /tmp/ferry-pgb.XXXXXX)
	chmod 755 "$PGB"
	echo '"postgres" ""' >"$PGB/users.txt"
	[ "$(id -u)" != 0 ] || chown -R postgres: "$PGB"
	echo "$PGB" >"$BATS_FILE_TMPDIR/pgb"
	# transaction mode with a small pool, PgBouncer's defaults otherwise
	# (server_round_robin = 0: the idle server released last is reused first)
	start_pgbouncer txn 6432 "pool_mode = transaction" "default_pool_size = 2"
	# transaction mode, idle servers taken in turn
	start_pgbouncer rr 6434 "pool_mode = transaction" "default_pool_size = 3" "server_round_robin = 1"
	# session mode: one server session per client connection, for its life
	start_pgbouncer sess 6433 "pool_mode = session" "default_pool_size = 10"
	ferry-extract --source dbname=pl_src --query "SELECT 1 AS id, 'x' AS name" --key id -o "$BATS_FILE_TMPDIR/one.zst"
}

teardown_file() {
	PGB=$(cat "$BATS_FILE_TMPDIR/pgb")
	local n
	for n in txn rr sess; do
		stop_pgbouncer "$n"
	done
	rm -rf "$PGB"
	drop_dbs
}

setup() {
	PGB=$(cat "$BATS_FILE_TMPDIR/pgb")
	unset FERRY_SOURCE FERRY_TARGET
}

# via NAME DB: the conninfo of DB through PgBouncer NAME
via() {
	case $1 in
	txn) echo "host=$PGB port=6432 dbname=$2" ;;
	sess) echo "host=$PGB port=6433 dbname=$2" ;;
	rr) echo "host=$PGB port=6434 dbname=$2" ;;
	esac
}

# clients_of DB: the server sessions of DB other than ours (PgBouncer's)
clients_of() {
	q1 -d "$1" -c "SELECT count(*) FROM pg_stat_activity
		WHERE datname = '$1' AND pid <> pg_backend_pid() AND state = 'active'"
}

# advisory_locks DB CONDITION N: N advisory locks of DB are "granted" or "not granted"
advisory_locks() {
	[ "$(q1 -d "$1" -c "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
		WHERE l.locktype = 'advisory' AND d.datname = '$1' AND $2")" = "$3" ]
}

@test "the pooler really pools by transaction: two transactions of one idle connection see one server session, as the old check saw" {
	new_db pl_probe
	# what ferry checked before (a session setting across transactions of
	# one connection) passes on an idle transaction pooler: that is why a
	# second connection is needed
	run q1 -d "$(via txn pl_probe)" <<'SQL'
SELECT set_config('x.probe', 'kept', false), pg_backend_pid() AS pid \gset
SELECT current_setting('x.probe', true), pg_backend_pid() = :pid;
SELECT current_setting('x.probe', true), pg_backend_pid() = :pid;
SQL
	assert_exit 0
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[0]}" = "kept|t" ]
	[ "${lines[1]}" = "kept|t" ]
	# and yet it is a transaction pooler: a second connection, opened
	# between two transactions of the first, lands in the server session
	# the first has just released
	export OTHER BATS_TEST_TMPDIR
	OTHER=$(via txn pl_probe)
	run q1 -d "$(via txn pl_probe)" <<'SQL'
SELECT pg_backend_pid() AS pid \gset
\! psql -X -qAt -d "$OTHER" -c "select pg_backend_pid()" >"$BATS_TEST_TMPDIR/other"
\echo :pid
SQL
	assert_exit 0
	[ -n "$output" ]
	[ "$(cat "$BATS_TEST_TMPDIR/other")" = "$output" ]
}

@test "ferry-load through an idle transaction pooler: refused every time, one line, exit 4, nothing loaded" {
	new_db pl_load
	q -d pl_load -c "CREATE TABLE one (id int, name text)"
	local i
	for i in 1 2 3 4 5; do
		# idle: no other client is in the pooler
		[ "$(clients_of pl_load)" = 0 ]
		run --separate-stderr ferry-load --target "$(via txn pl_load)" --table one "$BATS_FILE_TMPDIR/one.zst"
		assert_exit 4
		[ "$(printf '%s\n' "$stderr" | grep -c .)" -eq 1 ]
		[[ $stderr == *"port=6432"*"looks like a transaction-mode connection pooler ("*"); ferry-load needs a session: connect directly to PostgreSQL (Supabase: port 5432"* ]]
		[ "$(q1 -d pl_load -c "SELECT count(*) FROM one")" -eq 0 ]
	done
	# --check-session says so on stdout, for the driver
	run --separate-stderr ferry-load --check-session --target "$(via txn pl_load)"
	assert_exit 4
	[ "$output" = pooler ]
	# the same load straight to the server goes in
	run ferry-load --target dbname=pl_load --table one "$BATS_FILE_TMPDIR/one.zst"
	assert_exit 0
	[ "$(q1 -d pl_load -c "SELECT count(*) FROM one")" -eq 1 ]
	run --separate-stderr ferry-load --check-session --target dbname=pl_load
	assert_exit 0
	[ "$output" = session ]
}

@test "a transaction pooler that takes its idle servers in turn (server_round_robin) is refused too" {
	new_db pl_rr
	# three server sessions in the pool: three clients held in a transaction
	# at once, behind an advisory lock that a direct session holds
	PGAPPNAME=pl_holder psql -X -q -d pl_rr -c "SELECT pg_advisory_lock(42), pg_sleep(600)" >/dev/null 2>&1 3>&- &
	wait_until 20 advisory_locks pl_rr granted 1
	local pids=() i
	for i in 1 2 3; do
		psql -X -qAt -d "$(via rr pl_rr)" -c "SELECT pg_advisory_xact_lock_shared(42)" >/dev/null 3>&- &
		pids+=($!)
	done
	wait_until 20 advisory_locks pl_rr "not granted" 3
	q1 -d pl_rr -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pl_holder'" >/dev/null
	wait "${pids[@]}"
	[ "$(q1 -d pl_rr -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'pl_rr' AND pid <> pg_backend_pid()")" -ge 3 ]
	for i in 1 2 3; do
		run --separate-stderr ferry-load --check-session --target "$(via rr pl_rr)"
		assert_exit 4
		[ "$output" = pooler ]
		[[ $stderr == *"looks like a transaction-mode connection pooler"* ]]
	done
}

@test "ferry init through an idle transaction pooler: refused with the documented line, no ferry schema" {
	new_db pl_init
	run ferry init --target "$(via txn pl_init)"
	assert_exit 4
	[ "$output" = "ferry: error: $POOLER_MSG" ]
	[ "$(q1 -d pl_init -c "SELECT to_regnamespace('ferry') IS NULL")" = t ]
}

@test "ferry run and resume through an idle transaction pooler: refused before anything is written" {
	clone_db pl_tmpl pl_run
	run ferry run --source dbname=pl_src --target "$(via txn pl_run)" --plan "$DEMO_PLAN" \
		--min-success "$DEMO_MIN" --run-id pooled --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 4
	# the plan's check, then the refusal
	[ "$(grep -c error <<<"$output")" -eq 1 ]
	[ "${lines[-1]}" = "ferry: error: $POOLER_MSG" ]
	[ "$(q1 -d pl_run -c "SELECT count(*) FROM ferry.runs")" -eq 0 ]
	[ "$(q1 -d pl_run -c "SELECT count(*) FROM ferry.audit_log")" -eq 0 ]
	[ "$(q1 -d pl_run -c "SELECT count(*) FROM public.offices")" -eq 0 ]
	[ ! -e "$BATS_TEST_TMPDIR/w" ]
	run ferry resume --source dbname=pl_src --target "$(via txn pl_run)"
	assert_exit 4
	[ "$output" = "ferry: error: $POOLER_MSG" ]
}

@test "a session-mode pooler is accepted: ferry-load, ferry init and a run through it" {
	new_db pl_sess_load
	q -d pl_sess_load -c "CREATE TABLE one (id int, name text)"
	run --separate-stderr ferry-load --check-session --target "$(via sess pl_sess_load)"
	assert_exit 0
	[ "$output" = session ]
	run ferry-load --target "$(via sess pl_sess_load)" --table one "$BATS_FILE_TMPDIR/one.zst"
	assert_exit 0
	[ "$(q1 -d pl_sess_load -c "SELECT count(*) FROM one")" -eq 1 ]

	clone_db pl_dst pl_sess
	local target
	target=$(via sess pl_sess)
	run ferry init --target "$target"
	assert_exit 0
	[ "$(q1 -d pl_sess -c "SELECT to_regclass('ferry.runs') IS NOT NULL")" = t ]
	run ferry run --source dbname=pl_src --target "$target" --plan "$DEMO_PLAN" --only offices,profiles \
		--min-success 0 --run-id sess --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	[ "$(q1 -d pl_sess -c "SELECT count(*) FROM public.offices")" -gt 0 ]
	[ "$(q1 -d pl_sess -c "SELECT status FROM ferry.runs WHERE run_id = 'sess'")" = done ]
}
