#!/usr/bin/env bash
# tests/runner/run.sh - boots Warden in QEMU and judges the serial report.
#
#   tests/runner/run.sh run    ISO          boot once, serial on this terminal
#   tests/runner/run.sh debug  ISO          boot halted with a gdb stub on :1234
#   tests/runner/run.sh single KERNEL.elf   one headless boot from CPU/MEM/SMP/UEFI/CMDLINE/QEMU_ARGS
#   tests/runner/run.sh matrix KERNEL.elf   every boot of tests/runner/matrix.cfg (or MATRIX=file);
#                                           ONLY=name[,name] or GROUP=group boots a subset
#
# A boot passes only when QEMU exits through isa-debug-exit with the kernel's "all
# passed" status (1), the report ends with "N passed, 0 failed, N skipped", and no
# hang (timeout) or CPU reset (with -no-reboot QEMU exits 0 on a triple fault)
# happened. The output is one line per boot ("ok   NAME  (12.3 s)" or "FAIL NAME:
# reason"), then for each failed one its "not ok" lines with the "#" lines before them
# and the path of its full log, then the sum over all boots, a failed boot counting
# as one failure: "N passed, N failed, N skipped". Exit status 0 only if none failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${WARDEN_TEST_OUT:-$top/build/test}
mkdir -p "$out"
# shellcheck source=tests/runner/matrix.sh
. "$top/tests/runner/matrix.sh"

ovmf_code() {
	for f in /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_CODE.fd; do
		[ -e "$f" ] && { echo "$f"; return; }
	done
	echo "warden: OVMF not found (install the ovmf package)" >&2
	exit 1
}

ovmf_vars() {
	case "$1" in
	*_4M.fd) echo /usr/share/OVMF/OVMF_VARS_4M.fd ;;
	*) echo /usr/share/OVMF/OVMF_VARS.fd ;;
	esac
}

# The whole-image OVMF build for -bios (firmware and variables in one ROM, no pflash).
ovmf_bios() {
	[ -e /usr/share/ovmf/OVMF.fd ] && { echo /usr/share/ovmf/OVMF.fd; return; }
	echo "warden: /usr/share/ovmf/OVMF.fd not found (install the ovmf package)" >&2
	exit 1
}

# qemu_cmd NAME ISO CPU MEM SMP UEFI EXTRA...: prints the QEMU argument list, one per line.
# UEFI: empty or 0 = SeaBIOS, 1 = OVMF from pflash (code + a copy of the variables),
# bios = the OVMF.fd build loaded with -bios. The machine is q35 unless EXTRA picks one
# (-machine pc, -M pc, or -machine q35,... with properties).
qemu_cmd() {
	local name=$1 iso=$2 cpu=$3 mem=$4 smp=$5 uefi=$6 machine=(-machine q35) a code vars rom
	shift 6
	for a in "$@"; do
		case $a in -machine|--machine|-M) machine=() ;; esac
	done
	# Headless: no NIC, no display, and no VGA card either (nobody sees its screen;
	# its BIOS's text output of every GRUB line, emulated, cost about 0.15 s of each
	# boot under TCG). The report is the serial line's, as on a server's SOL.
	# shellcheck disable=SC2054 # the commas are inside QEMU option values
	local args=(qemu-system-x86_64 "${machine[@]}" -accel "${ACCEL:-tcg}" -cpu "$cpu"
		-smp "$smp" -nic none -display none -vga none -no-reboot
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -cdrom "$iso" -boot d)
	# MEM may be empty when QEMU_ARGS brings its own -m (memory backends).
	[ -n "$mem" ] && args+=(-m "$mem")
	case $uefi in
	""|0) ;;
	1)
		code=$(ovmf_code) || exit 1
		vars=$out/$name.vars.fd
		cp "$(ovmf_vars "$code")" "$vars"
		args+=(-drive "if=pflash,format=raw,unit=0,readonly=on,file=$code"
			-drive "if=pflash,format=raw,unit=1,file=$vars")
		;;
	bios)
		rom=$(ovmf_bios) || exit 1
		args+=(-bios "$rom")
		;;
	*)
		echo "warden: UEFI=$uefi: expected empty, 0, 1 (OVMF pflash) or bios (OVMF.fd -bios)" >&2
		exit 1
		;;
	esac
	printf '%s\n' "${args[@]}" "$@"
}

# serial_args NAME SLOTS: the QEMU arguments, one per line, of "serial = SLOTS" (see
# matrix.cfg): no default serial port, then for COM1..COM4 in turn (ISA 16550s at
# 0x3f8/IRQ 4, 0x2f8/3, 0x3e8/4, 0x2e8/3) "-" no device, "log" the report (NAME.log),
# "tap" a device written to NAME.comN.log, "null" a device whose output is dropped.
serial_args() {
	local name=$1 slots=$2 i=0 slot path
	local -a io=(0x3f8 0x2f8 0x3e8 0x2e8) irq=(4 3 4 3) list
	IFS=, read -ra list <<<"$slots"
	[ "${#list[@]}" -le 4 ] || { echo "warden: serial = $slots: more than 4 ports" >&2; return 1; }
	printf '%s\n' -serial none
	for slot in "${list[@]}"; do
		i=$((i + 1))
		case $slot in
		-) continue ;;
		log) path=$out/$name.log ;;
		tap) path=$out/$name.com$i.log ;;
		null) path= ;;
		*) echo "warden: serial = $slots: '$slot' is not -, log, tap or null" >&2; return 1 ;;
		esac
		rm -f "$out/$name.com$i.log"
		if [ -n "$path" ]; then
			printf '%s\n' -chardev "file,id=com$i,path=$path"
		else
			printf '%s\n' -chardev "null,id=com$i"
		fi
		printf '%s\n' -device "isa-serial,iobase=${io[i - 1]},irq=${irq[i - 1]},chardev=com$i"
	done
}

# boot NAME ISO: one headless boot of matrix boot NAME (cfg, tests/runner/matrix.sh)
# from ISO; writes NAME.cmd (the QEMU command line), NAME.log (serial) and NAME.result
# ("status passed failed skipped verdict reason"). The keys serial, spcr and monitor
# add QEMU arguments after the rest; timeout replaces TIMEOUT for this boot.
boot() {
	local name=$1 iso=$2 log=$out/$1.log rc cmd start serial nolog='' script mpid='' uefi
	local -a extra
	local TIMEOUT=${cfg[$name/timeout]:-${TIMEOUT:-240}} slots=${cfg[$name/serial]:-}
	local spcr=${cfg[$name/spcr]:-} monitor=${cfg[$name/monitor]:-}
	serial=(-serial "file:$log")
	if [ -n "$slots" ]; then
		mapfile -t serial < <(serial_args "$name" "$slots")
		case ",$slots," in *,log,*) ;; *) nolog=1 ;; esac
	fi
	if [ -n "$spcr" ]; then
		# shellcheck disable=SC2086 # ADDRESS,BAUD,SPACE become three arguments
		"$top/tests/runner/mkspcr.sh" "$out/$name.spcr.dat" ${spcr//,/ } || return 1
		serial+=(-acpitable "file=$out/$name.spcr.dat")
	fi
	if [ -n "$monitor" ]; then
		script=$top/tests/runner/monitor/$monitor.mon
		rm -f "$out/$name.mon.in" "$out/$name.mon.out" "$out/$name.monitor.txt"
		mkfifo "$out/$name.mon.in" "$out/$name.mon.out" || return 1
		serial+=(-monitor "pipe:$out/$name.mon")
	fi
	case ${cfg[$name/firmware]} in seabios) uefi= ;; ovmf) uefi=1 ;; ovmf-bios) uefi=bios ;; esac
	read -ra extra <<<"${cfg[$name/qemu_args]:-}"
	mapfile -t cmd < <(qemu_cmd "$name" "$iso" "${cfg[$name/cpu]}" "${cfg[$name/mem]}" \
		"${cfg[$name/smp]}" "$uefi" "${extra[@]}")
	printf '%q ' "${cmd[@]}" "${serial[@]}" > "$out/$name.cmd"
	if [ -n "${cfg[$name/expect_halt]:-}" ]; then
		expect_halt "$name" "${cfg[$name/expect_halt]}" "${cmd[@]}" > "$out/$name.result"
		return
	fi
	start=$EPOCHREALTIME
	[ -n "$monitor" ] && { monitor_drive "$name" "$script" & mpid=$!; }
	(cd "$out" && timeout --foreground -k 5 "$TIMEOUT" "${cmd[@]}" "${serial[@]}" \
		</dev/null >"$out/$name.qemu.txt" 2>&1)
	rc=$?
	[ -n "$mpid" ] && { kill "$mpid" 2>/dev/null; wait "$mpid" 2>/dev/null; }
	judge "$name" "$rc" "$(seconds_since "$start")" "$nolog" > "$out/$name.result"
}

# seconds_since START: the time since START (an $EPOCHREALTIME) in seconds, one decimal.
seconds_since() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

# monitor_drive NAME SCRIPT: plays the monitor script SCRIPT (tests/runner/monitor/*.mon)
# against boot NAME while QEMU runs, through QEMU's human monitor on the named pipes
# NAME.mon.in and NAME.mon.out ("-monitor pipe:NAME.mon"; QEMU opens both read-write,
# so no open blocks and no socket tool is needed). Script lines:
#   wait TEXT      until the serial log NAME.log holds TEXT (fixed string)
#   send COMMAND   one monitor command, e.g. "nmi" or "mce -b 0 1 STATUS MCG ADDR MISC"
#   # ...          a comment
# Each step and the monitor's replies go to NAME.monitor.txt; a wait longer than
# TIMEOUT ends the script (the boot's check then fails on what was never sent).
monitor_drive() {
	local name=$1 script=$2 log=$out/$1.log mon=$out/$1.mon rec=$out/$1.monitor.txt
	local verb arg start=$SECONDS reply
	exec 3<>"$mon.in" 4<>"$mon.out"
	while read -r verb arg; do
		case $verb in
		""|\#*) continue ;;
		wait)
			until grep -aqF -- "$arg" "$log" 2>/dev/null; do
				if [ $((SECONDS - start)) -ge "${TIMEOUT:-240}" ]; then
					echo "$((SECONDS - start))s: gave up waiting for '$arg'" >>"$rec"
					return 1
				fi
				sleep 0.1
			done
			echo "$((SECONDS - start))s: saw '$arg'" >>"$rec"
			;;
		send)
			printf '%s\n' "$arg" >&3
			echo "$((SECONDS - start))s: sent '$arg'" >>"$rec"
			# the echo and the replies (QEMU answers at once; a longer wait let a
			# fast run end before the script's next step)
			while IFS= read -r -t 0.2 reply <&4; do
				reply=$(printf '%s' "$reply" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | tr -d '\r')
				# readline echoes each keystroke by redrawing the line so far
				case $reply in "(qemu) "*"$arg" | "${arg:0:1}"*"$arg") reply="(qemu) $arg" ;; esac
				echo "  | $reply" >>"$rec"
			done
			;;
		*)
			echo "warden: $script: '$verb' is not wait or send" >>"$rec"
			return 1
			;;
		esac
	done <"$script"
}

# expect_halt NAME TEXT QEMU...: the boot must print TEXT and then stay halted (the
# entry code's refusal path): passes when TEXT appears within 60 s and QEMU is still
# running 3 s later; QEMU is then stopped.
expect_halt() {
	local name=$1 want=$2 log=$out/$1.log pid waited=0; shift 2
	"$@" -serial "file:$log" </dev/null >"$out/$name.qemu.txt" 2>&1 &
	pid=$!
	while [ $waited -lt 60 ] && ! grep -qF "$want" "$log" 2>/dev/null; do
		sleep 1
		waited=$((waited + 1))
		kill -0 "$pid" 2>/dev/null || break
	done
	sleep 3
	if grep -qF "$want" "$log" 2>/dev/null && kill -0 "$pid" 2>/dev/null; then
		echo "0 1 0 0 PASS ${waited}s, printed and halted as expected: $want"
	else
		echo "0 0 1 0 FAIL ${waited}s, expected '$want' and a halt"
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# judge NAME QEMU_STATUS SECONDS [NOLOG]: prints "status passed failed skipped verdict
# reason". Every judged boot's log must also pass the strict KTAP check (ktap-check.awk):
# the version line first, the plan right after it, every planned result, consistent
# indentation, and a closing line whose counts are those of the results. NOLOG=1 (no
# serial port captures the report, a serial key without "log"): the isa-debug-exit
# status alone decides, one passed or one failed test. Then the boot's expect_fatal
# texts (judge_fatal) or its checks (run_checks) decide.
judge() {
	local name=$1 rc=$2 secs=$3 nolog=${4:-} log=$out/$1.log line='' p=0 f=0 s=0
	local verdict=FAIL reason ktap ktap_ok=0
	if [ -n "$nolog" ]; then
		ktap_ok=1
	else
		ktap=$(awk -f "$top/tests/runner/ktap-check.awk" "$log" 2>&1) && ktap_ok=1
		line=$(tr -d '\r' < "$log" 2>/dev/null | grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -n 1)
	fi
	[ -n "$line" ] && read -r p _ f _ s _ <<<"$line"
	case $rc in
	1) reason="kernel reported success" ;;
	3) reason="kernel reported failures" ;;
	0) reason="CPU reset or triple fault (QEMU exited 0 under -no-reboot)" ;;
	124|137) reason="hang: no exit within ${TIMEOUT:-240}s" ;;
	*) reason="QEMU exited with status $rc: $(head -c 300 "$out/$name.qemu.txt" | tr '\n' ' ')" ;;
	esac
	if [ -n "$nolog" ]; then
		reason="$reason; no serial port captures the report: judged by the exit status"
		if [ "$rc" = 1 ]; then verdict=PASS p=1; else f=1; fi
	elif [ -z "$line" ]; then
		reason="$reason; no closing line in the report"
	elif [ "$rc" = 1 ] && [ "$f" = 0 ] && [ "$p" -gt 0 ]; then
		verdict=PASS
	elif [ "$rc" = 1 ] && [ "$p" = 0 ]; then
		reason="no test case passed"
	fi
	if [ "$ktap_ok" = 0 ]; then
		verdict=FAIL
		reason="$reason; KTAP CHECK FAILED at line $ktap"
	fi
	if [ -n "${cfg[$name/expect_fatal]:-}" ]; then
		judge_fatal "$name" "$rc" "$f" "$ktap_ok" "$secs" "$reason" "${ktap:-}"
		return
	fi
	[ "$verdict" = PASS ] && ! reason=$(run_checks "$name" "$reason") && verdict=FAIL
	echo "$rc $p $f $s $verdict ${secs}s, $reason"
}

# judge_fatal NAME QEMU_STATUS FAILED KTAP_OK SECONDS REASON KTAP: prints the result of a boot
# that must end fatally: exit status 3, a "Bail out!" line, a closing line counting a
# failure (FAILED > 0), a good KTAP check, and each expect_fatal text in the log.
judge_fatal() {
	local name=$1 rc=$2 f=$3 ktap_ok=$4 secs=$5 reason=$6 ktap=$7 log=$out/$1.log text missing=
	local want=''
	while IFS= read -r text; do
		want+=${want:+ && }$text
		grep -aqF -- "$text" "$log" || missing="$missing; missing '$text'"
	done <<<"${cfg[$name/expect_fatal]}"
	[ "$f" -gt 0 ] || missing="$missing; the closing line counts no failure"
	if [ "$rc" = 3 ] && [ -z "$missing" ] && grep -q '^Bail out!' "$log" &&
		[ "$ktap_ok" = 1 ]; then
		echo "$rc 1 0 0 PASS ${secs}s, ended fatally as expected: $want; KTAP $ktap"
	else
		echo "$rc 0 1 0 FAIL ${secs}s, expected a fatal '$want': $reason$missing"
	fi
}

# run_checks NAME REASON: runs boot NAME's check scripts (tests/runner/checks/CHECK.sh
# LOG NAME, in the output directory); prints REASON with each check's outcome, and
# what a failing one said; returns 1 if any check failed.
run_checks() {
	local name=$1 reason=$2 check said failed=0
	while IFS= read -r check; do
		[ -n "$check" ] || continue
		if said=$(cd "$out" && "$top/tests/runner/checks/$check.sh" "$out/$name.log" "$name" 2>&1); then
			reason="$reason; check passed: $check"
		else
			reason="$reason; CHECK FAILED: $check: $(printf '%s' "$said" | tr '\n' ' ')"
			failed=1
		fi
	done <<<"${cfg[$name/check]:-}"
	echo "$reason"
	return "$failed"
}

# iso_for CMDLINE [KERNEL [PRE]] -> path of an ISO for that command line, kernel and
# GRUB pre-command (built once)
iso_for() {
	local cmdline=$1 kernel=${2:-$KERNEL} pre=${3:-} key iso
	key=$(printf '%s|%s|%s' "$cmdline" "$kernel" "$pre" | md5sum | cut -c1-10)
	iso=$out/warden-$key.iso
	if [ ! -e "$iso" ] || [ "$iso" -ot "$kernel" ]; then
		"$top/tests/runner/mkiso.sh" "$iso.tmp" "$kernel" "$cmdline" 0 "$pre" >&2 || return 1
		mv "$iso.tmp" "$iso"
	fi
	echo "$iso"
}

# fragment_cmds N: GRUB commands that cut N pieces of 8 KiB out of the memory map,
# one every 3 MiB from 3 MiB + 12 KiB up (not 2 MiB aligned: the direct map needs
# 4 KiB leaves around each), so the kernel gets a map of N + (firmware's) ranges.
# GRUB's cutmem is quadratic in the cuts: 300 take about 10 s.
fragment_cmds() {
	local i k
	for ((i = 1; i <= $1; i++)); do
		k=$((i * 3072 + 12))
		printf 'cutmem %dK %dK; ' "$k" $((k + 8))
	done
}

# run_configs: boots every boot left in boots (tests/runner/matrix.sh), JOBS (2) at a
# time in their order, then prints the summary; returns 1 if anything failed.
run_configs() {
	local running=0 name iso kernel pre
	local n=${#boots[@]}
	echo "booting $n configuration$([ "$n" = 1 ] || echo s), ${JOBS:-2} at a time; logs in $out"
	for name in "${boots[@]}"; do
		kernel=$KERNEL
		[ -n "${cfg[$name/kernel]:-}" ] && kernel=$(dirname "$KERNEL")/kernel-${cfg[$name/kernel]}.elf
		pre=
		[ -n "${cfg[$name/fragment]:-}" ] && pre=$(fragment_cmds "${cfg[$name/fragment]}")
		rm -f "$out/$name.result" "$out/$name.log"
		if ! iso=$(iso_for "${cfg[$name/cmdline]:-}" "$kernel" "$pre"); then
			echo "0 0 0 0 FAIL ISO build failed" > "$out/$name.result"
			continue
		fi
		boot "$name" "$iso" &
		running=$((running + 1))
		if [ "$running" -ge "${JOBS:-2}" ]; then
			wait -n
			running=$((running - 1))
		fi
	done
	wait
	local selftest
	selftest=$(selftest_name)
	# HOST_RESULTS: names of results written before the boots (make test sets it to
	# "host-unit host-fuzz sol-capture"), summed with them.
	# shellcheck disable=SC2086
	summarize ${selftest:+"$selftest"} ${HOST_RESULTS:-} "${boots[@]}"
}

# selftest_name: "ktap-selftest" when the strict checker's self-test result (written by
# `tests/runner/ktap-check.sh --self-test`, which make test runs before the boots) is
# newer than the checker and every sample log, so that it counts in the sum.
selftest_name() {
	local r=$out/ktap-selftest.result f
	[ -e "$r" ] || return 0
	for f in "$top"/tests/runner/ktap-check.* "$top"/tests/runner/ktap-samples/*; do
		[ "$r" -nt "$f" ] || return 0
	done
	echo ktap-selftest
}

# summarize RESULT...: one line per result NAME (NAME.result): "ok   NAME  (TIME)" or
# "FAIL NAME: reason"; then what each failed one's log says (failure_lines); then the
# sum "N passed, N failed, N skipped", a failed result with no failed case counting as
# one failure. Returns 1 if any failed.
summarize() {
	local tp=0 tf=0 ts=0 name rc p f s verdict reason failed=()
	for name in "$@"; do
		read -r rc p f s verdict reason < "$out/$name.result"
		if [ "$verdict" = PASS ]; then
			printf 'ok   %-26s (%s)\n' "$name" "$(result_time "$reason")"
		elif [[ $reason =~ ^([0-9.]+)s,\ (.*)$ ]]; then
			printf 'FAIL %s: %s (%s s)\n' "$name" "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
			failed+=("$name")
		else
			printf 'FAIL %s: %s\n' "$name" "$reason"
			failed+=("$name")
		fi
		tp=$((tp + p)); ts=$((ts + s)); tf=$((tf + f))
		if [ "$verdict" != PASS ] && [ "$f" = 0 ]; then
			tf=$((tf + 1))
		fi
	done
	for name in "${failed[@]}"; do
		failure_lines "$name"
	done
	echo "$tp passed, $tf failed, $ts skipped"
	[ "$tf" = 0 ]
}

# result_time REASON: "12.3 s" from a reason that starts "12.3s, ...", else the reason.
result_time() {
	if [[ $1 =~ ^([0-9.]+)s, ]]; then
		echo "${BASH_REMATCH[1]} s"
	else
		echo "$1"
	fi
}

# failure_lines NAME: the "not ok" and "Bail out!" lines of NAME.log, each with the "#"
# lines right before it, and the log's path; a log with neither and no closing line
# (a hang, a reset, a halt) shows its last 5 lines instead.
failure_lines() {
	local log=$out/$1.log
	echo "---- $1: full log $log"
	[ -e "$log" ] || { echo "  (no log)"; return; }
	tr -d '\r' <"$log" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' | awk '
		{ last[NR % 5] = $0 }
		/^[ \t]*#/ { held[n++] = $0; next }
		/^[ \t]*(not ok|Bail out!)/ {
			for (i = 0; i < n; i++) print "  " held[i]
			print "  " $0
			shown = 1
		}
		{ n = 0 }
		/^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$/ { closed = 1 }
		END {
			if (shown || closed) exit
			print "  (no \"not ok\" line and no closing line; the log ends with:)"
			for (i = NR - 4; i <= NR; i++) if (i > 0) print "  " last[i % 5]
		}'
}

mode=${1:-}
case $mode in
run|debug)
	iso=$2
	mapfile -t cmd < <(qemu_cmd run "$iso" "${CPU:-max,vendor=GenuineIntel}" "${MEM:-512M}" \
		"${SMP:-1}" "${UEFI:-}" ${QEMU_ARGS:-})
	if [ "$mode" = debug ]; then
		echo "QEMU is halted with a gdb stub on localhost:1234. In another terminal:"
		echo "  gdb build/kernel.elf -ex 'target remote localhost:1234' -ex 'hbreak kmain' -ex continue"
		echo "  (use hardware breakpoints until paging is on: the CPU starts in real mode,"
		echo "  GRUB enters _start32 at its physical address, kmain runs in the higher half)"
		cmd+=(-s -S)
	fi
	"${cmd[@]}" -serial stdio
	rc=$?
	# isa-debug-exit: 1 = the kernel reported success, 3 = failures.
	[ "$rc" = 1 ] && exit 0
	exit "$rc"
	;;
single|matrix)
	KERNEL=$2
	conf=${MATRIX:-$top/tests/runner/matrix.cfg}
	if [ "$mode" = single ]; then
		conf=$out/single.cfg
		matrix_single "$conf" || exit 2
	fi
	matrix_read "$conf" || exit 2
	matrix_select "${ONLY:-}" "${GROUP:-}" || exit 2
	run_configs
	;;
*)
	echo "usage: $0 run|debug ISO | single|matrix KERNEL.elf" >&2
	exit 2
	;;
esac
