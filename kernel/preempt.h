/* kernel/preempt.h - the local APIC timer preempts kernel threads.
 *
 * The boot CPU's APIC timer fires VEC_TIMER every PREEMPT_SLICE_MS (periodic mode,
 * calibrated against the TSC); an AP's runs while the AP has threads to run (its
 * idle loop starts and stops it: preempt_timer_busy). A tick that interrupts a
 * preemptible thread (thread_create_preemptible(), thread_create_on(), kernel/thread.h:
 * it runs with interrupts on) switches to the next runnable thread of that CPU
 * right from the handler, unless the
 * thread holds a spinlock or has a catch armed (both are per CPU), or was switched
 * in fewer than PREEMPT_MIN_TICKS ticks ago: a tick already pending when a thread
 * resumes is no slice (with switches slower than a period, as with many vCPUs on a
 * few host cores, such ticks switched a thread out before it ran at all). The interrupted
 * context stays on the thread's own stack in its trap frame; the trap exit that
 * resumes it loads the PKRS saved in that frame, and a frame interrupted inside a
 * write window is the only one that gets the window back (arch/trap_pkrs.h), so the
 * next thread never inherits it. Threads made with thread_create() stay cooperative.
 * preempt=off: no timer runs, nothing is preempted.
 */
#ifndef KERNEL_PREEMPT_H
#define KERNEL_PREEMPT_H

#include "kernel/types.h"

#define VEC_TIMER	  0xef
#define PREEMPT_SLICE_MS  2
#define PREEMPT_MIN_TICKS 2 /* a thread switched in keeps the CPU this many ticks */

/* Boot CPU, after smp_init(): the handler, the calibration, the timer (unless
 * preempt=off or no APIC). */
void preempt_init(void);
/* NULL when ticks preempt threads, else why not ("preempt=off", no APIC). */
const char *preempt_off_reason(void);
/* Threads switched out by a tick since boot. */
uint64_t preempt_switches(void);
/* Starts (or stops) this CPU's timer with the calibrated slice: for tests that
 * take ticks on every CPU. 0 or -EINVAL (not calibrated). */
int preempt_timer_start_here(void);
void preempt_timer_stop_here(void);
/* An AP's idle loop: starts this CPU's timer when busy (it has threads to run) and
 * preemption is on, stops it when idle; the boot CPU's keeps running. */
void preempt_timer_busy(bool busy);

#endif
