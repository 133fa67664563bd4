/* kernel/smp_ipi.c - calls, rounds and runs on every CPU behind kernel/smp_ipi.h. */
#include "kernel/smp_ipi.h"
#include "kernel/ktest.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/pks.h"
#include "kernel/preempt.h"
#include "kernel/printf.h"
#include "kernel/spinlock.h"
#include "kernel/thread.h"
#include "mm/pt_door.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"
#include "arch/trap.h"
#include "arch/tsc.h"

static struct spinlock round_lock = SPINLOCK_INIT("round_lock");
/* The round in flight: written under round_lock before `id` moves on, inside a
 * write window (page-table-keyed: its range and kind decide what every other CPU
 * flushes before it acks, and tables and frames are freed once all acked). */
static struct {
	volatile uint64_t id;
	struct smp_round r;
	uint64_t sent, cycles; /* rounds sent, TSC cycles from publish to the last ack */
} round __pt_keyed;

/* Which CPUs take rounds, and the last round each applied: page-table-keyed, written
 * inside a write window. A stray store that marked a CPU offline, or moved its
 * acknowledgement ahead, would let a sender free tables that CPU may still walk
 * through its TLB (it never flushed). Index: the CPU's dense index. */
static struct {
	volatile uint64_t ack[NR_CPUS];
	volatile bool online[NR_CPUS];
} cpu_rounds __pt_keyed;

static const char *const round_names[] = { "TLB shootdown", "PKRS default" };

/* This CPU's index into the keyed arrays. It comes from the plain per-CPU record:
 * bounded, so that a forged one cannot aim a keyed store (made inside a window)
 * outside them. */
static int my_index(void)
{
	int i = this_cpu()->cpu;

	if ((unsigned int)i >= NR_CPUS)
		panic("smp: CPU index %d out of range", i);
	return i;
}

bool smp_online(int i)
{
	return i >= 0 && i < NR_CPUS && __atomic_load_n(&cpu_rounds.online[i], __ATOMIC_ACQUIRE);
}

/* Records that CPU i applied round id (window nested in any open one). Interrupts
 * are off (the caller's): a round taken between the read of its id and this store
 * could otherwise be overwritten by an older id. */
static void set_ack(int i, uint64_t id)
{
	uint32_t w = pt_window_open();

	__atomic_store_n(&cpu_rounds.ack[i], id, __ATOMIC_RELEASE);
	pt_window_close(w);
}

/* Marks this CPU online: acknowledged up to the round published now (an earlier
 * one did not target it), then online, with a full fence so that the caller's flush
 * comes after every sender that missed it had made its change (a sender reads the
 * flags under round_lock, whose locked acquire orders its table stores first). */
static void set_online_here(int i)
{
	uint32_t w = pt_window_open();

	cpu_rounds.ack[i] = __atomic_load_n(&round.id, __ATOMIC_ACQUIRE);
	__atomic_store_n(&cpu_rounds.online[i], true, __ATOMIC_SEQ_CST);
	pt_window_close(w);
}

uint64_t *smp_ack_attack_target(int i)
{
	return (uint64_t *)&cpu_rounds.ack[i];
}

uint64_t *smp_online_attack_target(void)
{
	return (uint64_t *)&cpu_rounds.online[0];
}

/* Flushes [start, end) from this CPU's TLB: INVLPG per page up to
 * SMP_FLUSH_PAGES_MAX pages (it drops the paging-structure caches too, SDM Vol.
 * 3A, 4.10.4.1), the whole TLB above or for end = 0. */
static void flush_range_local(struct percpu *me, uint64_t start, uint64_t end)
{
	if (!end || end - start > SMP_FLUSH_PAGES_MAX * PAGE_SIZE) {
		flush_tlb_all_local();
		me->flushes_full++;
		return;
	}
	for (uint64_t a = ALIGN_DOWN(start, PAGE_SIZE); a < end; a += PAGE_SIZE)
		invlpg((void *)a);
	me->flushes_pages++;
}

/* Applies the round in flight unless done; f: the interrupted frame (its PKRS is
 * what the trap exit loads), NULL when polling (the live PKRS). */
static void apply_round(struct trap_frame *f)
{
	struct percpu *me = this_cpu();
	uint64_t id = __atomic_load_n(&round.id, __ATOMIC_ACQUIRE);
	const struct smp_round *r = &round.r;

	if (!smp_online(my_index()) || cpu_rounds.ack[my_index()] == id)
		return;
	if (r->kind == SMP_ROUND_TLB)
		flush_range_local(me, r->start, r->end);
	else if (f)
		f->pkrs = (f->pkrs & ~(uint64_t)r->mask) | r->bits;
	else if (pks_enabled())
		pkrs_write((pkrs_read() & ~r->mask) | r->bits);
	me->rounds_applied++;
	set_ack(my_index(), id);
}

void smp_poll_rounds(void)
{
	struct percpu *me = this_cpu();
	uint64_t flags;

	if (!smp_online(me->cpu))
		return;
	flags = irq_save();	     /* the read of the round's id and the ack: one step */
	apply_round(me->tick_frame); /* inside a tick: its frame's PKRS (kernel/preempt.c) */
	irq_restore(flags);
}

static bool on_round(struct trap_frame *f)
{
	apply_round(f);
	apic_eoi();
	return true;
}

/* The call itself runs in smp_worker(); the IPI only wakes the CPU. */
static bool on_call(struct trap_frame *f)
{
	(void)f;
	apic_eoi();
	return true;
}

/* A spurious interrupt takes no EOI (SDM Vol. 3A, 11.9). */
static bool on_spurious(struct trap_frame *f)
{
	(void)f;
	return true;
}

/* TLB shootdown rounds each CPU asked for (by index; only that CPU writes its own). */
static uint64_t tlb_rounds_asked[NR_CPUS];

/* flush_tlb_others (arch/cpu.h): one TLB round, counted even when no other CPU is
 * online to take it (the count says what the caller's code costs, whatever the
 * boot). */
static void tlb_others(uint64_t start, uint64_t end)
{
	struct smp_round r = { .kind = SMP_ROUND_TLB, .start = start, .end = end };

	tlb_rounds_asked[this_cpu_id()]++;
	smp_round(&r);
}

uint64_t smp_tlb_rounds_here(void)
{
	return tlb_rounds_asked[this_cpu_id()];
}

void smp_ipi_init(void)
{
	uint32_t w;

	trap_register(VEC_SMP_ROUND, on_round);
	trap_register(VEC_SMP_CALL, on_call);
	trap_register(VEC_SPURIOUS, on_spurious);
	this_cpu()->apic_id = apic_id();
	w = pt_window_open(); /* the pointer is keyed (arch/cpu.c) */
	flush_tlb_others = tlb_others;
	pt_window_close(w);
}

void smp_cpu_online(void)
{
	apic_enable_fixed();
	/* A round published before `online` was seen may not have included this CPU;
	 * one published after waits for it; the flush after covers the rest. */
	set_online_here(my_index());
	flush_tlb_all_local();
}

void smp_cpu_offline(int i)
{
	uint64_t flags;
	uint32_t w;

	if (i <= 0 || i >= NR_CPUS)
		return;
	/* No round in flight meanwhile: one that waits for CPU i keeps waiting (its
	 * acknowledgement is left alone), and none is sent to it after. */
	flags = spin_lock_irqsave(&round_lock);
	w = pt_window_open();
	__atomic_store_n(&cpu_rounds.online[i], false, __ATOMIC_RELEASE);
	pt_window_close(w);
	spin_unlock_irqrestore(&round_lock, flags);
}

void smp_online_mask(struct cpumask *m)
{
	*m = (struct cpumask){ 0 };
	for (int i = 0; i < NR_CPUS; i++)
		if (smp_online(i))
			cpumask_set(m, i);
}

int smp_nr_online(void)
{
	int n = 1; /* the boot CPU always runs */

	for (int i = 1; i < NR_CPUS; i++)
		n += smp_online(i);
	return n;
}

uint64_t smp_rounds_sent(void)
{
	return round.sent;
}

uint64_t smp_round_cycles(void)
{
	return round.cycles;
}

/* Waits for CPU i to acknowledge round id; panics after SMP_ROUND_TIMEOUT_MS from
 * the call (the bound is per CPU: the CPUs ack in parallel, so a round to many waits
 * little longer, but under a slow host the last acks may come late). */
static void wait_ack(int i, uint64_t id, uint64_t ticks)
{
	struct percpu *p = percpu_of(i);
	uint64_t start = rdtsc();

	while (__atomic_load_n(&cpu_rounds.ack[i], __ATOMIC_ACQUIRE) < id) {
		if (rdtsc() - start > ticks)
			panic("smp_round: CPU %d (APIC ID %u) did not apply %s round %llu within "
			      "%d ms (interrupts off too long, or the CPU hangs)",
			      i, p->apic_id, round_names[round.r.kind], (unsigned long long)id,
			      SMP_ROUND_TIMEOUT_MS);
		cpu_relax();
	}
}

uint64_t *smp_round_attack_target(void)
{
	return &round.r.start;
}

void smp_round(const struct smp_round *r)
{
	smp_round_to(r, NULL);
}

/* The CPUs a round to `cpus` (NULL: all) goes to: the online ones but this one.
 * Returns how many. */
static int round_targets(const struct cpumask *set, int me, struct cpumask *t)
{
	int n = 0;

	*t = (struct cpumask){ 0 };
	for (int i = 0; i < NR_CPUS; i++)
		if (i != me && smp_online(i) && (!set || cpumask_test(set, i))) {
			cpumask_set(t, i);
			n++;
		}
	return n;
}

void smp_round_to(const struct smp_round *r, const struct cpumask *cpus)
{
	struct percpu *me = this_cpu();
	struct cpumask targets;
	uint64_t flags, id, start;
	uint32_t w;

	/* The caller's table stores before the read of the online flags (a CPU coming
	 * online publishes its flag, then flushes: one of the two sees the other). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!round_targets(cpus, me->cpu, &targets))
		return;
	flags = spin_lock_irqsave(&round_lock);
	round_targets(cpus, me->cpu, &targets);
	w = pt_window_open(); /* the round is keyed */
	round.r = *r;
	id = round.id + 1;
	cpu_rounds.ack[my_index()] = id;
	__atomic_store_n(&round.id, id, __ATOMIC_RELEASE);
	round.sent++;
	pt_window_close(w);
	for (int i = 0; i < NR_CPUS; i++)
		if (cpumask_test(&targets, i) &&
		    apic_send_fixed(percpu_of(i)->apic_id, VEC_SMP_ROUND))
			panic("smp_round: IPI to CPU %d (APIC ID %u) not sent", i,
			      percpu_of(i)->apic_id);
	start = rdtsc();
	for (int i = 0; i < NR_CPUS; i++)
		if (cpumask_test(&targets, i))
			wait_ack(i, id, tsc_us_to_ticks(SMP_ROUND_TIMEOUT_MS * 1000ULL));
	w = pt_window_open();
	round.cycles += rdtsc() - start;
	pt_window_close(w);
	spin_unlock_irqrestore(&round_lock, flags);
}

/* --- calls ------------------------------------------------------------------------ */

int smp_post(int i, void (*fn)(void *), void *arg)
{
	struct percpu *p;

	if (i <= 0 || i >= NR_CPUS || i == this_cpu_id() || !smp_online(i))
		return -ENODEV;
	p = percpu_of(i);
	if (p->call_req != p->call_done)
		return -EBUSY;
	p->call_fn = fn;
	p->call_arg = arg;
	__atomic_store_n(&p->call_req, p->call_req + 1, __ATOMIC_RELEASE);
	return apic_send_fixed(p->apic_id, VEC_SMP_CALL) ? -EIO : 0;
}

int smp_wait(int i, uint64_t timeout_ms)
{
	struct percpu *p = percpu_of(i);
	uint64_t start = rdtsc(), ticks = tsc_us_to_ticks(timeout_ms * 1000);

	while (__atomic_load_n(&p->call_done, __ATOMIC_ACQUIRE) != p->call_req) {
		if (rdtsc() - start > ticks)
			return -ETIMEDOUT;
		smp_poll_rounds();
		cpu_relax();
	}
	return 0;
}

int smp_wait_drained(int i, uint64_t timeout_ms)
{
	int rc = smp_wait(i, timeout_ms);

	if (rc == -ETIMEDOUT && smp_wait(i, SMP_DRAIN_TIMEOUT_MS))
		panic("smp: CPU %d still runs a call %llu ms past its bound of %llu ms; its "
		      "arguments are in a frame that is about to be reused",
		      i, (unsigned long long)SMP_DRAIN_TIMEOUT_MS, (unsigned long long)timeout_ms);
	return rc;
}

int smp_wake(int i)
{
	if (i <= 0 || i >= NR_CPUS || i == this_cpu_id() || !smp_online(i))
		return -ENODEV;
	return apic_send_fixed(percpu_of(i)->apic_id, VEC_SMP_CALL) ? -EIO : 0;
}

int smp_call(int i, void (*fn)(void *), void *arg)
{
	int rc = smp_post(i, fn, arg);

	return rc ? rc : smp_wait_drained(i, SMP_CALL_TIMEOUT_MS);
}

/* Runs the posted call with interrupts on and the default PKRS; a call that
 * returns holding a lock is a bug. */
static void run_call(struct percpu *me)
{
	me->call_fn(me->call_arg);
	cli();
	if (me->locks_held)
		panic("smp_worker: a call on CPU %d returned holding %d lock(s)", me->cpu,
		      me->locks_held);
	pks_load(pks_default());
	__atomic_store_n(&me->call_done, me->call_req, __ATOMIC_RELEASE);
}

__noreturn void smp_worker(void)
{
	struct percpu *me = this_cpu();

	for (;;) {
		cli();
		if (__atomic_load_n(&me->call_req, __ATOMIC_ACQUIRE) != me->call_done) {
			sti();
			run_call(me);
		} else if (thread_runnable_here()) {
			preempt_timer_busy(true); /* ticks switch between its threads */
			thread_yield();
		} else {
			preempt_timer_busy(false);
			/* STI's one-instruction shadow: no wake-up slips in before HLT. */
			__asm__ volatile("sti; hlt" ::: "memory");
		}
	}
}

/* --- case bodies on every CPU ------------------------------------------------------ */

struct everywhere {
	void (*fn)(void *);
	void *arg;
};

static void run_collecting(void *p)
{
	struct everywhere *e = p;
	struct percpu *me = this_cpu();

	me->nr_fail = 0;
	me->fail[0] = '\0';
	me->collecting = true;
	e->fn(e->arg);
	me->collecting = false;
}

bool smp_ktest_collect(const char *file, int line, const char *msg)
{
	struct percpu *me = this_cpu();

	if (!me->collecting)
		return false;
	if (!me->nr_fail++)
		ksnprintf(me->fail, sizeof(me->fail), "%s:%d: %s", file, line, msg);
	return true;
}

int smp_ktest_failed_here(void)
{
	struct percpu *me = this_cpu();

	return me->collecting ? me->nr_fail > 0 : -1;
}

/* Fails the current case for CPU i when its part failed or did not finish. */
static void report_cpu(int i, int waited)
{
	struct percpu *p = percpu_of(i);

	if (waited)
		ktest_fail(__FILE__, __LINE__, "CPU %d (APIC ID %u) did not finish its part (%s)",
			   i, p->apic_id, waited == -ETIMEDOUT ? "timed out" : "not started");
	else if (p->nr_fail)
		ktest_fail(__FILE__, __LINE__, "CPU %d (APIC ID %u): %d failure(s), first: %s", i,
			   p->apic_id, p->nr_fail, p->fail);
}

int smp_run_parts(void (*fn)(void *), void *arg, uint64_t timeout_ms, int status[NR_CPUS])
{
	struct everywhere e = { fn, arg };
	struct cpumask cpus;
	uint64_t flags;
	int n = 1;

	ASSERT(this_cpu_id() == 0);
	smp_online_mask(&cpus);
	for (int i = 0; i < NR_CPUS; i++)
		status[i] = (i > 0 && cpumask_test(&cpus, i)) ? smp_post(i, run_collecting, &e)
							      : -ENODEV;
	status[0] = 0;
	flags = read_rflags();
	sti();
	run_collecting(&e);
	if (!(flags & RFLAGS_IF))
		cli();
	for (int i = 1; i < NR_CPUS; i++) {
		if (!cpumask_test(&cpus, i))
			continue;
		if (!status[i]) /* e and arg are in the caller's frame: never left running */
			status[i] = smp_wait_drained(i, timeout_ms);
		n += !status[i];
	}
	return n;
}

int smp_run_everywhere(void (*fn)(void *), void *arg, uint64_t timeout_ms)
{
	int status[NR_CPUS], n = smp_run_parts(fn, arg, timeout_ms, status);

	for (int i = 0; i < NR_CPUS; i++)
		if (i == 0 || status[i] != -ENODEV)
			report_cpu(i, status[i]);
	return n;
}
