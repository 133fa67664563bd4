/* kernel/thread.c - kernel threads with a PKRS per thread, each on its own CPU.
 *
 * Each CPU has a run ring: its own context (thread 0 on the boot CPU, "cpuN" on an
 * AP) followed by its threads, runnable or exited-but-not-joined, in run order.
 * A thread never moves to another CPU. Locks (kernel/spinlock.h):
 *   thread_lock       the PKRS slots, the ids, and walks over all rings (create,
 *                     join, count); never taken by a tick or a switch
 *   ring_lock[cpu]    that CPU's ring: its links, states and switches, and the
 *                     saved PKRS of its threads; one at a time, after thread_lock
 * A tick or a switch takes only its own CPU's ring lock, so CPUs do not queue for
 * each other's switches. The stack switch itself is context_switch() in
 * arch/context.asm; the IA32_PKRS switch happens right before it, because PKRS is
 * neither saved by XSAVE nor switched by the CPU (SDM Vol. 3A, 4.6.2). A switched-out
 * thread's PKRS is kept in a page-table-keyed slot, not on its stack: a stray store
 * cannot make a thread resume with another PKRS (arch/pkrs.h: __pt_keyed).
 */
#include "kernel/thread.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/pks.h"
#include "kernel/preempt.h"
#include "kernel/printf.h"
#include "kernel/smp_ipi.h"
#include "kernel/spinlock.h"
#include "arch/cpu.h"
#include "arch/gdt.h"
#include "arch/pkrs.h"
#include "arch/trap.h"
#include "arch/tsc.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"

enum thread_state {
	THREAD_RUNNABLE, /* running, or ready to run */
	THREAD_EXITED,	 /* called thread_exit(), may still be on its stack */
	THREAD_DEAD,	 /* switched away for good: thread_join() may free it */
};

struct thread {
	uint64_t rsp; /* saved by context_switch while not running */
	int slot;     /* its entry in saved[] */
	int id;
	int cpu; /* the CPU whose ring holds it */
	volatile enum thread_state state;
	void (*fn)(void *);
	void *arg;
	void *stack;		  /* from vmap_alloc_guarded(); NULL for thread 0 */
	bool preemptible;	  /* runs with interrupts on; a tick may switch it out */
	struct trap_frame *frame; /* switched out by a tick: the interrupted state */
	struct thread *next;	  /* the run ring */
	char name[THREAD_NAME_MAX];
};

/* context_switch(save_rsp, next_rsp): pushes rbp rbx r12-r15, stores RSP in
 * *save_rsp, loads next_rsp, pops them and returns (arch/context.asm). */
void context_switch(uint64_t *save_rsp, uint64_t next_rsp);

static struct thread boot_thread = {
	.slot = 0,
	.id = 0,
	.state = THREAD_RUNNABLE,
	.next = &boot_thread,
	.name = "boot",
};

/* The PKRS of every live thread while it is switched out; slot 0 is the boot
 * thread's, slot THREAD_MAX + n AP n's own context's. Written only inside a
 * page-table write window. */
static struct pkrs_slot {
	const struct thread *t; /* NULL: free */
	uint32_t pkrs;
	struct pt_window_nest nest; /* its open windows (mm/pt_door.h), while switched out */
} saved[THREAD_MAX + NR_CPUS] __pt_keyed_data = { [0] = { &boot_thread, 0 } };
/* Each AP's own context, the head of its ring (set up by head_of()). */
static struct thread ap_contexts[NR_CPUS];
static struct spinlock thread_lock = SPINLOCK_INIT("thread_lock");
static struct spinlock ring_lock[NR_CPUS] = { [0 ... NR_CPUS - 1] = SPINLOCK_INIT("ring_lock") };

/* True when CPU cpu has a ring (the boot CPU always; an AP once set up). */
static bool has_ring(int cpu)
{
	return !cpu || ap_contexts[cpu].next;
}

/* CPU cpu's ring head, set up on first use (its PKRS slot: by current_slot());
 * ring_lock[cpu] held (or thread_lock, for a head already set up). */
static struct thread *head_of(int cpu)
{
	struct thread *h = &ap_contexts[cpu];

	if (!cpu)
		return &boot_thread;
	if (h->next)
		return h;
	*h = (struct thread){ .slot = THREAD_MAX + cpu, .id = -cpu, .cpu = cpu, .next = h };
	ksnprintf(h->name, sizeof(h->name), "cpu%d", cpu);
	return h;
}

/* This CPU's "current thread" slot (kernel/percpu.h), set up on first use on the
 * CPU itself, with the PKRS slot of its own context (before its first switch). */
static struct thread **current_slot(void)
{
	struct percpu *me = this_cpu();
	struct thread *h;
	uint64_t flags;
	uint32_t w;

	if (me->thread_current)
		return (struct thread **)&me->thread_current;
	flags = spin_lock_irqsave(&ring_lock[me->cpu]);
	h = head_of(me->cpu);
	me->thread_current = h;
	if (saved[h->slot].t != h) { /* the window code may ask for the current thread */
		w = pt_window_open();
		saved[h->slot] = (struct pkrs_slot){ .t = h, .pkrs = pks_default() };
		pt_window_close(w);
	}
	spin_unlock_irqrestore(&ring_lock[me->cpu], flags);
	return (struct thread **)&me->thread_current;
}
#define current (*current_slot())
static int next_id = 1;

/* Right after a switch, on the incoming thread's stack: the thread switched away
 * from is off its stack now; if it exited, it is dead (thread_join may free it).
 * The incoming thread's slice starts (thread_preempt). */
static void finish_switch(void)
{
	struct thread *prev = this_cpu()->thread_prev;

	this_cpu()->slice_start = rdtsc();
	this_cpu()->tick_frame = NULL; /* thread_preempt sets it back for its thread */
	if (prev && prev->state == THREAD_EXITED)
		__atomic_store_n(&prev->state, THREAD_DEAD, __ATOMIC_RELEASE);
}

/* The first code a new thread runs: context_switch's RET lands here. */
static __noreturn void thread_start(void)
{
	finish_switch();
	if (current->preemptible)
		sti();
	current->fn(current->arg);
	thread_exit();
}

/* Builds the frame context_switch pops for a thread that never ran: six zero
 * registers (RBP = 0 ends backtraces), then thread_start as the return address,
 * then a zero "return address" so thread_start sees RSP = 8 mod 16 like any
 * function entered by CALL. The frame sits right below the struct thread. */
static void build_initial_frame(struct thread *t)
{
	uint64_t *sp = (uint64_t *)ALIGN_DOWN((uint64_t)t, 16);

	*--sp = 0;
	*--sp = (uint64_t)thread_start;
	for (int i = 0; i < 6; i++)
		*--sp = 0;
	t->rsp = (uint64_t)sp;
}

/* Inserts t at the end of its CPU's run order; ring_lock[t->cpu] held. */
static void ring_append(struct thread *t)
{
	struct thread *head = head_of(t->cpu), *last = head;

	while (last->next != head)
		last = last->next;
	t->next = head;
	last->next = t;
}

/* Removes t from its ring; t is in it and dead; ring_lock[t->cpu] held. */
static void ring_remove(struct thread *t)
{
	struct thread *prev = head_of(t->cpu);

	while (prev->next != t)
		prev = prev->next;
	prev->next = t->next;
}

/* True when t is in CPU cpu's ring; never dereferences t. ring_lock[cpu] held. */
static bool __in_ring_of(int cpu, const struct thread *t)
{
	const struct thread *head = head_of(cpu), *p = head;

	do {
		if (p == t)
			return true;
		p = p->next;
	} while (p != head);
	return false;
}

/* True when t is a live (not yet joined) thread of any CPU; never dereferences t.
 * thread_lock held (no thread is joined meanwhile); takes each ring lock in turn. */
static bool in_ring(const struct thread *t)
{
	for (int cpu = 0; cpu < NR_CPUS; cpu++) {
		bool found;

		if (!has_ring(cpu))
			continue;
		spin_lock(&ring_lock[cpu]);
		found = __in_ring_of(cpu, t);
		spin_unlock(&ring_lock[cpu]);
		if (found)
			return true;
	}
	return false;
}

/* Claims a free PKRS slot for t (its value is set when t joins its ring); -1 when
 * none. thread_lock held. */
static int claim_slot(const struct thread *t)
{
	for (int i = 1; i < THREAD_MAX; i++) {
		uint32_t w;

		if (saved[i].t)
			continue;
		w = pt_window_open();
		saved[i] = (struct pkrs_slot){ .t = t, .pkrs = PKRS_ALL_BUT_KEY0 };
		pt_window_close(w);
		return i;
	}
	return -1;
}

/* t's PKRS slot; panics when the slot is not t's (t->slot was overwritten). */
static struct pkrs_slot *slot_of(const struct thread *t)
{
	/* Invariant: a thread's slot index names its own slot. */
	if (t->slot < 0 || t->slot >= THREAD_MAX + NR_CPUS || saved[t->slot].t != t)
		panic("thread: PKRS slot %d does not belong to thread %p", t->slot,
		      (const void *)t);
	return &saved[t->slot];
}

void thread_init(void)
{
	static const char *const names[NR_IST] = { "ist #DF", "ist NMI", "ist #MC" };

	for (int n = 1; n <= NR_IST; n++) {
		void *s = vmap_alloc_guarded(names[n - 1], IST_STACK_SIZE / PAGE_SIZE, 1, 1);

		if (!s)
			panic("thread_init: no memory for the %s stack", names[n - 1]);
		gdt_set_boot_ist(n, (uint64_t)s);
	}
}

/* Links t (built, with its stack) into its CPU's ring with a PKRS slot and an id;
 * false when all slots are taken. The default PKRS is read under the ring lock: a
 * default change (thread_pkrs_update) either finds t in the ring or is already in
 * pks_default(). */
static bool thread_publish(struct thread *t)
{
	uint64_t flags = spin_lock_irqsave(&thread_lock);
	uint32_t w;

	t->slot = claim_slot(t);
	if (t->slot >= 0) {
		t->id = next_id++;
		spin_lock(&ring_lock[t->cpu]);
		w = pt_window_open();
		saved[t->slot].pkrs = pks_default();
		pt_window_close(w);
		ring_append(t);
		spin_unlock(&ring_lock[t->cpu]);
	}
	spin_unlock_irqrestore(&thread_lock, flags);
	return t->slot >= 0;
}

struct thread *thread_create_on(int cpu, const char *name, void (*fn)(void *), void *arg,
				bool preemptible)
{
	char region[VMAP_NAME_MAX];
	uint8_t *stack;
	struct thread *t;

	if (cpu < 0 || cpu >= NR_CPUS || (cpu != this_cpu_id() && !smp_online(cpu)))
		return NULL;
	ksnprintf(region, sizeof(region), "stack %s", name ? name : "thread");
	stack = vmap_alloc_guarded(region, THREAD_STACK_PAGES, THREAD_GUARD_PAGES, 1);
	if (!stack)
		return NULL;
	t = (struct thread *)(stack + THREAD_STACK_PAGES * PAGE_SIZE - sizeof(*t));
	t = (struct thread *)ALIGN_DOWN((uint64_t)t, 16);
	*t = (struct thread){ .cpu = cpu,
			      .state = THREAD_RUNNABLE,
			      .fn = fn,
			      .arg = arg,
			      .stack = stack,
			      .preemptible = preemptible };
	strncpy_z(t->name, name ? name : "thread", sizeof(t->name));
	build_initial_frame(t);
	if (!thread_publish(t)) {
		vmap_free_pages(stack, THREAD_STACK_PAGES);
		return NULL;
	}
	if (cpu != this_cpu_id())
		smp_wake(cpu); /* its idle loop picks the thread up */
	return t;
}

struct thread *thread_create(const char *name, void (*fn)(void *), void *arg)
{
	return thread_create_on(this_cpu_id(), name, fn, arg, false);
}

/* The next runnable thread after the current one in this CPU's ring, else the
 * current. A ring of one (an idle AP, a CPU with no threads) is read without its
 * lock: the idle loop and wait loops ask at each wake-up, and CPU 0 may be linking
 * in a thread; one linked in after the read comes with a wake-up IPI
 * (thread_create_on). */
static struct thread *next_runnable(void)
{
	struct thread *cur = current; /* before the lock: its first use takes it */
	int cpu = cur->cpu;
	uint64_t flags;
	struct thread *t;

	if (__atomic_load_n(&cur->next, __ATOMIC_ACQUIRE) == cur)
		return cur;
	flags = spin_lock_irqsave(&ring_lock[cpu]);
	t = cur->next;
	while (t != cur && t->state != THREAD_RUNNABLE)
		t = t->next;
	spin_unlock_irqrestore(&ring_lock[cpu], flags);
	return t;
}

bool thread_runnable_here(void)
{
	return next_runnable() != current;
}

/* Saves the current thread's PKRS (in its keyed slot) and stack, loads next's;
 * f: the tick's frame when a tick switches it out, else NULL. Returns when the
 * current thread is switched back to. One window write per switch; a thread
 * switched out inside a write window gets its window back, no other. A thread's
 * frame is set and cleared under the ring lock, so a default change sees it only
 * while the thread is switched out (never one its stack reuses). */
static void switch_to(struct thread *next, struct trap_frame *f)
{
	struct thread *prev = current;
	uint32_t live, resume;
	uint64_t flags;

	if (next == prev)
		return;
	flags = irq_save(); /* each thread gets its own IF back when it resumes */
	/* Under the ring lock no default-PKRS change (thread_pkrs_update) falls between
	 * the save and the load; waiting for it applies its round to the live PKRS. */
	spin_lock(&ring_lock[prev->cpu]);
	live = pks_read();
	pt_window_open();
	slot_of(prev)->pkrs = live;
	pt_window_nest_switch(&slot_of(prev)->nest, &slot_of(next)->nest);
	resume = slot_of(next)->pkrs;
	current = next;
	prev->frame = f;
	next->frame = NULL; /* a change from now on reaches it by its round */
	/* The code and stack between here and the switch are key 0: unaffected. The load
	 * closes the window (the table key is guarded) unless next was switched out
	 * inside one. */
	pks_load(resume);
	if (pgprot_pkrs_opens_tables(resume))
		pt_window_reopen();
	this_cpu()->thread_prev = prev;
	spin_unlock(&ring_lock[prev->cpu]);
	context_switch(&prev->rsp, next->rsp);
	finish_switch();
	irq_restore(flags);
}

void thread_yield(void)
{
	uint64_t flags = irq_save(); /* no tick between the pick and the switch */

	switch_to(next_runnable(), NULL);
	irq_restore(flags);
}

__noreturn void thread_exit(void)
{
	struct thread *t = current;

	if (t == &boot_thread)
		panic("thread_exit: thread 0 (the boot context) cannot exit");
	if (t == head_of(t->cpu))
		panic("thread_exit: %s (a CPU's own context) cannot exit", t->name);
	cli(); /* a tick must not switch an exited thread out half-way */
	t->state = THREAD_EXITED;
	/* A CPU's own context never exits, so some other thread is always runnable. */
	switch_to(next_runnable(), NULL);
	panic("thread_exit: exited thread %d (%s) was switched to", t->id, t->name);
}

int thread_wait_exit(struct thread *t, uint64_t timeout_ms)
{
	uint64_t start = rdtsc(), ticks = tsc_us_to_ticks(timeout_ms * 1000);

	if (t == current)
		return -EINVAL; /* it would wait for itself */
	while (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != THREAD_DEAD) {
		if (timeout_ms && rdtsc() - start > ticks)
			return -ETIMEDOUT;
		thread_yield();
		smp_poll_rounds();
		cpu_relax();
	}
	return 0;
}

void thread_join(struct thread *t)
{
	bool joinable = t != current && t != &boot_thread;
	uint64_t flags = spin_lock_irqsave(&thread_lock);
	uint32_t w;

	joinable = joinable && in_ring(t);
	spin_unlock_irqrestore(&thread_lock, flags);
	if (!joinable || t == head_of(t->cpu))
		panic("thread_join: %p is not a thread another thread can join", (void *)t);
	thread_wait_exit(t, 0);
	flags = spin_lock_irqsave(&thread_lock);
	spin_lock(&ring_lock[t->cpu]);
	ring_remove(t);
	spin_unlock(&ring_lock[t->cpu]);
	w = pt_window_open();
	slot_of(t)->t = NULL;
	pt_window_close(w);
	spin_unlock_irqrestore(&thread_lock, flags);
	/* The struct lives on the stack being freed: nothing reads t after this. */
	vmap_free_pages(t->stack, THREAD_STACK_PAGES);
}

struct thread *thread_current(void)
{
	return current;
}

int thread_id(const struct thread *t)
{
	return t->id;
}

const char *thread_name(const struct thread *t)
{
	return t->name;
}

uint32_t thread_saved_pkrs(const struct thread *t)
{
	return t == current ? pks_read() : slot_of(t)->pkrs;
}

void thread_stack_bounds(const struct thread *t, uint64_t *lo, uint64_t *hi)
{
	*lo = (uint64_t)t->stack;
	*hi = t->stack ? *lo + THREAD_STACK_PAGES * PAGE_SIZE : 0;
}

int thread_count(void)
{
	uint64_t flags = spin_lock_irqsave(&thread_lock);
	int n = 0;

	for (int cpu = 0; cpu < NR_CPUS; cpu++) {
		const struct thread *head;

		if (!has_ring(cpu))
			continue;
		spin_lock(&ring_lock[cpu]);
		head = head_of(cpu);
		for (const struct thread *t = head->next; t != head; t = t->next)
			n++;
		spin_unlock(&ring_lock[cpu]);
	}
	spin_unlock_irqrestore(&thread_lock, flags);
	return n;
}

/* Applies a default-PKRS change to CPU cpu's ring: every saved PKRS of its
 * threads (its own context's included), the interrupted state of each one a tick
 * switched out (its trap exit loads that PKRS), then, by a PKRS round to that CPU
 * alone, its live PKRS (this CPU's: the caller's part). ring_lock[cpu] held: no switch there
 * saves a value from before the change or loads one from before it. */
static void __ring_pkrs_update(int cpu, uint32_t mask, uint32_t bits)
{
	struct smp_round r = { .kind = SMP_ROUND_PKRS, .mask = mask, .bits = bits };
	struct thread *head = head_of(cpu), *t = head;
	struct cpumask one = { 0 };
	uint32_t w = pt_window_open();

	do {
		if (saved[t->slot].t == t)
			saved[t->slot].pkrs = (saved[t->slot].pkrs & ~mask) | bits;
		if (t->frame)
			t->frame->pkrs = (t->frame->pkrs & ~(uint64_t)mask) | bits;
		t = t->next;
	} while (t != head);
	pt_window_close(w);
	if (cpu == this_cpu_id())
		return; /* the caller changed its own live PKRS (kernel/pks.c) */
	cpumask_set(&one, cpu);
	smp_round_to(&r, &one); /* waits for that one CPU (kernel/smp_ipi.h) */
}

void thread_pkrs_update(uint32_t mask, uint32_t bits)
{
	uint64_t flags = irq_save();

	for (int cpu = 0; cpu < NR_CPUS; cpu++) {
		if (!has_ring(cpu) && !smp_online(cpu))
			continue;
		spin_lock(&ring_lock[cpu]);
		__ring_pkrs_update(cpu, mask, bits);
		spin_unlock(&ring_lock[cpu]);
	}
	irq_restore(flags);
}

struct thread *thread_create_preemptible(const char *name, void (*fn)(void *), void *arg)
{
	return thread_create_on(this_cpu_id(), name, fn, arg, true);
}

bool thread_preempt(struct trap_frame *f)
{
	struct thread *t = current, *next;
	struct percpu *me = this_cpu();

	/* A thread keeps the CPU PREEMPT_SLICE_MS from its switch-in: a tick that was
	 * pending when it resumed, or comes right after, is no slice. Without this, a
	 * CPU whose switch takes longer than a tick period (many CPUs, a slow host)
	 * switches the thread out again before it runs one instruction, for good. */
	if (rdtsc() - me->slice_start < tsc_us_to_ticks(PREEMPT_SLICE_MS * 1000))
		return false;
	if (!t->preemptible || me->catch_current || me->locks_held)
		return false;
	next = next_runnable();
	if (next == t)
		return false;
	switch_to(next, f);
	me->tick_frame = f; /* back inside this tick (finish_switch cleared it) */
	return true;
}
