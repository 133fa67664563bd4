#!/usr/bin/env bash
# Asserts: each of the boot's 4 CPUs counted both NMIs (monitor/nmi-twice.mon sends
# two, each to every CPU): its "unexpected NMI ... (count 2)" line is in the report.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
cpus=4 # the boot's smp; CPU n has APIC ID n under QEMU
for ((n = 0; n < cpus; n++)); do
	has_line "$log" "^    # nmi: unexpected NMI on CPU $n \(count 2\), APIC ID $n," || exit 1
done
