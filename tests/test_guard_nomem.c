/* tests/test_guard_nomem.c - the `guard` suite, part 3 (tests/test_guard.h): a
 * guard_install that cannot have its tables changes nothing. The frame allocator
 * gives up every run a new table-cache block could use and the cache is left one
 * page (gt_starve), so a range's first table can be had and not all of them. */
#include "tests/test_guard.h"
#include "kernel/ktest.h"
#include "mm/frame.h"
#include "mm/guard.h"
#include "mm/pgtable.h"
#include "mm/ptcache.h"
#include "mm/vmap.h"

#define GT_RUNS_MAX   1024
#define GT_TABLES_MAX 4096

/* What gt_starve took, for gt_feed to give back. */
static struct {
	phys_addr_t runs[GT_RUNS_MAX], tables[GT_TABLES_MAX];
	uint64_t counts[GT_RUNS_MAX];
	int nr, nt;
} gt_taken;

/* Takes every 2 MiB-aligned run of 2 MiB or more (what a new table-cache block needs),
 * largest first, then table-cache pages until `keep` are left. */
static void gt_starve(uint64_t keep)
{
	gt_taken.nr = gt_taken.nt = 0;
	for (uint64_t count = 1ULL << 34; count >= PT_ENTRIES; count /= 2)
		while (gt_taken.nr < GT_RUNS_MAX &&
		       (gt_taken.runs[gt_taken.nr] = frame_alloc_run(count, 2 * MiB)))
			gt_taken.counts[gt_taken.nr++] = count;
	KEXPECT_LT(gt_taken.nr, GT_RUNS_MAX); /* every block-sized run taken */
	while (ptcache_free_count() > 1 && gt_taken.nt < GT_TABLES_MAX) {
		int want =
			(int)MIN(ptcache_free_count() - 1, (uint64_t)(GT_TABLES_MAX - gt_taken.nt));
		int got = pt_alloc_batch(PT_LEVEL_PTE, VMAP_BASE, &gt_taken.tables[gt_taken.nt],
					 want);

		gt_taken.nt += got;
		if (got < want)
			break;
	}
	KEXPECT_EQ(ptcache_free_count(), keep);
}

static void gt_feed(void)
{
	pt_free_batch(gt_taken.tables, gt_taken.nt, PT_LEVEL_PTE);
	while (gt_taken.nr > 0) {
		gt_taken.nr--;
		KEXPECT_EQ(frame_free_run(gt_taken.runs[gt_taken.nr], gt_taken.counts[gt_taken.nr]),
			   0);
	}
}

/* A fresh region: the tables made for its first 2 MiB go again, no marker stays. */
KTEST(guard, install_that_runs_out_of_tables_changes_nothing)
{
	uint64_t r = vmap_region_new("gt no tables", 4 * MiB, 2 * MiB, VMAP_OWNER_CALLER);

	KASSERT_TRUE(r != 0);
	KASSERT_TRUE(!pt_entry_at(pt_kernel_root(), r, PT_LEVEL_PTE));
	gt_starve(1);
	KEXPECT_EQ(guard_install(r, 4 * MiB), -ENOMEM);
	KEXPECT_FALSE(guard_range_has_marker(r, 4 * MiB));
	KEXPECT_EQ(vmap_region_of(r)->markers, 0);
	KEXPECT_TRUE(!pt_entry_at(pt_kernel_root(), r, PT_LEVEL_PTE));
	KEXPECT_EQ(ptcache_free_count(), 1); /* the tables it made are back */
	gt_feed();
	KEXPECT_EQ(guard_install(r, 4 * MiB), 0); /* with tables to be had, it works */
	KEXPECT_TRUE(guard_marker_at(r + 2 * MiB));
	KEXPECT_EQ(vmap_region_free(r), 0);
}

/* A pte table that was there before the call (pages mapped 4 KiB each on purpose)
 * stays as it was: only what the failing call made is undone. The range runs from
 * the end of that table over the next 2 MiB (whose table takes the cache's last page)
 * into a third (whose table cannot be had). */
KTEST(guard, install_out_of_tables_leaves_tables_it_did_not_make)
{
	uint64_t r = vmap_region_new("gt kept table", 6 * MiB, 2 * MiB, VMAP_OWNER_CALLER);
	phys_addr_t pa = frame_alloc_run(PT_ENTRIES, 2 * MiB);
	int level = -1;

	KASSERT_TRUE(r && pa);
	KASSERT_EQ(vmap_map(r, pa, 2 * MiB, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	gt_starve(1);
	KEXPECT_EQ(guard_install(r + 2 * MiB - PAGE_SIZE, 2 * MiB + 2 * PAGE_SIZE), -ENOMEM);
	KEXPECT_TRUE(pt_lookup(r, &level) && level == PT_LEVEL_PTE);	  /* not merged */
	KEXPECT_TRUE(pt_lookup(r + 2 * MiB - PAGE_SIZE, &level) != NULL); /* not zapped */
	KEXPECT_TRUE(!pt_entry_at(pt_kernel_root(), r + 2 * MiB, PT_LEVEL_PTE));
	KEXPECT_FALSE(guard_range_has_marker(r, 6 * MiB));
	KEXPECT_EQ(ptcache_free_count(), 1);
	gt_feed();
	vmap_unmap(r, 2 * MiB);
	KEXPECT_EQ(vmap_region_free(r), 0);
	KEXPECT_EQ(frame_free_run(pa, PT_ENTRIES), 0);
}

/* A range that would need more tables than one call may make and undo is refused
 * before anything changes. */
KTEST(guard, install_over_too_many_missing_tables_is_e2big_and_changes_nothing)
{
	uint64_t r = vmap_region_new("gt big", 256 * MiB, 2 * MiB, VMAP_OWNER_CALLER);
	uint64_t cached = ptcache_free_count();

	KASSERT_TRUE(r != 0);
	KEXPECT_EQ(guard_install(r, 256 * MiB), -E2BIG);
	KEXPECT_TRUE(!pt_entry_at(pt_kernel_root(), r, PT_LEVEL_PTE));
	KEXPECT_EQ(ptcache_free_count(), cached);
	KEXPECT_EQ(guard_install(r, 2 * MiB), 0); /* a part of it is fine */
	KEXPECT_EQ(vmap_region_free(r), 0);
}
