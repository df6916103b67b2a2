#!/usr/bin/env bash
# image.sh IMAGE: the container image at work (not part of make check: it
# needs an engine, and a build takes minutes).  Needs a PostgreSQL of
# tests/pgserver.sh (PGHOST a socket directory, PGPORT) and the demo
# databases SRC and DST (an empty destination schema) made by the caller:
#
#   eval "$(tests/pgserver.sh start)"
#   createdb img_src; psql -d img_src -v scale=1 -f examples/demo/legacy-schema.sql \
#       -f examples/demo/legacy-data.sql
#   createdb img_dst; psql -d img_dst -f examples/demo/destination-schema.sql
#   ENGINE='podman --storage-driver vfs --runtime runc' tests/image.sh localhost/ferry:test
#
# In the image, as its own user, over the server's socket and no network:
# ferry init, run, verify and status of the demo; then ferry-serve, asked
# with curl: /runs/RUN is "ferry status RUN --json", /verify the report,
# /metrics passes promtool (on this host), 401 without a token.
set -eu

image=${1:?usage: image.sh IMAGE}
engine=(${ENGINE:-podman})
src=${SRC:-img_src} dst=${DST:-img_dst}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/ferry-image.XXXXXX)
trap 'rm -rf "$work"' EXIT

cp "$top/examples/demo.plan" "$work/"
printf 'metrics %s\nread %s\n' "$(openssl rand -hex 24)" "$(openssl rand -hex 24)" >"$work/tokens"
chmod 600 "$work/tokens"
# the image's user (uid 10001) owns what it writes and reads
chown -R 10001:10001 "$work"
chmod 755 "$work"
run=(run --rm --network=none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096
	-v "$PGHOST:/pg" -v "$work:/home/ferry/work" -w /home/ferry/work
	-e "FERRY_SOURCE=host=/pg port=$PGPORT dbname=$src user=${PGUSER:-postgres}"
	-e "FERRY_TARGET=host=/pg port=$PGPORT dbname=$dst user=${PGUSER:-postgres}")

echo "image.sh: the user: $("${engine[@]}" "${run[@]}" "$image" id -un)"
[ "$("${engine[@]}" "${run[@]}" "$image" id -u)" != 0 ]
"${engine[@]}" "${run[@]}" "$image" sh -c 'man -w ferry-serve && ls /usr/local/share/ferry/sql/status.sql'
"${engine[@]}" "${run[@]}" "$image" sh -c 'ferry init && ferry run --plan demo.plan --min-success 99 --run-id img1 &&
	ferry verify --run img1 --min-success 99 && ferry status img1 --json >status.json'
"${engine[@]}" "${run[@]}" "$image" sh -c '
	ferry-serve --tokens tokens --listen 127.0.0.1:9471 2>serve.log & pid=$!
	i=0
	until curl -s -o /dev/null http://127.0.0.1:9471/healthz; do
		i=$((i + 1)); [ $i -lt 300 ] || { cat serve.log; exit 1; }
		sleep 0.1
	done
	R="Authorization: Bearer $(awk "\$1 == \"read\" {print \$2}" tokens)"
	M="Authorization: Bearer $(awk "\$1 == \"metrics\" {print \$2}" tokens)"
	curl -sf -H "$R" http://127.0.0.1:9471/runs/img1 >served.json
	curl -sf -H "$R" http://127.0.0.1:9471/runs/img1/verify >verify-served.json
	curl -sf -H "$M" http://127.0.0.1:9471/metrics >metrics.prom
	curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:9471/runs >noauth.code
	kill $pid; wait $pid'
diff <(jq -S . "$work/status.json") <(jq -S . "$work/served.json")
diff <(jq -S . "$work/ferry-runs/img1/verify.json") <(jq -S . "$work/verify-served.json")
promtool check metrics <"$work/metrics.prom"
[ "$(cat "$work/noauth.code")" = 401 ]
echo "image.sh: $image: ferry run, verify, status and ferry-serve work"
