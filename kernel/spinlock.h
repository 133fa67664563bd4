/* kernel/spinlock.h - spinlocks for data shared by the CPUs, with debug checks.
 *
 * A ticket lock: CPUs get the lock in the order they asked for it, so no CPU
 * starves (an unfair lock does, under QEMU's TCG, where the releasing vCPU takes it
 * straight back). A waiter spins with PAUSE and, while it spins, applies the rounds other CPUs
 * send it (TLB shootdowns, PKRS default changes: kernel/smp_ipi.h), so a holder
 * that waits for this CPU's acknowledgement is never stuck behind it. A wait is
 * bounded per hand-over: when the lock has not changed hands for SPIN_TIMEOUT_MS
 * the waiter panics naming the lock and its holder (or the ticket next in line
 * that was never taken). With N CPUs queued a waiter may wait N holds in all; a
 * bound on the whole wait would fire on a long queue of short holds.
 *
 * Checks (always on; each panics "spin_lock: ..."):
 *   - a CPU takes a lock it holds (allowed only for a lock made recursive);
 *   - spin_lock() with interrupts on (spin_lock_irqsave() is the form for that);
 *   - an unlock by a CPU that does not hold it, or with interrupts turned on
 *     while it was held.
 *
 * Lock order (a CPU holding one may take only those below it):
 *   pt_lock      the page tables and their helpers (recursive; mm/pt_lock.h)
 *   vmap_lock    the vmap region list (mm/vmap.c)
 *   pool_lock    the split pool (mm/pool.c)
 *   ptcache_lock the table cache (mm/ptcache.c)
 *   frame_lock   the frame allocator (mm/frame.c)
 *   thread_lock  the threads' PKRS slots and ids, walks over all rings (kernel/thread.c)
 *   ring_lock[n] CPU n's run ring and its switches; one at a time (kernel/thread.c)
 *   round_lock   one IPI round at a time (kernel/smp_ipi.c)
 *   the console lock (kernel/console.c: its own take-over lock, always last)
 */
#ifndef KERNEL_SPINLOCK_H
#define KERNEL_SPINLOCK_H

#include "kernel/types.h"

#define SPIN_TIMEOUT_MS 5000

struct spinlock {
	volatile uint32_t next, serving; /* tickets: served in the order taken */
	volatile int owner;		 /* CPU index holding it, -1 when free */
	int depth;			 /* nesting on the owner (recursive locks) */
	const void *where;		 /* the owner's call site that took it */
	bool recursive;
	const char *name;
	uint64_t contended; /* acquisitions that had to wait */
};

#define SPINLOCK_INIT(n)                 \
	{                                \
		.owner = -1, .name = (n) \
	}
#define SPINLOCK_INIT_RECURSIVE(n)                          \
	{                                                   \
		.owner = -1, .name = (n), .recursive = true \
	}

/* Takes l; interrupts must be off (checked). Spins at most SPIN_TIMEOUT_MS. */
void spin_lock(struct spinlock *l);
/* Releases l; this CPU holds it and interrupts are still off (checked). */
void spin_unlock(struct spinlock *l);
/* Turns interrupts off, takes l; returns the flags for spin_unlock_irqrestore. */
uint64_t spin_lock_irqsave(struct spinlock *l);
void spin_unlock_irqrestore(struct spinlock *l, uint64_t flags);
/* True when this CPU holds l. */
bool spin_held(const struct spinlock *l);

#endif
