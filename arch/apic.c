/* arch/apic.c - local APIC access: self-NMIs, INIT and STARTUP IPIs. */
#include "arch/apic.h"
#include "arch/cpu.h"

#define APIC_BASE_ENABLE  (1ULL << 11)
#define APIC_BASE_EXTD	  (1ULL << 10)
#define XAPIC_ID	  0x20
#define XAPIC_ICR_LOW	  0x300
#define XAPIC_ICR_HIGH	  0x310
#define X2APIC_MSR_ID	  0x802
#define X2APIC_MSR_ICR	  0x830
#define ICR_DELIVERY_NMI  (4u << 8)
#define ICR_DELIVERY_INIT (5u << 8)
#define ICR_DELIVERY_SIPI (6u << 8)
#define ICR_LEVEL_ASSERT  (1u << 14)
#define ICR_BUSY	  (1u << 12)
#define ICR_IDLE_SPINS	  10000000 /* pause loops before a pending IPI counts as stuck */

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
	if (!regs)
		return cpuid(1, 0).ebx >> 24; /* initial APIC ID (page not mapped) */
	return regs[XAPIC_ID / 4] >> 24;
}

/* Sends the IPI `low` (ICR bits 31:0) to APIC ID `dest` in physical destination
 * mode. 0, -ERANGE (xAPIC: dest above 254; 0xff is the broadcast ID) or -EIO (the
 * xAPIC still shows the IPI pending after ICR_IDLE_SPINS pauses). */
static int send_ipi(uint32_t dest, uint32_t low)
{
	int spins = 0;

	if (!ready)
		return -EIO;
	if (apic_x2apic_mode()) {
		/* WRMSR to the x2APIC ICR is not serializing (SDM Vol. 3A, 10.12.3):
		 * make earlier stores visible before the target can run. */
		__asm__ volatile("mfence; lfence" ::: "memory");
		wrmsr(X2APIC_MSR_ICR, ((uint64_t)dest << 32) | low);
		return 0;
	}
	if (dest >= 0xff || !regs)
		return -ERANGE;
	regs[XAPIC_ICR_HIGH / 4] = dest << 24;
	regs[XAPIC_ICR_LOW / 4] = low;
	while ((regs[XAPIC_ICR_LOW / 4] & ICR_BUSY) && spins++ < ICR_IDLE_SPINS)
		cpu_relax();
	return (regs[XAPIC_ICR_LOW / 4] & ICR_BUSY) ? -EIO : 0;
}

int apic_send_init(uint32_t dest)
{
	return send_ipi(dest, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT);
}

int apic_send_startup(uint32_t dest, uint8_t vector)
{
	return send_ipi(dest, ICR_DELIVERY_SIPI | ICR_LEVEL_ASSERT | vector);
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
