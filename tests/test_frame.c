/* tests/test_frame.c - the physical frame allocator, tested live.
 *
 * kmain has initialised the allocator from the boot memory map, so every case works
 * on the real free lists and gives back everything it takes: the free and owned
 * counts are the same before and after each case. The "drain" cases take every free
 * frame (as runs, largest first) and check each one against the memory map.
 */
#include "kernel/ktest.h"
#include "mm/dmap.h"
#include "mm/frame.h"

#define FT_MAX_FRAMES 4096	   /* single frames a case takes */
#define FT_MAX_RUNS   4096	   /* runs a drain can record */
#define FT_DRAIN_RUN  (1ULL << 20) /* largest drain run: 4 GiB */
#define FT_2M_FRAMES  (2 * MiB / PAGE_SIZE)

extern char __kernel_start[], __kernel_end[];
extern char __boot_tables_start[], __boot_tables_end[];

struct ft_run {
	phys_addr_t pa;
	uint64_t count;
};

static phys_addr_t ft_frames[FT_MAX_FRAMES];
static struct ft_run ft_runs[FT_MAX_RUNS];
static int ft_nr_runs;

KTEST_SUITE(04, frame, NULL);

/* Physical address of a kernel-image symbol: the image start from a walk of the
 * live tables (so it holds wherever the loader put the image), plus the offset
 * (the retired boot tables at the end are no longer mapped). */
static phys_addr_t ft_image_pa(const char *sym)
{
	return va_to_pa(__kernel_start) + (phys_addr_t)(sym - __kernel_start);
}

/* Takes up to max single frames into ft_frames[]; returns how many it got. */
static int ft_take_frames(int max)
{
	int n;

	for (n = 0; n < max; n++) {
		ft_frames[n] = frame_alloc();
		if (ft_frames[n] == 0)
			break;
	}
	return n;
}

/* Gives back ft_frames[0..n). */
static void ft_give_frames(int n)
{
	for (int i = 0; i < n; i++)
		KEXPECT_EQ(frame_free(ft_frames[i]), 0);
}

/* Takes every free frame as runs into ft_runs[], largest first; returns the frames
 * taken. Stops early (frames stay free) only if ft_runs[] fills up. */
static uint64_t ft_drain(void)
{
	uint64_t taken = 0;

	ft_nr_runs = 0;
	for (uint64_t count = FT_DRAIN_RUN; count > 0; count /= 2) {
		while (ft_nr_runs < FT_MAX_RUNS) {
			phys_addr_t pa = frame_alloc_run(count, PAGE_SIZE);

			if (pa == 0)
				break;
			ft_runs[ft_nr_runs++] = (struct ft_run){ pa, count };
			taken += count;
		}
	}
	return taken;
}

/* Gives back every run ft_drain() took. */
static void ft_undrain(void)
{
	for (int i = 0; i < ft_nr_runs; i++)
		KEXPECT_EQ(frame_free_run(ft_runs[i].pa, ft_runs[i].count), 0);
	ft_nr_runs = 0;
}

/* True when [pa, end) overlaps [lo, hi). */
static bool ft_overlaps(phys_addr_t pa, phys_addr_t end, phys_addr_t lo, phys_addr_t hi)
{
	return lo < hi && pa < hi && lo < end; /* an empty [lo, hi) overlaps nothing */
}

/* True when the usable ranges of bi (sorted, maybe adjacent) cover all of [pa, end). */
static bool ft_usable(const struct boot_info *bi, phys_addr_t pa, phys_addr_t end)
{
	for (int i = 0; i < bi->nr_mem && pa < end; i++) {
		const struct mem_range *r = &bi->mem[i];

		if (r->type == MEM_USABLE && r->base <= pa && pa - r->base < r->len)
			pa = r->base + r->len;
	}
	return pa >= end;
}

/* First frame of [pa, end) the allocator owns, or end if it owns none. */
static phys_addr_t ft_first_owned(phys_addr_t pa, phys_addr_t end)
{
	for (pa = ALIGN_DOWN(pa, PAGE_SIZE); pa < end; pa += PAGE_SIZE)
		if (frame_owned(pa))
			return pa;
	return end;
}

/* Sorts a[0..n) ascending (Shell sort with the 3h+1 gaps). */
static void ft_sort(phys_addr_t *a, int n)
{
	int gap = 1;

	while (gap < n / 3)
		gap = 3 * gap + 1;
	for (; gap > 0; gap /= 3) {
		for (int i = gap; i < n; i++) {
			phys_addr_t v = a[i];
			int j;

			for (j = i; j >= gap && a[j - gap] > v; j -= gap)
				a[j] = a[j - gap];
			a[j] = v;
		}
	}
}

KTEST(frame, allocated_frames_are_unique)
{
	uint64_t free0 = frame_free_count();
	int n = ft_take_frames(FT_MAX_FRAMES), dups = 0;

	KEXPECT_GT(n, 0);
	ft_sort(ft_frames, n);
	for (int i = 1; i < n; i++)
		dups += ft_frames[i] == ft_frames[i - 1];
	KEXPECT_EQ(dups, 0);
	KEXPECT_EQ(frame_free_count(), free0 - (uint64_t)n);
	ft_give_frames(n);
	KEXPECT_EQ(frame_free_count(), free0);
}

KTEST(frame, alloc_returns_lowest_free_frame)
{
	phys_addr_t pa = frame_alloc(), below_free = 0;

	KASSERT_TRUE(pa != 0);
	for (phys_addr_t x = 1 * MiB; x < pa && below_free == 0; x += PAGE_SIZE)
		if (frame_range_free(x, PAGE_SIZE))
			below_free = x;
	KEXPECT_EQ(below_free, 0);
	KEXPECT_EQ(frame_free(pa), 0);
	KEXPECT_EQ(frame_alloc(), pa); /* the same frame comes back first */
	KEXPECT_EQ(frame_free(pa), 0);
}

KTEST(frame, drain_takes_every_free_frame)
{
	uint64_t free0 = frame_free_count(), taken = ft_drain();
	uint64_t left = frame_free_count();

	ktest_note("drained %llu frames in %d runs", (unsigned long long)taken, ft_nr_runs);
	KEXPECT_EQ(taken, free0 - left);
	if (ft_nr_runs < FT_MAX_RUNS)
		KEXPECT_EQ(left, 0);
	else
		ktest_note("run table full: %llu frames not drained", (unsigned long long)left);
	ft_undrain();
	KEXPECT_EQ(frame_free_count(), free0);
}

KTEST(frame, no_frame_lies_below_1mib)
{
	int bad = 0;

	ft_drain();
	for (int i = 0; i < ft_nr_runs; i++)
		bad += ft_runs[i].pa < 1 * MiB;
	ft_undrain();
	KEXPECT_EQ(bad, 0);
}

KTEST(frame, no_frame_lies_in_kernel_image)
{
	phys_addr_t kstart = ft_image_pa(__kernel_start), kend = ft_image_pa(__kernel_end);
	phys_addr_t tstart = ft_image_pa(__boot_tables_start);
	phys_addr_t tend = ft_image_pa(__boot_tables_end);
	int bad = 0;

	/* The early boot tables may have been given back: all else is off limits. */
	ft_drain();
	for (int i = 0; i < ft_nr_runs; i++) {
		phys_addr_t pa = ft_runs[i].pa, end = pa + ft_runs[i].count * PAGE_SIZE;

		bad += ft_overlaps(pa, end, kstart, tstart) || ft_overlaps(pa, end, tend, kend);
	}
	ft_undrain();
	KEXPECT_EQ(bad, 0);
}

KTEST(frame, no_frame_lies_outside_usable_ram)
{
	const struct boot_info *bi = frame_boot_info();
	phys_addr_t first_bad = 0;

	KASSERT_TRUE(bi != NULL);
	ft_drain();
	for (int i = 0; i < ft_nr_runs && first_bad == 0; i++) {
		phys_addr_t pa = ft_runs[i].pa, end = pa + ft_runs[i].count * PAGE_SIZE;

		if (!ft_usable(bi, pa, end))
			first_bad = pa;
	}
	ft_undrain();
	KEXPECT_EQ(first_bad, 0);
}

KTEST(frame, kernel_image_is_not_owned)
{
	phys_addr_t kstart = ft_image_pa(__kernel_start);
	phys_addr_t tstart = ft_image_pa(__boot_tables_start);

	KASSERT_TRUE(kstart < tstart);
	KEXPECT_EQ(ft_first_owned(kstart, tstart), tstart);
}

KTEST(frame, mbi_is_not_owned)
{
	const struct boot_info *bi = frame_boot_info();

	KASSERT_TRUE(bi != NULL);
	KASSERT_TRUE(bi->mbi_size != 0);
	KEXPECT_EQ(ft_first_owned(bi->mbi_pa, bi->mbi_pa + bi->mbi_size),
		   bi->mbi_pa + bi->mbi_size);
}

KTEST(frame, run_2m_is_aligned_and_handed_out)
{
	uint64_t free0 = frame_free_count();
	phys_addr_t pa = frame_alloc_run(FT_2M_FRAMES, 2 * MiB), still_free = 0;

	KASSERT_TRUE(pa != 0);
	KEXPECT_TRUE(IS_ALIGNED(pa, 2 * MiB));
	KEXPECT_EQ(frame_free_count(), free0 - FT_2M_FRAMES);
	for (uint64_t i = 0; i < FT_2M_FRAMES && still_free == 0; i++)
		if (frame_range_free(pa + i * PAGE_SIZE, PAGE_SIZE))
			still_free = pa + i * PAGE_SIZE;
	KEXPECT_EQ(still_free, 0);
	KEXPECT_EQ(frame_free_run(pa, FT_2M_FRAMES), 0);
	KEXPECT_TRUE(frame_range_free(pa, 2 * MiB));
	KEXPECT_EQ(frame_free_count(), free0);
}

KTEST(frame, double_free_is_eexist_and_changes_nothing)
{
	phys_addr_t pa = frame_alloc();
	uint64_t free1;

	KASSERT_TRUE(pa != 0);
	KASSERT_EQ(frame_free(pa), 0);
	free1 = frame_free_count();
	KEXPECT_EQ(frame_free(pa), -EEXIST);
	KEXPECT_EQ(frame_free_count(), free1);
	KEXPECT_TRUE(frame_range_free(pa, PAGE_SIZE));
	KEXPECT_EQ(frame_check(), 0);
}

KTEST(frame, partly_free_run_is_eexist_and_frees_nothing)
{
	phys_addr_t pa = frame_alloc_run(2, PAGE_SIZE);
	uint64_t free1;

	KASSERT_TRUE(pa != 0);
	KASSERT_EQ(frame_free(pa + PAGE_SIZE), 0);
	free1 = frame_free_count();
	KEXPECT_EQ(frame_free_run(pa, 2), -EEXIST);
	KEXPECT_EQ(frame_free_count(), free1);
	KEXPECT_FALSE(frame_range_free(pa, PAGE_SIZE)); /* still handed out */
	KEXPECT_EQ(frame_free(pa), 0);
}

KTEST(frame, free_of_never_owned_frame_is_einval)
{
	const struct boot_info *bi = frame_boot_info();
	phys_addr_t never[4] = { 0x1000, ft_image_pa(__kernel_start), 0, 0 };
	uint64_t free0 = frame_free_count(), owned0 = frame_owned_count();

	KASSERT_TRUE(bi != NULL);
	never[2] = ALIGN_DOWN(bi->mbi_pa, PAGE_SIZE);
	for (int i = 0; i < bi->nr_mem && never[3] == 0; i++) /* a reserved range */
		if (bi->mem[i].type != MEM_USABLE && bi->mem[i].base >= 1 * MiB)
			never[3] = ALIGN_DOWN(bi->mem[i].base, PAGE_SIZE);
	for (size_t i = 0; i < ARRAY_SIZE(never); i++) {
		if (never[i] == 0)
			continue; /* no reserved range above 1 MiB in this map */
		KEXPECT_EQ(frame_free(never[i]), -EINVAL);
		KEXPECT_FALSE(frame_owned(never[i]));
	}
	KEXPECT_EQ(frame_free_count(), free0);
	KEXPECT_EQ(frame_owned_count(), owned0);
}

KTEST(frame, free_of_misaligned_address_is_einval)
{
	phys_addr_t pa = frame_alloc();
	uint64_t free1 = frame_free_count();

	KASSERT_TRUE(pa != 0);
	KEXPECT_EQ(frame_free(pa + PAGE_SIZE / 2), -EINVAL);
	KEXPECT_EQ(frame_free(pa + 8), -EINVAL);
	KEXPECT_EQ(frame_free_count(), free1);
	KEXPECT_FALSE(frame_range_free(pa, PAGE_SIZE));
	KEXPECT_EQ(frame_free(pa), 0);
}

KTEST(frame, remove_range_in_use_is_ebusy)
{
	phys_addr_t pa = frame_alloc_run(FT_2M_FRAMES, 2 * MiB);
	uint64_t owned0 = frame_owned_count();

	KASSERT_TRUE(pa != 0);
	KEXPECT_EQ(frame_remove_range(pa, 2 * MiB), -EBUSY);
	/* All but the last frame free: still busy. */
	KEXPECT_EQ(frame_free_run(pa, FT_2M_FRAMES - 1), 0);
	KEXPECT_EQ(frame_remove_range(pa, 2 * MiB), -EBUSY);
	KEXPECT_EQ(frame_owned_count(), owned0);
	KEXPECT_TRUE(frame_range_owned(pa, 2 * MiB));
	KEXPECT_EQ(frame_free(pa + 2 * MiB - PAGE_SIZE), 0);
}

KTEST(frame, removed_range_is_not_owned)
{
	phys_addr_t pa = frame_alloc_run(FT_2M_FRAMES, 2 * MiB);
	uint64_t owned0 = frame_owned_count(), free0;

	KASSERT_TRUE(pa != 0);
	KASSERT_EQ(frame_free_run(pa, FT_2M_FRAMES), 0);
	free0 = frame_free_count();
	KASSERT_EQ(frame_remove_range(pa, 2 * MiB), 0);
	KEXPECT_EQ(ft_first_owned(pa, pa + 2 * MiB), pa + 2 * MiB);
	KEXPECT_EQ(frame_owned_count(), owned0 - FT_2M_FRAMES);
	KEXPECT_EQ(frame_free_count(), free0 - FT_2M_FRAMES);
	KEXPECT_EQ(frame_free(pa), -EINVAL);
	KEXPECT_FALSE(frame_range_free(pa, PAGE_SIZE));
	KEXPECT_EQ(frame_add_range(pa, 2 * MiB), 0);
}

KTEST(frame, add_range_restores_removed_range)
{
	phys_addr_t pa = frame_alloc_run(FT_2M_FRAMES, 2 * MiB);
	uint64_t owned0 = frame_owned_count(), free0;

	KASSERT_TRUE(pa != 0);
	KASSERT_EQ(frame_free_run(pa, FT_2M_FRAMES), 0);
	free0 = frame_free_count();
	KASSERT_EQ(frame_remove_range(pa, 2 * MiB), 0);
	KEXPECT_EQ(frame_add_range(pa, 2 * MiB), 0);
	KEXPECT_EQ(frame_owned_count(), owned0);
	KEXPECT_EQ(frame_free_count(), free0);
	KEXPECT_TRUE(frame_range_free(pa, 2 * MiB));
	KEXPECT_EQ(frame_check(), 0);
}

KTEST(frame, add_range_overlapping_owned_is_eexist)
{
	phys_addr_t pa = frame_alloc_run(FT_2M_FRAMES, 2 * MiB);
	uint64_t owned1;

	KASSERT_TRUE(pa != 0);
	KASSERT_EQ(frame_free_run(pa, FT_2M_FRAMES), 0);
	KASSERT_EQ(frame_remove_range(pa + 1 * MiB, 1 * MiB), 0); /* upper half */
	owned1 = frame_owned_count();
	KEXPECT_EQ(frame_add_range(pa, 2 * MiB), -EEXIST);
	KEXPECT_EQ(frame_owned_count(), owned1);
	KEXPECT_FALSE(frame_owned(pa + 1 * MiB));
	KEXPECT_EQ(frame_add_range(pa + 1 * MiB, 1 * MiB), 0);
	KEXPECT_TRUE(frame_range_free(pa, 2 * MiB));
}

/* Takes a random run into runs[*n] (if there is room); false if the allocator is dry. */
static bool ft_random_alloc(struct ft_run *runs, int *n, uint64_t *rng)
{
	uint64_t count = 1 + ktest_rand(rng) % 16;
	uint64_t align = PAGE_SIZE << (ktest_rand(rng) % 5);
	phys_addr_t pa = frame_alloc_run(count, align);

	if (pa == 0)
		return false;
	KEXPECT_TRUE(IS_ALIGNED(pa, align));
	KEXPECT_FALSE(frame_range_free(pa, count * PAGE_SIZE));
	runs[(*n)++] = (struct ft_run){ pa, count };
	return true;
}

KTEST(frame, extents_stay_consistent_under_random_use)
{
	struct ft_run *runs = ft_runs; /* 256 live runs at most */
	uint64_t free0 = frame_free_count(), owned0 = frame_owned_count();
	uint64_t rng = ktest_seed() | 1;
	int n = 0;

	ktest_note("seed 0x%llx", (unsigned long long)ktest_seed());
	for (int op = 0; op < 4000 && !ktest_failed(); op++) {
		if (n < 256 && ktest_rand(&rng) % 2 == 0) {
			ft_random_alloc(runs, &n, &rng);
		} else if (n > 0) {
			int i = (int)(ktest_rand(&rng) % (uint64_t)n);

			KEXPECT_EQ(frame_free_run(runs[i].pa, runs[i].count), 0);
			KEXPECT_TRUE(frame_range_free(runs[i].pa, runs[i].count * PAGE_SIZE));
			runs[i] = runs[--n];
		}
		KEXPECT_EQ(frame_check(), 0);
		KEXPECT_EQ(frame_owned_count(), owned0);
	}
	while (n > 0) {
		n--;
		KEXPECT_EQ(frame_free_run(runs[n].pa, runs[n].count), 0);
	}
	KEXPECT_EQ(frame_free_count(), free0);
}
