/* arch/apic.h - the local APIC, just enough to send this CPU an NMI and to wake
 * the other CPUs (INIT and STARTUP IPIs), in whichever mode it runs.
 *
 * Modes, from IA32_APIC_BASE (SDM Vol. 3A, 11.12.1):
 *   EN (bit 11)  EXTD (bit 10)
 *       0            0          disabled
 *       1            0          xAPIC: registers in the MMIO page at bits 51:12
 *       1            1          x2APIC: registers in MSRs 0x800-0x8ff (CPUID.1:ECX[21])
 * The only way into x2APIC is from xAPIC by setting EXTD; leaving it needs the APIC
 * disabled first (11.12.5). INIT leaves IA32_APIC_BASE alone, RESET returns to
 * xAPIC (11.12.5.1): each CPU switches its own APIC (apic_enable_x2apic()).
 *
 *                        xAPIC                          x2APIC
 *   APIC ID              MMIO 0x20 bits 31:24 (8 bits)  MSR 0x802 (32 bits)
 *   ICR                  MMIO 0x310 (dest 31:24), then  MSR 0x830, one 64-bit
 *                        0x300 (the write sends)        write, dest in 63:32
 *   delivery status      ICR bit 12, polled (bounded)   none (11.12.9)
 *   broadcast ID         0xff                           0xffffffff
 *
 * A WRMSR to the x2APIC ICR is not serializing: earlier stores may not yet be
 * visible when the IPI lands; MFENCE; LFENCE before it orders them (11.12.3).
 * Fixed IPIs carry the SMP calls and rounds (kernel/smp_ipi.h); their handlers end
 * with an EOI (xAPIC MMIO 0xb0, x2APIC MSR 0x80b; SDM Vol. 3A, 11.8.5). SELF IPI
 * (MSR 0x83f) is not used: a self-NMI needs the ICR (SELF IPI carries fixed vectors).
 */
#ifndef ARCH_APIC_H
#define ARCH_APIC_H

#include "kernel/types.h"

#define MSR_IA32_APIC_BASE 0x1b
#define APIC_BASE_BSP	   (1ULL << 8)
#define APIC_BASE_EXTD	   (1ULL << 10)
#define APIC_BASE_ENABLE   (1ULL << 11)
#define APIC_ICR_IDLE_US   20000 /* xAPIC: longest wait for "send pending" to clear */
#define XAPIC_MAX_ID	   0xfe	 /* 0xff is the xAPIC broadcast destination */

enum apic_mode {
	APIC_DISABLED,
	APIC_XAPIC,
	APIC_X2APIC,
};

/* Physical address of the xAPIC register page (IA32_APIC_BASE[51:12]). */
phys_addr_t apic_base_pa(void);
/* This CPU's mode now, from its IA32_APIC_BASE. */
enum apic_mode apic_mode(void);
/* True when this CPU's APIC is in x2APIC mode (IA32_APIC_BASE.EXTD). */
bool apic_x2apic_mode(void);
/* CPUID.1:ECX bit 21: this CPU can run its APIC in x2APIC mode. */
bool apic_x2apic_supported(void);
/* "disabled", "xAPIC", "x2APIC". */
const char *apic_mode_name(enum apic_mode m);

/* Boot CPU: records the mode the firmware left and the virtual address the register
 * page is mapped at (uncached; NULL in x2APIC mode or when it could not be mapped).
 * Returns false when the APIC is globally disabled. */
bool apic_init(volatile void *mmio);
/* The boot CPU's mode as apic_init() found it. */
enum apic_mode apic_handed_over(void);
/* True when IPIs can be sent: enabled, and in x2APIC mode or with the page mapped. */
bool apic_ready(void);

/* Switches this CPU's APIC from xAPIC to x2APIC (one WRMSR setting EXTD). 0 (also
 * when already in x2APIC mode), -ENOTSUP (CPUID.1:ECX[21] clear) or -EINVAL (the
 * APIC is disabled: that transition would #GP). */
int apic_enable_x2apic(void);
/* This CPU's APIC ID: 32 bits in x2APIC mode, 8 in xAPIC mode. */
uint32_t apic_id(void);

/* Sends an NMI to this CPU by its APIC ID (no shorthand: "self" is valid for fixed
 * delivery only, SDM Vol. 3A, table 11-3). 0 or -EIO (APIC not ready, or an
 * earlier xAPIC IPI stayed pending for APIC_ICR_IDLE_US). */
int apic_send_nmi_self(void);

/* INIT IPI (level assert, physical destination) to APIC ID dest: the target resets
 * into the wait-for-SIPI state. STARTUP IPI: a CPU waiting for SIPI starts in real
 * mode at CS:IP = (vector << 8):0, i.e. physical vector << 12 (SDM Vol. 3A, 11.6.1
 * and 9.4.4.1). Both return 0, -ERANGE (dest above XAPIC_MAX_ID in xAPIC mode) or
 * -EIO (APIC not ready, or the IPI stayed pending for APIC_ICR_IDLE_US). */
int apic_send_init(uint32_t dest);
int apic_send_startup(uint32_t dest, uint8_t vector);

/* A fixed-delivery IPI with `vector` (32..255) to APIC ID dest (edge, physical
 * destination). 0, -EINVAL (vector below 32), -ERANGE or -EIO as above. */
int apic_send_fixed(uint32_t dest, uint8_t vector);
/* Software-enables this CPU's APIC (SVR bit 8, spurious vector 0xff) so that it
 * accepts fixed interrupts (SDM Vol. 3A, 11.9). 0 or -EIO (APIC not ready). */
int apic_enable_fixed(void);
/* Signals the end of the fixed interrupt being handled on this CPU. */
void apic_eoi(void);

/* The local APIC timer of this CPU (SDM Vol. 3A, 11.5.4), divided by 16: how many
 * ticks it counts in one millisecond, measured against the TSC (0 when the APIC is
 * not ready); leaves the timer stopped. */
uint64_t apic_timer_ticks_per_ms(void);
/* Starts it in periodic mode: `vector` every `ticks` ticks. 0 or -EINVAL. */
int apic_timer_periodic(uint8_t vector, uint32_t ticks);
/* Masks and stops it. */
void apic_timer_stop(void);

/* Lets this CPU take NMIs from its LINT1 pin (a platform NMI: a BMC, a front-panel
 * button, QEMU's monitor `nmi`): the APIC software-enabled (SVR bit 8) and LVT LINT1
 * set to NMI delivery, unmasked (SDM Vol. 3A, 11.5.1 and 11.9). An INIT leaves both
 * off. 0 or -EIO (APIC not ready). */
int apic_enable_lint1_nmi(void);

#endif
