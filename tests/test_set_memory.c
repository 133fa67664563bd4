/* tests/test_set_memory.c - set_memory on the direct map: round trips over 4 KiB,
 * 2 MiB and 1 GiB boundaries that split and merge back, a seeded random sequence
 * checked against a shadow model, and the error paths (suite set_memory). */
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "tests/mm_check.h"

KTEST_SUITE(23, set_memory, NULL);

#define PG_PATTERN 0x7461626c65ULL /* "table": what a test writes to its pages */

/* ---- set_memory round trips: split, then merge back --------------------------------- */

enum pg_anchor { PG_IN_2M, PG_AT_2M, PG_AT_1G };

struct pg_trip {
	int at;	       /* the 2 MiB or 1 GiB boundary the range is placed by */
	int64_t first; /* first page changed, relative to it */
	uint64_t pages;
};

static const struct pg_trip pg_trips[] = {
	{ PG_IN_2M, 7, 1 },	 /* one page inside a 2 MiB leaf */
	{ PG_IN_2M, 0, 512 },	 /* exactly one 2 MiB leaf */
	{ PG_AT_2M, -2, 4 },	 /* pages straddling a 2 MiB boundary */
	{ PG_AT_2M, -1, 514 },	 /* 2 MiB + 2 pages over three regions */
	{ PG_AT_1G, 0, 1 },	 /* the first page of a GiB */
	{ PG_AT_1G, -3, 6 },	 /* pages straddling a 1 GiB boundary */
	{ PG_AT_1G, -256, 512 }, /* 2 MiB straddling a 1 GiB boundary */
};

/* Level of the direct-map leaf for pa, or -1 when unmapped. */
static int pg_level(phys_addr_t pa)
{
	int level;

	return pt_lookup(PAGE_OFFSET + pa, &level) ? level : -1;
}

/* The claimed range of t at anchor a: its pages and a guard page each side. */
static phys_addr_t pg_claim_start(const struct pg_trip *t, phys_addr_t a)
{
	return a + (uint64_t)((t->first - 1) * (int64_t)PAGE_SIZE);
}

/* True when a suits t: large leaves on both sides (a 1 GiB one for PG_AT_1G) and
 * every frame of the claimed range free. */
static bool pg_anchor_ok(const struct pg_trip *t, phys_addr_t a)
{
	int below = pg_level(a - PAGE_SIZE), above = pg_level(a);
	bool ok = above >= PT_LEVEL_PMD;

	if (t->at != PG_IN_2M)
		ok = ok && below >= PT_LEVEL_PMD;
	if (t->at == PG_AT_1G)
		ok = ok && MAX(below, above) == PT_LEVEL_PUD;
	return ok && frame_range_free(pg_claim_start(t, a), (t->pages + 2) * PAGE_SIZE);
}

/* Finds an anchor for t and takes its claimed range out of the frame allocator. */
static phys_addr_t pg_claim_anchor(const struct pg_trip *t)
{
	uint64_t step = t->at == PG_AT_1G ? GiB : 2 * MiB;
	const struct pa_range *r;
	int n = dmap_ranges(&r);

	for (phys_addr_t a = step; a < r[n - 1].base + r[n - 1].len; a += step)
		if (pg_anchor_ok(t, a) &&
		    frame_remove_range(pg_claim_start(t, a), (t->pages + 2) * PAGE_SIZE) == 0)
			return a;
	return 0;
}

/* Pages of [lo, hi) whose W bit is not "clear inside [va, end), set outside". */
static int pg_w_mismatches(uint64_t lo, uint64_t hi, uint64_t va, uint64_t end)
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
static void pg_expect_writes(uint64_t va, uint64_t end, bool ro)
{
	const uint64_t probe[] = { va - PAGE_SIZE, va, end - PAGE_SIZE, end };

	for (size_t i = 0; i < ARRAY_SIZE(probe); i++) {
		struct fault f;

		catch_write64((void *)probe[i], PG_PATTERN, &f);
		if (ro && probe[i] >= va && probe[i] < end)
			KEXPECT_PF(&f, PF_P | PF_W, probe[i]);
		else
			KEXPECT_NO_FAULT(&f);
	}
}

static void pg_round_trip(const struct pg_trip *t)
{
	uint64_t va, end, c0[PT_NR_LEVELS], free0 = pool_free_count();
	struct dmap_stats s0, s1;
	struct set_memory_stats m0, m1;
	phys_addr_t a;

	if (t->at == PG_AT_1G && !dmap_has_1g())
		KTEST_SKIP("CPU has no 1 GiB pages");
	a = pg_claim_anchor(t);
	if (!a && t->at == PG_AT_1G)
		KTEST_SKIP("no 1 GiB leaf boundary with free frames in this memory map");
	KASSERT_TRUE(a != 0);
	va = PAGE_OFFSET + pg_claim_start(t, a) + PAGE_SIZE;
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
	KEXPECT_EQ(pg_w_mismatches(va - PAGE_SIZE, end + PAGE_SIZE, va, end), 0);
	pg_expect_writes(va, end, true);
	mm_expect_counts_match_walk("after the split");
	KEXPECT_EQ(set_memory_rw(va, t->pages), 0);
	KEXPECT_EQ(pg_w_mismatches(va - PAGE_SIZE, end + PAGE_SIZE, end, end), 0);
	pg_expect_writes(va, end, false);
	mm_expect_counts_match_walk("after the merge");
	dmap_stats(&s1);
	for (int l = PT_LEVEL_PTE; l <= PT_LEVEL_PUD; l++)
		KEXPECT_EQ(s1.leaves[l], s0.leaves[l]);
	mm_expect_counts(c0, 0, false);
	KEXPECT_EQ(pool_free_count(), free0);
	KEXPECT_EQ(frame_add_range(va - PAGE_SIZE - PAGE_OFFSET, (t->pages + 2) * PAGE_SIZE), 0);
}

KTEST(set_memory, round_trip_one_page_inside_2m_leaf)
{
	pg_round_trip(&pg_trips[0]);
}

KTEST(set_memory, round_trip_whole_2m_leaf)
{
	pg_round_trip(&pg_trips[1]);
}

KTEST(set_memory, round_trip_pages_straddling_2m_boundary)
{
	pg_round_trip(&pg_trips[2]);
}

KTEST(set_memory, round_trip_2m_and_2_pages_over_three_regions)
{
	pg_round_trip(&pg_trips[3]);
}

KTEST(set_memory, round_trip_first_page_of_1g_leaf)
{
	pg_round_trip(&pg_trips[4]);
}

KTEST(set_memory, round_trip_pages_straddling_1g_boundary)
{
	pg_round_trip(&pg_trips[5]);
}

KTEST(set_memory, round_trip_2m_straddling_1g_boundary)
{
	pg_round_trip(&pg_trips[6]);
}

/* ---- randomized: set_memory against a shadow model ----------------------------- */

#define PL_RND_RUNS  3
#define PL_RND_PAGES 1024 /* 4 MiB per run: two 2 MiB regions */
#define PL_RND_STEPS 4000
#define PL_RND_FULL  128  /* every so many steps, every page is compared */
#define PL_SHADOW_W  0x80 /* shadow byte: W bit, key in bits 3:0 */

enum pl_op { PL_RO, PL_RW, PL_KEY };

struct pl_step {
	int run, op, key;
	uint64_t first, pages;
};

static phys_addr_t pl_rnd_run[PL_RND_RUNS];
static bool pl_rnd_claimed; /* run 0 sits in a 1 GiB leaf, claimed by address */
static uint8_t pl_shadow[PL_RND_RUNS][PL_RND_PAGES];

static uint64_t pl_rnd_va(int run, uint64_t page)
{
	return PAGE_OFFSET + pl_rnd_run[run] + page * PAGE_SIZE;
}

/* A random step: short ranges mostly, sometimes up to a whole run; keys avoid the
 * page-table key, and half of the key changes go back to key 0 so merges happen. */
static struct pl_step pl_rnd_step(uint64_t *rng)
{
	uint64_t r = ktest_rand(rng), r2 = ktest_rand(rng);
	struct pl_step s = { .run = (int)(r % PL_RND_RUNS), .op = (int)((r >> 8) % 3) };

	s.first = (r >> 16) % PL_RND_PAGES;
	s.pages = 1 + ((r >> 32) & 1 ? (r2 % 8) : (r2 % PL_RND_PAGES));
	s.pages = MIN(s.pages, PL_RND_PAGES - s.first);
	s.key = (r >> 40) & 1 ? 0 : (int)((r >> 44) % 16);
	if (s.key == dmap_table_key())
		s.key = 0;
	return s;
}

static int pl_rnd_apply(const struct pl_step *s)
{
	uint64_t va = pl_rnd_va(s->run, s->first);

	for (uint64_t i = s->first; i < s->first + s->pages; i++) {
		uint8_t *sh = &pl_shadow[s->run][i];

		*sh = s->op == PL_RO   ? *sh & ~PL_SHADOW_W
		      : s->op == PL_RW ? *sh | PL_SHADOW_W
				       : (uint8_t)((*sh & PL_SHADOW_W) | s->key);
	}
	return s->op == PL_RO	? set_memory_ro(va, s->pages)
	       : s->op == PL_RW ? set_memory_rw(va, s->pages)
				: set_memory_pkey(va, s->pages, s->key);
}

/* Index of the first page of [first, end) of a run whose leaf disagrees with the
 * shadow (W, key, NX, address), or -1. */
static int64_t pl_rnd_mismatch(int run, uint64_t first, uint64_t end)
{
	for (uint64_t i = first; i < end; i++) {
		int level;
		uint64_t va = pl_rnd_va(run, i), *e = pt_lookup(va, &level);
		uint8_t sh = pl_shadow[run][i];

		if (!e || !(*e & PTE_W) != !(sh & PL_SHADOW_W) || pt_entry_pkey(*e) != (sh & 0xf) ||
		    !(*e & PTE_NX) ||
		    pt_entry_pa(*e, level) + (va & (pt_size(level) - 1)) != va - PAGE_OFFSET)
			return (int64_t)i;
	}
	return -1;
}

/* Writes a random key-0 page: a fault (P|W at that address) exactly when read-only. */
static bool pl_rnd_probe(uint64_t *rng)
{
	uint64_t r = ktest_rand(rng), page = (r >> 8) % PL_RND_PAGES;
	int run = (int)(r % PL_RND_RUNS);
	uint64_t *va = (uint64_t *)pl_rnd_va(run, page);
	struct fault f;

	if (pl_shadow[run][page] & 0xf)
		return true; /* keyed: PKRS may deny access */
	catch_write64(va, 0, &f);
	if (pl_shadow[run][page] & PL_SHADOW_W)
		return !f.hit;
	return f.hit && f.vector == VEC_PF && f.error == (PF_P | PF_W) && f.addr == (uint64_t)va;
}

/* The start of a 1 GiB leaf whose first 4 MiB are free, taken out of the allocator
 * (so that the walk splits and merges 1 GiB leaves too), or 0. */
static phys_addr_t pl_rnd_claim_1g(void)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r), level;

	for (phys_addr_t g = GiB; g < r[n - 1].base + r[n - 1].len; g += GiB)
		if (pt_lookup(PAGE_OFFSET + g, &level) && level == PT_LEVEL_PUD &&
		    frame_remove_range(g, PL_RND_PAGES * PAGE_SIZE) == 0)
			return g;
	return 0;
}

static bool pl_rnd_take_runs(void)
{
	pl_rnd_run[0] = pl_rnd_claim_1g();
	pl_rnd_claimed = pl_rnd_run[0] != 0;
	for (int i = 0; i < PL_RND_RUNS; i++) {
		if (i > 0 || !pl_rnd_claimed)
			pl_rnd_run[i] = frame_alloc_run(PL_RND_PAGES, 2 * MiB);
		if (!pl_rnd_run[i])
			return false;
		memset(pl_shadow[i], PL_SHADOW_W, PL_RND_PAGES);
	}
	return true;
}

/* Restores run i (writable, key 0) and gives it back. */
static void pl_rnd_give_back(int i)
{
	KEXPECT_EQ(set_memory_rw(pl_rnd_va(i, 0), PL_RND_PAGES), 0);
	KEXPECT_EQ(set_memory_pkey(pl_rnd_va(i, 0), PL_RND_PAGES, 0), 0);
	if (i == 0 && pl_rnd_claimed)
		KEXPECT_EQ(frame_add_range(pl_rnd_run[0], PL_RND_PAGES * PAGE_SIZE), 0);
	else
		KEXPECT_EQ(frame_free_run(pl_rnd_run[i], PL_RND_PAGES), 0);
}

/* Runs the steps; on the first disagreement reports it and stops. Returns the steps
 * that agreed. */
static int pl_rnd_walk(uint64_t *rng)
{
	for (int step = 0; step < PL_RND_STEPS; step++) {
		struct pl_step s = pl_rnd_step(rng);
		uint64_t lo = s.first ? s.first - 1 : 0;
		uint64_t hi = MIN(s.first + s.pages + 1, PL_RND_PAGES);
		int rc = pl_rnd_apply(&s);
		int64_t bad = step % PL_RND_FULL ? pl_rnd_mismatch(s.run, lo, hi) : -1;

		for (int r = 0; r < PL_RND_RUNS && bad < 0 && !(step % PL_RND_FULL); r++)
			bad = pl_rnd_mismatch(r, 0, PL_RND_PAGES);
		if (rc || bad >= 0 || !pl_rnd_probe(rng)) {
			ktest_fail(__FILE__, __LINE__,
				   "step %d: op %d key %d run %d pages "
				   "[%llu, +%llu): rc %d, page %lld disagrees with the shadow",
				   step, s.op, s.key, s.run, (unsigned long long)s.first,
				   (unsigned long long)s.pages, rc, (long long)bad);
			return step;
		}
	}
	return PL_RND_STEPS;
}

KTEST(set_memory, random_calls_match_shadow_model)
{
	uint64_t rng = ktest_seed() ^ 0x9e3779b97f4a7c15ULL;
	struct set_memory_stats s0, s1;
	struct mm_snap was;
	int steps;

	ktest_note("seed %llu (reproduce with ktest.seed=%llu)", (unsigned long long)ktest_seed(),
		   (unsigned long long)ktest_seed());
	if (!rng)
		rng = 1; /* xorshift state must not be 0 */
	mm_snap(&was);
	set_memory_get_stats(&s0);
	KASSERT_TRUE(pl_rnd_take_runs());
	steps = pl_rnd_walk(&rng);
	for (int i = 0; i < PL_RND_RUNS; i++)
		pl_rnd_give_back(i);
	set_memory_get_stats(&s1);
	ktest_note("%d steps on runs at 0x%llx, 0x%llx, 0x%llx: %llu splits, %llu merges", steps,
		   (unsigned long long)pl_rnd_run[0], (unsigned long long)pl_rnd_run[1],
		   (unsigned long long)pl_rnd_run[2], (unsigned long long)(s1.splits - s0.splits),
		   (unsigned long long)(s1.merges - s0.merges));
	mm_expect_snap(&was);
}

/* ---- error paths change nothing --------------------------------------------------- */

enum pl_target { PL_T_HOLE_EDGE, PL_T_HOLE, PL_T_SCRATCH, PL_T_VMAP, PL_T_CHUNK, PL_T_BLOCK };
enum pl_call { PL_C_RO, PL_C_X, PL_C_KEY16, PL_C_PS };

static const struct {
	const char *what;
	int target, call;
	uint64_t offset, pages;
	int want;
} pl_errs[] = {
	{ "last RAM page and the hole above", PL_T_HOLE_EDGE, PL_C_RO, 0, 2, -ENOENT },
	{ "a page inside a hole of the memory map", PL_T_HOLE, PL_C_RO, 0, 1, -ENOENT },
	{ "misaligned start", PL_T_SCRATCH, PL_C_RO, 8, 1, -EINVAL },
	{ "no pages", PL_T_SCRATCH, PL_C_RO, 0, 0, -EINVAL },
	{ "outside the direct map", PL_T_VMAP, PL_C_RO, 0, 1, -EINVAL },
	{ "x on a writable page (W^X)", PL_T_SCRATCH, PL_C_X, 0, 1, -EINVAL },
	{ "protection key 16", PL_T_SCRATCH, PL_C_KEY16, 0, 1, -EINVAL },
	{ "PS, not an attribute bit", PL_T_SCRATCH, PL_C_PS, 0, 1, -EINVAL },
	{ "a pool chunk", PL_T_CHUNK, PL_C_RO, 0, 1, -EPERM },
	{ "a table-cache block", PL_T_BLOCK, PL_C_RO, 0, 1, -EPERM },
};

/* True when set_memory refuses pa's page to every caller (-EPERM): the kernel's
 * .text/.rodata, a pool chunk or a table-cache block. */
static bool pl_owned_by_mm(phys_addr_t pa)
{
	if (pa >= kernel_pa_start() && pa < kernel_ro_pa_end())
		return true;
	for (uint64_t i = 0; i < ptcache_nr_blocks(); i++)
		if (pa >= ptcache_block(i) && pa - ptcache_block(i) < 2 * MiB)
			return true;
	return pool_overlaps(pa, PAGE_SIZE, NULL);
}

/* The last page of a RAM range with an unmapped page right above it and no owner
 * that would make the call -EPERM first; of those, the one under the largest leaf
 * (a split started before the hole is found would show there). Which range ends
 * so depends on the memory map and on where the pool chunks and cache blocks went.
 * False when none does. */
static bool pl_ram_edge_page(phys_addr_t *pa)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r), best = -1, level;

	for (int i = 0; i < n; i++) {
		phys_addr_t end = r[i].base + r[i].len, last = end - PAGE_SIZE;

		if (pt_lookup(PAGE_OFFSET + end, &level) || pl_owned_by_mm(last) ||
		    !pt_lookup(PAGE_OFFSET + last, &level) || level <= best)
			continue;
		best = level;
		*pa = last;
	}
	return best >= 0;
}

/* A page in the middle of the first gap between RAM ranges, else the page above
 * the last range: unmapped on every memory map. */
static phys_addr_t pl_hole_page(void)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r);

	for (int i = 0; i + 1 < n; i++) {
		phys_addr_t end = r[i].base + r[i].len;

		if (end < r[i + 1].base)
			return ALIGN_DOWN(end + (r[i + 1].base - end) / 2, PAGE_SIZE);
	}
	return r[n - 1].base + r[n - 1].len;
}

/* The address a call on `target` is made at, or 0 when this memory map has none. */
static uint64_t pl_err_va(int target, phys_addr_t scratch)
{
	phys_addr_t edge;

	switch (target) {
	case PL_T_HOLE_EDGE:
		return pl_ram_edge_page(&edge) ? PAGE_OFFSET + edge : 0;
	case PL_T_HOLE:
		return PAGE_OFFSET + pl_hole_page();
	case PL_T_VMAP:
		return VMAP_BASE;
	case PL_T_CHUNK:
		return PAGE_OFFSET + pool_chunk(0);
	case PL_T_BLOCK:
		return PAGE_OFFSET + ptcache_block(0);
	default:
		return PAGE_OFFSET + scratch;
	}
}

static int pl_err_call(int call, uint64_t va, uint64_t pages)
{
	switch (call) {
	case PL_C_X:
		return set_memory_x(va, pages);
	case PL_C_KEY16:
		return set_memory_pkey(va, pages, 16);
	case PL_C_PS:
		return set_memory(va, pages, PTE_PS, 0);
	default:
		return set_memory_ro(va, pages);
	}
}

/* The leaf that maps va's page, or 0. */
static uint64_t pl_leaf(uint64_t va)
{
	int level;
	uint64_t *e = pt_lookup(ALIGN_DOWN(va, PAGE_SIZE), &level);

	return e ? *e : 0;
}

/* Makes call i of the table; reports a wrong error code or any change. */
static void pl_expect_error(size_t i, phys_addr_t scratch)
{
	uint64_t va = pl_err_va(pl_errs[i].target, scratch), leaf = pl_leaf(va);
	struct set_memory_stats s0, s1;
	struct mm_snap was;
	const char *diff;
	int rc;

	if (!va) {
		ktest_fail(__FILE__, __LINE__, "%s: no such place in this memory map",
			   pl_errs[i].what);
		return;
	}
	if (pl_errs[i].target == PL_T_HOLE_EDGE || pl_errs[i].target == PL_T_HOLE)
		ktest_note("%s: 0x%llx", pl_errs[i].what, (unsigned long long)(va - PAGE_OFFSET));
	mm_snap(&was);
	set_memory_get_stats(&s0);
	rc = pl_err_call(pl_errs[i].call, va + pl_errs[i].offset, pl_errs[i].pages);
	set_memory_get_stats(&s1);
	diff = mm_snap_same(&was) ? NULL : "leaf, pool or table counts changed";
	if (s1.splits != s0.splits || s1.merges != s0.merges)
		diff = "a leaf was split or merged";
	if (pl_leaf(va) != leaf)
		diff = "the leaf changed";
	if (rc != pl_errs[i].want || diff)
		ktest_fail(__FILE__, __LINE__, "%s: returned %d, expected %d; %s", pl_errs[i].what,
			   rc, pl_errs[i].want, diff ? diff : "nothing changed");
}

KTEST(set_memory, errors_return_their_code_and_change_nothing)
{
	phys_addr_t scratch = frame_alloc();

	KASSERT_TRUE(scratch != 0);
	for (size_t i = 0; i < ARRAY_SIZE(pl_errs); i++)
		pl_expect_error(i, scratch);
	KEXPECT_EQ(frame_free(scratch), 0);
}
