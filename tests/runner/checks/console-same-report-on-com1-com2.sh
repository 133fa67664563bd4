#!/usr/bin/env bash
# Asserts: with COM1 and COM2 both present the report goes to both, and from the KTAP
# version line on the two copies (BOOT.log, BOOT.com2.log) are identical.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
com2=$dir/$boot.com2.log
# ktap_part FILE: FILE without carriage returns, from "KTAP version 1" to the end.
ktap_part() {
	tr -d '\r' <"$1" | sed -n '/^KTAP version 1$/,$p'
}
has_text "$log" '# console: report on ttyS0 (0x3f8) at 115200 baud, ttyS1 (0x2f8) at 115200 baud: every legacy UART found' || exit 1
diff <(ktap_part "$log") <(ktap_part "$com2") >/dev/null && exit 0
echo "the report on COM1 ($boot.log) differs from the one on COM2 ($boot.com2.log)" >&2
exit 1
