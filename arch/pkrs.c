/* arch/pkrs.c - the per-CPU PKRS load counters behind arch/pkrs.h. */
#include "arch/pkrs.h"

struct pkrs_count pkrs_counts[PKRS_COUNT_SLOTS];
bool pkrs_count_rdpid;

_Static_assert(sizeof(struct pkrs_count) == 64, "one cache line per CPU slot");

/* CPUID.(EAX=7,ECX=0):ECX bit 22 enumerates RDPID (SDM Vol. 2A, CPUID). The slot is
 * the caller's dense CPU index, not the APIC ID: APIC IDs are sparse and, past 255,
 * not unique in their low 8 bits, and two CPUs sharing a slot would mix counts. */
void pkrs_count_init_cpu(unsigned int slot)
{
	if (slot >= PKRS_COUNT_SLOTS || cpuid(0, 0).eax < 7 || !(cpuid(7, 0).ecx & (1u << 22)))
		return;
	wrmsr(MSR_TSC_AUX, slot);
	pkrs_count_rdpid = true;
}
