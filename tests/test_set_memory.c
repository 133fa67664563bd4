/* tests/test_set_memory.c - set_memory on the direct map: round trips over 4 KiB,
 * 2 MiB and 1 GiB boundaries that split and merge back, and a seeded random
 * sequence checked against a shadow model (suite set_memory; its error paths are in
 * tests/test_set_memory_errors.c). Names here start with sm_. */
#include "kernel/catch.h"
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "kernel/printf.h"
#include "mm/dmap.h"
#include "mm/pgprot.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/set_memory.h"
#include "tests/mm_check.h"

KTEST_SUITE(23, set_memory, NULL);

#define SM_PATTERN 0x7461626c65ULL /* "table": what a test writes to its pages */

/* ---- set_memory round trips: split, then merge back --------------------------------- */

enum sm_anchor { SM_IN_2M, SM_AT_2M, SM_AT_1G };

struct sm_trip {
	int at;	       /* the 2 MiB or 1 GiB boundary the range is placed by */
	int64_t first; /* first page changed, relative to it */
	uint64_t pages;
};

/* Level of the direct-map leaf for pa, or -1 when unmapped. */
static int sm_level(phys_addr_t pa)
{
	int level;

	return pt_lookup(PAGE_OFFSET + pa, &level) ? level : -1;
}

/* The claimed range of t at anchor a: its pages and a guard page each side. */
static phys_addr_t sm_claim_start(const struct sm_trip *t, phys_addr_t a)
{
	return a + (uint64_t)((t->first - 1) * (int64_t)PAGE_SIZE);
}

/* True when a suits t: large leaves on both sides (a 1 GiB one for SM_AT_1G) and
 * every frame of the claimed range free. */
static bool sm_anchor_ok(const struct sm_trip *t, phys_addr_t a)
{
	int below = sm_level(a - PAGE_SIZE), above = sm_level(a);
	bool ok = above >= PT_LEVEL_PMD;

	if (t->at != SM_IN_2M)
		ok = ok && below >= PT_LEVEL_PMD;
	if (t->at == SM_AT_1G)
		ok = ok && MAX(below, above) == PT_LEVEL_PUD;
	return ok && frame_range_free(sm_claim_start(t, a), (t->pages + 2) * PAGE_SIZE);
}

/* Finds an anchor for t and takes its claimed range out of the frame allocator. */
static phys_addr_t sm_claim_anchor(const struct sm_trip *t)
{
	uint64_t step = t->at == SM_AT_1G ? GiB : 2 * MiB;
	const struct pa_range *r;
	int n = dmap_ranges(&r);

	for (phys_addr_t a = step; a < r[n - 1].base + r[n - 1].len; a += step)
		if (sm_anchor_ok(t, a) &&
		    frame_remove_range(sm_claim_start(t, a), (t->pages + 2) * PAGE_SIZE) == 0)
			return a;
	return 0;
}

/* Pages of [lo, hi) whose W bit is not "clear inside [va, end), set outside". */
static int sm_w_mismatches(uint64_t lo, uint64_t hi, uint64_t va, uint64_t end)
{
	int bad = 0, level;

	for (uint64_t p = lo; p < hi; p += PAGE_SIZE) {
		uint64_t *e = pt_lookup(p, &level);

		bad += !e || !(*e & PTE_W) != (p >= va && p < end);
	}
	return bad;
}

/* Stores into the first and last page of [va, end) and the guard page on each side:
 * the inside ones fault (P|W, at that address) when `ro`, the guards never. */
static void sm_expect_writes(uint64_t va, uint64_t end, bool ro)
{
	const uint64_t probe[] = { va - PAGE_SIZE, va, end - PAGE_SIZE, end };

	for (size_t i = 0; i < ARRAY_SIZE(probe); i++) {
		struct fault f;

		catch_write64((void *)probe[i], SM_PATTERN, &f);
		if (ro && probe[i] >= va && probe[i] < end)
			KEXPECT_PF(&f, PF_P | PF_W, probe[i]);
		else
			KEXPECT_NO_FAULT(&f);
	}
}

static void sm_round_trip(const struct sm_trip *t)
{
	uint64_t va, end, c0[PT_NR_LEVELS], free0 = pool_free_count();
	struct dmap_stats s0, s1;
	struct set_memory_stats m0, m1, m2;
	phys_addr_t a;

	if (t->at == SM_AT_1G && !dmap_has_1g())
		KTEST_SKIP("CPU has no 1 GiB pages");
	a = sm_claim_anchor(t);
	if (!a && t->at == SM_AT_1G)
		KTEST_SKIP("no 1 GiB leaf boundary with free frames in this memory map");
	KASSERT_TRUE(a != 0);
	va = PAGE_OFFSET + sm_claim_start(t, a) + PAGE_SIZE;
	end = va + t->pages * PAGE_SIZE;
	ktest_note("pages [0x%llx, 0x%llx)", (unsigned long long)(va - PAGE_OFFSET),
		   (unsigned long long)(end - PAGE_OFFSET));
	dmap_stats(&s0);
	mm_counts(c0);
	set_memory_get_stats(&m0);
	KEXPECT_EQ(set_memory_ro(va, t->pages), 0);
	set_memory_get_stats(&m1);
	/* A range that is no whole 2 MiB leaf splits; every split flushed its large
	 * translation right after linking its table (mm/set_memory.c: flush_split). */
	if ((t->first | (int64_t)t->pages) % 512)
		KEXPECT_GT(m1.splits, m0.splits);
	KEXPECT_EQ(m1.split_flushes - m0.split_flushes, m1.splits - m0.splits);
	KEXPECT_EQ(m1.flushes - m0.flushes, 1); /* the change's one flush (and round) */
	KEXPECT_EQ(sm_w_mismatches(va - PAGE_SIZE, end + PAGE_SIZE, va, end), 0);
	sm_expect_writes(va, end, true);
	mm_expect_counts_match_walk("after the split");
	KEXPECT_EQ(set_memory_rw(va, t->pages), 0);
	set_memory_get_stats(&m2);
	/* The leaves' changes and the merges back share one flush, before the frees. */
	KEXPECT_GE(m2.merges - m1.merges, m1.splits - m0.splits);
	KEXPECT_EQ(m2.flushes - m1.flushes, 1);
	KEXPECT_EQ(sm_w_mismatches(va - PAGE_SIZE, end + PAGE_SIZE, end, end), 0);
	sm_expect_writes(va, end, false);
	mm_expect_counts_match_walk("after the merge");
	dmap_stats(&s1);
	for (int l = PT_LEVEL_PTE; l <= PT_LEVEL_PUD; l++)
		KEXPECT_EQ(s1.leaves[l], s0.leaves[l]);
	mm_expect_counts(c0, 0, false);
	KEXPECT_EQ(pool_free_count(), free0);
	KEXPECT_EQ(frame_add_range(va - PAGE_SIZE - PAGE_OFFSET, (t->pages + 2) * PAGE_SIZE), 0);
}

/* The round-trip table: one case per row, each named for the range it changes. */
#define SM_TRIP(cname, anchor, first_page, nr_pages)                              \
	KTEST(set_memory, cname)                                                  \
	{                                                                         \
		static const struct sm_trip t = { anchor, first_page, nr_pages }; \
		sm_round_trip(&t);                                                \
	}

SM_TRIP(round_trip_one_page_inside_2m_leaf, SM_IN_2M, 7, 1)
SM_TRIP(round_trip_whole_2m_leaf, SM_IN_2M, 0, 512)
SM_TRIP(round_trip_pages_straddling_2m_boundary, SM_AT_2M, -2, 4)
SM_TRIP(round_trip_2m_and_2_pages_over_three_regions, SM_AT_2M, -1, 514)
SM_TRIP(round_trip_first_page_of_1g_leaf, SM_AT_1G, 0, 1)
SM_TRIP(round_trip_pages_straddling_1g_boundary, SM_AT_1G, -3, 6)
SM_TRIP(round_trip_2m_straddling_1g_boundary, SM_AT_1G, -256, 512)

/* ---- randomized: set_memory against a shadow model ----------------------------- */

#define SM_RND_RUNS  3
#define SM_RND_PAGES 1024 /* 4 MiB per run: two 2 MiB regions */
#define SM_RND_STEPS 1000 /* set_memory.steps=N changes it (a matrix boot runs 20000) */
#define SM_RND_FULL  128  /* every so many steps, every page is compared */
#define SM_SHADOW_W  0x80 /* shadow byte: W bit, key in bits 3:0 */

enum sm_op { SM_RO, SM_RW, SM_KEY };

static const char *const sm_op_names[] = { "set_memory_ro", "set_memory_rw", "set_memory_pkey" };

struct sm_step {
	int nr, run, op, key;
	uint64_t first, pages;
};

static phys_addr_t sm_rnd_run[SM_RND_RUNS];
static bool sm_rnd_claimed; /* run 0 sits in a 1 GiB leaf, claimed by address */
static uint8_t sm_shadow[SM_RND_RUNS][SM_RND_PAGES];

static uint64_t sm_rnd_va(int run, uint64_t page)
{
	return PAGE_OFFSET + sm_rnd_run[run] + page * PAGE_SIZE;
}

/* Step nr: short ranges mostly, sometimes up to a whole run; keys avoid the
 * page-table key, and half of the key changes go back to key 0. One step in four
 * makes one whole 2 MiB region (or both) read-write or key 0, so that regions come
 * back to one state and merge, and the short steps after split them again: about
 * one split or merge in five steps, where uniform ranges gave one in twenty. */
static struct sm_step sm_rnd_step(uint64_t *rng, int nr)
{
	uint64_t r = ktest_rand(rng), r2 = ktest_rand(rng);
	struct sm_step s = { .nr = nr, .run = (int)(r % SM_RND_RUNS), .op = (int)((r >> 8) % 3) };

	s.first = (r >> 16) % SM_RND_PAGES;
	s.pages = 1 + ((r >> 32) & 1 ? (r2 % 8) : (r2 % SM_RND_PAGES));
	s.pages = MIN(s.pages, SM_RND_PAGES - s.first);
	s.key = (r >> 40) & 1 ? 0 : (int)((r >> 44) % 16);
	if ((r >> 52) % 4 == 0) {
		s.op = (r >> 54) & 1 ? SM_RW : SM_KEY;
		s.key = 0;
		s.first = (r >> 56) & 1 ? PT_ENTRIES : 0;
		s.pages = (r >> 57) & 1 ? SM_RND_PAGES - s.first : PT_ENTRIES;
	}
	if (s.key == pgprot_key())
		s.key = 0;
	return s;
}

/* The walk's length: set_memory.steps=N (1 to 1000000), else SM_RND_STEPS. */
static int sm_rnd_steps(void)
{
	const char *arg = cmdline_get("set_memory.steps");
	uint64_t n = SM_RND_STEPS;

	if (arg && (parse_u64(arg, &n) || n < 1 || n > 1000000)) {
		ktest_fail(__FILE__, __LINE__, "set_memory.steps=%s: expected 1 to 1000000", arg);
		return 0;
	}
	return (int)n;
}

/* ktest context: the step in progress, as the call it makes. */
static void sm_rnd_print_step(const void *arg)
{
	const struct sm_step *s = arg;

	kprintf("step %d: %s(0x%llx, %llu", s->nr, sm_op_names[s->op],
		(unsigned long long)sm_rnd_va(s->run, s->first), (unsigned long long)s->pages);
	if (s->op == SM_KEY)
		kprintf(", %d", s->key);
	kprintf(") on run %d pages [%llu, +%llu)\n", s->run, (unsigned long long)s->first,
		(unsigned long long)s->pages);
}

/* Makes the step's call and the same change in the shadow; returns the call's result. */
static int sm_rnd_apply(const struct sm_step *s)
{
	uint64_t va = sm_rnd_va(s->run, s->first);

	for (uint64_t i = s->first; i < s->first + s->pages; i++) {
		uint8_t *sh = &sm_shadow[s->run][i];

		*sh = s->op == SM_RO   ? *sh & ~SM_SHADOW_W
		      : s->op == SM_RW ? *sh | SM_SHADOW_W
				       : (uint8_t)((*sh & SM_SHADOW_W) | s->key);
	}
	return s->op == SM_RO	? set_memory_ro(va, s->pages)
	       : s->op == SM_RW ? set_memory_rw(va, s->pages)
				: set_memory_pkey(va, s->pages, s->key);
}

/* True when page i of run, mapped by the leaf e at `level` (NULL: no leaf), agrees
 * with the shadow (W, key; NX, and the address it maps); else fails the case with
 * the entry found and the shadow's expectation. */
static bool sm_rnd_page_ok(int run, uint64_t i, const uint64_t *e, int level)
{
	uint64_t va = sm_rnd_va(run, i), pa;
	uint8_t sh = sm_shadow[run][i];

	pa = e ? pt_entry_pa(*e, level) + (va & (pt_size(level) - 1)) : 0;
	if (e && !(*e & PTE_W) == !(sh & SM_SHADOW_W) && pt_entry_pkey(*e) == (sh & 0xf) &&
	    (*e & PTE_NX) && pa == va - PAGE_OFFSET)
		return true;
	ktest_fail(__FILE__, __LINE__,
		   "run %d page %llu at 0x%llx: found %s entry 0x%llx (W=%d NX=%d key %d, "
		   "maps 0x%llx); the shadow expects W=%d NX=1 key %d, maps 0x%llx",
		   run, (unsigned long long)i, (unsigned long long)va,
		   e ? pt_level_name(level) : "no", e ? (unsigned long long)*e : 0ULL,
		   e && (*e & PTE_W), e && (*e & PTE_NX), e ? pt_entry_pkey(*e) : 0,
		   (unsigned long long)pa, !!(sh & SM_SHADOW_W), sh & 0xf,
		   (unsigned long long)(va - PAGE_OFFSET));
	return false;
}

/* True when pages [first, end) of a run agree with the shadow (reports the first
 * that does not). Each page is compared; a large leaf is looked up once, and the
 * pte after a 4 KiB leaf is the next slot of its table (a walk when that ends). */
static bool sm_rnd_pages_ok(int run, uint64_t first, uint64_t end)
{
	uint64_t *e = NULL, leaf_end = 0;
	int level = 0;

	for (uint64_t i = first; i < end; i++) {
		uint64_t va = sm_rnd_va(run, i);

		if (e && va == leaf_end && level == PT_LEVEL_PTE &&
		    pt_index(va, PT_LEVEL_PTE) != 0 && pt_present(e[1])) {
			e++;
			leaf_end += PAGE_SIZE;
		} else if (va >= leaf_end || !e) {
			e = pt_lookup(va, &level);
			leaf_end = e ? ALIGN_DOWN(va, pt_size(level)) + pt_size(level) : 0;
		}
		if (!sm_rnd_page_ok(run, i, e, level))
			return false;
	}
	return true;
}

/* Writes a random key-0 page: true when it faults (P|W, at that address) exactly
 * when the shadow says read-only; else fails the case saying what happened. */
static bool sm_rnd_probe(uint64_t *rng)
{
	uint64_t r = ktest_rand(rng), page = (r >> 8) % SM_RND_PAGES;
	int run = (int)(r % SM_RND_RUNS);
	uint64_t *va = (uint64_t *)sm_rnd_va(run, page);
	bool ro = !(sm_shadow[run][page] & SM_SHADOW_W);
	struct fault f;

	if (sm_shadow[run][page] & 0xf)
		return true; /* keyed: PKRS may deny access */
	catch_write64(va, 0, &f);
	if (ro ? f.hit && f.vector == VEC_PF && f.error == (PF_P | PF_W) && f.addr == (uint64_t)va
	       : !f.hit)
		return true;
	if (!f.hit)
		ktest_fail(
			__FILE__, __LINE__,
			"write to run %d page %llu at 0x%llx: no fault; the shadow says read-only "
			"(#PF 0x3 expected)",
			run, (unsigned long long)page, (unsigned long long)va);
	else
		ktest_fail(__FILE__, __LINE__,
			   "write to run %d page %llu at 0x%llx: %s error 0x%llx at 0x%llx; the "
			   "shadow says %s",
			   run, (unsigned long long)page, (unsigned long long)va,
			   trap_name(f.vector), (unsigned long long)f.error,
			   (unsigned long long)f.addr,
			   ro ? "read-only (#PF 0x3 at that address expected)" : "writable");
	return false;
}

/* The start of a 1 GiB leaf whose first 4 MiB are free, taken out of the allocator
 * (so that the walk splits and merges 1 GiB leaves too), or 0. */
static phys_addr_t sm_rnd_claim_1g(void)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r), level;

	for (phys_addr_t g = GiB; g < r[n - 1].base + r[n - 1].len; g += GiB)
		if (pt_lookup(PAGE_OFFSET + g, &level) && level == PT_LEVEL_PUD &&
		    frame_remove_range(g, SM_RND_PAGES * PAGE_SIZE) == 0)
			return g;
	return 0;
}

static bool sm_rnd_take_runs(void)
{
	sm_rnd_run[0] = sm_rnd_claim_1g();
	sm_rnd_claimed = sm_rnd_run[0] != 0;
	for (int i = 0; i < SM_RND_RUNS; i++) {
		if (i > 0 || !sm_rnd_claimed)
			sm_rnd_run[i] = frame_alloc_run(SM_RND_PAGES, 2 * MiB);
		if (!sm_rnd_run[i])
			return false;
		memset(sm_shadow[i], SM_SHADOW_W, SM_RND_PAGES);
	}
	return true;
}

/* Restores run i (writable, key 0) and gives it back. */
static void sm_rnd_give_back(int i)
{
	KEXPECT_EQ(set_memory_rw(sm_rnd_va(i, 0), SM_RND_PAGES), 0);
	KEXPECT_EQ(set_memory_pkey(sm_rnd_va(i, 0), SM_RND_PAGES, 0), 0);
	if (i == 0 && sm_rnd_claimed)
		KEXPECT_EQ(frame_add_range(sm_rnd_run[0], SM_RND_PAGES * PAGE_SIZE), 0);
	else
		KEXPECT_EQ(frame_free_run(sm_rnd_run[i], SM_RND_PAGES), 0);
}

/* Runs the steps; on the first disagreement reports it (after the step, as the
 * context) and stops. Returns the steps that agreed. */
static int sm_rnd_walk(uint64_t *rng, int steps)
{
	for (int nr = 0; nr < steps; nr++) {
		struct sm_step s = sm_rnd_step(rng, nr);
		uint64_t lo = s.first ? s.first - 1 : 0;
		uint64_t hi = MIN(s.first + s.pages + 1, SM_RND_PAGES);
		int rc;
		bool ok;

		ktest_set_context(sm_rnd_print_step, &s);
		rc = sm_rnd_apply(&s);
		if (rc)
			ktest_fail(__FILE__, __LINE__, "%s returned %d", sm_op_names[s.op], rc);
		ok = !rc && sm_rnd_pages_ok(s.run, lo, hi);
		for (int r = 0; r < SM_RND_RUNS && ok && nr % SM_RND_FULL == 0; r++)
			ok = sm_rnd_pages_ok(r, 0, SM_RND_PAGES);
		ok = ok && sm_rnd_probe(rng);
		ktest_set_context(NULL, NULL);
		if (!ok)
			return nr;
	}
	return steps;
}

KTEST(set_memory, random_calls_match_shadow_model)
{
	uint64_t rng = ktest_seed() ^ 0x9e3779b97f4a7c15ULL;
	struct set_memory_stats s0, s1;
	struct mm_snap was;
	int steps, want = sm_rnd_steps();

	ktest_note("seed %llu (reproduce with ktest.seed=%llu)", (unsigned long long)ktest_seed(),
		   (unsigned long long)ktest_seed());
	if (!rng)
		rng = 1; /* xorshift state must not be 0 */
	mm_snap(&was);
	set_memory_get_stats(&s0);
	KASSERT_TRUE(want > 0);
	KASSERT_TRUE(sm_rnd_take_runs());
	steps = sm_rnd_walk(&rng, want);
	for (int i = 0; i < SM_RND_RUNS; i++)
		sm_rnd_give_back(i);
	set_memory_get_stats(&s1);
	ktest_note("%d steps on runs at 0x%llx, 0x%llx, 0x%llx: %llu splits, %llu merges", steps,
		   (unsigned long long)sm_rnd_run[0], (unsigned long long)sm_rnd_run[1],
		   (unsigned long long)sm_rnd_run[2], (unsigned long long)(s1.splits - s0.splits),
		   (unsigned long long)(s1.merges - s0.merges));
	mm_expect_snap(&was);
}
