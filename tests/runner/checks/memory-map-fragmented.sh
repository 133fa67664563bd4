#!/usr/bin/env bash
# Asserts: the kernel read a memory map of 300 to 399 ranges: GRUB's 300 cuts
# (fragment = 300) plus the firmware's own few ranges, none lost.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_line "$log" '^# memory map \(multiboot2 memory map, 3[0-9][0-9] ranges\)'
