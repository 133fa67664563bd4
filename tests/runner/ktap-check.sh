#!/usr/bin/env bash
# tests/runner/ktap-check.sh - the strict KTAP check of Warden serial logs (the rules
# are in ktap-check.awk; plain bash and awk, nothing else).
#
#   tests/runner/ktap-check.sh LOG...      one verdict line per log; status 0 when all pass
#   tests/runner/ktap-check.sh --self-test judges the sample logs in tests/runner/ktap-samples/
#
# Each sample log starts with "sample: accept" or "sample: reject: TEXT" (TEXT is part
# of the complaint the checker must make); the checker reads that line as loader
# output. The self-test writes ktap-selftest.log (a line per sample) and
# ktap-selftest.result (the runner's "status passed failed skipped verdict reason",
# one test per sample) to $WARDEN_TEST_OUT (default build/test); run.sh adds that
# result to the sum of the boots. Status 0 when every sample was judged as expected.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

# check LOG: prints the checker's verdict; status 0 when the log is a valid report.
check() {
	awk -f "$here/ktap-check.awk" "$1"
}

# judge_sample SAMPLE: prints "ok|WRONG name: verdict"; status 0 when judged as expected.
judge_sample() {
	local sample=$1 want got rc ok=1
	want=$(head -n 1 "$sample")
	got=$(check "$sample")
	rc=$?
	case $want in
	"sample: accept") [ "$rc" = 0 ] && ok=0 ;;
	"sample: reject: "*) [ "$rc" != 0 ] && [[ $got == *"${want#sample: reject: }"* ]] && ok=0 ;;
	*) got="no 'sample: accept' or 'sample: reject: TEXT' first line" ;;
	esac
	if [ "$ok" = 0 ]; then
		echo "ok    $(basename "$sample"): $got"
	else
		echo "WRONG $(basename "$sample") (${want#sample: }): $got"
	fi
	return "$ok"
}

self_test() {
	local out=${WARDEN_TEST_OUT:-$top/build/test} p=0 f=0 sample verdict=FAIL
	mkdir -p "$out"
	for sample in "$here"/ktap-samples/*.log; do
		[ -e "$sample" ] || continue
		if judge_sample "$sample"; then
			p=$((p + 1))
		else
			f=$((f + 1))
		fi
	done > "$out/ktap-selftest.log"
	[ "$f" = 0 ] && [ "$p" -gt 0 ] && verdict=PASS
	echo "0 $p $f 0 $verdict $((p + f)) sample logs, $f judged wrongly (ktap-selftest.log)" \
		> "$out/ktap-selftest.result"
	echo "ktap-check self-test: $verdict, $p of $((p + f)) sample logs judged as expected"
	grep '^WRONG' "$out/ktap-selftest.log"
	[ "$verdict" = PASS ]
}

case ${1:-} in
--self-test)
	self_test
	;;
""|-*)
	echo "usage: $0 LOG... | --self-test" >&2
	exit 2
	;;
*)
	status=0
	for log in "$@"; do
		verdict=$(check "$log") || status=1
		echo "$log: $verdict"
	done
	exit "$status"
	;;
esac
