/* tests/test_smp_acpi.c - the ACPI parsers behind the CPU list (suite smp, with
 * tests/test_smp.c): RSDP, table header and MADT on synthetic tables; a malformed
 * one is refused with the reason (kernel/acpi_parse.h).
 */
#include "kernel/acpi.h"
#include "kernel/ktest.h"

/* --- synthetic tables --------------------------------------------------------- */

struct table {
	uint8_t b[256];
	size_t len;
};

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* A MADT header with room for entries (local APIC address, flags). */
static void madt_begin(struct table *t)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->b, "APIC", 4);
	t->b[8] = 5; /* revision */
	put32(t->b + 36, 0xfee00000);
	t->len = 44;
}

static void add_bytes(struct table *t, const uint8_t *e, size_t n)
{
	memcpy(t->b + t->len, e, n);
	t->len += n;
}

static void add_lapic(struct table *t, uint8_t id, uint32_t flags)
{
	uint8_t e[8] = { 0, 8, id, id };

	put32(e + 4, flags);
	add_bytes(t, e, sizeof(e));
}

static void add_x2apic(struct table *t, uint32_t id, uint32_t flags)
{
	uint8_t e[16] = { 9, 16 };

	put32(e + 4, id);
	put32(e + 8, flags);
	put32(e + 12, id);
	add_bytes(t, e, sizeof(e));
}

/* Sets the Length field and the checksum. */
static void table_end(struct table *t)
{
	put32(t->b + 4, (uint32_t)t->len);
	t->b[9] = 0;
	t->b[9] = (uint8_t)-sum8(t->b, t->len);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

KTEST(smp, madt_keeps_enabled_local_apic_and_x2apic_entries_once)
{
	static struct acpi_cpus cpus;
	static const uint8_t ioapic[12] = { 1, 12, 0 };
	struct table t;
	char err[160], ids[64];

	madt_begin(&t);
	add_lapic(&t, 0, 1);
	add_lapic(&t, 1, 0); /* disabled */
	add_lapic(&t, 5, 1);
	add_bytes(&t, ioapic, sizeof(ioapic));
	add_x2apic(&t, 300, 1);
	add_x2apic(&t, 5, 1);	/* the same CPU again */
	add_lapic(&t, 0xff, 1); /* no such processor */
	table_end(&t);
	KASSERT_EQ(acpi_check_table(t.b, sizeof(t.b), "APIC", err, sizeof(err)), 0);
	KASSERT_EQ(acpi_parse_madt(t.b, t.len, &cpus, err, sizeof(err)), 0);
	KEXPECT_EQ(cpus.nr, 3);
	KEXPECT_EQ(cpus.nr_disabled, 1);
	acpi_format_ids(&cpus, ids, sizeof(ids));
	KEXPECT_STREQ(ids, "0,5,300");
}

KTEST(smp, apic_id_list_merges_runs)
{
	static struct acpi_cpus cpus = { .nr = 7, .apic_id = { 0, 1, 2, 3, 8, 10, 11 } };
	char ids[64];

	acpi_format_ids(&cpus, ids, sizeof(ids));
	KEXPECT_STREQ(ids, "0-3,8,10-11");
}

KTEST(smp, madt_with_a_bad_checksum_is_refused_with_the_reason)
{
	struct table t;
	char err[160] = "";

	madt_begin(&t);
	add_lapic(&t, 0, 1);
	table_end(&t);
	t.b[t.len - 1] ^= 0x40;
	KEXPECT_EQ(acpi_check_table(t.b, sizeof(t.b), "APIC", err, sizeof(err)), -EINVAL);
	KEXPECT_TRUE(starts_with(err, "APIC: checksum is wrong"));
}

KTEST(smp, table_longer_than_what_is_mapped_is_refused)
{
	struct table t;
	char err[160] = "";

	madt_begin(&t);
	add_lapic(&t, 0, 1);
	table_end(&t);
	KEXPECT_EQ(acpi_check_table(t.b, t.len - 1, "APIC", err, sizeof(err)), -EINVAL);
	KEXPECT_TRUE(starts_with(err, "APIC: length 52 is outside"));
	KEXPECT_EQ(acpi_check_table(t.b, t.len, "XSDT", err, sizeof(err)), -EINVAL);
	KEXPECT_TRUE(starts_with(err, "expected signature XSDT"));
}

/* Malformed entries: each is refused with the reason, and parsing ends. */
KTEST(smp, malformed_madt_entries_are_refused_with_the_reason)
{
	static const struct {
		uint8_t entry[4];
		const char *reason;
	} rows[] = {
		{ { 0, 0 }, "MADT: entry type 0 at offset 52 has length 0" },
		{ { 0, 1 }, "MADT: entry type 0 at offset 52 has length 1" },
		{ { 0, 40 }, "MADT: entry type 0 at offset 52 has length 40, 4 bytes left" },
		{ { 9, 4 }, "MADT: x2APIC entry at offset 52 has length 4" },
		{ { 0, 4 }, "MADT: local APIC entry at offset 52 has length 4" },
	};
	static struct acpi_cpus cpus;

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct table t;
		char err[160] = "";

		madt_begin(&t);
		add_lapic(&t, 0, 1);
		add_bytes(&t, rows[i].entry, sizeof(rows[i].entry));
		table_end(&t);
		KEXPECT_EQ(acpi_parse_madt(t.b, t.len, &cpus, err, sizeof(err)), -EINVAL);
		if (!starts_with(err, rows[i].reason))
			ktest_fail(__FILE__, __LINE__, "row %zu: expected \"%s\", got \"%s\"", i,
				   rows[i].reason, err);
	}
}

/* An RSDP of `rev` pointing at RSDT 0x1000 and (rev >= 2) XSDT 0x2000. */
static void make_rsdp(uint8_t *r, uint8_t rev)
{
	uint64_t xsdt = 0x2000;

	memset(r, 0, 36);
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "WARDEN", 6);
	r[15] = rev;
	put32(r + 16, 0x1000);
	put32(r + 20, 36);
	memcpy(r + 24, &xsdt, 8);
	r[8] = (uint8_t)-sum8(r, 20);
	r[32] = (uint8_t)-sum8(r, 36);
}

KTEST(smp, rsdp_revision_2_gives_the_xsdt_and_revision_0_the_rsdt)
{
	uint8_t r[36];
	phys_addr_t root = 0;
	bool xsdt = false;
	char err[160] = "";

	make_rsdp(r, 2);
	KEXPECT_EQ(acpi_parse_rsdp(r, sizeof(r), &root, &xsdt, err, sizeof(err)), 0);
	KEXPECT_TRUE(xsdt);
	KEXPECT_EQ(root, 0x2000);
	make_rsdp(r, 0);
	KEXPECT_EQ(acpi_parse_rsdp(r, 20, &root, &xsdt, err, sizeof(err)), 0);
	KEXPECT_FALSE(xsdt);
	KEXPECT_EQ(root, 0x1000);
}

KTEST(smp, rsdp_with_a_bad_checksum_is_refused_with_the_reason)
{
	uint8_t r[36];
	phys_addr_t root;
	bool xsdt;
	char err[160] = "";

	make_rsdp(r, 2);
	r[16] ^= 1;
	KEXPECT_EQ(acpi_parse_rsdp(r, sizeof(r), &root, &xsdt, err, sizeof(err)), -EINVAL);
	KEXPECT_TRUE(starts_with(err, "RSDP checksum is wrong"));
	make_rsdp(r, 2);
	r[33] ^= 1; /* only the extended checksum covers it */
	KEXPECT_EQ(acpi_parse_rsdp(r, sizeof(r), &root, &xsdt, err, sizeof(err)), -EINVAL);
	KEXPECT_TRUE(starts_with(err, "RSDP revision 2: length 36 or extended checksum"));
}
