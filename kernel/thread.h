/* kernel/thread.h - kernel threads, each on the CPU it was created for.
 *
 * Every CPU has its own run ring, headed by its own context: thread 0 ("boot") on
 * the boot CPU, "cpuN" (id -N) on AP N, whose idle loop (smp_worker, kernel/smp_ipi.h)
 * runs the AP's threads when it has any and halts otherwise. A thread stays on its
 * CPU for life. Threads switch in thread_yield(), thread_exit() and thread_join(),
 * and a preemptible one also on a timer tick of its CPU (kernel/preempt.h). A CPU's
 * own context exists without any call and cannot exit. Each other thread has its own stack of
 * THREAD_STACK_PAGES: one vmap region named "stack <name>" (mm/vmap.h) whose ends
 * carry guard markers (mm/guard.h), no unmapped holes:
 *
 *   markers x THREAD_GUARD_PAGES | stack, growing down ... | struct thread | marker
 *                                ^ stack_lo         rsp0 ^  ^             ^ stack_hi
 *
 * A stack overflow writes into the low markers: the #PF cannot push its frame on
 * the overflowed stack, the CPU raises #DF on its own IST stack, and the guard
 * layer reports "guard page hit" naming the region (a catch can take it).
 *
 * IA32_PKRS is per thread: a switch saves the outgoing thread's value and loads the
 * incoming one's (free keys forced closed), so a key one thread opens stays closed
 * for all others. A new thread starts with the default PKRS (pks_default()). The
 * saved value lives in page-table-keyed memory, not in the thread's stack.
 * Threads of a CPU run in creation order after the thread that yields. Each ring's
 * links, states and switches are guarded by its own CPU's ring lock, so a tick on
 * one CPU never waits for another CPU's switch; thread_lock (slots, ids, walks over
 * all rings) is never taken by a tick or a switch (kernel/spinlock.h for the order).
 * A thread switched in keeps its CPU for PREEMPT_MIN_TICKS ticks (kernel/preempt.h).
 * A thread that exits is "dead" once its CPU has switched off its stack; only then
 * does thread_join() (from any CPU) free it.
 */
#ifndef KERNEL_THREAD_H
#define KERNEL_THREAD_H

#include "kernel/types.h"

#define THREAD_STACK_PAGES 4
#define THREAD_GUARD_PAGES 4  /* markers below a stack: a big frame cannot jump them */
#define THREAD_MAX	   64 /* live threads, thread 0 included */
#define THREAD_NAME_MAX	   24

struct thread;

/* Boot CPU, once memory management is up: moves its IST stacks (#DF, NMI, #MC)
 * from the image to guarded vmap regions ("ist #DF", ...). Panics without memory. */
void thread_init(void);
/* A new runnable thread on this CPU that will call fn(arg) and then thread_exit().
 * NULL when its stack cannot be allocated or THREAD_MAX threads live. Does not switch. */
struct thread *thread_create(const char *name, void (*fn)(void *), void *arg);
/* The same on CPU cpu (this one, or an online AP, which is woken to run it), with
 * interrupts on and timer preemption when preemptible (a cooperative thread runs
 * with interrupts off: a long wait in it takes rounds, kernel/smp_ipi.h). NULL also
 * when cpu is out of range or neither this CPU nor online. */
struct thread *thread_create_on(int cpu, const char *name, void (*fn)(void *), void *arg,
				bool preemptible);
/* True when this CPU has a runnable thread besides the current one. */
bool thread_runnable_here(void);
/* Runs the next runnable thread, if any, and returns when this one is picked again. */
void thread_yield(void);
/* thread_create(), and the thread runs with interrupts on: a timer tick may switch
 * it out anywhere (kernel/preempt.h). */
struct thread *thread_create_preemptible(const char *name, void (*fn)(void *), void *arg);
struct trap_frame;
/* From the timer handler on any CPU (f: the interrupted state): switches to the
 * next runnable thread when the current one is preemptible and holds no spinlock
 * and no armed catch. True when it switched (and the thread has run again since). */
bool thread_preempt(struct trap_frame *f);
/* Ends the current thread; its stack is freed by thread_join(). Panics in thread 0. */
__noreturn void thread_exit(void);
/* Yields (and takes rounds) until t, of any CPU, is dead: 0, -ETIMEDOUT after
 * timeout_ms (0: no bound) or -EINVAL when t is the current thread. t stays
 * joinable. */
int thread_wait_exit(struct thread *t, uint64_t timeout_ms);
/* Waits until t has exited, then frees its stack; t is invalid afterwards. Panics
 * when t is the current thread or a CPU's own context. */
void thread_join(struct thread *t);

/* The running thread (thread 0 = the boot context). */
struct thread *thread_current(void);
int thread_id(const struct thread *t);
const char *thread_name(const struct thread *t);
/* t's PKRS: the live value for the current thread, else the one saved at its last
 * switch (for a thread running on another CPU: that stale value) (for a thread that never ran: the
 * default it will start with). 0 without PKS. */
uint32_t thread_saved_pkrs(const struct thread *t);
/* The stack's bounds [*lo, *hi) (0, 0 for thread 0, whose stack is the boot stack). */
void thread_stack_bounds(const struct thread *t, uint64_t *lo, uint64_t *hi);
/* Threads created and not yet joined, on all CPUs (the CPUs' own contexts not
 * counted). */
int thread_count(void);
/* A default-PKRS change (kernel/pks.c): sets the bits `mask` to `bits` CPU by CPU,
 * under that CPU's ring lock only: in its threads' saved PKRS (and the interrupted
 * state of one a tick switched out) and, by a PKRS round to that CPU alone, in its
 * live PKRS; so no switch keeps a value from before it, and no global lock is held
 * across a round (each waits for one CPU, bounded: kernel/smp_ipi.h). Callers
 * serialize changes of one key (kernel/pks.c). Any IF state; no lock held. */
void thread_pkrs_update(uint32_t mask, uint32_t bits);

#endif
