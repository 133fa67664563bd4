/* tests/test_smp_lock_fatal.c - the spinlock debug check ends the run (suite
 * spinlock_fatal, run only when ktest= names it; the matrix boot
 * bios-spinlock-fatal expects the panic): a CPU that takes a lock it already
 * holds would deadlock on real hardware, so the check must name it.
 */
#include "kernel/ktest.h"
#include "kernel/spinlock.h"

KTEST_SUITE_EXPLICIT(14, spinlock_fatal);

static struct spinlock fatal_lock = SPINLOCK_INIT("spinlock_fatal test lock");

KTEST(spinlock_fatal, taking_a_held_lock_again_panics_naming_cpu_and_lock)
{
	uint64_t flags = spin_lock_irqsave(&fatal_lock);

	spin_lock(&fatal_lock); /* must panic: recursion on a non-recursive lock */
	ktest_fail(__FILE__, __LINE__, "spin_lock took a lock this CPU holds");
	spin_unlock(&fatal_lock);
	spin_unlock_irqrestore(&fatal_lock, flags);
}
