#!/usr/bin/env bash
# tests/capture/sol-capture.sh - captures Warden's report from a server's serial
# console (IPMI serial-over-LAN through its BMC, or any command that streams the
# console to stdout), saves it, stops at the closing line and judges it like
# `make test` judges a boot.
#
#   tests/capture/sol-capture.sh -H BMC [-U USER] [-o LOG] [-t SECONDS]
#       ipmitool -I lanplus -H BMC -U USER -E sol activate   (password in IPMI_PASSWORD)
#   tests/capture/sol-capture.sh [-o LOG] [-t SECONDS] -- COMMAND [ARG...]
#       any command whose standard output is the serial console
#
# Start it before the boot (power on, or reset, after it is waiting): the report is
# judged from its first line, and a capture that attaches late sees only the closing
# line that Warden re-prints every 10 s, which is not a report. Warden never stops
# on hardware; the capture ends at the first closing line after "KTAP version 1".
#
# Exit status, as `make test`: 0 when the report is complete and valid KTAP (the
# strict check of tests/runner/ktap-check.awk) and says "N passed, 0 failed" with
# N > 0; 1 when it failed, is incomplete or malformed, or no closing line came within
# the time limit (default 1800 s); 2 for a usage error. The last line printed is the
# report's closing line, or "0 passed, 1 failed, 0 skipped" when there was none.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)

usage() {
	sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

bmc='' user=${IPMI_USER:-ADMIN} log=warden-sol.log limit=1800
while getopts 'H:U:o:t:h' opt; do
	case $opt in
	H) bmc=$OPTARG ;;
	U) user=$OPTARG ;;
	o) log=$OPTARG ;;
	t) limit=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = -- ] && shift
if [ $# -gt 0 ]; then
	cmd=("$@")
elif [ -n "$bmc" ]; then
	command -v ipmitool >/dev/null || { echo "sol-capture: ipmitool not found (apt-get install ipmitool)" >&2; exit 2; }
	[ -n "${IPMI_PASSWORD:-}" ] || { echo "sol-capture: set IPMI_PASSWORD (ipmitool -E reads it)" >&2; exit 2; }
	cmd=(ipmitool -I lanplus -H "$bmc" -U "$user" -E sol activate)
else
	usage
fi
case $limit in '' | *[!0-9]*) usage ;; esac

# The closing line, alone on its line (the stream ends lines with \r\n).
closing='^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$'

# capture: runs the command into $log until a closing line follows a version line,
# the command ends, or the time limit passes. Status 0 when a closing line came.
capture() {
	local fifo pid line rc seen=0 got=1 deadline=$((SECONDS + limit))
	fifo=$(mktemp -u) && mkfifo "$fifo" || return 1
	"${cmd[@]}" >"$fifo" 2>"$log.stderr" </dev/null &
	pid=$!
	exec 3<"$fifo"
	: >"$log"
	while [ $SECONDS -lt $deadline ]; do
		IFS= read -r -t 5 line <&3
		rc=$?
		if [ $rc -gt 128 ]; then # no line for 5 s
			kill -0 "$pid" 2>/dev/null && continue
			break
		fi
		[ $rc != 0 ] && [ -z "$line" ] && break # the command ended
		printf '%s\n' "$line" >>"$log"
		line=${line%$'\r'}
		[[ $line == *"KTAP version 1" ]] && seen=1
		if [ $seen = 1 ] && [[ $line =~ $closing ]]; then
			got=0
			break
		fi
		[ $rc != 0 ] && break
	done
	exec 3<&-
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$fifo"
	return $got
}

# judge: the strict KTAP check, then the closing line's counts. Status as make test.
judge() {
	local verdict closing_line p f s
	closing_line=$(tr -d '\r' <"$log" | grep -E "$closing" | tail -n 1)
	if ! verdict=$(tr -d '\r' <"$log" | awk -f "$top/tests/runner/ktap-check.awk"); then
		echo "sol-capture: $log is not a complete report: $verdict" >&2
		return 1
	fi
	read -r p _ f _ s _ <<<"$closing_line"
	echo "sol-capture: $log: ${p} passed, ${f} failed, ${s} skipped (KTAP check: $verdict)" >&2
	[ "$f" = 0 ] && [ "$p" -gt 0 ]
}

echo "sol-capture: ${cmd[*]} -> $log (up to $limit s)" >&2
if ! capture; then
	echo "sol-capture: no closing line after 'KTAP version 1' within $limit s (or the" \
		"console stream ended); see $log and $log.stderr" >&2
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
judge
rc=$?
tr -d '\r' <"$log" | grep -E "$closing" | tail -n 1
exit $rc
