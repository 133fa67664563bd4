/* kernel/smp_ipi.h - work for every CPU after bring-up: calls, rounds, and a test
 * case body run on all CPUs at once.
 *
 * Once up, each AP runs smp_worker(): it halts with interrupts on until a call is
 * posted in its mailbox (struct percpu), runs it, and marks it done. The poster
 * sends VEC_SMP_CALL to wake it and waits, bounded, for "done". Between calls the
 * worker is the AP's own thread context (kernel/thread.h): while the AP has runnable
 * threads it yields to them, with its timer ticking when preemption is on, and
 * takes the next call when it is switched back to (a cooperative thread that never
 * yields keeps calls waiting).
 *
 * A round is a change every other online CPU must apply before the sender goes on:
 * a TLB shootdown (a range flushed with INVLPG up to SMP_FLUSH_PAGES_MAX pages, the
 * whole TLB above) or a change of default-PKRS bits (kernel/pks.c). One round runs
 * at a time (round_lock). The sender publishes it, sends VEC_SMP_ROUND to the
 * CPUs online at that moment and waits for each one's acknowledgement in turn, at
 * most SMP_ROUND_TIMEOUT_MS per CPU (so the bound grows with the CPU count, as the
 * sends do); a CPU that does not acknowledge is a broken machine state
 * (a stale translation may live on), so the sender panics naming it. A CPU applies
 * a round in the IPI handler, or, while it spins with interrupts off (a spinlock,
 * a wait below), in smp_poll_rounds(): no sender ever waits on a CPU that waits for
 * it. A PKRS round edits the interrupted context's saved PKRS, which the trap exit
 * loads back (arch/trap.h); so does one polled inside a timer tick (the tick's
 * frame: kernel/preempt.c).
 *
 *   sender (IF off, round_lock)           other online CPU
 *   round published (id + 1)
 *   VEC_SMP_ROUND to each     ---------->  handler or poll: apply, ack = id
 *   waits for every ack (bounded) <------
 */
#ifndef KERNEL_SMP_IPI_H
#define KERNEL_SMP_IPI_H

#include "kernel/types.h"
#include "kernel/percpu.h"

#define VEC_SMP_CALL	     0xf0
#define VEC_SMP_ROUND	     0xf1
#define VEC_SPURIOUS	     0xff
#define SMP_CALL_TIMEOUT_MS  5000
#define SMP_ROUND_TIMEOUT_MS 2000
#define SMP_DRAIN_TIMEOUT_MS 60000ULL /* a call past its bound: until it must be over */
#define SMP_FLUSH_PAGES_MAX  32	      /* INVLPG up to this many pages, else the whole TLB */

enum smp_round_kind {
	SMP_ROUND_TLB,	/* flush [start, end); end = 0: the whole TLB */
	SMP_ROUND_PKRS, /* PKRS = (PKRS & ~mask) | bits */
};

struct smp_round {
	enum smp_round_kind kind;
	uint64_t start, end;
	uint32_t mask, bits;
};

/* The start of the round in flight's range: a word a stray store would aim at to make
 * every other CPU flush nothing (the attack suite, tests/test_redteam_review.c).
 * Changes nothing. */
uint64_t *smp_round_attack_target(void);

/* Boot CPU, before any AP is online: the IPI handlers; record 0 gets its APIC ID. */
void smp_ipi_init(void);
/* This CPU takes calls and rounds from now on (fixed interrupts enabled in its
 * APIC, a whole-TLB flush for the rounds it missed). */
void smp_cpu_online(void);
/* True when CPU i takes calls and rounds (the flag is page-table-keyed with each
 * CPU's last acknowledged round: no stray store drops a CPU from a shootdown). */
bool smp_online(int i);
/* CPU i's acknowledgement word: what a stray store would aim at to make a sender
 * think the CPU flushed (suite redteam). */
uint64_t *smp_ack_attack_target(int i);
/* The word holding the online flags of CPUs 0 to 7 (suite redteam). */
uint64_t *smp_online_attack_target(void);
/* Marks AP i offline (i < 1 or out of range: nothing): it is about to be stopped
 * or restarted (kernel/smp.c). */
void smp_cpu_offline(int i);
/* AP: waits for calls and runs its threads forever, interrupts on between them. */
__noreturn void smp_worker(void);

/* CPUs online now (the boot CPU always counts), and the set of the indices marked
 * online (the APs taking work; bit 0 only when the boot CPU is marked too). */
int smp_nr_online(void);
void smp_online_mask(struct cpumask *m);

/* Posts fn(arg) to CPU i (not this one) and wakes it. 0, -ENODEV (i is not online
 * or is this CPU), -EBUSY (its previous call is not done) or -EIO (IPI not sent). */
int smp_post(int i, void (*fn)(void *), void *arg);
/* Waits at most timeout_ms for CPU i's call to be done, applying rounds meanwhile.
 * 0 or -ETIMEDOUT. */
int smp_wait(int i, uint64_t timeout_ms);
/* smp_wait, but a call that overstays timeout_ms is still waited for (up to
 * SMP_DRAIN_TIMEOUT_MS more; then a panic): its arguments may live in the caller's
 * frame, which must not be reused while the call runs. 0 or -ETIMEDOUT (it
 * overstayed; it is over now either way). */
int smp_wait_drained(int i, uint64_t timeout_ms);
/* Wakes CPU i's idle loop (new threads for it). 0, -ENODEV or -EIO. */
int smp_wake(int i);
/* smp_post + smp_wait_drained(SMP_CALL_TIMEOUT_MS). */
int smp_call(int i, void (*fn)(void *), void *arg);

/* Runs round r on every other online CPU and waits for all of them (panics naming
 * a CPU that did not apply it in SMP_ROUND_TIMEOUT_MS). Does not apply it here.
 * Any IF state; never while holding a lock ordered below round_lock. */
void smp_round(const struct smp_round *r);
/* The same for the online CPUs of the set `cpus` only (NULL: all; the bench
 * figures: the cost of a round with 1, 2, ... other CPUs). */
void smp_round_to(const struct smp_round *r, const struct cpumask *cpus);
/* Applies the round in flight, if this CPU has not yet (for spin loops): a PKRS
 * round to the live PKRS, or inside a tick to the interrupted one. */
void smp_poll_rounds(void);
/* Rounds sent since boot, and the TSC cycles they took in all (from the IPIs to
 * the last acknowledgement), for the bench figures. */
uint64_t smp_rounds_sent(void);
uint64_t smp_round_cycles(void);
/* TLB shootdown rounds this CPU asked for since smp_ipi_init (one per
 * flush_tlb_range, flush_tlb_all or flush_tlb_others call, sent or not: with no
 * other CPU online a round goes nowhere but still counts). Deterministic: tests
 * assert it (mm/pt_flush.h: one round per table operation). */
uint64_t smp_tlb_rounds_here(void);

/* Tests, boot CPU only: runs fn(arg) on every online CPU at once (the boot CPU
 * with interrupts on), waits up to timeout_ms for each (one that overstays still
 * until it returns: smp_wait_drained), then fails the current
 * case once per CPU that failed ("CPU n (APIC ID a): ...") or did not finish.
 * Returns the number of CPUs that ran it. */
int smp_run_everywhere(void (*fn)(void *), void *arg, uint64_t timeout_ms);
/* The same without the reporting: status[i] is 0 (CPU i ran it; its failures are
 * in percpu_of(i)->nr_fail and ->fail), -ETIMEDOUT, or -ENODEV (not online) or
 * another smp_post() error. Returns the number of CPUs that ran it. */
int smp_run_parts(void (*fn)(void *), void *arg, uint64_t timeout_ms, int status[NR_CPUS]);
/* For kernel/ktest.c: inside such a run, records a failure for this CPU and
 * returns true; false otherwise (ktest prints it as usual). */
bool smp_ktest_collect(const char *file, int line, const char *msg);
/* Inside such a run: 1 when this CPU has failed, 0 when not; -1 outside one. */
int smp_ktest_failed_here(void);

#endif
