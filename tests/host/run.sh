#!/usr/bin/env bash
# tests/host/run.sh - builds and runs the host tests of the firmware-data parsers.
#
#   tests/host/run.sh [--no-summary]
#
# 1. builds tests/host/host.mk into $BUILD/host (BUILD defaults to build);
# 2. runs the unit tests (ASan + UBSan) once: host-unit.log, host-unit.result;
# 3. runs each libFuzzer target for HOST_FUZZ_TIME seconds (default 12), two at a
#    time, starting from its committed seeds (tests/host/seeds/TARGET, only read) and
#    the corpus it grew before ($BUILD/host/corpus/TARGET): host-fuzz.log (the
#    figures, or the end of a crash report), host-fuzz.result, and the failing input
#    as fuzz-TARGET-crash-* (or -timeout-, -oom-, -leak-) next to them; each
#    target's whole log stays in $BUILD/host.
# Results go to $WARDEN_TEST_OUT (default build/test), one line each in the runner's
# format "status passed failed skipped verdict reason", so tests/runner/run.sh can add
# them to the closing line. Without --no-summary the two lines are printed, then
# "N passed, N failed, N skipped". Exit status 0 only when everything passed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 1
build=${BUILD:-build}
hb=$build/host
out=${WARDEN_TEST_OUT:-$top/build/test}
fuzz_time=${HOST_FUZZ_TIME:-12}
targets="mb2 cmdline rsdp sdt"
mkdir -p "$out" "$hb"
rm -f "$out/host-unit.result" "$out/host-fuzz.result"
for t in $targets; do rm -f "$out/fuzz-$t-"*; done

# Extra libFuzzer options per target: command lines get room for overlong ones.
fuzz_opts() {
	case $1 in
	cmdline) echo "-max_len=2048" ;;
	rsdp) echo "-max_len=64" ;;
	esac
}

build_all() {
	echo "host: building (tests/host/host.mk -> $hb)"
	make --no-print-directory -f tests/host/host.mk HOST_BUILD="$hb" -j2 all > "$hb/build.log" 2>&1
}

# run_unit: host-unit.log and host-unit.result.
run_unit() {
	local start=$SECONDS rc line p=0 f=0 s=0 verdict=FAIL reason
	"$hb/host-unit" > "$out/host-unit.log" 2>&1
	rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$out/host-unit.log" | tail -n 1)
	[ -n "$line" ] && read -r p _ f _ s _ <<<"$line"
	if [ "$rc" = 0 ] && [ -n "$line" ] && [ "$f" = 0 ]; then
		verdict=PASS
		reason="unit tests under ASan+UBSan"
	elif [ -z "$line" ]; then
		reason="no closing line (sanitizer report or crash, see host-unit.log)"
	else
		reason="failed tests, see host-unit.log"
	fi
	echo "$rc $p $f $s $verdict $((SECONDS - start))s, $reason" > "$out/host-unit.result"
}

# fuzz_one TARGET: one bounded libFuzzer run; writes $hb/fuzz-TARGET.status.
fuzz_one() {
	local t=$1 corpus=$hb/corpus/$1 rc
	mkdir -p "$corpus"
	# shellcheck disable=SC2046
	"$hb/fuzz-$t" -max_total_time="$fuzz_time" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/fuzz-$t-" $(fuzz_opts "$t") \
		"$corpus" "tests/host/seeds/$t" > "$hb/fuzz-$t.log" 2>&1
	rc=$?
	echo "$rc $(grep -E '^stat::number_of_executed_units' "$hb/fuzz-$t.log" | awk '{print $2}')" \
		> "$hb/fuzz-$t.status"
}

# run_fuzz: every target, two at a time; host-fuzz.log and host-fuzz.result.
run_fuzz() {
	local start=$SECONDS t rc runs p=0 f=0 notes=()
	for t in $targets; do
		fuzz_one "$t" &
		[ "$(jobs -rp | wc -l)" -ge 2 ] && wait -n
	done
	wait
	: > "$out/host-fuzz.log"
	for t in $targets; do
		read -r rc runs < "$hb/fuzz-$t.status"
		echo "==== fuzz-$t: exit status $rc (whole log: $hb/fuzz-$t.log)" >> "$out/host-fuzz.log"
		if [ "$rc" = 0 ]; then
			grep -E '^(Done|stat::)' "$hb/fuzz-$t.log" >> "$out/host-fuzz.log"
		else
			tail -n 60 "$hb/fuzz-$t.log" >> "$out/host-fuzz.log"
		fi
		if [ "$rc" = 0 ]; then
			p=$((p + 1))
			notes+=("$t ${runs:-?} runs")
		else
			f=$((f + 1))
			notes+=("$t CRASHED (see host-fuzz.log, input $out/fuzz-$t-*)")
		fi
	done
	local verdict=PASS list
	[ "$f" = 0 ] || verdict=FAIL
	list=$(printf '%s; ' "${notes[@]}")
	echo "0 $p $f 0 $verdict $((SECONDS - start))s, libFuzzer ${fuzz_time}s per target: ${list%; }" \
		> "$out/host-fuzz.result"
}

if build_all; then
	run_unit
	run_fuzz
else
	tail -n 20 "$hb/build.log"
	echo "1 0 1 0 FAIL host build failed, see $hb/build.log" > "$out/host-unit.result"
	echo "1 0 1 0 FAIL host build failed, see $hb/build.log" > "$out/host-fuzz.result"
fi

failed=0
for r in host-unit host-fuzz; do
	read -r _ p f s verdict reason < "$out/$r.result"
	[ "$verdict" = PASS ] || failed=1
	if [ "${1:-}" != --no-summary ]; then
		printf '%-22s %-4s %4s passed %3s failed %3s skipped  (%s)\n' "$r" "$verdict" "$p" "$f" "$s" "$reason"
	fi
done
if [ "${1:-}" != --no-summary ]; then
	tp=0 tf=0 ts=0
	for r in host-unit host-fuzz; do
		read -r _ p f s verdict _ < "$out/$r.result"
		tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + s))
		[ "$verdict" != PASS ] && [ "$f" = 0 ] && tf=$((tf + 1))
	done
	echo "$tp passed, $tf failed, $ts skipped"
fi
exit "$failed"
