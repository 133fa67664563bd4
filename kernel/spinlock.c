/* kernel/spinlock.c - the spinlocks behind kernel/spinlock.h. */
#include "kernel/spinlock.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/smp_ipi.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

/* Takes a ticket and spins until it is served; panics after SPIN_TIMEOUT_MS. */
static void acquire(struct spinlock *l, int me, const void *where)
{
	uint32_t ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED);
	uint64_t start = 0, limit = 0;

	while (__atomic_load_n(&l->serving, __ATOMIC_ACQUIRE) != ticket) {
		if (!start) {
			start = rdtsc();
			limit = tsc_us_to_ticks(SPIN_TIMEOUT_MS * 1000ULL);
			l->contended++;
		}
		if (rdtsc() - start > limit)
			panic("spin_lock: CPU %d waited %d ms for %s held by CPU %d (taken at %p)",
			      me, SPIN_TIMEOUT_MS, l->name, l->owner, l->where);
		smp_poll_rounds();
		cpu_relax();
	}
	l->owner = me;
	l->depth = 1;
	l->where = where;
}

/* spin_lock for the call site `where`. */
static void lock_at(struct spinlock *l, const void *where)
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
	acquire(l, me, where);
	this_cpu()->locks_held++;
}

void spin_lock(struct spinlock *l)
{
	lock_at(l, __builtin_return_address(0));
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
	__atomic_store_n(&l->serving, l->serving + 1, __ATOMIC_RELEASE);
}

uint64_t spin_lock_irqsave(struct spinlock *l)
{
	uint64_t flags = irq_save();

	lock_at(l, __builtin_return_address(0));
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
