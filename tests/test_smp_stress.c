/* tests/test_smp_stress.c - every CPU changes the tables at once (suite smp_stress).
 *
 * Each online CPU owns one 2 MiB run of frames, and one block of 512 / n pages of
 * a 2 MiB run shared by all n CPUs, so that CPUs split, change and merge the same
 * leaf at once (it merges whenever every block is read-write at the same time). For
 * smp_stress.iters=N iterations (default STRESS_ITERS), each step chosen by ktest.seed= and the CPU
 * index, a CPU puts a random sub-range of its run, or one of its shared pages, into one of three
 * states with set_memory() (read-write key 0, read-only key 0, read-write with the stress key whose
 * default is read-only: splits, merges, key changes), or maps, checks and unmaps a page in the vmap
 * area. After every step it checks a few pages of its own shadow model: the leaf (looked up under
 * pt_lock) and a real write, which must fault with exactly the error code the state gives.
 * Afterwards the checker must find 0 violations, the pool must be full again and
 * the table counts must match a walk.
 */
#include "tests/mm_check.h"
#include "tests/pks_fixture.h"
#include "tests/test_smp_util.h"
#include "kernel/catch.h"
#include "kernel/cmdline.h"
#include "mm/checker.h"
#include "mm/frame.h"
#include "mm/pt_lock.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "arch/tsc.h"

KTEST_SUITE(13, smp_stress, NULL);

#define STRESS_ITERS  24
#define STRESS_CHECKS 4 /* pages checked after every step */

enum page_state { RW, RO, KEYED };

struct stress {
	uint64_t seed;
	int iters, key;
	uint64_t base[NR_CPUS];		     /* each CPU's run (direct map) */
	uint8_t shadow[NR_CPUS][PT_ENTRIES]; /* enum page_state per page */
	uint64_t shared;		     /* the shared run */
	int per_cpu;			     /* CPU c owns pages c * per_cpu ... */
	uint8_t shared_shadow[PT_ENTRIES];   /* written by each page's owner only */
};

static struct stress st;

/* The error code a write to a page in state s raises (0: none). */
static uint64_t write_error(enum page_state s)
{
	return s == RO ? PF_P | PF_W : s == KEYED ? PF_P | PF_W | PF_PK : 0;
}

/* Fails with the step's context: CPU, iteration, seed. */
#define STRESS_FAIL(it, fmt, ...)                                                      \
	ktest_fail(__FILE__, __LINE__, "CPU %d, iteration %d (ktest.seed=%llu): " fmt, \
		   this_cpu_id(), it, (unsigned long long)st.seed, ##__VA_ARGS__)

/* One page to check: where, its index, the state the shadow gives it, its leaf. */
struct check {
	uint64_t va, leaf;
	int p;
	enum page_state s;
};

/* The page matches its state: leaf bits, and a real write. */
static void check_page(int it, const struct check *c)
{
	uint64_t e = c->leaf, want = write_error(c->s);
	struct fault f;

	if (!(e & PTE_P) || !!(e & PTE_W) != (c->s != RO) ||
	    pt_entry_pkey(e) != (c->s == KEYED ? st.key : 0))
		STRESS_FAIL(it, "page %d: leaf 0x%llx does not match state %d", c->p,
			    (unsigned long long)e, c->s);
	catch_write64((volatile void *)c->va, c->p, &f);
	if (want ? !f.hit || f.vector != VEC_PF || f.error != want || f.addr != c->va : f.hit)
		STRESS_FAIL(it,
			    "page %d (state %d): write raised %s 0x%llx at 0x%llx, expected "
			    "0x%llx",
			    c->p, c->s, f.hit ? trap_name(f.vector) : "nothing",
			    (unsigned long long)f.error, (unsigned long long)f.addr,
			    (unsigned long long)want);
}

/* Puts n pages from va into state s. */
static void set_pages(int it, uint64_t va, int n, enum page_state s)
{
	uint64_t set = PTE_W;
	int rc;

	if (s == RO)
		set = 0;
	else if (s == KEYED)
		set |= PTE_PKEY(st.key);
	rc = set_memory(va, n, set, PTE_W | PTE_PKEY_MASK);
	if (rc)
		STRESS_FAIL(it, "set_memory(0x%llx, %d pages, state %d) = %d",
			    (unsigned long long)va, n, s, rc);
}

/* Pages [p, p + n) of this CPU's run into state s. */
static void set_range(int it, int p, int n, enum page_state s)
{
	set_pages(it, st.base[this_cpu_id()] + p * PAGE_SIZE, n, s);
	for (int i = 0; i < n; i++)
		st.shadow[this_cpu_id()][p + i] = s;
}

/* This CPU's k-th page of the shared run (wrapping), its index there. */
static int shared_page(uint64_t k)
{
	return this_cpu_id() * st.per_cpu + (int)(k % st.per_cpu);
}

/* Pages [p, p + n) of the shared run (this CPU's block) into state s. */
static void set_shared(int it, int p, int n, enum page_state s)
{
	set_pages(it, st.shared + p * PAGE_SIZE, n, s);
	for (int i = 0; i < n; i++)
		st.shared_shadow[p + i] = s;
}

/* Checks STRESS_CHECKS pages of this CPU's run and as many of its shared pages;
 * their leaves are looked up under one pt_lock hold (no table is freed meanwhile). */
static void check_some(int it, uint64_t *rnd)
{
	struct check c[2 * STRESS_CHECKS];
	uint64_t flags;
	int level;

	for (int i = 0; i < STRESS_CHECKS; i++) {
		int p = ktest_rand(rnd) % PT_ENTRIES, q = shared_page(ktest_rand(rnd));

		c[2 * i] = (struct check){ st.base[this_cpu_id()] + p * PAGE_SIZE, 0, p,
					   st.shadow[this_cpu_id()][p] };
		c[2 * i + 1] =
			(struct check){ st.shared + q * PAGE_SIZE, 0, q, st.shared_shadow[q] };
	}
	flags = pt_lock_take();
	for (int i = 0; i < 2 * STRESS_CHECKS; i++) {
		uint64_t *e = pt_lookup(c[i].va, &level);

		c[i].leaf = e ? *e : 0;
	}
	pt_lock_drop(flags);
	for (int i = 0; i < 2 * STRESS_CHECKS; i++)
		check_page(it, &c[i]);
}

/* Maps a fresh frame in the vmap area (key 0 or the stress key), writes it, unmaps
 * it, and writes again: not present now. */
static void vmap_step(int it, bool keyed)
{
	phys_addr_t pa = frame_alloc();
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	struct fault f;

	if (!pa || !va ||
	    vmap_map(va, pa, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, keyed ? st.key : 0)) {
		STRESS_FAIL(it, "no vmap page (frame 0x%llx, va 0x%llx)", (unsigned long long)pa,
			    (unsigned long long)va);
		return;
	}
	catch_write64((volatile void *)va, 1, &f);
	if (keyed ? !f.hit || f.error != (PF_P | PF_W | PF_PK) : f.hit)
		STRESS_FAIL(it, "vmap write (keyed %d) raised error 0x%llx (hit %d)", keyed,
			    (unsigned long long)f.error, f.hit);
	vmap_unmap(va, PAGE_SIZE);
	vmap_region_free(va);
	frame_free(pa);
	catch_write64((volatile void *)va, 1, &f);
	if (!f.hit || f.error != PF_W || f.addr != va)
		STRESS_FAIL(it, "write after the unmap raised error 0x%llx (hit %d)",
			    (unsigned long long)f.error, f.hit);
}

/* One CPU's part: its own seeded steps over its own run, then back to RW. */
static void stress_part(void *unused)
{
	uint64_t rnd = st.seed ^ (0x9e3779b97f4a7c15ULL * (this_cpu_id() + 1));
	(void)unused;
	for (int it = 0; it < st.iters && !ktest_failed(); it++) {
		uint64_t r = ktest_rand(&rnd);
		int p = r % PT_ENTRIES, n = 1 + (r >> 16) % 64, op = (r >> 32) % 5;
		enum page_state s = (r >> 44) % 3;

		n = MIN(n, PT_ENTRIES - p);
		if (op == 4) {
			vmap_step(it, (r >> 40) & 1);
		} else if (op == 3 && (r >> 47) & 1) {
			set_shared(it, shared_page(0), st.per_cpu, RW); /* the leaf may merge */
		} else if (op == 3) {
			p = shared_page(r >> 48);
			set_shared(it, p, MIN(n, shared_page(0) + st.per_cpu - p), s);
		} else {
			set_range(it, p, n, s);
		}
		check_some(it, &rnd);
	}
	set_range(-1, 0, PT_ENTRIES, RW); /* the shared run: after the run, on CPU 0 */
}

/* Gives every online CPU its run; false (case failed) when memory is short. */
static bool stress_setup(void)
{
	const char *s = cmdline_get("smp_stress.iters");
	uint64_t v = STRESS_ITERS;
	phys_addr_t pa;

	if (s && parse_u64(s, &v))
		ktest_fail(__FILE__, __LINE__, "smp_stress.iters=%s is not a number", s);
	st.iters = (int)MIN(v, 100000ULL);
	st.seed = ktest_seed();
	st.per_cpu = PT_ENTRIES / smp_nr_online();
	memset(st.shared_shadow, RW, sizeof(st.shared_shadow));
	memset(st.base, 0, sizeof(st.base));
	pa = frame_alloc_run(PT_ENTRIES, PMD_SIZE);
	st.shared = pa ? (uint64_t)pa_to_va(pa) : 0;
	if (!pa) {
		ktest_fail(__FILE__, __LINE__, "no shared 2 MiB run");
		return false;
	}
	for (int i = 0; i < NR_CPUS; i++) {
		if (i && !smp_online(i))
			continue;
		pa = frame_alloc_run(PT_ENTRIES, PMD_SIZE);
		if (!pa) {
			ktest_fail(__FILE__, __LINE__, "no 2 MiB run for CPU %d", i);
			return false;
		}
		st.base[i] = (uint64_t)pa_to_va(pa);
		memset(st.shadow[i], RW, sizeof(st.shadow[i]));
	}
	return true;
}

static void stress_teardown(void)
{
	if (st.shared)
		set_pages(-1, st.shared, PT_ENTRIES, RW);
	if (st.shared)
		frame_free_run(va_to_pa((void *)st.shared), PT_ENTRIES);
	for (int i = 0; i < NR_CPUS; i++)
		if (st.base[i])
			frame_free_run(va_to_pa((void *)st.base[i]), PT_ENTRIES);
}

KTEST(smp_stress, every_cpu_splits_merges_maps_and_rekeys_at_once)
{
	struct checker_result res;
	struct mm_snap was;
	uint64_t frames = frame_free_count(), start, rounds = smp_rounds_sent();
	uint64_t cycles = smp_round_cycles();
	struct set_memory_stats sm0, sm1;
	int n;

	NEED_ONLINE_APS();
	NEED_PKS();
	mm_snap(&was);
	st.key = pks_test_key("smp stress");
	KASSERT_TRUE(st.key > 0);
	KEXPECT_EQ(pks_key_set_default(&pks_test_owner, st.key, PKS_ACCESS_RO), 0);
	if (stress_setup()) {
		set_memory_get_stats(&sm0);
		start = rdtsc();
		n = smp_run_everywhere(stress_part, NULL, 60 * 1000);
		set_memory_get_stats(&sm1);
		rounds = smp_rounds_sent() - rounds;
		ktest_note("%d CPUs x %d iterations, ktest.seed=%llu: %llu ms; %llu shootdown "
			   "rounds, %llu ms in them; pt_lock waited %llu times; %llu splits, %llu "
			   "merges",
			   n, st.iters, (unsigned long long)st.seed,
			   (unsigned long long)((rdtsc() - start) / tsc_khz()),
			   (unsigned long long)rounds,
			   (unsigned long long)((smp_round_cycles() - cycles) / tsc_khz()),
			   (unsigned long long)pt_lock.contended,
			   (unsigned long long)(sm1.splits - sm0.splits),
			   (unsigned long long)(sm1.merges - sm0.merges));
	}
	stress_teardown();
	KEXPECT_EQ(pks_key_free(&pks_test_owner, st.key), 0);
	KEXPECT_EQ(checker_run("after the stress", &res), 0);
	mm_expect_snap(&was);
	mm_expect_counts_match_walk("after the stress");
	KEXPECT_EQ(frame_free_count(), frames);
}
