/* tests/host/test_frame.c - frame_check() (mm/frame.c) finds every broken invariant
 * of the extent sets. The allocator's sets are private, so this file compiles
 * mm/frame.c into itself and breaks them by hand; the kernel never can. */
#include "mm/frame.c"
#include "tests/host/harness.h"

#define MiB_ (1ULL << 20)

/* Three usable ranges: [1, 8) MiB, [16, 32) MiB and [64, 65) MiB, all free. */
static void ft_init(void)
{
	static struct boot_info bi;

	bi.nr_mem = 3;
	bi.mem[0] = (struct mem_range){ 1 * MiB_, 7 * MiB_, MEM_USABLE };
	bi.mem[1] = (struct mem_range){ 16 * MiB_, 16 * MiB_, MEM_USABLE };
	bi.mem[2] = (struct mem_range){ 64 * MiB_, 1 * MiB_, MEM_USABLE };
	if (frame_init(&bi, ~0ULL) != 0 || owned_set.nr != 3 || free_set.nr != 3)
		htest_fail(__FILE__, __LINE__, "frame_init of three ranges failed");
}

HTEST(frame, check_passes_a_consistent_allocator)
{
	ft_init();
	EXPECT_EQ(frame_check(), 0);
	EXPECT_EQ(frame_remove_range(20 * MiB_, 1 * MiB_), 0);
	EXPECT_EQ(frame_check(), 0);
	EXPECT_EQ(free_set.nr, 4);
}

/* A free extent in a hole between owned ranges, one straddling a hole, one past the
 * last owned range and one before the first: each is reported once. */
HTEST(frame, check_finds_free_frames_that_are_not_owned)
{
	static const struct extent bad[] = {
		{ 10 * MiB_, 11 * MiB_ }, /* the hole between the first two ranges */
		{ 30 * MiB_, 40 * MiB_ }, /* from the second range into the hole after it */
		{ 70 * MiB_, 71 * MiB_ }, /* past the last range */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ft_init();
		/* Put it in the free set in order, and keep the counter true, so that
		 * only the subset rule is broken. */
		free_set.e[free_set.nr++] = bad[i];
		for (int k = free_set.nr - 1;
		     k > 0 && free_set.e[k - 1].start > free_set.e[k].start; k--) {
			struct extent t = free_set.e[k];

			free_set.e[k] = free_set.e[k - 1];
			free_set.e[k - 1] = t;
		}
		if (bad[i].start == 30 * MiB_)
			free_set.e[1].end = 29 * MiB_; /* no overlap with [16, 32) */
		nr_free_frames = 0;
		for (int k = 0; k < free_set.nr; k++)
			nr_free_frames += (free_set.e[k].end - free_set.e[k].start) >> PAGE_SHIFT;
		EXPECT_EQ(frame_check(), 1);
	}
	ft_init();
	owned_set.e[0].start = 2 * MiB_; /* [1, 2) MiB free but no longer owned */
	nr_owned_frames -= 256;
	EXPECT_EQ(frame_check(), 1);
}

HTEST(frame, check_finds_a_counter_and_a_malformed_extent)
{
	ft_init();
	nr_free_frames++;
	EXPECT_EQ(frame_check(), 1);
	ft_init();
	free_set.e[1].start = free_set.e[0].end; /* touching: should have been merged */
	nr_free_frames += (16 * MiB_ - 8 * MiB_) >> PAGE_SHIFT;
	owned_set.e[1].start = owned_set.e[0].end;
	nr_owned_frames += (16 * MiB_ - 8 * MiB_) >> PAGE_SHIFT;
	EXPECT_EQ(frame_check(), 2);
}
