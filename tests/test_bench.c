/* tests/test_bench.c - what page-table protection costs, in TSC cycles per
 * operation: each operation timed with the tables protected and again with the
 * protection switched off (pgprot_set_mode(PGPROT_OFF)), in the same boot on the
 * same memory. Per repetition the TSC is read serialised (lfence; rdtsc before,
 * rdtscp; lfence after), the same loop around an empty call is subtracted, and a
 * line (tests/test_bench.h) gives the median, min and max of the repetitions, the
 * ratio, and the PKRS loads one operation made (a count). Figures only: a case
 * asserts that what it timed worked and that protection is back on, never a time.
 * Under QEMU TCG the TSC is emulated (clock=emulated) and the figures say little;
 * on hardware they are the point. ktest.bench_reps=N sets the repetitions (default 3;
 * `make bench` uses 101). The TLB shootdown round is not here yet (SMP work). */
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "kernel/thread.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "arch/cpu.h"
#include "tests/test_bench.h"

KTEST_SUITE(90, bench, NULL);

#define BENCH_REPS_MAX 255

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
#define BENCH_OP(n, in, p, r, c) \
	{ .name = (n), .inner = (in), .prep = (p), .run = (r), .ctx = (c) }

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

static const char *bench_clock(void)
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

/* Times op with protection on, then off, and prints the line. Protection is on
 * again afterwards (asserted). */
static void bench_on_off(const struct bench_op *op)
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
		   (unsigned long long)(b ? a / b : 0), (unsigned long long)(b ? a % b * 100 / b : 0),
		   unit, what);
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

/* ---- split and merge ------------------------------------------------------------ */

/* A 2 MiB run of the direct map, or a 1 GiB read-only vmap leaf (split only). */
struct leaf_ctx {
	uint64_t va;
	phys_addr_t pa;
	int level;
};

static int leaf_level(uint64_t va)
{
	int level;

	return pt_lookup(va, &level) ? level : -1;
}

/* The dmap run back in one 2 MiB leaf (a no-change set_memory merges it). */
static void prep_merged(void *ctx)
{
	struct leaf_ctx *c = ctx;

	if (leaf_level(c->va) != PT_LEVEL_PMD && set_memory_rw(c->va, 1))
		ktest_fail(__FILE__, __LINE__, "merge of 0x%llx failed", (unsigned long long)c->va);
}

static void op_split_2m(void *ctx)
{
	struct leaf_ctx *c = ctx;
	int level;
	uint64_t *e = pt_lookup(c->va, &level);

	if (!e || level != PT_LEVEL_PMD || set_memory_split_leaf(e, level, c->va))
		ktest_fail(__FILE__, __LINE__, "split of 0x%llx failed", (unsigned long long)c->va);
	invlpg((void *)c->va);
}

static void prep_split(void *ctx)
{
	struct leaf_ctx *c = ctx;

	if (leaf_level(c->va) == PT_LEVEL_PMD)
		op_split_2m(ctx);
}

/* Merge back: set_memory of a page that changes nothing, then merges its table. */
static void op_merge_2m(void *ctx)
{
	struct leaf_ctx *c = ctx;

	if (set_memory_rw(c->va, 1) || leaf_level(c->va) != PT_LEVEL_PMD)
		ktest_fail(__FILE__, __LINE__, "merge of 0x%llx failed", (unsigned long long)c->va);
}

KTEST(bench, split_2m_to_4k_and_merge_back)
{
	struct leaf_ctx c = { 0 };
	const struct bench_op ops[] = {
		BENCH_OP("split_2m_4k", 1, prep_merged, op_split_2m, &c),
		BENCH_OP("merge_4k_2m", 1, prep_split, op_merge_2m, &c),
	};

	c.pa = frame_alloc_run(512, 2 * MiB);
	KASSERT_TRUE(c.pa != 0);
	c.va = PAGE_OFFSET + c.pa;
	if (leaf_level(c.va) != PT_LEVEL_PMD)
		KTEST_SKIP("the run is not one 2 MiB leaf");
	for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
		bench_on_off(&ops[i]);
	prep_merged(&c);
	KEXPECT_EQ(leaf_level(c.va), PT_LEVEL_PMD);
	KEXPECT_EQ(frame_free_run(c.pa, 512), 0);
}

/* A fresh read-only 1 GiB vmap leaf over the first GiB of physical memory. */
static void prep_1g(void *ctx)
{
	struct leaf_ctx *c = ctx;

	vmap_unmap(c->va, GiB);
	if (vmap_map(c->va, 0, GiB, PT_LEVEL_PUD, PTE_NX, 0))
		ktest_fail(__FILE__, __LINE__, "1 GiB map failed");
}

static void op_split_1g(void *ctx)
{
	struct leaf_ctx *c = ctx;

	if (guard_split_leaf(c->va) || leaf_level(c->va) != PT_LEVEL_PMD)
		ktest_fail(__FILE__, __LINE__, "1 GiB split failed");
}

KTEST(bench, split_1g_to_2m)
{
	struct leaf_ctx c = { 0 };
	const struct bench_op op = BENCH_OP("split_1g_2m", 1, prep_1g, op_split_1g, &c);

	bench_skipped("merge_2m_1g", "needs a 1 GiB direct-map leaf of free RAM (not measured yet)");
	if (!dmap_has_1g())
		KTEST_SKIP("CPU has no 1 GiB pages");
	c.va = vmap_reserve(GiB, GiB);
	KASSERT_TRUE(c.va != 0);
	bench_on_off(&op);
	vmap_unmap(c.va, GiB);
	KEXPECT_EQ(leaf_level(c.va), -1);
}

/* ---- set_memory, vmap, guard markers ---------------------------------------------- */

struct range_ctx {
	uint64_t va, pages;
	phys_addr_t pa;
};

static void op_set_memory(void *ctx)
{
	struct range_ctx *c = ctx;

	if (set_memory_ro(c->va, c->pages) || set_memory_rw(c->va, c->pages))
		ktest_fail(__FILE__, __LINE__, "set_memory of %llu pages failed",
			   (unsigned long long)c->pages);
}

KTEST(bench, set_memory_ro_rw_of_1_512_and_many_pages)
{
	uint64_t sizes[] = { 1, 512, 262144 };
	char name[48];

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct range_ctx c = { 0, sizes[i], 0 };
		struct bench_op op = BENCH_OP(name, 1, NULL, op_set_memory, &c);

		while (!(c.pa = frame_alloc_run(MAX(c.pages, 512), 2 * MiB)) && c.pages > 512)
			c.pages /= 2; /* less RAM than the figure asks for: the largest run */
		KASSERT_TRUE(c.pa != 0);
		c.va = PAGE_OFFSET + c.pa;
		ksnprintf(name, sizeof(name), "set_memory_ro_rw_%llup", (unsigned long long)c.pages);
		bench_on_off(&op);
		KEXPECT_EQ(frame_free_run(c.pa, MAX(c.pages, 512)), 0);
	}
}

static void op_vmap(void *ctx)
{
	struct range_ctx *c = ctx;

	if (vmap_map(c->va, c->pa, c->pages * PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0))
		ktest_fail(__FILE__, __LINE__, "vmap_map failed");
	vmap_unmap(c->va, c->pages * PAGE_SIZE);
}

static void op_guard(void *ctx)
{
	struct range_ctx *c = ctx;

	if (guard_install(c->va, c->pages * PAGE_SIZE) || guard_remove(c->va, c->pages * PAGE_SIZE))
		ktest_fail(__FILE__, __LINE__, "guard install/remove failed");
}

KTEST(bench, vmap_map_unmap_vs_guard_install_remove)
{
	static const uint64_t sizes[] = { 1, 512 };
	char name[2][48];

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		uint64_t n = sizes[i];
		struct range_ctx m = { vmap_reserve(n * PAGE_SIZE, 2 * MiB), n, frame_alloc_run(n, PAGE_SIZE) };
		struct range_ctx g = { vmap_region_new("bench guard", n * PAGE_SIZE, 2 * MiB,
						       VMAP_OWNER_FRAMES), n, 0 };
		struct bench_op ops[] = { BENCH_OP(name[0], 1, NULL, op_vmap, &m),
					  BENCH_OP(name[1], 1, NULL, op_guard, &g) };

		KASSERT_TRUE(m.va && m.pa && g.va);
		ksnprintf(name[0], sizeof(name[0]), "vmap_map_unmap_%llup", (unsigned long long)n);
		ksnprintf(name[1], sizeof(name[1]), "guard_install_remove_%llup", (unsigned long long)n);
		for (size_t k = 0; k < ARRAY_SIZE(ops); k++)
			bench_on_off(&ops[k]);
		KEXPECT_FALSE(guard_range_has_marker(g.va, n * PAGE_SIZE));
		KEXPECT_EQ(vmap_region_free(g.va), 0);
		KEXPECT_EQ(frame_free_run(m.pa, n), 0);
	}
}

/* ---- context switch --------------------------------------------------------------- */

static const char bench_key_owner;

/* The partner thread: yields back until told to stop; with a key (> 0) it runs with
 * that key writable, so every switch loads another PKRS. A partner lives within
 * one mode: a thread keeps the PKRS it was switched out with, and one saved with
 * the tables protected must not resume with them switched off. */
struct switch_ctx {
	volatile bool stop;
	int key;
	bool pkrs_differs;
	struct thread *t;
};

static void partner(void *arg)
{
	struct switch_ctx *c = arg;

	if (c->key > 0)
		pks_set_access(&bench_key_owner, c->key, PKS_ACCESS_RW);
	while (!c->stop)
		thread_yield();
}

static void partner_start(void *ctx)
{
	struct switch_ctx *c = ctx;

	c->stop = false;
	c->t = thread_create("bench partner", partner, c);
	if (!c->t) {
		ktest_fail(__FILE__, __LINE__, "no partner thread");
		return;
	}
	thread_yield(); /* let it set its PKRS */
	c->pkrs_differs = thread_saved_pkrs(c->t) != pks_read();
}

static void partner_stop(void *ctx)
{
	struct switch_ctx *c = ctx;

	c->stop = true;
	if (c->t)
		thread_join(c->t);
	c->t = NULL;
}

/* One round trip: to the partner thread and back (two switches). */
static void op_yield(void *ctx)
{
	(void)ctx;
	thread_yield();
}

static void bench_switch(const char *name, int key)
{
	struct switch_ctx c = { .key = key };
	const struct bench_op op = { name, 16, NULL, op_yield, &c, partner_start, partner_stop };

	bench_on_off(&op);
	KEXPECT_EQ(c.pkrs_differs, key > 0);
}

KTEST(bench, context_switch_round_trip_with_and_without_pkrs_change)
{
	int key;

	bench_switch("switch_round_trip_same_pkrs", 0);
	if (!pks_enabled())
		KTEST_SKIP(pks_unavailable_reason() ?: "PKS not enabled");
	key = pks_key_alloc("bench", &bench_key_owner);
	KASSERT_TRUE(key > 0);
	bench_switch("switch_round_trip_pkrs_change", key);
	KEXPECT_EQ(pks_key_free(&bench_key_owner, key), 0);
}
