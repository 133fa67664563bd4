/* arch/debugreg.h - the debug status register DR6 (SDM Vol. 3B, 18.2.3).
 *
 * The CPU sets DR6.BS when a #DB comes from single-stepping (RFLAGS.TF) and never
 * clears it: the #DB handler that consumed the step clears it. A #DB from INT1, a
 * breakpoint or a watchpoint leaves BS as it was.
 */
#ifndef ARCH_DEBUGREG_H
#define ARCH_DEBUGREG_H

#include "kernel/types.h"

#define DR6_B0	     (1ULL << 0)  /* breakpoint 0 hit */
#define DR6_BS	     (1ULL << 14) /* single step */
#define DR7_L0	     (1ULL << 0)  /* breakpoint 0 enabled; R/W0 = LEN0 = 0: on fetch */
#define RFLAGS_RF_DB (1ULL << 16) /* resume flag: no instruction breakpoint once */

static inline uint64_t read_dr6(void)
{
	uint64_t v;

	__asm__ volatile("mov %%dr6, %0" : "=r"(v));
	return v;
}

static inline void write_dr6(uint64_t v)
{
	__asm__ volatile("mov %0, %%dr6" : : "r"(v));
}

static inline void write_dr7(uint64_t v)
{
	__asm__ volatile("mov %0, %%dr7" : : "r"(v));
}

/* Raises one instruction-breakpoint #DB (DR6.B0, no DR6.BS) on the instruction
 * right after enabling it; the handler must clear DR7 and DR6.B0. */
static inline void debug_breakpoint_here(void)
{
	__asm__ volatile("lea 1f(%%rip), %%rax\n\t"
			 "mov %%rax, %%dr0\n\t"
			 "mov %0, %%rax\n\t"
			 "mov %%rax, %%dr7\n\t"
			 "1: nop"
			 :
			 : "i"(DR7_L0)
			 : "rax", "memory");
}

#endif
