#!/usr/bin/env bash
# Asserts: the kernel image was loaded away from its link address (2 MiB) and the
# header says where.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_line "$log" '^# image: loaded at 0x[0-9a-f]* \(linked at 0x200000\)' &&
	lacks_line "$log" '^# image: loaded at 0x200000 '
