/* arch/apic.h - the local APIC, just enough to send this CPU an NMI and to wake
 * the other CPUs (INIT and STARTUP IPIs).
 * xAPIC (MMIO page at IA32_APIC_BASE) or x2APIC (MSRs), whichever the firmware left
 * enabled (SDM Vol. 3A, 10.4 and 10.12). */
#ifndef ARCH_APIC_H
#define ARCH_APIC_H

#include "kernel/types.h"

#define MSR_IA32_APIC_BASE 0x1b

/* Physical address of the xAPIC register page (IA32_APIC_BASE[51:12]). */
phys_addr_t apic_base_pa(void);
/* True when the APIC is in x2APIC mode (IA32_APIC_BASE.EXTD). */
bool apic_x2apic_mode(void);
/* Records the virtual address the register page is mapped at (uncached); NULL in
 * x2APIC mode. Returns false when the APIC is globally disabled. */
bool apic_init(volatile void *mmio);
bool apic_ready(void);
uint32_t apic_id(void);
/* Sends an NMI to this CPU by its APIC ID (no shorthand: "self" is valid for fixed
 * delivery only, SDM Vol. 3A, table 10-3). */
void apic_send_nmi_self(void);

/* INIT IPI (level assert, edge, physical destination) to APIC ID dest: the target
 * resets into the wait-for-SIPI state. STARTUP IPI: a CPU waiting for SIPI starts in
 * real mode at CS:IP = (vector << 8):0, i.e. physical vector << 12 (SDM Vol. 3A,
 * 10.6.1 "Interrupt Command Register"). Both return 0, -ERANGE (dest cannot be
 * addressed in xAPIC mode) or -EIO (APIC not ready, or the IPI stayed pending). */
int apic_send_init(uint32_t dest);
int apic_send_startup(uint32_t dest, uint8_t vector);

#endif
