#!/usr/bin/env bats
# Secrets (issue 9): a password given in the connection string, in
# PGPASSWORD or in a password file never shows on any process's command
# line, in the stages' environment, in logs, audit rows, reject files,
# error messages, reports or the plan.  The server asks this role for its
# password (scram-sha-256), so a run that works proves the password was
# handed over; every program ferry starts goes through a shim that records
# its command line and environment, so none is missed by sampling ps.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

SECRET='Pw-7f3e:9\q%x'
ROLE=ferry_pw

setup_file() {
	demo_dbs sc_src sc_tmpl 1
	q -d sc_tmpl -f "$FERRY_REPO/scripts/sql/ferry-schema.sql" >/dev/null
	# the role must give its password: hba asks it for one, first line wins
	q -d postgres -c "DROP ROLE IF EXISTS $ROLE" >/dev/null
	q -d postgres -v pw="$SECRET" <<<"CREATE ROLE $ROLE LOGIN SUPERUSER PASSWORD :'pw'" >/dev/null
	local hba
	hba=$(q1 -d postgres -c "SHOW hba_file")
	cp "$hba" "$BATS_FILE_TMPDIR/hba.orig"
	{ echo "local all $ROLE scram-sha-256"; cat "$BATS_FILE_TMPDIR/hba.orig"; } >"$hba"
	q1 -d postgres -c "SELECT pg_reload_conf()" >/dev/null
	# the shims: every program found in PATH (ferry's own, psql, mktemp, jq,
	# sed, date ...: whatever the driver may start) records its command line
	# and its environment (as the kernel handed it over) before it runs, so
	# that none is missed, whether the driver names it today or not.  Not
	# ferry and ferry-cleanup: the driver itself, which `ferry cleanup`
	# becomes by exec; their command line and environment are the caller's.
	local shim=$BATS_FILE_TMPDIR/shim body dir f name q_real dirs
	mkdir -p "$shim"
	# each shim: real=PATH, then this: append the command line and the
	# environment to seen, then become the real program
	body=$(cat <<EOF
# an interpreter started on the driver itself (its #! line): the caller's
case \${1:-} in */scripts/ferry|*/scripts/ferry-cleanup) exec "\$real" "\$@" ;; esac
printf -v args ' %q' "\$@"
rec="ARGV \$real\$args"\$'\\n'
while IFS= read -r -d '' v; do rec+="ENV \$v"\$'\\n'; done </proc/\$\$/environ
printf '%s' "\$rec" >>"$BATS_FILE_TMPDIR/seen"
exec "\$real" "\$@"
EOF
)
	IFS=: read -ra dirs <<<"$PATH"
	for dir in "${dirs[@]}"; do
		for f in "$dir"/*; do
			name=${f##*/}
			case $name in ferry|ferry-cleanup|*[!A-Za-z0-9._+-]*) continue ;; esac
			if [ -f "$f" ] && [ -x "$f" ] && [ ! -e "$shim/$name" ]; then
				printf -v q_real %q "$f"
				printf '#!/bin/bash\nreal=%s\n%s\n' "$q_real" "$body" >"$shim/$name"
			fi
		done
	done
	chmod +x "$shim"/*
	ls "$shim" | wc -l >"$BATS_FILE_TMPDIR/shims"
}

teardown_file() {
	local hba
	hba=$(q1 -d postgres -c "SHOW hba_file")
	cp "$BATS_FILE_TMPDIR/hba.orig" "$hba"
	q1 -d postgres -c "SELECT pg_reload_conf()" >/dev/null
	drop_dbs
	q -d postgres -c "DROP ROLE IF EXISTS $ROLE" >/dev/null 2>&1 || true
}

setup() {
	unset FERRY_SOURCE FERRY_TARGET PGPASSWORD PGPASSFILE
	SHIM=$BATS_FILE_TMPDIR/shim
	export HOME=$BATS_TEST_TMPDIR
	export TMPDIR=$BATS_TEST_TMPDIR/tmp
	mkdir -p "$TMPDIR"
	: >"$BATS_FILE_TMPDIR/seen"
	# the secret as the shims' %q and env would print it, and as JSON would
	SECRET_Q=$(printf '%q' "$SECRET")
	SECRET_J=${SECRET//\\/\\\\}
}

# the test's own commands run past the shims (their environment is the
# test's, which holds the password); ferry runs with the shims first in
# its PATH, so that every program it starts goes through one
qr() { q1 "$@"; }
ferry() { (PATH=$SHIM:$PATH && exec ferry "$@"); }

# uri_escape S: S percent-encoded for a URI's userinfo
uri_escape() {
	local s=$1 i c out=
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	echo "$out"
}

# no_secret_in FILE...: the password appears in none of them, in any form
no_secret_in() {
	local f
	for f in "$@"; do
		if grep -rqF -e "$SECRET" -e "$SECRET_Q" -e "$SECRET_J" -e 'Pw-7f3e' "$f"; then
			echo "the password is in $f:" >&2
			grep -rnF -e 'Pw-7f3e' "$f" | head -n 5 >&2
			return 1
		fi
	done
}

# the books and the destination: nothing of ferry's schema holds it
no_secret_in_db() {
	pg_dump -d "$1" -n ferry -n ferry_backup --data-only >"$BATS_TEST_TMPDIR/books.sql"
	no_secret_in "$BATS_TEST_TMPDIR/books.sql"
	[ -s "$BATS_TEST_TMPDIR/books.sql" ]
}

# seen_ok N [PROGRAM...]: at least N programs were started, these among
# them, and no command line or environment any of them got holds the password
seen_ok() {
	local n p
	n=$(grep -c '^ARGV ' "$BATS_FILE_TMPDIR/seen")
	echo "programs started: $n" >&2
	[ "$n" -ge "$1" ]
	shift
	for p in "$@"; do
		grep -q "^ARGV [^ ]*/$p\( \|\$\)" "$BATS_FILE_TMPDIR/seen" || { echo "$p was not started" >&2; return 1; }
	done
	no_secret_in "$BATS_FILE_TMPDIR/seen"
}

@test "the role really needs its password: a wrong one is refused (exit 4), a right one works" {
	run env FERRY_TARGET="dbname=postgres user=$ROLE password=wrong" ferry status
	assert_exit 4
	assert_contains "cannot connect to the target database"
	run env PGPASSWORD="$SECRET" psql -X -qAt -d "dbname=postgres user=$ROLE" -c "select current_user"
	assert_exit 0
	[ "$output" = "$ROLE" ]
}

@test "a password in FERRY_SOURCE / FERRY_TARGET: init, plan, run, status, verify, rollback; it is nowhere" {
	clone_db sc_tmpl sc_a
	local esc=${SECRET//\\/\\\\}
	export FERRY_SOURCE="dbname=sc_src user=$ROLE password='${esc//\'/\\\'}'"
	export FERRY_TARGET="postgresql://$ROLE:$(uri_escape "$SECRET")@/sc_a?host=$PGHOST&port=$PGPORT"
	local w=$BATS_TEST_TMPDIR/w out=$BATS_TEST_TMPDIR/out
	ferry init >"$out.init" 2>&1
	ferry plan -o "$BATS_TEST_TMPDIR/generated.plan" >"$out.plan" 2>&1
	[ -s "$BATS_TEST_TMPDIR/generated.plan" ]
	run ferry run --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" --run-id sa --workdir "$w"
	echo "$output" >"$out.run"
	assert_exit 0
	# rows really arrived, through the password-protected role
	[ "$(qr -d sc_a -c "SELECT count(*) FROM public.orders")" -gt 0 ]
	ferry status >"$out.status" 2>&1
	ferry status sa >>"$out.status" 2>&1
	run ferry verify --min-success "$DEMO_MIN"
	echo "$output" >"$out.verify"
	assert_exit 0
	run ferry rollback sa
	echo "$output" >"$out.rollback"
	assert_exit 0
	[ "$(qr -d sc_a -c "SELECT count(*) FROM public.orders")" -eq 0 ]
	ls "$w" "$w/log" >&2
	[ -s "$w/rejects.jsonl" ]
	no_secret_in "$w" "$BATS_TEST_TMPDIR/generated.plan" "$out".*
	no_secret_in_db sc_a
	# mktemp makes the private directory while the passwords are moved there
	seen_ok 20 mktemp ferry-conninfo psql ferry-extract ferry-transform ferry-load \
		ferry-plan ferry-verify ferry-books
	# the password file ferry made for the run is gone with it
	! ls "$TMPDIR"/ferry-secret.* 2>/dev/null | grep -q .
}

@test "a password on ferry's own command line (--target): the programs it starts never see it" {
	clone_db sc_tmpl sc_b
	run ferry run --source "dbname=sc_src user=$ROLE password=$SECRET_Q" \
		--target "dbname=sc_b user=$ROLE password=$SECRET_Q" \
		--plan "$DEMO_PLAN" --only offices,profiles --min-success 0 --run-id sb --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	no_secret_in <(echo "$output") "$BATS_TEST_TMPDIR/w"
	[ "$(qr -d sc_b -c "SELECT count(*) FROM public.offices")" -gt 0 ]
	seen_ok 5
}

@test "PGPASSWORD: used, and in no program's command line or environment, no log, not in the books" {
	clone_db sc_tmpl sc_c
	export PGPASSWORD=$SECRET FERRY_SOURCE="dbname=sc_src user=$ROLE" FERRY_TARGET="dbname=sc_c user=$ROLE"
	run ferry run --plan "$DEMO_PLAN" --only offices,profiles --min-success 0 --run-id sc --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	[ "$(qr -d sc_c -c "SELECT count(*) FROM public.offices")" -gt 0 ]
	no_secret_in <(echo "$output") "$BATS_TEST_TMPDIR/w"
	no_secret_in_db sc_c
	# moved to the private password file too: in no program's environment
	seen_ok 5 mktemp ferry-conninfo psql ferry-extract ferry-load
}

@test "a password file (PGPASSFILE): used, and the run's outputs never hold it" {
	clone_db sc_tmpl sc_d
	local esc=${SECRET//\\/\\\\}
	printf '*:*:*:%s:%s\n' "$ROLE" "${esc//:/\\:}" >"$BATS_TEST_TMPDIR/pgpass"
	chmod 600 "$BATS_TEST_TMPDIR/pgpass"
	export PGPASSFILE=$BATS_TEST_TMPDIR/pgpass FERRY_SOURCE="dbname=sc_src user=$ROLE" FERRY_TARGET="dbname=sc_d user=$ROLE"
	run ferry run --plan "$DEMO_PLAN" --only offices,profiles --min-success 0 --run-id sd --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	[ "$(qr -d sc_d -c "SELECT count(*) FROM public.offices")" -gt 0 ]
	no_secret_in <(echo "$output") "$BATS_TEST_TMPDIR/w"
	no_secret_in_db sc_d
	seen_ok 5
}

@test "a password in the conninfo with PGPASSWORD set to another: the conninfo's wins, as in libpq" {
	clone_db sc_tmpl sc_e
	export PGPASSWORD=not-this-one
	export FERRY_SOURCE="dbname=sc_src user=$ROLE password=$SECRET_Q" FERRY_TARGET="dbname=sc_e user=$ROLE password=$SECRET_Q"
	run ferry run --plan "$DEMO_PLAN" --only offices --min-success 0 --run-id se --workdir "$BATS_TEST_TMPDIR/w"
	assert_exit 0
	[ "$(qr -d sc_e -c "SELECT count(*) FROM public.offices")" -gt 0 ]
	seen_ok 3
}

@test "ferry cleanup with a password in --target: no program it starts gets it, on its command line or in its environment" {
	clone_db sc_tmpl sc_f
	printf 'public.offices.no_such_column\n' >"$BATS_TEST_TMPDIR/cols.txt"
	run ferry cleanup analyse --columns "$BATS_TEST_TMPDIR/cols.txt" \
		--target "dbname=sc_f user=$ROLE password=$SECRET_Q"
	echo "$output"
	# it connected (a wrong password would be exit 4) and judged the list
	[ "$status" -ne 4 ]
	no_secret_in <(echo "$output")
	seen_ok 1
}

@test "ferry-conninfo: passwords out of URIs and key=value strings, escaped in the file, mode 0600" {
	export A="postgresql://u1:p%3Aw@h1:5433/d1?sslmode=verify-full" B="host=/tmp/s dbname=d2 user=u2 password='a b\\\\c'"
	run ferry-conninfo --passfile "$BATS_TEST_TMPDIR/pf" A B
	assert_exit 0
	[ "${lines[0]}" = "user='u1' dbname='d1' host='h1' port='5433' sslmode='verify-full' passfile='$BATS_TEST_TMPDIR/pf'" ]
	[ "${lines[1]}" = "user='u2' dbname='d2' host='/tmp/s' passfile='$BATS_TEST_TMPDIR/pf'" ]
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/pf")" = 600 ]
	[ "$(sed -n 1p "$BATS_TEST_TMPDIR/pf")" = 'h1:5433:d1:u1:p\:w' ]
	[ "$(sed -n 2p "$BATS_TEST_TMPDIR/pf")" = '*:*:d2:u2:a b\\c' ]
	# --stdin: NAME=VALUE lines instead of the environment, PGPASSWORD among them
	run ferry-conninfo --passfile "$BATS_TEST_TMPDIR/pf4" --stdin A <<<"A=dbname=d4 user=u4 password=s4
PGPASSWORD=p4"
	assert_exit 0
	[ "$output" = "user='u4' dbname='d4' passfile='$BATS_TEST_TMPDIR/pf4'" ]
	[ "$(sed -n 1p "$BATS_TEST_TMPDIR/pf4")" = '*:*:d4:u4:s4' ]
	[ "$(sed -n 2p "$BATS_TEST_TMPDIR/pf4")" = '*:*:*:*:p4' ]
	# PGPASSWORD alone is moved too
	run ferry-conninfo --passfile "$BATS_TEST_TMPDIR/pf5" --stdin A <<<"A=dbname=d5
PGPASSWORD=p5"
	assert_exit 0
	[ "$output" = "dbname='d5' passfile='$BATS_TEST_TMPDIR/pf5'" ]
	[ "$(cat "$BATS_TEST_TMPDIR/pf5")" = '*:*:*:*:p5' ]
	# a line that is not NAME=VALUE: exit 2, the line not repeated
	run ferry-conninfo --passfile "$BATS_TEST_TMPDIR/pf6" --stdin A <<<"password hush"
	assert_exit 2
	assert_contains "line 1 of standard input is not NAME=VALUE"
	[[ $output != *hush* ]]
	[ ! -e "$BATS_TEST_TMPDIR/pf6" ]
	# no password: strings unchanged, no file
	export C="dbname=x user=y"
	run ferry-conninfo --passfile "$BATS_TEST_TMPDIR/pf2" C
	assert_exit 0
	[ "$output" = "dbname=x user=y" ]
	[ ! -e "$BATS_TEST_TMPDIR/pf2" ]
	# a string libpq cannot parse: exit 2, the variable named, not its value
	export D="host=h password=hush nonsense"
	run ferry-conninfo --passfile "$BATS_TEST_TMPDIR/pf3" D
	assert_exit 2
	assert_contains "D is not a valid connection string"
	[[ $output != *hush* ]]
}
