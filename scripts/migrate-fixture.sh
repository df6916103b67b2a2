#!/usr/bin/env bash
# migrate-fixture.sh FIXTURE_DIR PLAN [SCALE]: migrate a dispatch-style
# fixture (legacy-schema.sql, legacy-data.sql, destination-schema.sql) into
# its destination on a throwaway server with "ferry init && ferry run", then
# "ferry verify".  Used by .ci/run for ../shared/fixtures/dispatch.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
fixture=$(cd "${1:?usage: migrate-fixture.sh FIXTURE_DIR PLAN [SCALE]}" && pwd)
plan=$(cd "$(dirname "${2:?plan}")" && pwd)/$(basename "$2")
scale=${3:-1}

"$top/scripts/install-deps.sh"
make -C "$top" --no-print-directory all >/dev/null
export PATH="$top/build/release/bin:$top/scripts:$PATH"

srv=$("$top/tests/pgserver.sh" start)
eval "$srv"
work=$(mktemp -d /tmp/ferry-fixture.XXXXXX)
trap '"$top/tests/pgserver.sh" stop "$PGSERVER_DIR"; rm -rf "$work"' EXIT

createdb fixture_legacy
createdb fixture_dest
echo "migrate-fixture: loading $fixture at scale $scale" >&2
psql -X -q -d fixture_legacy -v scale="$scale" -f "$fixture/legacy-schema.sql" -f "$fixture/legacy-data.sql"
psql -X -q -d fixture_dest -f "$fixture/destination-schema.sql"

export FERRY_SOURCE=dbname=fixture_legacy FERRY_TARGET=dbname=fixture_dest
cd "$work"
ferry init
ferry run --plan "$plan"
ferry verify --plan "$plan"
echo "migrate-fixture: $fixture at scale $scale migrated and verified" >&2

# the dispatch fixture's comment catalogue, id by id (needs the fixture's README)
if [ -f "$fixture/README.md" ] && grep -q dispatch_comment "$fixture/legacy-schema.sql"; then
	FERRY_SHARED=$(cd "$fixture/../.." && pwd) "$top/tests/fixtures/dispatch-comments.sh" "$scale"
fi
