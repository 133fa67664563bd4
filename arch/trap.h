/* arch/trap.h - exception/interrupt frames and handler registration.
 *
 * Every vector enters through one assembly path (arch/trap_entry.asm) that pushes the
 * registers, saves the interrupted IA32_PKRS into the frame and loads the default
 * PKRS (so a handler never runs with a page-table write window open), then calls
 * trap_dispatch(). On return it restores the PKRS stored in the frame - a handler
 * may edit frame->pkrs to change what the interrupted code resumes with, except
 * that it cannot open the page-table key (arch/trap_pkrs.h).
 */
#ifndef ARCH_TRAP_H
#define ARCH_TRAP_H

#include "kernel/types.h"

/* Layout fixed by arch/trap_entry.asm (lowest address first). */
struct trap_frame {
	uint64_t pkrs; /* interrupted IA32_PKRS (0 when PKS is not managed) */
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;		   /* error = 0 for vectors without an error code */
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
_Static_assert(sizeof(struct trap_frame) == 23 * 8, "trap_frame layout is fixed by trap_entry.asm");

enum {
	VEC_DE = 0,
	VEC_DB = 1,
	VEC_NMI = 2,
	VEC_BP = 3,
	VEC_OF = 4,
	VEC_BR = 5,
	VEC_UD = 6,
	VEC_NM = 7,
	VEC_DF = 8,
	VEC_TS = 10,
	VEC_NP = 11,
	VEC_SS = 12,
	VEC_GP = 13,
	VEC_PF = 14,
	VEC_MF = 16,
	VEC_AC = 17,
	VEC_MC = 18,
	VEC_XM = 19,
	VEC_VE = 20,
	VEC_CP = 21,
};

/* #PF error code bits (SDM Vol. 3A, 4.7). */
#define PF_P	(1u << 0)
#define PF_W	(1u << 1)
#define PF_U	(1u << 2)
#define PF_RSVD (1u << 3)
#define PF_I	(1u << 4)
#define PF_PK	(1u << 5)
#define PF_SS	(1u << 6)

/* A handler returns true when it dealt with the trap (execution resumes from the
 * possibly edited frame), false to pass it on. An NMI that no handler takes (one a
 * test did not send: a BMC, a front-panel button, QEMU's monitor) is counted per CPU
 * and the interrupted code resumes; any other trap nobody takes is fatal. */
typedef bool (*trap_handler_t)(struct trap_frame *f);

/* Adds h for `vector`; handlers run in registration order. Returns 0 or -ENOSPC. */
int trap_register(unsigned int vector, trap_handler_t h);
/* The first handler tried for every vector (the fault catcher). */
void trap_set_catch_hook(trap_handler_t h);
/* Called for a trap nobody handled; must not return (reports and ends the run). */
void trap_set_fatal_hook(void (*h)(struct trap_frame *f));

/* "#PF page fault", "#GP general protection", ... */
const char *trap_name(unsigned int vector);
bool trap_has_error_code(unsigned int vector);

/* Called by trap_entry.asm. */
void trap_dispatch(struct trap_frame *f);

/* Unexpected NMIs of one CPU. The NMI handler only counts: it never prints, so it
 * cannot wait for a console the interrupted code holds (kernel/nmi.h reports). */
#define TRAP_NMI_CPUS 64
struct trap_nmi_cpu {
	uint32_t apic_id_plus1;	    /* 0: slot free */
	bool bsp;		    /* the boot CPU (IA32_APIC_BASE.BSP) */
	volatile uint32_t count;    /* unexpected NMIs taken by this CPU */
	volatile uint64_t last_rip; /* where the last one interrupted it */
};
/* The TRAP_NMI_CPUS slots, for reading. */
const struct trap_nmi_cpu *trap_nmi_cpus(void);
/* Unexpected NMIs of CPUs beyond the TRAP_NMI_CPUS tracked ones. */
uint32_t trap_nmi_untracked(void);
/* Unexpected NMIs the CPU with this APIC ID took so far. */
uint32_t trap_nmi_count(uint32_t apic_id);

/* Set by the PKS layer once IA32_PKRS exists and is managed; read by trap_entry.asm. */
extern volatile uint8_t trap_pkrs_managed;
/* The PKRS value every trap handler runs with; read by trap_entry.asm. */
extern volatile uint32_t trap_pkrs_default;

/* Boot CPU: fills the IDT (all 256 vectors), loads it and masks the 8259 PICs. */
void idt_init(void);
/* Any other CPU: loads the same IDT (filled by idt_init) into IDTR. Both then
 * enable machine checks on this CPU (arch/mce.h: banks, then CR4.MCE), as vector 18
 * now has its handler. */
void idt_load(void);

#endif
