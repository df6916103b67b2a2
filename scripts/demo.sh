#!/usr/bin/env bash
# demo.sh: ferry's demo, start to finish, in one command.
#
#   scripts/demo.sh [--keep]          (or: make demo)
#   SCALE=10 scripts/demo.sh          a bigger legacy database (default 1)
#
# Installs the Debian packages ferry needs (scripts/install-deps.sh),
# builds it (make), starts a throwaway PostgreSQL 15 (tests/pgserver.sh),
# creates two databases from examples/demo:
#   demo_legacy  the Lumen Optical Lab legacy database at scale $SCALE
#   demo_dest    its empty Supabase-shaped destination
# and migrates one into the other with the ferry driver:
#   ferry init
#   ferry plan > build/demo/generated.plan     the generator's draft, with its TODOs
#   ferry run --plan examples/demo.plan        the same plan, finished by hand
#   ferry verify --plan examples/demo.plan
# (both with --min-success 99: see examples/demo/README.md, "Migrating it")
# examples/demo.plan is the generated plan with its TODO resolved and a policy
# for every anomaly of examples/demo/README.md; diff it with the draft to see
# the hand edits.  The run's logs and rejects are in build/demo/ferry-runs/.
#
# The server is stopped when the script ends, also on error or Ctrl-C.
# With --keep it is left running (even after an error, to look around) and
# the script prints how to connect to it and how to stop it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
keep=0
for arg in "$@"; do
	case "$arg" in
	--keep) keep=1 ;;
	-h|--help) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "demo.sh: unknown argument: $arg (usage: scripts/demo.sh [--keep])" >&2; exit 2 ;;
	esac
done
scale=${SCALE:-1}
case "$scale" in
''|*[!0-9]*|0) echo "demo.sh: SCALE must be a positive integer, got '$scale'" >&2; exit 2 ;;
esac

step() { printf 'demo: %s\n' "$*" >&2; }

cd "$top"

step "installing the Debian packages ferry needs (if missing)"
scripts/install-deps.sh

step "building (make)"
make --no-print-directory

step "starting a throwaway PostgreSQL"
srv=$("$top/tests/pgserver.sh" start)
eval "$srv"
export PGHOST PGPORT PGUSER PGSERVER_DIR

finish() {
	local rc=$?
	if [ "$keep" = 1 ]; then
		cat >&2 <<EOF
demo: the server is still running (--keep).  To connect:
  export PGHOST='$PGHOST' PGPORT='$PGPORT' PGUSER='$PGUSER'
  psql -d demo_legacy        # the legacy database
  psql -d demo_dest          # the destination
demo: to stop it and remove its files:
  tests/pgserver.sh stop '$PGSERVER_DIR'
EOF
	else
		"$top/tests/pgserver.sh" stop "$PGSERVER_DIR"
	fi
	if [ "$rc" -ne 0 ]; then
		step "failed (exit $rc)"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

step "creating demo_legacy (examples/demo, scale $scale)"
createdb demo_legacy
psql_q -d demo_legacy -v scale="$scale" \
	-f examples/demo/legacy-schema.sql -f examples/demo/legacy-data.sql

step "creating demo_dest (examples/demo/destination-schema.sql)"
createdb demo_dest
psql_q -d demo_dest -f examples/demo/destination-schema.sql

# the programs just built come first
export PATH="$top/build/release/bin:$top/scripts:$PATH"
export FERRY_SOURCE="dbname=demo_legacy"
export FERRY_TARGET="dbname=demo_dest"

mkdir -p build/demo
cd build/demo

step "ferry init"
ferry init

step "ferry plan > build/demo/generated.plan (the generator's draft)"
ferry plan > generated.plan
# the draft cannot run until its TODOs are dealt with: ferry-plan check lists them
todos=$(ferry-plan check generated.plan 2>&1 | grep -c ': TODO: ' || true)
step "the draft has $todos TODO(s) left for a person; examples/demo.plan is the same plan finished by hand:"
ferry-plan check generated.plan 2>&1 | grep ': TODO: ' | sed 's/^/demo:   /' >&2 || true

# the catalogue's unrecoverable rows (comments on deleted or removed objects,
# orders of deleted patients and their items and events) are 0.7 % of the
# rows: the bar is 99 % here, for the run and its verification
# (examples/demo/README.md, "Migrating it")
step "ferry run --plan examples/demo.plan --min-success 99"
ferry run --plan "$top/examples/demo.plan" --min-success 99

step "ferry verify --plan examples/demo.plan --min-success 99"
ferry verify --plan "$top/examples/demo.plan" --min-success 99

step "done: demo_legacy (scale $scale) migrated into demo_dest; draft plan in build/demo/generated.plan"
