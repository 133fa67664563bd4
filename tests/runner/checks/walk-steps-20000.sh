#!/usr/bin/env bash
# Asserts: the set_memory random walk took the 20000 steps set_memory.steps= asked
# for (the parameter reached the suite), split and merged, and its first run starts on
# a 1 GiB boundary (it was claimed inside a 1 GiB leaf, so that leaf split and merged
# too).
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_line "$log" '^ *# 20000 steps on runs at 0x([0-9a-f]*[048c])?0000000, 0x[0-9a-f]+, 0x[0-9a-f]+: [1-9][0-9]* splits, [1-9][0-9]* merges[[:space:]]*$' &&
	lacks_line "$log" "unknown parameter 'set_memory.steps"
