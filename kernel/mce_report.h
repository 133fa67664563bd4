/* kernel/mce_report.h - the report of a machine check (#MC, vector 18).
 *
 * A machine check is broadcast to every CPU unless it is local (LMCE), and each one
 * enters the handler on its own #MC IST stack. Every CPU records what it saw (its
 * MCG_STATUS, the interrupted RIP, its banks with MCi_STATUS.VAL); one of them, the
 * reporter, prints all records and ends the run through ktest_abort():
 *
 *   boot CPU                                AP
 *   records, claims the reporter            records, waits up to MCE_WAIT_BOOT_US
 *   waits up to MCE_WAIT_OTHERS_US for        for a reporter; there is one: halts
 *     every CPU that is up (not for LMCE)       for good (an NMI wakes it, the loop
 *   prints every record, Bail out!              halts it again)
 *                                           none came (an #MC only it took): it
 *                                             reports itself
 * The run never resumes after a machine check: MCG_STATUS.MCIP stays set, so a
 * second one shuts the CPU down instead of reusing the IST stack in use (SDM Vol. 3B,
 * 16.3.1.2), and the banks keep their contents for the next boot's header.
 */
#ifndef KERNEL_MCE_REPORT_H
#define KERNEL_MCE_REPORT_H

#include "kernel/types.h"
#include "arch/mce.h"
#include "arch/trap.h"

#define MCE_WAIT_OTHERS_US 100000  /* a broadcast #MC reaches the others by then */
#define MCE_WAIT_BOOT_US   1000000 /* an AP leaves the report to the boot CPU */
#define MCE_CPU_BANKS	   8	   /* banks kept per CPU record */
#define MCE_MAX_CPUS	   16	   /* CPU records kept; more are counted */

/* What one CPU saw when it took the machine check. */
struct mce_cpu_record {
	uint32_t apic_id;
	bool bsp;
	bool done; /* complete (in the shared table) */
	uint64_t mcg_status, rip;
	int nr_banks; /* banks with VAL (more than MCE_CPU_BANKS are counted, not kept) */
	struct mce_bank banks[MCE_CPU_BANKS];
};

/* The #MC handler (trap_fatal() sends vector 18 here): records this CPU, then
 * reports and ends the run, or halts for good while another CPU reports. */
__noreturn void mce_fatal(struct trap_frame *f);

/* Prints one CPU's record: a "MACHINE CHECK on CPU n" line with MCG_STATUS and RIP,
 * then one "machine check: CPU n bank b: ..." line per bank. */
void mce_print_record(const struct mce_cpu_record *r);

#endif
