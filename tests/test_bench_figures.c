/* tests/test_bench_figures.c - the bench suite's figures that are not times: what
 * the tables and the split pool hold, and what guard markers (issue 12) save over
 * separate guard regions. Printed as tests/test_bench.h lines; each case asserts
 * that what it read is consistent, never a size. */
#include "kernel/ktest.h"
#include "kernel/printf.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "mm/vmap.h"
#include "tests/test_bench.h"

#define BF_STACK_PAGES 4 /* a guarded stack: a marker, 4 pages, a marker */

KTEST(bench, memory_held_by_page_tables_and_the_pool)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r);
	uint64_t tables = 0, floor = pool_tables_needed(r, n);
	char name[32];

	for (int l = 0; l <= pt_root_level(); l++) {
		ksnprintf(name, sizeof(name), "tables_%s", pt_level_name(l));
		bench_figure(name, pt_count(l), "pages");
		tables += pt_count(l);
	}
	bench_figure("tables_total", tables, "pages");
	bench_pair("pool_vs_floor", pool_total(), floor, "frames",
		   "pool_size/worst_case_split_tables");
	bench_figure("pool_free", pool_free_count(), "frames");
	bench_figure("cache_blocks", ptcache_nr_blocks(), "blocks");
	bench_figure("cache_free", ptcache_free_count(), "pages");
	bench_figure("dmap_ram", dmap_ram_bytes() / MiB, "MiB");
	KEXPECT_GT(tables, 0);
	KEXPECT_GE(pool_total(), floor);
	KEXPECT_LE(pool_free_count(), pool_total());
}

/* The next free vmap address, as the base of a one-page probe region (no holes),
 * freed again (address space is never reused, so the probe moves it by a page). */
static uint64_t bf_next_va(void)
{
	uint64_t va = vmap_region_new("bench probe", PAGE_SIZE, PAGE_SIZE, VMAP_OWNER_CALLER);

	if (va)
		vmap_region_free(va);
	return va;
}

/* Region objects and address space (bytes) one guarded stack takes with markers
 * (vmap_alloc_guarded: one region, markers at both ends). */
static void bf_with_markers(uint64_t *objects, uint64_t *bytes)
{
	int live = vmap_region_count();
	uint64_t before = bf_next_va() + PAGE_SIZE;
	void *p = vmap_alloc_guarded("bench stack", BF_STACK_PAGES, 1, 1);

	*objects = (uint64_t)(vmap_region_count() - live);
	*bytes = bf_next_va() - before;
	KEXPECT_TRUE(p != NULL);
	KEXPECT_TRUE(guard_marker_at((uint64_t)p - PAGE_SIZE));
	if (p)
		vmap_free_pages(p, BF_STACK_PAGES);
}

/* The same stack with a separate unmapped guard region below and above it. */
static void bf_with_regions(uint64_t *objects, uint64_t *bytes)
{
	int live = vmap_region_count();
	uint64_t before = bf_next_va() + PAGE_SIZE, lo, body, hi;

	lo = vmap_region_new("bench guard lo", PAGE_SIZE, PAGE_SIZE, VMAP_OWNER_CALLER);
	body = vmap_region_new("bench stack", BF_STACK_PAGES * PAGE_SIZE, PAGE_SIZE,
			       VMAP_OWNER_FRAMES);
	hi = vmap_region_new("bench guard hi", PAGE_SIZE, PAGE_SIZE, VMAP_OWNER_CALLER);
	KEXPECT_EQ(vmap_populate(body, BF_STACK_PAGES * PAGE_SIZE), 0);
	*objects = (uint64_t)(vmap_region_count() - live);
	*bytes = bf_next_va() - before;
	KEXPECT_TRUE(lo && body && hi);
	KEXPECT_EQ(vmap_region_free(lo), 0);
	KEXPECT_EQ(vmap_region_free(body), 0);
	KEXPECT_EQ(vmap_region_free(hi), 0);
}

KTEST(bench, guarded_stack_with_markers_vs_separate_guard_regions)
{
	uint64_t mo, mb, ro, rb;
	struct pt_door_counts c0, c1;

	bf_with_markers(&mo, &mb);
	bf_with_regions(&ro, &rb);
	bench_pair("guarded_stack_regions", mo, ro, "objects", "markers/separate_regions");
	bench_pair("guarded_stack_vmap", mb, rb, "bytes", "markers/separate_regions");
	pt_door_counts(&c0);
	{
		void *p = vmap_alloc_guarded("bench stack", BF_STACK_PAGES, 1, 1);

		pt_door_counts(&c1);
		KASSERT_TRUE(p != NULL);
		vmap_free_pages(p, BF_STACK_PAGES);
	}
	bench_figure("guarded_stack_alloc_pkrs_writes", c1.pkrs_writes - c0.pkrs_writes, "writes");
	if (!checker_every_change()) /* that debug mode opens windows of its own */
		KEXPECT_EQ(c1.windows - c0.windows, pgprot_enforced() ? 1 : 0);
	KEXPECT_EQ(mo, 1);
	KEXPECT_EQ(ro, 3);
	KEXPECT_EQ(mb, rb);
}
