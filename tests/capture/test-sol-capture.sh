#!/usr/bin/env bash
# tests/capture/test-sol-capture.sh KERNEL.elf - tests sol-capture.sh against QEMU
# boots whose serial port (-serial stdio) stands in for the BMC's SOL stream. No
# isa-debug-exit device: as on hardware the kernel idles after its report, re-printing
# the closing line, and the capture must stop it.
#
# Writes sol-capture.log (a line per case) and sol-capture.result (the runner's
# "status passed failed skipped verdict reason") to $WARDEN_TEST_OUT (build/test).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${WARDEN_TEST_OUT:-$top/build/test}
kernel=${1:?usage: $0 KERNEL.elf}
capture=$top/tests/capture/sol-capture.sh
mkdir -p "$out"
pass=0 fail=0

# iso CMDLINE: builds an ISO for the command line, prints its path.
iso() {
	local f
	f=$out/sol-$(printf '%s' "$1" | md5sum | cut -c1-8).iso
	"$top/tests/runner/mkiso.sh" "$f" "$kernel" "$1" 0 >&2 && echo "$f"
}

# qemu ISO: the stand-in SOL stream (serial on stdout, nothing else).
qemu() {
	echo qemu-system-x86_64 -machine q35 -accel "${ACCEL:-tcg}" -cpu max,vendor=GenuineIntel \
		-m 512M -nic none -display none -monitor none -no-reboot -cdrom "$1" -boot d \
		-serial stdio
}

# expect NAME STATUS LAST -- CAPTURE-ARGS...: runs the capture; the case passes when it
# exits with STATUS and its last line of output matches the regex LAST.
expect() {
	local name=$1 want=$2 last=$3 got lastline start=$SECONDS
	shift 4
	lastline=$("$capture" "$@" 2>"$out/sol-$name.stderr" | tail -n 1)
	got=${PIPESTATUS[0]}
	if [ "$got" = "$want" ] && [[ $lastline =~ $last ]]; then
		pass=$((pass + 1))
		echo "ok    $name: status $got, '$lastline' ($((SECONDS - start)) s)"
	else
		fail=$((fail + 1))
		echo "FAIL  $name: status $got (want $want), last line '$lastline'; $(tail -n 2 "$out/sol-$name.stderr" | tr '\n' ' ')"
	fi
}

# capture_qemus: pids of QEMUs booting one of this test's ISOs (from /proc: no procps).
capture_qemus() {
	local d
	for d in /proc/[0-9]*; do
		tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -q "^qemu-system.*$out/sol-[0-9a-f]*\.iso" &&
			echo "${d#/proc/}"
	done
}

run() {
	local good bad leftover
	good=$(iso "ktest=printf,cmdline") || return 1
	bad=$(iso "ktest=printf,no_such_suite") || return 1
	# shellcheck disable=SC2046 # the QEMU command is split into words on purpose
	expect passing-boot 0 '^[1-9][0-9]* passed, 0 failed, 0 skipped$' -- \
		-o "$out/sol-passing-boot.log" -t 180 -- $(qemu "$good")
	# shellcheck disable=SC2046
	expect failing-boot 1 '^[0-9]+ passed, 1 failed, 0 skipped$' -- \
		-o "$out/sol-failing-boot.log" -t 180 -- $(qemu "$bad")
	expect stream-cut-short 1 '^0 passed, 1 failed, 0 skipped$' -- \
		-o "$out/sol-cut-short.log" -t 60 -- head -n 30 "$out/sol-passing-boot.log"
	expect late-attach 1 '' -- -o "$out/sol-late.log" -t 60 -- \
		sh -c 'tail -n 1 "$1"; sleep 1; tail -n 1 "$1"' sh "$out/sol-passing-boot.log"
	expect usage-error 2 '' --
	# No QEMU may be left running: the capture stops the stream's command.
	if leftover=$(capture_qemus) && [ -n "$leftover" ]; then
		fail=$((fail + 1))
		echo "FAIL  no-leftover-qemu: a QEMU of the capture is still running (pid $leftover)"
		kill $leftover
	else
		pass=$((pass + 1))
		echo "ok    no-leftover-qemu"
	fi
}

start=$SECONDS
run >"$out/sol-capture.log" 2>&1 || fail=$((fail + 1))
verdict=FAIL
[ "$fail" = 0 ] && [ "$pass" -gt 0 ] && verdict=PASS
echo "0 $pass $fail 0 $verdict $((SECONDS - start))s, sol-capture.sh against QEMU as the SOL stream (sol-capture.log)" \
	>"$out/sol-capture.result"
cat "$out/sol-capture.log"
[ "$verdict" = PASS ]
