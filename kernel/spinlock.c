/* kernel/spinlock.c - the spinlocks behind kernel/spinlock.h. */
#include "kernel/spinlock.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/smp_ipi.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

/* Panics for a waiter on l that saw no hand-over for SPIN_TIMEOUT_MS. */
static __noreturn void stuck(struct spinlock *l, int me, uint32_t ticket, uint32_t serving)
{
	if (l->owner < 0) /* released, but the CPU next in line never took it */
		panic("spin_lock: CPU %d (ticket %u) waited %d ms for %s: released, ticket %u "
		      "not taken by its CPU",
		      me, ticket, SPIN_TIMEOUT_MS, l->name, serving);
	panic("spin_lock: CPU %d waited %d ms for %s held by CPU %d (taken at %p)", me,
	      SPIN_TIMEOUT_MS, l->name, l->owner, l->where);
}

/* Takes a ticket and spins until it is served; panics when the lock does not change
 * hands for SPIN_TIMEOUT_MS (a long queue of short holds is progress, not a hang). */
static void acquire(struct spinlock *l, int me, const void *where)
{
	uint32_t ticket = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED), seen = ticket;
	uint64_t start = 0, limit = 0;

	for (;;) {
		uint32_t serving = __atomic_load_n(&l->serving, __ATOMIC_ACQUIRE);

		if (serving == ticket)
			break;
		if (!start || serving != seen) { /* first spin, or a hand-over */
			if (!start)
				l->contended++;
			start = rdtsc();
			limit = tsc_us_to_ticks(SPIN_TIMEOUT_MS * 1000ULL);
			seen = serving;
		}
		if (rdtsc() - start > limit)
			stuck(l, me, ticket, serving);
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
