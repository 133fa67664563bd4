#!/usr/bin/env bash
# Asserts: the split pool placed at least one chunk above 4 GiB (a guest whose RAM
# is mostly above 4 GiB must not be served from the low memory alone).
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_line "$log" '^# split pool placement: [0-9]+ chunks below 4 GiB, [1-9][0-9]* above'
