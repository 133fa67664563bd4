/* arch/tsc.c - the TSC rate behind arch/tsc.h. */
#include "arch/tsc.h"
#include "arch/cpu.h"
#include "arch/io.h"
#include "kernel/printf.h"

#define PIT_HZ	     1193182
#define PIT_CAL_MS   10
#define PIT_CAL_RUNS 3
#define PIT_MIN_KHZ  100000 /* a PIT result under 100 MHz means a broken count */

static uint64_t khz;
static enum tsc_source source;
static char text[128] = "not measured";

uint64_t tsc_khz_from_leaf15(uint32_t eax, uint32_t ebx, uint32_t ecx)
{
	if (!eax || !ebx || !ecx)
		return 0;
	return (uint64_t)ecx * ebx / eax / 1000;
}

/* TSC ticks while PIT channel 2 counts PIT_CAL_MS down in mode 0 (OUT2 rises at
 * terminal count, read in port 0x61 bit 5); 0 when OUT2 has not risen after ten
 * times that at TSC_KHZ_BOUND (firmware may gate the 8254 off). */
static uint64_t pit_tsc_ticks(void)
{
	uint32_t latch = PIT_HZ * PIT_CAL_MS / 1000;
	uint64_t start;

	outb(0x61, (inb(0x61) & ~0x02) | 0x01); /* gate on, speaker off */
	outb(0x43, 0xb0);			/* channel 2, lo/hi byte, mode 0 */
	outb(0x42, latch & 0xff);
	outb(0x42, latch >> 8);
	start = rdtsc();
	while (!(inb(0x61) & 0x20))
		if (rdtsc() - start > 10ULL * PIT_CAL_MS * TSC_KHZ_BOUND)
			return 0;
	return rdtsc() - start;
}

/* kHz from the fastest of PIT_CAL_RUNS PIT runs (a run can only be stretched), or 0.
 * A run that times out (the PIT gated off) ends the measurement: one bound, not three. */
static uint64_t pit_khz(void)
{
	uint64_t best = ~0ULL;

	for (int i = 0; i < PIT_CAL_RUNS; i++) {
		uint64_t t = pit_tsc_ticks();

		if (!t)
			break;
		best = MIN(best, t);
	}
	if (best == ~0ULL || best / PIT_CAL_MS < PIT_MIN_KHZ)
		return 0;
	return best / PIT_CAL_MS;
}

/* Tries CPUID leaves 0x15 and 0x16 of an Intel CPU (SDM Vol. 2A, CPUID; Vol. 3B
 * 19.7.3): 0x15 when it enumerates the crystal, else the 0x16 base frequency, but
 * only when 0x15 enumerates the TSC/crystal ratio (0x16 alone promises no TSC
 * rate). Sets khz, source and text; false when neither applies. */
static bool from_cpuid(void)
{
	uint32_t max = cpuid(0, 0).eax;
	struct cpuid_regs r15 = { 0 }, r16 = { 0 };

	if (strcmp(cpu.vendor, "GenuineIntel") != 0 || max < 0x15)
		return false;
	r15 = cpuid(0x15, 0);
	if ((khz = tsc_khz_from_leaf15(r15.eax, r15.ebx, r15.ecx))) {
		source = TSC_SRC_CPUID_15;
		ksnprintf(text, sizeof(text), "CPUID 0x15: crystal %u kHz x %u/%u", r15.ecx / 1000,
			  r15.ebx, r15.eax);
		return true;
	}
	if (max >= 0x16)
		r16 = cpuid(0x16, 0);
	if (!r15.eax || !r15.ebx || !(r16.eax & 0xffff))
		return false;
	khz = (uint64_t)(r16.eax & 0xffff) * 1000;
	source = TSC_SRC_CPUID_16;
	ksnprintf(text, sizeof(text), "CPUID 0x16: base frequency %u MHz (crystal not enumerated)",
		  r16.eax & 0xffff);
	return true;
}

/* Under a hypervisor CPUID may describe the host while the guest's TSC is scaled:
 * the PIT is measured too and the higher rate wins (delays can only grow). */
static void cross_check_pit(void)
{
	uint64_t pit = pit_khz();

	if (pit > khz + khz / 50) { /* more than 2 % above */
		ksnprintf(text + strlen(text), sizeof(text) - strlen(text),
			  "; PIT measures %llu kHz, used", (unsigned long long)pit);
		khz = pit;
		source = TSC_SRC_PIT;
	}
}

void tsc_init(void)
{
	if (khz)
		return;
	if (from_cpuid()) {
		if (cpu.hypervisor)
			cross_check_pit();
		return;
	}
	khz = pit_khz();
	source = TSC_SRC_PIT;
	ksnprintf(text, sizeof(text), "PIT channel 2, best of %d runs of %d ms", PIT_CAL_RUNS,
		  PIT_CAL_MS);
	if (khz)
		return;
	khz = TSC_KHZ_BOUND;
	source = TSC_SRC_NONE;
	ksnprintf(text, sizeof(text),
		  "no CPUID frequency and no PIT: %u kHz assumed, delays only longer",
		  (unsigned int)TSC_KHZ_BOUND);
}

uint64_t tsc_khz(void)
{
	return khz;
}
enum tsc_source tsc_source(void)
{
	return source;
}
const char *tsc_source_text(void)
{
	return text;
}

uint64_t tsc_us_to_ticks(uint64_t us)
{
	return us * (khz ? khz : TSC_KHZ_BOUND) / 1000;
}

void tsc_udelay(uint64_t us)
{
	uint64_t start = rdtsc(), ticks = tsc_us_to_ticks(us);

	while (rdtsc() - start < ticks)
		cpu_relax();
}

bool tsc_wait_until(const volatile int *state, int want, uint64_t us)
{
	uint64_t start = rdtsc(), ticks = tsc_us_to_ticks(us);

	while (__atomic_load_n(state, __ATOMIC_ACQUIRE) < want)
		if (rdtsc() - start > ticks)
			return __atomic_load_n(state, __ATOMIC_ACQUIRE) >= want;
		else
			cpu_relax();
	return true;
}
