/* tests/host/test_acpi.c - RSDP, table header and MADT parsers on crafted tables. */
#include "kernel/acpi_parse.h"
#include "tests/host/check.h"
#include "tests/host/harness.h"

#include <stdlib.h>
#include <string.h>

static char err[160];

/* An RSDP: revision rev, RSDT rsdt, XSDT xsdt, both checksums right. */
static void make_rsdp(uint8_t *p, uint8_t rev, uint32_t rsdt, uint64_t xsdt)
{
	uint32_t len = 36;

	memset(p, 0, 36);
	memcpy(p, "RSD PTR ", 8);
	memcpy(p + 9, "WARDEN", 6);
	p[15] = rev;
	memcpy(p + 16, &rsdt, 4);
	memcpy(p + 20, &len, 4);
	memcpy(p + 24, &xsdt, 8);
	p[8] = (uint8_t)-check_sum8(p, 20);
	p[32] = (uint8_t)-check_sum8(p, 36);
}

HTEST(acpi, rsdp_revision_0_gives_the_rsdt)
{
	uint8_t p[36];
	phys_addr_t root = 0;
	bool xsdt = true;

	make_rsdp(p, 0, 0x7ffe1234, 0);
	EXPECT_EQ(acpi_parse_rsdp(p, 20, &root, &xsdt, err, sizeof(err)), 0);
	EXPECT_EQ(root, 0x7ffe1234);
	EXPECT_TRUE(!xsdt);
}

HTEST(acpi, rsdp_revision_2_gives_the_xsdt)
{
	uint8_t p[36];
	phys_addr_t root = 0;
	bool xsdt = false;

	make_rsdp(p, 2, 0x7ffe1234, 0x123456789000);
	EXPECT_EQ(acpi_parse_rsdp(p, 36, &root, &xsdt, err, sizeof(err)), 0);
	EXPECT_EQ(root, 0x123456789000);
	EXPECT_TRUE(xsdt);
	/* Only the first 20 bytes given (an ACPI 1.0 tag): the RSDT. */
	EXPECT_EQ(acpi_parse_rsdp(p, 20, &root, &xsdt, err, sizeof(err)), 0);
	EXPECT_TRUE(!xsdt && root == 0x7ffe1234);
}

HTEST(acpi, rsdp_revision_2_without_xsdt_falls_back_to_the_rsdt)
{
	uint8_t p[36];
	phys_addr_t root = 0;
	bool xsdt = true;

	make_rsdp(p, 2, 0x1000, 0);
	EXPECT_EQ(acpi_parse_rsdp(p, 36, &root, &xsdt, err, sizeof(err)), 0);
	EXPECT_TRUE(!xsdt && root == 0x1000);
}

HTEST(acpi, rsdp_rejects_a_wrong_checksum_signature_or_length)
{
	uint8_t p[36];
	phys_addr_t root;
	bool xsdt;

	make_rsdp(p, 0, 0x1000, 0);
	p[19] ^= 1;
	EXPECT_EQ(acpi_parse_rsdp(p, 20, &root, &xsdt, err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "RSDP checksum is wrong");
	make_rsdp(p, 2, 0x1000, 0x2000);
	p[35] ^= 1; /* the extended checksum only */
	EXPECT_EQ(acpi_parse_rsdp(p, 36, &root, &xsdt, err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "extended checksum is wrong");
	make_rsdp(p, 0, 0x1000, 0);
	p[0] = 'r';
	EXPECT_EQ(acpi_parse_rsdp(p, 20, &root, &xsdt, err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "no RSDP signature");
	EXPECT_EQ(acpi_parse_rsdp(p, 19, &root, &xsdt, err, sizeof(err)), -EINVAL);
}

HTEST(acpi, rsdp_rejects_a_length_field_below_36_and_a_zero_rsdt)
{
	uint8_t p[36];
	phys_addr_t root;
	bool xsdt;

	make_rsdp(p, 2, 0x1000, 0x2000);
	p[20] = 20;
	p[32] = 0;
	p[32] = (uint8_t)-check_sum8(p, 36);
	EXPECT_EQ(acpi_parse_rsdp(p, 36, &root, &xsdt, err, sizeof(err)), -EINVAL);
	make_rsdp(p, 0, 0, 0);
	EXPECT_EQ(acpi_parse_rsdp(p, 20, &root, &xsdt, err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "no RSDT address");
}

/* A table of len bytes (malloc'd, exactly len): signature, Length, checksum, body. */
static uint8_t *make_table(const char *sig, uint32_t len, const uint8_t *body, size_t body_len)
{
	uint8_t *t = calloc(1, len);

	memcpy(t, sig, 4);
	memcpy(t + 4, &len, 4);
	t[8] = 1;
	memcpy(t + 10, "WARDEN", 6);
	if (body_len)
		memcpy(t + 36, body, body_len);
	t[9] = (uint8_t)-check_sum8(t, len);
	return t;
}

HTEST(acpi, table_check_takes_a_good_table)
{
	uint8_t *t = make_table("XSDT", 52, NULL, 0);

	EXPECT_EQ(acpi_check_table(t, 52, "XSDT", err, sizeof(err)), 0);
	EXPECT_EQ(acpi_check_table(t, 52, "RSDT", err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "expected signature RSDT, found \"XSDT\"");
	free(t);
}

HTEST(acpi, table_check_rejects_bad_lengths_and_checksums)
{
	uint8_t *t = make_table("APIC", 44, NULL, 0);

	EXPECT_EQ(acpi_check_table(t, 43, "APIC", err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "length 44 is outside 36..43");
	EXPECT_EQ(acpi_check_table(t, 35, "APIC", err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "shorter than a table header");
	t[40] ^= 0x10;
	EXPECT_EQ(acpi_check_table(t, 44, "APIC", err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "checksum is wrong (44 bytes sum to 0x10)");
	t[40] ^= 0x10;
	t[4] = 20; /* Length below the header */
	EXPECT_EQ(acpi_check_table(t, 44, "APIC", err, sizeof(err)), -EINVAL);
	free(t);
}

/* MADT body builder: local APIC address, flags, then entries. */
struct madt {
	uint8_t b[20000];
	uint32_t len;
};

static void madt_init(struct madt *m)
{
	memset(m->b, 0, sizeof(m->b));
	m->b[0] = 0x00; /* local APIC address 0xfee00000 */
	m->b[3] = 0xfe;
	m->b[2] = 0xe0;
	m->len = 8;
}

static void madt_lapic(struct madt *m, uint8_t id, uint32_t flags)
{
	uint8_t *e = m->b + m->len;

	e[0] = 0;
	e[1] = 8;
	e[2] = id; /* processor UID */
	e[3] = id;
	memcpy(e + 4, &flags, 4);
	m->len += 8;
}

static void madt_x2apic(struct madt *m, uint32_t id, uint32_t flags)
{
	uint8_t *e = m->b + m->len;

	e[0] = 9;
	e[1] = 16;
	memcpy(e + 4, &id, 4);
	memcpy(e + 8, &flags, 4);
	memcpy(e + 12, &id, 4);
	m->len += 16;
}

static void madt_raw(struct madt *m, const uint8_t *e, size_t n)
{
	memcpy(m->b + m->len, e, n);
	m->len += (uint32_t)n;
}

/* Parses m as a whole checked table; checks the CPU list on success. */
static int parse_madt(const struct madt *m, struct acpi_cpus *c)
{
	uint32_t len = 36 + m->len;
	uint8_t *t = make_table("APIC", len, m->b, m->len);
	int rc = acpi_check_table(t, len, "APIC", err, sizeof(err));
	const char *broken;

	if (!rc)
		rc = acpi_parse_madt(t, len, c, err, sizeof(err));
	broken = rc ? check_err(err, sizeof(err)) : check_cpus(c);
	if (broken)
		htest_fail(__FILE__, __LINE__, "MADT result: %s", broken);
	free(t);
	return rc;
}

static struct madt mt;
static struct acpi_cpus cpus;

HTEST(acpi, madt_lists_enabled_local_apics_and_x2apics_in_order)
{
	static const uint8_t ioapic[12] = { 1, 12, 0, 0, 0, 0, 0xc0, 0xfe };

	madt_init(&mt);
	madt_lapic(&mt, 0, 1);
	madt_raw(&mt, ioapic, sizeof(ioapic));
	madt_lapic(&mt, 2, 1);
	madt_x2apic(&mt, 0x100, 1);
	madt_x2apic(&mt, 7, 1);
	ASSERT_TRUE(parse_madt(&mt, &cpus) == 0);
	EXPECT_EQ(cpus.nr, 4);
	EXPECT_TRUE(cpus.apic_id[0] == 0 && cpus.apic_id[1] == 2);
	EXPECT_TRUE(cpus.apic_id[2] == 0x100 && cpus.apic_id[3] == 7);
	EXPECT_EQ(cpus.nr_disabled, 0);
}

HTEST(acpi, madt_counts_disabled_cpus_and_skips_absent_ids)
{
	madt_init(&mt);
	madt_lapic(&mt, 0, 1);
	madt_lapic(&mt, 1, 0);		 /* disabled */
	madt_lapic(&mt, 2, 2);		 /* online-capable but not enabled */
	madt_x2apic(&mt, 300, 0);	 /* disabled */
	madt_lapic(&mt, 0xff, 1);	 /* no such processor */
	madt_x2apic(&mt, 0xffffffff, 1); /* no such processor */
	madt_lapic(&mt, 0, 1);		 /* the same CPU again */
	ASSERT_TRUE(parse_madt(&mt, &cpus) == 0);
	EXPECT_EQ(cpus.nr, 1);
	EXPECT_EQ(cpus.nr_disabled, 3);
}

HTEST(acpi, madt_rejects_truncated_and_short_entries)
{
	static const uint8_t zero_len[2] = { 1, 0 };
	static const uint8_t short_lapic[6] = { 0, 6, 1, 1, 1, 0 };
	static const uint8_t short_x2apic[12] = { 9, 12 };

	madt_init(&mt);
	madt_lapic(&mt, 0, 1);
	madt_lapic(&mt, 1, 1);
	mt.len -= 3; /* the last entry runs past the table */
	EXPECT_EQ(parse_madt(&mt, &cpus), -EINVAL);
	EXPECT_HAS(err, "has length 8, 5 bytes left");
	madt_init(&mt);
	madt_raw(&mt, zero_len, sizeof(zero_len));
	EXPECT_EQ(parse_madt(&mt, &cpus), -EINVAL);
	madt_init(&mt);
	madt_raw(&mt, short_lapic, sizeof(short_lapic));
	EXPECT_EQ(parse_madt(&mt, &cpus), -EINVAL);
	EXPECT_HAS(err, "local APIC entry at offset 44 has length 6");
	madt_init(&mt);
	madt_raw(&mt, short_x2apic, sizeof(short_x2apic));
	EXPECT_EQ(parse_madt(&mt, &cpus), -EINVAL);
	EXPECT_HAS(err, "x2APIC entry at offset 44 has length 12");
	madt_init(&mt);
	madt_lapic(&mt, 0, 1);
	mt.len += 1; /* one stray byte */
	EXPECT_EQ(parse_madt(&mt, &cpus), -EINVAL);
	EXPECT_HAS(err, "a stray byte at offset 52");
}

HTEST(acpi, madt_without_an_enabled_cpu_is_an_error)
{
	madt_init(&mt);
	EXPECT_EQ(parse_madt(&mt, &cpus), -EINVAL);
	EXPECT_HAS(err, "no enabled processor");
	madt_lapic(&mt, 0, 0);
	EXPECT_EQ(parse_madt(&mt, &cpus), -EINVAL);
}

HTEST(acpi, madt_keeps_acpi_max_cpus_and_counts_the_rest)
{
	madt_init(&mt);
	for (uint32_t i = 0; i < ACPI_MAX_CPUS + 5; i++)
		madt_x2apic(&mt, i, 1);
	ASSERT_TRUE(mt.len < sizeof(mt.b));
	ASSERT_TRUE(parse_madt(&mt, &cpus) == 0);
	EXPECT_EQ(cpus.nr, ACPI_MAX_CPUS);
	EXPECT_EQ(cpus.nr_dropped, 5);
}

HTEST(acpi, madt_reads_no_further_than_the_shorter_of_length_and_buffer)
{
	uint8_t *t;

	madt_init(&mt);
	madt_lapic(&mt, 0, 1);
	madt_lapic(&mt, 1, 1);
	t = make_table("APIC", 36 + mt.len, mt.b, mt.len);
	/* A buffer 8 bytes short: the second entry is not there. */
	EXPECT_EQ(acpi_parse_madt(t, 36 + mt.len - 8, &cpus, err, sizeof(err)), 0);
	EXPECT_EQ(cpus.nr, 1);
	/* A Length field 8 bytes short: the same. */
	t[4] -= 8;
	EXPECT_EQ(acpi_parse_madt(t, 36 + mt.len, &cpus, err, sizeof(err)), 0);
	EXPECT_EQ(cpus.nr, 1);
	EXPECT_EQ(acpi_parse_madt(t, 7, &cpus, err, sizeof(err)), -EINVAL);
	free(t);
}

HTEST(acpi, format_ids_merges_runs_and_truncates)
{
	static struct acpi_cpus c = { .nr = 7, .apic_id = { 0, 1, 2, 3, 8, 10, 11 } };
	char buf[64], small[8];

	acpi_format_ids(&c, buf, sizeof(buf));
	EXPECT_TRUE(strcmp(buf, "0-3,8,10-11") == 0);
	acpi_format_ids(&c, small, sizeof(small));
	EXPECT_TRUE(strcmp(small, "0-3,...") == 0);
}

/* An SPCR of len bytes: revision rev, a 16550 at I/O port 0x3f8 (8-bit), baud code 7,
 * UART clock 1.8432 MHz, precise rate `precise` (revision 4 only, when len >= 84). */
static uint8_t *make_spcr(uint8_t rev, uint32_t len, uint32_t precise)
{
	uint8_t body[64] = { 0 };
	uint64_t port = 0x3f8;
	uint32_t clock = 1843200;
	uint8_t *t;

	body[40 - 36] = 1; /* GAS: system I/O */
	body[41 - 36] = 8;
	memcpy(body + 44 - 36, &port, 8);
	body[58 - 36] = 7;
	memcpy(body + 76 - 36, &clock, 4);
	if (len >= 84)
		memcpy(body + 80 - 36, &precise, 4);
	t = make_table("SPCR", len, body, len - 36 < sizeof(body) ? len - 36 : sizeof(body));
	t[8] = rev;
	t[9] = 0;
	t[9] = (uint8_t)-check_sum8(t, len);
	return t;
}

HTEST(acpi, spcr_revision_2_gives_the_port_and_the_baud_code)
{
	uint8_t *t = make_spcr(2, 80, 0);
	struct acpi_spcr s;

	EXPECT_EQ(acpi_check_table(t, 80, "SPCR", err, sizeof(err)), 0);
	ASSERT_TRUE(acpi_parse_spcr(t, 80, &s, err, sizeof(err)) == 0);
	EXPECT_TRUE(s.revision == 2 && s.interface_type == 0);
	EXPECT_TRUE(s.space_id == 1 && s.bit_width == 8 && s.address == 0x3f8);
	EXPECT_TRUE(s.baud_code == 7 && s.baud == 115200);
	EXPECT_EQ(s.uart_clock, 0); /* only from revision 3 */
	free(t);
}

HTEST(acpi, spcr_revision_4_precise_rate_wins_over_the_code)
{
	uint8_t *t = make_spcr(4, 88, 1500000);
	struct acpi_spcr s;

	ASSERT_TRUE(acpi_parse_spcr(t, 88, &s, err, sizeof(err)) == 0);
	EXPECT_EQ(s.baud, 1500000);
	EXPECT_EQ(s.uart_clock, 1843200);
	free(t);
	t = make_spcr(4, 80, 0); /* revision 4 without the field: the code */
	ASSERT_TRUE(acpi_parse_spcr(t, 80, &s, err, sizeof(err)) == 0);
	EXPECT_EQ(s.baud, 115200);
	free(t);
}

HTEST(acpi, spcr_rejects_a_table_shorter_than_80_bytes)
{
	uint8_t *t = make_spcr(2, 80, 0);
	struct acpi_spcr s;

	EXPECT_EQ(acpi_parse_spcr(t, 79, &s, err, sizeof(err)), -EINVAL);
	EXPECT_HAS(err, "SPCR: length 79, shorter than 80 bytes");
	t[4] = 60; /* Length field below 80 */
	EXPECT_EQ(acpi_parse_spcr(t, 80, &s, err, sizeof(err)), -EINVAL);
	EXPECT_EQ(acpi_parse_spcr(t, 7, &s, err, sizeof(err)), -EINVAL);
	free(t);
}
