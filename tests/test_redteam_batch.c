/* tests/test_redteam_batch.c - suite `redteam`, the batch stores: a split's fill
 * (__pt_fill_leaves) and set_memory's runs of leaves (__pt_set_leaves) check their
 * leaves once per run, and must refuse a run exactly when __pt_set_entry would
 * refuse one of its leaves. */
#include "tests/test_redteam.h"
#include "kernel/ktest.h"
#include "mm/frame.h"
#include "mm/guard.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/protect_map.h"
#include "mm/ptcache.h"
#include "mm/vmap.h"

/* The start of a run of 512 pages whose page *k (k >= 1) is the first of a range of
 * the protected-regions table (a pool chunk, a cache block, the image...) and whose
 * pages before it lie in no protected region, or 0. Which rows have free pages in
 * front depends on the memory map and where the loader put the image: every row's
 * every range is tried. */
static phys_addr_t run_meeting_a_table_page(int *k)
{
	struct pa_range r;

	for (int row = 0; row < protect_nr_rows(); row++) {
		if (!protect_row_live(protect_row(row)))
			continue;
		for (uint64_t i = 0; protect_row_range(protect_row(row), i, &r); i++) {
			phys_addr_t c = ALIGN_UP(r.base, PAGE_SIZE);

			for (*k = PT_ENTRIES - 1; *k > 0 && c > 2 * MiB; (*k)--)
				if (!protect_region_of(c - *k * PAGE_SIZE, *k * PAGE_SIZE, NULL))
					return c - *k * PAGE_SIZE;
		}
	}
	return 0;
}

/* Gives back a case's table page and run (either may be 0). */
static void free_table_and_run(phys_addr_t t, phys_addr_t run)
{
	if (t)
		pt_free(t, PT_LEVEL_PTE);
	if (run)
		frame_free_run(run, PT_ENTRIES);
}

/* Empties every slot of a table that was never linked (inside a window). */
static void empty_table(uint64_t *tt)
{
	for (int i = 0; i < PT_ENTRIES; i++)
		KEXPECT_EQ(__pt_set_entry(&tt[i], 0), 0);
}

/* The split fill checks its 512 leaves as one run: a run that meets a table page
 * after its first leaf is refused as a writable alias, as __pt_set_entry refuses that leaf;
 * so are W+X, a table that is not fresh and a first entry that is no leaf. */
KTEST(redteam, split_fill_refuses_a_run_any_of_whose_leaves_is_refused)
{
	int k = 0;
	phys_addr_t t = pt_alloc(PT_LEVEL_PTE, VMAP_BASE), lo = run_meeting_a_table_page(&k);
	phys_addr_t ok = frame_alloc_run(PT_ENTRIES, 2 * MiB);
	uint64_t *tt = t ? pa_to_va(t) : NULL, rw = PTE_P | PTE_W | PTE_NX, root;
	uint32_t w;
	bool empty = true;

	if (!lo) {
		free_table_and_run(t, ok);
		KTEST_SKIP("no protected range in this layout has an unprotected page in front");
	}
	KEXPECT_TRUE(t && ok);
	if (!t || !ok)
		goto out;
	root = PAGE_OFFSET + pt_kernel_root();
	w = pt_window_open();
	KEXPECT_EQ(__pt_fill_leaves(tt, PT_ENTRIES, lo | rw), -EPERM);
	ktest_note("run from 0x%llx: leaf %d is a protected page", (unsigned long long)lo, k);
	KEXPECT_EQ(__pt_set_entry(&tt[k], (lo + k * PAGE_SIZE) | rw), -EPERM); /* that leaf */
	KEXPECT_EQ(__pt_set_entry(&tt[0], lo | rw), 0); /* the first is allowed */
	KEXPECT_EQ(__pt_set_entry(&tt[0], 0), 0);
	KEXPECT_EQ(__pt_fill_leaves(tt, PT_ENTRIES, lo | PTE_P | PTE_W), -EPERM); /* W+X */
	KEXPECT_EQ(__pt_fill_leaves(tt, PT_ENTRIES, 0), -EINVAL);
	KEXPECT_EQ(__pt_fill_leaves((uint64_t *)root, PT_ENTRIES, lo | rw),
		   -EINVAL); /* not fresh */
	for (int i = 0; i < PT_ENTRIES; i++)
		empty = empty && !tt[i];
	KEXPECT_TRUE(empty);
	KEXPECT_EQ(__pt_fill_leaves(tt, PT_ENTRIES, ok | rw), 0); /* ordinary memory: allowed */
	KEXPECT_EQ(tt[PT_ENTRIES - 1], (ok + (PT_ENTRIES - 1) * PAGE_SIZE) | rw);
	empty_table(tt); /* never linked: emptied, then freed */
	pt_window_close(w);
out:
	free_table_and_run(t, ok);
}

/* A run of empty slots inside a table (vmap_map's batch): refused, storing nothing,
 * when it reaches past the table's end, is empty, or meets a slot that holds
 * anything (a leaf, a guard marker); stored when every slot is empty, next to leaves
 * already there; and refused (-EPERM) when a protected page lies anywhere in it.
 * The unmap's run (__pt_clear_leaves) clears present leaves only. */
KTEST(redteam, leaf_runs_refuse_a_run_past_the_table_or_over_a_wrong_slot)
{
	int k = 0;
	phys_addr_t t = pt_alloc(PT_LEVEL_PTE, VMAP_BASE), lo = run_meeting_a_table_page(&k);
	phys_addr_t ok = frame_alloc_run(PT_ENTRIES, 2 * MiB);
	uint64_t *tt = t ? pa_to_va(t) : NULL, rw = PTE_P | PTE_W | PTE_NX;
	uint32_t w;

	KEXPECT_TRUE(t && ok);
	if (!t || !ok)
		goto out;
	w = pt_window_open();
	KEXPECT_EQ(__pt_fill_leaves(&tt[500], 13, ok | rw), -EINVAL); /* past the end */
	KEXPECT_EQ(__pt_fill_leaves(&tt[10], 0, ok | rw), -EINVAL);
	KEXPECT_EQ(__pt_fill_leaves(&tt[10], 20, ok | rw), 0);
	KEXPECT_EQ(tt[29], (ok + 19 * PAGE_SIZE) | rw);
	KEXPECT_EQ(tt[30], 0);
	KEXPECT_EQ(__pt_fill_leaves(&tt[30], 10, (ok + 20 * PAGE_SIZE) | rw), 0); /* next to it */
	KEXPECT_EQ(__pt_fill_leaves(&tt[5], 10, ok | rw), -EINVAL);		  /* meets tt[10] */
	KEXPECT_EQ(tt[5], 0);
	((volatile uint64_t *)tt)[60] = GUARD_MARKER; /* as the guard walker stores it */
	KEXPECT_EQ(__pt_fill_leaves(&tt[50], 20, ok | rw), -EINVAL); /* meets the marker */
	KEXPECT_EQ(tt[50], 0);
	((volatile uint64_t *)tt)[60] = 0;
	if (lo) { /* a short run whose leaf m is the protected page lo + k pages */
		int m = MIN(k, 5);

		KEXPECT_EQ(__pt_fill_leaves(&tt[100], m + 5,
					    (lo + (uint64_t)(k - m) * PAGE_SIZE) | rw),
			   -EPERM);
		KEXPECT_EQ(tt[100], 0);
	} else {
		ktest_note("no protected range with an unprotected page in front: the refusal of a "
			   "short run over one is not tried");
	}
	/* The unmap's run: present leaves only, inside the table. */
	KEXPECT_EQ(__pt_clear_leaves(&tt[10], 31), -EINVAL); /* tt[40] is empty */
	KEXPECT_EQ(tt[10], ok | rw);
	KEXPECT_EQ(__pt_clear_leaves(&tt[10], 0), -EINVAL);
	KEXPECT_EQ(__pt_clear_leaves(&tt[511], 2), -EINVAL);
	for (int i = 0; i < PT_ENTRIES; i++) { /* a link is no leaf: never cleared here */
		uint64_t *r = (uint64_t *)(PAGE_OFFSET + pt_kernel_root()), was = r[i];

		if (!pt_present(was))
			continue;
		KEXPECT_EQ(__pt_clear_leaves(&r[i], 1), -EINVAL);
		KEXPECT_EQ(r[i], was);
		break;
	}
	KEXPECT_EQ(__pt_clear_leaves(&tt[12], 28), 0);
	KEXPECT_EQ(tt[11], (ok + PAGE_SIZE) | rw);
	KEXPECT_EQ(tt[12] | tt[39], 0);
	empty_table(tt); /* never linked: emptied, then freed */
	pt_window_close(w);
out:
	free_table_and_run(t, ok);
}

/* A fresh pte table holding the 512 read-only leaves of the run from lo (a read-only
 * alias of a table page is allowed), or 0. Needs a window open. */
static phys_addr_t read_only_run_table(phys_addr_t lo)
{
	phys_addr_t t = pt_alloc(PT_LEVEL_PTE, VMAP_BASE);

	if (t && __pt_fill_leaves(pa_to_va(t), PT_ENTRIES, lo | PTE_P | PTE_NX)) {
		pt_free(t, PT_LEVEL_PTE);
		return 0;
	}
	return t;
}

/* set_memory's run store: making the run writable is refused because of leaf k (a
 * table page), as is that leaf alone; the leaves before it may change; W^X, bits
 * outside the protection bits and a run past the table's end are refused too. */
KTEST(redteam, leaf_run_change_refuses_a_run_any_of_whose_leaves_is_refused)
{
	int k = 0;
	phys_addr_t lo = run_meeting_a_table_page(&k), t = 0;
	uint32_t w;
	uint64_t *tt, before;

	if (!lo)
		KTEST_SKIP("no protected range in this layout has an unprotected page in front");
	w = pt_window_open();
	KEXPECT_TRUE((t = read_only_run_table(lo)) != 0);
	if (!t)
		goto out;
	tt = pa_to_va(t);
	before = tt[k];
	KEXPECT_EQ(__pt_set_leaves(tt, PT_ENTRIES, PTE_W, 0), -EPERM);
	KEXPECT_EQ(__pt_set_leaves(&tt[k], 1, PTE_W, 0), -EPERM);
	KEXPECT_EQ(__pt_set_leaves(tt, PT_ENTRIES, PTE_W, PTE_NX), -EPERM); /* W+X */
	KEXPECT_EQ(__pt_set_leaves(tt, PT_ENTRIES, 0, PTE_P), -EINVAL);
	KEXPECT_EQ(__pt_set_leaves(&tt[PT_ENTRIES - 1], 2, 0, 0), -EINVAL);
	KEXPECT_EQ(tt[0], lo | PTE_P | PTE_NX);
	KEXPECT_EQ(tt[k], before);
	KEXPECT_EQ(__pt_set_leaves(tt, k, PTE_W, 0), 0); /* ordinary memory: allowed */
	KEXPECT_EQ(tt[k - 1], (lo + (uint64_t)(k - 1) * PAGE_SIZE) | PTE_P | PTE_W | PTE_NX);
	KEXPECT_EQ(tt[k], before);
	for (int i = 0; i < PT_ENTRIES; i++) /* never linked: emptied, then freed */
		KEXPECT_EQ(__pt_set_entry(&tt[i], 0), 0);
	pt_free(t, PT_LEVEL_PTE);
out:
	pt_window_close(w);
}

/* A run whose frames would carry out of the entry's address field: first's frame is
 * the field's last 2 MiB, so leaf i >= 1 would wrap to frame (i - 1) * 2 MiB (the
 * split pool's first chunk among them, writable and unkeyed) and, with bits 52..62
 * set in first, the carry would run through the key bits into NX (the image's text,
 * writable and executable). The run is checked as a whole, so it is refused and
 * nothing is stored. */
KTEST(redteam, fill_refuses_a_run_whose_frames_carry_out_of_the_address_field)
{
	phys_addr_t t = pt_alloc(PT_LEVEL_PMD, VMAP_BASE), chunk = pool_chunk(0);
	uint64_t *tt = t ? pa_to_va(t) : NULL, top = (1ULL << 52) - 2 * MiB;
	uint64_t rw = PTE_P | PTE_PS | PTE_W | PTE_NX;
	int n = (int)(chunk / (2 * MiB)) + 2;
	bool empty = true;
	uint32_t w;

	KASSERT_TRUE(t != 0);
	if (n > PT_ENTRIES || !IS_ALIGNED(chunk, 2 * MiB)) {
		pt_free(t, PT_LEVEL_PMD);
		KTEST_SKIP("the first pool chunk lies above 1 GiB");
	}
	w = pt_window_open();
	KEXPECT_EQ(__pt_fill_leaves(tt, n, top | rw), -EINVAL);
	KEXPECT_EQ(__pt_fill_leaves(tt, 3, top | (0x7ffULL << 52) | rw), -EINVAL);
	for (int j = 0; j < PT_ENTRIES; j++)
		empty = empty && !tt[j];
	KEXPECT_TRUE(empty);
	pt_window_close(w);
	pt_free(t, PT_LEVEL_PMD);
}
