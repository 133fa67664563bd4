/* arch/pkrs.c - the per-CPU PKRS load counters behind arch/pkrs.h. */
#include "arch/pkrs.h"

struct pkrs_count pkrs_counts[PKRS_COUNT_SLOTS];
bool pkrs_count_rdpid;

_Static_assert(sizeof(struct pkrs_count) == 64, "one cache line per CPU slot");

/* The slot is the initial APIC ID, CPUID.01H:EBX[31:24]; CPUID.(EAX=7,ECX=0):ECX
 * bit 22 enumerates RDPID (SDM Vol. 2A, CPUID). */
void pkrs_count_init_cpu(void)
{
	if (cpuid(0, 0).eax < 7 || !(cpuid(7, 0).ecx & (1u << 22)))
		return;
	wrmsr(MSR_TSC_AUX, (cpuid(1, 0).ebx >> 24) % PKRS_COUNT_SLOTS);
	pkrs_count_rdpid = true;
}
