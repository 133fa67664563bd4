/* tests/test_pgtable.c - the one door for table pages and the mapping helpers.
 *
 * pt_count(level), kept by the constructors and destructors, must equal what a full
 * walk of the tables finds: after boot, after mapping and unmapping at every leaf
 * size, and after set_memory splits and merges direct-map leaves. Mapping cases work
 * in fresh vmap space on frames they own; round trips claim the free frames they
 * change from the frame allocator and give them back.
 */
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "tests/mm_check.h"
#include "arch/cpu.h"

extern char __kernel_start[];

KTEST_SUITE(22, pgtable, NULL);

#define PG_PATTERN   0x7461626c65ULL /* "table" */
#define PG_MAX_TRIES 1024	     /* aligned frames tried for a region under one leaf */

/* Bit l set for every table level pt_map_leaf creates for a leaf of `level` at va. */
static unsigned int pg_new_tables(phys_addr_t root, uint64_t va, int level)
{
	uint64_t *t = pa_to_va(root);
	unsigned int bits = 0;

	for (int l = pt_root_level(); l > level; l--) {
		uint64_t e = t[pt_index(va, l)];

		if (!pt_present(e)) {
			for (int k = l - 1; k >= level; k--)
				bits |= 1u << k;
			return bits;
		}
		t = pa_to_va(pt_entry_pa(e, l));
	}
	return 0;
}

KTEST(pgtable, counts_equal_full_walk_after_boot)
{
	uint64_t n[PT_NR_LEVELS];

	mm_walk_counts(n);
	ktest_note("walk: PML5 %llu, PML4 %llu, PDPT %llu, PD %llu, PT %llu",
		   (unsigned long long)n[4], (unsigned long long)n[3], (unsigned long long)n[2],
		   (unsigned long long)n[1], (unsigned long long)n[0]);
	mm_expect_counts_match_walk("after boot");
	KEXPECT_EQ(pt_count(pt_root_level()), 1);
	if (pt_root_level() == PT_LEVEL_PGD_4LEVEL)
		KEXPECT_EQ(pt_count(PT_LEVEL_PGD_5LEVEL), 0);
}

/* ---- vmap at every leaf size ------------------------------------------------------ */

/* A free frame at the start of a region of `level` size that one direct-map leaf
 * of at least that size covers (all RAM: no hole or MMIO under the alias, no table
 * page), taken from the allocator; 0 when there is none. Aligned frames are tried
 * from the lowest up: a firmware may leave many small pieces of RAM low down. */
static phys_addr_t pg_frame_in_ram_region(int level)
{
	static phys_addr_t tried[PG_MAX_TRIES];
	phys_addr_t f = 0;
	int n = 0, got;

	while (!f && n < PG_MAX_TRIES && (tried[n] = frame_alloc_run(1, pt_size(level)))) {
		if (pt_lookup(PAGE_OFFSET + tried[n], &got) && got >= level)
			f = tried[n];
		else
			n++;
	}
	while (n-- > 0)
		frame_free(tried[n]);
	return f;
}

/* Maps the `level`-sized region around a frame it owns at a fresh vmap address,
 * stores through one alias and loads through the other, unmaps, expects a fault. */
static void pg_vmap_round_trip(int level)
{
	uint64_t size = pt_size(level), va = vmap_reserve(size, size), c0[PT_NR_LEVELS];
	phys_addr_t f = pg_frame_in_ram_region(level);
	uint64_t *alias = (uint64_t *)(va + (f & (size - 1))), *dm = pa_to_va(f), *e;
	unsigned int added = pg_new_tables(pt_kernel_root(), va, level);
	struct fault fl;
	int got;

	if (!f)
		KTEST_SKIP("no region of RAM under one leaf of this size has a free frame");
	KASSERT_TRUE(va != 0);
	mm_counts(c0);
	KASSERT_EQ(vmap_map(va, ALIGN_DOWN(f, size), size, level, PTE_W | PTE_NX, 0), 0);
	e = pt_lookup((uint64_t)alias, &got);
	KEXPECT_TRUE(e && got == level && pt_entry_pa(*e, level) == ALIGN_DOWN(f, size));
	KEXPECT_EQ(va_to_pa(alias), f);
	mm_expect_counts(c0, added, false);
	mm_expect_counts_match_walk("after vmap_map");
	catch_write64(alias, PG_PATTERN, &fl);
	KEXPECT_NO_FAULT(&fl);
	KEXPECT_EQ(catch_read64(dm, &fl), PG_PATTERN);
	catch_write64(dm, ~PG_PATTERN, &fl);
	KEXPECT_EQ(catch_read64(alias, &fl), ~PG_PATTERN);
	vmap_unmap(va, size);
	catch_read64(alias, &fl);
	KEXPECT_PF(&fl, 0, alias);
	mm_expect_counts(c0, added, true);
	mm_expect_counts_match_walk("after vmap_unmap");
	KEXPECT_EQ(frame_free(f), 0);
}

KTEST(pgtable, vmap_4k_leaf_maps_reads_writes_and_unmaps)
{
	pg_vmap_round_trip(PT_LEVEL_PTE);
}

KTEST(pgtable, vmap_2m_leaf_maps_reads_writes_and_unmaps)
{
	pg_vmap_round_trip(PT_LEVEL_PMD);
}

KTEST(pgtable, vmap_1g_leaf_maps_reads_writes_and_unmaps)
{
	if (!dmap_has_1g())
		KTEST_SKIP("CPU has no 1 GiB pages");
	pg_vmap_round_trip(PT_LEVEL_PUD);
}

KTEST(pgtable, unmap_leaf_frees_the_tables_it_emptied)
{
	uint64_t va = vmap_reserve(GiB, GiB), c0[PT_NR_LEVELS];
	phys_addr_t root = pt_kernel_root(), f = frame_alloc();
	unsigned int added = pg_new_tables(root, va, PT_LEVEL_PTE);

	KASSERT_TRUE(f != 0 && va != 0);
	KEXPECT_TRUE(added & (1u << PT_LEVEL_PMD)); /* a fresh GiB: new pmd and pte */
	mm_counts(c0);
	KASSERT_EQ(pt_map_leaf(root, va, f, PT_LEVEL_PTE, PTE_W | PTE_NX), 0);
	KASSERT_EQ(pt_map_leaf(root, va + PAGE_SIZE, f, PT_LEVEL_PTE, PTE_NX), 0);
	mm_expect_counts(c0, added, false);
	KEXPECT_EQ(pt_unmap_leaf(root, va), 0);
	mm_expect_counts(c0, added, false); /* the pte table is not empty */
	KEXPECT_EQ(pt_unmap_leaf(root, va + PAGE_SIZE), 0);
	mm_expect_counts(c0, added, true);
	KEXPECT_EQ(pt_unmap_leaf(root, va), -ENOENT);
	mm_expect_counts_match_walk("after pt_unmap_leaf");
	KEXPECT_EQ(frame_free(f), 0);
}

/* A leaf mapped first, then a second one where it conflicts. */
struct pg_clash {
	int first_level, second_level;
	uint64_t second_off;
};

static const struct pg_clash pg_clashes[] = {
	{ PT_LEVEL_PTE, PT_LEVEL_PTE, 0 },	       /* the same 4 KiB page */
	{ PT_LEVEL_PMD, PT_LEVEL_PTE, 5 * PAGE_SIZE }, /* 4 KiB inside a 2 MiB leaf */
	{ PT_LEVEL_PTE, PT_LEVEL_PMD, 0 },	       /* 2 MiB over a pte table */
	{ PT_LEVEL_PUD, PT_LEVEL_PTE, 3 * MiB },       /* 4 KiB inside a 1 GiB leaf */
};

static void pg_expect_clash(const struct pg_clash *c, phys_addr_t f)
{
	phys_addr_t root = pt_kernel_root();
	uint64_t size = pt_size(MAX(c->first_level, c->second_level));
	uint64_t va = vmap_reserve(size, size), c0[PT_NR_LEVELS], c1[PT_NR_LEVELS], leaf;
	unsigned int added = pg_new_tables(root, va, c->first_level);
	int level;

	KASSERT_TRUE(va != 0);
	mm_counts(c0);
	KASSERT_EQ(pt_map_leaf(root, va, ALIGN_DOWN(f, pt_size(c->first_level)), c->first_level,
			       PTE_NX),
		   0);
	mm_counts(c1);
	leaf = *pt_lookup(va, &level);
	KEXPECT_EQ(pt_map_leaf(root, va + c->second_off, ALIGN_DOWN(f, pt_size(c->second_level)),
			       c->second_level, PTE_W | PTE_NX),
		   -EEXIST); /* an aligned pa: a misaligned one is -EINVAL before any lookup */
	KEXPECT_EQ(*pt_lookup(va, &level), leaf);
	for (int l = 0; l < PT_NR_LEVELS; l++)
		KEXPECT_EQ(pt_count(l), c1[l]);
	KEXPECT_EQ(pt_unmap_leaf(root, va), 0);
	mm_expect_counts(c0, added, true);
}

KTEST(pgtable, map_leaf_on_occupied_address_is_eexist_and_changes_nothing)
{
	phys_addr_t f = frame_alloc();

	KASSERT_TRUE(f != 0);
	for (size_t i = 0; i < ARRAY_SIZE(pg_clashes); i++)
		if (pg_clashes[i].first_level != PT_LEVEL_PUD || dmap_has_1g())
			pg_expect_clash(&pg_clashes[i], f);
	mm_expect_counts_match_walk("after the clashes");
	KEXPECT_EQ(frame_free(f), 0);
}

/* Entries on the walk to va in root without U (a missing level counts too). */
static int pg_entries_without_u(phys_addr_t root, uint64_t va)
{
	uint64_t *t = pa_to_va(root);
	int bad = 0;

	for (int l = pt_root_level(); l >= 0; l--) {
		uint64_t e = t[pt_index(va, l)];

		if (!pt_present(e))
			return bad + 1;
		bad += !(e & PTE_U);
		if (pt_is_leaf(e, l))
			return bad;
		t = pa_to_va(pt_entry_pa(e, l));
	}
	return bad;
}

/* Unlinks and frees the (empty) children of root, then root. */
static void pg_free_root(phys_addr_t root)
{
	uint64_t *t = pa_to_va(root);

	for (int i = 0; i < PT_ENTRIES; i++) {
		if (pt_present(t[i])) {
			phys_addr_t child = pt_entry_pa(t[i], pt_root_level());

			pt_set_entry(&t[i], 0);
			pt_free(child, pt_root_level() - 1);
		}
	}
	pt_free(root, pt_root_level());
}

KTEST(pgtable, user_mapping_sets_u_at_every_level)
{
	uint64_t uva = 0x400000, kva = uva + PMD_SIZE, c0[PT_NR_LEVELS];
	phys_addr_t f = frame_alloc(), root;
	int level;

	KASSERT_TRUE(f != 0);
	mm_counts(c0);
	root = pt_alloc(pt_root_level(), 0); /* a root of its own, never loaded */
	KASSERT_TRUE(root != 0);
	/* A supervisor leaf first: the user leaf then shares its upper entries. */
	KASSERT_EQ(pt_map_leaf(root, kva, f, PT_LEVEL_PTE, PTE_W | PTE_NX), 0);
	KEXPECT_EQ(pg_entries_without_u(root, kva), pt_root_level() + 1);
	KASSERT_EQ(pt_map_leaf(root, uva, f, PT_LEVEL_PTE, PTE_U | PTE_W | PTE_NX), 0);
	KEXPECT_EQ(pg_entries_without_u(root, uva), 0);
	KEXPECT_FALSE(*pt_lookup_in(root, kva, &level) & PTE_U);
	KEXPECT_EQ(pt_unmap_leaf(root, uva), 0);
	KEXPECT_EQ(pt_unmap_leaf(root, kva), 0);
	pg_free_root(root);
	for (int l = 0; l < PT_NR_LEVELS; l++)
		KEXPECT_EQ(pt_count(l), c0[l]);
	KEXPECT_EQ(frame_free(f), 0);
}

KTEST(pgtable, free_root_child_frees_an_empty_child_and_keeps_a_busy_one)
{
	uint64_t va = 0x400000, c0[PT_NR_LEVELS], *e;
	phys_addr_t f = frame_alloc(), root, child;
	int top = pt_root_level();

	KASSERT_TRUE(f != 0);
	mm_counts(c0);
	root = pt_alloc(top, 0); /* a root of its own, never loaded */
	KASSERT_TRUE(root != 0);
	e = &((uint64_t *)pa_to_va(root))[pt_index(va, top)];
	KEXPECT_EQ(pt_free_root_child(root, va), -ENOENT);
	KASSERT_EQ(pt_map_leaf(root, va, f, PT_LEVEL_PTE, PTE_NX), 0);
	child = pt_entry_pa(*e, top);
	KEXPECT_EQ(pt_free_root_child(child, va), -EINVAL); /* not a root */
	KEXPECT_EQ(pt_free_root_child(root, va), -EBUSY);   /* the child maps va */
	KEXPECT_EQ(pt_entry_pa(*e, top), child);
	KEXPECT_EQ(pt_table_level(child), top - 1);
	KEXPECT_EQ(pt_unmap_leaf(root, va), 0); /* keeps the root's children */
	KEXPECT_EQ(pt_table_level(child), top - 1);
	KEXPECT_EQ(pt_free_root_child(root, va), 0);
	KEXPECT_EQ(*e, 0);
	KEXPECT_EQ(pt_table_level(child), -1);
	pt_free(root, top);
	for (int l = 0; l < PT_NR_LEVELS; l++)
		KEXPECT_EQ(pt_count(l), c0[l]);
	KEXPECT_EQ(frame_free(f), 0);
}

/* ---- level names ------------------------------------------------------------------- */

static const struct {
	int level;
	const char *name4, *name5, *intel; /* pt_level_name in 4- and 5-level paging */
} pg_names[] = {
	{ PT_LEVEL_PGD_5LEVEL, "none", "pgd", "PML5" },
	{ PT_LEVEL_P4D, "pgd", "p4d", "PML4" }, /* 4-level: p4d folded into the pgd */
	{ PT_LEVEL_PUD, "pud", "pud", "PDPT" },
	{ PT_LEVEL_PMD, "pmd", "pmd", "PD" },
	{ PT_LEVEL_PTE, "pte", "pte", "PT" },
};

KTEST(pgtable, root_is_named_pgd_and_4_level_mode_has_no_p4d)
{
	bool five = read_cr4() & CR4_LA57;

	ktest_note("%d-level paging: root at level %d", five ? 5 : 4, pt_root_level());
	KEXPECT_EQ(pt_root_level(), five ? PT_LEVEL_PGD_5LEVEL : PT_LEVEL_PGD_4LEVEL);
	KEXPECT_STREQ(pt_level_name(pt_root_level()), "pgd");
	for (size_t i = 0; i < ARRAY_SIZE(pg_names); i++) {
		KEXPECT_STREQ(pt_level_name(pg_names[i].level),
			      five ? pg_names[i].name5 : pg_names[i].name4);
		KEXPECT_STREQ(pt_level_intel_name(pg_names[i].level), pg_names[i].intel);
	}
}

/* ---- canonical addresses ------------------------------------------------------------ */

static const struct {
	uint64_t in, out4, out5; /* pt_canonical in 4- and in 5-level paging */
} pg_canon[] = {
	{ 0x0000800000000000ULL, 0xffff800000000000ULL, 0x0000800000000000ULL }, /* bit 47 */
	{ 0x0100000000000000ULL, 0x0000000000000000ULL, 0xff00000000000000ULL }, /* bit 56 */
	{ 0x0000ffffffffffffULL, 0xffffffffffffffffULL, 0x0000ffffffffffffULL },
	{ 0x01ff888000000000ULL, 0xffff888000000000ULL, 0xffff888000000000ULL }, /* dmap */
	{ 0x00007fffffffffffULL, 0x00007fffffffffffULL, 0x00007fffffffffffULL },
	{ 0xffffc90000000000ULL, 0xffffc90000000000ULL, 0xffffc90000000000ULL }, /* vmap */
	{ 0x0000000000001000ULL, 0x0000000000001000ULL, 0x0000000000001000ULL },
};

KTEST(pgtable, canonical_sign_extends_from_bit_47_or_56)
{
	bool five = pt_root_level() == PT_LEVEL_PGD_5LEVEL;

	ktest_note("checking the %d-level column", five ? 5 : 4);
	for (size_t i = 0; i < ARRAY_SIZE(pg_canon); i++)
		KEXPECT_EQ(pt_canonical(pg_canon[i].in),
			   five ? pg_canon[i].out5 : pg_canon[i].out4);
}

/* ---- where table pages come from -------------------------------------------------- */

static const struct {
	int level;
	uint64_t va;
	bool pool; /* from the split pool, else the table cache */
} pg_sources[] = {
	{ PT_LEVEL_PTE, PAGE_OFFSET, true },
	{ PT_LEVEL_PMD, PAGE_OFFSET + 5 * GiB, true },
	{ PT_LEVEL_PUD, PAGE_OFFSET, true },
	{ PT_LEVEL_P4D, PAGE_OFFSET, false }, /* above the direct map's own levels */
	{ PT_LEVEL_PTE, VMAP_BASE, false },
	{ PT_LEVEL_PMD, VMAP_BASE, false },
	{ PT_LEVEL_PTE, (uint64_t)__kernel_start, false },
};

KTEST(pgtable, tables_come_from_pool_for_dmap_and_cache_otherwise)
{
	for (size_t i = 0; i < ARRAY_SIZE(pg_sources); i++) {
		int level = pg_sources[i].level;
		uint64_t c = pt_count(level), nonzero = 0;
		phys_addr_t pa = pt_alloc(level, pg_sources[i].va);
		const uint64_t *t = pa_to_va(pa);

		KASSERT_TRUE(pa != 0);
		KEXPECT_EQ(pool_contains(pa), pg_sources[i].pool);
		KEXPECT_EQ(ptcache_contains(pa), !pg_sources[i].pool);
		KEXPECT_EQ(pt_count(level), c + 1);
		for (int k = 0; k < PT_ENTRIES; k++)
			nonzero += t[k] != 0;
		KEXPECT_EQ(nonzero, 0);
		pt_free(pa, level);
		KEXPECT_EQ(pt_count(level), c);
		if (pg_sources[i].pool)
			KEXPECT_TRUE(pool_frame_free(pa));
	}
}

/* The cache pages pg_take_until_new_block took, in order (a block holds 512; the
 * pages themselves are keyed, so the list is kept here, not in them). */
static phys_addr_t pg_taken[2 * PT_ENTRIES];

/* Takes vmap-area tables (cache pages, through pt_alloc) until the cache adds a
 * block (or pg_taken is full): the free pages of the present blocks in one batch,
 * then one more. A batch is one write window; a page at a time was two PKRS loads
 * each (a whole TLB flush each under TCG). Returns the last page taken (0 when the
 * cache ran dry), the count in *taken. */
static phys_addr_t pg_take_until_new_block(uint64_t *taken)
{
	uint64_t blocks = ptcache_nr_blocks();

	*taken = 0;
	while (ptcache_nr_blocks() == blocks && *taken < ARRAY_SIZE(pg_taken)) {
		int n = (int)MIN(MAX(ptcache_free_count(), 1), ARRAY_SIZE(pg_taken) - *taken);
		int got = pt_alloc_batch(PT_LEVEL_PTE, VMAP_BASE, &pg_taken[*taken], n);

		*taken += (uint64_t)got;
		if (got < n)
			break;
	}
	return *taken ? pg_taken[*taken - 1] : 0;
}

/* Gives back the n tables pg_take_until_new_block took, newest first. */
static void pg_give_back(uint64_t n)
{
	pt_free_batch(pg_taken, (int)n, PT_LEVEL_PTE);
}

/* The cycle pt_alloc -> ptcache_alloc -> new block -> keying splits the direct map ->
 * pt_alloc ends in the pool: every table on the new block's direct-map path at the
 * pud level and below is a pool page (mm/ptcache.c asserts the cache is never
 * re-entered). */
KTEST(pgtable, cache_refill_keys_its_block_with_tables_from_the_pool)
{
	uint64_t blocks = ptcache_nr_blocks(), taken, *t = pa_to_va(pt_kernel_root());
	phys_addr_t head = pg_take_until_new_block(&taken), block;
	int level = pt_root_level();

	ktest_note("%llu cache pages taken to need block %llu", (unsigned long long)taken,
		   (unsigned long long)blocks + 1);
	KEXPECT_EQ(ptcache_nr_blocks(), blocks + 1);
	block = ptcache_block(blocks);
	KEXPECT_TRUE(block != 0 && ptcache_contains(head));
	for (; block && level >= 0; level--) {
		uint64_t e = t[pt_index(PAGE_OFFSET + block, level)];

		if (level <= PT_LEVEL_PUD)
			KEXPECT_TRUE(pool_contains(va_to_pa(t)));
		if (!pt_present(e) || pt_is_leaf(e, level))
			break;
		t = pa_to_va(pt_entry_pa(e, level));
	}
	KEXPECT_TRUE(level >= PT_LEVEL_PMD); /* one 2 MiB leaf (or larger) keys the block */
	if (pgprot_key())
		KEXPECT_EQ(pt_entry_pkey(t[pt_index(PAGE_OFFSET + block, level)]), pgprot_key());
	pg_give_back(taken);
	KEXPECT_EQ(ptcache_nr_blocks(), blocks); /* the wholly free block went back */
	mm_expect_counts_match_walk("after the cache refill");
}

/* vmap_map goes a table's worth at a time; a later run that fails (here -EEXIST: a
 * page already mapped in the second pte table) leaves nothing of the earlier runs
 * mapped. */
KTEST(pgtable, vmap_map_failing_in_a_later_run_undoes_the_earlier_runs)
{
	uint64_t r = vmap_reserve(4 * MiB, 2 * MiB), va = r + 2 * MiB - 2 * PAGE_SIZE;
	phys_addr_t pa = frame_alloc_run(4, PAGE_SIZE);
	int level;

	KASSERT_TRUE(r && pa);
	KEXPECT_EQ(pt_map_leaf(pt_kernel_root(), va + 3 * PAGE_SIZE, pa + 3 * PAGE_SIZE,
			       PT_LEVEL_PTE, PTE_NX),
		   0);
	KEXPECT_EQ(vmap_map(va, pa, 4 * PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), -EEXIST);
	KEXPECT_TRUE(pt_lookup(va, &level) == NULL);
	KEXPECT_TRUE(pt_lookup(va + PAGE_SIZE, &level) == NULL);
	KEXPECT_TRUE(pt_lookup(va + 2 * PAGE_SIZE, &level) == NULL);
	KEXPECT_TRUE(pt_lookup(va + 3 * PAGE_SIZE, &level) != NULL); /* not vmap_map's */
	vmap_unmap(r, 4 * MiB);
	KEXPECT_EQ(vmap_region_free(r), 0);
	KEXPECT_EQ(frame_free_run(pa, 4), 0);
}

/* vmap_unmap's run of leaves stops at the range's end: the leaves after it in the
 * same table stay mapped. */
KTEST(pgtable, vmap_unmap_of_part_of_a_run_leaves_the_rest_mapped)
{
	uint64_t r = vmap_reserve(2 * MiB, 2 * MiB);
	phys_addr_t pa = frame_alloc_run(4, PAGE_SIZE);
	int level;

	KASSERT_TRUE(r && pa);
	KEXPECT_EQ(vmap_map(r, pa, 4 * PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	vmap_unmap(r, 2 * PAGE_SIZE);
	KEXPECT_TRUE(pt_lookup(r + PAGE_SIZE, &level) == NULL);
	KEXPECT_TRUE(pt_lookup(r + 2 * PAGE_SIZE, &level) != NULL);
	KEXPECT_TRUE(pt_lookup(r + 3 * PAGE_SIZE, &level) != NULL);
	vmap_unmap(r, 2 * MiB);
	KEXPECT_EQ(vmap_region_free(r), 0);
	KEXPECT_EQ(frame_free_run(pa, 4), 0);
}
