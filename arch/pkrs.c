/* arch/pkrs.c - the per-CPU PKRS load counters behind arch/pkrs.h. */
#include "arch/pkrs.h"

struct pkrs_count pkrs_counts[PKRS_COUNT_SLOTS];
/* Read-only once sealed (a stray store could make every count read an instruction
 * the CPU lacks: #UD on each window); every CPU finds the boot CPU's answer. */
enum pkrs_slot_read pkrs_count_read __ro_after_init;

_Static_assert(sizeof(struct pkrs_count) == 64, "one cache line per CPU slot");

/* CPUID.(EAX=7,ECX=0):ECX bit 22 enumerates RDPID, CPUID.80000001H:EDX bit 27 RDTSCP
 * (SDM Vol. 2A, CPUID); both read IA32_TSC_AUX. The slot is the caller's dense CPU
 * index, not the APIC ID: APIC IDs are sparse and, past 255, not unique in their low
 * 8 bits, and two CPUs sharing a slot would mix counts. */
void pkrs_count_init_cpu(unsigned int slot)
{
	bool rdpid = cpuid(0, 0).eax >= 7 && (cpuid(7, 0).ecx & (1u << 22));
	bool rdtscp =
		cpuid(0x80000000, 0).eax >= 0x80000001 && (cpuid(0x80000001, 0).edx & (1u << 27));
	enum pkrs_slot_read how = rdpid	   ? PKRS_SLOT_RDPID
				  : rdtscp ? PKRS_SLOT_RDTSCP
					   : PKRS_SLOT_GS; /* the caller's record holds slot */

	if (slot >= PKRS_COUNT_SLOTS)
		return;
	if (how != PKRS_SLOT_GS)
		wrmsr(MSR_TSC_AUX, slot);
	if (pkrs_count_read != how) /* the boot CPU, before the seal */
		pkrs_count_read = how;
}
