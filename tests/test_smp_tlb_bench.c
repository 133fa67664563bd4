/* tests/test_smp_tlb_bench.c - what a TLB shootdown round costs (suite bench): a
 * whole-TLB round with 1, 2 and 4 CPUs (and all, past 4), a 512-page round per page
 * against a 1-page round, and set_memory on every CPU. Lines in the bench format
 * (tests/test_bench.h), read by tests/bench/bench-table.sh. In a 1-CPU boot (the
 * default run) each figure is one skip line with the reason and nothing is timed:
 * `make bench` boots SMP=4, and the bios-smp4 boot of the matrix prints them too.
 */
#include "tests/test_bench.h"
#include "tests/test_smp_util.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

/* Rounds timed per figure: the median, min and max of one round each. */
#define BENCH_ROUNDS 101
#define BENCH_NO_SMP "1 CPU online: the shootdown figures need an SMP boot (make bench boots SMP=4)"

struct round_stats {
	uint64_t med, min, max;
};

/* The TSC, after every earlier instruction has completed (SDM Vol. 2B, RDTSC). */
static uint64_t tsc_ordered(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

/* Times BENCH_ROUNDS calls of fn(arg) one by one; median, min and max in cycles. */
static void time_rounds(void (*fn)(const void *), const void *arg, struct round_stats *s)
{
	static uint64_t v[BENCH_ROUNDS];

	for (int n = 0; n < BENCH_ROUNDS; n++) {
		uint64_t t = tsc_ordered();

		fn(arg);
		v[n] = tsc_ordered() - t;
	}
	for (int i = 1; i < BENCH_ROUNDS; i++)
		for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
			uint64_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*s = (struct round_stats){ v[BENCH_ROUNDS / 2], v[0], v[BENCH_ROUNDS - 1] };
}

/* One whole-TLB round from here to the CPUs of *arg (a cpumask; empty: this CPU's
 * own flush only). */
static void whole_round_to(const void *arg)
{
	struct smp_round r = { .kind = SMP_ROUND_TLB };

	flush_tlb_all_local();
	smp_round_to(&r, arg);
}

/* The first k online APs. */
static void first_aps(int k, struct cpumask *m)
{
	*m = (struct cpumask){ 0 };
	for (int i = 1; i < NR_CPUS && k > 0; i++)
		if (smp_online(i)) {
			cpumask_set(m, i);
			k--;
		}
}

/* The bench line of a round with `cpus` CPUs (this one and cpus - 1 APs), each
 * AP asserted to have applied every round. */
static void round_line(int cpus)
{
	uint64_t sent = smp_rounds_sent(), applied;
	int last = last_online_ap();
	struct round_stats s;
	struct cpumask m;

	first_aps(cpus - 1, &m);
	applied = percpu_of(last)->rounds_applied;
	time_rounds(whole_round_to, &m, &s);
	KEXPECT_EQ(smp_rounds_sent() - sent, cpus > 1 ? BENCH_ROUNDS : 0);
	if (cpus > 1 && cpumask_test(&m, last))
		KEXPECT_GE(percpu_of(last)->rounds_applied - applied, BENCH_ROUNDS);
	ktest_note("bench name=shootdown_round_%dcpu%s on=%llu off=- ratio=- unit=cycles n=%d "
		   "on_min=%llu on_max=%llu clock=%s flush=whole%s",
		   cpus, cpus > 1 ? "s" : "", (unsigned long long)s.med, BENCH_ROUNDS,
		   (unsigned long long)s.min, (unsigned long long)s.max, bench_clock(),
		   cpus > 1 ? "" : " ipi=none");
}

KTEST(bench, shootdown_round_with_1_2_and_4_cpus)
{
	int online = smp_nr_online();

	if (online < 2) {
		bench_skipped("shootdown_round_1cpu", BENCH_NO_SMP);
		bench_skipped("shootdown_round_2cpus", BENCH_NO_SMP);
		bench_skipped("shootdown_round_4cpus", BENCH_NO_SMP);
		return;
	}
	round_line(1);
	round_line(2);
	if (online >= 4)
		round_line(4);
	else
		bench_skipped("shootdown_round_4cpus", "fewer than 4 CPUs online");
	if (online > 4)
		round_line(online);
}

/* One flush_tlb_range round over [va, va + *pages pages) on every online CPU. */
static uint64_t round_va;
static void range_round(const void *pages)
{
	flush_tlb_range(round_va, round_va + *(const uint64_t *)pages * PAGE_SIZE);
}

/* The per-page line: a 512-page round per page (on) against a 1-page round (off);
 * the ratio with 4 decimals, as a batched page costs a small fraction of a round. */
static void per_page_line(const struct round_stats *s1, const struct round_stats *s512)
{
	uint64_t per_page = s512->med / PT_ENTRIES, one_round = MAX(s1->med, 1);

	ktest_note("bench name=shootdown_per_page_512_batched on=%llu off=%llu ratio=%llu.%04llu "
		   "unit=cycles/page n=%d on_min=%llu on_max=%llu off_min=%llu off_max=%llu "
		   "clock=%s cpus=%d compare=on=one-512-page-round/512,off=one-1-page-round",
		   (unsigned long long)per_page, (unsigned long long)s1->med,
		   (unsigned long long)(per_page / one_round),
		   (unsigned long long)(per_page % one_round * 10000 / one_round), BENCH_ROUNDS,
		   (unsigned long long)(s512->min / PT_ENTRIES),
		   (unsigned long long)(s512->max / PT_ENTRIES), (unsigned long long)s1->min,
		   (unsigned long long)s1->max, bench_clock(), smp_nr_online());
}

KTEST(bench, shootdown_per_page_of_a_512_page_round_vs_a_1_page_round)
{
	static const uint64_t one = 1, many = PT_ENTRIES;
	struct percpu *ap = percpu_of(last_online_ap());
	struct round_stats s1, s512;
	uint64_t full, pages;

	if (smp_nr_online() < 2) {
		bench_skipped("shootdown_per_page_512_batched", BENCH_NO_SMP);
		return;
	}
	round_va = VMAP_BASE;
	full = ap->flushes_full;
	pages = ap->flushes_pages;
	time_rounds(range_round, &one, &s1);
	time_rounds(range_round, &many, &s512);
	KEXPECT_EQ(ap->flushes_pages - pages, BENCH_ROUNDS); /* INVLPG of the one page */
	KEXPECT_EQ(ap->flushes_full - full, BENCH_ROUNDS);   /* 512 > SMP_FLUSH_PAGES_MAX */
	per_page_line(&s1, &s512);
}

KTEST(bench, set_memory_pays_one_round_for_all_its_pages)
{
	static const int sizes[] = { 1, 16, 256 };
	phys_addr_t pa;
	uint64_t va, start, rounds, t;

	if (smp_nr_online() < 2) {
		for (unsigned int i = 0; i < ARRAY_SIZE(sizes); i++)
			bench_skipped(i == 0   ? "set_memory_ro_1_page_smp"
				      : i == 1 ? "set_memory_ro_16_pages_smp"
					       : "set_memory_ro_256_pages_smp",
				      BENCH_NO_SMP);
		return;
	}
	pa = frame_alloc_run(PT_ENTRIES, PMD_SIZE);
	KASSERT_TRUE(pa != 0);
	va = (uint64_t)pa_to_va(pa);
	for (unsigned int i = 0; i < ARRAY_SIZE(sizes); i++) {
		rounds = smp_rounds_sent();
		start = tsc_ordered();
		KEXPECT_EQ(set_memory_ro(va, sizes[i]), 0);
		t = tsc_ordered() - start;
		rounds = smp_rounds_sent() - rounds;
		ktest_note("bench name=set_memory_ro_%d_page%s_smp on=%llu off=- ratio=- "
			   "unit=cycles/page n=1 clock=%s cpus=%d rounds=%llu",
			   sizes[i], sizes[i] > 1 ? "s" : "", (unsigned long long)(t / sizes[i]),
			   bench_clock(), smp_nr_online(), (unsigned long long)rounds);
		KEXPECT_EQ(rounds, 1);
		KEXPECT_EQ(set_memory_rw(va, sizes[i]), 0);
	}
	frame_free_run(pa, PT_ENTRIES);
}
