/* tests/test_mce.c - machine checks are enabled on every CPU, and the bank report
 * decodes MCi_STATUS and MCG_STATUS (suite mce).
 *
 * A real machine check cannot be raised from software; the matrix has QEMU inject one
 * through its monitor (`mce`, tests/runner/matrix.cfg) and checks the report and the
 * Bail out!. Here: CR4.MCE and the bank enables as each CPU left them, and the
 * decoder on synthetic register values.
 */
#include "kernel/ktest.h"
#include "kernel/smp.h"
#include "arch/cpu.h"
#include "arch/mce.h"

static const char *mce_skip(void)
{
	return mce_info()->mce ? NULL : "CPU has no machine-check exception (CPUID.1:EDX.MCE=0)";
}

KTEST_SUITE(07, mce, mce_skip);

KTEST(mce, cr4_mce_is_set_on_the_boot_cpu)
{
	KEXPECT_TRUE(read_cr4() & CR4_MCE);
}

KTEST(mce, cr4_mce_is_set_on_every_ap)
{
	const struct smp_report *r = smp_report();
	int checked = 0;

	for (int i = 0; i < r->nr_aps; i++) {
		const struct smp_cpu *c = &r->aps[i];

		if (c->state != SMP_UP && c->state != SMP_ONLINE)
			continue;
		checked++;
		if (!(c->cr4 & CR4_MCE))
			ktest_fail(__FILE__, __LINE__, "APIC ID %u: CR4 0x%llx without MCE",
				   c->apic_id, (unsigned long long)c->cr4);
	}
	if (!checked)
		KTEST_SKIP("no AP is up (boot with SMP=2 or more)");
}

KTEST(mce, every_bank_and_mcg_ctl_report_all_errors)
{
	const struct mce_info *m = mce_info();
	int n = (int)MIN(m->mcg_cap & MCG_CAP_COUNT, (uint64_t)MCE_MAX_BANKS);

	if (!m->mca)
		KTEST_SKIP("CPU has no machine-check architecture (CPUID.1:EDX.MCA=0)");
	KEXPECT_GT(n, 0);
	if (m->mcg_cap & MCG_CAP_CTL_P)
		KEXPECT_EQ(rdmsr(MSR_IA32_MCG_CTL), ~0ULL);
	for (int i = m->ctl_note ? 1 : 0; i < n; i++)
		if (rdmsr(MSR_MCI_CTL(i)) != ~0ULL)
			ktest_fail(__FILE__, __LINE__, "MC%d_CTL is 0x%llx", i,
				   (unsigned long long)rdmsr(MSR_MCI_CTL(i)));
}

/* Synthetic banks and the text the report prints for them. */
static const struct {
	struct mce_bank bank;
	const char *text;
} bank_rows[] = {
	{ { .bank = 1, .status = 0xb200000000000000ULL },
	  "status 0xb200000000000000 (VAL UC EN PCC) MCA code 0x0000 model code 0x0000" },
	{ { .bank = 3, .status = 0x8c00004000010151ULL, .addr = 0x12345000, .misc = 0x86 },
	  "status 0x8c00004000010151 (VAL MISCV ADDRV) MCA code 0x0151 model code 0x0001, "
	  "addr 0x12345000, misc 0x86" },
	{ { .bank = 4, .status = 0x8400000000000800ULL, .addr = 0xdead000, .misc = 0x99 },
	  "status 0x8400000000000800 (VAL ADDRV) MCA code 0x0800 model code 0x0000, "
	  "addr 0xdead000" },
	{ { .bank = 5, .status = 0xf980000000000000ULL, .addr = 0x1, .misc = 0x2 },
	  "status 0xf980000000000000 (VAL OVER UC EN MISCV S AR) MCA code 0x0000 model code "
	  "0x0000, misc 0x2" },
	{ { .bank = 0, .status = 0x0000000000000005ULL },
	  "status 0x0000000000000005 (none) MCA code 0x0005 model code 0x0000" },
};

KTEST(mce, bank_report_decodes_status_and_shows_addr_and_misc_only_when_valid)
{
	char buf[192];

	for (unsigned int i = 0; i < ARRAY_SIZE(bank_rows); i++) {
		mce_format_bank(&bank_rows[i].bank, buf, sizeof(buf));
		KEXPECT_STREQ(buf, bank_rows[i].text);
	}
}

KTEST(mce, mcg_status_decodes_ripv_eipv_mcip)
{
	static const struct {
		uint64_t v;
		const char *text;
	} rows[] = {
		{ 0, "0x0 (none)" },
		{ MCG_STATUS_MCIP | MCG_STATUS_EIPV, "0x6 (MCIP EIPV)" },
		{ MCG_STATUS_MCIP | MCG_STATUS_RIPV, "0x5 (MCIP RIPV)" },
		{ 0xf, "0xf (LMCE_S MCIP EIPV RIPV)" },
	};
	char buf[64];

	for (unsigned int i = 0; i < ARRAY_SIZE(rows); i++) {
		mce_format_mcg_status(rows[i].v, buf, sizeof(buf));
		KEXPECT_STREQ(buf, rows[i].text);
	}
}

KTEST(mce, a_short_buffer_gets_a_terminated_prefix)
{
	char buf[16];

	mce_format_bank(&bank_rows[1].bank, buf, sizeof(buf));
	KEXPECT_STREQ(buf, "status 0x8c0000");
	mce_format_mcg_status(0xf, buf, 8);
	KEXPECT_STREQ(buf, "0xf (LM");
}
