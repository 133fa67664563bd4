#!/usr/bin/python3
"""tests/lava/test-monitor.py - checks the LAVA monitor of tests/lava/monitor.yaml.

    test-monitor.py [--verbose]

Plays sample serial logs through a pty into LAVA's own monitor code
(lava_dispatcher.actions.test.monitor.TestMonitorAction, pexpect underneath), as
lava-run does with a board's console: the feeder sends each line ending in \\r\\n as
Warden does, in small pieces so that reads cut lines in two, and the pty turns \\n
into \\r\\n, so LAVA sees \\r\\r\\n. Each case says how many results LAVA must record
(pass, fail, skip) and whether it must see the closing line; for a complete log the
counts must also equal the log's own closing line. Prints one line per case, then
"N passed, N failed, 0 skipped"; exit status 0 only when every case passed.
Needs lava-dispatcher (Debian package).
"""
import collections
import os
import re
import sys

import pexpect
import yaml
from lava_dispatcher.actions.test.monitor import TestMonitorAction

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
KTAP = os.path.join(TOP, "tests", "runner", "ktap-samples")
CLOSING = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$", re.M)

# The feeder: writes a file to its stdout (a pty) in pieces of 7 bytes, with short
# pauses, each line ending in argv[2] ("crlf": \r\n, as Warden sends; "lf": \n).
FEEDER = r"""
import sys, time
text = open(sys.argv[1], "rb").read().replace(b"\r", b"")
if sys.argv[2] == "crlf":
    text = text.replace(b"\n", b"\r\n")
cut = int(sys.argv[3])
if cut:
    text = text[:cut]
for i in range(0, len(text), 7):
    sys.stdout.buffer.write(text[i:i + 7])
    sys.stdout.flush()
    time.sleep(0.0005)
time.sleep(float(sys.argv[4]))
"""

# name, sample, line ends, bytes kept (0 = all), expected pass/fail/skip, closing line seen
CASES = [
    ("nested cases, fail and SKIP", KTAP + "/good-complete.log", "crlf", 0, (3, 1, 1), True),
    ("same with \\n only", KTAP + "/good-complete.log", "lf", 0, (3, 1, 1), True),
    ("crashed case, not run, later suite", KTAP + "/good-crash.log", "crlf", 0, (2, 3, 0), True),
    ("crash boot (pgprot_fatal)", HERE + "/samples/crash-in-case.log", "crlf", 0, (30, 2, 0), True),
    ("crash outside any case", HERE + "/samples/crash-outside-case.log", "crlf", 0, (2, 2, 0), True),
    ("unknown suite (ktest=...,nope)", HERE + "/samples/unknown-suite.log", "crlf", 0, (30, 1, 0), True),
    ("panic before the suites, unknown suite", KTAP + "/good-early-panic.log", "crlf", 0, (0, 2, 0), True),
    ("skipped suite", KTAP + "/good-skipped-suite.log", "crlf", 0, (0, 0, 2), True),
]


class Recorder:
    """Stands in for LAVA's YAML logger: keeps the results, drops the rest."""

    def __init__(self):
        self.recorded = []

    def results(self, result, *args, **kwargs):
        self.recorded.append(result)

    def __getattr__(self, name):  # info, debug, warning, error
        return lambda *args, **kwargs: None


def load_monitor():
    """The monitor entry, as render.py puts it into the jobs."""
    with open(os.path.join(HERE, "monitor.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def cut_offset(path, text):
    """Offset (after \r\n conversion) in the middle of the first line holding text."""
    with open(path, "rb") as f:
        data = f.read().replace(b"\r", b"").replace(b"\n", b"\r\n")
    return data.index(text.encode()) + len(text) // 2


def play(monitor, path, ends, cut=0, tail=0.0, timeout=5):
    """Runs LAVA's monitor over the sample; returns (Counter of results, end seen)."""
    child = pexpect.spawn(sys.executable, ["-c", FEEDER, path, ends, str(cut), str(tail)],
                          encoding="utf-8", codec_errors="replace", maxread=4092)
    action = TestMonitorAction()
    action.logger = Recorder()
    action.level = "3.1"
    action.test_suite_name = monitor["name"]
    action.fixupdict = monitor.get("fixupdict")
    action.patterns = collections.OrderedDict(
        [("eof", pexpect.EOF), ("timeout", pexpect.TIMEOUT),
         ("end", monitor["end"]), ("test_result", monitor["pattern"])])
    end = False
    try:
        child.expect(monitor["start"], timeout=timeout)
        while action._keep_running(child, timeout=timeout):
            pass
        end = action.results.get("status") == "passed"
    except Exception:  # LAVA raises ConnectionClosedError at EOF
        end = False
    child.close(force=True)
    got = collections.Counter(r["result"] for r in action.logger.recorded)
    return got, end


def closing_line(path):
    """The sample's closing line as (pass, fail, skip), or None."""
    with open(path, encoding="utf-8", errors="replace") as f:
        m = CLOSING.search(f.read())
    return tuple(int(x) for x in m.groups()) if m else None


def check(name, got, end, want, want_end, closing=None):
    """One case's verdict line; returns True when it passed."""
    counts = (got["pass"], got["fail"], got["skip"])
    ok = counts == want and end == want_end and (closing is None or counts == closing)
    print("%-4s %s: LAVA %d pass, %d fail, %d skip, closing line %s%s" % (
        "ok" if ok else "FAIL", name, *counts, "seen" if end else "not seen",
        "" if ok else " (want %s, closing line %s, %s)" % (
            want, closing, "seen" if want_end else "not seen")))
    return ok


def main():
    monitor = load_monitor()
    results = []
    for name, path, ends, cut, want, want_end in CASES:
        got, end = play(monitor, path, ends, cut)
        results.append(check(name, got, end, want, want_end, closing_line(path)))
    # A run cut short in the middle of a case line: the half line is no result, the
    # monitor times out without the closing line.
    path = HERE + "/samples/crash-in-case.log"
    got, end = play(monitor, path, "crlf", cut_offset(path, "    ok 5 "), tail=3, timeout=2)
    results.append(check("run cut short mid-line", got, end, (4, 0, 0), False))
    # The trap: a pattern ending in \r?\n records nothing from \r\r\n lines.
    naive = dict(monitor, pattern=monitor["pattern"].replace(r"\r*\n", r"\r?\n"))
    got, end = play(naive, KTAP + "/good-complete.log", "crlf")
    results.append(check("a pattern ending in \\r?\\n sees 0 cases", got, end, (0, 0, 0), True))
    print("%d passed, %d failed, 0 skipped" % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
