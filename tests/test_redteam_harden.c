/* tests/test_redteam_harden.c - the attack suite, part 4 (suite redteam, declared in
 * tests/test_redteam.c): holes a review found in the door's edges.
 *
 *   attack                                         secure outcome
 *   one stack store into a catch's saved PKRS,     the resume keeps the table key
 *   then a caught fault inside a write window      closed: a table store faults 0x23
 *   link a live table from a second parent entry   -EPERM, reported, entry unchanged
 *   (every link made since boot is recorded)
 *   vmap_map/pt_map_leaf with a pa whose bits      -EINVAL, nothing mapped (no leaf
 *   reach the key, NX or flag fields, or beyond    gets a key from its address)
 *   the physical-address width
 *   a table-cache refill inside a window           runs with the table key closed
 *   a forged token to pt_window_resume             opens nothing: a table store faults
 *   a stray store into a vmap region object        #PF 0x23, the object unchanged
 */
#include "tests/test_redteam.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/ptcache.h"
#include "mm/vmap.h"
#include "arch/pkrs.h"

/* Never mapped: a hole well inside the kernel half (tests/test_catch.c). */
#define HOLE_VA 0xffffc7fffff00000ULL

struct stray_catch {
	uint32_t forged; /* the PKRS value the stray store plants */
};

/* The stray store into the armed catch's saved PKRS (outside any window: the stack is
 * writable), then a window opens and the code in it faults. */
static void fault_in_a_window(void *arg)
{
	const struct stray_catch *s = arg;

	*catch_saved_pkrs() = s->forged;
	(void)pt_window_open(); /* never closed here: the fault leaves the window */
	(void)*(volatile uint64_t *)HOLE_VA;
}

KTEST(redteam, a_forged_saved_pkrs_cannot_open_the_table_key_on_a_catch_resume)
{
	uint64_t *e = redteam_root_entry();
	uint32_t saved = pkrs_read(), wd;
	struct stray_catch s;
	uint64_t before = *e;
	struct fault f;

	REDTEAM_REQUIRE(redteam_unenforced());
	wd = PKRS_WD(pgprot_key());
	s.forged = saved & ~PKRS_KEY_MASK(pgprot_key());
	KASSERT_TRUE(!pt_window_is_open() && pt_present(before));
	catch_run(fault_in_a_window, &s, &f);
	KEXPECT_PF(&f, 0, HOLE_VA);
	KEXPECT_NE(pkrs_read() & wd, 0);
	KEXPECT_FALSE(pt_window_is_open());
	redteam_expect_table_store_faults(e);
	pkrs_write(saved);
}

/* pt_window_resume trusts no token: after a suspension was resumed (or with none at
 * all), a forged `closed = true` opens nothing, and a store into a table faults. */
KTEST(redteam, a_forged_resume_token_cannot_open_the_table_key)
{
	uint32_t w;
	bool closed;

	REDTEAM_REQUIRE(redteam_unenforced());
	w = pt_window_open();
	closed = pt_window_suspend();
	KEXPECT_TRUE(closed);
	KEXPECT_FALSE(pt_window_is_open());
	pt_window_resume(closed);
	KEXPECT_TRUE(pt_window_is_open());
	pt_window_close(w);
	pt_window_resume(true); /* resumed already: the forged token */
	KEXPECT_FALSE(pt_window_is_open());
	KEXPECT_FALSE(pt_window_suspend()); /* no window open: nothing to close */
	pt_window_resume(true);
	KEXPECT_FALSE(pt_window_is_open());
	redteam_expect_table_store_faults(redteam_root_entry());
}

/* A region's base and size decide which pages vmap_region_free drops: one store
 * into a live region object (its size, its link to the next region) faults. */
KTEST(redteam, stray_store_into_a_vmap_region_object_faults_with_pk)
{
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	struct vmap_region *r = va ? (struct vmap_region *)vmap_region_of(va) : NULL;

	REDTEAM_REQUIRE(redteam_unenforced());
	KASSERT_TRUE(r != NULL);
	KEXPECT_TRUE(redteam_attack_word(&r->size, r->size + 64 * MiB, PF_PK_WRITE));
	KEXPECT_TRUE(redteam_attack_word(&r->base, r->base - PAGE_SIZE, PF_PK_WRITE));
	KEXPECT_TRUE(redteam_attack_word((uint64_t *)&r->next, (uint64_t)r, PF_PK_WRITE));
	KEXPECT_EQ(r->size, PAGE_SIZE);
	KEXPECT_EQ(vmap_region_free(va), 0);
}

/* A table the test owns: the pte table behind one 4 KiB leaf at a 4 MiB-aligned vmap
 * address, its pmd entry, and the next pmd entry (empty: the reservation's). */
struct two_slots {
	uint64_t va, *pmd, *spare;
	phys_addr_t frame;
};

static bool two_slots_map(struct two_slots *o)
{
	o->va = vmap_reserve(4 * MiB, 4 * MiB);
	o->frame = frame_alloc();
	if (!o->va || !o->frame || vmap_map(o->va, o->frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0))
		return false;
	o->pmd = pt_entry_at(pt_kernel_root(), o->va, PT_LEVEL_PMD);
	o->spare = o->pmd ? o->pmd + 1 : NULL;
	return o->pmd && pt_present(*o->pmd) && *o->spare == 0;
}

/* Counts the links of a walk whose table is not marked linked. */
static void count_unmarked(phys_addr_t table, int level, int index, uint64_t e, uint64_t va,
			   void *arg)
{
	(void)table, (void)index, (void)va;
	if (level > PT_LEVEL_PTE && !pt_is_leaf(e, level) &&
	    !pt_table_linked(pt_entry_pa(e, level)))
		(*(int *)arg)++;
}

/* Every link the kernel's tables hold went through the door, boot's included: each
 * table below the root is marked, so the refusal below covers every live table. */
KTEST(redteam, every_linked_table_of_the_kernel_root_is_marked_linked)
{
	int unmarked = 0;

	pt_walk_all(pt_kernel_root(), count_unmarked, &unmarked);
	KEXPECT_EQ(unmarked, 0);
	KEXPECT_FALSE(pt_table_linked(pt_kernel_root()));
}

KTEST(redteam, a_live_table_cannot_be_linked_from_a_second_parent)
{
	struct two_slots o = { 0 };
	phys_addr_t t;
	uint64_t link;
	uint32_t w;

	KEXPECT_TRUE(two_slots_map(&o));
	if (ktest_failed())
		goto out;
	link = *o.pmd;
	t = pt_entry_pa(link, PT_LEVEL_PMD);
	KEXPECT_TRUE(pt_table_linked(t));
	KEXPECT_EQ(pt_set_entry(o.spare, link), -EPERM);
	w = pt_window_open();
	KEXPECT_EQ(__pt_set_entry(o.spare, link), -EPERM);
	pt_window_close(w);
	KEXPECT_EQ(*o.spare, 0);
	if (*o.spare) /* the second link landed: take it away before the table goes */
		pt_set_entry(o.spare, 0);
	KEXPECT_EQ(pt_set_entry(o.pmd, link), 0); /* its own parent may store it again */
	KEXPECT_TRUE(pt_table_linked(t));
	vmap_unmap(o.va, PAGE_SIZE); /* unlinks, then frees the table: no ASSERT fires */
	KEXPECT_EQ(pt_table_level(t), -1);
	KEXPECT_FALSE(pt_table_linked(t));
	o.va = 0;
out:
	if (o.va)
		vmap_unmap(o.va, PAGE_SIZE);
	if (o.frame)
		frame_free(o.frame);
}

KTEST(redteam, vmap_map_and_pt_map_leaf_refuse_a_pa_outside_the_frame_address)
{
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	phys_addr_t frame = frame_alloc();
	uint64_t bad[] = {
		frame | (1ULL << 62),		     /* a key bit */
		frame | PTE_PKEY_MASK,		     /* bits 59-62: key 15 */
		frame | PTE_PKEY(pgprot_key() ?: 1), /* the table key, smuggled in */
		frame | PTE_NX,			     /* bit 63 */
		frame | 0x800,			     /* a low (flag-field) bit */
		frame | (1ULL << cpu.phys_bits),     /* beyond the physical-address width */
	};
	int level;

	KASSERT_TRUE(va && frame);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		KEXPECT_EQ(vmap_map(va, bad[i], PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0), -EINVAL);
		KEXPECT_EQ(pt_map_leaf(pt_kernel_root(), va, bad[i], PT_LEVEL_PTE, PTE_NX),
			   -EINVAL);
		KEXPECT_TRUE(pt_lookup(va, &level) == NULL);
		if (ktest_failed()) {
			ktest_note("pa 0x%llx", (unsigned long long)bad[i]);
			break;
		}
	}
	/* An address bit in prot lands in the frame field: refused too. */
	KEXPECT_EQ(pt_map_leaf(pt_kernel_root(), va, frame, PT_LEVEL_PTE, PTE_NX | 0x1000),
		   -EINVAL);
	KEXPECT_TRUE(pt_lookup(va, &level) == NULL);
	/* The clean address maps, with key 0. */
	KEXPECT_EQ(vmap_map(va, frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0), 0);
	KEXPECT_TRUE(pt_lookup(va, &level) && pt_entry_pkey(*pt_lookup(va, &level)) == 0);
	vmap_unmap(va, PAGE_SIZE);
	frame_free(frame);
}

/* Expects the cache's block windows to have grown by exactly `want` since bw: a refill
 * opens set_memory's window, add_block's and the caller's again (3), a release
 * set_memory's and the caller's again (2). The every-change checker (a debug mode)
 * adds up to 2 per run of its own. */
static void expect_block_windows(uint64_t bw, uint64_t runs0, uint64_t want, const char *what)
{
	uint64_t runs, violations, got = ptcache_block_windows() - bw;

	checker_every_change_stats(&runs, &violations);
	if (got < want || got > want + 2 * (runs - runs0))
		ktest_fail(__FILE__, __LINE__, "%s: %llu windows, expected %llu", what,
			   (unsigned long long)got, (unsigned long long)want);
}

/* Enough room for every free cache page. */
static phys_addr_t drained[2048];

/* Takes every free cache page (ptcache_alloc: no table made, so it is cheap), then one
 * table through pt_alloc, all inside one window: that pt_alloc refills the cache
 * while its caller's window is open, and the refill must run with the key closed. */
KTEST(redteam, a_table_cache_refill_inside_a_window_runs_with_the_table_key_closed)
{
	uint64_t n = ptcache_free_count(), blocks = ptcache_nr_blocks();
	uint64_t bw = ptcache_block_windows(), taken = 0, runs0, violations;
	phys_addr_t t;
	uint32_t w;

	REDTEAM_REQUIRE(redteam_unenforced());
	checker_every_change_stats(&runs0, &violations);
	KASSERT_TRUE(n <= ARRAY_SIZE(drained));
	w = pt_window_open();
	while (taken < n && (drained[taken] = ptcache_alloc()))
		taken++;
	t = pt_alloc(PT_LEVEL_PTE, VMAP_BASE);
	pt_window_close(w);
	KEXPECT_EQ(taken, n);
	KEXPECT_NE(t, 0);
	KEXPECT_EQ(ptcache_nr_blocks(), blocks + 1);
	KEXPECT_NE(ptcache_refill_pkrs() & PKRS_WD(pgprot_key()), 0);
	expect_block_windows(bw, runs0, 3, "refill");
	bw = ptcache_block_windows();
	checker_every_change_stats(&runs0, &violations);
	w = pt_window_open();
	while (taken > 0)
		ptcache_free(drained[--taken]);
	pt_window_close(w);
	if (t)
		pt_free(t, PT_LEVEL_PTE); /* the new block is wholly free again: released */
	KEXPECT_EQ(ptcache_nr_blocks(), blocks);
	expect_block_windows(bw, runs0, 2, "release");
}
