#!/usr/bin/env bats
# ferry-serve (issue 18): ferry's runs over HTTP, read only, checked with
# curl against a migrated and verified demo.
#
# The server reads the books as sv_monitor, a role with the GRANTs of
# docs/operations.md and nothing more (SELECT on schema ferry).  Each
# server listens on port 0 (a free port, said on its stderr): a test
# waits for that line, then for /healthz to answer, with a deadline.
# Moments are made certain by the server itself (a connection it refuses,
# a connection it closes), never by sleeping.

load helpers
load driver-helpers
bats_require_minimum_version 1.5.0

W=$BATS_FILE_TMPDIR

setup_file() {
	q -d postgres <<'SQL'
DROP ROLE IF EXISTS sv_monitor;
CREATE ROLE sv_monitor LOGIN;
SQL
	demo_dbs sv_src sv_dst 1
	ferry init --target dbname=sv_dst >/dev/null
	# one full run with --metrics, then its verify report (WORKDIR/verify.json)
	ferry run --source dbname=sv_src --target dbname=sv_dst --plan "$DEMO_PLAN" --min-success "$DEMO_MIN" \
		--run-id r1 --workdir "$W/r1" --metrics "$W/r1.prom" >"$W/r1.out" 2>&1 || {
		cat "$W/r1.out" >&2
		return 1
	}
	ferry verify --source dbname=sv_src --target dbname=sv_dst --run r1 --min-success "$DEMO_MIN" \
		>"$W/verify.out" 2>&1 || {
		cat "$W/verify.out" >&2
		return 1
	}
	# an older run that failed at once, without a working directory (a second page of /runs)
	q -d sv_dst -c "INSERT INTO ferry.runs (run_id, kind, status, started_at, finished_at)
		VALUES ('r0', 'full', 'failed', now() - interval '1 day', now() - interval '1 day')"
	# the monitoring role's GRANTs (docs/operations.md)
	q -d sv_dst <<'SQL'
REVOKE ALL ON DATABASE sv_dst FROM PUBLIC;
GRANT CONNECT ON DATABASE sv_dst TO sv_monitor;
GRANT USAGE ON SCHEMA ferry TO sv_monitor;
GRANT SELECT ON ALL TABLES IN SCHEMA ferry TO sv_monitor;
SQL
	# a copy to take away (503)
	clone_db sv_dst sv_down
	q -d sv_down -c "GRANT CONNECT ON DATABASE sv_down TO sv_monitor"

	# the tokens: one of each scope, and the file only ours
	METRICS_TOKEN=$(openssl rand -hex 24)
	READ_TOKEN=$(openssl rand -hex 24)
	(umask 077 && printf '# scrapers\nmetrics %s\n\nread %s\n' "$METRICS_TOKEN" "$READ_TOKEN" >"$W/tokens")
	echo "$METRICS_TOKEN" >"$W/metrics.token"
	echo "$READ_TOKEN" >"$W/read.token"

	# the server most tests ask
	start_serve main --tokens "$W/tokens" --target "dbname=sv_dst user=sv_monitor"
	echo "$SERVE_URL" >"$W/main.url"
}

teardown_file() {
	local f
	for f in "$W"/*.serve.pid; do
		[ -f "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null || true
	done
	drop_dbs
	q -d postgres -c "DROP ROLE IF EXISTS sv_monitor" >/dev/null 2>&1 || true
}

setup() {
	URL=$(cat "$W/main.url")
	MT=$(cat "$W/metrics.token")
	RT=$(cat "$W/read.token")
}

# start_serve NAME ARGS...: ferry-serve ARGS on a free port of 127.0.0.1, its
# stderr in $W/NAME.log; sets SERVE_URL once the server answers /healthz
start_serve() {
	local name=$1 i port=
	shift
	local scheme=http
	[[ " $* " == *" --tls-cert "* ]] && scheme=https
	ferry-serve --listen 127.0.0.1:0 "$@" 2>"$W/$name.log" &
	echo $! >"$W/$name.serve.pid"
	for i in $(seq 1 600); do
		port=$(sed -n 's|.*listening on https\{0,1\}://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$W/$name.log")
		[ -n "$port" ] && break
		kill -0 "$(cat "$W/$name.serve.pid")" 2>/dev/null || { cat "$W/$name.log" >&2; return 1; }
		sleep 0.05
	done
	[ -n "$port" ] || { echo "ferry-serve $name did not say its port in 30 s" >&2; return 1; }
	SERVE_URL=$scheme://127.0.0.1:$port
	for i in $(seq 1 600); do
		[ "$(curl -s -k -o /dev/null -w '%{http_code}' "$SERVE_URL/healthz")" != 000 ] && return 0
		sleep 0.05
	done
	echo "ferry-serve $name did not answer /healthz in 30 s" >&2
	return 1
}

stop_serve() {
	local pid
	pid=$(cat "$W/$1.serve.pid")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	rm -f "$W/$1.serve.pid"
}

# get PATH [CURL ARGS...]: the status code in $code, the body in $BATS_TEST_TMPDIR/body
get() {
	local path=$1
	shift
	code=$(curl -s -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/headers" -w '%{http_code}' "$@" "$URL$path")
}
body() { cat "$BATS_TEST_TMPDIR/body"; }
# expect CODE: $code is CODE, and an error's body is a JSON error object
expect() {
	if [ "$code" != "$1" ]; then
		echo "expected HTTP $1, got $code: $(body)" >&2
		return 1
	fi
	if [ "$1" -ge 400 ] && [ "$1" -ne 414 ] && [ "$1" -ne 431 ]; then
		jq -e --argjson c "$1" '(.error | type == "string" and length > 0) and .status == $c' \
			"$BATS_TEST_TMPDIR/body" >/dev/null || { echo "not a JSON error: $(body)" >&2; return 1; }
	fi
}
header() { grep -i "^$1:" "$BATS_TEST_TMPDIR/headers" | tr -d '\r'; }

@test "GET /runs/{id} is the object of ferry status RUN --json, read by a role with SELECT on ferry only" {
	get /runs/r1 -H "Authorization: Bearer $RT"
	expect 200
	[ "$(header Content-Type)" = "Content-Type: application/json" ]
	ferry status r1 --json --target dbname=sv_dst >"$BATS_TEST_TMPDIR/status.json"
	diff <(jq -S . "$BATS_TEST_TMPDIR/status.json") <(jq -S . "$BATS_TEST_TMPDIR/body")
	jq -e '.run == "r1" and .state == "done" and (.entities | length) == 16' "$BATS_TEST_TMPDIR/body"
	# the run without entities too
	get /runs/r0 -H "Authorization: Bearer $RT"
	expect 200
	diff <(ferry status r0 --json --target dbname=sv_dst | jq -S .) <(jq -S . "$BATS_TEST_TMPDIR/body")
	# the role can do nothing but read: the server's sessions are sv_monitor's
	[ "$(q1 -d sv_dst -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry-serve'
		AND usename <> 'sv_monitor'")" = 0 ]
	[ "$(q1 -d sv_dst -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ferry-serve'")" -ge 1 ]
	run q1 -d sv_dst -U sv_monitor -c "DELETE FROM ferry.rejects"
	[ "$status" -ne 0 ]
	assert_contains "permission denied"
}

@test "GET /metrics: promtool accepts it, and it is the driver's --metrics file, live" {
	get /metrics -H "Authorization: Bearer $MT"
	expect 200
	[[ "$(header Content-Type)" == "Content-Type: text/plain; version=0.0.4"* ]]
	promtool check metrics <"$BATS_TEST_TMPDIR/body"
	# promtool can fail: a broken sample
	run promtool check metrics <<<$'# HELP x_total y\n# TYPE x_total counter\nx_total{a="b} 1'
	[ "$status" -ne 0 ]
	# every family and sample of the file ferry run --metrics wrote, in its order, the same
	# values; only the time it was written differs (here: the time of the scrape)
	diff <(grep -v '^ferry_metrics_updated_time_seconds' "$W/r1.prom") \
		<(grep -v '^ferry_metrics_updated_time_seconds' "$BATS_TEST_TMPDIR/body")
	local now t
	now=$(date +%s)
	t=$(sed -n 's/^ferry_metrics_updated_time_seconds{run="r1"} //p' "$BATS_TEST_TMPDIR/body")
	[ "$t" -le "$now" ]
	[ "$t" -ge $((now - 60)) ]
	[ "$(grep -c '^ferry_entity_state{' "$BATS_TEST_TMPDIR/body")" -eq $((16 * 6)) ]
}

@test "GET /runs: latest first, a page at a time, each run as ferry status has it" {
	get /runs -H "Authorization: Bearer $RT"
	expect 200
	jq -e '[.runs[].run] == ["r1", "r0"] and .next_after == null and .limit == 20' "$BATS_TEST_TMPDIR/body"
	diff <(ferry status r1 --json --target dbname=sv_dst | jq -S .) <(jq -S '.runs[0]' "$BATS_TEST_TMPDIR/body")
	get '/runs?limit=1' -H "Authorization: Bearer $RT"
	expect 200
	jq -e '[.runs[].run] == ["r1"] and .next_after == "r1"' "$BATS_TEST_TMPDIR/body"
	get '/runs?limit=1&after=r1' -H "Authorization: Bearer $RT"
	expect 200
	jq -e '[.runs[].run] == ["r0"] and .next_after == null' "$BATS_TEST_TMPDIR/body"
	get '/runs?after=nosuchrun' -H "Authorization: Bearer $RT"
	expect 400
}

@test "GET /runs/{id}/rejects: keyset pages that cover the run's rejects once each, filters" {
	local total pages=0 after=0 ids=
	total=$(q1 -d sv_dst -c "SELECT count(*) FROM ferry.rejects WHERE run_id = 'r1'")
	[ "$total" -gt 20 ]
	# pages of 7, following next_after to the end
	while :; do
		get "/runs/r1/rejects?limit=7&after=$after" -H "Authorization: Bearer $RT"
		expect 200
		ids+=$(jq -r '.rejects[].id' "$BATS_TEST_TMPDIR/body")$'\n'
		jq -e '(.rejects | length) <= 7 and .run == "r1"' "$BATS_TEST_TMPDIR/body" >/dev/null
		pages=$((pages + 1))
		after=$(jq -r '.next_after' "$BATS_TEST_TMPDIR/body")
		[ "$after" != null ] || break
		[ "$pages" -lt 100 ]
	done
	[ "$pages" -eq $(((total + 6) / 7)) ]
	diff <(grep . <<<"$ids") <(q1 -d sv_dst -c "SELECT id FROM ferry.rejects WHERE run_id = 'r1' ORDER BY id")
	# a reject as the books hold it
	get '/runs/r1/rejects?limit=1' -H "Authorization: Bearer $RT"
	diff <(jq -S '.rejects[0] | {id, entity, legacy_id, stage, reason, disposition}' "$BATS_TEST_TMPDIR/body") \
		<(q1 -d sv_dst -c "SELECT jsonb_build_object('id', id, 'entity', entity, 'legacy_id', legacy_id,
			'stage', stage, 'reason', reason, 'disposition', disposition)
			FROM ferry.rejects WHERE run_id = 'r1' ORDER BY id LIMIT 1" | jq -S .)
	# by entity and reason
	get '/runs/r1/rejects?entity=comments&reason=missing_reference&limit=1000' -H "Authorization: Bearer $RT"
	expect 200
	[ "$(jq '.rejects | length' "$BATS_TEST_TMPDIR/body")" -eq \
		"$(q1 -d sv_dst -c "SELECT count(*) FROM ferry.rejects WHERE run_id = 'r1' AND entity = 'comments'
			AND reason = 'missing_reference'")" ]
	jq -e '.rejects | length > 0 and all(.entity == "comments" and .reason == "missing_reference")' \
		"$BATS_TEST_TMPDIR/body"
	# a value is a parameter, never SQL: a quote matches nothing and breaks nothing
	get "/runs/r1/rejects?entity=comments'%20OR%20''%3D'" -H "Authorization: Bearer $RT"
	expect 200
	jq -e '.rejects == [] and .entity == "comments'"'"' OR '"''"'='"'"'"' "$BATS_TEST_TMPDIR/body"
	get "/runs/r1'%20OR%20'1'%3D'1/rejects" -H "Authorization: Bearer $RT"
	expect 404
	get /runs/nosuchrun/rejects -H "Authorization: Bearer $RT"
	expect 404
}

@test "GET /runs/{id}/verify: the run's last verify report, from its working directory" {
	get /runs/r1/verify -H "Authorization: Bearer $RT"
	expect 200
	diff <(jq -S . "$W/r1/verify.json") <(jq -S . "$BATS_TEST_TMPDIR/body")
	jq -e '.ferry == "verify" and .run == "r1" and .ok == true' "$BATS_TEST_TMPDIR/body"
	# a run without a working directory, a run that is not there
	get /runs/r0/verify -H "Authorization: Bearer $RT"
	expect 404
	get /runs/nosuchrun/verify -H "Authorization: Bearer $RT"
	expect 404
	# a report of another run is not this run's
	q -d sv_down -c "UPDATE ferry.runs SET workdir = '$W/r1' WHERE run_id = 'r0'"
	start_serve other --tokens "$W/tokens" --target "dbname=sv_down user=sv_monitor"
	URL=$SERVE_URL
	get /runs/r0/verify -H "Authorization: Bearer $RT"
	stop_serve other
	expect 404
	[[ "$(body)" == *"not a verify report of run"* ]]
}

@test "GET /healthz and /openapi.json need no token; every path of the document answers" {
	get /healthz
	expect 200
	jq -e '.status == "ok"' "$BATS_TEST_TMPDIR/body"
	get /openapi.json
	expect 200
	jq -e '.openapi | startswith("3.")' "$BATS_TEST_TMPDIR/body"
	cp "$BATS_TEST_TMPDIR/body" "$BATS_TEST_TMPDIR/openapi.json"
	local p n=0
	while IFS= read -r p; do
		get "${p//\{id\}/r1}" -H "Authorization: Bearer $([ "$p" = /metrics ] && echo "$MT" || echo "$RT")"
		expect 200
		# and the man page describes it
		grep -qF "GET $p" "$FERRY_REPO/man/ferry-serve.1"
		n=$((n + 1))
	done < <(jq -r '.paths | keys[]' "$BATS_TEST_TMPDIR/openapi.json")
	[ "$n" -eq 7 ]
}

@test "tokens: 401 without or with an unknown token (WWW-Authenticate), 403 outside the scope" {
	get /runs/r1
	expect 401
	[ "$(header WWW-Authenticate)" = 'WWW-Authenticate: Bearer realm="ferry"' ]
	get /runs/r1 -H "Authorization: Bearer ${RT}x"
	expect 401
	[ "$(header WWW-Authenticate)" = 'WWW-Authenticate: Bearer realm="ferry", error="invalid_token"' ]
	get /metrics -H "Authorization: Basic $(printf 'a:b' | base64)"
	expect 401
	# the metrics token reads the metrics only, the read token all but the metrics
	get /runs/r1 -H "Authorization: Bearer $MT"
	expect 403
	[[ "$(header WWW-Authenticate)" == *'error="insufficient_scope", scope="read"'* ]]
	get /runs -H "Authorization: Bearer $MT"
	expect 403
	get /metrics -H "Authorization: Bearer $RT"
	expect 403
	get /metrics -H "Authorization: Bearer $MT"
	expect 200
	# one line a request in the log, and never a token
	run grep -cF -e "$RT" -e "$MT" "$W/main.log"
	[ "$output" = 0 ]
	run grep -c '"GET /runs/r1" 403 .* -$' "$W/main.log"
	[ "$output" -ge 1 ]
	run grep -c '"GET /metrics" 200 .* metrics$' "$W/main.log"
	[ "$output" -ge 1 ]
}

@test "the token file: refused unless it is ours and 0600 or stricter, or when malformed" {
	local t=$BATS_TEST_TMPDIR/tokens
	cp "$W/tokens" "$t"
	chmod 640 "$t"
	run ferry-serve --tokens "$t" --listen 127.0.0.1:0
	assert_exit 10
	assert_one_line
	assert_contains "has mode 0640: others could read it"
	chmod 604 "$t"
	run ferry-serve --tokens "$t" --listen 127.0.0.1:0
	assert_exit 10
	chmod 600 "$t"
	chown postgres "$t"
	run ferry-serve --tokens "$t" --listen 127.0.0.1:0
	assert_exit 10
	assert_one_line
	assert_contains "not by this user"
	chown "$(id -u)" "$t"
	printf 'read tooshort\n' >"$t"
	run ferry-serve --tokens "$t" --listen 127.0.0.1:0
	assert_exit 2
	assert_one_line
	assert_contains ":1: a token needs 16 to 512 characters"
	[[ "$output" != *tooshort* ]]
	printf 'admin %s\n' "$(openssl rand -hex 24)" >"$t"
	run ferry-serve --tokens "$t" --listen 127.0.0.1:0
	assert_exit 2
	assert_contains 'unknown scope "admin"'
	run ferry-serve --tokens "$BATS_TEST_TMPDIR/none" --listen 127.0.0.1:0
	assert_exit 8
	run ferry-serve --listen 127.0.0.1:0
	assert_exit 2
	# a password on the command line is refused, and not repeated
	run ferry-serve --tokens "$W/tokens" --target "dbname=sv_dst password=hunter2secret"
	assert_exit 2
	assert_one_line
	[[ "$output" != *hunter2secret* ]]
}

@test "TLS: HTTPS with a generated certificate; the key must be ours alone" {
	local d=$BATS_TEST_TMPDIR
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
		-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
	chmod 600 "$d/key.pem"
	start_serve tls --tokens "$W/tokens" --target "dbname=sv_dst user=sv_monitor" \
		--tls-cert "$d/cert.pem" --tls-key "$d/key.pem"
	URL=$SERVE_URL
	[[ "$URL" == https://* ]]
	get /runs/r1 --cacert "$d/cert.pem" -H "Authorization: Bearer $RT"
	expect 200
	jq -e '.run == "r1"' "$BATS_TEST_TMPDIR/body"
	# the certificate is checked: another one is not trusted
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout "$d/k2.pem" \
		-out "$d/c2.pem" 2>/dev/null
	run curl -s --cacert "$d/c2.pem" "$URL/healthz"
	[ "$status" -eq 60 ]
	# plain HTTP to it gets no answer
	run curl -s "${URL/https/http}/healthz"
	[ "$status" -ne 0 ]
	stop_serve tls
	chmod 644 "$d/key.pem"
	run ferry-serve --tokens "$W/tokens" --listen 127.0.0.1:0 --tls-cert "$d/cert.pem" --tls-key "$d/key.pem"
	assert_exit 10
	assert_one_line
	assert_contains 'the TLS key'
	run ferry-serve --tokens "$W/tokens" --listen 127.0.0.1:0 --tls-cert "$d/cert.pem"
	assert_exit 2
}

@test "bad input: 404, 400 with a JSON error, 405, 413, 414, 431" {
	local h="Authorization: Bearer $RT" long
	for p in / /nope /runs/ /metrics/x /runs/r1/nope /runs/r1/rejects/x /healthz/; do
		get "$p" -H "$h"
		[ "$code" = 404 ] || [ "$code" = 400 ] || { echo "$p: $code" >&2; false; }
		expect "$code"
	done
	get /nope -H "$h"
	expect 404
	get /runs/nosuchrun -H "$h"
	expect 404
	# ids: NUL, a control character, not UTF-8, too long
	for p in '/runs/r%00x' '/runs/r%01x' '/runs/%FF%FE' "/runs/$(printf 'a%.0s' $(seq 1 201))"; do
		get "$p" -H "$h"
		expect 400
	done
	# parameters: out of range, not numbers, unknown, twice
	for p in '/runs/r1/rejects?limit=0' '/runs/r1/rejects?limit=1001' '/runs/r1/rejects?limit=ten' \
		'/runs/r1/rejects?after=-1' '/runs/r1/rejects?after=1e3' '/runs/r1/rejects?bogus=1' \
		'/runs/r1/rejects?limit=1&limit=2' '/runs?limit=101' '/runs/r1?entity=x' '/runs/r1/rejects?entity=%01'; do
		get "$p" -H "$h"
		expect 400
	done
	get /runs -H "$h" -X POST
	expect 405
	[ "$(header Allow)" = "Allow: GET, HEAD" ]
	get /runs -H "$h" -X GET --data-binary 'x=1'
	expect 413
	# a URL or a header larger than the server takes
	long=$(head -c 20000 /dev/zero | tr '\0' a)
	get "/runs/$long" -H "$h"
	expect 414
	get /runs -H "$h" -H "X-Padding: $long"
	expect 431
	# the server still answers
	get /healthz
	expect 200
}

@test "a slow client is timed out; connections beyond --max-connections are refused" {
	start_serve slow --tokens "$W/tokens" --target "dbname=sv_dst user=sv_monitor" \
		--client-timeout 1 --max-connections 2
	local port=${SERVE_URL##*:} t0
	# half a request line, then nothing: the server closes the connection (EOF) after 1 s
	# (fds 7 and 8: bats keeps 3 for itself)
	exec 7<>"/dev/tcp/127.0.0.1/$port"
	printf 'GET /healthz HTTP/1.1\r\n' >&7
	t0=$SECONDS
	run timeout 20 cat <&7
	assert_exit 0
	[ $((SECONDS - t0)) -le 5 ]
	exec 7<&-
	# two connections held open: the third gets no answer
	exec 7<>"/dev/tcp/127.0.0.1/$port" 8<>"/dev/tcp/127.0.0.1/$port"
	printf 'G' >&7
	printf 'G' >&8
	run curl -s -o /dev/null -w '%{http_code}' "$SERVE_URL/healthz"
	[ "$output" = 000 ]
	grep -q 'connection limit' "$W/slow.log"
	exec 7<&- 8<&-
	# once they are gone, it answers again
	wait_until 20 eval '[ "$(curl -s -o /dev/null -w "%{http_code}" "$SERVE_URL/healthz")" = 200 ]'
	stop_serve slow
}

@test "the database unreachable: 503 with a JSON error, and back once it is" {
	start_serve down --tokens "$W/tokens" --target "dbname=sv_down user=sv_monitor"
	URL=$SERVE_URL
	get /runs/r1 -H "Authorization: Bearer $RT"
	expect 200
	q -d postgres -c "ALTER DATABASE sv_down ALLOW_CONNECTIONS false" \
		-c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'sv_down'" >/dev/null
	get /runs/r1 -H "Authorization: Bearer $RT"
	expect 503
	get /metrics -H "Authorization: Bearer $MT"
	expect 503
	get /healthz
	expect 503
	[ "$(header Retry-After)" = "Retry-After: 5" ]
	q -d postgres -c "ALTER DATABASE sv_down ALLOW_CONNECTIONS true" >/dev/null
	get /runs/r1 -H "Authorization: Bearer $RT"
	expect 200
	# a role that cannot read the books: 503, what to do in the error
	q -d sv_down -c "REVOKE SELECT ON ferry.rejects FROM sv_monitor" >/dev/null
	get /runs/r1/rejects -H "Authorization: Bearer $RT"
	expect 503
	jq -e '.error | contains("GRANTS")' "$BATS_TEST_TMPDIR/body"
	stop_serve down
	grep -q 'cannot connect to the target database "sv_down"' "$W/down.log"
	# no server at all, from the start
	start_serve nodb --tokens "$W/tokens" --target "host=$BATS_TEST_TMPDIR dbname=nothere"
	URL=$SERVE_URL
	get /healthz
	expect 503
	get /runs -H "Authorization: Bearer $RT"
	expect 503
	stop_serve nodb
}

@test "every connection to the target busy: 503 after 5 s, and the waiting request answered" {
	start_serve busy --tokens "$W/tokens" --target "dbname=sv_down user=sv_monitor" \
		--db-connections 1 --query-timeout 60
	URL=$SERVE_URL
	# the one connection waits for a lock on ferry.runs
	hold_lock sv_down ferry.runs 'ACCESS EXCLUSIVE'
	curl -s -o "$BATS_TEST_TMPDIR/first.json" -w '%{http_code}' -H "Authorization: Bearer $RT" \
		"$URL/runs/r1" >"$BATS_TEST_TMPDIR/first.code" &
	local first=$!
	wait_until 20 waiting_for_lock sv_down ferry-serve
	get /runs -H "Authorization: Bearer $RT"
	expect 503
	jq -e '.error | contains("busy")' "$BATS_TEST_TMPDIR/body"
	release_lock sv_down
	wait "$first"
	[ "$(cat "$BATS_TEST_TMPDIR/first.code")" = 200 ]
	jq -e '.run == "r1"' "$BATS_TEST_TMPDIR/first.json"
	stop_serve busy
}

@test "docs/operations.md: its Prometheus scrape configuration passes promtool check config" {
	sed -n '/<!-- prometheus.yml: begin -->/,/<!-- prometheus.yml: end -->/p' "$FERRY_REPO/docs/operations.md" |
		sed -e '/^<!--/d' -e '/^```/d' >"$BATS_TEST_TMPDIR/prometheus.yml"
	grep -q 'credentials_file:' "$BATS_TEST_TMPDIR/prometheus.yml"
	promtool check config --syntax-only "$BATS_TEST_TMPDIR/prometheus.yml"
	# promtool can fail: a bearer token in two places
	sed -i 's/^\(    authorization:\)$/\1\n      credentials: x/' "$BATS_TEST_TMPDIR/prometheus.yml"
	run promtool check config --syntax-only "$BATS_TEST_TMPDIR/prometheus.yml"
	[ "$status" -ne 0 ]
}

@test "Dockerfile: a tagged base, not root, apt lists cleaned, the build packages, make install (tests/dockerfile-lint.sh)" {
	"$FERRY_REPO/tests/dockerfile-lint.sh" "$FERRY_REPO/Dockerfile"
	# the lint can fail: the same file with each rule broken
	sed -e 's/^ARG DEBIAN=.*/ARG DEBIAN=debian:latest/' -e 's/^USER ferry$/USER root/' \
		-e '/rm -rf \/var\/lib\/apt\/lists/d' -e 's/ libmicrohttpd-dev//' \
		"$FERRY_REPO/Dockerfile" >"$BATS_TEST_TMPDIR/Dockerfile"
	run "$FERRY_REPO/tests/dockerfile-lint.sh" "$BATS_TEST_TMPDIR/Dockerfile" "$FERRY_REPO/scripts/install-deps.sh"
	assert_exit 1
	assert_contains "the tag latest"
	assert_contains "the last stage runs as root"
	assert_contains "leaves /var/lib/apt/lists behind"
	assert_contains "does not install libmicrohttpd-dev"
}
