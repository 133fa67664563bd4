/* tests/test_bench.h - the bench suite's report lines, shared by tests/test_bench.c
 * (timed operations, protection on and off) and tests/test_bench_figures.c (memory
 * and guard-marker figures). One format, parsed by tests/bench/bench-table.sh:
 *
 *   # bench name=NAME on=V off=V ratio=R unit=UNIT n=N [key=value ...]
 *
 * on/off: the median with table protection enforced and switched off in the same
 * boot (mm/pgprot.h: pgprot_set_mode); ratio = on/off; "-" where a value does not
 * apply (a figure has no off; a boot without protection has no on). Timed lines add
 * on_min/on_max/off_min/off_max, pkrs_on/pkrs_off (PKRS loads per operation, a
 * count) and clock=hw|virtual|emulated (emulated: QEMU TCG, whose TSC says little
 * about hardware). A skipped figure is "# bench name=NAME skipped=REASON".
 */
#ifndef TESTS_TEST_BENCH_H
#define TESTS_TEST_BENCH_H

#include "kernel/types.h"

/* Prints a one-value figure line: on=value, off=- ratio=-. */
void bench_figure(const char *name, uint64_t value, const char *unit);
/* Prints a figure comparing two ways (a, b) as on=a off=b with their ratio; `what`
 * names them (e.g. "on=markers off=separate"). */
void bench_pair(const char *name, uint64_t a, uint64_t b, const char *unit, const char *what);
/* Prints a skip line with the reason. */
void bench_skipped(const char *name, const char *reason);

#endif
