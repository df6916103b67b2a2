#!/usr/bin/env bash
# install-deps.sh: install the Debian packages ferry builds, tests and
# benchmarks with, when they are missing.  Needs root (or sudo) only when
# something is missing.  --bench: also the peers "make bench" compares
# ferry with (pgcopydb).
set -eu

packages="gcc make pkg-config libc6-dev libpq-dev libmsgpack-dev libzstd-dev
libxxhash-dev libssl-dev postgresql-15 postgresql-client-15 bats jq zstd time procps
bsdextrautils clang libclang-rt-14-dev pgbouncer libmicrohttpd-dev curl openssl
prometheus"
[ "${1:-}" = --bench ] && packages="$packages pgcopydb util-linux"

missing=
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing" >&2
sudo=
[ "$(id -u)" = 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# the server is started by tests/pgserver.sh, never as a system service
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
