#!/usr/bin/env bash
# Asserts: with COM2 alone and no SPCR, the probe finds only COM2 among the four legacy
# ports and the report goes there at 115200 baud.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_text "$log" '# console: probed ttyS0 (0x3f8): nothing answers; ttyS1 (0x2f8): a 16550; ttyS2 (0x3e8): nothing answers; ttyS3 (0x2e8): nothing answers' &&
	has_text "$log" '# console: report on ttyS1 (0x2f8) at 115200 baud: every legacy UART found'
