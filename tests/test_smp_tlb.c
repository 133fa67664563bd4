/* tests/test_smp_tlb.c - TLB shootdown and locks across CPUs (suite smp).
 *
 * Each shootdown case lets another CPU cache a writable translation first (a
 * write through it), then changes the mapping on CPU 0, then has that CPU write
 * again: without the shootdown its TLB would still hold the writable entry and
 * the write would land; with it the write faults at once with the exact error
 * code at the exact address.
 */
#include "tests/pks_fixture.h"
#include "tests/test_smp_util.h"
#include "kernel/catch.h"
#include "kernel/spinlock.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

/* One CPU's two writes around a change on CPU 0, in one call: between them that CPU
 * only spins (interrupts on, no PKRS write: under QEMU a PKRS write flushes the
 * TLB, so only the shootdown's interrupt can drop the cached entry). */
struct stale_case {
	uint64_t va;
	volatile int cached, changed;
	struct fault first, second;
	uint64_t rounds_before, rounds_after; /* rounds that CPU applied meanwhile */
};

static void write_wait_write(void *p)
{
	struct stale_case *s = p;

	catch_write64((volatile void *)s->va, 1, &s->first);
	s->rounds_before = this_cpu()->rounds_applied;
	__atomic_store_n(&s->cached, 1, __ATOMIC_RELEASE);
	tsc_wait_until(&s->changed, 1, 2000 * 1000);
	s->rounds_after = this_cpu()->rounds_applied;
	catch_write64((volatile void *)s->va, 2, &s->second);
}

/* CPU i writes va (caching a writable translation), change(arg) runs here, CPU i
 * writes va again; the outcome is in *s. False when CPU i did not take part. */
static bool write_around(int i, struct stale_case *s, void (*change)(void *), void *arg)
{
	bool cached;

	s->cached = s->changed = 0;
	if (smp_post(i, write_wait_write, s))
		return false;
	cached = tsc_wait_until(&s->cached, 1, 1000 * 1000);
	if (cached)
		change(arg);
	__atomic_store_n(&s->changed, 1, __ATOMIC_RELEASE);
	/* s is in the caller's frame: CPU i is done with it before this returns */
	return smp_wait_drained(i, 3000) == 0 && cached;
}

static void make_read_only(void *p)
{
	KEXPECT_EQ(set_memory_ro(*(uint64_t *)p, 1), 0);
}

KTEST(smp, read_only_change_on_cpu_0_makes_the_next_write_on_cpu_n_fault)
{
	int i = last_online_ap();
	struct stale_case s;
	phys_addr_t pa;

	NEED_ONLINE_APS();
	pa = frame_alloc();
	KASSERT_TRUE(pa != 0);
	s = (struct stale_case){ .va = (uint64_t)pa_to_va(pa) };
	KASSERT_TRUE(write_around(i, &s, make_read_only, &s.va));
	KEXPECT_NO_FAULT(&s.first);
	KEXPECT_PF(&s.second, PF_P | PF_W, s.va);
	KEXPECT_GT(s.rounds_after, s.rounds_before);
	KEXPECT_EQ(set_memory_rw(s.va, 1), 0);
	frame_free(pa);
}

struct key_change {
	uint64_t va;
	int key;
};

static void give_key(void *p)
{
	struct key_change *k = p;

	KEXPECT_EQ(set_memory_pkey(k->va, 1, k->key), 0);
}

KTEST(smp, key_change_on_cpu_0_makes_the_next_write_on_cpu_n_fault_with_pk)
{
	int i = last_online_ap();
	struct stale_case s;
	struct key_change k;
	phys_addr_t pa;

	NEED_ONLINE_APS();
	NEED_PKS();
	pa = frame_alloc();
	KASSERT_TRUE(pa != 0);
	s = (struct stale_case){ .va = (uint64_t)pa_to_va(pa) };
	k = (struct key_change){ .va = s.va };
	k.key = pks_test_key("smp shootdown");
	KASSERT_TRUE(k.key > 0);
	KEXPECT_EQ(pks_key_set_default(&pks_test_owner, k.key, PKS_ACCESS_RO), 0);
	KEXPECT_TRUE(write_around(i, &s, give_key, &k));
	KEXPECT_NO_FAULT(&s.first);
	KEXPECT_PF(&s.second, PF_P | PF_W | PF_PK, s.va);
	KEXPECT_EQ(set_memory_pkey(s.va, 1, 0), 0);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, k.key), 0);
	frame_free(pa);
}

static void unmap_page(void *p)
{
	struct pks_page *pg = p;

	vmap_unmap(pg->va, pg->size);
}

KTEST(smp, unmap_on_cpu_0_makes_the_next_write_on_cpu_n_fault_not_present)
{
	int i = last_online_ap();
	struct pks_page pg;
	struct stale_case s;

	NEED_ONLINE_APS();
	KASSERT_EQ(pks_page_map(&pg, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	s = (struct stale_case){ .va = pg.va + 8 };
	KEXPECT_TRUE(write_around(i, &s, unmap_page, &pg));
	KEXPECT_NO_FAULT(&s.first);
	KEXPECT_PF(&s.second, PF_W, s.va);
	frame_free(pg.pa);
}

/* A run of pages CPU n writes around an unmap of all of them on CPU 0: every write
 * before must land, every write after must fault not-present (error code W only:
 * P = 0 is bit 0 clear) at its own address. */
struct stale_run {
	uint64_t va, pages;
	volatile int cached, changed;
	uint64_t missed_before; /* writes before the unmap that faulted */
	uint64_t right_after;	/* writes after it that faulted as they must */
	uint64_t wrong_va;	/* the first that did not, and how it ended */
	struct fault wrong;
};

/* Waits (bounded, 2 s) for *v to become 1 with interrupts off, taking rounds by
 * polling: no trap, so no PKRS reload (under QEMU one flushes the whole TLB). */
static void wait_polling_rounds(const volatile int *v)
{
	uint64_t start = rdtsc(), ticks = tsc_us_to_ticks(2000 * 1000);

	while (!__atomic_load_n(v, __ATOMIC_ACQUIRE) && rdtsc() - start < ticks) {
		smp_poll_rounds();
		cpu_relax();
	}
}

/* CPU n, interrupts off: writes every page (caching its translation), waits for
 * the unmap, writes every page again, the last one first. Only the round's own
 * flush can drop the cached entries before that first write. Under QEMU any PKRS
 * write flushes the whole TLB, and the fault catcher may make one after a fault, so
 * there the first write is the sure proof; on hardware every write is. */
static void write_run_wait_write_run(void *p)
{
	struct stale_run *s = p;
	uint64_t flags = irq_save();
	struct fault f;

	for (uint64_t i = 0; i < s->pages; i++) {
		catch_write64((volatile void *)(s->va + i * PAGE_SIZE + 8), i, &f);
		s->missed_before += f.hit;
	}
	__atomic_store_n(&s->cached, 1, __ATOMIC_RELEASE);
	wait_polling_rounds(&s->changed);
	for (uint64_t i = s->pages; i-- > 0;) {
		uint64_t a = s->va + i * PAGE_SIZE + 8;

		catch_write64((volatile void *)a, ~i, &f);
		if (f.hit && f.vector == VEC_PF && f.error == PF_W && f.addr == a)
			s->right_after++;
		else if (!s->wrong_va) {
			s->wrong_va = a;
			s->wrong = f;
		}
	}
	irq_restore(flags);
}

/* Maps `pages` fresh frames writable at a reserved va, has CPU i write them all,
 * unmaps them all with one vmap_unmap here (one round), and has CPU i write them
 * all again: each write must fault. */
static void unmap_run_under_cpu(int i, uint64_t pages)
{
	uint64_t va = vmap_reserve(pages * PAGE_SIZE, 2 * MiB), sent;
	phys_addr_t pa = frame_alloc_run(pages, PAGE_SIZE);
	struct stale_run s = { .va = va, .pages = pages };
	bool cached;

	KASSERT_TRUE(va && pa);
	KASSERT_EQ(vmap_map(va, pa, pages * PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	KASSERT_EQ(smp_post(i, write_run_wait_write_run, &s), 0);
	cached = tsc_wait_until(&s.cached, 1, 2000 * 1000);
	sent = smp_rounds_sent();
	if (cached)
		vmap_unmap(va, pages * PAGE_SIZE);
	sent = smp_rounds_sent() - sent;
	__atomic_store_n(&s.changed, 1, __ATOMIC_RELEASE);
	KEXPECT_EQ(smp_wait_drained(i, smp_test_bound_ms(5000)), 0); /* s: this frame */
	KEXPECT_TRUE(cached);
	KEXPECT_EQ(sent, 1); /* the whole batch in one round */
	KEXPECT_EQ(s.missed_before, 0);
	KEXPECT_EQ(s.right_after, pages);
	if (s.wrong_va) {
		ktest_note("first wrong write on CPU %d: 0x%llx", i,
			   (unsigned long long)s.wrong_va);
		KEXPECT_PF(&s.wrong, PF_W, s.wrong_va);
	}
	if (!cached)
		vmap_unmap(va, pages * PAGE_SIZE);
	KEXPECT_EQ(frame_free_run(pa, pages), 0);
}

/* 32 pages: the others flush them by INVLPG; 512: the whole TLB (SMP_FLUSH_PAGES_MAX). */
KTEST(smp, unmap_of_32_pages_in_one_round_makes_every_write_on_cpu_n_fault_not_present)
{
	NEED_ONLINE_APS();
	unmap_run_under_cpu(last_online_ap(), SMP_FLUSH_PAGES_MAX);
}

KTEST(smp, unmap_of_512_pages_in_one_round_makes_every_write_on_cpu_n_fault_not_present)
{
	NEED_ONLINE_APS();
	unmap_run_under_cpu(last_online_ap(), PT_ENTRIES);
}

static void make_run_read_only(void *p)
{
	int level;

	KEXPECT_EQ(set_memory_ro(*(uint64_t *)p, PT_ENTRIES), 0); /* 512 leaves merge */
	KEXPECT_TRUE(pt_lookup(*(uint64_t *)p, &level) && level == PT_LEVEL_PMD);
}

KTEST(smp, merge_on_cpu_0_leaves_no_stale_4k_entry_on_cpu_n)
{
	int i = last_online_ap(), level;
	uint64_t pool_free = pool_free_count();
	struct stale_case s;
	phys_addr_t pa;

	NEED_ONLINE_APS();
	pa = frame_alloc_run(PT_ENTRIES, PMD_SIZE);
	KASSERT_TRUE(pa != 0);
	s = (struct stale_case){ .va = (uint64_t)pa_to_va(pa) };
	KEXPECT_EQ(set_memory_ro(s.va + PAGE_SIZE, 1), 0); /* split: va is a 4 KiB leaf */
	KEXPECT_TRUE(pt_lookup(s.va, &level) && level == PT_LEVEL_PTE);
	KEXPECT_TRUE(write_around(i, &s, make_run_read_only, &s.va));
	KEXPECT_NO_FAULT(&s.first);
	KEXPECT_PF(&s.second, PF_P | PF_W, s.va);
	/* The change and the merge share one round, sent before the table is freed. */
	KEXPECT_EQ(s.rounds_after, s.rounds_before + 1);
	KEXPECT_EQ(set_memory_rw(s.va, PT_ENTRIES), 0);
	KEXPECT_EQ(pool_free_count(), pool_free); /* every split table came back */
	frame_free_run(pa, PT_ENTRIES);
}

KTEST(smp, a_set_memory_call_of_many_pages_costs_one_shootdown_round)
{
	uint64_t va, sent;
	phys_addr_t pa;

	NEED_ONLINE_APS();
	pa = frame_alloc_run(16, PAGE_SIZE);
	KASSERT_TRUE(pa != 0);
	va = (uint64_t)pa_to_va(pa);
	sent = smp_rounds_sent();
	KEXPECT_EQ(set_memory_ro(va, 16), 0);
	KEXPECT_EQ(smp_rounds_sent() - sent, 1);
	KEXPECT_EQ(set_memory_rw(va, 16), 0);
	frame_free_run(pa, 16);
}

KTEST(smp, small_ranges_are_flushed_by_page_and_large_ones_whole)
{
	int i = last_online_ap();
	struct percpu *p = percpu_of(i);
	uint64_t pages = p->flushes_pages, full = p->flushes_full, va = VMAP_BASE;

	NEED_ONLINE_APS();
	flush_tlb_range(va, va + SMP_FLUSH_PAGES_MAX * PAGE_SIZE);
	KEXPECT_EQ(p->flushes_pages, pages + 1);
	KEXPECT_EQ(p->flushes_full, full);
	flush_tlb_range(va, va + (SMP_FLUSH_PAGES_MAX + 1) * PAGE_SIZE);
	KEXPECT_EQ(p->flushes_full, full + 1);
	flush_tlb_all();
	KEXPECT_EQ(p->flushes_full, full + 2);
}

/* --- locks ------------------------------------------------------------------------ */

static struct spinlock test_lock = SPINLOCK_INIT("smp test lock");
static uint64_t counted; /* under test_lock, plain (not atomic) increments */
/* Acquisitions per CPU: 2000, fewer past 4 CPUs (1024 in all, at least 32 each):
 * every CPU contends all along either way, and under TCG each hand-over waits for
 * the next vCPU in line to get a host core (a ticket lock serves them in order),
 * which with 16 vCPUs on 2 cores made 8000 hand-overs take 40 to 280 s. */
static int lock_rounds;

static void count_under_the_lock(void *unused)
{
	(void)unused;
	for (int k = 0; k < lock_rounds; k++) {
		uint64_t flags = spin_lock_irqsave(&test_lock);

		counted = counted + 1;
		spin_unlock_irqrestore(&test_lock, flags);
	}
	KEXPECT_FALSE(spin_held(&test_lock));
}

KTEST(smp, a_spinlock_lets_one_cpu_at_a_time_in)
{
	int n;

	NEED_ONLINE_APS();
	counted = 0;
	n = smp_nr_online();
	lock_rounds = n <= 4 ? 2000 : MAX(32, 1024 / n);
	KEXPECT_EQ(smp_run_everywhere(count_under_the_lock, NULL, smp_test_bound_ms(5000)), n);
	KEXPECT_EQ(counted, (uint64_t)lock_rounds * n);
	ktest_note("%d CPUs, %llu acquisitions waited", n, (unsigned long long)test_lock.contended);
}

/* True once *v differs from old, within a second. */
static bool wait_for_change(const volatile uint64_t *v, uint64_t old)
{
	uint64_t start = rdtsc(), ticks = tsc_us_to_ticks(1000 * 1000);

	while (*v == old)
		if (rdtsc() - start > ticks)
			return false;
		else
			cpu_relax();
	return true;
}

static void take_the_test_lock(void *unused)
{
	uint64_t flags = spin_lock_irqsave(&test_lock);

	(void)unused;
	spin_unlock_irqrestore(&test_lock, flags);
}

KTEST(smp, a_cpu_spinning_on_a_lock_with_interrupts_off_still_takes_shootdowns)
{
	int i = last_online_ap();
	uint64_t flags, contended, applied;

	NEED_ONLINE_APS();
	flags = spin_lock_irqsave(&test_lock);
	contended = test_lock.contended;
	KEXPECT_EQ(smp_post(i, take_the_test_lock, NULL), 0);
	KASSERT_TRUE(wait_for_change(&test_lock.contended, contended)); /* it spins now */
	applied = percpu_of(i)->rounds_applied;
	flush_tlb_all(); /* returns only when CPU i applied it */
	KEXPECT_EQ(percpu_of(i)->rounds_applied, applied + 1);
	spin_unlock_irqrestore(&test_lock, flags);
	KEXPECT_EQ(smp_wait(i, 1000), 0);
}
