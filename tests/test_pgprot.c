/* tests/test_pgprot.c - PKS write protection of page tables: attacks on every table
 * page, write windows, soft mode, the grouped cache, threads. */
#include "tests/pks_fixture.h"
#include "tests/test_redteam.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/thread.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "arch/cpu.h"

KTEST_SUITE(30, pgprot, NULL);

/* Cases about enforcement skip, with the reason, when the tables are unprotected
 * (pks_tables=off, pks=off, no PKS); the others run in every mode. */
#define REQUIRE_ENFORCED()                                       \
	do {                                                     \
		if (!pgprot_enforced())                          \
			KTEST_SKIP(pgprot_unprotected_reason()); \
	} while (0)

/* Table pages found by a walk, for the attack: the list is sized from the
 * constructors' counts (plus room for the tables its own pages need); a walk that
 * finds more marks it overflowed, and the case fails rather than attack a part. */
struct table_list {
	phys_addr_t *pa;
	uint64_t n, cap, pages;
	bool overflowed;
};

static void list_table(phys_addr_t table, int level, int index, uint64_t e, uint64_t va, void *arg)
{
	struct table_list *l = arg;

	(void)table;
	(void)index;
	(void)va;
	if (pt_is_leaf(e, level))
		return;
	if (l->n < l->cap)
		l->pa[l->n++] = pt_entry_pa(e, level);
	else
		l->overflowed = true;
}

/* Lists the kernel root and every table below it; false when out of memory. */
static bool list_tables(struct table_list *l)
{
	uint64_t total = 0;

	for (int level = 0; level < PT_NR_LEVELS; level++)
		total += pt_count(level);
	*l = (struct table_list){ .pages = ALIGN_UP((total + 64) * 8, PAGE_SIZE) / PAGE_SIZE };
	l->pa = vmap_alloc_pages(l->pages);
	if (!l->pa)
		return false;
	l->cap = l->pages * PAGE_SIZE / sizeof(phys_addr_t);
	l->pa[l->n++] = pt_kernel_root();
	pt_walk_all(pt_kernel_root(), list_table, l);
	return true;
}

/* Sum of a page's words, to see that an attack changed nothing. */
static uint64_t page_sum(const uint64_t *p)
{
	uint64_t s = 0;

	for (int i = 0; i < PT_ENTRIES; i++)
		s = s * 31 + p[i];
	return s;
}

/* Stores a different, harmless value (REDTEAM_HARMLESS_BIT flipped) into one entry
 * of the table page at pa: true when the write was caught with PK and changed
 * nothing. A write that landed is undone (inside a window) and fails the case. */
static bool attack_table(phys_addr_t pa, unsigned int slot)
{
	uint64_t *page = pa_to_va(pa), before = page_sum(page), old = page[slot];
	struct fault f;
	uint32_t w;

	catch_write64(&page[slot], old ^ REDTEAM_HARMLESS_BIT, &f);
	KEXPECT_PF(&f, PF_PK_WRITE, &page[slot]);
	if (page[slot] != old) {
		ktest_fail(__FILE__, __LINE__, "the write to table 0x%llx landed",
			   (unsigned long long)pa);
		w = pt_window_open();
		page[slot] = old;
		pt_window_close(w);
	}
	KEXPECT_EQ(page_sum(page), before);
	return f.hit && f.vector == VEC_PF && (f.error & PF_PK) && page_sum(page) == before;
}

KTEST(pgprot, every_table_page_rejects_a_direct_write_with_pk)
{
	struct table_list tables;
	uint64_t caught = 0;

	REQUIRE_ENFORCED();
	KASSERT_TRUE(list_tables(&tables));
	if (tables.overflowed)
		ktest_fail(__FILE__, __LINE__, "the walk found more than %llu table pages",
			   (unsigned long long)tables.cap);
	for (uint64_t i = 0; i < tables.n; i++)
		caught += attack_table(tables.pa[i], (unsigned int)(i * 7 % PT_ENTRIES));
	ktest_note("attacked %llu table pages at every level, %llu caught",
		   (unsigned long long)tables.n, (unsigned long long)caught);
	KEXPECT_EQ(caught, tables.n);
	vmap_free_pages(tables.pa, tables.pages);
}

KTEST(pgprot, free_pool_frame_rejects_a_direct_write)
{
	volatile uint64_t *p;
	phys_addr_t pa;
	struct fault f;

	REQUIRE_ENFORCED();
	pa = pool_alloc();
	KASSERT_TRUE(pa != 0);
	p = pa_to_va(pa);
	pool_free(pa); /* free again: still keyed */
	catch_write64(p, 0, &f);
	KEXPECT_PF(&f, PF_PK_WRITE, p);
}

KTEST(pgprot, helper_writes_reach_the_mmu)
{
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	phys_addr_t pa = frame_alloc();
	struct fault f;

	KEXPECT_TRUE(va && pa);
	if (!va || !pa)
		goto out;
	*(volatile uint64_t *)pa_to_va(pa) = 0x5741524445;
	KEXPECT_EQ(vmap_map(va, pa, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	KEXPECT_EQ(catch_read64((void *)va, &f), 0x5741524445);
	KEXPECT_NO_FAULT(&f);
	vmap_unmap(va, PAGE_SIZE);
	catch_read64((void *)va, &f);
	KEXPECT_PF(&f, 0, va);
out:
	if (pa)
		frame_free(pa);
}

static uint32_t pkrs_in_handler;

static bool window_closed(void)
{
	return pkrs_read() & PKRS_WD(pgprot_key());
}

KTEST(pgprot, window_is_closed_after_every_helper_call)
{
	uint64_t *e;
	phys_addr_t pa;
	int level;

	REQUIRE_ENFORCED();
	KEXPECT_TRUE(window_closed());
	e = pt_lookup((uint64_t)&pkrs_in_handler, &level);
	KASSERT_TRUE(e != NULL);
	pt_set_entry(e, *e);
	KEXPECT_TRUE(window_closed());
	pa = pool_alloc();
	KASSERT_TRUE(pa != 0);
	pt_clear_table(pa);
	KEXPECT_TRUE(window_closed());
	pool_free(pa);
}

KTEST(pgprot, nested_windows_restore_the_outer_state)
{
	uint32_t outer, inner;

	REQUIRE_ENFORCED();
	outer = pt_window_open();
	KEXPECT_FALSE(window_closed());
	inner = pt_window_open();
	KEXPECT_FALSE(window_closed());
	pt_window_close(inner);
	KEXPECT_FALSE(window_closed());
	pt_window_close(outer);
	KEXPECT_TRUE(window_closed());
}

static bool record_pkrs(struct trap_frame *f)
{
	(void)f;
	pkrs_in_handler = pkrs_read();
	return true;
}

KTEST(pgprot, exception_inside_a_window_runs_closed_and_returns_open)
{
	static bool registered;
	uint32_t w;

	REQUIRE_ENFORCED();
	if (!registered && trap_register(0x41, record_pkrs) == 0)
		registered = true;
	KASSERT_TRUE(registered);
	w = pt_window_open();
	__asm__ volatile("int $0x41" ::: "memory");
	KEXPECT_TRUE(pkrs_in_handler & PKRS_WD(pgprot_key()));
	KEXPECT_EQ(pkrs_in_handler, pks_default());
	KEXPECT_FALSE(window_closed());
	pt_window_close(w);
	KEXPECT_TRUE(window_closed());
}

/* A table page the test owns: the PTE table behind a fresh vmap mapping of a
 * frame. On failure nothing is left mapped or allocated (and NULL returned). */
static uint64_t *own_table_entry(uint64_t *va_out, phys_addr_t *frame)
{
	uint64_t va = vmap_reserve(2 * MiB, 2 * MiB), *e;
	int level;

	*frame = frame_alloc();
	if (va && *frame && !vmap_map(va, *frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0)) {
		*va_out = va;
		e = pt_lookup(va, &level);
		if (e)
			return e;
		vmap_unmap(va, PAGE_SIZE);
	}
	if (*frame)
		frame_free(*frame);
	return NULL;
}

KTEST(pgprot, soft_mode_reports_completes_and_rearms)
{
	uint64_t va = 0, *e, before = pgprot_violations(), v;
	enum pgprot_mode was = pgprot_mode();
	phys_addr_t frame;
	struct fault f;

	REQUIRE_ENFORCED();
	e = own_table_entry(&va, &frame);
	KASSERT_TRUE(e != NULL);
	v = *e;
	KEXPECT_EQ(pgprot_set_mode(PGPROT_SOFT), 0);
	if (pgprot_mode() != PGPROT_SOFT)
		goto out;
	*(volatile uint64_t *)e = v | PTE_W; /* stray write 1: let through */
	KEXPECT_EQ(*e, v | PTE_W);
	KEXPECT_EQ(pgprot_violations(), before + 1);
	KEXPECT_TRUE(window_closed());
	*(volatile uint64_t *)e = v; /* stray write 2: reported too */
	KEXPECT_EQ(*e, v);
	KEXPECT_EQ(pgprot_violations(), before + 2);
	catch_write64(e, v, &f); /* caught: protection is on */
	KEXPECT_PF(&f, PF_PK_WRITE, e);
out:
	pgprot_set_mode(was);
	invlpg((void *)va);
	vmap_unmap(va, PAGE_SIZE);
	frame_free(frame);
}

KTEST(pgprot, cache_blocks_are_keyed_and_released_when_free)
{
	uint64_t blocks = ptcache_nr_blocks(), free_frames = frame_free_count();
	static phys_addr_t pages[1100];
	int n = 0, level;
	phys_addr_t newest;

	/* More than a block's worth of vmap-area tables forces a new block; taken 64
	 * at a time, one write window each (a window per table is a PKRS write pair,
	 * a full TLB flush each under TCG). */
	while (ptcache_nr_blocks() <= blocks + 1 && n + 64 <= (int)ARRAY_SIZE(pages)) {
		int got = pt_alloc_batch(PT_LEVEL_PTE, VMAP_BASE, &pages[n], 64);

		n += got;
		if (got < 64)
			break;
	}
	KEXPECT_GE(ptcache_nr_blocks(), blocks + 1);
	newest = ptcache_block(ptcache_nr_blocks() - 1);
	for (int i = 0; i < n; i++) {
		uint64_t *e = pt_lookup(PAGE_OFFSET + pages[i], &level);

		KEXPECT_TRUE(e && pt_entry_pkey(*e) == pgprot_key());
	}
	pt_free_batch(pages, n, PT_LEVEL_PTE);
	KEXPECT_EQ(ptcache_nr_blocks(), blocks);
	KEXPECT_FALSE(ptcache_contains(newest));
	KEXPECT_EQ(pt_entry_pkey(*pt_lookup(PAGE_OFFSET + newest, &level)), 0);
	KEXPECT_TRUE(frame_range_free(newest, 2 * MiB));
	KEXPECT_EQ(frame_free_count(), free_frames);
}

KTEST(pgprot, new_cache_blocks_split_large_leaves_from_the_pool_every_time)
{
	uint64_t pool_before = pool_free_count(), blocks = ptcache_nr_blocks();
	static phys_addr_t pages[8 * PT_ENTRIES];
	int n = 0, level;

	/* Each round takes a whole new 2 MiB block: keying it may split a 1 GiB leaf
	 * (a pmd table from the pool); the new table pages must be keyed at once. */
	while (n < (int)ARRAY_SIZE(pages)) { /* a round per batch: one write window */
		int got = pt_alloc_batch(PT_LEVEL_PTE, VMAP_BASE, &pages[n], PT_ENTRIES);

		for (int i = n; i < n + got; i++)
			KEXPECT_EQ(pt_entry_pkey(*pt_lookup(PAGE_OFFSET + pages[i], &level)),
				   pgprot_key());
		n += got;
		if (got < PT_ENTRIES)
			break;
	}
	KEXPECT_EQ(n, (int)ARRAY_SIZE(pages));
	ktest_note("%d rounds: %llu cache blocks, pool %llu -> %llu free frames", n / PT_ENTRIES,
		   (unsigned long long)ptcache_nr_blocks(), (unsigned long long)pool_before,
		   (unsigned long long)pool_free_count());
	pt_free_batch(pages, n, PT_LEVEL_PTE);
	KEXPECT_EQ(ptcache_nr_blocks(), blocks);
	KEXPECT_EQ(pool_free_count(), pool_before);
}

static volatile int stage;
static volatile bool no_partner; /* thread B could not be created */
static volatile bool b_saw_closed;
static volatile uint32_t b_depth, a_depth_after;

static void thread_b(void *arg)
{
	(void)arg;
	b_saw_closed = window_closed();
	b_depth = pt_window_depth();
	stage = 2;
}

static void thread_a(void *arg)
{
	uint32_t w = pt_window_open();
	bool *a_open_after = arg;

	stage = 1;
	thread_yield();
	while (stage != 2 && !no_partner)
		thread_yield();
	*a_open_after = !window_closed();
	a_depth_after = pt_window_depth();
	pt_window_close(w);
}

KTEST(pgprot, window_does_not_follow_a_thread_switch)
{
	static bool a_open_after;
	struct thread *a, *b;

	REQUIRE_ENFORCED();
	stage = 0;
	a = thread_create("window-a", thread_a, &a_open_after);
	b = thread_create("window-b", thread_b, NULL);
	KEXPECT_TRUE(a && b);
	no_partner = !b;
	if (a)
		thread_join(a);
	if (b)
		thread_join(b);
	KEXPECT_TRUE(b_saw_closed);
	KEXPECT_TRUE(a_open_after);
	/* The keyed nesting record follows each thread: A gets its one level back. */
	KEXPECT_EQ(b_depth, 0);
	KEXPECT_EQ(a_depth_after, 1);
	KEXPECT_TRUE(window_closed());
}

#define MAX_RUNS 4096
static phys_addr_t runs[MAX_RUNS];

/* Keys the first frame of every 2 MiB run it can take (each inside a large leaf, so
 * each needs a split, and a 1 GiB leaf a second one) until no run is left or the
 * cap is reached: the pool is then as empty as splits can ever make it. The key is
 * a test key: the page-table key is mm's own (set_memory refuses it). */
KTEST(pgprot, keying_pages_in_large_leaves_never_fails_even_with_the_pool_nearly_empty)
{
	uint64_t pool_before = pool_free_count(), lowest = pool_before;
	int n = 0, level, failed = 0, key = pks_key_alloc("pgprot split", &pks_test_owner);
	struct dmap_stats before, after;

	if (key < 0)
		KTEST_SKIP(pks_unavailable_reason() ?: "no protection key left");
	dmap_stats(&before);
	while (n < MAX_RUNS && (runs[n] = frame_alloc_run(512, 2 * MiB)))
		n++;
	for (int i = 0; i < n; i++) {
		uint64_t va = PAGE_OFFSET + runs[i];

		if (set_memory_pkey(va, 1, key))
			failed++;
		if (pt_entry_pkey(*pt_lookup(va, &level)) != key || level != PT_LEVEL_PTE)
			failed++;
		lowest = MIN(lowest, pool_free_count());
	}
	ktest_note("keyed %d new pages in %d large leaves: pool %llu -> %llu free frames of %llu",
		   n, n, (unsigned long long)pool_before, (unsigned long long)lowest,
		   (unsigned long long)pool_total());
	KEXPECT_EQ(failed, 0);
	KEXPECT_GT(n, 0);
	for (int i = 0; i < n; i++) {
		KEXPECT_EQ(set_memory_pkey(PAGE_OFFSET + runs[i], 1, 0), 0);
		frame_free_run(runs[i], 512);
	}
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
	dmap_stats(&after);
	KEXPECT_EQ(pool_free_count(), pool_before);
	KEXPECT_EQ(after.leaves[0], before.leaves[0]);
	KEXPECT_EQ(after.leaves[1], before.leaves[1]);
	KEXPECT_EQ(after.leaves[2], before.leaves[2]);
}
