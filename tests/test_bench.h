/* tests/test_bench.h - the bench suite's report lines, shared by tests/test_bench.c
 * (the harness; PKRS, windows, stores), tests/test_bench_ops.c (splits, merges,
 * set_memory, vmap, guard markers, context switches) and tests/test_bench_figures.c
 * (memory and guard-marker figures). One format, parsed by tests/bench/bench-table.sh:
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

/* One timed operation: run `inner` times per repetition (fast ones loop to rise
 * above the TSC's resolution), prep (untimed) before each repetition; setup and
 * teardown (optional) around the repetitions of each mode. */
struct bench_op {
	const char *name;
	uint64_t inner;
	void (*prep)(void *ctx);
	void (*run)(void *ctx);
	void *ctx;
	void (*setup)(void *ctx);
	void (*teardown)(void *ctx);
};

/* An operation without setup or teardown. */
#define BENCH_OP(n, in, p, r, c)                                                \
	{                                                                       \
		.name = (n), .inner = (in), .prep = (p), .run = (r), .ctx = (c) \
	}

/* Times op with protection on, then off (pgprot_set_mode), and prints its line;
 * without protection, only off. Protection is on again afterwards (asserted). */
void bench_on_off(const struct bench_op *op);

/* Prints a one-value figure line: on=value, off=- ratio=-. */
void bench_figure(const char *name, uint64_t value, const char *unit);
/* Prints a figure comparing two ways (a, b) as on=a off=b with their ratio; `what`
 * names them (e.g. "on=markers off=separate"). */
void bench_pair(const char *name, uint64_t a, uint64_t b, const char *unit, const char *what);
/* Prints a skip line with the reason. */
void bench_skipped(const char *name, const char *reason);
/* The clock= word of a line: "emulated" under TCG (its TSC says little about
 * hardware), "virtual" under another hypervisor, else "hw". */
const char *bench_clock(void);

#endif
