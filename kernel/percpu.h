/* kernel/percpu.h - one record per CPU, found through the GS base.
 *
 * Every CPU that runs kernel code has a struct percpu; IA32_GS_BASE (MSR
 * 0xc0000101, SDM Vol. 4, table 2-2) points at it, and its first field points at
 * itself, so this_cpu() is one load from %gs:0. Warden never runs user code, so
 * nothing swaps GS; a load of the GS selector (arch/gdt.c) clears the base, so
 * percpu_init_cpu() runs after the CPU's GDT is loaded.
 *
 *   cpu index   who                        set by
 *   0           the boot CPU               percpu_init_boot() in kmain
 *   1..n        the APs, in MADT order     smp_ap_main (kernel/smp.c)
 *
 * A record is written by its own CPU, except the fields the comments name.
 */
#ifndef KERNEL_PERCPU_H
#define KERNEL_PERCPU_H

#include "kernel/types.h"

#define NR_CPUS                                                                          \
	256 /* CPUs that get a record (a 2-socket server has ~224); more are not started \
	     */
#define MSR_GS_BASE	0xc0000101
#define PERCPU_FAIL_MAX 160

struct percpu {
	struct percpu *self; /* %gs:0 */
	int cpu;	     /* index: 0 = the boot CPU */
	uint32_t apic_id;
	void *catch_current;  /* kernel/catch.c: the innermost armed catch */
	void *thread_current; /* kernel/thread.c: the running thread */
	void *thread_prev;    /* kernel/thread.c: the one the last switch left */
	/* Calls (kernel/smp_ipi.c): written by the caller, then call_req. */
	void (*volatile call_fn)(void *);
	void *volatile call_arg;
	volatile int call_req, call_done; /* done == req: idle */
	/* Rounds applied and the flushes they made (kernel/smp_ipi.c; whether the CPU
	 * takes rounds, and the last it applied, are keyed there). */
	uint64_t rounds_applied, flushes_full, flushes_pages;
	/* A case body run on every CPU (kernel/smp_ipi.h): its failures. */
	bool collecting;
	int nr_fail;
	char fail[PERCPU_FAIL_MAX]; /* the first, "file:line: message" */
	/* Spinlocks held (kernel/spinlock.h). */
	int locks_held;
	uint64_t timer_ticks; /* kernel/preempt.c */
	bool timer_on;	      /* kernel/preempt.c: this CPU's APIC timer runs */
	uint64_t slice_start; /* kernel/thread.c: TSC at the last switch */
	void *tick_frame;     /* kernel/preempt.c: the tick being handled, its trap
			       * frame (a round polled meanwhile edits its PKRS) */
};

/* The record of the CPU this runs on. */
static inline struct percpu *this_cpu(void)
{
	struct percpu *p;

	__asm__ volatile("movq %%gs:0, %0" : "=r"(p));
	return p;
}

/* A set of CPU indices: bit i is CPU i (NR_CPUS bits, so a 224-thread server fits). */
struct cpumask {
	uint64_t w[(NR_CPUS + 63) / 64];
};
static inline void cpumask_set(struct cpumask *m, int i)
{
	m->w[i / 64] |= 1ULL << (i % 64);
}
static inline bool cpumask_test(const struct cpumask *m, int i)
{
	return (m->w[i / 64] >> (i % 64)) & 1;
}
static inline bool cpumask_equal(const struct cpumask *a, const struct cpumask *b)
{
	for (unsigned int k = 0; k < ARRAY_SIZE(a->w); k++)
		if (a->w[k] != b->w[k])
			return false;
	return true;
}

/* This CPU's index (0 = the boot CPU). */
static inline int this_cpu_id(void)
{
	return this_cpu()->cpu;
}

/* The record of CPU i, i < NR_CPUS. */
struct percpu *percpu_of(int i);
/* Boot CPU, right after its GDT is loaded: record 0, GS base. */
void percpu_init_boot(void);
/* Any CPU: its record i (APIC ID apic_id), GS base pointing at it; not online. */
void percpu_init_cpu(int i, uint32_t apic_id);

#endif
