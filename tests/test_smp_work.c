/* tests/test_smp_work.c - every CPU at work after bring-up (suite smp): calls,
 * case bodies run on all CPUs at once, and per-CPU protection state (kernel/pks.h
 * default changes reach every CPU and every saved thread PKRS; an opened key stays
 * closed elsewhere). Shootdowns: tests/test_smp_tlb.c.
 */
#include "tests/pks_fixture.h"
#include "tests/test_smp_util.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/pks.h"
#include "kernel/smp.h"
#include "kernel/smp_ipi.h"
#include "kernel/thread.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/tsc.h"
#include "arch/pkrs.h"
#include "mm/pgprot.h"
#include "mm/pt_door.h"

/* --- calls ------------------------------------------------------------------------ */

struct whoami {
	int cpu;
	uint32_t apic_id;
	bool irq_on;
};

static void record_whoami(void *p)
{
	struct whoami *w = p;

	w->cpu = this_cpu_id();
	w->apic_id = apic_id();
	w->irq_on = read_rflags() & RFLAGS_IF;
}

KTEST(smp, every_online_ap_runs_a_call_with_interrupts_on)
{
	int n = 0;

	NEED_ONLINE_APS();
	for (int i = 1; i < NR_CPUS; i++) {
		struct whoami w = { -1, ~0u, false };

		if (!smp_online(i))
			continue;
		KEXPECT_EQ(smp_call(i, record_whoami, &w), 0);
		KEXPECT_EQ(w.cpu, i);
		KEXPECT_EQ(w.apic_id, percpu_of(i)->apic_id);
		KEXPECT_TRUE(w.irq_on);
		n++;
	}
	KEXPECT_EQ(n + 1, smp_report()->nr_up);
	KEXPECT_EQ(smp_nr_online(), smp_report()->nr_up);
}

/* Opens and closes one write window on the CPU it runs on. */
static void open_one_window(void *unused)
{
	(void)unused;
	pt_window_close(pt_window_open());
}

/* Each CPU counts the windows it opens in its own slot (arch/pkrs.h): a window on CPU
 * i moves CPU i's count by one and nobody else's, whichever way the CPU reads its
 * slot (RDPID, or RDTSCP where the CPU has no RDPID, as under TCG); and a round
 * moves each other CPU's count by the one window its acknowledgement opens (the
 * acknowledgements are keyed). */
KTEST(smp, each_cpu_counts_its_own_windows)
{
	static uint64_t before[NR_CPUS];

	NEED_ONLINE_APS();
	if (!pgprot_enforced())
		KTEST_SKIP(pgprot_unprotected_reason());
	for (int i = 1; i < NR_CPUS; i++) {
		uint64_t mine = pkrs_counts[0].windows, its = pkrs_counts[i].windows;

		if (!smp_online(i))
			continue;
		KEXPECT_EQ(smp_call(i, open_one_window, NULL), 0);
		KEXPECT_EQ(pkrs_counts[i].windows, its + 1);
		KEXPECT_EQ(pkrs_counts[0].windows, mine);
	}
	for (int i = 1; i < NR_CPUS; i++)
		before[i] = pkrs_counts[i].windows;
	flush_tlb_all(); /* one round to every other online CPU */
	for (int i = 1; i < NR_CPUS; i++)
		if (smp_online(i))
			KEXPECT_EQ(pkrs_counts[i].windows, before[i] + 1);
}

static volatile int hold_released;

static void hold_until_released(void *unused)
{
	(void)unused;
	tsc_wait_until(&hold_released, 1, 2000 * 1000);
}

KTEST(smp, a_busy_cpu_is_reported_busy_and_its_wait_times_out)
{
	int i = last_online_ap();
	uint64_t start;

	NEED_ONLINE_APS();
	hold_released = 0;
	KASSERT_EQ(smp_post(i, hold_until_released, NULL), 0);
	KEXPECT_EQ(smp_post(i, record_whoami, NULL), -EBUSY);
	start = rdtsc();
	KEXPECT_EQ(smp_wait(i, 20), -ETIMEDOUT);
	KEXPECT_GE((rdtsc() - start) / tsc_khz(), 20);
	hold_released = 1;
	KEXPECT_EQ(smp_wait(i, 1000), 0);
	KEXPECT_EQ(smp_post(0, record_whoami, NULL), -ENODEV);	     /* this CPU */
	KEXPECT_EQ(smp_post(NR_CPUS, record_whoami, NULL), -ENODEV); /* no such CPU */
}

/* --- case bodies on every CPU -------------------------------------------------------- */

static volatile int arrived;
static struct cpumask seen;

/* Every CPU arrives, then waits until all have: only possible when they run at once. */
static void arrive_together(void *p)
{
	int n = *(int *)p;

	__atomic_fetch_or(&seen.w[this_cpu_id() / 64], 1ULL << (this_cpu_id() % 64),
			  __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
	/* Scaled with the CPU count: each vCPU of many on a few host cores arrives only
	 * when it gets a core. */
	KEXPECT_TRUE(tsc_wait_until(&arrived, n, smp_test_bound_ms(1000) * 1000));
	KEXPECT_TRUE(read_rflags() & RFLAGS_IF);
}

KTEST(smp, a_case_body_runs_on_every_cpu_at_once)
{
	struct cpumask online;
	int n = smp_nr_online();

	NEED_ONLINE_APS();
	arrived = 0;
	seen = (struct cpumask){ 0 };
	KEXPECT_EQ(smp_run_everywhere(arrive_together, &n, smp_test_bound_ms(1000) + 1000), n);
	KEXPECT_EQ(arrived, n);
	smp_online_mask(&online);
	cpumask_set(&online, 0);
	KEXPECT_TRUE(cpumask_equal(&seen, &online));
	ktest_note("%d CPUs ran the body at once", n);
}

static volatile int slow_cpu;

/* The last AP fails one expectation; with slow_cpu set it also overstays. */
static void fail_on_the_last_ap(void *unused)
{
	(void)unused;
	if (this_cpu_id() != last_online_ap())
		return;
	KEXPECT_EQ(this_cpu_id(), -1);
	if (slow_cpu)
		tsc_udelay(200 * 1000);
}

KTEST(smp, a_cpu_that_fails_its_part_is_named_with_the_reason)
{
	int status[NR_CPUS], i = last_online_ap();
	uint64_t start;

	NEED_ONLINE_APS();
	slow_cpu = 0;
	KEXPECT_EQ(smp_run_parts(fail_on_the_last_ap, NULL, 1000, status), smp_nr_online());
	for (int c = 0; c < NR_CPUS; c++)
		if (c == 0 || smp_online(c))
			KEXPECT_EQ(percpu_of(c)->nr_fail, c == i ? 1 : 0);
	KEXPECT_TRUE(ktest_contains(percpu_of(i)->fail, "test_smp_work.c"));
	KEXPECT_TRUE(ktest_contains(percpu_of(i)->fail, "expected this_cpu_id() == -1"));
	slow_cpu = 1;
	start = rdtsc();
	KEXPECT_EQ(smp_run_parts(fail_on_the_last_ap, NULL, 20, status), smp_nr_online() - 1);
	KEXPECT_EQ(status[i], -ETIMEDOUT);
	/* It overstayed, and is over: its part's arguments were in this frame. */
	KEXPECT_EQ(percpu_of(i)->call_done, percpu_of(i)->call_req);
	KEXPECT_GE((rdtsc() - start) / tsc_khz(), 200);
}

/* --- per-CPU protection state ---------------------------------------------------------- */

struct key_case {
	int key, opener;
	uint64_t va;
	volatile int opened;
};

/* The opener opens the key for itself; then every CPU writes its own word. */
static void open_on_one_cpu(void *p)
{
	struct key_case *k = p;
	uint64_t *word = (uint64_t *)k->va + this_cpu_id();
	struct fault f;

	if (this_cpu_id() == k->opener) {
		KEXPECT_EQ(pks_set_access(&pks_test_owner, k->key, PKS_ACCESS_RW), 0);
		__atomic_store_n(&k->opened, 1, __ATOMIC_RELEASE);
	}
	KASSERT_TRUE(tsc_wait_until(&k->opened, 1, 1000 * 1000));
	catch_write64(word, 0x5a, &f);
	if (this_cpu_id() == k->opener) {
		KEXPECT_NO_FAULT(&f);
		KEXPECT_EQ(pks_access_of(pks_read(), k->key), PKS_ACCESS_RW);
	} else {
		KEXPECT_PF(&f, PF_P | PF_W | PF_PK, word);
		KEXPECT_EQ(pks_access_of(pks_read(), k->key), PKS_ACCESS_RO);
	}
}

KTEST(smp, a_key_opened_on_one_cpu_stays_closed_on_the_others)
{
	struct key_case k = { .opener = last_online_ap() };
	struct pks_page pg;

	NEED_ONLINE_APS();
	NEED_PKS();
	k.key = pks_test_key("smp open");
	if (k.key < 0 || !pks_data_page(&pg, k.key))
		return;
	k.va = pg.va;
	KEXPECT_EQ(pks_key_set_default(&pks_test_owner, k.key, PKS_ACCESS_RO), 0);
	smp_run_everywhere(open_on_one_cpu, &k, 2000);
	pks_page_unmap(&pg);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, k.key), 0);
}

struct default_case {
	int key;
	uint64_t va;
	enum pks_access want;
};

/* Every CPU sees the default CPU 0 set: in its live PKRS and in its accesses. */
static void sees_the_default(void *p)
{
	struct default_case *d = p;
	volatile uint64_t *word = (uint64_t *)d->va + this_cpu_id();
	struct fault f;

	KEXPECT_EQ(pks_access_of(pks_read(), d->key), d->want);
	catch_read64(word, &f);
	if (d->want == PKS_ACCESS_NONE)
		KEXPECT_PF(&f, PF_P | PF_PK, word);
	else
		KEXPECT_NO_FAULT(&f);
	catch_write64(word, 1, &f);
	if (d->want == PKS_ACCESS_RW)
		KEXPECT_NO_FAULT(&f);
	else
		KEXPECT_PF(&f, PF_P | PF_W | PF_PK, word);
}

static void idle_thread(void *unused)
{
	(void)unused;
}

KTEST(smp, a_default_change_on_cpu_0_is_seen_by_every_cpu_and_thread)
{
	static const enum pks_access order[] = { PKS_ACCESS_RW, PKS_ACCESS_NONE, PKS_ACCESS_RO };
	struct default_case d;
	struct pks_page pg;
	struct thread *t;

	NEED_ONLINE_APS();
	NEED_PKS();
	d.key = pks_test_key("smp default");
	if (d.key < 0 || !pks_data_page(&pg, d.key))
		return;
	d.va = pg.va;
	t = thread_create("smp default", idle_thread, NULL);
	KASSERT_TRUE(t != NULL);
	for (unsigned int i = 0; i < ARRAY_SIZE(order); i++) {
		d.want = order[i];
		KEXPECT_EQ(pks_key_set_default(&pks_test_owner, d.key, d.want), 0);
		KEXPECT_EQ(pks_access_of(thread_saved_pkrs(t), d.key), d.want);
		smp_run_everywhere(sees_the_default, &d, 2000);
	}
	thread_join(t);
	pks_page_unmap(&pg);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, d.key), 0);
	d.want = PKS_ACCESS_NONE; /* a freed key is closed everywhere again */
	smp_run_everywhere(check_key_closed, &d.key, 2000);
}
