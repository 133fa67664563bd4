#!/usr/bin/env bash
# Asserts: with COM2 alone and an SPCR naming it at 57600 baud, the probe finds COM2
# only, the SPCR is decoded, and the report goes to COM2 at 57600 because of it.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_text "$log" '# console: probed ttyS0 (0x3f8): nothing answers; ttyS1 (0x2f8): a 16550;' &&
	has_text "$log" '# console: SPCR revision 2: interface type 0x00, I/O port 0x2f8, 57600 baud' &&
	has_text "$log" "# console: report on ttyS1 (0x2f8) at 57600 baud: the firmware's SPCR names it"
