/* kernel/panic.h - fatal errors: panic, assertions, the unexpected-trap report. */
#ifndef KERNEL_PANIC_H
#define KERNEL_PANIC_H

#include "kernel/types.h"
#include "arch/trap.h"

/* Prints "PANIC: <message>" and a backtrace, then ends the run as failed through
 * ktest_abort("kernel panic: <message>"). */
__noreturn void panic(const char *fmt, ...) __printf(1, 2);

/* Invariants: ASSERT(x) panics with "function: assertion 'x' failed (file:line)". */
#define ASSERT(x)                                                                          \
	do {                                                                               \
		if (!(x))                                                                  \
			panic("%s: assertion '%s' failed (%s:%d)", __func__, #x, __FILE__, \
			      __LINE__);                                                   \
	} while (0)

/* Prints rip (if nonzero), then the return addresses found by following the RBP
 * chain from rbp; every frame is read through the fault catcher. */
void backtrace(uint64_t rip, uint64_t rbp);

/* The fatal-trap report: vector name, decoded error code, RIP, CR2, CR3, the
 * registers, the backtrace; then the run ends as failed. */
__noreturn void trap_fatal(struct trap_frame *f);

/* Extra lines for a page-fault report (the PKS layer decodes keys and PKRS). */
void panic_set_pf_explainer(void (*fn)(const struct trap_frame *f));

/* The number a report gives a CPU: 0 for the boot CPU (bsp), i + 1 for the i-th AP
 * of the MADT (kernel/smp.h), -1 for an APIC ID that is neither. */
int report_cpu_number(uint32_t apic_id, bool bsp);

/* Decodes a #PF error code into buf: "P W PK" style flags, "none" for 0. */
void pf_error_string(uint64_t err, char *buf, size_t size);

#endif
