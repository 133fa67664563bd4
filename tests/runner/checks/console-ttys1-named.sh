#!/usr/bin/env bash
# Asserts: console=ttyS1,57600 puts the report on COM2 at 57600, and COM1
# (BOOT.com1.log) gets only the line naming COM2, no part of the report.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
com1=$dir/$boot.com1.log
has_text "$log" '# console: report on ttyS1 (0x2f8) at 57600 baud: console= names it' &&
	has_text "$com1" 'warden: console: the report goes to ttyS1 (0x2f8) at 57600 baud (console= names it); nothing more on this port' &&
	lacks_line "$com1" 'KTAP'
