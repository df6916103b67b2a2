#!/usr/bin/env bash
# pgserver.sh: a throwaway PostgreSQL 15 server for tests, demos and benchmarks.
#
#   eval "$(tests/pgserver.sh start [DIR])"   # prints PGHOST/PGPORT/PGUSER exports
#   tests/pgserver.sh stop DIR                 # stops the server and removes DIR
#
# The server lives in DIR (a new temporary directory by default), listens
# only on a Unix socket inside DIR on its own port, trusts local
# connections, and runs as the 'postgres' user when started by root
# (initdb refuses to run as root).  Settings favour speed over durability:
# it is thrown away afterwards.
set -eu

PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}

as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

free_port() {
	local port
	for port in $(seq "${PGSERVER_PORT:-54329}" 55400); do
		if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null &&
		   [ ! -e "/tmp/.s.PGSQL.$port" ] &&
		   ! ls /tmp/ferry-pg.*/.s.PGSQL."$port" >/dev/null 2>&1; then
			echo "$port"
			return 0
		fi
	done
	echo "pgserver.sh: no free port" >&2
	return 1
}

start() {
	local dir=${1:-}
	[ -x "$PG_BINDIR/initdb" ] || {
		echo "pgserver.sh: $PG_BINDIR/initdb not found (install postgresql-15)" >&2
		exit 1
	}
	if [ -z "$dir" ]; then
		dir=$(mktemp -d /tmp/ferry-pg.XXXXXX)
	else
		mkdir -p "$dir"
	fi
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	local port
	port=$(free_port)
	as_owner "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth=trust \
		-E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2
		exit 1
	}
	cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = ${PGSERVER_SHARED_BUFFERS:-256MB}
max_wal_size = 4GB
max_connections = 60
timezone = 'UTC'
EOF
	as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null || {
		cat "$dir/server.log" >&2
		exit 1
	}
	echo "export PGHOST='$dir' PGPORT='$port' PGUSER=postgres PGSERVER_DIR='$dir'"
}

stop() {
	local dir=${1:?usage: pgserver.sh stop DIR}
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_owner "$PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	case "$dir" in
	/tmp/ferry-pg.*) rm -rf "$dir" ;;
	esac
}

case "${1:-}" in
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
*) echo "usage: pgserver.sh start [DIR] | stop DIR" >&2; exit 2 ;;
esac
