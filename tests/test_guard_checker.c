/* tests/test_guard_checker.c - the `guard` suite, part 2 (tests/test_guard.h): the
 * checker counts markers, and flags a marker with stray bits, a marker outside every
 * vmap region, and a region whose marker count disagrees with its ptes. */
#include "tests/test_guard.h"
#include "kernel/ktest.h"
#include "mm/checker.h"
#include "mm/frame.h"
#include "mm/guard.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"

KTEST(guard, checker_accepts_markers_and_counts_them)
{
	struct checker_result r0, r1, r2;
	uint64_t base;

	checker_run("guard: before", &r0);
	base = gt_region("gt checker", 4, false);
	KASSERT_TRUE(base != 0);
	KASSERT_EQ(guard_install(base, 4 * PAGE_SIZE), 0);
	KEXPECT_EQ(checker_run("guard: 4 markers", &r1), 0);
	KEXPECT_EQ(r1.markers, r0.markers + 4);
	KEXPECT_EQ(vmap_region_free(base), 0);
	checker_run("guard: region freed", &r2);
	KEXPECT_EQ(r2.markers, r0.markers);
}

/* Plants v at the pte for va with a raw store inside a window (what a stray write
 * that got past PKS would leave), runs the checker, puts the old entry back.
 * Returns the violations; *why gets the first one's text. */
static uint64_t gt_plant(uint64_t va, uint64_t v, char *why, size_t len)
{
	uint64_t *e = pt_entry_at(pt_kernel_root(), va, PT_LEVEL_PTE), old, n;
	struct checker_result r;
	uint32_t w;

	if (!e)
		return 0;
	old = *e;
	w = pt_window_open();
	*(volatile uint64_t *)e = v;
	pt_window_close(w);
	n = checker_run("guard: planted", &r);
	w = pt_window_open();
	*(volatile uint64_t *)e = old;
	pt_window_close(w);
	strncpy_z(why, r.first_violation, len);
	return n;
}

KTEST(guard, checker_flags_stray_marker_bits_and_miscounted_or_stray_markers)
{
	uint64_t base = gt_region("gt count", 4, true), hole;
	phys_addr_t frame;
	char why[200];

	KASSERT_TRUE(base != 0);
	KASSERT_EQ(guard_install(base, PAGE_SIZE), 0);
	KEXPECT_EQ(vmap_region_of(base)->markers, 1);
	KEXPECT_EQ(checker_run("guard: counted", NULL), 0);
	/* The door refuses a marker with a stray bit (P = 0, W = 1) outright. */
	KEXPECT_EQ(pt_set_entry(pt_entry_at(pt_kernel_root(), base, PT_LEVEL_PTE),
				GUARD_MARKER | PTE_W),
		   -EPERM);
	KEXPECT_TRUE(guard_marker_at(base));
	KEXPECT_GT(gt_plant(base, GUARD_MARKER | PTE_W, why, sizeof(why)), 0);
	KEXPECT_TRUE(ktest_contains(why, "neither empty nor a guard marker"));
	/* A marker the walker did not store: the region's count disagrees. */
	KEXPECT_GT(gt_plant(base + PAGE_SIZE, GUARD_MARKER, why, sizeof(why)), 0);
	KEXPECT_TRUE(ktest_contains(why, "\"gt count\"") &&
		     ktest_contains(why, "holds 2 guard markers, its count says 1"));
	/* A marker in the hole after a plain reservation: in no region at all. */
	hole = vmap_reserve(PAGE_SIZE, 2 * MiB); /* the hole after it shares its pte table */
	frame = frame_alloc();
	KASSERT_TRUE(hole != 0 && frame != 0);
	KASSERT_EQ(vmap_map(hole, frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	KEXPECT_TRUE(!vmap_region_of(hole + PAGE_SIZE) && gt_pte(hole + PAGE_SIZE) == 0);
	KEXPECT_GT(gt_plant(hole + PAGE_SIZE, GUARD_MARKER, why, sizeof(why)), 0);
	KEXPECT_TRUE(ktest_contains(why, "lies in no vmap region"));
	vmap_unmap(hole, PAGE_SIZE);
	frame_free(frame);
	KEXPECT_EQ(checker_run("guard: all put back", NULL), 0);
	KEXPECT_EQ(vmap_region_free(base), 0);
}
