/* arch/apic.c - local APIC access for self-NMIs. */
#include "arch/apic.h"
#include "arch/cpu.h"

#define APIC_BASE_ENABLE (1ULL << 11)
#define APIC_BASE_EXTD	 (1ULL << 10)
#define XAPIC_ID	 0x20
#define XAPIC_ICR_LOW	 0x300
#define XAPIC_ICR_HIGH	 0x310
#define X2APIC_MSR_ID	 0x802
#define X2APIC_MSR_ICR	 0x830
#define ICR_DELIVERY_NMI (4u << 8)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_BUSY	 (1u << 12)

static volatile uint32_t *regs;
static bool ready;

phys_addr_t apic_base_pa(void)
{
	return rdmsr(MSR_IA32_APIC_BASE) & 0x000ffffffffff000ULL;
}

bool apic_x2apic_mode(void)
{
	return rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_EXTD;
}

bool apic_init(volatile void *mmio)
{
	if (!(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_ENABLE))
		return false;
	regs = mmio;
	ready = apic_x2apic_mode() || regs;
	return ready;
}

bool apic_ready(void)
{
	return ready;
}

uint32_t apic_id(void)
{
	if (apic_x2apic_mode())
		return (uint32_t)rdmsr(X2APIC_MSR_ID);
	return regs[XAPIC_ID / 4] >> 24;
}

void apic_send_nmi_self(void)
{
	uint32_t low = ICR_DELIVERY_NMI | ICR_LEVEL_ASSERT;

	if (apic_x2apic_mode()) {
		wrmsr(X2APIC_MSR_ICR, ((uint64_t)apic_id() << 32) | low);
		return;
	}
	while (regs[XAPIC_ICR_LOW / 4] & ICR_BUSY)
		cpu_relax();
	regs[XAPIC_ICR_HIGH / 4] = apic_id() << 24;
	regs[XAPIC_ICR_LOW / 4] = low;
}
