/* kernel/spinlock.c - the spinlocks behind kernel/spinlock.h. */
#include "kernel/spinlock.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/smp_ipi.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

/* Spins until l is free and claims it; panics after SPIN_TIMEOUT_MS. */
static void acquire(struct spinlock *l, int me)
{
	uint64_t start = 0, limit = 0;
	uint32_t free = 0;

	while (!__atomic_compare_exchange_n(&l->locked, &free, 1, false, __ATOMIC_ACQUIRE,
					    __ATOMIC_RELAXED)) {
		if (!start) {
			start = rdtsc();
			limit = tsc_us_to_ticks(SPIN_TIMEOUT_MS * 1000ULL);
			l->contended++;
		}
		if (rdtsc() - start > limit)
			panic("spin_lock: CPU %d waited %d ms for %s held by CPU %d", me,
			      SPIN_TIMEOUT_MS, l->name, l->owner);
		smp_poll_rounds();
		cpu_relax();
		free = 0;
	}
	l->owner = me;
	l->depth = 1;
}

void spin_lock(struct spinlock *l)
{
	int me = this_cpu_id();

	if (read_rflags() & RFLAGS_IF)
		panic("spin_lock: %s taken with interrupts on by CPU %d", l->name, me);
	if (l->owner == me) {
		if (!l->recursive)
			panic("spin_lock: CPU %d takes %s, which it holds", me, l->name);
		l->depth++;
		return;
	}
	acquire(l, me);
	this_cpu()->locks_held++;
}

void spin_unlock(struct spinlock *l)
{
	int me = this_cpu_id();

	if (l->owner != me)
		panic("spin_unlock: CPU %d releases %s held by CPU %d", me, l->name, l->owner);
	if (read_rflags() & RFLAGS_IF)
		panic("spin_unlock: interrupts came on while CPU %d held %s", me, l->name);
	if (--l->depth)
		return;
	l->owner = -1;
	this_cpu()->locks_held--;
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

uint64_t spin_lock_irqsave(struct spinlock *l)
{
	uint64_t flags = irq_save();

	spin_lock(l);
	return flags;
}

void spin_unlock_irqrestore(struct spinlock *l, uint64_t flags)
{
	spin_unlock(l);
	irq_restore(flags);
}

bool spin_held(const struct spinlock *l)
{
	return l->owner == this_cpu_id();
}
