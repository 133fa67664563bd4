/* tests/test_bench_ops.c - the bench suite's table operations and context switches,
 * each timed with protection on and off by the harness in tests/test_bench.c (see
 * there and tests/test_bench.h). Each case asserts that what it timed worked and
 * that it gave back what it took. */
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "kernel/thread.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/guard.h"
#include "mm/pgtable.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "arch/cpu.h"
#include "tests/test_bench.h"

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

/* A split (guard_split_leaf: the same memory, the same attributes, a table from the
 * pool, flushed), as set_memory makes them. */
static void op_split_2m(void *ctx)
{
	struct leaf_ctx *c = ctx;

	if (leaf_level(c->va) != PT_LEVEL_PMD || guard_split_leaf(c->va))
		ktest_fail(__FILE__, __LINE__, "split of 0x%llx failed", (unsigned long long)c->va);
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

/* The dmap GiB at c->va split into 2 MiB leaves (same mapping, same attributes). */
static void prep_split_1g(void *ctx)
{
	struct leaf_ctx *c = ctx;

	if (leaf_level(c->va) == PT_LEVEL_PUD && guard_split_leaf(c->va))
		ktest_fail(__FILE__, __LINE__, "split of 0x%llx failed", (unsigned long long)c->va);
}

/* Merge back: set_memory of a page that changes nothing merges the 2 MiB leaves. */
static void op_merge_1g(void *ctx)
{
	struct leaf_ctx *c = ctx;

	if (set_memory_rw(c->va, 1) || leaf_level(c->va) != PT_LEVEL_PUD)
		ktest_fail(__FILE__, __LINE__, "merge of 0x%llx failed", (unsigned long long)c->va);
}

/* The first 1 GiB leaf of the direct map, or 0. */
static uint64_t dmap_1g_leaf(void)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r);

	for (phys_addr_t g = 0; g < r[n - 1].base + r[n - 1].len; g += GiB)
		if (leaf_level(PAGE_OFFSET + g) == PT_LEVEL_PUD)
			return PAGE_OFFSET + g;
	return 0;
}

KTEST(bench, split_1g_to_2m_and_merge_back)
{
	struct leaf_ctx c = { 0 }, d = { .va = dmap_1g_leaf() };
	const struct bench_op op = BENCH_OP("split_1g_2m", 1, prep_1g, op_split_1g, &c);
	const struct bench_op merge = BENCH_OP("merge_2m_1g", 1, prep_split_1g, op_merge_1g, &d);

	if (dmap_has_1g() && d.va) {
		bench_on_off(&merge);
		KEXPECT_EQ(leaf_level(d.va), PT_LEVEL_PUD);
	} else {
		bench_skipped("merge_2m_1g",
			      "no 1 GiB leaf in the direct map (less than 2 GiB of RAM)");
	}
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
		ksnprintf(name, sizeof(name), "set_memory_ro_rw_%llup",
			  (unsigned long long)c.pages);
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
		struct range_ctx m = { vmap_reserve(n * PAGE_SIZE, 2 * MiB), n,
				       frame_alloc_run(n, PAGE_SIZE) };
		struct range_ctx g = { vmap_region_new("bench guard", n * PAGE_SIZE, 2 * MiB,
						       VMAP_OWNER_FRAMES),
				       n, 0 };
		struct bench_op ops[] = { BENCH_OP(name[0], 1, NULL, op_vmap, &m),
					  BENCH_OP(name[1], 1, NULL, op_guard, &g) };

		KASSERT_TRUE(m.va && m.pa && g.va);
		ksnprintf(name[0], sizeof(name[0]), "vmap_map_unmap_%llup", (unsigned long long)n);
		ksnprintf(name[1], sizeof(name[1]), "guard_install_remove_%llup",
			  (unsigned long long)n);
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
