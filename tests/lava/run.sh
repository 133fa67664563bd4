#!/usr/bin/env bash
# tests/lava/run.sh KERNEL.elf - `make lava`: Warden's report through LAVA, the test-lab
# engine of KernelCI and most board farms, run standalone with lava-run (no lava-server).
#
#   1. tests/lava/deps.sh: lava-dispatcher, tftpd-hpa, lava-server's device types;
#   2. tests/lava/test-monitor.py: the monitor pattern against sample logs;
#   3. the real-server templates (device-server, job-pxe, job-vmedia) rendered for an
#      example BMC must pass `lava-run --validate`;
#   4. the QEMU job (device-qemu, job-qemu): QEMU boots an ISO made for ktest=LAVA_KTEST;
#   5. the simulated server (device-server with QEMU standing in for SOL on COM2 and
#      /bin/true for power; job-pxe with kernel_path): LAVA interrupts the ISO's GRUB
#      menu (on COM2: the ISO's command line says console=ttyS1) and types `multiboot2
#      /boot/kernel.elf console=ttyS1 ktest=LAVA_KTEST` and `boot`; the menu's own entry
#      would boot a suite that does not exist, and the report's cmdline line must be
#      the typed one.
# A job passes when LAVA saw the closing line, recorded exactly Warden's pass/fail/skip
# counts, and nothing failed. LAVA_KTEST defaults to fast suites that pass, fail
# nothing and skip some (printf,cmdline,multiboot2,smp: smp skips its cases on one
# CPU). Files: BUILD/lava (rendered YAML, lava-run logs NAME.lava.log); one line per
# check in $WARDEN_TEST_OUT/lava.log and the runner's result line in lava.result
# ("status passed failed skipped verdict reason"), which make test adds to its closing
# line. Prints the checks, then "N passed, N failed, 0 skipped"; exit status 0 only
# when every check passed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/lava
kernel=$(realpath "${1:?usage: $0 KERNEL.elf}")
out=${WARDEN_TEST_OUT:-$top/build/test}
work=$(realpath -m "${BUILD:-build}")/lava
suites=${LAVA_KTEST:-printf,cmdline,multiboot2,smp}
pass=0 fail=0 start=$SECONDS
mkdir -p "$out" "$work"
: >"$out/lava.log"
rm -f "$out/lava.result"

# note VERDICT TEXT: one check's line, on the terminal and in lava.log.
note() {
	if [ "$1" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
	printf '%-4s %s\n' "$1" "$2" | tee -a "$out/lava.log"
}

# lava_run NAME [--validate]: lava-run on NAME.job.yaml and NAME.device.yaml, as root
# (LAVA keeps its files in /var/lib/lava); the log goes to NAME.lava.log.
lava_run() {
	local name=$1 sudo=
	shift
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	rm -rf "$work/$name.out"
	timeout -k 10 900 $sudo lava-run --job-id "warden-$$-$name" --output-dir "$work/$name.out" \
		--device "$work/$name.device.yaml" --dispatcher "$work/dispatcher.yaml" "$@" \
		"$work/$name.job.yaml" >"$work/$name.lava.log" 2>&1
}

# render KIND NAME TEMPLATE VAR=VALUE...: renders into NAME.KIND.yaml.
render() {
	/usr/bin/python3 "$here/render.py" "$1" "$here/$3" "${@:4}" >"$work/$2.$1.yaml"
}

# lava_counts LOG: "PASS FAIL SKIP" of the results LAVA recorded for the monitor.
lava_counts() {
	local r p=0 f=0 s=0
	while read -r r; do
		case $r in pass) p=$((p + 1)) ;; fail) f=$((f + 1)) ;; skip) s=$((s + 1)) ;; esac
	done < <(grep '"lvl": "results"' "$1" | grep '"definition": "warden"' |
		sed -n 's/.*"result": "\([a-z]*\)".*/\1/p')
	echo "$p $f $s"
}

# warden_closing LOG: Warden's first closing line in what LAVA logged from the serial line.
warden_closing() {
	grep '"lvl": "target"' "$1" | sed -n 's/.*"msg": "\([0-9]* passed, [0-9]* failed, [0-9]* skipped\)".*/\1/p' |
		head -n 1
}

# judge NAME WHAT: compares LAVA's counts for job NAME with Warden's closing line.
judge() {
	local log=$work/$1.lava.log p f s closing lp lf ls
	read -r p f s < <(lava_counts "$log")
	closing=$(warden_closing "$log")
	read -r lp _ lf _ ls _ <<<"${closing:-x}"
	local text="$2: LAVA $p pass, $f fail, $s skip; Warden '${closing:-no closing line}'"
	if ! grep -q '"msg": "ok: end string found' "$log"; then
		note FAIL "$text: the monitor never saw the closing line (see $log)"
	elif [ "$p $f $s" != "$lp $lf $ls" ]; then
		note FAIL "$text: the counts differ (see $log)"
	elif [ "$f" != 0 ] || [ "$p" = 0 ]; then
		note FAIL "$text: the run failed (see $log)"
	elif ! grep -q '"case": "job", "definition": "lava", "result": "pass"' "$log"; then
		note FAIL "$text: the LAVA job did not finish correctly (see $log)"
	else
		note ok "$text"
	fi
}

# check_monitor: the monitor pattern test.
check_monitor() {
	if /usr/bin/python3 "$here/test-monitor.py" >"$work/test-monitor.txt" 2>&1; then
		note ok "monitor pattern: $(tail -n 1 "$work/test-monitor.txt") (tests/lava/test-monitor.py)"
	else
		grep -v '^ok' "$work/test-monitor.txt" | sed 's/^/    /' | tee -a "$out/lava.log"
		note FAIL "monitor pattern: $(tail -n 1 "$work/test-monitor.txt") (see $work/test-monitor.txt)"
	fi
}

# validate_templates: the real-server device and both server jobs, for an example BMC.
validate_templates() {
	local job
	render device server-example device-server.jinja2 bmc=bmc.example.com bmc_user=admin \
		vmedia_url=http://files.example.com/warden.iso || { note FAIL "render device-server.jinja2"; return; }
	cp "$work/server-example.device.yaml" "$work/vmedia.device.yaml"
	cp "$work/server-example.device.yaml" "$work/pxe.device.yaml"
	render job pxe job-pxe.jinja2 "cmdline=console=ttyS1 ktest=$suites" \
		"kernel_url=file://$kernel" name=pxe-example || { note FAIL "render job-pxe.jinja2"; return; }
	render job vmedia job-vmedia.jinja2 "cmdline=console=ttyS1 ktest=$suites" name=vmedia-example ||
		{ note FAIL "render job-vmedia.jinja2"; return; }
	for job in pxe vmedia; do
		if lava_run "$job" --validate && grep -q '"case": "validate", "definition": "lava", "result": "pass"' \
			"$work/$job.lava.log"; then
			note ok "lava-run --validate: job-$job on device-server (IPMI SOL, power, Redfish)"
		else
			note FAIL "lava-run --validate: job-$job on device-server (see $work/$job.lava.log)"
		fi
	done
}

# qemu_job: the QEMU job end to end.
qemu_job() {
	"$top/tests/runner/mkiso.sh" "$work/qemu.iso" "$kernel" "ktest=$suites" 0 ||
		{ note FAIL "QEMU job: ISO build failed"; return; }
	if ! { render device qemu device-qemu.jinja2 arch=x86_64 &&
		render job qemu job-qemu.jinja2 "iso_url=file://$work/qemu.iso" "name=ktest=$suites" \
			report_minutes=5; }; then
		note FAIL "QEMU job: render failed"
		return
	fi
	lava_run qemu
	judge qemu "QEMU job (ktest=$suites)"
}

# sim_job: the simulated server, a box whose SOL reads COM2 (QEMU: COM1 dropped, COM2
# on standard output): the ISO's GRUB talks on COM2 (console=ttyS1 in its command line),
# LAVA interrupts it and types a command line with console=ttyS1.
sim_job() {
	local typed want="console=ttyS1 ktest=$suites" qemu
	"$top/tests/runner/mkiso.sh" "$work/server.iso" "$kernel" \
		"console=ttyS1 ktest=lava_did_not_type_the_command_line" 30 ||
		{ note FAIL "simulated server: ISO build failed"; return; }
	qemu="qemu-system-x86_64 -machine q35 -accel ${ACCEL:-tcg} -cpu max,vendor=GenuineIntel -m 512M"
	qemu+=" -nic none -display none -monitor none -no-reboot -serial null -serial stdio"
	qemu+=" -cdrom $work/server.iso -boot d"
	if ! { render device sim device-server.jinja2 "connection_command=$qemu" \
		power_on_command=/bin/true power_off_command=/bin/true hard_reset_command=/bin/true \
		boot_character_delay=0 &&
		render job sim job-pxe.jinja2 "cmdline=$want" kernel_path=/boot/kernel.elf \
			name=simulated-server report_minutes=5 boot_minutes=2; }; then
		note FAIL "simulated server: render failed"
		return
	fi
	lava_run sim
	typed=$(grep '"lvl": "target"' "$work/sim.lava.log" | sed -n 's/.*"msg": "# cmdline: \(.*\)"}$/\1/p' | head -n 1)
	if [ "$typed" != "$want" ]; then
		note FAIL "simulated server: the report's cmdline is '$typed', not the typed '$want' (see $work/sim.lava.log)"
		return
	fi
	judge sim "simulated server, SOL on COM2, GRUB command line typed by LAVA ($want)"
}

printf 'dispatcher_ip: 127.0.0.1\n' >"$work/dispatcher.yaml"
if types=$("$here/deps.sh" "$work"); then
	export LAVA_DEVICE_TYPES=$types
	check_monitor
	validate_templates
	qemu_job
	sim_job
else
	note FAIL "lava-dispatcher or lava-server's device types missing (tests/lava/deps.sh)"
fi
verdict=PASS
[ "$fail" = 0 ] || verdict=FAIL
echo "0 $pass $fail 0 $verdict $((SECONDS - start))s, LAVA (lava-run): monitor test, template validation, QEMU and simulated-server jobs" \
	>"$out/lava.result"
echo "$pass passed, $fail failed, 0 skipped"
[ "$fail" = 0 ]
