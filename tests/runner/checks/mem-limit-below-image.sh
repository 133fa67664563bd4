#!/usr/bin/env bash
# Asserts: with mem=256M and the image loaded at 256 MiB or above, the report says
# that the limit ends below the kernel image.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
has_line "$log" '^# mem=256M ends below the kernel image'
