#!/usr/bin/env bats
# The libFuzzer targets (tests/fuzz), briefly: every seed of the checked-in
# corpus goes through its target, then each target mutates a copy of its
# corpus for a few seconds; no crash, no broken promise, no sanitizer
# report.  The long run is "make fuzz"; "make check" builds the targets
# (make fuzzers) into build/fuzz, beside the build under test.

load helpers
bats_require_minimum_version 1.5.0

FUZZ_BIN=$FERRY_REPO/build/fuzz
CORPUS=$FERRY_REPO/tests/fuzz/corpus

setup() {
	[ -x "$FUZZ_BIN/fuzz_stream" ] && [ -x "$FUZZ_BIN/fuzz_plan" ] ||
		fail_with "no fuzzers in $FUZZ_BIN: build them with make fuzzers"
}

fail_with() {
	echo "$*" >&2
	return 1
}

# a target, with libFuzzer's leak check after every input (tests/run.sh
# turns leak reports off for the programs)
fuzzer() {
	env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$FUZZ_BIN/fuzz_$1" "${@:2}"
}

# no report of a sanitizer or of libFuzzer in $output
no_report() {
	if grep -E "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY: " <<<"$output"; then
		return 1
	fi
}

# every_seed NAME: the target runs each seed file once, and says so for each
every_seed() {
	local name=$1 n
	n=$(find "$CORPUS/$name" -type f | wc -l)
	[ "$n" -ge 10 ]
	run -0 fuzzer "$name" "$CORPUS/$name"/*
	no_report
	[ "$(grep -c '^Executed ' <<<"$output")" -eq "$n" ]
}

# mutate NAME RUNS: RUNS mutated inputs from a copy of the corpus (the
# checked-in one is never written to); a failing input is kept in the
# test's directory and its name printed
mutate() {
	local name=$1 runs=$2 dir=$BATS_TEST_TMPDIR/corpus-$1
	mkdir -p "$dir"
	cp "$CORPUS/$name"/* "$dir"/
	run fuzzer "$name" -runs="$runs" -max_total_time=15 -timeout=10 \
		-artifact_prefix="$BATS_TEST_TMPDIR/" "$dir"
	echo "$output" | grep -E "INFO: Seed|INITED|DONE|Done |Test unit written|fuzz_$name: " || true
	[ "$status" -eq 0 ]
	no_report
	grep -q "INITED" <<<"$output"
	grep -Eq "^Done [0-9]+ runs" <<<"$output"
}

@test "fuzz_stream: every seed of the stream corpus is read, no report" {
	every_seed stream
}

@test "fuzz_stream: the whole-* seeds are whole streams (ferry-cat --check)" {
	local f n=0
	for f in "$CORPUS"/stream/whole-*; do
		run -0 ferry-cat --check "$f"
		n=$((n + 1))
	done
	[ "$n" -ge 5 ]
}

@test "fuzz_stream: 15000 mutated streams, no crash and no sanitizer report" {
	mutate stream 15000
}

@test "fuzz_plan: every seed of the plan corpus is parsed, no report" {
	every_seed plan
}

@test "fuzz_plan: 20000 mutated plans, no crash and no sanitizer report" {
	mutate plan 20000
}
