/* tests/test_bench.c - what page-table protection costs, in TSC cycles per
 * operation (the harness, and the PKRS, window and store figures; the table
 * operations are in tests/test_bench_ops.c, the memory figures in
 * tests/test_bench_figures.c): each operation timed with the tables protected and again with the
 * protection switched off (pgprot_set_mode(PGPROT_OFF)), in the same boot on the
 * same memory. Per repetition the TSC is read serialised (lfence; rdtsc before,
 * rdtscp; lfence after), the same loop around an empty call is subtracted, and a
 * line (tests/test_bench.h) gives the median, min and max of the repetitions, the
 * ratio, and the PKRS loads one operation made (a count). Figures only: a case
 * asserts that what it timed worked and that protection is back on, never a time.
 * Under QEMU TCG the TSC is emulated (clock=emulated) and the figures say little;
 * on hardware they are the point. ktest.bench_reps=N sets the repetitions (default 3;
 * `make bench` uses 101). The TLB shootdown rounds are tests/test_smp_tlb_bench.c's. */
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"
#include "arch/cpu.h"
#include "tests/test_bench.h"

KTEST_SUITE(90, bench, NULL);

#define BENCH_REPS_MAX 255

struct bench_stats {
	uint64_t med, min, max, pkrs;
	bool done;
};

static uint64_t tsc_begin(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static uint64_t tsc_end(void)
{
	uint32_t lo, hi, aux;

	__asm__ volatile("rdtscp; lfence" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static int bench_reps(void)
{
	uint64_t n = 3;

	if (cmdline_get("ktest.bench_reps"))
		parse_u64(cmdline_get("ktest.bench_reps"), &n);
	return (int)MIN(MAX(n, 3), BENCH_REPS_MAX);
}

const char *bench_clock(void)
{
	for (const char *b = cpu.brand; *b; b++)
		if (strncmp(b, "TCG", 3) == 0)
			return "emulated";
	return cpu.hypervisor ? "virtual" : "hw";
}

static void sort(uint64_t *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
			uint64_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

static void nothing(void *ctx)
{
	(void)ctx;
}

/* Cycles of one repetition of op (inner calls through the pointer, TSC reads). */
static uint64_t bench_once(const struct bench_op *op)
{
	void (*volatile run)(void *) = op->run;
	uint64_t t;

	if (op->prep)
		op->prep(op->ctx);
	t = tsc_begin();
	for (uint64_t i = 0; i < op->inner; i++)
		run(op->ctx);
	return tsc_end() - t;
}

/* The median, min and max cycles per call of op over reps repetitions, less the
 * median of the same loop around an empty call; and the PKRS loads of one call. */
static void bench_measure(const struct bench_op *op, int reps, struct bench_stats *s)
{
	static uint64_t v[BENCH_REPS_MAX];
	struct bench_op empty = BENCH_OP("", op->inner, NULL, nothing, NULL);
	struct pt_door_counts c0, c1;
	uint64_t base;

	if (op->setup)
		op->setup(op->ctx);
	for (int r = 0; r < reps; r++)
		v[r] = bench_once(&empty);
	sort(v, reps);
	base = v[reps / 2];
	for (int r = 0; r < reps; r++) {
		uint64_t t = bench_once(op);

		v[r] = (t > base ? t - base : 0) / op->inner;
	}
	sort(v, reps);
	*s = (struct bench_stats){ v[reps / 2], v[0], v[reps - 1], 0, true };
	if (op->prep)
		op->prep(op->ctx);
	pt_door_counts(&c0);
	op->run(op->ctx);
	pt_door_counts(&c1);
	s->pkrs = c1.pkrs_writes - c0.pkrs_writes;
	if (op->teardown)
		op->teardown(op->ctx);
}

static void print_value(char *buf, size_t size, const struct bench_stats *s, uint64_t v)
{
	if (s->done)
		ksnprintf(buf, size, "%llu", (unsigned long long)v);
	else
		ksnprintf(buf, size, "-");
}

static void bench_line(const char *name, const struct bench_stats *on,
		       const struct bench_stats *off, int reps)
{
	char v[8][24], ratio[24] = "-";

	print_value(v[0], 24, on, on->med);
	print_value(v[1], 24, off, off->med);
	print_value(v[2], 24, on, on->min);
	print_value(v[3], 24, on, on->max);
	print_value(v[4], 24, off, off->min);
	print_value(v[5], 24, off, off->max);
	print_value(v[6], 24, on, on->pkrs);
	print_value(v[7], 24, off, off->pkrs);
	if (on->done && off->done && off->med)
		ksnprintf(ratio, sizeof(ratio), "%llu.%02llu",
			  (unsigned long long)(on->med / off->med),
			  (unsigned long long)(on->med % off->med * 100 / off->med));
	ktest_note("bench name=%s on=%s off=%s ratio=%s unit=cycles n=%d on_min=%s on_max=%s "
		   "off_min=%s off_max=%s pkrs_on=%s pkrs_off=%s clock=%s",
		   name, v[0], v[1], ratio, reps, v[2], v[3], v[4], v[5], v[6], v[7],
		   bench_clock());
}

void bench_on_off(const struct bench_op *op)
{
	struct bench_stats on = { 0 }, off = { 0 };
	bool protected = pgprot_enforced();
	int reps = bench_reps();

	if (protected)
		bench_measure(op, reps, &on);
	if (protected)
		KEXPECT_EQ(pgprot_set_mode(PGPROT_OFF), 0);
	bench_measure(op, reps, &off);
	if (protected) {
		KEXPECT_EQ(pgprot_set_mode(PGPROT_ON), 0);
		KEXPECT_TRUE(pgprot_enforced() && !pt_window_is_open());
	}
	bench_line(op->name, &on, &off, reps);
}

void bench_figure(const char *name, uint64_t value, const char *unit)
{
	ktest_note("bench name=%s on=%llu off=- ratio=- unit=%s n=1", name,
		   (unsigned long long)value, unit);
}

void bench_pair(const char *name, uint64_t a, uint64_t b, const char *unit, const char *what)
{
	ktest_note("bench name=%s on=%llu off=%llu ratio=%llu.%02llu unit=%s n=1 compare=%s", name,
		   (unsigned long long)a, (unsigned long long)b,
		   (unsigned long long)(b ? a / b : 0),
		   (unsigned long long)(b ? a % b * 100 / b : 0), unit, what);
}

void bench_skipped(const char *name, const char *reason)
{
	ktest_note("bench name=%s skipped=\"%s\"", name, reason);
}

/* ---- the PKRS and the door ------------------------------------------------------ */

static uint32_t pkrs_value;

static void op_pkrs_read(void *ctx)
{
	*(volatile uint32_t *)ctx = pkrs_read();
}

static void op_pkrs_write(void *ctx)
{
	(void)ctx;
	pkrs_write(pkrs_value);
}

static void prep_pkrs_write(void *ctx)
{
	(void)ctx;
	pkrs_value = pkrs_read();
}

static void op_window(void *ctx)
{
	(void)ctx;
	pt_window_close(pt_window_open());
}

KTEST(bench, pkrs_read_write_and_window)
{
	uint32_t sink = 0;
	const struct bench_op ops[] = {
		BENCH_OP("pkrs_read", 64, NULL, op_pkrs_read, &sink),
		BENCH_OP("pkrs_write", 64, prep_pkrs_write, op_pkrs_write, NULL),
		BENCH_OP("window_open_close", 64, NULL, op_window, NULL),
	};

	if (!pks_enabled())
		KTEST_SKIP(pks_unavailable_reason() ?: "PKS not enabled");
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		bench_on_off(&ops[i]);
	KEXPECT_EQ(pkrs_read(), pks_default());
}

/* A vmap range of 512 pages mapped by one pte table, and a data page. */
struct store_ctx {
	uint64_t *e, *table;
	volatile uint64_t *data;
};

static void op_store_helper(void *ctx)
{
	struct store_ctx *c = ctx;

	pt_set_entry(c->e, *c->e);
}

static void op_store_plain(void *ctx)
{
	struct store_ctx *c = ctx;

	*c->data = 1;
}

/* 512 entries written back in one window, each through the checked batch helper. */
static void op_fill_protected(void *ctx)
{
	struct store_ctx *c = ctx;
	uint32_t w = pt_window_open();

	for (int i = 0; i < PT_ENTRIES; i++)
		__pt_set_entry(&c->table[i], c->table[i]);
	pt_window_close(w);
}

static void op_fill_plain(void *ctx)
{
	struct store_ctx *c = ctx;

	for (int i = 0; i < PT_ENTRIES; i++)
		c->data[i] = (uint64_t)i;
}

KTEST(bench, table_store_and_512_entry_fill)
{
	uint64_t va = vmap_reserve(512 * PAGE_SIZE, 2 * MiB);
	phys_addr_t pa = frame_alloc_run(512, PAGE_SIZE), data = frame_alloc();
	struct store_ctx c;
	int level;
	const struct bench_op ops[] = {
		BENCH_OP("table_store_helper", 64, NULL, op_store_helper, &c),
		BENCH_OP("table_store_plain", 64, NULL, op_store_plain, &c),
		BENCH_OP("table_fill_512_protected", 1, NULL, op_fill_protected, &c),
		BENCH_OP("table_fill_512_plain", 1, NULL, op_fill_plain, &c),
	};

	KASSERT_TRUE(va && pa && data);
	KASSERT_EQ(vmap_map(va, pa, 512 * PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	c.e = pt_lookup(va, &level);
	KASSERT_TRUE(c.e != NULL && level == PT_LEVEL_PTE);
	c.table = c.e - pt_index(va, PT_LEVEL_PTE);
	c.data = pa_to_va(data);
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		bench_on_off(&ops[i]);
	KEXPECT_EQ(c.data[511], 511);
	KEXPECT_EQ(pt_entry_pa(*c.e, PT_LEVEL_PTE), pa);
	vmap_unmap(va, 512 * PAGE_SIZE);
	KEXPECT_EQ(frame_free_run(pa, 512), 0);
	KEXPECT_EQ(frame_free(data), 0);
}
