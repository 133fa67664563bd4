/* tests/test_guard.c - guard markers in vmap-area ptes (mm/guard.h) and the vmap
 * regions they live in (mm/vmap.h): one case per install/remove rule, the fault
 * report, the IST stacks, the region objects (the checker's view of markers:
 * tests/test_guard_checker.c). Thread stacks and their overflow are in the
 * thread suite. The guard_fatal suite (run only when named) touches a marker with
 * no catch armed: the matrix boot checks that the run ends with the report. */
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "arch/gdt.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/guard.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"
#include "tests/mm_check.h"
#include "tests/test_guard.h"

KTEST_SUITE(24, guard, NULL);
KTEST_SUITE_EXPLICIT(25, guard_fatal);

/* A VMAP_OWNER_FRAMES region of n pages; populated ones hold GT_PATTERN + page
 * number in their first word. 0 when it cannot be had. */
uint64_t gt_region(const char *name, uint64_t n, bool populate)
{
	uint64_t base = vmap_region_new(name, n * PAGE_SIZE, PAGE_SIZE, VMAP_OWNER_FRAMES);

	if (!base || !populate)
		return base;
	if (vmap_populate(base, n * PAGE_SIZE)) {
		vmap_region_free(base);
		return 0;
	}
	for (uint64_t i = 0; i < n; i++)
		*(volatile uint64_t *)(base + i * PAGE_SIZE) = GT_PATTERN + i;
	return base;
}

/* The kernel's pte for va, or GT_NO_PTE. */
uint64_t gt_pte(uint64_t va)
{
	uint64_t *e = pt_entry_at(pt_kernel_root(), va, PT_LEVEL_PTE);

	return e ? *e : GT_NO_PTE;
}

/* The level of the leaf mapping va, or -1. */
static int gt_leaf_level(uint64_t va)
{
	int level;

	return pt_lookup(va, &level) ? level : -1;
}

static void gt_expect_counts(const uint64_t *c)
{
	for (int l = 0; l < PT_NR_LEVELS; l++)
		KEXPECT_EQ(pt_count(l), c[l]);
}

KTEST(guard, install_zaps_mapped_pages_and_gives_frames_to_the_owner)
{
	uint64_t base = gt_region("gt zap", 4, true), free0;
	struct fault f;

	KASSERT_TRUE(base != 0);
	free0 = frame_free_count();
	KEXPECT_EQ(guard_install(base + PAGE_SIZE, 2 * PAGE_SIZE), 0);
	KEXPECT_EQ(frame_free_count(), free0 + 2); /* the owner (frames) got both back */
	KEXPECT_EQ(gt_pte(base + PAGE_SIZE), GUARD_MARKER);
	KEXPECT_EQ(gt_pte(base + 2 * PAGE_SIZE), GUARD_MARKER);
	catch_read64((void *)(base + PAGE_SIZE), &f);
	KEXPECT_GUARD_PF(&f, 0, base + PAGE_SIZE);
	KEXPECT_EQ(*(volatile uint64_t *)base, GT_PATTERN);
	KEXPECT_EQ(*(volatile uint64_t *)(base + 3 * PAGE_SIZE), GT_PATTERN + 3);
	KEXPECT_EQ(vmap_region_free(base), 0);
	KEXPECT_EQ(frame_free_count(), free0 + 4);
}

KTEST(guard, install_is_not_nested_and_one_remove_clears_it)
{
	uint64_t base = gt_region("gt nest", 4, false), c1[PT_NR_LEVELS], free1;
	struct fault f;

	KASSERT_TRUE(base != 0);
	KASSERT_EQ(guard_install(base, 4 * PAGE_SIZE), 0);
	mm_counts(c1);
	free1 = frame_free_count();
	KEXPECT_EQ(guard_install(base, 4 * PAGE_SIZE), 0);
	KEXPECT_EQ(guard_install(base + PAGE_SIZE, PAGE_SIZE), 0);
	gt_expect_counts(c1);
	KEXPECT_EQ(frame_free_count(), free1);
	for (int i = 0; i < 4; i++)
		KEXPECT_EQ(gt_pte(base + i * PAGE_SIZE), GUARD_MARKER);
	KEXPECT_EQ(guard_remove(base, 4 * PAGE_SIZE), 0);
	for (int i = 0; i < 4; i++)
		KEXPECT_FALSE(guard_marker_at(base + i * PAGE_SIZE));
	catch_read8((void *)(base + PAGE_SIZE), &f);
	KEXPECT_PF(&f, 0, base + PAGE_SIZE);
	KEXPECT_EQ(f.cause, FAULT_OTHER); /* an empty page now, no longer a guard */
	KEXPECT_EQ(vmap_region_free(base), 0);
}

KTEST(guard, remove_clears_only_markers)
{
	uint64_t base = gt_region("gt only", 4, true), p0, p3;

	KASSERT_TRUE(base != 0);
	KASSERT_EQ(vmap_drop(base + 2 * PAGE_SIZE, PAGE_SIZE), 0); /* page 2: empty */
	KASSERT_EQ(guard_install(base + PAGE_SIZE, PAGE_SIZE), 0); /* page 1: marker */
	p0 = gt_pte(base);
	p3 = gt_pte(base + 3 * PAGE_SIZE);
	KEXPECT_TRUE(pt_present(p0) && pt_present(p3));
	KEXPECT_EQ(guard_remove(base, 4 * PAGE_SIZE), 0);
	KEXPECT_EQ(gt_pte(base), p0);
	KEXPECT_EQ(gt_pte(base + PAGE_SIZE), 0);
	KEXPECT_EQ(gt_pte(base + 2 * PAGE_SIZE), 0);
	KEXPECT_EQ(gt_pte(base + 3 * PAGE_SIZE), p3);
	KEXPECT_EQ(*(volatile uint64_t *)base, GT_PATTERN);
	KEXPECT_EQ(*(volatile uint64_t *)(base + 3 * PAGE_SIZE), GT_PATTERN + 3);
	KEXPECT_EQ(vmap_region_free(base), 0);
}

KTEST(guard, drop_keeps_markers_and_only_freeing_the_region_clears_them)
{
	uint64_t c0[PT_NR_LEVELS], base, free1;

	mm_counts(c0);
	base = gt_region("gt drop", 4, true);
	KASSERT_TRUE(base != 0);
	free1 = frame_free_count();
	KASSERT_EQ(guard_install(base, PAGE_SIZE), 0);
	KEXPECT_EQ(vmap_drop(base, 4 * PAGE_SIZE), 0);
	KEXPECT_EQ(frame_free_count(), free1 + 4);
	KEXPECT_EQ(gt_pte(base), GUARD_MARKER);
	for (int i = 1; i < 4; i++)
		KEXPECT_EQ(gt_pte(base + i * PAGE_SIZE), 0);
	KEXPECT_TRUE(vmap_region_of(base) != NULL);
	KEXPECT_EQ(vmap_region_free(base), 0);
	KEXPECT_FALSE(guard_marker_at(base));
	KEXPECT_TRUE(vmap_region_of(base) == NULL);
	KEXPECT_EQ(vmap_region_free(base), -ENOENT);
	gt_expect_counts(c0); /* the tables the region needed are gone with it */
	mm_expect_counts_match_walk("after vmap_region_free");
}

KTEST(guard, map_or_populate_over_a_marker_fails_and_changes_nothing)
{
	uint64_t base = gt_region("gt wins", 4, false), r = vmap_reserve(2 * PAGE_SIZE, PAGE_SIZE);
	uint64_t c1[PT_NR_LEVELS], free1;
	phys_addr_t pa = frame_alloc_run(2, PAGE_SIZE);

	KASSERT_TRUE(base && r && pa);
	KASSERT_EQ(guard_install(base + PAGE_SIZE, PAGE_SIZE), 0);
	KASSERT_EQ(guard_install(r + PAGE_SIZE, PAGE_SIZE), 0);
	mm_counts(c1);
	free1 = frame_free_count();
	KEXPECT_EQ(vmap_populate(base, 4 * PAGE_SIZE), -EEXIST);
	KEXPECT_EQ(vmap_map(r, pa, 2 * PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), -EEXIST);
	KEXPECT_EQ(pt_map_leaf(pt_kernel_root(), r + PAGE_SIZE, pa, PT_LEVEL_PTE, PTE_NX), -EEXIST);
	KEXPECT_EQ(frame_free_count(), free1);
	gt_expect_counts(c1);
	KEXPECT_EQ(gt_pte(base), 0); /* page 0 came before the marker: still empty */
	KEXPECT_EQ(gt_pte(base + PAGE_SIZE), GUARD_MARKER);
	KEXPECT_EQ(gt_pte(r), 0);
	KEXPECT_EQ(gt_pte(r + PAGE_SIZE), GUARD_MARKER);
	/* Once removed, both map. */
	KEXPECT_EQ(guard_remove(base + PAGE_SIZE, PAGE_SIZE), 0);
	KEXPECT_EQ(vmap_populate(base, 4 * PAGE_SIZE), 0);
	KEXPECT_EQ(guard_remove(r + PAGE_SIZE, PAGE_SIZE), 0);
	KEXPECT_EQ(vmap_map(r, pa, 2 * PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	KEXPECT_EQ(vmap_region_free(base), 0);
	KEXPECT_EQ(vmap_region_free(r), 0); /* a caller's region: pa stays the caller's */
	KEXPECT_EQ(frame_free_run(pa, 2), 0);
}

KTEST(guard, vmap_map_into_a_region_of_vmap_frames_is_refused)
{
	uint64_t base = gt_region("gt frames", 2, false);
	phys_addr_t pa = frame_alloc();

	KASSERT_TRUE(base && pa);
	/* Zapping the page later would free a frame the region never took. */
	KEXPECT_EQ(vmap_map(base, pa, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), -EINVAL);
	KEXPECT_EQ(gt_leaf_level(base), -1);
	KEXPECT_EQ(vmap_region_free(base), 0);
	KEXPECT_EQ(frame_free(pa), 0);
}

KTEST(guard, only_the_guard_walker_stores_a_marker)
{
	uint64_t base = gt_region("gt walker", 2, false), *e, *pmd_table;
	int free_slot = -1;

	KASSERT_TRUE(base != 0);
	KASSERT_EQ(guard_install(base, PAGE_SIZE), 0); /* makes the pte table */
	e = pt_entry_at(pt_kernel_root(), base + PAGE_SIZE, PT_LEVEL_PTE);
	KASSERT_TRUE(e != NULL && *e == 0);
	KEXPECT_EQ(pt_set_entry(e, GUARD_MARKER), -EPERM);
	KEXPECT_EQ(*e, 0);
	pmd_table = (uint64_t *)ALIGN_DOWN(
		(uint64_t)pt_entry_at(pt_kernel_root(), base, PT_LEVEL_PMD), PAGE_SIZE);
	for (int i = 0; i < PT_ENTRIES && free_slot < 0; i++)
		if (!pmd_table[i])
			free_slot = i;
	KASSERT_TRUE(free_slot >= 0);
	KEXPECT_EQ(pt_set_entry(&pmd_table[free_slot], GUARD_MARKER), -EPERM);
	KEXPECT_EQ(pmd_table[free_slot], 0);
	KEXPECT_EQ(vmap_region_free(base), 0);
}

KTEST(guard, ranges_must_lie_in_regions_and_may_span_several)
{
	uint64_t a = gt_region("gt span a", 2, false), b = gt_region("gt span b", 2, false);
	uint64_t r = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	struct fault f;

	KASSERT_TRUE(a && b && r);
	KASSERT_EQ(b, a + 2 * PAGE_SIZE); /* guarded regions lie back to back */
	KEXPECT_EQ(guard_install(a + PAGE_SIZE, 2 * PAGE_SIZE), 0);
	/* One run of ptes, two regions: each region counts its own marker. */
	KEXPECT_EQ(vmap_region_of(a)->markers, 1);
	KEXPECT_EQ(vmap_region_of(b)->markers, 1);
	catch_read8((void *)(a + PAGE_SIZE), &f);
	KEXPECT_GUARD_PF(&f, 0, a + PAGE_SIZE);
	KEXPECT_TRUE(ktest_contains(f.detail, "offset 0x1000 in \"gt span a\""));
	catch_read8((void *)b, &f);
	KEXPECT_GUARD_PF(&f, 0, b);
	KEXPECT_TRUE(ktest_contains(f.detail, "offset 0x0 in \"gt span b\""));
	KEXPECT_EQ(guard_remove(a, 4 * PAGE_SIZE), 0);
	KEXPECT_FALSE(guard_marker_at(a + PAGE_SIZE) || guard_marker_at(b));
	/* r has a hole (no region) on each side; bad ranges change nothing. */
	KEXPECT_EQ(guard_install(r - PAGE_SIZE, 2 * PAGE_SIZE), -EINVAL);
	KEXPECT_EQ(guard_install(r, 2 * PAGE_SIZE), -EINVAL);
	KEXPECT_EQ(guard_install(r + 8, PAGE_SIZE), -EINVAL);
	KEXPECT_EQ(guard_install(r, 0), -EINVAL);
	KEXPECT_EQ(guard_remove(r - PAGE_SIZE, 2 * PAGE_SIZE), -EINVAL);
	KEXPECT_EQ(vmap_drop(r - PAGE_SIZE, 2 * PAGE_SIZE), -EINVAL);
	KEXPECT_FALSE(guard_marker_at(r));
	KEXPECT_EQ(guard_install(r, PAGE_SIZE), 0);
	KEXPECT_TRUE(guard_marker_at(r));
	KEXPECT_EQ(guard_remove(r, PAGE_SIZE), 0);
	KEXPECT_EQ(vmap_region_free(a), 0);
	KEXPECT_EQ(vmap_region_free(b), 0);
}

KTEST(guard, ranges_without_marker_positions_leave_large_leaves_alone)
{
	uint64_t va = vmap_reserve(4 * MiB, 2 * MiB), c1[PT_NR_LEVELS], leaf;
	phys_addr_t run = frame_alloc_run(512, 2 * MiB);
	int level;

	KASSERT_TRUE(va && run);
	KASSERT_EQ(vmap_map(va, run, 2 * MiB, PT_LEVEL_PMD, PTE_W | PTE_NX, 0), 0);
	leaf = *pt_lookup(va, &level);
	KEXPECT_EQ(guard_install(va + 2 * MiB + PAGE_SIZE, PAGE_SIZE), 0); /* next 2 MiB */
	KEXPECT_EQ(gt_leaf_level(va), PT_LEVEL_PMD);
	mm_counts(c1);
	KEXPECT_EQ(guard_remove(va, 4 * MiB), 0);
	KEXPECT_EQ(gt_leaf_level(va), PT_LEVEL_PMD);
	KEXPECT_EQ(*pt_lookup(va, &level), leaf);
	KEXPECT_EQ(pt_count(PT_LEVEL_PTE), c1[PT_LEVEL_PTE] - 1); /* the marker's table only */
	KEXPECT_EQ(pt_count(PT_LEVEL_PMD), c1[PT_LEVEL_PMD]);
	vmap_unmap(va, 2 * MiB);
	KEXPECT_EQ(frame_free_run(run, 512), 0);
}

KTEST(guard, install_in_a_2m_leaf_splits_it_and_remove_merges_it_back)
{
	uint64_t va = vmap_reserve(2 * MiB, 2 * MiB), c0[PT_NR_LEVELS], free1;
	phys_addr_t run = frame_alloc_run(512, 2 * MiB);
	struct fault f;

	KASSERT_TRUE(va && run);
	for (int i = 0; i < 8; i++)
		*(volatile uint64_t *)pa_to_va(run + i * PAGE_SIZE) = GT_PATTERN + i;
	KASSERT_EQ(vmap_map(va, run, 2 * MiB, PT_LEVEL_PMD, PTE_W | PTE_NX, 0), 0);
	mm_counts(c0);
	free1 = frame_free_count();
	KEXPECT_EQ(guard_install(va + 5 * PAGE_SIZE, PAGE_SIZE), 0);
	KEXPECT_EQ(gt_leaf_level(va), PT_LEVEL_PTE);
	KEXPECT_EQ(pt_count(PT_LEVEL_PTE), c0[PT_LEVEL_PTE] + 1);
	KEXPECT_EQ(frame_free_count(), free1); /* the caller owns the memory: not freed */
	KEXPECT_EQ(catch_read64((void *)(va + 4 * PAGE_SIZE), &f), GT_PATTERN + 4);
	KEXPECT_NO_FAULT(&f);
	catch_read64((void *)(va + 5 * PAGE_SIZE), &f);
	KEXPECT_GUARD_PF(&f, 0, va + 5 * PAGE_SIZE);
	KEXPECT_EQ(guard_remove(va, 2 * MiB), 0); /* page 5 is empty: still split */
	KEXPECT_EQ(gt_leaf_level(va), PT_LEVEL_PTE);
	KEXPECT_EQ(gt_pte(va + 5 * PAGE_SIZE), 0);
	KEXPECT_EQ(vmap_map(va + 5 * PAGE_SIZE, run + 5 * PAGE_SIZE, PAGE_SIZE, PT_LEVEL_PTE,
			    PTE_W | PTE_NX, 0),
		   0);
	KEXPECT_EQ(guard_remove(va, 2 * MiB), 0); /* the 512 entries agree: merged */
	KEXPECT_EQ(gt_leaf_level(va), PT_LEVEL_PMD);
	gt_expect_counts(c0);
	KEXPECT_EQ(*(volatile uint64_t *)(va + 5 * PAGE_SIZE), GT_PATTERN + 5);
	vmap_unmap(va, 2 * MiB);
	KEXPECT_EQ(frame_free_run(run, 512), 0);
}

KTEST(guard, remove_never_merges_pages_across_two_regions)
{
	uint64_t lo = vmap_region_new("gt lo", MiB, 2 * MiB, VMAP_OWNER_CALLER), hi;
	phys_addr_t run = frame_alloc_run(512, 2 * MiB);

	hi = vmap_region_new("gt hi", MiB, PAGE_SIZE, VMAP_OWNER_CALLER);
	KASSERT_TRUE(lo && run && hi == lo + MiB);
	/* One aligned 2 MiB run mapped by 4 KiB pages over two back-to-back regions:
	 * the 512 entries agree, but a 2 MiB leaf would tie the regions together. */
	KASSERT_EQ(vmap_map(lo, run, MiB, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	KASSERT_EQ(vmap_map(hi, run + MiB, MiB, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	KEXPECT_EQ(guard_install(lo, PAGE_SIZE), 0);
	KEXPECT_EQ(guard_remove(lo, PAGE_SIZE), 0);
	KEXPECT_EQ(vmap_map(lo, run, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	KEXPECT_EQ(guard_remove(lo, 2 * MiB), 0);
	KEXPECT_EQ(gt_leaf_level(lo), PT_LEVEL_PTE);
	KEXPECT_EQ(gt_leaf_level(hi), PT_LEVEL_PTE);
	KEXPECT_EQ(vmap_region_free(lo), 0);
	KEXPECT_EQ(gt_leaf_level(hi), PT_LEVEL_PTE); /* hi keeps its pages */
	KEXPECT_EQ(vmap_region_free(hi), 0);
	KEXPECT_EQ(frame_free_run(run, 512), 0);
}

/* A free 1 GiB-aligned GiB of RAM (the guard writes through it are ours), or 0. */
static phys_addr_t gt_gib_of_ram(void)
{
	return dmap_has_1g() ? frame_alloc_run(GiB / PAGE_SIZE, GiB) : 0;
}

KTEST(guard, install_in_a_1g_leaf_splits_two_levels_and_remove_merges_back)
{
	uint64_t va = vmap_reserve(GiB, GiB), c0[PT_NR_LEVELS], off = 3 * MiB + PAGE_SIZE;
	phys_addr_t run = gt_gib_of_ram();
	struct fault f;

	if (!run)
		KTEST_SKIP("no 1 GiB pages, or no free 1 GiB-aligned GiB of RAM");
	KASSERT_TRUE(va != 0);
	*(volatile uint64_t *)pa_to_va(run + off - PAGE_SIZE) = GT_PATTERN;
	*(volatile uint64_t *)pa_to_va(run + off) = GT_PATTERN + 1;
	KASSERT_EQ(vmap_map(va, run, GiB, PT_LEVEL_PUD, PTE_W | PTE_NX, 0), 0);
	mm_counts(c0);
	KEXPECT_EQ(guard_install(va + off, PAGE_SIZE), 0);
	KEXPECT_EQ(gt_leaf_level(va), PT_LEVEL_PMD);
	KEXPECT_EQ(gt_leaf_level(va + off - PAGE_SIZE), PT_LEVEL_PTE);
	KEXPECT_EQ(pt_count(PT_LEVEL_PMD), c0[PT_LEVEL_PMD] + 1);
	KEXPECT_EQ(pt_count(PT_LEVEL_PTE), c0[PT_LEVEL_PTE] + 1);
	KEXPECT_EQ(catch_read64((void *)(va + off - PAGE_SIZE), &f), GT_PATTERN);
	KEXPECT_NO_FAULT(&f);
	catch_read64((void *)(va + off), &f);
	KEXPECT_GUARD_PF(&f, 0, va + off);
	KEXPECT_EQ(guard_remove(va + off, PAGE_SIZE), 0);
	KEXPECT_EQ(vmap_map(va + off, run + off, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	KEXPECT_EQ(guard_remove(va, GiB), 0);
	KEXPECT_EQ(gt_leaf_level(va), PT_LEVEL_PUD);
	gt_expect_counts(c0);
	KEXPECT_EQ(*(volatile uint64_t *)(va + off), GT_PATTERN + 1);
	vmap_unmap(va, GiB);
	KEXPECT_EQ(frame_free_run(run, GiB / PAGE_SIZE), 0);
}

KTEST(guard, marker_read_write_fetch_fault_with_a_guard_report)
{
	uint64_t base = gt_region("gt access", 3, false), g;
	struct fault f;

	KASSERT_TRUE(base != 0);
	g = base + PAGE_SIZE;
	KASSERT_EQ(guard_install(g, PAGE_SIZE), 0);
	catch_read8((void *)(g + 8), &f);
	KEXPECT_GUARD_PF(&f, 0, g + 8);
	KEXPECT_TRUE(ktest_contains(f.detail, "guard page hit: read at 0x"));
	KEXPECT_TRUE(ktest_contains(f.detail, "offset 0x1008 in \"gt access\", RIP 0x"));
	catch_write8((void *)g, 1, &f);
	KEXPECT_GUARD_PF(&f, PF_W, g);
	KEXPECT_TRUE(ktest_contains(f.detail, "guard page hit: write at 0x"));
	catch_exec((void *)g, &f);
	KEXPECT_GUARD_PF(&f, PF_I, g);
	KEXPECT_TRUE(ktest_contains(f.detail, "guard page hit: fetch at 0x"));
	ktest_note("%s", f.detail);
	catch_read8((void *)base, &f); /* an empty page of the region: no guard */
	KEXPECT_PF(&f, 0, base);
	KEXPECT_EQ(f.cause, FAULT_OTHER);
	KEXPECT_EQ(vmap_region_free(base), 0);
}

KTEST(guard, ist_stacks_carry_markers_at_both_ends)
{
	static const char *const names[] = { "", "\"ist #DF\"", "\"ist NMI\"", "\"ist #MC\"" };
	struct fault f;

	for (int n = 1; n <= NR_IST; n++) {
		uint64_t lo, hi;

		gdt_ist_bounds(n, &lo, &hi);
		KEXPECT_TRUE(lo >= VMAP_BASE);
		catch_read8((void *)(lo - 1), &f);
		KEXPECT_GUARD_PF(&f, 0, lo - 1);
		KEXPECT_TRUE(ktest_contains(f.detail, names[n]));
		catch_read8((void *)hi, &f);
		KEXPECT_GUARD_PF(&f, 0, hi);
		KEXPECT_TRUE(ktest_contains(f.detail, names[n]));
	}
}

KTEST(guard, regions_are_named_objects_with_an_owner)
{
	uint64_t n0 = (uint64_t)vmap_region_count(), base = gt_region("gt object", 3, false);
	uint64_t r = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	const struct vmap_region *o;

	KASSERT_TRUE(base && r);
	KEXPECT_EQ((uint64_t)vmap_region_count(), n0 + 2);
	o = vmap_region_of(base + 2 * PAGE_SIZE + 5);
	KASSERT_TRUE(o != NULL);
	KEXPECT_EQ(o->base, base);
	KEXPECT_EQ(o->size, 3 * PAGE_SIZE);
	KEXPECT_STREQ(o->name, "gt object");
	KEXPECT_EQ(o->owner, VMAP_OWNER_FRAMES);
	KEXPECT_EQ(vmap_region_of(r)->owner, VMAP_OWNER_CALLER);
	KEXPECT_TRUE(vmap_region_of(r - 1) == NULL); /* the hole before a reservation */
	KEXPECT_EQ(vmap_region_free(base), 0);
	KEXPECT_EQ(vmap_region_free(r), 0);
	KEXPECT_EQ((uint64_t)vmap_region_count(), n0);
	ktest_note("%d regions live, of %d", vmap_region_count(), VMAP_MAX_REGIONS);
}

KTEST(guard_fatal, uncaught_marker_read_ends_the_run_with_a_guard_report)
{
	uint64_t base = gt_region("guard_fatal", 2, false);

	KASSERT_TRUE(base != 0);
	KASSERT_EQ(guard_install(base + PAGE_SIZE, PAGE_SIZE), 0);
	ktest_note("reading the marker at 0x%llx with no catch armed",
		   (unsigned long long)(base + PAGE_SIZE + 0x10));
	(void)*(volatile uint64_t *)(base + PAGE_SIZE + 0x10); /* must never complete */
	ktest_fail(__FILE__, __LINE__, "the read of a guard marker completed");
}
