#!/usr/bin/env bash
# Asserts: with x2apic=on on a CPU without x2APIC the boot CPU stays in xAPIC mode and
# the header says why (CPUID.1:ECX[21] clear).
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_text "$log" '# apic: boot CPU in xAPIC mode (as the firmware left it; x2APIC wanted, but CPUID.1:ECX[21] is clear)'
