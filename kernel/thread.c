/* kernel/thread.c - cooperative kernel threads with a PKRS per thread.
 *
 * All threads, runnable or exited-but-not-joined, sit in one ring in run order,
 * starting at thread 0. The stack switch itself is context_switch() in
 * arch/context.asm; the IA32_PKRS switch happens right before it, because PKRS is
 * neither saved by XSAVE nor switched by the CPU (SDM Vol. 3A, 4.6.2). A switched-out
 * thread's PKRS is kept in a page-table-keyed slot, not on its stack: a stray store
 * cannot make a thread resume with another PKRS (arch/pkrs.h: __pt_keyed).
 */
#include "kernel/thread.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/gdt.h"
#include "arch/pkrs.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"

enum thread_state {
	THREAD_RUNNABLE, /* running, or ready to run */
	THREAD_EXITED,	 /* waiting for thread_join() */
};

struct thread {
	uint64_t rsp; /* saved by context_switch while not running */
	int slot;     /* its entry in saved[] */
	int id;
	enum thread_state state;
	void (*fn)(void *);
	void *arg;
	void *stack;	     /* from vmap_alloc_guarded(); NULL for thread 0 */
	bool preemptible;    /* runs with interrupts on; a tick may switch it out */
	struct thread *next; /* the run ring */
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
 * thread's. Written only inside a page-table write window. */
static struct pkrs_slot {
	const struct thread *t; /* NULL: free */
	uint32_t pkrs;
} saved[THREAD_MAX] __pt_keyed = { [0] = { &boot_thread, 0 } };
/* Each AP's own context: a record outside the ring (threads are switched on the
 * boot CPU only), so thread_current() names something on every CPU. */
static struct thread ap_contexts[NR_CPUS];

/* This CPU's "current thread" slot (kernel/percpu.h), set up on first use. */
static struct thread **current_slot(void)
{
	struct percpu *me = this_cpu();
	struct thread *t = &ap_contexts[me->cpu];

	if (me->thread_current)
		return (struct thread **)&me->thread_current;
	if (me->cpu) {
		*t = (struct thread){ .slot = -1, .id = -me->cpu, .next = t };
		ksnprintf(t->name, sizeof(t->name), "cpu%d", me->cpu);
	}
	me->thread_current = me->cpu ? t : &boot_thread;
	return (struct thread **)&me->thread_current;
}
#define current (*current_slot())
static int next_id = 1;

/* The first code a new thread runs: context_switch's RET lands here. */
static __noreturn void thread_start(void)
{
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

/* Inserts t at the end of the run order (just before thread 0). */
static void ring_append(struct thread *t)
{
	struct thread *last = &boot_thread;

	while (last->next != &boot_thread)
		last = last->next;
	t->next = &boot_thread;
	last->next = t;
}

/* Removes t from the ring; t must be in it and not be the current thread. */
static void ring_remove(struct thread *t)
{
	struct thread *prev = &boot_thread;

	while (prev->next != t)
		prev = prev->next;
	prev->next = t->next;
}

/* True when t is a live (not yet joined) thread; never dereferences t. */
static bool in_ring(const struct thread *t)
{
	const struct thread *p = &boot_thread;

	do {
		if (p == t)
			return true;
		p = p->next;
	} while (p != &boot_thread);
	return false;
}

/* Claims a free PKRS slot for t, starting with the default PKRS; -1 when none. */
static int claim_slot(const struct thread *t)
{
	for (int i = 1; i < THREAD_MAX; i++) {
		uint32_t w;

		if (saved[i].t)
			continue;
		w = pt_window_open();
		saved[i] = (struct pkrs_slot){ t, pks_default() };
		pt_window_close(w);
		return i;
	}
	return -1;
}

/* t's PKRS slot; panics when the slot is not t's (t->slot was overwritten). */
static struct pkrs_slot *slot_of(const struct thread *t)
{
	/* Invariant: a thread's slot index names its own slot. */
	if (t->slot < 0 || t->slot >= THREAD_MAX || saved[t->slot].t != t)
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

struct thread *thread_create(const char *name, void (*fn)(void *), void *arg)
{
	char region[VMAP_NAME_MAX];
	uint8_t *stack;
	struct thread *t;

	ksnprintf(region, sizeof(region), "stack %s", name ? name : "thread");
	stack = vmap_alloc_guarded(region, THREAD_STACK_PAGES, THREAD_GUARD_PAGES, 1);
	if (!stack)
		return NULL;
	t = (struct thread *)(stack + THREAD_STACK_PAGES * PAGE_SIZE - sizeof(*t));
	t = (struct thread *)ALIGN_DOWN((uint64_t)t, 16);
	*t = (struct thread){
		.slot = claim_slot(t),
		.id = next_id,
		.state = THREAD_RUNNABLE,
		.fn = fn,
		.arg = arg,
		.stack = stack,
	};
	if (t->slot < 0) {
		vmap_free_pages(stack, THREAD_STACK_PAGES);
		return NULL;
	}
	next_id++;
	strncpy_z(t->name, name ? name : "thread", sizeof(t->name));
	build_initial_frame(t);
	ring_append(t);
	return t;
}

/* The next runnable thread after the current one in the ring, else the current. */
static struct thread *next_runnable(void)
{
	for (struct thread *t = current->next; t != current; t = t->next)
		if (t->state == THREAD_RUNNABLE)
			return t;
	return current;
}

/* Saves the current thread's PKRS (in its keyed slot) and stack, loads next's.
 * Returns when the current thread is switched back to. One window write per switch;
 * a thread switched out inside a write window gets its window back, no other. */
static void switch_to(struct thread *next)
{
	struct thread *prev = current;
	uint32_t live, resume;
	uint64_t flags;

	if (next == prev)
		return;
	flags = irq_save(); /* each thread gets its own IF back when it resumes */
	live = pks_read();
	pt_window_open();
	slot_of(prev)->pkrs = live;
	resume = slot_of(next)->pkrs;
	current = next;
	/* The code and stack between here and the switch are key 0: unaffected. The load
	 * closes the window (the table key is guarded) unless next was switched out
	 * inside one. */
	pks_load(resume);
	if (pgprot_pkrs_opens_tables(resume))
		pt_window_open();
	context_switch(&prev->rsp, next->rsp);
	irq_restore(flags);
}

void thread_yield(void)
{
	uint64_t flags = irq_save(); /* no tick between the pick and the switch */

	switch_to(next_runnable());
	irq_restore(flags);
}

__noreturn void thread_exit(void)
{
	struct thread *t = current;

	if (t == &boot_thread)
		panic("thread_exit: thread 0 (the boot context) cannot exit");
	if (t->slot < 0)
		panic("thread_exit: %s (a CPU's own context) cannot exit", t->name);
	cli(); /* a tick must not switch an exited thread out half-way */
	t->state = THREAD_EXITED;
	/* Thread 0 never exits, so some other thread is always runnable. */
	switch_to(next_runnable());
	panic("thread_exit: exited thread %d (%s) was switched to", t->id, t->name);
}

void thread_join(struct thread *t)
{
	uint32_t w;

	if (t == current || t == &boot_thread || !in_ring(t))
		panic("thread_join: %p is not a thread another thread can join", (void *)t);
	while (t->state != THREAD_EXITED)
		thread_yield();
	ring_remove(t);
	w = pt_window_open();
	slot_of(t)->t = NULL;
	pt_window_close(w);
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
	int n = 0;

	for (const struct thread *t = boot_thread.next; t != &boot_thread; t = t->next)
		n++;
	return n;
}

void thread_pkrs_update(uint32_t mask, uint32_t bits)
{
	uint32_t w = pt_window_open();

	for (int i = 0; i < THREAD_MAX; i++)
		if (saved[i].t)
			saved[i].pkrs = (saved[i].pkrs & ~mask) | bits;
	pt_window_close(w);
}

struct thread *thread_create_preemptible(const char *name, void (*fn)(void *), void *arg)
{
	struct thread *t = thread_create(name, fn, arg);

	if (t)
		t->preemptible = true;
	return t;
}

bool thread_preempt(void)
{
	struct thread *t = current;
	struct percpu *me = this_cpu();

	if (!t->preemptible || me->catch_current || me->locks_held)
		return false;
	t = next_runnable();
	if (t == current)
		return false;
	switch_to(t);
	return true;
}
