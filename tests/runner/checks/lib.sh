# shellcheck shell=bash
# tests/runner/checks/lib.sh - sourced by every check: its arguments and the helpers.
# A check is run as `checks/NAME.sh LOG BOOT` in the test output directory after a
# passing boot; it exits 0 if what it asserts holds, else names what is missing on
# stderr (the runner puts that in the boot's reason).
set -u
log=$1 boot=$2
dir=$(dirname "$log")

# has_text FILE TEXT: FILE holds TEXT (a fixed string).
has_text() {
	grep -aqF -- "$2" "$1" && return
	echo "$(basename "$1") lacks '$2'" >&2
	return 1
}

# has_line FILE REGEX: a line of FILE matches the extended regular expression REGEX.
has_line() {
	grep -aqE -- "$2" "$1" && return
	echo "$(basename "$1") has no line matching '$2'" >&2
	return 1
}

# lacks_line FILE REGEX: no line of FILE matches REGEX.
lacks_line() {
	grep -aqE -- "$2" "$1" || return 0
	echo "$(basename "$1") has a line matching '$2'" >&2
	return 1
}

# at_least COUNT MINIMUM WHAT: COUNT >= MINIMUM, else says WHAT fell short.
at_least() {
	[ "$1" -ge "$2" ] && return
	echo "$3: $1, expected at least $2" >&2
	return 1
}
