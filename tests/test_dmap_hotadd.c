/* tests/test_dmap_hotadd.c - the dmap suite's simulated hot-add and hot-remove: RAM
 * that mem= held back is added (mapped, the pool grown) and removed again, and the
 * removals that must be refused change nothing. The rest of the suite is in
 * tests/test_dmap.c; these cases sort after its cases and run last.
 */
#include "kernel/smp_ipi.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/pgprot.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "tests/test_dmap.h"

#define DM_HOTADD_MAX (4 * GiB) /* the most a hot-add case adds */

static const char dm_no_held[] = "no RAM held back (boot with mem=)";

/* The 2 MiB-aligned part (at most DM_HOTADD_MAX) of the first held-back range that
 * has at least 4 MiB of one; false when none has. */
static bool dm_held_part(phys_addr_t *pa, uint64_t *len)
{
	const struct pa_range *h;
	int n = dmap_held_ranges(&h);

	for (int i = 0; i < n; i++) {
		phys_addr_t lo = ALIGN_UP(h[i].base, 2 * MiB);
		phys_addr_t hi = ALIGN_DOWN(h[i].base + h[i].len, 2 * MiB);

		if (hi > lo && hi - lo >= 4 * MiB) {
			*pa = lo;
			*len = MIN(hi - lo, DM_HOTADD_MAX);
			return true;
		}
	}
	return false;
}

static uint64_t dm_tables_needed(void)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r);

	return pool_tables_needed(r, n);
}

/* Checks every 2 MiB of an added range: a pool chunk (2 MiB leaf with the table key,
 * not the frame allocator's), or free frames of the allocator. Returns the chunks. */
static uint64_t dm_check_added(phys_addr_t pa, uint64_t len)
{
	uint64_t chunks = 0, bad = 0;

	for (phys_addr_t p = pa, c; p < pa + len; p += 2 * MiB) {
		int level;
		uint64_t *e = pt_lookup(PAGE_OFFSET + p, &level);

		if (pool_overlaps(p, PAGE_SIZE, &c) && c == p) {
			chunks++;
			bad += frame_owned(p) || !e || level != PT_LEVEL_PMD ||
			       pt_entry_pkey(*e) != pgprot_key();
		} else {
			bad += !frame_range_free(p, 2 * MiB) || !e || level < PT_LEVEL_PMD;
		}
	}
	KEXPECT_EQ(bad, 0);
	return chunks;
}

/* The first 2 MiB of an added range that is not a pool chunk (its frames went to
 * the frame allocator), or 0: where the chunks sit is the pool's choice. */
static phys_addr_t dm_first_non_chunk(phys_addr_t pa, uint64_t len)
{
	for (phys_addr_t p = pa; p < pa + len; p += 2 * MiB)
		if (!pool_overlaps(p, 2 * MiB, NULL))
			return p;
	return 0;
}

/* Write windows this CPU has opened (mm/pt_door.h). */
static uint64_t dm_windows(void)
{
	struct pt_door_counts c;

	pt_door_counts(&c);
	return c.windows;
}

/* Expects one call since dm_windows() gave w0 to have opened one write window (none
 * without protection; the every-change checker's own windows are not counted). */
static void dm_expect_one_window(uint64_t w0, const char *what)
{
	uint64_t n = dm_windows() - w0;

	ktest_note("%s: %llu write window(s)", what, (unsigned long long)n);
	if (!checker_every_change())
		KEXPECT_EQ(n, pgprot_enforced() ? 1 : 0);
}

KTEST(dmap, hotadd_maps_held_range_and_grows_pool)
{
	uint64_t len, need0 = dm_tables_needed(), total0 = pool_total(), ram0 = dmap_ram_bytes();
	uint64_t chunks0 = pool_nr_chunks(), want, w0, r0;
	phys_addr_t pa, free_pa;

	if (!dm_held_part(&pa, &len))
		KTEST_SKIP(dm_no_held);
	w0 = dm_windows();
	KASSERT_EQ(dmap_hotadd(pa, len), 0);
	dm_expect_one_window(w0, "dmap_hotadd");
	want = (dm_tables_needed() - need0 + POOL_CHUNK_FRAMES - 1) / POOL_CHUNK_FRAMES;
	ktest_note("added [0x%llx, 0x%llx): pool needs %llu more tables, grew by %llu chunks",
		   (unsigned long long)pa, (unsigned long long)(pa + len),
		   (unsigned long long)(dm_tables_needed() - need0),
		   (unsigned long long)(pool_nr_chunks() - chunks0));
	KEXPECT_EQ(pool_total(), total0 + want * POOL_CHUNK_FRAMES);
	KEXPECT_EQ(dm_check_added(pa, len), want);
	KEXPECT_EQ(pool_nr_chunks(), chunks0 + want);
	KEXPECT_EQ(dmap_ram_bytes(), ram0 + len);
	/* Its first frame outside the new chunks, taken and written. */
	free_pa = dm_first_non_chunk(pa, len);
	KEXPECT_TRUE(free_pa != 0);
	if (free_pa) {
		KEXPECT_EQ(frame_remove_range(free_pa, PAGE_SIZE), 0);
		KEXPECT_TRUE(dm_frame_writes(free_pa));
		KEXPECT_EQ(frame_add_range(free_pa, PAGE_SIZE), 0);
	}
	w0 = dm_windows();
	r0 = smp_tlb_rounds_here();
	KEXPECT_EQ(dmap_hotremove(pa, len), 0);
	dm_expect_one_window(w0, "dmap_hotremove");
	/* One round for the unmap and every emptied table, freed after it. */
	KEXPECT_EQ(smp_tlb_rounds_here() - r0, 1);
}

/* Expects [pa, pa+len) unmapped: sampled pages have no leaf and a load faults. */
static void dm_expect_unmapped(phys_addr_t pa, uint64_t len)
{
	const phys_addr_t probe[] = { pa, pa + len / 2, pa + len - PAGE_SIZE };

	for (size_t i = 0; i < ARRAY_SIZE(probe); i++) {
		uint64_t va = PAGE_OFFSET + ALIGN_DOWN(probe[i], PAGE_SIZE);
		struct fault f;
		int level;

		KEXPECT_TRUE(pt_lookup(va, &level) == NULL);
		catch_read64((void *)va, &f);
		KEXPECT_PF(&f, 0, va);
	}
}

static bool dm_is_held(phys_addr_t pa, uint64_t len)
{
	const struct pa_range *h;
	int n = dmap_held_ranges(&h);

	for (int i = 0; i < n; i++)
		if (pa >= h[i].base && pa + len <= h[i].base + h[i].len)
			return true;
	return false;
}

KTEST(dmap, hotremove_unmaps_and_shrinks_pool)
{
	uint64_t len, total0 = pool_total(), ram0 = dmap_ram_bytes();
	uint64_t owned0 = frame_owned_count(), count0[PT_NR_LEVELS];
	struct dmap_stats s0, s1;
	phys_addr_t pa;

	if (!dm_held_part(&pa, &len))
		KTEST_SKIP(dm_no_held);
	for (int l = 0; l < PT_NR_LEVELS; l++)
		count0[l] = pt_count(l);
	dmap_stats(&s0);
	KASSERT_EQ(dmap_hotadd(pa, len), 0);
	KASSERT_EQ(dmap_hotremove(pa, len), 0);
	dm_expect_unmapped(pa, len);
	KEXPECT_EQ(pool_total(), total0);
	KEXPECT_EQ(dmap_ram_bytes(), ram0);
	KEXPECT_EQ(frame_owned_count(), owned0);
	KEXPECT_TRUE(dm_is_held(pa, len));
	dmap_stats(&s1);
	dm_expect_layout(&s1, &s0);
	for (int l = 0; l < PT_NR_LEVELS; l++)
		KEXPECT_EQ(pt_count(l), count0[l]);
}

KTEST(dmap, hotremove_of_range_in_use_is_ebusy_and_changes_nothing)
{
	uint64_t len, total;
	phys_addr_t pa, busy;

	if (!dm_held_part(&pa, &len))
		KTEST_SKIP(dm_no_held);
	KASSERT_EQ(dmap_hotadd(pa, len), 0);
	total = pool_total();
	busy = dm_first_non_chunk(pa, len);
	KASSERT_TRUE(busy != 0);
	KASSERT_EQ(frame_remove_range(busy, PAGE_SIZE), 0); /* now someone's frame */
	KEXPECT_EQ(dmap_hotremove(pa, len), -EBUSY);
	KEXPECT_EQ(pool_total(), total);
	KEXPECT_TRUE(dm_frame_writes(busy));
	KEXPECT_TRUE(dm_frame_reads(pa + len / 2));
	KEXPECT_EQ(frame_add_range(busy, PAGE_SIZE), 0);
	KEXPECT_EQ(dmap_hotremove(pa, len), 0);
}

/* Boot RAM is not hot-removable: the pool was sized for it, and its chunks sit at
 * the top of RAM, unused, where a removal would pass every other check. */
KTEST(dmap, hotremove_of_boot_ram_is_enoent_and_changes_nothing)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r), level;
	phys_addr_t top = ALIGN_DOWN(r[n - 1].base + r[n - 1].len, 2 * MiB) - 2 * MiB;
	uint64_t chunks = pool_nr_chunks();

	KASSERT_TRUE(top >= r[n - 1].base);
	KEXPECT_EQ(dmap_hotremove(top, 2 * MiB), -ENOENT);
	KEXPECT_TRUE(pt_lookup(PAGE_OFFSET + top, &level) != NULL);
	KEXPECT_EQ(pool_nr_chunks(), chunks);
	KEXPECT_EQ(dmap_ranges(&r), n);
}
