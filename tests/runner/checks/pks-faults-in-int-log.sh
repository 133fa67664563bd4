#!/usr/bin/env bash
# Asserts: QEMU's interrupt log (-d int, BOOT.int.txt) holds the PK page faults the
# pks suite provokes: real #PF exceptions with the PK bit, not only reported ones.
# shellcheck source=tests/runner/checks/lib.sh
. "$(dirname "$0")/lib.sh"
int=$dir/$boot.int.txt
# The pks suite's scenario and PKRS-step tables provoke, and QEMU 7.2 logs, exactly
# 10 #PF (v=0e) with error code 0x21 (P|PK: a read blocked by a key) and 13 with 0x23
# (P|W|PK: a write blocked by a key), all 23 at addresses in the vmap area
# (0xffffc9..., where the suite maps its test pages). They are floors, so that a case
# added to the suite does not break the check; fewer means faults the suite counted
# as seen did not happen in the CPU.
min_read_faults=10
min_write_faults=13
min_vmap_faults=$((min_read_faults + min_write_faults))
ok=0
at_least "$(grep -c ' v=0e e=0021 ' "$int")" $min_read_faults "#PF with error 0x21 in $boot.int.txt" || ok=1
at_least "$(grep -c ' v=0e e=0023 ' "$int")" $min_write_faults "#PF with error 0x23 in $boot.int.txt" || ok=1
at_least "$(grep -cE ' v=0e e=002[13] .*CR2=ffffc9' "$int")" $min_vmap_faults \
	"#PF 0x21/0x23 in the vmap area in $boot.int.txt" || ok=1
exit $ok
