/* tests/host/test_mb2.c - mb2_parse() on crafted MBIs: tags, maps, limits, errors. */
#include "kernel/multiboot2.h"
#include "tests/host/check.h"
#include "tests/host/harness.h"
#include "tests/host/mbi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define U MEM_USABLE
#define R MEM_RESERVED

static struct mbi m;
static struct boot_info bi;
static char err[160];

/* Parses m as built; checks the result's invariants on success. */
static int parse(void)
{
	int rc = mb2_parse(m.b, m.len, &bi, err, sizeof(err));
	const char *broken = rc ? check_err(err, sizeof(err)) : check_boot_info(&bi, m.b, m.len);

	if (broken)
		htest_fail(__FILE__, __LINE__, "mb2_parse result: %s", broken);
	return rc;
}

/* An MBI with just a memory map of n entries. */
static void only_map(const struct mbi_range *r, int n)
{
	mbi_init(&m);
	mbi_mmap(&m, 24, r, n);
	mbi_end(&m);
}

static void expect_range(int i, uint64_t base, uint64_t len, uint32_t type)
{
	EXPECT_TRUE(i < bi.nr_mem);
	EXPECT_EQ(bi.mem[i].base, base);
	EXPECT_EQ(bi.mem[i].len, len);
	EXPECT_EQ(bi.mem[i].type, type);
}

HTEST(mb2, parses_cmdline_loader_and_map)
{
	static const struct mbi_range r[] = { { 0, 0x9fc00, U }, { 0x100000, 0x7ff00000, U } };

	mbi_init(&m);
	mbi_tag(&m, 1, "ktest=pool mem=1G", 18);
	mbi_tag(&m, 2, "GRUB 2.06", 10);
	mbi_mmap(&m, 24, r, 2);
	mbi_end(&m);
	ASSERT_TRUE(parse() == 0);
	EXPECT_TRUE(strcmp(bi.cmdline, "ktest=pool mem=1G") == 0);
	EXPECT_TRUE(strcmp(bi.loader, "GRUB 2.06") == 0);
	EXPECT_EQ(bi.nr_mem, 2);
	expect_range(1, 0x100000, 0x7ff00000, U);
	EXPECT_EQ(bi.mbi_size, m.len);
	EXPECT_TRUE(!bi.uefi && !bi.mem_from_efi && bi.acpi_rev == 0);
}

HTEST(mb2, pads_tags_whose_size_is_not_a_multiple_of_8)
{
	static const struct mbi_range r[] = { { 0x100000, 0x100000, U } };

	mbi_init(&m);
	mbi_tag(&m, 1, "a", 2);	   /* size 10, next tag at 8 + 16 */
	mbi_tag(&m, 99, "xyz", 3); /* unknown type, skipped */
	mbi_mmap(&m, 24, r, 1);
	mbi_end(&m);
	ASSERT_TRUE(parse() == 0);
	EXPECT_TRUE(strcmp(bi.cmdline, "a") == 0);
	EXPECT_EQ(bi.nr_mem, 1);
}

HTEST(mb2, parses_a_copy_at_an_odd_address)
{
	static const struct mbi_range r[] = { { 0x100000, 0x200000, U }, { 0x300000, 0x1000, R } };
	uint8_t *odd;

	only_map(r, 2);
	odd = malloc(m.len + 1);
	memcpy(odd + 1, m.b, m.len);
	ASSERT_TRUE(mb2_parse(odd + 1, m.len, &bi, err, sizeof(err)) == 0);
	EXPECT_EQ(bi.nr_mem, 2);
	expect_range(1, 0x300000, 0x1000, R);
	free(odd);
}

HTEST(mb2, rejects_total_size_larger_than_the_copy)
{
	static const struct mbi_range r[] = { { 0, 0x1000, U } };

	only_map(r, 1);
	EXPECT_EQ(mb2_parse(m.b, m.len - 1, &bi, err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "larger than");
}

HTEST(mb2, rejects_total_size_below_16_and_short_copies)
{
	mbi_init(&m);
	mbi_put32(&m, 0, 8);
	EXPECT_EQ(mb2_parse(m.b, 64, &bi, err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "below the 0x10-byte minimum");
	EXPECT_EQ(mb2_parse(m.b, 7, &bi, err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "too few for the MBI header");
	EXPECT_EQ(mb2_parse(NULL, 64, &bi, err, sizeof(err)), -EINVAL);
}

HTEST(mb2, rejects_total_size_above_mb2_max_size)
{
	static const struct mbi_range r[] = { { 0, 0x1000, U } };
	char pad[1000] = { 0 }, limit[40];

	mbi_init(&m);
	while (m.len <= MB2_MAX_SIZE)
		mbi_tag(&m, 98, pad, sizeof(pad));
	mbi_mmap(&m, 24, r, 1);
	mbi_end(&m);
	EXPECT_EQ(parse(), -EINVAL);
	snprintf(limit, sizeof(limit), "above the 0x%x-byte limit", MB2_MAX_SIZE);
	EXPECT_HAS(err, limit);
}

HTEST(mb2, rejects_a_tag_running_past_the_end)
{
	static const struct mbi_range r[] = { { 0, 0x1000, U } };

	only_map(r, 1);
	mbi_put32(&m, 12, 0x1000); /* the map tag's size */
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "tag 6 at offset 0x8: size 0x1000 runs past the end of the MBI");
}

HTEST(mb2, rejects_a_tag_smaller_than_its_header)
{
	mbi_init(&m);
	mbi_tag(&m, 1, NULL, 0);
	mbi_end(&m);
	mbi_put32(&m, 12, 4);
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "smaller than the 8-byte tag header");
}

HTEST(mb2, rejects_a_stream_without_end_tag)
{
	static const struct mbi_range r[] = { { 0, 0x1000, U } };

	only_map(r, 1);
	mbi_put32(&m, 0, m.len - 8); /* cut the end tag off */
	EXPECT_EQ(mb2_parse(m.b, m.len - 8, &bi, err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "no end tag");
}

HTEST(mb2, rejects_a_string_without_nul)
{
	mbi_init(&m);
	mbi_tag(&m, 1, "abcdefgh", 8);
	mbi_end(&m);
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "string has no NUL within its 8 bytes");
}

HTEST(mb2, cuts_an_overlong_cmdline_to_the_buffer)
{
	static const struct mbi_range r[] = { { 0, 0x1000, U } };
	char s[3000];

	memset(s, 'x', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	mbi_init(&m);
	mbi_tag(&m, 1, s, sizeof(s));
	mbi_mmap(&m, 24, r, 1);
	mbi_end(&m);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(strlen(bi.cmdline), sizeof(bi.cmdline) - 1);
}

HTEST(mb2, rejects_invalid_map_entry_sizes)
{
	static const struct mbi_range r[] = { { 0, 0x1000, U } };
	static const uint32_t bad[] = { 0, 8, 16, 20, 28 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		only_map(r, 1);
		mbi_put32(&m, 16, bad[i]);
		EXPECT_EQ(parse(), -EINVAL);
		EXPECT_HAS(err, "entry size");
	}
}

HTEST(mb2, honours_a_larger_entry_size_and_ignores_a_partial_entry)
{
	static const struct mbi_range r[] = { { 0x1000, 0x1000, U }, { 0x3000, 0x1000, R } };

	mbi_init(&m);
	mbi_mmap(&m, 40, r, 2);
	mbi_end(&m);
	mbi_put32(&m, 12, 16 + 40 + 39); /* the second entry is now one byte short */
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, 1);
	expect_range(0, 0x1000, 0x1000, U);
}

HTEST(mb2, splits_overlaps_so_the_most_restrictive_type_wins)
{
	static const struct mbi_range r[] = { { 0, 10 << 20, U },
					      { 5 << 20, 1 << 20, R },
					      { 9 << 20, 2 << 20, MEM_ACPI_NVS } };

	only_map(r, 3);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, 4);
	expect_range(0, 0, 5 << 20, U);
	expect_range(1, 5 << 20, 1 << 20, R);
	expect_range(2, 6 << 20, 3 << 20, U);
	expect_range(3, 9 << 20, 2 << 20, MEM_ACPI_NVS);
}

HTEST(mb2, sorts_entries_and_merges_neighbours_of_one_type)
{
	static const struct mbi_range r[] = {
		{ 0x300000, 0x100000, U },
		{ 0x100000, 0x100000, U },
		{ 0x200000, 0x100000, U },
		{ 0x100000, 0x80000, U }, /* inside another one */
	};

	only_map(r, 4);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, 1);
	expect_range(0, 0x100000, 0x300000, U);
}

HTEST(mb2, skips_zero_length_entries)
{
	static const struct mbi_range r[] = { { 0x5000, 0, R }, { 0x1000, 0x1000, U } };

	only_map(r, 2);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, 1);
	expect_range(0, 0x1000, 0x1000, U);
}

HTEST(mb2, rejects_a_map_of_only_empty_entries)
{
	static const struct mbi_range r[] = { { 0x5000, 0, U }, { 0, 0, U } };

	only_map(r, 2);
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "no non-empty entry");
	only_map(r, 0);
	EXPECT_EQ(parse(), -EINVAL);
}

HTEST(mb2, rejects_an_entry_wrapping_past_2_64)
{
	static const struct mbi_range r[] = { { 0x1000, 0x1000, U }, { ~0ULL - 0xfff, 0x2000, R } };

	only_map(r, 2);
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "entry 1 (base 0xfffffffffffff000, length 0x2000) runs past 2^64");
}

HTEST(mb2, keeps_an_entry_ending_just_below_2_64_and_rejects_one_reaching_it)
{
	struct mbi_range r[] = { { ~0ULL - 0xfff, 0xfff, R } };

	only_map(r, 1);
	ASSERT_TRUE(parse() == 0);
	expect_range(0, ~0ULL - 0xfff, 0xfff, R);
	r[0].len = 0x1000; /* [2^64 - 4 KiB, 2^64): its end is not a 64-bit number */
	only_map(r, 1);
	EXPECT_EQ(parse(), -EINVAL);
}

HTEST(mb2, treats_unknown_memory_types_as_reserved)
{
	static const struct mbi_range r[] = { { 0, 0x1000, 0 },
					      { 0x1000, 0x1000, 6 },
					      { 0x2000, 0x1000, 0xffffffff } };

	only_map(r, 3);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, 1);
	expect_range(0, 0, 0x3000, R);
}

/* Map of n disjoint 4 KiB ranges 8 KiB apart, all of `type` (0: alternating). */
static void many_ranges(int n, uint32_t type)
{
	struct mbi_range *r = calloc((size_t)n, sizeof(*r));

	for (int i = 0; i < n; i++)
		r[i] = (struct mbi_range){ (uint64_t)i << 13, 0x1000, type ? type : i % 2 ? R : U };
	only_map(r, n);
	free(r);
}

HTEST(mb2, keeps_boot_max_ranges_ranges)
{
	many_ranges(BOOT_MAX_RANGES, 0);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, BOOT_MAX_RANGES);
	EXPECT_TRUE(!bi.mem_dropped && !bi.mem_folded);
	expect_range(BOOT_MAX_RANGES - 1, (uint64_t)(BOOT_MAX_RANGES - 1) << 13, 0x1000,
		     (BOOT_MAX_RANGES - 1) % 2 ? R : U);
}

HTEST(mb2, leaves_out_and_counts_ram_past_boot_max_ranges)
{
	many_ranges(BOOT_MAX_RANGES + 3, U);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, BOOT_MAX_RANGES);
	EXPECT_EQ(bi.mem_dropped, 3);
	EXPECT_EQ(bi.mem_dropped_ram, 3 * 0x1000);
	EXPECT_EQ(bi.mem_dropped_from, (uint64_t)BOOT_MAX_RANGES << 13);
	EXPECT_EQ(bi.mem_folded, 0);
	EXPECT_EQ(boot_mem_total(&bi, U), (uint64_t)BOOT_MAX_RANGES * 0x1000);
}

HTEST(mb2, folds_reserved_ranges_past_boot_max_ranges_into_the_last)
{
	many_ranges(BOOT_MAX_RANGES + 3, R);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, BOOT_MAX_RANGES);
	EXPECT_EQ(bi.mem_folded, 3);
	EXPECT_EQ(bi.mem_dropped, 0);
	/* The last range now runs to the end of the last entry, gaps included. */
	expect_range(BOOT_MAX_RANGES - 1, (uint64_t)(BOOT_MAX_RANGES - 1) << 13,
		     (3ULL << 13) + 0x1000, R);
}

/* Small usable ranges with reserved gaps past the limit, then 2 TiB of RAM: the
 * reserved ranges make room, so no RAM is left out. */
HTEST(mb2, big_ram_past_boot_max_ranges_takes_a_reserved_slot)
{
	int n = BOOT_MAX_RANGES + 77;
	struct mbi_range *r = calloc((size_t)n, sizeof(*r));

	ASSERT_TRUE(r != NULL);
	for (int i = 0; i < n - 1; i++)
		r[i] = (struct mbi_range){ (uint64_t)i << 15, 0x8000 / 2, i % 2 ? R : U };
	r[n - 1] = (struct mbi_range){ 4ULL << 30, 2ULL << 40, U };
	only_map(r, n);
	free(r);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, BOOT_MAX_RANGES);
	EXPECT_EQ(bi.mem_dropped, 0);
	EXPECT_EQ(bi.mem_dropped_ram, 0);
	expect_range(BOOT_MAX_RANGES - 1, 4ULL << 30, 2ULL << 40, U);
	EXPECT_EQ(boot_mem_total(&bi, U), (uint64_t)((n - 1 + 1) / 2) * 0x4000 + (2ULL << 40));
}

/* A table full of RAM gives up its smallest range for a larger newcomer. */
HTEST(mb2, full_of_ram_leaves_out_the_smallest_range)
{
	int n = BOOT_MAX_RANGES + 1;
	struct mbi_range *r = calloc((size_t)n, sizeof(*r));

	ASSERT_TRUE(r != NULL);
	for (int i = 0; i < n - 1; i++)
		r[i] = (struct mbi_range){ (uint64_t)i << 13, i == 7 ? 0x800 : 0x1000, U };
	r[n - 1] = (struct mbi_range){ 4ULL << 30, 1ULL << 30, U };
	only_map(r, n);
	free(r);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, BOOT_MAX_RANGES);
	EXPECT_EQ(bi.mem_dropped, 1);
	EXPECT_EQ(bi.mem_dropped_ram, 0x800);
	EXPECT_EQ(bi.mem_dropped_from, 7ULL << 13);
	expect_range(7, 8ULL << 13, 0x1000, U);
	expect_range(BOOT_MAX_RANGES - 1, 4ULL << 30, 1ULL << 30, U);
}

/* 64 KiB of entries (the sweep is quadratic in them: a map filling MB2_MAX_SIZE would
 * take seconds under the sanitizers). */
HTEST(mb2, parses_a_map_of_2700_overlapping_entries)
{
	int n = MIN(MB2_MAX_SIZE, 64 * 1024) / 24 - 2;
	struct mbi_range *r = calloc((size_t)n, sizeof(*r));

	for (int i = 0; i < n; i++) /* all overlapping: one merged range */
		r[i] = (struct mbi_range){ (uint64_t)i << 12, 0x2000, U };
	only_map(r, n);
	free(r);
	ASSERT_TRUE(parse() == 0);
	EXPECT_EQ(bi.nr_mem, 1);
	expect_range(0, 0, ((uint64_t)n + 1) << 12, U);
}

HTEST(mb2, converts_the_efi_map_when_there_is_no_mmap_tag)
{
	static const struct mbi_range r[] = { { 0, 0xa0000, 7 },       { 0x100000, 0x100000, 3 },
					      { 0x200000, 0x1000, 9 }, { 0x201000, 0x1000, 10 },
					      { 0x300000, 0x1000, 5 }, { 0x400000, 0x1000, 99 } };

	mbi_init(&m);
	mbi_efi_map(&m, 48, r, 6);
	mbi_end(&m);
	ASSERT_TRUE(parse() == 0);
	EXPECT_TRUE(bi.uefi && bi.mem_from_efi);
	EXPECT_EQ(bi.nr_mem, 6);
	expect_range(0, 0, 0xa0000, U);
	expect_range(2, 0x200000, 0x1000, MEM_ACPI_RECLAIM);
	expect_range(3, 0x201000, 0x1000, MEM_ACPI_NVS);
	expect_range(4, 0x300000, 0x1000, R); /* runtime services code */
	expect_range(5, 0x400000, 0x1000, R); /* unknown */
}

HTEST(mb2, prefers_the_mmap_tag_over_the_efi_map)
{
	static const struct mbi_range e[] = { { 0, 0x10000, 7 } };
	static const struct mbi_range r[] = { { 0x100000, 0x1000, U } };

	mbi_init(&m);
	mbi_efi_map(&m, 40, e, 1);
	mbi_mmap(&m, 24, r, 1);
	mbi_end(&m);
	ASSERT_TRUE(parse() == 0);
	EXPECT_TRUE(bi.uefi && !bi.mem_from_efi);
	expect_range(0, 0x100000, 0x1000, U);
}

HTEST(mb2, rejects_efi_page_counts_beyond_2_64)
{
	struct mbi_range e[] = { { 0, 0, 7 } };

	mbi_init(&m);
	mbi_efi_map(&m, 40, e, 1);
	mbi_end(&m);
	mbi_put32(&m, 8 + 16 + 24 + 4, 0x00100000); /* pages = 2^52 */
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "more than 2^64 bytes");
}

HTEST(mb2, rejects_a_second_map_and_a_missing_map)
{
	static const struct mbi_range r[] = { { 0, 0x1000, U } };

	mbi_init(&m);
	mbi_mmap(&m, 24, r, 1);
	mbi_mmap(&m, 24, r, 1);
	mbi_end(&m);
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "a second memory map");
	mbi_init(&m);
	mbi_tag(&m, 1, "", 1);
	mbi_end(&m);
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "no memory map");
}

/* An RSDP payload of n bytes with a recognisable revision byte. */
static void rsdp_tag(uint32_t type, uint8_t rev, uint32_t n)
{
	uint8_t p[36] = "RSD PTR ";

	p[15] = rev;
	mbi_tag(&m, type, p, n);
}

HTEST(mb2, keeps_the_acpi_2_rsdp_in_either_order)
{
	static const struct mbi_range r[] = { { 0, 0x1000, U } };

	for (int order = 0; order < 2; order++) {
		mbi_init(&m);
		rsdp_tag(order ? 14 : 15, order ? 0 : 2, order ? 20 : 36);
		rsdp_tag(order ? 15 : 14, order ? 2 : 0, order ? 36 : 20);
		mbi_mmap(&m, 24, r, 1);
		mbi_end(&m);
		ASSERT_TRUE(parse() == 0);
		EXPECT_EQ(bi.acpi_rev, 2);
		EXPECT_EQ(bi.rsdp[15], 2);
	}
}

HTEST(mb2, rejects_rsdp_and_efi64_tags_too_small_for_their_payload)
{
	mbi_init(&m);
	rsdp_tag(15, 2, 20);
	mbi_end(&m);
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "too small for a 36-byte RSDP");
	mbi_init(&m);
	mbi_tag(&m, 12, "abcd", 4);
	mbi_end(&m);
	EXPECT_EQ(parse(), -EINVAL);
	EXPECT_HAS(err, "too small for a 64-bit pointer");
}

HTEST(mb2, truncates_the_error_message_to_the_buffer)
{
	char small[12];

	mbi_init(&m);
	mbi_tag(&m, 1, "abcdefgh", 8);
	mbi_end(&m);
	memset(small, 'z', sizeof(small));
	EXPECT_EQ(mb2_parse(m.b, m.len, &bi, small, sizeof(small)), -EINVAL);
	EXPECT_EQ(strlen(small), sizeof(small) - 1);
	EXPECT_EQ(mb2_parse(m.b, m.len, &bi, NULL, 0), -EINVAL);
}
