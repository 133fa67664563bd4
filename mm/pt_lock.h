/* mm/pt_lock.h - the page-table lock: one CPU at a time changes the kernel's
 * tables, the vmap region list and the guard markers.
 *
 * pt_lock is recursive (a set_memory() split allocates a table, keying a new table
 * cache block calls __set_memory(), ...) and taken with interrupts off, so a timer
 * cannot switch threads while a CPU holds it. It is the first lock of the order in
 * kernel/spinlock.h: the pool, table cache and frame allocator locks, and a round
 * (TLB shootdown), are taken under it, never the other way round. Readers that only
 * walk (pt_lookup, the checker) take no lock: a table is freed only after every
 * CPU flushed its TLB (kernel/smp_ipi.h), and its page stays mapped in the direct
 * map, so a walk that races a change sees the old or the new entry.
 */
#ifndef MM_PT_LOCK_H
#define MM_PT_LOCK_H

#include "kernel/spinlock.h"

extern struct spinlock pt_lock;

/* Takes pt_lock (interrupts off); returns the flags for pt_lock_drop. */
static inline uint64_t pt_lock_take(void)
{
	return spin_lock_irqsave(&pt_lock);
}

static inline void pt_lock_drop(uint64_t flags)
{
	spin_unlock_irqrestore(&pt_lock, flags);
}

#endif
