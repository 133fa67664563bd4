/* tests/test_redteam_checker.c - the attack suite, part 3 (suite redteam, declared in
 * tests/test_redteam.c): what the mapping calls refuse can still be made by code
 * inside a write window (out of the threat model), so the checker must see it.
 * Each case plants one such state with a raw store inside a window, expects the
 * checker to report it, undoes it and expects a clean run again.
 *
 *   planted state                                   flagged as
 *   a writable vmap alias of a free pool frame      writable alias of table memory
 *   the same of a free cache page
 *   a direct-map leaf that maps a table, writable   leaf not at va - PAGE_OFFSET, and
 *   and unkeyed, instead of its own frame           a writable alias
 *   such an alias in a root other than the kernel's the same (every root is walked)
 *   a split-pool chunk without the table key        not keyed (pks_tables=off too)
 *   in the direct map, for every row of the         a violation naming the row
 *   protected-regions table: its first page
 *   writable (read-only rows) or unkeyed (keyed)
 *   a write window left open, the trap entry's      live control state
 *   default changed, CR0.WP or CR4.PKS clear
 *   any of these with the debug mode on             reported at the next table store
 */
#include "tests/test_redteam.h"
#include "tests/mm_check.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/protect_map.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"
#include "arch/trap.h"

#define RW_LEAF (PTE_P | PTE_W | PTE_NX | PTE_A | PTE_D)

/* The store a bug inside a window could make: no check, one window. */
static void raw_store(volatile uint64_t *p, uint64_t v, uint64_t flush_va)
{
	uint32_t w = pt_window_open();

	*p = v;
	pt_window_close(w);
	invlpg((void *)flush_va);
}

/* A page of `frame` mapped read-only at a fresh 2 MiB-aligned vmap address; its pte,
 * or NULL (nothing left mapped). */
static uint64_t *map_own(uint64_t *va, phys_addr_t frame)
{
	int level;

	*va = vmap_reserve(2 * MiB, 2 * MiB); /* entry 0 of its table: entry 1 is free */
	if (!*va || vmap_map(*va, frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0))
		return NULL;
	return pt_lookup(*va, &level);
}

/* Plants v at pte (mapping va), expects the checker to object, undoes it, expects a
 * clean run. */
static void expect_flagged(uint64_t *pte, uint64_t va, uint64_t v, const char *what)
{
	uint64_t old = *pte;

	raw_store(pte, v, va);
	KEXPECT_GT(checker_run(what, NULL), 0);
	raw_store(pte, old, va);
	KEXPECT_EQ(checker_run("undone", NULL), 0);
}

KTEST(redteam, checker_flags_a_writable_alias_of_a_free_pool_or_cache_frame)
{
	phys_addr_t frame = frame_alloc(), pool = 0, cache = 0;
	uint64_t va, *pte = frame ? map_own(&va, frame) : NULL;

	for (uint64_t c = 0; c < pool_nr_chunks() && !pool; c++)
		for (phys_addr_t pa = pool_chunk(c); pa < pool_chunk(c) + POOL_CHUNK_SIZE && !pool;
		     pa += PAGE_SIZE)
			pool = pool_frame_free(pa) ? pa : 0;
	for (phys_addr_t pa = ptcache_block(0); pa < ptcache_block(0) + 2 * MiB && !cache;
	     pa += PAGE_SIZE)
		cache = pt_table_level(pa) < 0 ? pa : 0;
	KEXPECT_TRUE(pte && pool && cache);
	if (pte && pool)
		expect_flagged(pte, va, pool | RW_LEAF, "a free pool frame aliased");
	if (pte && cache)
		expect_flagged(pte, va, cache | RW_LEAF, "a free cache page aliased");
	if (pte)
		vmap_unmap(va, PAGE_SIZE);
	if (frame)
		frame_free(frame);
}

KTEST(redteam, checker_flags_a_direct_map_leaf_that_maps_a_table)
{
	phys_addr_t frame = frame_alloc();
	uint64_t va = PAGE_OFFSET + frame, *leaf = NULL;
	int level;

	if (frame && set_memory_ro(va, 1) == 0) /* its own 4 KiB leaf */
		leaf = pt_lookup(va, &level);
	KEXPECT_TRUE(leaf && level == PT_LEVEL_PTE);
	if (leaf && level == PT_LEVEL_PTE)
		expect_flagged(leaf, va, pt_kernel_root() | RW_LEAF,
			       "a direct-map leaf redirected");
	if (frame) {
		KEXPECT_EQ(set_memory_rw(va, 1), 0);
		frame_free(frame);
	}
}

KTEST(redteam, checker_walks_every_root_not_just_the_kernels)
{
	phys_addr_t root = pt_alloc(pt_root_level(), 0), frame = frame_alloc();
	uint64_t va = VMAP_BASE + 0x1000, *leaf = NULL;
	int level;

	if (root && frame && !pt_map_leaf(root, va, frame, PT_LEVEL_PTE, PTE_NX))
		leaf = pt_lookup_in(root, va, &level);
	KEXPECT_TRUE(leaf != NULL);
	if (leaf) {
		expect_flagged(leaf, va, pt_kernel_root() | RW_LEAF, "a second root's alias");
		KEXPECT_EQ(pt_unmap_leaf(root, va), 0);
		/* pt_unmap_leaf keeps the root's children: free them with the root. */
		for (int i = 0; i < PT_ENTRIES; i++) {
			uint64_t *e = &((uint64_t *)pa_to_va(root))[i];

			if (pt_present(*e)) {
				phys_addr_t child = pt_entry_pa(*e, pt_root_level());

				KEXPECT_EQ(pt_set_entry(e, 0), 0);
				pt_free(child, pt_root_level() - 1);
			}
		}
	}
	if (root)
		pt_free(root, pt_root_level());
	if (frame)
		frame_free(frame);
}

KTEST(redteam, checker_flags_an_unkeyed_pool_chunk_in_every_mode)
{
	uint64_t va = PAGE_OFFSET + pool_chunk(0), *leaf;
	int level;

	REDTEAM_REQUIRE(redteam_no_table_key());
	leaf = pt_lookup(va, &level);
	KASSERT_TRUE(leaf != NULL);
	expect_flagged(leaf, va, *leaf & ~PTE_PKEY_MASK, "a pool chunk unkeyed");
	flush_tlb_all(); /* a 2 MiB leaf: drop every piece of it */
}

/* In place of the direct-map leaf e of row: the leaf that breaks the row's rule,
 * writable for a read-only row, unkeyed for a keyed one. */
static uint64_t rule_breaking_leaf(const struct protect_row *row, uint64_t e)
{
	if (protect_row_kind(row) == PROTECT_READONLY)
		return e | PTE_W;
	return e & ~PTE_PKEY_MASK;
}

/* Plants the rule-breaking leaf on the first page of row's first range, expects the
 * checker's first violation to name the row, undoes it, expects a clean run. */
static void expect_row_named(const struct protect_row *row)
{
	struct checker_result res;
	struct pa_range r;
	char want[48];
	uint64_t va, *leaf, old;

	ksnprintf(want, sizeof(want), "\"%s\"", protect_row_name(row));
	if (!protect_row_range(row, 0, &r) ||
	    !(leaf = pt_lookup(PAGE_OFFSET + r.base, &(int){ 0 }))) {
		ktest_fail(__FILE__, __LINE__, "row %s has no mapped range", want);
		return;
	}
	va = PAGE_OFFSET + r.base;
	old = *leaf;
	raw_store(leaf, rule_breaking_leaf(row, old), va);
	KEXPECT_GT(checker_run(protect_row_name(row), &res), 0);
	if (!mm_text_has(res.first_violation, want))
		ktest_fail(__FILE__, __LINE__, "violation \"%s\" does not name %s",
			   res.first_violation, want);
	raw_store(leaf, old, va);
	flush_tlb_all(); /* a 2 MiB leaf: drop every piece of it */
	KEXPECT_EQ(checker_run("undone", NULL), 0);
}

KTEST(redteam, checker_names_the_row_whose_rule_a_direct_map_leaf_breaks)
{
	for (int i = 0; i < protect_nr_rows(); i++) {
		const struct protect_row *row = protect_row(i);

		if (protect_row_kind(row) != PROTECT_READONLY && !pgprot_key()) {
			ktest_note("\"%s\": no page-table key (%s), no key to take away",
				   protect_row_name(row), redteam_no_table_key());
			continue;
		}
		expect_row_named(row);
	}
}

KTEST(redteam, checker_flags_the_live_control_state)
{
	uint64_t cr0 = read_cr0(), cr4 = read_cr4();
	uint32_t w, def = trap_pkrs_default;

	REDTEAM_REQUIRE(redteam_unenforced());
	w = pt_window_open();
	KEXPECT_GT(checker_run("inside a window", NULL), 0);
	trap_pkrs_default = def & ~PKRS_KEY_MASK(pgprot_key());
	pt_window_close(w);
	KEXPECT_GT(checker_run("trap default opened", NULL), 0);
	w = pt_window_open();
	trap_pkrs_default = def;
	pt_window_close(w);
	write_cr0(cr0 & ~CR0_WP);
	KEXPECT_GT(checker_run("CR0.WP clear", NULL), 0);
	write_cr0(cr0);
	write_cr4(cr4 & ~CR4_PKS);
	KEXPECT_GT(checker_run("CR4.PKS clear", NULL), 0);
	write_cr4(cr4);
	flush_tlb_all(); /* TLB entries filled without PKS skip the key check */
	KEXPECT_EQ(checker_run("undone", NULL), 0);
}

KTEST(redteam, checker_debug_mode_reports_at_the_next_table_store)
{
	phys_addr_t frame = frame_alloc(), other = frame_alloc();
	uint64_t va, *pte = frame ? map_own(&va, frame) : NULL, runs, found, runs2, found2, base;
	bool was_on;

	KEXPECT_TRUE(pte && other);
	if (!pte || !other)
		goto out;
	was_on = checker_every_change();
	checker_set_every_change(true);
	checker_every_change_stats(&runs, &found);
	base = found;
	raw_store(pte, pt_kernel_root() | RW_LEAF, va); /* not a table store: unseen */
	KEXPECT_EQ(pt_set_entry(pte + 1, other | PTE_P | PTE_NX), 0); /* a legal one */
	checker_every_change_stats(&runs2, &found2);
	KEXPECT_EQ(runs2, runs + 1);
	KEXPECT_GT(found2, found);
	raw_store(pte, frame | PTE_P | PTE_NX, va);
	KEXPECT_EQ(pt_set_entry(pte + 1, 0), 0);
	invlpg((void *)(va + PAGE_SIZE));
	checker_every_change_stats(&runs, &found);
	KEXPECT_EQ(found, found2);		     /* clean again */
	checker_every_change_forgive(found2 - base); /* those were on purpose */
	checker_set_every_change(was_on);
	vmap_unmap(va, PAGE_SIZE);
out:
	if (frame)
		frame_free(frame);
	if (other)
		frame_free(other);
}

/* The page right below a range of a live row of the protected-regions table, itself
 * in none (above 2 MiB), or 0. */
static phys_addr_t page_below_a_protected_range(void)
{
	struct pa_range pr;

	for (int row = 0; row < protect_nr_rows(); row++) {
		if (!protect_row_live(protect_row(row)))
			continue;
		for (uint64_t i = 0; protect_row_range(protect_row(row), i, &pr); i++)
			if (pr.base > 2 * MiB && IS_ALIGNED(pr.base, PAGE_SIZE) &&
			    !protect_region_of(pr.base - PAGE_SIZE, PAGE_SIZE, NULL))
				return pr.base - PAGE_SIZE;
	}
	return 0;
}

/* The checker asks the rows once per run of leaves that map contiguous memory alike:
 * a writable leaf over a protected page right after a read-only leaf of the page
 * before it is a run of its own, and so is one after an unrelated writable leaf
 * (same bits, memory not contiguous); both are flagged. */
KTEST(redteam, checker_flags_a_writable_alias_after_a_neighbour_of_another_run)
{
	uint64_t r = vmap_reserve(2 * MiB, 2 * MiB), *pte, old0, old1;
	phys_addr_t frames = frame_alloc_run(2, PAGE_SIZE), lo = page_below_a_protected_range();
	int level;

	KASSERT_TRUE(r && frames && lo);
	KASSERT_EQ(vmap_map(r, frames, 2 * PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0), 0);
	pte = pt_lookup(r, &level);
	old0 = pte[0];
	old1 = pte[1];
	raw_store(&pte[0], lo | PTE_P | PTE_NX | PTE_A | PTE_D, r);
	raw_store(&pte[1], (lo + PAGE_SIZE) | RW_LEAF, r + PAGE_SIZE);
	KEXPECT_GT(checker_run("a writable alias after a read-only leaf", NULL), 0);
	raw_store(&pte[0], frames | RW_LEAF, r);
	KEXPECT_GT(checker_run("a writable alias after an unrelated writable leaf", NULL), 0);
	raw_store(&pte[1], old1, r + PAGE_SIZE);
	raw_store(&pte[0], old0, r);
	KEXPECT_EQ(checker_run("undone", NULL), 0);
	vmap_unmap(r, 2 * MiB);
	KEXPECT_EQ(vmap_region_free(r), 0);
	KEXPECT_EQ(frame_free_run(frames, 2), 0);
}
