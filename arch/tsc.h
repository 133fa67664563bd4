/* arch/tsc.h - the time-stamp counter's rate, and delays measured with it.
 *
 * tsc_init() finds the rate once, from the first source that gives one:
 *   1. CPUID leaf 0x15 (Intel): crystal clock (ECX, Hz) x TSC/crystal ratio
 *      (EBX/EAX) (SDM Vol. 3B, 19.7.3 "Determining the Processor Base Frequency";
 *      the TSC of processors with an invariant TSC runs at this rate)
 *   2. CPUID leaf 0x16 (Intel): processor base frequency (EAX, MHz), which the
 *      invariant TSC matches, used only when 0x15 enumerates the ratio but not the
 *      crystal (e.g. Skylake-SP)
 *   3. PIT channel 2 (the 8254 at 1.193182 MHz), bounded in TSC time: some servers
 *      gate the PIT off, and then this source is skipped after one bounded run
 *      (under 1 s); under a hypervisor the PIT is also measured when CPUID gave a
 *      rate, and the higher rate wins (a guest's TSC may be scaled)
 *   4. none: TSC_KHZ_BOUND is assumed, so every delay can only be longer, never shorter
 * Delays with the TSC never depend on a device answering.
 */
#ifndef ARCH_TSC_H
#define ARCH_TSC_H

#include "kernel/types.h"

#define TSC_KHZ_BOUND 10000000 /* 10 GHz: no TSC is faster, so delays never shrink */

enum tsc_source {
	TSC_SRC_NONE,
	TSC_SRC_CPUID_15,
	TSC_SRC_CPUID_16,
	TSC_SRC_PIT,
};

/* Finds the TSC rate (idempotent; about 30 ms when it measures the PIT, under 1 s when
 * the PIT is gated off). */
void tsc_init(void);
uint64_t tsc_khz(void);
enum tsc_source tsc_source(void);
/* "CPUID 0x15: crystal 25000 kHz x 168/2", "PIT channel 2, ...", ... for the header. */
const char *tsc_source_text(void);

/* TSC kHz from CPUID leaf 0x15's EAX (denominator), EBX (numerator) and ECX
 * (crystal Hz); 0 when a field is 0 (not enumerated). */
uint64_t tsc_khz_from_leaf15(uint32_t eax, uint32_t ebx, uint32_t ecx);

/* TSC ticks in `us` microseconds at the rate found (TSC_KHZ_BOUND before tsc_init). */
uint64_t tsc_us_to_ticks(uint64_t us);
/* Spins for `us` microseconds. */
void tsc_udelay(uint64_t us);
/* Spins until *state >= want (an acquire load; another CPU moves it) or `us`
 * microseconds pass; true when it got there, looked at once more at the bound. */
bool tsc_wait_until(const volatile int *state, int want, uint64_t us);

#endif
