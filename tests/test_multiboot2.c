/* tests/test_multiboot2.c - mb2_parse() against crafted boot information.
 *
 * Each case builds an MBI with the mbi_* helpers of tests/mbi_builder.h (header,
 * tags, end tag; total_size patched last), parses it and checks one behaviour.
 */
#include "kernel/ktest.h"
#include "kernel/multiboot2.h"
#include "kernel/types.h"
#include "tests/mbi_builder.h"

KTEST_SUITE(02, multiboot2, NULL);

/* A small BIOS-style map under 4 GiB, sorted and free of overlaps. */
static const struct mem_range bios_map[] = {
	{ 0x0, 0x9fc00, MEM_USABLE },	      { 0x9fc00, 0x400, MEM_RESERVED },
	{ 0xf0000, 0x10000, MEM_RESERVED },   { 0x100000, 0x7ee0000, MEM_USABLE },
	{ 0x7fe0000, 0x20000, MEM_RESERVED }, { 0xfffc0000, 0x40000, MEM_RESERVED },
};

KTEST(multiboot2, parses_cmdline_loader_and_mmap)
{
	mbi_begin();
	mbi_string(1, "pks_tables=soft ktest=multiboot2");
	mbi_string(2, "GRUB 2.06");
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	KASSERT_EQ(mbi_parse(), 0);
	KEXPECT_STREQ(mbi_bi.cmdline, "pks_tables=soft ktest=multiboot2");
	KEXPECT_STREQ(mbi_bi.loader, "GRUB 2.06");
	KEXPECT_FALSE(mbi_bi.uefi);
	KEXPECT_FALSE(mbi_bi.mem_from_efi);
	KEXPECT_EQ(mbi_bi.acpi_rev, 0);
	KEXPECT_EQ(mbi_bi.mbi_size, mbi_len);
	KEXPECT_EQ(mbi_map_mismatch(bios_map, ARRAY_SIZE(bios_map)), -1);
}

KTEST(multiboot2, sums_ranges_by_type)
{
	KASSERT_EQ(mbi_parse_map(bios_map, ARRAY_SIZE(bios_map)), 0);
	KEXPECT_EQ(boot_mem_total(&mbi_bi, MEM_USABLE), 0x9fc00 + 0x7ee0000);
	KEXPECT_EQ(boot_mem_total(&mbi_bi, MEM_RESERVED), 0x400 + 0x10000 + 0x20000 + 0x40000);
	KEXPECT_EQ(boot_mem_total(&mbi_bi, MEM_ACPI_NVS), 0);
}

KTEST(multiboot2, honours_mmap_entry_size_32)
{
	static const struct mem_range map[] = {
		{ 0x0, 0x9f000, MEM_USABLE },
		{ 0x100000, 0x1f00000, MEM_USABLE },
		{ 0x2000000, 0x1000, MEM_ACPI_NVS },
	};

	mbi_begin();
	mbi_mmap(32, map, ARRAY_SIZE(map));
	mbi_end();
	KASSERT_EQ(mbi_parse(), 0);
	KEXPECT_EQ(mbi_map_mismatch(map, ARRAY_SIZE(map)), -1);
}

KTEST(multiboot2, converts_efi_mmap_with_descriptor_size_48)
{
	static const struct efi_desc efi[] = {
		{ 3, 0x0, 0x1 },	 /* BootServicesCode */
		{ 7, 0x1000, 0x9e },	 /* ConventionalMemory */
		{ 0, 0x9f000, 0x1 },	 /* ReservedMemoryType */
		{ 2, 0x100000, 0x100 },	 /* LoaderData */
		{ 1, 0x200000, 0x100 },	 /* LoaderCode */
		{ 9, 0x300000, 0x10 },	 /* ACPIReclaimMemory */
		{ 10, 0x310000, 0x10 },	 /* ACPIMemoryNVS */
		{ 8, 0x320000, 0x1 },	 /* UnusableMemory */
		{ 14, 0x400000, 0x100 }, /* PersistentMemory */
		{ 4, 0x500000, 0x100 },	 /* BootServicesData */
		{ 11, 0xfec00000, 0x1 }, /* MemoryMappedIO */
	};
	static const struct mem_range want[] = {
		{ 0x0, 0x9f000, MEM_USABLE },	      { 0x9f000, 0x1000, MEM_RESERVED },
		{ 0x100000, 0x200000, MEM_USABLE },   { 0x300000, 0x10000, MEM_ACPI_RECLAIM },
		{ 0x310000, 0x10000, MEM_ACPI_NVS },  { 0x320000, 0x1000, MEM_BAD },
		{ 0x400000, 0x100000, MEM_RESERVED }, { 0x500000, 0x100000, MEM_USABLE },
		{ 0xfec00000, 0x1000, MEM_RESERVED },
	};

	mbi_begin();
	mbi_efi_mmap(48, efi, ARRAY_SIZE(efi));
	mbi_end();
	KASSERT_EQ(mbi_parse(), 0);
	KEXPECT_TRUE(mbi_bi.mem_from_efi);
	KEXPECT_TRUE(mbi_bi.uefi);
	KEXPECT_EQ(mbi_map_mismatch(want, ARRAY_SIZE(want)), -1);
}

KTEST(multiboot2, prefers_mmap_tag_over_efi_mmap)
{
	static const struct efi_desc efi[] = { { 7, 0x0, 0x10 } };

	mbi_begin();
	mbi_efi_mmap(48, efi, ARRAY_SIZE(efi));
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	KASSERT_EQ(mbi_parse(), 0);
	KEXPECT_FALSE(mbi_bi.mem_from_efi);
	KEXPECT_TRUE(mbi_bi.uefi);
	KEXPECT_EQ(mbi_map_mismatch(bios_map, ARRAY_SIZE(bios_map)), -1);
}

/* Builds an MBI with both RSDP tags (1.0 marked 0x11, 2.0 marked 0x22) and parses it. */
static int parse_both_rsdps(bool new_first)
{
	mbi_begin();
	mbi_rsdp(new_first ? 15 : 14, new_first ? 0x22 : 0x11);
	mbi_rsdp(new_first ? 14 : 15, new_first ? 0x11 : 0x22);
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	return mbi_parse();
}

KTEST(multiboot2, prefers_acpi2_rsdp_listed_after_acpi1)
{
	KASSERT_EQ(parse_both_rsdps(false), 0);
	KEXPECT_EQ(mbi_bi.acpi_rev, 2);
	KEXPECT_EQ(memcmp(mbi_bi.rsdp, "RSD PTR ", 8), 0);
	KEXPECT_EQ(mbi_bi.rsdp[8], 0x22);
	KEXPECT_EQ(mbi_bi.rsdp[35], 0x22);
	KEXPECT_EQ(mbi_bi.rsdp_pa, 0);
}

KTEST(multiboot2, prefers_acpi2_rsdp_listed_before_acpi1)
{
	KASSERT_EQ(parse_both_rsdps(true), 0);
	KEXPECT_EQ(mbi_bi.acpi_rev, 2);
	KEXPECT_EQ(mbi_bi.rsdp[8], 0x22);
	KEXPECT_EQ(mbi_bi.rsdp[35], 0x22);
}

KTEST(multiboot2, keeps_acpi1_rsdp_when_alone)
{
	mbi_begin();
	mbi_rsdp(14, 0x11);
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	KASSERT_EQ(mbi_parse(), 0);
	KEXPECT_EQ(mbi_bi.acpi_rev, 1);
	KEXPECT_EQ(mbi_bi.rsdp[19], 0x11);
	KEXPECT_EQ(mbi_bi.rsdp[20], 0);
}

KTEST(multiboot2, normalises_overlapping_unsorted_ranges_restrictive_wins)
{
	static const struct mem_range map[] = {
		{ 0x100000, 0x400000, MEM_USABLE },   /* [1M, 5M) */
		{ 0x0, 0x80000, MEM_USABLE },	      /* [0, 512K) */
		{ 0x200000, 0x100000, MEM_RESERVED }, /* inside [1M, 5M): splits it */
		{ 0x480000, 0x100000, MEM_RESERVED }, /* over the end of [1M, 5M) */
		{ 0x60000, 0x40000, MEM_ACPI_NVS },   /* over the end of [0, 512K) */
	};
	static const struct mem_range want[] = {
		{ 0x0, 0x60000, MEM_USABLE },	    { 0x60000, 0x40000, MEM_ACPI_NVS },
		{ 0x100000, 0x100000, MEM_USABLE }, { 0x200000, 0x100000, MEM_RESERVED },
		{ 0x300000, 0x180000, MEM_USABLE }, { 0x480000, 0x100000, MEM_RESERVED },
	};

	KASSERT_EQ(mbi_parse_map(map, ARRAY_SIZE(map)), 0);
	KEXPECT_EQ(mbi_map_mismatch(want, ARRAY_SIZE(want)), -1);
}

KTEST(multiboot2, merges_adjacent_ranges_of_same_type)
{
	static const struct mem_range map[] = {
		{ 0x0, 0x1000, MEM_USABLE },	  { 0x1000, 0x2000, MEM_USABLE },
		{ 0x3000, 0x1000, MEM_RESERVED }, { 0x4000, 0x1000, MEM_RESERVED },
		{ 0x6000, 0x1000, MEM_RESERVED }, /* after a hole: stays apart */
	};
	static const struct mem_range want[] = {
		{ 0x0, 0x3000, MEM_USABLE },
		{ 0x3000, 0x2000, MEM_RESERVED },
		{ 0x6000, 0x1000, MEM_RESERVED },
	};

	KASSERT_EQ(mbi_parse_map(map, ARRAY_SIZE(map)), 0);
	KEXPECT_EQ(mbi_map_mismatch(want, ARRAY_SIZE(want)), -1);
}

KTEST(multiboot2, drops_empty_ranges_and_reserves_unknown_types)
{
	static const struct mem_range map[] = {
		{ 0x0, 0x1000, MEM_USABLE },
		{ 0x1000, 0, MEM_BAD }, /* zero length: dropped */
		{ 0x1000, 0x1000, 9 },	/* unknown type: reserved */
	};
	static const struct mem_range want[] = {
		{ 0x0, 0x1000, MEM_USABLE },
		{ 0x1000, 0x1000, MEM_RESERVED },
	};

	KASSERT_EQ(mbi_parse_map(map, ARRAY_SIZE(map)), 0);
	KEXPECT_EQ(mbi_map_mismatch(want, ARRAY_SIZE(want)), -1);
}

KTEST(multiboot2, skips_unknown_tags)
{
	uint32_t off;

	mbi_begin();
	off = mbi_tag(21, 12); /* image load base address */
	mbi_put32(off, 0x200000);
	mbi_tag(0x7777, 40); /* nobody knows this one */
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	KASSERT_EQ(mbi_parse(), 0);
	KEXPECT_EQ(mbi_bi.nr_mem, (int)ARRAY_SIZE(bios_map));
}

KTEST(multiboot2, rejects_total_size_larger_than_buffer)
{
	mbi_begin();
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	KEXPECT_REJECTED(mb2_parse(mbi, mbi_len - 8, &mbi_bi, mbi_err, sizeof(mbi_err)), "larger");
}

KTEST(multiboot2, rejects_total_size_below_16)
{
	mbi_begin();
	mbi_put32(0, 8);
	KEXPECT_REJECTED(mb2_parse(mbi, sizeof(mbi), &mbi_bi, mbi_err, sizeof(mbi_err)), "minimum");
}

KTEST(multiboot2, rejects_tag_size_below_8)
{
	mbi_begin();
	mbi_tag(2, 4);
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	KEXPECT_REJECTED(mbi_parse(), "smaller");
}

KTEST(multiboot2, rejects_tag_running_past_end)
{
	uint32_t off;

	mbi_begin();
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	off = mbi_tag(1, 16);
	memcpy(mbi + off, "pks=on", 7);
	mbi_end();
	mbi_put32(off - 4, 0x1000); /* the command line's size */
	KEXPECT_REJECTED(mbi_parse(), "past the end");
}

KTEST(multiboot2, rejects_missing_end_tag)
{
	mbi_begin();
	mbi_string(1, "pks=on");
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_close();
	KEXPECT_REJECTED(mbi_parse(), "no end tag");
}

KTEST(multiboot2, rejects_tag_header_cut_by_total_size)
{
	mbi_begin();
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	mbi_put32(0, mbi_len - 4); /* half of the end tag's header */
	KEXPECT_REJECTED(mbi_parse(), "no end tag");
}

KTEST(multiboot2, rejects_mmap_entry_size_below_24)
{
	mbi_begin();
	mbi_mmap(16, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	KEXPECT_REJECTED(mbi_parse(), "entry size");
}

KTEST(multiboot2, rejects_mmap_entry_size_not_multiple_of_8)
{
	mbi_begin();
	mbi_mmap(28, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	KEXPECT_REJECTED(mbi_parse(), "multiple of 8");
}

KTEST(multiboot2, rejects_cmdline_without_nul)
{
	mbi_begin();
	memcpy(mbi + mbi_tag(1, 8 + 6), "pks=on", 6);
	mbi_mmap(24, bios_map, ARRAY_SIZE(bios_map));
	mbi_end();
	KEXPECT_REJECTED(mbi_parse(), "NUL");
}

KTEST(multiboot2, rejects_mbi_without_memory_map)
{
	mbi_begin();
	mbi_string(1, "pks=on");
	mbi_end();
	KEXPECT_REJECTED(mbi_parse(), "no memory map");
}

KTEST(multiboot2, rejects_efi_descriptor_size_below_40)
{
	static const struct efi_desc efi[] = { { 7, 0x0, 0x10 }, { 7, 0x100000, 0x100 } };

	mbi_begin();
	mbi_efi_mmap(32, efi, ARRAY_SIZE(efi));
	mbi_end();
	KEXPECT_REJECTED(mbi_parse(), "entry size");
}

KTEST(multiboot2, rejects_range_wrapping_past_2_64)
{
	static const struct mem_range map[] = {
		{ 0x0, 0x1000, MEM_USABLE },
		{ 0xffffffffffff0000ULL, 0x20000, MEM_RESERVED },
	};

	KEXPECT_REJECTED(mbi_parse_map(map, ARRAY_SIZE(map)), "2^64");
}

/* Fills map[0..n) with ranges of `type` 4 KiB long and 8 KiB apart (nothing merges),
 * except every `other`-th one (if other) which gets type `alt`. */
static void long_map(struct mem_range *map, int n, uint32_t type, int other, uint32_t alt)
{
	for (int i = 0; i < n; i++) {
		map[i].base = 0x100000 + (uint64_t)i * 0x2000;
		map[i].len = 0x1000;
		map[i].type = other && i % other == other - 1 ? alt : type;
	}
}

KTEST(multiboot2, keeps_a_map_of_exactly_the_range_limit)
{
	static struct mem_range map[BOOT_MAX_RANGES];

	long_map(map, BOOT_MAX_RANGES, MEM_USABLE, 0, 0);
	KASSERT_EQ(mbi_parse_map(map, BOOT_MAX_RANGES), 0);
	KEXPECT_EQ(mbi_bi.nr_mem, BOOT_MAX_RANGES);
	KEXPECT_EQ(mbi_bi.mem[BOOT_MAX_RANGES - 1].base, map[BOOT_MAX_RANGES - 1].base);
	KEXPECT_EQ(mbi_bi.mem_dropped, 0);
	KEXPECT_EQ(mbi_bi.mem_folded, 0);
}

KTEST(multiboot2, leaves_out_and_counts_ram_past_the_range_limit)
{
	static struct mem_range map[BOOT_MAX_RANGES + 3];

	long_map(map, BOOT_MAX_RANGES + 3, MEM_USABLE, 0, 0);
	KASSERT_EQ(mbi_parse_map(map, BOOT_MAX_RANGES + 3), 0);
	KEXPECT_EQ(mbi_bi.nr_mem, BOOT_MAX_RANGES);
	KEXPECT_EQ(mbi_bi.mem_dropped, 3);
	KEXPECT_EQ(mbi_bi.mem_dropped_ram, 3 * 0x1000);
	KEXPECT_EQ(mbi_bi.mem_dropped_from, map[BOOT_MAX_RANGES].base);
	KEXPECT_EQ(boot_mem_total(&mbi_bi, MEM_USABLE), (uint64_t)BOOT_MAX_RANGES * 0x1000);
}

/* Past the limit, reserved ranges after a reserved one fold into it and cost no
 * slot, and a RAM range that comes after takes the slot of a reserved one: no RAM
 * is lost while non-RAM ranges hold slots. */
KTEST(multiboot2, folds_non_ram_ranges_past_the_range_limit)
{
	static struct mem_range map[BOOT_MAX_RANGES + 8];
	int n = BOOT_MAX_RANGES + 8;

	long_map(map, n, MEM_USABLE, 2, MEM_RESERVED); /* usable, reserved, usable, ... */
	for (int i = BOOT_MAX_RANGES; i < n - 1; i++)
		map[i].type = MEM_ACPI_NVS; /* a run of non-RAM after the limit */
	map[n - 1].type = MEM_USABLE;
	KASSERT_EQ(mbi_parse_map(map, (uint32_t)n), 0);
	KEXPECT_EQ(mbi_bi.nr_mem, BOOT_MAX_RANGES);
	KEXPECT_EQ(mbi_bi.mem_folded, n - 1 - BOOT_MAX_RANGES + 1); /* the run, then one evicted */
	KEXPECT_EQ(mbi_bi.mem_dropped, 0);
	KEXPECT_EQ(mbi_bi.mem[BOOT_MAX_RANGES - 1].base, map[n - 1].base);
	KEXPECT_EQ(mbi_bi.mem[BOOT_MAX_RANGES - 1].type, MEM_USABLE);
	KEXPECT_EQ(mbi_bi.mem[BOOT_MAX_RANGES - 2].type, MEM_ACPI_NVS);
	KEXPECT_EQ(mbi_bi.mem[BOOT_MAX_RANGES - 2].base + mbi_bi.mem[BOOT_MAX_RANGES - 2].len,
		   map[n - 2].base + map[n - 2].len);
	KEXPECT_EQ(boot_mem_total(&mbi_bi, MEM_USABLE),
		   (uint64_t)(BOOT_MAX_RANGES / 2 + 1) * 0x1000);
}

/* A big RAM range after many small ones and reserved gaps is kept: the reserved
 * ranges make room first. */
KTEST(multiboot2, big_ram_past_the_limit_is_kept_before_any_reserved_range)
{
	static struct mem_range map[BOOT_MAX_RANGES + 101];
	int n = BOOT_MAX_RANGES + 101;

	long_map(map, n - 1, MEM_USABLE, 2, MEM_RESERVED);
	map[n - 1] = (struct mem_range){ 4 * GiB, 2048 * GiB, MEM_USABLE };
	KASSERT_EQ(mbi_parse_map(map, (uint32_t)n), 0);
	KEXPECT_EQ(mbi_bi.nr_mem, BOOT_MAX_RANGES);
	KEXPECT_EQ(mbi_bi.mem_dropped, 0);
	KEXPECT_EQ(mbi_bi.mem[BOOT_MAX_RANGES - 1].base, 4 * GiB);
	KEXPECT_EQ(mbi_bi.mem[BOOT_MAX_RANGES - 1].len, 2048 * GiB);
	KEXPECT_EQ(boot_mem_total(&mbi_bi, MEM_USABLE), (uint64_t)(n / 2) * 0x1000 + 2048 * GiB);
}

/* When every slot holds RAM, the smallest RAM range is the one left out. */
KTEST(multiboot2, full_of_ram_leaves_out_the_smallest_range)
{
	static struct mem_range map[BOOT_MAX_RANGES + 1];

	long_map(map, BOOT_MAX_RANGES, MEM_USABLE, 0, 0);
	map[10].len = 0x800; /* the smallest */
	map[BOOT_MAX_RANGES] = (struct mem_range){ 4 * GiB, 1 * GiB, MEM_USABLE };
	KASSERT_EQ(mbi_parse_map(map, BOOT_MAX_RANGES + 1), 0);
	KEXPECT_EQ(mbi_bi.nr_mem, BOOT_MAX_RANGES);
	KEXPECT_EQ(mbi_bi.mem_dropped, 1);
	KEXPECT_EQ(mbi_bi.mem_dropped_ram, 0x800);
	KEXPECT_EQ(mbi_bi.mem_dropped_from, map[10].base);
	KEXPECT_EQ(mbi_bi.mem[10].base, map[11].base);
	KEXPECT_EQ(mbi_bi.mem[BOOT_MAX_RANGES - 1].base, 4 * GiB);
}

KTEST(multiboot2, names_memory_types)
{
	KEXPECT_STREQ(mem_type_name(MEM_USABLE), "usable");
	KEXPECT_STREQ(mem_type_name(MEM_RESERVED), "reserved");
	KEXPECT_STREQ(mem_type_name(MEM_ACPI_RECLAIM), "ACPI reclaimable");
	KEXPECT_STREQ(mem_type_name(MEM_ACPI_NVS), "ACPI NVS");
	KEXPECT_STREQ(mem_type_name(MEM_BAD), "bad");
	KEXPECT_STREQ(mem_type_name(0), "unknown");
	KEXPECT_STREQ(mem_type_name(6), "unknown");
}
