/* tests/test_smp.c - every CPU of the MADT comes up with PKS enabled (suite smp).
 *
 * The ACPI parsers are checked on synthetic tables (a malformed one is refused with
 * the reason); the bring-up by what each AP recorded about itself while it ran
 * (kernel/smp.h): its CR4, its PKRS, its own GDT/TSS, the trampoline mappings it
 * saw, and the #PF its write to a table page raised.
 */
#include "kernel/acpi.h"
#include "kernel/catch.h"
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/smp.h"
#include "mm/dmap.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

KTEST_SUITE(12, smp, NULL);

/* A failed expectation about one AP names its APIC ID. */
#define AP_EXPECT_EQ(c, a, b)                                                    \
	do {                                                                     \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                 \
		if (a_ != b_)                                                    \
			ktest_fail(__FILE__, __LINE__,                           \
				   "APIC ID %u: expected %s == %s, got "         \
				   "0x%llx and 0x%llx",                          \
				   (c)->apic_id, #a, #b, (unsigned long long)a_, \
				   (unsigned long long)b_);                      \
	} while (0)

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

/* --- the bring-up on this machine ----------------------------------------------- */

#define NEED_APS()                                     \
	do {                                           \
		if (smp_skip_reason())                 \
			KTEST_SKIP(smp_skip_reason()); \
	} while (0)

/* True for an AP that came up (a failed one is reported once, by
 * every_cpu_in_the_madt_came_up; the other cases check the ones that are up). */
static bool ap_up(const struct smp_cpu *c)
{
	return c->state == SMP_UP || c->state == SMP_PARKED;
}

/* Runs the statement for every AP of report r that came up, as `c`. */
#define for_each_up_ap(r, c)                                                      \
	for (const struct smp_cpu *c = (r)->aps; c < (r)->aps + (r)->nr_aps; c++) \
		if (!ap_up(c)) {                                                  \
		} else

static int nr_up_aps(const struct smp_report *r)
{
	int n = 0;

	for (int i = 0; i < r->nr_aps; i++)
		n += ap_up(&r->aps[i]);
	return n;
}

/* As NEED_APS, and the case fails (checking nothing) when no AP came up. */
#define NEED_UP_APS(r)                          \
	do {                                    \
		NEED_APS();                     \
		KASSERT_TRUE(nr_up_aps(r) > 0); \
	} while (0)

KTEST(smp, every_cpu_in_the_madt_came_up)
{
	const struct smp_report *r = smp_report();

	NEED_APS();
	if (r->problem)
		ktest_fail(__FILE__, __LINE__, "no AP was started: %s", r->problem);
	KEXPECT_EQ(r->nr_up, r->nr_cpus);
	KEXPECT_EQ(r->nr_aps + 1, r->nr_cpus);
	for (int i = 0; i < r->nr_aps; i++) {
		const struct smp_cpu *c = &r->aps[i];

		if (c->why)
			ktest_note("APIC ID %u: %s", c->apic_id, c->why);
		AP_EXPECT_EQ(c, c->state >= SMP_UP && c->state != SMP_FAILED, true);
		AP_EXPECT_EQ(c, c->seen_apic_id, c->apic_id);
	}
}

KTEST(smp, every_ap_runs_with_its_own_gdt_and_busy_tss)
{
	const struct smp_report *r = smp_report();

	NEED_UP_APS(r);
	for_each_up_ap (r, c) {
		AP_EXPECT_EQ(c, c->gdtr_base, (uint64_t)c->gdt->gdt);
		AP_EXPECT_EQ(c, c->gdtr_base != r->bsp_gdtr_base, true);
		AP_EXPECT_EQ(c, c->tss_access, 0x8b); /* present, busy 64-bit TSS */
		AP_EXPECT_EQ(c, c->gdt->tss.ist[IST_NMI - 1], c->ist_top[IST_NMI - 1]);
	}
}

KTEST(smp, every_ap_runs_with_the_boot_cpus_paging_mode)
{
	const struct smp_report *r = smp_report();

	NEED_UP_APS(r);
	for (int i = 0; i < r->nr_aps; i++)
		if (ap_up(&r->aps[i]))
			AP_EXPECT_EQ(&r->aps[i], r->aps[i].cr4, r->bsp_cr4);
}

KTEST(smp, cr4_pks_is_set_on_every_ap)
{
	const struct smp_report *r = smp_report();

	NEED_UP_APS(r);
	if (!pks_enabled())
		KTEST_SKIP(pks_unavailable_reason() ?: "PKS not enabled");
	for (int i = 0; i < r->nr_aps; i++)
		if (ap_up(&r->aps[i]))
			AP_EXPECT_EQ(&r->aps[i], r->aps[i].cr4 & CR4_PKS, CR4_PKS);
}

KTEST(smp, every_ap_loads_the_default_pkrs)
{
	const struct smp_report *r = smp_report();

	NEED_UP_APS(r);
	if (!pks_enabled())
		KTEST_SKIP(pks_unavailable_reason() ?: "PKS not enabled");
	for (int i = 0; i < r->nr_aps; i++)
		if (ap_up(&r->aps[i]))
			AP_EXPECT_EQ(&r->aps[i], r->aps[i].pkrs, pks_default());
}

KTEST(smp, every_ap_write_to_a_table_page_faults_with_pk)
{
	const struct smp_report *r = smp_report();

	NEED_UP_APS(r);
	if (!pgprot_enforced())
		KTEST_SKIP(pgprot_unprotected_reason());
	for_each_up_ap (r, c) {
		AP_EXPECT_EQ(c, c->probe.hit, true);
		AP_EXPECT_EQ(c, c->probe.vector, VEC_PF);
		AP_EXPECT_EQ(c, c->probe.error, PF_P | PF_W | PF_PK);
		AP_EXPECT_EQ(c, c->probe.addr, c->probe_va);
		AP_EXPECT_EQ(c, va_to_pa((void *)c->probe_va) & ~(PAGE_SIZE - 1), pt_kernel_root());
	}
}

KTEST(smp, trampoline_was_never_writable_and_executable)
{
	const struct smp_report *r = smp_report();

	NEED_UP_APS(r);
	for_each_up_ap (r, c) {
		AP_EXPECT_EQ(c, c->tramp_leaf & (PTE_P | PTE_W | PTE_NX), PTE_P);
		AP_EXPECT_EQ(c, pt_entry_pa(c->tramp_leaf, PT_LEVEL_PTE), r->tramp_pa);
		AP_EXPECT_EQ(c, c->tramp_alias_leaf & (PTE_P | PTE_W), PTE_P);
	}
}

/* The identity mapping is gone, every table it needed is freed again, and the
 * direct-map alias is writable again. */
static void expect_trampoline_removed(const struct smp_report *r)
{
	int level;
	uint64_t *alias = pt_lookup((uint64_t)pa_to_va(r->tramp_pa), &level);

	KEXPECT_TRUE(pt_lookup(r->tramp_pa, &level) == NULL);
	KEXPECT_TRUE(alias && (*alias & PTE_W));
}

KTEST(smp, trampoline_page_is_unmapped_after_bring_up)
{
	const struct smp_report *r = smp_report();

	NEED_APS();
	expect_trampoline_removed(r);
	for (int l = 0; l < PT_NR_LEVELS; l++)
		KEXPECT_EQ(r->tables_after[l], r->tables_before[l]);
}

KTEST(smp, every_ap_flushed_its_tlb_and_parked)
{
	const struct smp_report *r = smp_report();

	NEED_UP_APS(r);
	for (int i = 0; i < r->nr_aps; i++)
		if (ap_up(&r->aps[i]))
			AP_EXPECT_EQ(&r->aps[i], r->aps[i].state, SMP_PARKED);
}

/* --- APIC mode and IDs ------------------------------------------------------- */

/* CPUID.0BH:EDX as an APIC ID of the mode in use: all 32 bits in x2APIC mode, the
 * low 8 in xAPIC mode (the initial xAPIC ID); ~0 without leaf 0xb. */
static uint32_t expected_id(uint32_t cpuid_id, uint8_t mode)
{
	if (cpuid_id == ~0u)
		return ~0u;
	return mode == APIC_X2APIC ? cpuid_id : cpuid_id & 0xff;
}

/* The highest APIC ID of the MADT. */
static uint32_t top_madt_id(void)
{
	const struct acpi_cpus *cpus = acpi_cpus();
	uint32_t top = 0;

	for (int i = 0; cpus && i < cpus->nr; i++)
		top = MAX(top, cpus->apic_id[i]);
	return top;
}

KTEST(smp, boot_cpu_apic_mode_follows_the_firmware_and_x2apic_option)
{
	const struct smp_report *r = smp_report();
	bool can = apic_x2apic_supported(), want = cmdline_is("x2apic", "on");
	uint8_t expect = r->apic_handed_over;

	if (!cmdline_is("x2apic", "off") && !cmdline_is("x2apic", "on"))
		want = top_madt_id() > XAPIC_MAX_ID;
	if (r->apic_handed_over == APIC_XAPIC && want && can)
		expect = APIC_X2APIC;
	KEXPECT_EQ(r->apic_mode, expect);
	KEXPECT_EQ(apic_mode(), r->apic_mode);
	KEXPECT_EQ(apic_handed_over(), r->apic_handed_over);
	KEXPECT_EQ(r->bsp_apic_base & APIC_BASE_BSP, APIC_BASE_BSP);
	if (r->apic_mode == APIC_X2APIC)
		KEXPECT_TRUE(can);
}

KTEST(smp, every_ap_runs_in_the_boot_cpus_apic_mode)
{
	const struct smp_report *r = smp_report();
	uint64_t same = APIC_BASE_ENABLE | APIC_BASE_EXTD | ~0xfffULL;

	NEED_UP_APS(r);
	for_each_up_ap (r, c) {
		if (c->apic_switch_rc)
			ktest_note("APIC ID %u: switching to x2APIC returned %d", c->apic_id,
				   c->apic_switch_rc);
		AP_EXPECT_EQ(c, c->apic_mode, r->apic_mode);
		AP_EXPECT_EQ(c, c->apic_base & same, r->bsp_apic_base & same);
		AP_EXPECT_EQ(c, c->apic_base & APIC_BASE_BSP, 0);
	}
}

KTEST(smp, apic_ids_read_back_on_every_cpu)
{
	const struct smp_report *r = smp_report();
	bool found = false;

	if (!acpi_cpus())
		KTEST_SKIP("no CPU list from ACPI (see the # cpus line)");
	for (int i = 0; i < acpi_cpus()->nr; i++)
		found |= acpi_cpus()->apic_id[i] == apic_id();
	KEXPECT_TRUE(found);
	if (r->bsp_cpuid_apic_id != ~0u)
		KEXPECT_EQ(apic_id(), expected_id(r->bsp_cpuid_apic_id, r->apic_mode));
	if (smp_skip_reason() || !nr_up_aps(r))
		return;
	for_each_up_ap (r, c) {
		AP_EXPECT_EQ(c, c->seen_apic_id, c->apic_id);
		if (c->cpuid_apic_id != ~0u)
			AP_EXPECT_EQ(c, c->seen_apic_id,
				     expected_id(c->cpuid_apic_id, c->apic_mode));
	}
}

/* --- CPUs that do not answer ------------------------------------------------- */

/* An APIC ID the MADT does not list: above its highest, and above 255 in x2APIC
 * mode (a 32-bit destination); 0 when xAPIC mode has none left below 0xff. */
static uint32_t absent_apic_id(void)
{
	uint32_t id = top_madt_id() + 1;

	if (apic_x2apic_mode())
		return MAX(id, 0x100u);
	return id <= XAPIC_MAX_ID ? id : 0;
}

/* Milliseconds since `start` (a TSC value). */
static uint64_t ms_since(uint64_t start)
{
	return (rdtsc() - start) / tsc_khz();
}

KTEST(smp, cpu_that_never_answers_times_out_and_is_reported_failed)
{
	static struct smp_cpu c;
	uint64_t start, ms;

	NEED_APS();
	if (!cpu.hypervisor && !cmdline_is("ktest.wake_absent", "on"))
		KTEST_SKIP("waking an APIC ID the MADT does not list is only done under a "
			   "hypervisor or with ktest.wake_absent=on");
	c = (struct smp_cpu){ .apic_id = absent_apic_id() };
	KASSERT_TRUE(c.apic_id != 0);
	start = rdtsc();
	KEXPECT_EQ(smp_start_cpu(&c, 20), -EIO);
	ms = ms_since(start);
	KEXPECT_EQ(c.state, SMP_FAILED);
	KEXPECT_TRUE(c.no_answer);
	KEXPECT_STREQ(c.why ?: "(none)", "no answer to INIT-SIPI-SIPI");
	/* 10 ms after INIT, the 20 ms wait, 10 ms after the INIT that stops it; the
	 * upper bound leaves room for a slow emulator, not for a second timeout. */
	KEXPECT_GE(ms, 40);
	KEXPECT_LT(ms, 40 + SMP_AP_TIMEOUT_MS);
	KEXPECT_GE(c.waited_ms, 20);
	expect_trampoline_removed(smp_report());
}

KTEST(smp, xapic_mode_refuses_an_apic_id_above_254_without_an_ipi)
{
	static struct smp_cpu c;

	NEED_APS();
	if (apic_x2apic_mode())
		KTEST_SKIP("the boot CPU runs in x2APIC mode: every 32-bit APIC ID is addressable");
	c = (struct smp_cpu){ .apic_id = 0x100 };
	KEXPECT_EQ(smp_start_cpu(&c, 20), -EIO);
	KEXPECT_EQ(c.state, SMP_FAILED);
	KEXPECT_FALSE(c.no_answer);
	KEXPECT_EQ(c.waited_ms, 0);
	KEXPECT_STREQ(c.why ?: "(none)", "its APIC ID needs x2APIC mode");
	expect_trampoline_removed(smp_report());
}

static void read_noncanonical(void *unused)
{
	(void)unused;
	*(volatile uint64_t *)0x8000000000000000ULL;
}

/* Restarts a parked AP so that it hangs inside its probe: it is stopped within the
 * bound, the catcher it left armed is dropped, and it comes up again after. */
KTEST(smp, ap_hung_in_its_probe_is_stopped_and_the_run_goes_on)
{
	const struct smp_report *r = smp_report();
	const void *mark = catch_mark();
	struct smp_cpu *c = NULL;
	struct fault f;
	uint64_t start;

	NEED_UP_APS(r);
	for (int i = r->nr_aps - 1; i >= 0; i--)
		if (r->aps[i].state == SMP_PARKED)
			c = smp_ap(i);
	KASSERT_TRUE(c != NULL);
	c->hang_in_probe = true;
	start = rdtsc();
	KEXPECT_EQ(smp_start_cpu(c, 50), -EIO);
	KEXPECT_LT(ms_since(start), 60 + SMP_AP_TIMEOUT_MS);
	c->hang_in_probe = false;
	KEXPECT_EQ(c->state, SMP_FAILED);
	KEXPECT_STREQ(c->why ?: "(none)", "hung inside its page-table probe");
	KEXPECT_TRUE(catch_mark() == mark);
	KEXPECT_TRUE(catch_run(read_noncanonical, NULL, &f));
	KEXPECT_FAULT(&f, VEC_GP);
	KEXPECT_EQ(smp_start_cpu(c, SMP_AP_TIMEOUT_MS), 0);
	KEXPECT_EQ(c->state, SMP_PARKED);
	KEXPECT_TRUE(c->why == NULL);
}
