# tests/runner/ktap-check.awk - the strict check of a Warden serial log (POSIX awk).
#
#   awk -f tests/runner/ktap-check.awk LOG
#
# Prints one line, "ok: ..." or "LINE: what is wrong" (the first problem only), and
# exits 0 or 1. What a log must be, beyond KTAP version 1 itself:
#   - lines before the version line are the loader's (GRUB, firmware): none of them
#     may look like the kernel's, and the version line starts at column 0;
#   - the top-level plan "1..N" is the line right after the version line;
#   - a subtest is "KTAP version 1", "# Subtest: NAME", "1..n", each indented four
#     spaces deeper than its parent, and every line up to its result line is indented
#     like that ("#" diagnostics included); its result line names NAME;
#   - result lines carry a name and are numbered 1, 2, ... in every test; every
#     planned test has one; a test reported "ok" has no failed subtest;
#   - no blank lines, tabs or unknown lines once the report has begun; "Bail out!"
#     only at the top level after the last result; the last line is the closing line
#     "P passed, F failed, S skipped" (repeated copies allowed: hardware re-prints it)
#     and its counts are those of the leaf results, counted as Linux's kunit parser
#     counts them ("# SKIP" = skipped; a parent without results counts as a leaf,
#     except a plain "ok" one, which counts nothing).

function fail(msg) {
	printf "%d: %s\n", NR, msg
	failed = 1
	exit 1
}

# Counts a leaf result line: "# SKIP" skips, else ok passes and not ok fails.
function count_leaf(text) {
	if (text ~ / # SKIP/)
		skip++
	else if (text ~ /^ok /)
		pass++
	else
		fails++
}

# Name of a result line: what follows the number, up to " # ".
function result_name(text,    s) {
	s = text
	sub(/^(not ok|ok) [0-9]+ /, "", s)
	sub(/ # .*$/, "", s)
	return s
}

# A result line at depth d: checks its number; when `closes`, it is the result of the
# subtest one level deeper, else a leaf.
function result(d, text, closes,    n, status) {
	if (text !~ /^(not ok|ok) [0-9]+ [^ #]/)
		fail("malformed result line (want \"ok|not ok NUMBER NAME [# ...]\"): " text)
	n = text
	sub(/^(not ok|ok) /, "", n)
	sub(/ .*$/, "", n)
	if (n + 0 != done[d] + 1)
		fail("result number " n " where " (done[d] + 1) " is due")
	if (done[d] + 1 > plan[d])
		fail("result " n " beyond the plan 1.." plan[d])
	done[d]++
	status = (text ~ /^ok /) ? "ok" : "not ok"
	if (closes) {
		if (result_name(text) != name[d + 1])
			fail("result line of subtest '" name[d + 1] "' names '" result_name(text) "'")
		if (status == "ok" && bad[d + 1])
			fail("subtest '" name[d + 1] "' reported ok but one of its tests failed")
		if (done[d + 1] == 0 && text !~ /^ok [0-9]+ [^#]*$/)
			count_leaf(text) # as kunit: an ok parent without results counts nothing
	} else {
		count_leaf(text)
	}
	if (status == "not ok")
		bad[d] = 1
}

# Opens a subtest at depth d (its version line was just read).
function open_subtest(d) {
	cur = d
	expect = "subtest"
	plan[d] = -1
	done[d] = 0
	bad[d] = 0
	name[d] = ""
}

# The line after a subtest's version line, or after its "# Subtest:" line.
function subtest_head(text) {
	if (expect == "subtest") {
		if (text !~ /^# Subtest: [^ ]/)
			fail("\"# Subtest: NAME\" must follow a subtest's version line: " text)
		name[cur] = substr(text, 12)
		expect = "plan"
	} else {
		if (text !~ /^1\.\.[0-9]+$/)
			fail("the plan of subtest '" name[cur] "' must follow its name: " text)
		plan[cur] = substr(text, 4) + 0
		expect = ""
	}
}

# A line at the top level once every result is in: totals, Bail out!, closing line.
function after_results(text) {
	if (text ~ /^Bail out!/) {
		bailed = text
		return
	}
	if (text !~ /^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$/)
		fail("after the last result only \"#\" lines, \"Bail out!\" and the closing line: " text)
	if (closing_line != "" && text != closing_line)
		fail("a second, different closing line: " text)
	closing_line = text
}

# Before the version line: loader output, which must not look like the kernel's.
function before_report(line) {
	if (line == "KTAP version 1") {
		state = "plan"
		return
	}
	if (line ~ /KTAP version [0-9]+$/)
		fail("the version line must start a line of its own: " line)
	if (line ~ /^ *(#|ok |not ok |[0-9]+\.\.[0-9]|Bail out!|PANIC|FATAL|[0-9]+ passed, )/)
		fail("a kernel line before the version line: " line)
}

BEGIN {
	state = "noise"
	cur = 0
	pass = fails = skip = 0
}

{
	line = $0
	gsub(/\r/, "", line)
	if (state == "noise") {
		before_report(line)
		next
	}
	if (state == "plan") {
		if (line !~ /^1\.\.[0-9]+$/)
			fail("the plan \"1..N\" must directly follow the version line: " line)
		plan[0] = substr(line, 4) + 0
		done[0] = 0
		state = "body"
		next
	}
	if (closing_line != "" && line != closing_line)
		fail("a line after the closing line: " line)
	if (line ~ /\t/)
		fail("a tab in the report")
	match(line, /^ */)
	ind = RLENGTH
	text = substr(line, ind + 1)
	if (text == "")
		fail("a blank line in the report")
	if (ind % 4)
		fail("indented " ind " spaces, not a multiple of 4: " line)
	d = ind / 4
	if (bailed != "" && text !~ /^#/ && text !~ /^[0-9]+ passed, /)
		fail("a line after \"Bail out!\": " line)
	if (expect != "") {
		if (d != cur)
			fail("subtest header lines must be indented like its version line: " line)
		subtest_head(text)
		next
	}
	if (d == cur + 1 && text == "KTAP version 1") {
		open_subtest(d)
		next
	}
	if (d > cur)
		fail("indented deeper than the test in progress: " line)
	if (d < cur) {
		if (d != cur - 1 || text !~ /^(not ok|ok) /)
			fail("inside subtest '" name[cur] "' and not indented like it: " line)
		if (done[cur] != plan[cur])
			fail("subtest '" name[cur] "' planned " plan[cur] " tests and reported " done[cur])
		cur = d
		result(d, text, 1)
		next
	}
	if (text ~ /^#/)
		next
	if (text ~ /^(not ok|ok) /) {
		if (bailed != "")
			fail("a result after \"Bail out!\": " line)
		result(d, text, 0)
		next
	}
	if (d == 0 && text ~ /^Bail out!/ && done[0] < plan[0])
		fail("\"Bail out!\" before the last planned result (" done[0] " of " plan[0] ")")
	if (d == 0 && text ~ /^[0-9]+ passed, / && done[0] < plan[0])
		fail("planned " plan[0] " top-level tests, reported " done[0])
	if (d == 0 && done[0] == plan[0]) {
		after_results(text)
		next
	}
	fail("not a KTAP line: " line)
}

END {
	if (failed)
		exit 1
	if (state == "noise")
		fail("no \"KTAP version 1\" line")
	if (state == "plan")
		fail("the log ends after the version line")
	if (cur != 0)
		fail("the log ends inside subtest '" name[cur] "'")
	if (done[0] != plan[0])
		fail("planned " plan[0] " top-level tests, reported " done[0])
	if (closing_line == "")
		fail("no closing line \"P passed, F failed, S skipped\"")
	want = pass " passed, " fails " failed, " skip " skipped"
	if (closing_line != want)
		fail("closing line '" closing_line "' but the results count " want)
	printf "ok: %d top-level tests, %s%s\n", plan[0], want, bailed != "" ? "; " bailed : ""
}
