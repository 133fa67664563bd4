/* tests/host/test_seeds.c - the parsers on the real inputs captured from boots
 * (tests/host/seeds/, see capture-seeds.sh): GRUB's MBIs under SeaBIOS and OVMF, QEMU's
 * and OVMF's ACPI tables; each also cut short and corrupted byte by byte. */
#include "kernel/acpi_parse.h"
#include "kernel/cmdline.h"
#include "kernel/multiboot2.h"
#include "tests/host/check.h"
#include "tests/host/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct boot_info bi;
static struct acpi_cpus cpus;
static char err[160];

/* Parses seed mb2/<config>.bin into bi, checking the invariants. 0 or -1. */
static int parse_mbi(const char *config)
{
	char rel[128];
	size_t len;
	uint8_t *b;
	int rc;

	snprintf(rel, sizeof(rel), "mb2/%s.bin", config);
	if (!(b = htest_seed(rel, &len)))
		return -1;
	rc = mb2_parse(b, len, &bi, err, sizeof(err));
	if (rc)
		htest_fail(__FILE__, __LINE__, "%s: %s", rel, err);
	else if (check_boot_info(&bi, b, len))
		htest_fail(__FILE__, __LINE__, "%s: %s", rel, check_boot_info(&bi, b, len));
	free(b);
	return rc ? -1 : 0;
}

/* True when bi has a range of type covering [base, base + len). */
static bool has_range(uint64_t base, uint64_t len, uint32_t type)
{
	for (int i = 0; i < bi.nr_mem; i++)
		if (bi.mem[i].type == type && bi.mem[i].base <= base &&
		    base + len <= bi.mem[i].base + bi.mem[i].len)
			return true;
	return false;
}

HTEST(seeds, grub_under_seabios_gives_a_bios_mbi)
{
	ASSERT_TRUE(parse_mbi("seabios-4G-smp4") == 0);
	EXPECT_TRUE(!bi.uefi && !bi.mem_from_efi);
	EXPECT_HAS(bi.loader, "GRUB");
	EXPECT_HAS(bi.cmdline, "bootdump=all");
	EXPECT_EQ(bi.acpi_rev, 1);
	EXPECT_TRUE(memcmp(bi.rsdp, "RSD PTR ", 8) == 0);
	EXPECT_TRUE(has_range(0, 0x9f000, MEM_USABLE));
	EXPECT_TRUE(has_range(0x100000, 0x7fe00000 - 0x100000, MEM_USABLE));
	EXPECT_TRUE(has_range(4ULL << 30, 1ULL << 30, MEM_USABLE)); /* 4G: 2G-4G hole */
	EXPECT_EQ(cmdline_parse(bi.cmdline), 0);
}

HTEST(seeds, grub_under_ovmf_gives_a_uefi_mbi)
{
	ASSERT_TRUE(parse_mbi("ovmf-512M-smp2") == 0);
	EXPECT_TRUE(bi.uefi && !bi.mem_from_efi);
	EXPECT_HAS(bi.loader, "GRUB");
	EXPECT_EQ(bi.acpi_rev, 2);
	EXPECT_EQ(bi.rsdp[15], 2);
	EXPECT_TRUE(has_range(0x100000, 0x700000, MEM_USABLE));
	EXPECT_TRUE(boot_mem_total(&bi, MEM_USABLE) > (400ULL << 20));
	EXPECT_EQ(cmdline_parse(bi.cmdline), 0);
}

HTEST(seeds, every_captured_mbi_parses)
{
	int n;
	char **names = htest_seed_list("mb2", ".bin", &n);

	EXPECT_TRUE(n >= 4);
	for (int i = 0; i < n; i++) {
		names[i][strlen(names[i]) - 4] = '\0';
		parse_mbi(names[i]);
		free(names[i]);
	}
	free(names);
}

/* Every prefix of the MBI: as a copy too short for its total_size, and with
 * total_size rewritten to the prefix length. Both only ever fail cleanly. */
static void cut_mbi(const char *rel)
{
	size_t len;
	uint8_t *b = htest_seed(rel, &len);

	for (size_t k = 0; b && k < len; k++) {
		uint8_t *p = malloc(k ? k : 1);
		uint32_t total = (uint32_t)k;
		int rc;

		memcpy(p, b, k);
		if (mb2_parse(p, k, &bi, err, sizeof(err)) != -EINVAL)
			htest_fail(__FILE__, __LINE__, "%s cut to %zu bytes: accepted", rel, k);
		if (k >= 4) {
			memcpy(p, &total, 4);
			rc = mb2_parse(p, k, &bi, err, sizeof(err));
			if (rc ? check_err(err, sizeof(err)) != NULL
			       : check_boot_info(&bi, p, k) != NULL)
				htest_fail(__FILE__, __LINE__,
					   "%s with total_size %zu: broken result", rel, k);
		}
		free(p);
	}
	free(b);
}

HTEST(seeds, every_prefix_of_a_captured_mbi_fails_cleanly)
{
	cut_mbi("mb2/seabios-4G-smp4.bin");
	cut_mbi("mb2/ovmf-512M-smp2.bin");
}

HTEST(seeds, qemu_rsdp_revision_0_points_to_the_rsdt_and_ovmf_to_the_xsdt)
{
	static const struct {
		const char *rel;
		bool xsdt;
	} rsdps[] = { { "rsdp/seabios-4G-smp4.bin", false },
		      { "rsdp/seabios-512M-smp2of4.bin", false },
		      { "rsdp/ovmf-512M-smp2.bin", true },
		      { "rsdp/ovmf-4G-smp2of4.bin", true } };

	for (size_t i = 0; i < sizeof(rsdps) / sizeof(rsdps[0]); i++) {
		size_t len;
		uint8_t *p = htest_seed(rsdps[i].rel, &len);
		phys_addr_t root = 0;
		bool xsdt = !rsdps[i].xsdt;

		if (!p)
			continue;
		EXPECT_EQ(acpi_parse_rsdp(p, len, &root, &xsdt, err, sizeof(err)), 0);
		EXPECT_TRUE(xsdt == rsdps[i].xsdt && root != 0);
		EXPECT_EQ(len, rsdps[i].xsdt ? 36 : 20);
		free(p);
	}
}

/* The signature of seed sdt/CONFIG-SIG[.N].bin. */
static void seed_sig(const char *name, char sig[5])
{
	const char *dash = strrchr(name, '-');

	memcpy(sig, dash + 1, 4);
	sig[4] = '\0';
}

/* Checks one table seed whole, cut short and with bytes flipped (each byte of tables
 * up to 512 bytes, 512 spread over a larger one). */
static void check_sdt(const char *name)
{
	char rel[160], sig[5];
	size_t len;
	uint8_t *t;

	snprintf(rel, sizeof(rel), "sdt/%s", name);
	seed_sig(name, sig);
	if (!(t = htest_seed(rel, &len)))
		return;
	if (acpi_check_table(t, len, sig, err, sizeof(err)) || check_sum8(t, len))
		htest_fail(__FILE__, __LINE__, "%s: %s", rel, err);
	for (size_t k = 0; k < len; k++)
		if (acpi_check_table(t, k, sig, err, sizeof(err)) != -EINVAL)
			htest_fail(__FILE__, __LINE__, "%s cut to %zu bytes: accepted", rel, k);
	for (size_t i = 0; i < len; i += len / 512 + 1) { /* every byte of a small table */
		t[i] ^= 0x40;
		if (acpi_check_table(t, len, sig, err, sizeof(err)) != -EINVAL)
			htest_fail(__FILE__, __LINE__, "%s with byte %zu flipped: accepted", rel,
				   i);
		t[i] ^= 0x40;
	}
	free(t);
}

HTEST(seeds, every_captured_table_checks_and_every_damage_is_caught)
{
	int n;
	char **names = htest_seed_list("sdt", ".bin", &n);

	EXPECT_TRUE(n >= 30);
	for (int i = 0; i < n; i++) {
		check_sdt(names[i]);
		free(names[i]);
	}
	free(names);
}

/* Entries of root table seed sdt/<config>-<sig>.bin (4 or 8 bytes each), -1 if none. */
static int root_entries(const char *config, const char *sig, size_t step)
{
	char rel[128];
	size_t len;
	uint8_t *t;
	int n;

	snprintf(rel, sizeof(rel), "sdt/%s-%s.bin", config, sig);
	if (!(t = htest_seed(rel, &len)))
		return -1;
	n = acpi_check_table(t, len, sig, err, sizeof(err)) ? -1 : (int)((len - 36) / step);
	EXPECT_EQ((len - 36) % step, 0);
	free(t);
	return n;
}

/* Table seeds of config other than the root table and the DSDT. */
static int listed_tables(const char *config)
{
	int n, count = 0;
	char **names = htest_seed_list("sdt", ".bin", &n);
	size_t cl = strlen(config);

	for (int i = 0; i < n; i++) {
		const char *s = names[i] + cl + 1;

		if (strncmp(names[i], config, cl) == 0 && names[i][cl] == '-' &&
		    strncmp(s, "RSDT", 4) && strncmp(s, "XSDT", 4) && strncmp(s, "DSDT", 4))
			count++;
		free(names[i]);
	}
	free(names);
	return count;
}

HTEST(seeds, the_rsdt_or_xsdt_lists_every_captured_table)
{
	EXPECT_EQ(root_entries("seabios-4G-smp4", "RSDT", 4), listed_tables("seabios-4G-smp4"));
	EXPECT_EQ(root_entries("ovmf-512M-smp2", "XSDT", 8), listed_tables("ovmf-512M-smp2"));
	EXPECT_EQ(listed_tables("ovmf-512M-smp2"), 6);
}

/* Parses seed sdt/<config>-APIC.bin into cpus (after every prefix of it, which
 * must give a clean result either way). 0 or -1. */
static int parse_madt_seed(const char *config)
{
	char rel[128];
	size_t len;
	uint8_t *t;
	int rc;

	snprintf(rel, sizeof(rel), "sdt/%s-APIC.bin", config);
	if (!(t = htest_seed(rel, &len)))
		return -1;
	for (size_t k = 0; k < len; k++)
		if (acpi_parse_madt(t, k, &cpus, err, sizeof(err)) == 0 && check_cpus(&cpus))
			htest_fail(__FILE__, __LINE__, "%s cut to %zu bytes: broken list", rel, k);
	rc = acpi_parse_madt(t, len, &cpus, err, sizeof(err));
	if (rc || check_cpus(&cpus))
		htest_fail(__FILE__, __LINE__, "%s: %s", rel, rc ? err : check_cpus(&cpus));
	free(t);
	return rc ? -1 : 0;
}

HTEST(seeds, qemu_madt_lists_the_four_cpus_of_smp_4)
{
	char ids[64];

	ASSERT_TRUE(parse_madt_seed("seabios-4G-smp4") == 0);
	acpi_format_ids(&cpus, ids, sizeof(ids));
	EXPECT_TRUE(strcmp(ids, "0-3") == 0);
	EXPECT_EQ(cpus.nr_disabled, 0);
}

HTEST(seeds, hot_pluggable_cpus_are_disabled_entries)
{
	static const char *const configs[] = { "seabios-512M-smp2of4", "ovmf-4G-smp2of4" };

	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		ASSERT_TRUE(parse_madt_seed(configs[i]) == 0);
		EXPECT_EQ(cpus.nr, 2);
		EXPECT_TRUE(cpus.apic_id[0] == 0 && cpus.apic_id[1] == 1);
		EXPECT_EQ(cpus.nr_disabled, 2);
	}
}

HTEST(seeds, ovmf_madt_lists_two_cpus)
{
	ASSERT_TRUE(parse_madt_seed("ovmf-512M-smp2") == 0);
	EXPECT_EQ(cpus.nr, 2);
	EXPECT_EQ(cpus.nr_disabled, 0);
}
