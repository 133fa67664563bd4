/* kernel/nmi.h - the report of unexpected NMIs (a BMC, a front-panel button, QEMU's
 * monitor `nmi`).
 *
 * Such an NMI is counted by the trap layer (arch/trap.h) and the interrupted code
 * goes on. The NMI handler never prints: it may have interrupted this CPU inside the
 * console (holding its lock, or half-way through a line). The counts are printed
 * here, from ordinary code on the boot CPU, at safe points: after every test suite
 * (kernel/main.c) and before a fatal report ends the run:
 *
 *   # nmi: unexpected NMI on CPU 2 (count 1), APIC ID 2, last at RIP 0xffffffff80201234
 *
 * CPU n: 0 is the boot CPU, n >= 1 the n-th AP of the MADT (kernel/smp.h).
 */
#ifndef KERNEL_NMI_H
#define KERNEL_NMI_H

#include "kernel/types.h"

/* Prints one line for every CPU whose count grew since its last line; returns how
 * many lines. Not from NMI context; a caller that finds another CPU printing them
 * returns 0 (that one prints them). */
int nmi_report_pending(void);
/* True while some CPU has a count not yet printed. */
bool nmi_pending(void);

#endif
