/* arch/apic.h - the local APIC, just enough to send this CPU an NMI.
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

#endif
