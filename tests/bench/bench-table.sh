#!/bin/bash
# tests/bench/bench-table.sh - the bench suite's lines (tests/test_bench.h) as a table.
#
#   bench-table.sh REPORT            one report: name, on, off, ratio, unit, n, ...
#   bench-table.sh REPORT_A REPORT_B two reports side by side (e.g. QEMU TCG vs a
#                                    server), with B/A of the "on" medians
#
# A report is any text holding the lines: a QEMU serial log, the runner's
# build/test/*.log, or a server's SOL capture (carriage returns, escape sequences
# and prefixes before "# bench " are ignored). Exits 1 when a report has no bench
# line, 2 on a usage error.
set -u

usage() {
	echo "usage: $0 REPORT [REPORT_B]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
for f in "$@"; do
	[ -r "$f" ] || { echo "$0: cannot read $f" >&2; exit 2; }
done

# Prints "name<TAB>key=value..." for each bench line of $1, in report order.
extract() {
	tr -d '\r' <"$1" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' |
		sed -n 's/^.*# bench \(name=.*\)$/\1/p'
}

for f in "$@"; do
	if [ -z "$(extract "$f")" ]; then
		echo "$0: no '# bench name=' line in $f (was the bench suite run?)" >&2
		exit 1
	fi
done

if [ $# -eq 1 ]; then
	extract "$1" | awk '
	function field(k,   i, p) {
		for (i = 1; i <= NF; i++) {
			p = index($i, "=")
			if (p && substr($i, 1, p - 1) == k)
				return substr($i, p + 1)
		}
		return "-"
	}
	BEGIN {
		fmt = "%-34s %12s %12s %7s %-11s %4s %11s %11s %6s %s\n"
		printf fmt, "name", "on", "off", "on/off", "unit", "n", "on min", "on max", "pkrs", "clock"
	}
	{
		name = field("name")
		if (field("skipped") != "-") {
			s = $0; sub(/.*skipped=/, "", s)
			printf "%-34s skipped: %s\n", name, s
			next
		}
		pk = field("pkrs_on") "/" field("pkrs_off")
		if (pk == "-/-") pk = "-"
		clk = field("clock")
		if (clk == "-") clk = field("compare")
		printf fmt, name, field("on"), field("off"), field("ratio"), field("unit"), field("n"),
			field("on_min"), field("on_max"), pk, (clk == "-" ? "" : clk)
	}'
	exit 0
fi

# Two reports: join by name, in the first report's order (then the second's own).
{ extract "$1" | sed 's/^/A /'; extract "$2" | sed 's/^/B /'; } | awk -v fa="$1" -v fb="$2" '
function field(line, k,   n, a, i, p) {
	n = split(line, a, " ")
	for (i = 1; i <= n; i++) {
		p = index(a[i], "=")
		if (p && substr(a[i], 1, p - 1) == k)
			return substr(a[i], p + 1)
	}
	return "-"
}
{
	side = $1; sub(/^[AB] /, "")
	name = field($0, "name")
	if (!(name in seen)) { seen[name] = 1; order[++n] = name }
	line[side, name] = $0
	if (field($0, "clock") != "-") clock[side] = field($0, "clock")
}
function cell(side, name, k,   l) {
	l = line[side, name]
	if (l == "") return "(none)"
	if (field(l, "skipped") != "-") return "skipped"
	return field(l, k)
}
END {
	fmt = "%-34s %12s %12s %7s | %12s %12s %7s | %8s %s\n"
	printf "A: %s (clock %s)\nB: %s (clock %s)\n", fa, ("A" in clock ? clock["A"] : "-"), fb, ("B" in clock ? clock["B"] : "-")
	printf fmt, "name", "A on", "A off", "A on/off", "B on", "B off", "B on/off", "B/A on", "unit"
	for (i = 1; i <= n; i++) {
		nm = order[i]; a = cell("A", nm, "on"); b = cell("B", nm, "on")
		r = (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/ && a > 0) ? sprintf("%.2f", b / a) : "-"
		u = cell("A", nm, "unit"); if (u == "(none)" || u == "skipped") u = cell("B", nm, "unit")
		printf fmt, nm, a, cell("A", nm, "off"), cell("A", nm, "ratio"),
			b, cell("B", nm, "off"), cell("B", nm, "ratio"), r, u
	}
}'
