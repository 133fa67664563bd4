#!/usr/bin/env bash
# Asserts: console=ttyS0,12345 (no whole divisor of 115200 gives it) is reported and
# ignored, and the report stays on COM1 at 115200 baud.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_text "$log" '# console: console=ttyS0,12345: 12345 baud is not 115200/n for a whole n from 1 to 65535: ignored, 115200 baud kept' &&
	has_text "$log" '# console: report on ttyS0 (0x3f8) at 115200 baud: console= names it'
