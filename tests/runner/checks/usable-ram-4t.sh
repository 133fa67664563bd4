#!/usr/bin/env bash
# Asserts: a 4 TiB guest's usable RAM is counted as 41943xx MiB (4 TiB = 4194304 MiB):
# all of it but what the firmware keeps, not a map cut short or a size misread.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_line "$log" '^# usable RAM: 41943[0-9][0-9] MiB'
