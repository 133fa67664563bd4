/* tests/test_windows.c - what protection costs, as counts: every table operation
 * opens at most one write window per call, whatever the number of entries it
 * writes, and loads PKRS twice per window (open and close). Counts are per CPU and
 * deterministic (mm/pt_door.h: pt_door_counts), so these cases assert them; the
 * times are tests/test_bench.c's. With the tables not protected (pks_tables=off,
 * no PKS) every operation opens none. Names here start with wn_.
 *
 * The same cases count TLB shootdown rounds (kernel/smp_ipi.h: smp_tlb_rounds_here,
 * asked for whether or not another CPU is online): exactly one per operation that
 * takes a translation away or frees a table, whatever the number of entries
 * (mm/pt_flush.h), and none for one that only fills empty slots, since no CPU
 * caches a not-present entry. */
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/smp_ipi.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"

KTEST_SUITE(26, windows, NULL);

static uint64_t wn_checker_runs0, wn_block_windows0;

/* Starts counting: this CPU's counts, the every-change checker's runs, and the
 * table cache's block windows. */
static void wn_start(struct pt_door_counts *c0)
{
	uint64_t violations;

	checker_every_change_stats(&wn_checker_runs0, &violations);
	wn_block_windows0 = ptcache_block_windows();
	pt_door_counts(c0);
}

/* Expects what ran since wn_start(c0) to have opened exactly one window (none when
 * the tables are not protected) and loaded PKRS exactly for it: once to open, once
 * to close. The every-change checker (ktest=checker_every, a debug mode) records
 * each of its runs in keyed state, through a window of its own when none is open:
 * up to 2 more per run are its, not the operation's. A call that refills or releases
 * a table-cache block runs that with the key closed, and the windows it opens for
 * it (mm/ptcache.h: ptcache_block_windows) are the cache's, not the operation's. */
static void wn_expect_one(const struct pt_door_counts *c0, const char *what)
{
	struct pt_door_counts c1;
	uint64_t want = pgprot_enforced() ? 1 : 0, runs, violations, extra;

	pt_door_counts(&c1);
	checker_every_change_stats(&runs, &violations);
	extra = want ? 2 * (runs - wn_checker_runs0) : 0;
	extra += ptcache_block_windows() - wn_block_windows0;
	ktest_note("%s: %llu window(s), %llu PKRS load(s)", what,
		   (unsigned long long)(c1.windows - c0->windows),
		   (unsigned long long)(c1.pkrs_writes - c0->pkrs_writes));
	KEXPECT_GE(c1.windows - c0->windows, want);
	KEXPECT_LE(c1.windows - c0->windows, want + extra);
	KEXPECT_EQ(c1.pkrs_writes - c0->pkrs_writes, 2 * (c1.windows - c0->windows));
}

/* Expects exactly `want` shootdown rounds asked for on this CPU since *r0, then
 * starts counting again from now. */
static void wn_expect_rounds(uint64_t *r0, uint64_t want, const char *what)
{
	uint64_t now = smp_tlb_rounds_here();

	ktest_note("%s: %llu shootdown round(s)", what, (unsigned long long)(now - *r0));
	KEXPECT_EQ(now - *r0, want);
	*r0 = now;
}

KTEST(windows, every_pkrs_load_is_counted_on_this_cpu)
{
	struct pt_door_counts c0, c1;
	uint32_t v;

	if (!pks_enabled())
		KTEST_SKIP(pks_unavailable_reason() ?: "PKS not enabled");
	v = pkrs_read();
	pt_door_counts(&c0);
	pkrs_write(v);
	pkrs_write(v);
	pt_door_counts(&c1);
	KEXPECT_EQ(c1.pkrs_writes - c0.pkrs_writes, 2);
	KEXPECT_EQ(c1.windows, c0.windows);
	KEXPECT_EQ(pkrs_read(), v);
}

KTEST(windows, nested_window_loads_nothing)
{
	struct pt_door_counts c0, c1;
	uint32_t outer = pt_window_open(), inner;

	pt_door_counts(&c0);
	inner = pt_window_open();
	KEXPECT_TRUE(pt_window_is_open());
	pt_window_close(inner);
	pt_door_counts(&c1);
	KEXPECT_TRUE(pt_window_is_open()); /* the outer one still is */
	pt_window_close(outer);
	KEXPECT_EQ(c1.windows, c0.windows);
	KEXPECT_EQ(c1.pkrs_writes, c0.pkrs_writes);
	KEXPECT_TRUE(!pgprot_enforced() || !pt_window_is_open());
}

/* The nesting lives in this CPU's keyed record (mm/pt_door.h), whatever the tokens
 * say: the inner close leaves the key open, the outer closes it, with the inner
 * token given to both (a token is the caller's copy on its stack). */
KTEST(windows, nesting_is_kept_by_the_keyed_record_not_the_tokens)
{
	uint32_t d0 = pt_window_depth(), outer = pt_window_open(), inner = pt_window_open();
	bool on = pgprot_enforced();

	KEXPECT_EQ(pt_window_depth(), d0 + (on ? 2 : 0));
	pt_window_close(outer); /* the outer's token for the inner close */
	KEXPECT_TRUE(pt_window_is_open());
	KEXPECT_EQ(pt_window_depth(), d0 + (on ? 1 : 0));
	pt_window_close(inner); /* the inner's token (key open) for the outer close */
	KEXPECT_TRUE(!on || !pt_window_is_open());
	KEXPECT_EQ(pt_window_depth(), d0);
}

/* A fault caught inside two windows resumes with the key closed and the record
 * empty: the two closes that follow load nothing and the next window is counted as
 * a fresh one (1 window, 2 loads). */
KTEST(windows, a_caught_fault_inside_windows_ends_them_all)
{
	struct pt_door_counts c0, c1;
	uint32_t outer, inner;
	struct fault f;

	if (!pgprot_enforced())
		KTEST_SKIP("the tables are not protected: no window to end");
	outer = pt_window_open();
	inner = pt_window_open();
	catch_write64((uint64_t *)8, 1, &f); /* not mapped: #PF, caught */
	KEXPECT_PF(&f, PF_W, 8);
	KEXPECT_FALSE(pt_window_is_open());
	KEXPECT_EQ(pt_window_depth(), 0);
	pt_door_counts(&c0);
	pt_window_close(inner);
	pt_window_close(outer);
	pt_door_counts(&c1);
	KEXPECT_EQ(c1.pkrs_writes, c0.pkrs_writes);
	outer = pt_window_open();
	KEXPECT_EQ(pt_window_depth(), 1);
	pt_window_close(outer);
	pt_door_counts(&c0);
	KEXPECT_EQ(c0.windows - c1.windows, 1);
	KEXPECT_EQ(c0.pkrs_writes - c1.pkrs_writes, 2);
	KEXPECT_EQ(pt_window_depth(), 0);
}

KTEST(windows, direct_map_build_opened_at_most_one)
{
	ktest_note("dmap_init opened %llu window(s)", (unsigned long long)dmap_boot_windows());
	KEXPECT_LE(dmap_boot_windows(), 1);
}

/* set_memory_ro then _rw of `pages` pages from page `first` of a 2 MiB-aligned run of
 * `run` frames: one window and one shootdown round each, whatever it splits,
 * changes and merges. */
static void wn_set_memory(uint64_t run, uint64_t first, uint64_t pages)
{
	phys_addr_t pa = frame_alloc_run(run, 2 * MiB);
	uint64_t va = PAGE_OFFSET + pa + first * PAGE_SIZE;
	struct set_memory_stats s0, s1;
	struct pt_door_counts c;

	uint64_t r = smp_tlb_rounds_here();

	KASSERT_TRUE(pa != 0);
	set_memory_get_stats(&s0);
	wn_start(&c);
	KEXPECT_EQ(set_memory_ro(va, pages), 0);
	wn_expect_one(&c, "set_memory_ro");
	wn_expect_rounds(&r, 1, "set_memory_ro");
	wn_start(&c);
	KEXPECT_EQ(set_memory_rw(va, pages), 0);
	wn_expect_one(&c, "set_memory_rw");
	wn_expect_rounds(&r, 1, "set_memory_rw (the change and its merges)");
	set_memory_get_stats(&s1);
	ktest_note("%llu pages: %llu splits, %llu merges", (unsigned long long)pages,
		   (unsigned long long)(s1.splits - s0.splits),
		   (unsigned long long)(s1.merges - s0.merges));
	KEXPECT_EQ(s1.splits - s0.splits, s1.merges - s0.merges);
	KEXPECT_EQ(frame_free_run(pa, run), 0);
}

KTEST(windows, set_memory_of_one_page_with_split_and_merge_opens_one)
{
	wn_set_memory(512, 7, 1);
}

KTEST(windows, set_memory_of_512_pages_opens_one)
{
	wn_set_memory(512, 0, 512);
}

KTEST(windows, set_memory_of_4098_pages_over_ten_leaves_opens_one)
{
	wn_set_memory(5120, 511, 4098);
}

KTEST(windows, split_of_a_2m_leaf_opens_one)
{
	phys_addr_t pa = frame_alloc_run(512, 2 * MiB);
	struct pt_door_counts c;
	int level;

	uint64_t r;

	KASSERT_TRUE(pa != 0);
	KASSERT_TRUE(pt_lookup(PAGE_OFFSET + pa, &level) != NULL);
	if (level != PT_LEVEL_PMD)
		KTEST_SKIP("the run is not mapped by a 2 MiB leaf");
	wn_start(&c);
	r = smp_tlb_rounds_here();
	KEXPECT_EQ(guard_split_leaf(PAGE_OFFSET + pa), 0);
	wn_expect_one(&c, "split 2M -> 4K (guard_split_leaf)");
	/* The same memory mapped the same way: the old large entry equals the new small
	 * ones, and this CPU's INVLPG drops it here (mm/guard.c: split). */
	wn_expect_rounds(&r, 0, "split 2M -> 4K");
	KEXPECT_TRUE(pt_lookup(PAGE_OFFSET + pa, &level) && level == PT_LEVEL_PTE);
	wn_start(&c);
	KEXPECT_EQ(set_memory_rw(PAGE_OFFSET + pa, 1), 0); /* changes nothing, merges */
	wn_expect_one(&c, "merge back (set_memory)");
	wn_expect_rounds(&r, 1, "merge back (the freed table waits for it)");
	KEXPECT_TRUE(pt_lookup(PAGE_OFFSET + pa, &level) && level == PT_LEVEL_PMD);
	KEXPECT_EQ(frame_free_run(pa, 512), 0);
}

/* vmap_map then vmap_unmap of `pages` pages into an empty 2 MiB: one window each;
 * the map fills empty slots (no round), the unmap takes every page and table away
 * (one round, the tables freed after it). */
static void wn_vmap(uint64_t pages)
{
	uint64_t va = vmap_reserve(pages * PAGE_SIZE, 2 * MiB), ptes = pt_count(PT_LEVEL_PTE), r;
	phys_addr_t pa = frame_alloc_run(pages, PAGE_SIZE);
	struct pt_door_counts c;

	KASSERT_TRUE(va && pa);
	wn_start(&c);
	r = smp_tlb_rounds_here();
	KEXPECT_EQ(vmap_map(va, pa, pages * PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0), 0);
	wn_expect_one(&c, "vmap_map (tables made)");
	wn_expect_rounds(&r, 0, "vmap_map into empty slots");
	KEXPECT_EQ(pt_count(PT_LEVEL_PTE), ptes + 1);
	wn_start(&c);
	vmap_unmap(va, pages * PAGE_SIZE);
	wn_expect_one(&c, "vmap_unmap (tables freed)");
	wn_expect_rounds(&r, 1, "vmap_unmap");
	KEXPECT_FALSE(pt_lookup(va, &(int){ 0 }));
	KEXPECT_FALSE(pt_lookup(va + (pages - 1) * PAGE_SIZE, &(int){ 0 }));
	KEXPECT_EQ(pt_count(PT_LEVEL_PTE), ptes); /* freed, after the round */
	KEXPECT_EQ(frame_free_run(pa, pages), 0);
}

KTEST(windows, vmap_map_and_unmap_of_1_page_open_one_each_and_unmap_one_round)
{
	wn_vmap(1);
}

KTEST(windows, vmap_map_and_unmap_of_512_pages_open_one_each_and_unmap_one_round)
{
	wn_vmap(512);
}

/* The frame va maps (0 when none). */
static phys_addr_t wn_frame_of(uint64_t va)
{
	int level;
	uint64_t *e = pt_lookup(va, &level);

	return e ? pt_entry_pa(*e, level) : 0;
}

/* vmap_populate then vmap_drop of `pages` pages: one window each; the populate
 * fills empty slots (no round), the drop takes them away (one round, and the frames
 * go back only after it: free once the drop returns). */
static void wn_populate_drop(uint64_t pages)
{
	uint64_t va = vmap_region_new("wn populate", pages * PAGE_SIZE, 2 * MiB, VMAP_OWNER_FRAMES);
	struct pt_door_counts c;
	phys_addr_t first, last;
	uint64_t r;

	KASSERT_TRUE(va != 0);
	wn_start(&c);
	r = smp_tlb_rounds_here();
	KEXPECT_EQ(vmap_populate(va, pages * PAGE_SIZE), 0);
	wn_expect_one(&c, "vmap_populate");
	wn_expect_rounds(&r, 0, "vmap_populate into empty slots");
	first = wn_frame_of(va);
	last = wn_frame_of(va + (pages - 1) * PAGE_SIZE);
	KASSERT_TRUE(first && last);
	KEXPECT_FALSE(frame_range_free(first, PAGE_SIZE));
	wn_start(&c);
	KEXPECT_EQ(vmap_drop(va, pages * PAGE_SIZE), 0);
	wn_expect_one(&c, "vmap_drop");
	wn_expect_rounds(&r, 1, "vmap_drop");
	KEXPECT_TRUE(frame_range_free(first, PAGE_SIZE));
	KEXPECT_TRUE(frame_range_free(last, PAGE_SIZE));
	KEXPECT_EQ(vmap_region_free(va), 0);
	wn_expect_rounds(&r, 0, "vmap_region_free of an empty region");
}

KTEST(windows, vmap_populate_and_drop_of_16_pages_open_one_each_and_drop_one_round)
{
	wn_populate_drop(16);
}

KTEST(windows, vmap_populate_and_drop_of_512_pages_open_one_each_and_drop_one_round)
{
	wn_populate_drop(512);
}

/* guard_install then guard_remove over `pages` pages of a region alone in its 2 MiB
 * (so its pte table is its own), mapped first when `mapped`: one window each; the
 * install zaps mapped pages (one round) or fills empty slots (none); the remove
 * clears not-present markers but frees the emptied table (one round). */
static void wn_guard(uint64_t pages, bool mapped)
{
	uint64_t va = vmap_region_new("wn guard", pages * PAGE_SIZE, 2 * MiB, VMAP_OWNER_FRAMES), r;
	struct pt_door_counts c;

	KASSERT_TRUE(va != 0);
	if (mapped)
		KASSERT_EQ(vmap_populate(va, pages * PAGE_SIZE), 0);
	wn_start(&c);
	r = smp_tlb_rounds_here();
	KEXPECT_EQ(guard_install(va, pages * PAGE_SIZE), 0);
	wn_expect_one(&c, mapped ? "guard_install on mapped pages" : "guard_install");
	wn_expect_rounds(&r, mapped ? 1 : 0,
			 mapped ? "guard_install on mapped pages"
				: "guard_install into empty slots");
	KEXPECT_TRUE(guard_marker_at(va + (pages - 1) * PAGE_SIZE));
	wn_start(&c);
	KEXPECT_EQ(guard_remove(va, pages * PAGE_SIZE), 0);
	wn_expect_one(&c, "guard_remove");
	wn_expect_rounds(&r, 1, "guard_remove (its table freed)");
	KEXPECT_FALSE(guard_range_has_marker(va, pages * PAGE_SIZE));
	KEXPECT_EQ(pt_entry_at(pt_kernel_root(), va, PT_LEVEL_PTE), NULL);
	KEXPECT_EQ(vmap_region_free(va), 0);
	wn_expect_rounds(&r, 0, "vmap_region_free of an empty region");
}

KTEST(windows, guard_install_and_remove_of_1_mapped_page_open_one_each_and_one_round_each)
{
	wn_guard(1, true);
}

KTEST(windows, guard_install_and_remove_of_512_mapped_pages_open_one_each_and_one_round_each)
{
	wn_guard(512, true);
}

KTEST(windows, guard_install_into_64_empty_slots_costs_no_round_and_remove_one)
{
	wn_guard(64, false);
}

KTEST(windows, region_free_of_512_mapped_pages_costs_one_round)
{
	uint64_t va = vmap_region_new("wn free", 512 * PAGE_SIZE, 2 * MiB, VMAP_OWNER_FRAMES), r;
	struct pt_door_counts c;
	phys_addr_t last;

	KASSERT_TRUE(va != 0);
	KASSERT_EQ(vmap_populate(va, 512 * PAGE_SIZE), 0);
	KASSERT_EQ(guard_install(va, PAGE_SIZE), 0); /* a marker too: both in one round */
	last = wn_frame_of(va + 511 * PAGE_SIZE);
	KASSERT_TRUE(last != 0);
	wn_start(&c);
	r = smp_tlb_rounds_here();
	KEXPECT_EQ(vmap_region_free(va), 0);
	wn_expect_one(&c, "vmap_region_free: 511 pages, 1 marker");
	wn_expect_rounds(&r, 1, "vmap_region_free: 511 pages, 1 marker, the table");
	KEXPECT_TRUE(frame_range_free(last, PAGE_SIZE));
	KEXPECT_EQ(pt_entry_at(pt_kernel_root(), va, PT_LEVEL_PTE), NULL);
}

KTEST(windows, guarded_allocation_and_its_free_open_one_each)
{
	struct pt_door_counts c;
	uint64_t r = smp_tlb_rounds_here();
	void *p;

	wn_start(&c);
	p = vmap_alloc_guarded("wn stack", 4, 1, 1);
	wn_expect_one(&c, "vmap_alloc_guarded: 2 markers, 4 pages");
	wn_expect_rounds(&r, 0, "vmap_alloc_guarded into empty slots");
	KASSERT_TRUE(p != NULL);
	KEXPECT_TRUE(guard_marker_at((uint64_t)p - PAGE_SIZE));
	KEXPECT_TRUE(guard_marker_at((uint64_t)p + 4 * PAGE_SIZE));
	wn_start(&c);
	r = smp_tlb_rounds_here();
	vmap_free_pages(p, 4);
	wn_expect_one(&c, "vmap_free_pages (region free)");
	wn_expect_rounds(&r, 1, "vmap_free_pages: 4 pages, 2 markers");
}
