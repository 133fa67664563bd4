/* tests/test_smp.c - every CPU of the MADT comes up with PKS enabled (suite smp).
 *
 * The bring-up is checked by what each AP recorded about itself while it ran
 * (kernel/smp.h): its CR4, its PKRS, its APIC mode and ID, its own GDT/TSS, the
 * trampoline mappings it saw, and the #PF its write to a table page raised; and by
 * starting CPUs that do not answer. The ACPI parsers: tests/test_smp_acpi.c.
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
	return c->state == SMP_UP || c->state == SMP_ONLINE;
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

KTEST(smp, every_ap_flushed_its_tlb_and_went_online)
{
	const struct smp_report *r = smp_report();

	NEED_UP_APS(r);
	for (int i = 0; i < r->nr_aps; i++)
		if (ap_up(&r->aps[i]))
			AP_EXPECT_EQ(&r->aps[i], r->aps[i].state, SMP_ONLINE);
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

KTEST(smp, boot_cpu_apic_mode_follows_the_firmware_and_x2apic_option)
{
	const struct smp_report *r = smp_report();
	bool can = apic_x2apic_supported(), want = cmdline_is("x2apic", "on");
	uint8_t expect = r->apic_handed_over;

	if (!cmdline_is("x2apic", "off") && !cmdline_is("x2apic", "on"))
		want = smp_top_madt_id() > XAPIC_MAX_ID;
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
	uint32_t id = smp_top_madt_id() + 1;

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

/* Restarts an online AP so that it hangs inside its probe: it is stopped within the
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
		if (r->aps[i].state == SMP_ONLINE)
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
	KEXPECT_EQ(c->state, SMP_ONLINE);
	KEXPECT_TRUE(c->why == NULL);
}
