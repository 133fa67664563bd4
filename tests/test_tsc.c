/* tests/test_tsc.c - the TSC rate: which source was used, and that it is sane. */
#include "kernel/ktest.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

KTEST_SUITE(06, tsc, NULL);

KTEST(tsc, leaf15_rate_is_crystal_times_ratio)
{
	KEXPECT_EQ(tsc_khz_from_leaf15(2, 168, 25000000), 2100000); /* 25 MHz x 84 */
	KEXPECT_EQ(tsc_khz_from_leaf15(1, 76, 25000000), 1900000);
	KEXPECT_EQ(tsc_khz_from_leaf15(0, 168, 25000000), 0); /* ratio not enumerated */
	KEXPECT_EQ(tsc_khz_from_leaf15(2, 0, 25000000), 0);
	KEXPECT_EQ(tsc_khz_from_leaf15(2, 168, 0), 0); /* crystal not enumerated */
	/* 64-bit product: a 2^32 Hz-class crystal times a large ratio does not wrap. */
	KEXPECT_EQ(tsc_khz_from_leaf15(1, 1000, 4000000000u), 4000000000ULL);
}

/* The rate CPUID promises on this CPU (0 if none), by the rules of arch/tsc.h. */
static uint64_t cpuid_rate(enum tsc_source *src)
{
	uint32_t max = cpuid(0, 0).eax;
	struct cpuid_regs r15, r16 = { 0 };

	if (strcmp(cpu.vendor, "GenuineIntel") != 0 || max < 0x15)
		return 0;
	r15 = cpuid(0x15, 0);
	*src = TSC_SRC_CPUID_15;
	if (tsc_khz_from_leaf15(r15.eax, r15.ebx, r15.ecx))
		return tsc_khz_from_leaf15(r15.eax, r15.ebx, r15.ecx);
	if (max >= 0x16)
		r16 = cpuid(0x16, 0);
	*src = TSC_SRC_CPUID_16;
	return r15.eax && r15.ebx ? (uint64_t)(r16.eax & 0xffff) * 1000 : 0;
}

/* CPUID decides when it gives a rate (on bare metal the PIT is never used then;
 * under a hypervisor the PIT may only raise it); otherwise the PIT measured it. */
KTEST(tsc, source_is_cpuid_whenever_the_cpu_gives_a_rate)
{
	enum tsc_source want = TSC_SRC_NONE;
	uint64_t rate = cpuid_rate(&want);

	ktest_note("source: %s", tsc_source_text());
	if (!rate) {
		KEXPECT_TRUE(tsc_source() == TSC_SRC_PIT || tsc_source() == TSC_SRC_NONE);
	} else if (tsc_source() == TSC_SRC_PIT) {
		KEXPECT_TRUE(cpu.hypervisor);
		KEXPECT_GT(tsc_khz(), rate);
	} else {
		KEXPECT_EQ(tsc_source(), want);
		KEXPECT_EQ(tsc_khz(), rate);
	}
}

KTEST(tsc, rate_is_between_100_mhz_and_the_bound)
{
	KEXPECT_GE(tsc_khz(), 100000);
	KEXPECT_LE(tsc_khz(), TSC_KHZ_BOUND);
}

/* A delay of 2 ms lasts at least its TSC ticks (the loop cannot return early). */
KTEST(tsc, udelay_waits_at_least_its_ticks)
{
	uint64_t start = rdtsc(), took;

	tsc_udelay(2000);
	took = rdtsc() - start;
	KEXPECT_GE(took, tsc_us_to_ticks(2000));
	KEXPECT_EQ(tsc_us_to_ticks(1000), tsc_khz());
}
