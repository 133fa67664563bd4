/* mm/checker.c - the page-table checker behind mm/checker.h. */
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "mm/vmap.h"
#include "kernel/printf.h"

#define MAX_DETAILS 12

struct walk {
	phys_addr_t *tables; /* sorted table pages (pa) */
	uint64_t nr, cap;
	uint64_t dmap_bytes;
	struct checker_result r;
};

static void violation(struct walk *w, const char *fmt, ...) __printf(2, 3);

static void violation(struct walk *w, const char *fmt, ...)
{
	char buf[200];
	va_list ap;

	if (w->r.violations++ >= MAX_DETAILS)
		return;
	va_start(ap, fmt);
	kvsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	kprintf("# checker: VIOLATION: %s\n", buf);
}

/* Pass 1: record every table page (the root, and every non-leaf target). */
static void collect(phys_addr_t table, int level, int index, uint64_t e, uint64_t va, void *arg)
{
	struct walk *w = arg;

	(void)table;
	(void)index;
	(void)va;
	if (pt_is_leaf(e, level))
		return;
	w->r.tables[level - 1]++;
	if (w->nr < w->cap)
		w->tables[w->nr++] = pt_entry_pa(e, level);
}

static void sort(phys_addr_t *a, uint64_t n)
{
	/* Shell sort: no recursion, no extra memory. */
	for (uint64_t gap = n / 2; gap; gap /= 2)
		for (uint64_t i = gap; i < n; i++)
			for (uint64_t j = i; j >= gap && a[j - gap] > a[j]; j -= gap) {
				phys_addr_t t = a[j];

				a[j] = a[j - gap];
				a[j - gap] = t;
			}
}

/* True when [pa, pa+len) holds a recorded table page. */
static bool holds_table(const struct walk *w, phys_addr_t pa, uint64_t len)
{
	uint64_t lo = 0, hi = w->nr;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (w->tables[mid] < pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->nr && w->tables[lo] < pa + len;
}

/* Pass 2: checks 2, 4 and the direct-map byte count on every leaf. */
static void check_leaf(phys_addr_t table, int level, int index, uint64_t e, uint64_t va, void *arg)
{
	struct walk *w = arg;
	phys_addr_t pa = pt_entry_pa(e, level);

	(void)table;
	(void)index;
	if (!pt_is_leaf(e, level))
		return;
	if ((e & PTE_W) && !(e & PTE_NX))
		violation(w, "leaf at 0x%llx (%s) is writable and executable",
			  (unsigned long long)va, pt_level_name(level));
	if (is_dmap_va(va)) {
		w->dmap_bytes += pt_size(level);
		return;
	}
	if ((e & PTE_W) && holds_table(w, pa, pt_size(level)))
		violation(w, "writable alias of a table page: 0x%llx -> 0x%llx (%s)",
			  (unsigned long long)va, (unsigned long long)pa, pt_level_name(level));
}

/* Key of the direct-map leaf of pa, or -1 when pa is not mapped there. */
static int dmap_key(phys_addr_t pa)
{
	int level;
	uint64_t *e = pt_lookup(PAGE_OFFSET + pa, &level);

	return e ? pt_entry_pkey(*e) : -1;
}

/* Checks 1 and 3: table pages, pool chunks and cache blocks are keyed. */
static void check_keys(struct walk *w)
{
	int key = pgprot_key();

	for (uint64_t i = 0; i < w->nr; i++) {
		if (dmap_key(w->tables[i]) == key)
			w->r.protected ++;
		else if (pgprot_enforced())
			violation(w, "table page 0x%llx is not keyed (direct-map key %d, want %d)",
				  (unsigned long long)w->tables[i], dmap_key(w->tables[i]), key);
	}
	if (!pgprot_enforced())
		return;
	for (uint64_t i = 0; i < pool_nr_chunks(); i++)
		for (uint64_t off = 0; off < POOL_CHUNK_SIZE; off += PAGE_SIZE)
			if (dmap_key(pool_chunk(i) + off) != key) {
				violation(w, "pool frame 0x%llx is not keyed",
					  (unsigned long long)(pool_chunk(i) + off));
				break;
			}
	for (uint64_t i = 0; i < ptcache_nr_blocks(); i++)
		for (uint64_t off = 0; off < 2 * MiB; off += PAGE_SIZE)
			if (dmap_key(ptcache_block(i) + off) != key) {
				violation(w, "table-cache frame 0x%llx is not keyed",
					  (unsigned long long)(ptcache_block(i) + off));
				break;
			}
}

/* Check 6: constructor/destructor counts against the walk. */
static void check_counts(struct walk *w)
{
	for (int l = 0; l < PT_NR_LEVELS; l++)
		if (l <= pt_root_level() && w->r.tables[l] != pt_count(l))
			violation(w, "%s tables: walk found %llu, constructors count %llu",
				  pt_level_name(l), (unsigned long long)w->r.tables[l],
				  (unsigned long long)pt_count(l));
}

uint64_t checker_run(const char *when, struct checker_result *out)
{
	struct walk w = { 0 };
	uint64_t total = 0, pages;

	for (int l = 0; l < PT_NR_LEVELS; l++)
		total += pt_count(l);
	pages = ALIGN_UP((total + 64) * sizeof(phys_addr_t), PAGE_SIZE) / PAGE_SIZE;
	w.tables = vmap_alloc_pages(pages);
	if (!w.tables) {
		kprintf("# checker (%s): no memory for the walk\n", when);
		return 1;
	}
	w.cap = pages * PAGE_SIZE / sizeof(phys_addr_t);
	w.tables[w.nr++] = pt_kernel_root();
	w.r.tables[pt_root_level()] = 1;
	pt_walk_all(pt_kernel_root(), collect, &w);
	if (w.nr == w.cap)
		violation(&w, "more tables than the constructors counted");
	sort(w.tables, w.nr);
	pt_walk_all(pt_kernel_root(), check_leaf, &w);
	if (w.dmap_bytes != dmap_ram_bytes())
		violation(&w, "direct map leaves hold %llu bytes, RAM mapped is %llu",
			  (unsigned long long)w.dmap_bytes, (unsigned long long)dmap_ram_bytes());
	check_keys(&w);
	check_counts(&w);
	vmap_free_pages(w.tables, pages);
	kprintf("# checker (%s): tables", when);
	for (int l = pt_root_level(); l >= 0; l--)
		kprintf(" %s=%llu", pt_level_name(l), (unsigned long long)w.r.tables[l]);
	kprintf(", %llu of %llu keyed, %llu violations\n", (unsigned long long)w.r.protected,
		(unsigned long long)w.nr, (unsigned long long)w.r.violations);
	if (out)
		*out = w.r;
	return w.r.violations;
}

int checker_after_suite(const char *suite)
{
	char when[64];

	ksnprintf(when, sizeof(when), "after %s", suite);
	return checker_run(when, NULL) ? 1 : 0;
}
