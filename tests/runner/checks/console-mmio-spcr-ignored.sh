#!/usr/bin/env bash
# Asserts: an SPCR naming an MMIO UART is reported as not used (the console drives
# I/O-port UARTs only) and the report goes to every legacy UART found.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_text "$log" '# console: SPCR: an MMIO UART at 0xfe030000 (the console drives I/O-port UARTs only): not used' &&
	has_text "$log" '# console: report on ttyS0 (0x3f8) at 115200 baud, ttyS1 (0x2f8) at 115200 baud: every legacy UART found'
