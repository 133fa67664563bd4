/* tests/host/test_pool.c - the split pool's size arithmetic (mm/pool.c) against
 * figures worked out by hand and against an independent model. */
#include "mm/pool.h"
#include "tests/host/harness.h"

#include <stdlib.h>

#define GiB_ (1ULL << 30)
#define TiB_ (1ULL << 40)

/* The model: a range touches regions first..last of 2^shift bytes; the tables are
 * the size of the union of those index intervals, summed over the three levels.
 * Ranges must be sorted; empty ones touch nothing. */
static uint64_t model_tables(const struct pa_range *r, int n)
{
	uint64_t total = 0;

	for (unsigned int shift = 21; shift <= 39; shift += 9) {
		uint64_t lo = 0, hi = 0; /* the open interval [lo, hi] being merged */
		bool open = false;

		for (int i = 0; i < n; i++) {
			uint64_t first, last;

			if (!r[i].len)
				continue;
			first = r[i].base >> shift;
			last = (r[i].base + (r[i].len - 1)) >> shift;
			if (open && first <= hi) {
				hi = last > hi ? last : hi;
				continue;
			}
			if (open)
				total += hi - lo + 1;
			lo = first;
			hi = last;
			open = true;
		}
		if (open)
			total += hi - lo + 1;
	}
	return total;
}

/* One range [0, size): 512 GiB / 1 GiB / 2 MiB regions, worked out by hand. */
static const struct {
	uint64_t size, tables;
} one_range[] = {
	{ 1 * GiB_, 512 + 1 + 1 },		  /* 514 */
	{ 1 * TiB_, 524288 + 1024 + 2 },	  /* 525314 */
	{ 4 * TiB_, 2097152 + 4096 + 8 },	  /* 2101256 */
	{ 64 * TiB_, 33554432ULL + 65536 + 128 }, /* 33620096 */
};

HTEST(pool, tables_for_1g_1t_4t_64t_of_ram)
{
	for (size_t i = 0; i < sizeof(one_range) / sizeof(one_range[0]); i++) {
		struct pa_range r = { 0, one_range[i].size };

		EXPECT_EQ(pool_tables_needed(&r, 1), one_range[i].tables);
		EXPECT_EQ(model_tables(&r, 1), one_range[i].tables);
	}
}

HTEST(pool, chunks_for_1g_1t_4t_64t_of_ram_in_64_bits)
{
	/* ceil((tables + 2) / 512); at 64 TiB: 65665 chunks = 128.25 GiB + 2 MiB,
	 * far beyond what a 32-bit byte count can hold. */
	static const uint64_t chunks[] = { 2, 1027, 4105, 65665 };

	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		struct pa_range r = { 0, one_range[i].size };
		uint64_t c = pool_chunks_needed(pool_tables_needed(&r, 1));

		EXPECT_EQ(c, chunks[i]);
	}
	EXPECT_EQ(65665ULL * POOL_CHUNK_SIZE, 0x2010200000ULL);
}

HTEST(pool, chunks_round_up_with_the_bootstrap_frames)
{
	EXPECT_EQ(pool_chunks_needed(0), 1);
	EXPECT_EQ(pool_chunks_needed(510), 1);
	EXPECT_EQ(pool_chunks_needed(511), 2);
	EXPECT_EQ(pool_chunks_needed(1022), 2);
	EXPECT_EQ(pool_chunks_needed(1023), 3);
}

HTEST(pool, tables_for_the_readme_64_gib_q35_map)
{
	static const struct pa_range r[] = { { 0, 639 << 10 },
					     { 1 << 20, 2 * GiB_ - (132 << 10) - (1 << 20) },
					     { 4 * GiB_, 62 * GiB_ } };

	EXPECT_EQ(pool_tables_needed(r, 3), 32768 + 64 + 1);
	EXPECT_EQ(pool_chunks_needed(32768 + 64 + 1), 65);
}

HTEST(pool, counts_a_region_shared_by_two_ranges_once)
{
	static const struct pa_range r[] = { { 0x1000, 0x1000 },
					     { 0x3000, 0x1000 },
					     { 0x1ff000, 0x2000 } };

	/* 2 MiB regions 0 and 1, one 1 GiB region, one 512 GiB region. */
	EXPECT_EQ(pool_tables_needed(r, 3), 2 + 1 + 1);
}

HTEST(pool, ignores_empty_ranges)
{
	static const struct pa_range r[] = { { 0, 0 }, { 0x40000000, 0 }, { 0x200000, 0x1000 } };

	EXPECT_EQ(pool_tables_needed(r, 3), 3);
	EXPECT_EQ(pool_tables_needed(r, 2), 0);
	EXPECT_EQ(pool_tables_needed(r, 0), 0);
}

HTEST(pool, handles_ram_ending_at_the_top_of_the_64_bit_space)
{
	static const struct pa_range r[] = { { ~0ULL - (4ULL << 20) + 1, 4ULL << 20 } };

	EXPECT_EQ(pool_tables_needed(r, 1), 2 + 1 + 1);
}

/* xorshift64: deterministic pseudo-random numbers. */
static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

HTEST(pool, agrees_with_the_model_on_2000_random_maps)
{
	struct pa_range r[64];
	uint64_t seed = 0x5eed;

	for (int iter = 0; iter < 2000; iter++) {
		int n = (int)(next(&seed) % 64);
		uint64_t pos = next(&seed) % (2 * TiB_);

		for (int i = 0; i < n; i++) { /* sorted, non-overlapping, mixed scales */
			unsigned int scale = (unsigned int)(next(&seed) % 4) * 9 + 12;
			uint64_t gap = next(&seed) % (8ULL << scale);
			uint64_t len = next(&seed) % (4ULL << scale);

			r[i] = (struct pa_range){ pos + gap, len };
			pos += gap + len;
		}
		if (pool_tables_needed(r, n) != model_tables(r, n)) {
			htest_fail(__FILE__, __LINE__,
				   "map %d (%d ranges): %llu tables, model %llu", iter, n,
				   (unsigned long long)pool_tables_needed(r, n),
				   (unsigned long long)model_tables(r, n));
			return;
		}
	}
}
