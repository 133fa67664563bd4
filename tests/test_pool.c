/* tests/test_pool.c - the split pool: its arithmetic on synthetic maps, its size on
 * this machine, its chunks, and set_memory living on it: split everything to 4 KiB
 * and merge it back, a seeded random walk against a shadow model, error paths.
 *
 * Pages whose attributes a case changes are frames it took from the frame allocator;
 * everything is restored and given back, and each case checks that the pool, the
 * leaf counts and the table counts are what they were before it.
 */
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "mm/dmap.h"
#include "mm/pgprot.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "tests/mm_check.h"

KTEST_SUITE(21, pool, NULL);

#define PL_WHOLE_RAM  (4 * GiB) /* more RAM: split everything over a sub-range */
#define PL_MAX_SPLITS 4096	/* 2 MiB regions split-everything may touch */
#define PL_MAX_RUNS   4096
#define PL_DRAIN_RUN  (1ULL << 20) /* largest drain run: 4 GiB */

/* ---- pool arithmetic on synthetic maps --------------------------------------- */

/* A memory map and its table count worked by hand: pte tables = 2 MiB regions
 * touched, pmd = 1 GiB regions, pud = 512 GiB regions; a region touched by two
 * ranges counts once. */
struct pl_map {
	struct pa_range r[5];
	int n;
	uint64_t pte, pmd, pud;
};

static const struct pl_map pl_maps[] = {
	/* ~1 TiB, a two-socket server: 636 KiB low RAM, [1 MiB, 2 GiB), PCI hole,
	 * [4 GiB, 512 GiB), hole, [513 GiB + 1 MiB, 1025 GiB + 5 MiB),
	 * [1025 GiB + 5.5 MiB, 1025 GiB + 8 MiB).
	 *   pte: {0} + {1..1023} + {2048..262143} + {262656..524802} + {524803}
	 *        = 1 + 1023 + 260096 + 262147 + 1 = 523268
	 *        (ranges 0/1 share region 0, ranges 3/4 share region 524802)
	 *   pmd: {0} + {1} + {4..511} + {513..1025} + {} = 1 + 1 + 508 + 513 = 1023
	 *   pud: {0} + {} + {} + {1, 2} + {} = 3 */
	{ { { 0, 0x9f000 },
	    { MiB, 2 * GiB - MiB },
	    { 4 * GiB, 508 * GiB },
	    { 513 * GiB + MiB, 512 * GiB + 4 * MiB },
	    { 1025 * GiB + 5 * MiB + 512 * KiB, 2 * MiB + 512 * KiB } },
	  5,
	  523268,
	  1023,
	  3 },
	/* ~12 TiB: [1 MiB, 2 GiB), PCI hole, [4 GiB, 6 TiB), 1 GiB hole,
	 * [6 TiB + 1 GiB, 12 TiB + 4 GiB + 4 KiB).
	 *   pte: {0..1023} + {2048..3145727} + {3146240..6293504}
	 *        = 1024 + 3143680 + 3147265 = 6291969 (> 12 TiB / 2 MiB = 6291456)
	 *   pmd: {0, 1} + {4..6143} + {6145..12292} = 2 + 6140 + 6148 = 12290
	 *   pud: {0} + {1..11} + {12..24} = 1 + 11 + 13 = 25
	 * 6304284 tables, 24 GiB of pool: its size in bytes does not fit 32 bits. */
	{ { { MiB, 2 * GiB - MiB },
	    { 4 * GiB, 6 * TiB - 4 * GiB },
	    { 6 * TiB + GiB, 6 * TiB + 3 * GiB + 4 * KiB } },
	  3,
	  6291969,
	  12290,
	  25 },
	/* Edges: [2 MiB, 4 MiB) and [4 MiB, 5 MiB) touch but share no region;
	 * [5 MiB + 4 KiB, 6 MiB + 4 KiB) shares region 2 with the one before;
	 * [1 GiB - 4 KiB, 1 GiB + 4 KiB) straddles a 1 GiB boundary.
	 *   pte: {1} + {2} + {3} + {511, 512} = 5; pmd: {0} + {1} = 2; pud: {0} = 1 */
	{ { { 2 * MiB, 2 * MiB },
	    { 4 * MiB, MiB },
	    { 5 * MiB + 4 * KiB, MiB },
	    { GiB - 4 * KiB, 8 * KiB } },
	  4,
	  5,
	  2,
	  1 },
	/* 2 GiB near the top of a 64 TiB physical space, [63 TiB, 63 TiB + 2 GiB):
	 *   pte: 1024; pmd: 2; pud: {126} = 1 */
	{ { { 63 * TiB, 2 * GiB } }, 1, 1024, 2, 1 },
};

static void pl_expect_map(int i)
{
	const struct pl_map *m = &pl_maps[i];
	uint64_t got = pool_tables_needed(m->r, m->n);

	ktest_note("%llu tables = %llu KiB of pool", (unsigned long long)got,
		   (unsigned long long)(got * PAGE_SIZE / KiB));
	KEXPECT_EQ(got, m->pte + m->pmd + m->pud);
}

KTEST(pool, tables_needed_for_1tib_map_with_holes_match_hand_count)
{
	pl_expect_map(0);
}

KTEST(pool, tables_needed_for_12tib_map_with_holes_do_not_overflow)
{
	pl_expect_map(1);
	KEXPECT_GT(pool_tables_needed(pl_maps[1].r, pl_maps[1].n), 6291456);
	KEXPECT_GT(pool_tables_needed(pl_maps[1].r, pl_maps[1].n) * PAGE_SIZE, 4 * GiB);
}

KTEST(pool, touching_and_sharing_ranges_count_each_region_once)
{
	pl_expect_map(2);
}

KTEST(pool, range_near_64tib_counts_without_truncation)
{
	pl_expect_map(3);
}

/* ---- the pool of this machine ------------------------------------------------ */

KTEST(pool, pool_is_worst_case_need_rounded_up_to_chunks)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r);
	uint64_t need = pool_tables_needed(r, n) + POOL_BOOTSTRAP_FRAMES;

	ktest_note("need %llu frames, pool holds %llu", (unsigned long long)need,
		   (unsigned long long)pool_total());
	KEXPECT_GE(pool_total(), need);
	KEXPECT_LT(pool_total(), need + POOL_CHUNK_FRAMES);
	KEXPECT_EQ(pool_total(), pool_nr_chunks() * POOL_CHUNK_FRAMES);
}

KTEST(pool, pool_size_is_near_the_0_2_percent_floor)
{
	uint64_t bytes = pool_total() * PAGE_SIZE, ram = dmap_ram_bytes();

	ktest_note("pool %llu KiB = %llu.%03llu %% of %llu MiB RAM",
		   (unsigned long long)(bytes / KiB), (unsigned long long)(bytes * 100 / ram),
		   (unsigned long long)(bytes * 100000 / ram % 1000),
		   (unsigned long long)(ram / MiB));
	/* A pte table per 2 MiB is 0.195 %; under 4 GiB one chunk is most of it. */
	KEXPECT_GE(bytes * 1000, ram * 19 / 10);
	if (ram >= 4 * GiB)
		KEXPECT_LE(bytes * 1000, ram * 4);
	else
		KEXPECT_LE(bytes * 1000, MAX(ram * 4, POOL_CHUNK_SIZE * 1000));
}

/* Why the chunk at c is not what it should be, or NULL. */
static const char *pl_chunk_problem(phys_addr_t c)
{
	int level;
	uint64_t *e = pt_lookup(PAGE_OFFSET + c, &level);

	if (!IS_ALIGNED(c, POOL_CHUNK_SIZE))
		return "not 2 MiB aligned";
	if (!e || level != PT_LEVEL_PMD || pt_entry_pa(*e, level) != c)
		return "not mapped by its own 2 MiB leaf";
	if (pt_entry_pkey(*e) != pgprot_key())
		return "leaf without the page-table key";
	if (!(*e & PTE_NX))
		return "leaf executable";
	if (frame_range_free(c, PAGE_SIZE) || frame_range_free(c + 2 * MiB - PAGE_SIZE, PAGE_SIZE))
		return "frames free in the frame allocator";
	if (!pool_contains(c + 2 * MiB - PAGE_SIZE))
		return "last frame not in the pool";
	return NULL;
}

KTEST(pool, chunks_are_2mib_aligned_leaves_with_the_table_key)
{
	KASSERT_TRUE(pool_nr_chunks() > 0);
	ktest_note("%llu chunks, table key %d", (unsigned long long)pool_nr_chunks(), pgprot_key());
	for (uint64_t i = 0; i < pool_nr_chunks(); i++) {
		const char *why = pl_chunk_problem(pool_chunk(i));

		if (why)
			ktest_fail(__FILE__, __LINE__, "chunk 0x%llx: %s",
				   (unsigned long long)pool_chunk(i), why);
	}
}

/* ---- split everything ------------------------------------------------------------ */

struct pl_run {
	phys_addr_t pa;
	uint64_t count;
};

static struct pl_run pl_runs[PL_MAX_RUNS];
static int pl_nr_runs;
static phys_addr_t pl_split_pages[PL_MAX_SPLITS];

/* Takes every free frame as runs, largest first; gives them back. */
static void pl_drain(void)
{
	pl_nr_runs = 0;
	for (uint64_t count = PL_DRAIN_RUN; count > 0; count /= 2) {
		while (pl_nr_runs < PL_MAX_RUNS) {
			phys_addr_t pa = frame_alloc_run(count, PAGE_SIZE);

			if (!pa)
				break;
			pl_runs[pl_nr_runs++] = (struct pl_run){ pa, count };
		}
	}
}

static void pl_undrain(void)
{
	for (; pl_nr_runs > 0; pl_nr_runs--)
		KEXPECT_EQ(
			frame_free_run(pl_runs[pl_nr_runs - 1].pa, pl_runs[pl_nr_runs - 1].count),
			0);
}

/* A drained page inside [pa, pa + 2 MiB), or 0. */
static phys_addr_t pl_drained_page_in(phys_addr_t pa)
{
	for (int i = 0; i < pl_nr_runs; i++) {
		phys_addr_t lo = MAX(pl_runs[i].pa, pa);

		if (lo < pl_runs[i].pa + pl_runs[i].count * PAGE_SIZE && lo < pa + 2 * MiB)
			return lo;
	}
	return 0;
}

/* True when the 2 MiB region at pa is a pool chunk or a table-cache block. */
static bool pl_table_region(phys_addr_t pa)
{
	for (uint64_t i = 0; i < ptcache_nr_blocks(); i++)
		if (ptcache_block(i) == pa)
			return true;
	return pool_overlaps(pa, 2 * MiB, NULL);
}

/* Where split-everything works: all RAM up to PL_WHOLE_RAM, else the first GiB
 * mapped by a 1 GiB leaf (or the first 2 MiB leaf) and the 8 MiB above it. */
static void pl_window(phys_addr_t *lo, phys_addr_t *hi)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r), want = dmap_has_1g() ? PT_LEVEL_PUD : PT_LEVEL_PMD, level;

	*lo = 0;
	*hi = r[n - 1].base + r[n - 1].len;
	if (dmap_ram_bytes() <= PL_WHOLE_RAM)
		return;
	for (phys_addr_t pa = 0; pa < *hi; pa += pt_size(want)) {
		if (pt_lookup(PAGE_OFFSET + pa, &level) && level == want) {
			*lo = pa;
			*hi = pa + GiB + 8 * MiB;
			return;
		}
	}
}

/* Picks one drained page in every 2 MiB region of [lo, hi) under a large leaf that
 * is not a table region; returns how many, and in *tables the pool frames splitting
 * them all takes: one pte table per region, one pmd table per 1 GiB leaf. */
static int pl_plan_split(phys_addr_t lo, phys_addr_t hi, uint64_t *tables, int *stuck)
{
	phys_addr_t last_gib = ~0ULL;
	int n = 0, level;

	*tables = 0;
	*stuck = 0;
	for (phys_addr_t pa = lo; pa < hi && n < PL_MAX_SPLITS; pa += 2 * MiB) {
		if (!pt_lookup(PAGE_OFFSET + pa, &level) || level == PT_LEVEL_PTE ||
		    pl_table_region(pa))
			continue;
		if (!(pl_split_pages[n] = pl_drained_page_in(pa))) {
			(*stuck)++; /* every frame of the region is someone's */
			continue;
		}
		n++;
		*tables += 1 + (level == PT_LEVEL_PUD && ALIGN_DOWN(pa, GiB) != last_gib);
		if (level == PT_LEVEL_PUD)
			last_gib = ALIGN_DOWN(pa, GiB);
	}
	return n;
}

/* Counts 2 MiB regions of [lo, hi) still under a large leaf that is not a table region. */
static uint64_t pl_count_large(phys_addr_t lo, phys_addr_t hi)
{
	uint64_t large = 0;
	int level;

	for (phys_addr_t pa = lo; pa < hi; pa += 2 * MiB)
		large += pt_lookup(PAGE_OFFSET + pa, &level) && level > PT_LEVEL_PTE &&
			 !pl_table_region(pa);
	return large;
}

/* Makes the planned pages read-only, or writable again; returns the refusals. */
static uint64_t pl_set_split_pages(int n, bool ro)
{
	uint64_t refused = 0;

	for (int i = 0; i < n; i++) {
		uint64_t va = PAGE_OFFSET + pl_split_pages[i];

		refused += (ro ? set_memory_ro(va, 1) : set_memory_rw(va, 1)) != 0;
	}
	return refused;
}

KTEST(pool, split_everything_to_4k_then_merge_back)
{
	uint64_t tables, free0 = pool_free_count();
	struct mm_snap was;
	phys_addr_t lo, hi;
	int n, stuck;

	pl_window(&lo, &hi);
	if (dmap_ram_bytes() > PL_WHOLE_RAM)
		ktest_note("more than 4 GiB of RAM: splitting the sub-range [0x%llx, 0x%llx)",
			   (unsigned long long)lo, (unsigned long long)hi);
	mm_snap(&was);
	pl_drain();
	n = pl_plan_split(lo, hi, &tables, &stuck);
	KEXPECT_EQ(pl_set_split_pages(n, true), 0);
	KEXPECT_EQ(stuck, 0);
	KEXPECT_EQ(pl_count_large(lo, hi), 0);
	ktest_note("split %d large leaves' regions to 4 KiB: pool used %llu frames "
		   "(expected %llu), %llu of %llu left",
		   n, (unsigned long long)(free0 - pool_free_count()), (unsigned long long)tables,
		   (unsigned long long)pool_free_count(), (unsigned long long)pool_total());
	KEXPECT_EQ(free0 - pool_free_count(), tables);
	KEXPECT_EQ(pl_set_split_pages(n, false), 0);
	pl_undrain();
	mm_expect_snap(&was);
}
