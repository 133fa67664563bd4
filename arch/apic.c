/* arch/apic.c - local APIC access in xAPIC and x2APIC mode: self-NMIs, INIT and
 * STARTUP IPIs. */
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

#define XAPIC_ID	  0x20
#define XAPIC_ICR_LOW	  0x300
#define XAPIC_ICR_HIGH	  0x310
#define X2APIC_MSR_ID	  0x802
#define X2APIC_MSR_ICR	  0x830
#define ICR_DELIVERY_NMI  (4u << 8)
#define ICR_DELIVERY_INIT (5u << 8)
#define ICR_DELIVERY_SIPI (6u << 8)
#define ICR_LEVEL_ASSERT  (1u << 14)
#define ICR_BUSY	  (1u << 12) /* xAPIC delivery status: send pending */

static volatile uint32_t *regs;
static bool enabled;
static enum apic_mode handed_over;

phys_addr_t apic_base_pa(void)
{
	return rdmsr(MSR_IA32_APIC_BASE) & 0x000ffffffffff000ULL;
}

enum apic_mode apic_mode(void)
{
	uint64_t base = rdmsr(MSR_IA32_APIC_BASE);

	if (!(base & APIC_BASE_ENABLE))
		return APIC_DISABLED;
	return (base & APIC_BASE_EXTD) ? APIC_X2APIC : APIC_XAPIC;
}

bool apic_x2apic_mode(void)
{
	return rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_EXTD;
}

bool apic_x2apic_supported(void)
{
	return cpuid(1, 0).ecx & (1u << 21);
}

const char *apic_mode_name(enum apic_mode m)
{
	return m == APIC_X2APIC ? "x2APIC" : m == APIC_XAPIC ? "xAPIC" : "disabled";
}

bool apic_init(volatile void *mmio)
{
	handed_over = apic_mode();
	enabled = handed_over != APIC_DISABLED;
	regs = mmio;
	return apic_ready();
}

enum apic_mode apic_handed_over(void)
{
	return handed_over;
}

bool apic_ready(void)
{
	return enabled && (apic_x2apic_mode() || regs);
}

int apic_enable_x2apic(void)
{
	uint64_t base = rdmsr(MSR_IA32_APIC_BASE);

	if (base & APIC_BASE_EXTD)
		return 0;
	if (!apic_x2apic_supported())
		return -ENOTSUP;
	if (!(base & APIC_BASE_ENABLE))
		return -EINVAL;
	wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EXTD);
	return 0;
}

uint32_t apic_id(void)
{
	if (apic_x2apic_mode())
		return (uint32_t)rdmsr(X2APIC_MSR_ID);
	if (!regs)
		return cpuid(1, 0).ebx >> 24; /* initial APIC ID (page not mapped) */
	return regs[XAPIC_ID / 4] >> 24;
}

/* xAPIC: waits, at most APIC_ICR_IDLE_US, until no IPI is pending. 0 or -EIO. */
static int xapic_wait_idle(void)
{
	uint64_t start = rdtsc(), ticks = tsc_us_to_ticks(APIC_ICR_IDLE_US);

	while (regs[XAPIC_ICR_LOW / 4] & ICR_BUSY)
		if (rdtsc() - start > ticks)
			return -EIO;
		else
			cpu_relax();
	return 0;
}

/* Sends the IPI `low` (ICR bits 31:0) to APIC ID `dest` in physical destination
 * mode. 0, -ERANGE (xAPIC: dest above XAPIC_MAX_ID) or -EIO (not ready, or the
 * xAPIC shows an IPI pending for APIC_ICR_IDLE_US before or after). */
static int send_ipi_locked(uint32_t dest, uint32_t low)
{
	if (!apic_ready())
		return -EIO;
	if (apic_x2apic_mode()) {
		/* Not serializing (SDM Vol. 3A, 11.12.3): earlier stores first. */
		__asm__ volatile("mfence; lfence" ::: "memory");
		wrmsr(X2APIC_MSR_ICR, ((uint64_t)dest << 32) | low);
		return 0;
	}
	if (dest > XAPIC_MAX_ID)
		return -ERANGE;
	if (xapic_wait_idle())
		return -EIO;
	regs[XAPIC_ICR_HIGH / 4] = dest << 24;
	regs[XAPIC_ICR_LOW / 4] = low; /* this write sends */
	return xapic_wait_idle();
}

/* send_ipi_locked with interrupts off: an interrupt handler that sends an IPI
 * between the two xAPIC ICR writes would change the destination. */
static int send_ipi(uint32_t dest, uint32_t low)
{
	uint64_t flags = irq_save();
	int rc = send_ipi_locked(dest, low);

	irq_restore(flags);
	return rc;
}

int apic_send_fixed(uint32_t dest, uint8_t vector)
{
	if (vector < 32)
		return -EINVAL;
	return send_ipi(dest, ICR_LEVEL_ASSERT | vector); /* delivery mode 000: fixed */
}

int apic_send_init(uint32_t dest)
{
	return send_ipi(dest, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT);
}

int apic_send_startup(uint32_t dest, uint8_t vector)
{
	return send_ipi(dest, ICR_DELIVERY_SIPI | ICR_LEVEL_ASSERT | vector);
}

int apic_send_nmi_self(void)
{
	return send_ipi(apic_id(), ICR_DELIVERY_NMI | ICR_LEVEL_ASSERT);
}

/* xAPIC offsets and x2APIC MSRs of the registers apic_enable_lint1_nmi() writes. */
#define XAPIC_SVR	 0xf0
#define XAPIC_LVT_LINT1	 0x360
#define X2APIC_MSR_SVR	 0x80f
#define X2APIC_MSR_LINT1 0x835
#define SVR_APIC_ENABLE	 (1u << 8)
#define LVT_DELIVERY_NMI (4u << 8)

int apic_enable_lint1_nmi(void)
{
	if (!apic_ready())
		return -EIO;
	if (apic_x2apic_mode()) {
		wrmsr(X2APIC_MSR_SVR, rdmsr(X2APIC_MSR_SVR) | SVR_APIC_ENABLE);
		wrmsr(X2APIC_MSR_LINT1, LVT_DELIVERY_NMI);
		return 0;
	}
	regs[XAPIC_SVR / 4] |= SVR_APIC_ENABLE;
	regs[XAPIC_LVT_LINT1 / 4] = LVT_DELIVERY_NMI;
	return 0;
}

#define XAPIC_EOI	 0xb0
#define X2APIC_MSR_EOI	 0x80b
#define SVR_SPURIOUS_VEC 0xff

int apic_enable_fixed(void)
{
	if (!apic_ready())
		return -EIO;
	if (apic_x2apic_mode())
		wrmsr(X2APIC_MSR_SVR, SVR_APIC_ENABLE | SVR_SPURIOUS_VEC);
	else
		regs[XAPIC_SVR / 4] = SVR_APIC_ENABLE | SVR_SPURIOUS_VEC;
	return 0;
}

void apic_eoi(void)
{
	if (apic_x2apic_mode())
		wrmsr(X2APIC_MSR_EOI, 0);
	else if (regs)
		regs[XAPIC_EOI / 4] = 0;
}

/* Any register, by its xAPIC offset: the x2APIC MSR is 0x800 + offset / 16
 * (SDM Vol. 3A, 11.12.1.2). */
static void reg_write(uint32_t off, uint32_t v)
{
	if (apic_x2apic_mode())
		wrmsr(0x800 + off / 16, v);
	else if (regs)
		regs[off / 4] = v;
}

static uint32_t reg_read(uint32_t off)
{
	if (apic_x2apic_mode())
		return (uint32_t)rdmsr(0x800 + off / 16);
	return regs ? regs[off / 4] : 0;
}

#define APIC_LVT_TIMER	   0x320
#define APIC_TIMER_INITIAL 0x380
#define APIC_TIMER_CURRENT 0x390
#define APIC_TIMER_DIVIDE  0x3e0
#define LVT_MASKED	   (1u << 16)
#define LVT_TIMER_PERIODIC (1u << 17)
#define DIVIDE_BY_16	   0x3

uint64_t apic_timer_ticks_per_ms(void)
{
	uint32_t left;

	if (!apic_ready())
		return 0;
	reg_write(APIC_TIMER_DIVIDE, DIVIDE_BY_16);
	reg_write(APIC_LVT_TIMER, LVT_MASKED);
	reg_write(APIC_TIMER_INITIAL, 0xffffffffu);
	tsc_udelay(1000);
	left = reg_read(APIC_TIMER_CURRENT);
	reg_write(APIC_TIMER_INITIAL, 0);
	return 0xffffffffu - left;
}

int apic_timer_periodic(uint8_t vector, uint32_t ticks)
{
	if (!apic_ready() || vector < 32 || !ticks)
		return -EINVAL;
	reg_write(APIC_TIMER_DIVIDE, DIVIDE_BY_16);
	reg_write(APIC_LVT_TIMER, LVT_TIMER_PERIODIC | vector);
	reg_write(APIC_TIMER_INITIAL, ticks);
	return 0;
}

void apic_timer_stop(void)
{
	reg_write(APIC_LVT_TIMER, LVT_MASKED);
	reg_write(APIC_TIMER_INITIAL, 0);
}
