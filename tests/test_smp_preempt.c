/* tests/test_smp_preempt.c - timer ticks preempt threads (suite smp; kernel/preempt.h):
 * a thread that never yields is switched out, a thread preempted inside a write
 * window gets it back and the next thread does not, and PKRS survives ticks on
 * every CPU.
 */
#include "tests/pks_fixture.h"
#include "tests/test_smp_util.h"
#include "kernel/catch.h"
#include "kernel/preempt.h"
#include "kernel/thread.h"
#include "mm/dmap.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

#define NEED_PREEMPTION()                                  \
	do {                                               \
		if (preempt_off_reason())                  \
			KTEST_SKIP(preempt_off_reason());  \
	} while (0)

static volatile int flag;

/* Spins (never yields) until flag is set, at most a second. */
struct spinner {
	bool saw_flag;
	bool window_before, window_after; /* spun inside a write window */
	bool in_window;
};

static void spin_until_flag(void *p)
{
	struct spinner *s = p;
	uint64_t start = rdtsc(), limit = tsc_us_to_ticks(1000 * 1000);
	uint32_t w = 0;

	if (s->in_window) {
		w = pt_window_open();
		s->window_before = pt_window_is_open();
	}
	while (!flag && rdtsc() - start < limit)
		cpu_relax();
	s->saw_flag = flag;
	if (s->in_window) {
		s->window_after = pt_window_is_open();
		pt_window_close(w);
	}
}

/* The thread that runs while the spinner is switched out. */
struct next_thread {
	bool window_open;
	uint64_t *entry;
	struct fault f;
};

static void run_next(void *p)
{
	struct next_thread *n = p;

	n->window_open = pt_window_is_open();
	if (n->entry)
		catch_write64(n->entry, *n->entry, &n->f);
	flag = 1;
}

KTEST(smp, a_thread_that_never_yields_is_preempted_by_the_timer)
{
	struct spinner s = { 0 };
	struct next_thread n = { 0 };
	uint64_t switches = preempt_switches();
	struct thread *a, *b;

	NEED_PREEMPTION();
	flag = 0;
	a = thread_create_preemptible("spinner", spin_until_flag, &s);
	b = thread_create("next", run_next, &n);
	KASSERT_TRUE(a && b);
	thread_join(a);
	thread_join(b);
	KEXPECT_TRUE(s.saw_flag);
	KEXPECT_GT(preempt_switches(), switches);
}

KTEST(smp, a_thread_preempted_in_a_write_window_resumes_in_it_and_the_next_does_not_get_it)
{
	struct spinner s = { .in_window = true };
	struct next_thread n = { 0 };
	struct thread *a, *b;

	NEED_PREEMPTION();
	if (!pgprot_enforced())
		KTEST_SKIP(pgprot_unprotected_reason());
	n.entry = &((uint64_t *)pa_to_va(pt_kernel_root()))[PT_ENTRIES - 1];
	flag = 0;
	a = thread_create_preemptible("in window", spin_until_flag, &s);
	b = thread_create("next", run_next, &n);
	KASSERT_TRUE(a && b);
	thread_join(a);
	thread_join(b);
	KEXPECT_TRUE(s.saw_flag);
	KEXPECT_TRUE(s.window_before);
	KEXPECT_TRUE(s.window_after);
	KEXPECT_FALSE(n.window_open);
	KEXPECT_PF(&n.f, PF_P | PF_W | PF_PK, n.entry);
	KEXPECT_FALSE(pt_window_is_open());
}

struct ticks_case {
	int key;
	uint64_t va;
};

/* With the timer on, opens the key for itself and spins through ticks, checking
 * that its PKRS and its access to the keyed page stay as set. */
static void keep_pkrs_through_ticks(void *p)
{
	struct ticks_case *t = p;
	uint64_t ticks = this_cpu()->timer_ticks, start = rdtsc();
	uint64_t limit = tsc_us_to_ticks(50 * 1000);
	uint32_t pkrs;
	struct fault f;

	KASSERT_EQ(preempt_timer_start_here(), 0);
	KEXPECT_EQ(pks_set_access(&pks_test_owner, t->key, PKS_ACCESS_RW), 0);
	pkrs = pks_read();
	while (this_cpu()->timer_ticks < ticks + 5 && rdtsc() - start < 40 * limit) {
		catch_write64((uint64_t *)t->va + this_cpu_id(), 1, &f);
		KEXPECT_NO_FAULT(&f);
		KEXPECT_EQ(pks_read(), pkrs);
		if (ktest_failed())
			break;
	}
	KEXPECT_GE(this_cpu()->timer_ticks, ticks + 5);
	if (this_cpu_id())
		preempt_timer_stop_here();
}

KTEST(smp, pkrs_survives_timer_ticks_on_every_cpu)
{
	struct ticks_case t;
	struct pks_page pg;

	NEED_ONLINE_APS();
	NEED_PKS();
	NEED_PREEMPTION();
	t.key = pks_test_key("smp ticks");
	if (t.key < 0 || !pks_data_page(&pg, t.key))
		return;
	t.va = pg.va;
	smp_run_everywhere(keep_pkrs_through_ticks, &t, 5000);
	pks_page_unmap(&pg);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, t.key), 0);
}
