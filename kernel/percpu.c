/* kernel/percpu.c - the per-CPU records behind kernel/percpu.h. */
#include "kernel/percpu.h"
#include "kernel/panic.h"
#include "arch/apic.h"
#include "arch/cpu.h"

static struct percpu records[NR_CPUS];

struct percpu *percpu_of(int i)
{
	/* Invariant: only indices smp_init() can hand out. */
	ASSERT(i >= 0 && i < NR_CPUS);
	return &records[i];
}

void percpu_init_cpu(int i, uint32_t apic_id)
{
	struct percpu *p = percpu_of(i);

	p->self = p;
	p->cpu = i;
	p->apic_id = apic_id;
	p->catch_current = NULL;
	/* A restarted AP: INIT stopped its APIC timer, and it holds nothing. */
	p->timer_on = false;
	p->locks_held = 0;
	p->tick_frame = NULL;
	wrmsr(MSR_GS_BASE, (uint64_t)p);
}

void percpu_init_boot(void)
{
	percpu_init_cpu(0, 0);
}
