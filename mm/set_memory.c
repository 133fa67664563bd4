/* mm/set_memory.c - attribute changes on the direct map, with split and merge. */
#include "mm/set_memory.h"
#include "mm/pt_lock.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/mm_internal.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/protect_map.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "arch/pkrs.h"
#include "arch/cpu.h"

/* Bits two leaves must share to be merged (the address and A/D aside). */
#define MERGE_MASK (~PTE_ADDR_MASK & ~(PTE_A | PTE_D))

static struct set_memory_stats stats;
static char refusal[160]; /* why the last -EPERM */

void set_memory_get_stats(struct set_memory_stats *s)
{
	*s = stats;
}

const char *set_memory_last_refusal(void)
{
	return refusal;
}

/* True when a leaf with attributes e is writable and executable. */
static bool wx(uint64_t e)
{
	return (e & PTE_W) && !(e & PTE_NX);
}

/* Records why the call was refused (set_memory_last_refusal), prints it, and
 * returns -EPERM. */
static int refuse(const char *fmt, ...) __printf(1, 2);

static int refuse(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(refusal, sizeof(refusal), fmt, ap);
	va_end(ap);
	kprintf("set_memory: %s\n", refusal);
	return -EPERM;
}

/* -EINVAL unless [va, end) is a page-aligned, non-empty direct-map range and set
 * and clear hold attribute bits only. */
/* va + pages * 4 KiB, or 0 when that does not fit in 64 bits (check_args then
 * refuses: a wrapped end would change a few pages and report success). */
static uint64_t range_end(uint64_t va, uint64_t pages)
{
	return pages > (~0ULL - va) / PAGE_SIZE ? 0 : va + pages * PAGE_SIZE;
}

static int check_args(uint64_t va, uint64_t end, uint64_t set, uint64_t clear)
{
	if (!IS_ALIGNED(va, PAGE_SIZE) || end <= va || !is_dmap_va(va) || !is_dmap_va(end - 1))
		return -EINVAL;
	if ((set | clear) & ~PTE_PROT_MASK)
		return -EINVAL;
	return 0;
}

/* -EPERM (naming the row) when a caller outside mm/ asks for what only the table
 * code may do: touch a region of the protected-regions table (mm/protect_map.h) or
 * give anything the page-table key, which mm owns. */
static int check_owner(phys_addr_t pa, uint64_t len, uint64_t set)
{
	struct pa_range hit;
	const struct protect_row *row = protect_region_of(pa, len, &hit);
	char rule[96];

	if (row)
		return refuse("pa 0x%llx lies in \"%s\" (%s)",
			      (unsigned long long)MAX(pa, hit.base), protect_row_name(row),
			      protect_row_rule(row, rule, sizeof(rule)));
	if (pgprot_key() && (set & PTE_PKEY_MASK) == PTE_PKEY(pgprot_key()))
		return refuse("the page-table key %d is mm's own", pgprot_key());
	return 0;
}

/* The leaf entry for a (a leaf-aligned address), given prev, the entry of the leaf
 * just below a at *level (or NULL): the next slot of prev's table when a is still in
 * it and the slot holds a leaf, else a walk from the root. Spares a walk per leaf. */
static uint64_t *leaf_after(uint64_t a, uint64_t *prev, int *level)
{
	if (prev && pt_index(a, *level) != 0 && pt_present(prev[1]) && pt_is_leaf(prev[1], *level))
		return prev + 1;
	return pt_lookup(a, level);
}

/* Checks every leaf of [va, end) before anything changes: -ENOENT at a hole,
 * -EINVAL when its new attributes are W+X, -EPERM (naming the row) when the part of
 * it in the range may not carry them (no writable alias). Only a row the range
 * touches can refuse a leaf, so with none the rows are asked once, not per leaf. */
static int check_leaves(uint64_t va, uint64_t end, uint64_t set, uint64_t clear)
{
	bool unguarded = !protect_region_of(va - PAGE_OFFSET, end - va, NULL);
	uint64_t *e = NULL;
	int level = 0;
	char rule[96];

	for (uint64_t a = va; a < end;) {
		uint64_t v, next;
		const struct protect_row *row;

		e = leaf_after(a, a == va ? NULL : e, &level);
		if (!e)
			return -ENOENT;
		v = (*e & ~clear) | set;
		if (wx(v))
			return -EINVAL;
		next = MIN(ALIGN_DOWN(a, pt_size(level)) + pt_size(level), end);
		row = unguarded ? NULL : protect_leaf_refused(true, a - PAGE_OFFSET, next - a, v);
		if (row)
			return refuse("a leaf at pa 0x%llx would break \"%s\" (%s)",
				      (unsigned long long)(a - PAGE_OFFSET), protect_row_name(row),
				      protect_row_rule(row, rule, sizeof(rule)));
		a = next;
	}
	return 0;
}

/* __pt_set_entry() of a store that reproduces what is mapped already. */
static void store(uint64_t *p, uint64_t v)
{
	/* Invariant: a split maps the same memory the same way, so the checks allow it. */
	if (__pt_set_entry(p, v))
		panic("set_memory: store of 0x%llx at %p refused", (unsigned long long)v,
		      (void *)p);
}

/* Drops the large translation a split replaced, right after the table is linked and
 * before any of its leaves changes: after a page-size change a CPU may hold both the
 * large and a small translation for one address and use either (SDM Vol. 3A,
 * 4.10.2.3). INVLPG of any address in a large page invalidates every TLB entry made
 * from it, global ones too, and the paging-structure caches (SDM Vol. 3A, 4.10.4.1):
 * one INVLPG covers the whole split range. */
static void flush_split(const uint64_t *e, phys_addr_t t, uint64_t va)
{
	/* Invariant: the flush follows the link (before it, a walk refills the large
	 * translation). */
	if (*e != (t | PTE_TABLE))
		panic("set_memory: split flush of 0x%llx before its table is linked",
		      (unsigned long long)va);
	invlpg((void *)va);
	stats.split_flushes++;
}

/* Replaces the leaf at e (of `level`, mapping from va) by a table of 512 leaves
 * one level down with the same attributes. The table is complete before it is
 * linked, so no address is ever unmapped or mapped wrongly; the large translation
 * is flushed right after the link. */
int set_memory_split_leaf(uint64_t *e, int level, uint64_t va)
{
	uint32_t w = pt_window_open(); /* one window for the allocation and the stores */
	phys_addr_t t = pt_alloc(level - 1, va), base = pt_entry_pa(*e, level);
	uint64_t attrs = *e & ~PTE_ADDR_MASK, *tt;

	if (!t) {
		pt_window_close(w);
		return -ENOMEM;
	}
	if (level - 1 == PT_LEVEL_PTE)
		attrs &= ~PTE_PS;
	tt = pa_to_va(t);
	/* Invariant: a split maps the same memory the same way, so the checks allow it. */
	if (__pt_fill_leaves(tt, PT_ENTRIES, base | attrs))
		panic("set_memory: split of 0x%llx refused", (unsigned long long)va);
	store(e, t | PTE_TABLE);
	pt_window_close(w);
	flush_split(e, t, va);
	checker_after_change("after a split");
	stats.splits++;
	return 0;
}

/* If the table behind entry e (at `level`) holds 512 contiguous leaves that agree,
 * replaces it by one leaf; the freed table is returned through *freed. Needs a
 * write window open. */
static bool try_merge(uint64_t *e, int level, phys_addr_t *freed)
{
	phys_addr_t t = pt_entry_pa(*e, level), base;
	const uint64_t *tt = pa_to_va(t);
	uint64_t step = pt_size(level - 1), attrs;

	if (!pt_present(*e) || pt_is_leaf(*e, level) || !pt_present(tt[0]) ||
	    !pt_is_leaf(tt[0], level - 1))
		return false;
	base = pt_entry_pa(tt[0], level - 1);
	attrs = tt[0] & MERGE_MASK;
	if (!IS_ALIGNED(base, pt_size(level)))
		return false;
	for (int i = 1; i < PT_ENTRIES; i++)
		if (!pt_present(tt[i]) || !pt_is_leaf(tt[i], level - 1) ||
		    (tt[i] & MERGE_MASK) != attrs ||
		    pt_entry_pa(tt[i], level - 1) != base + i * step)
			return false;
	if (__pt_set_entry(e, base | (tt[0] & ~PTE_ADDR_MASK) | PTE_PS))
		return false;
	*freed = t;
	stats.merges++;
	return true;
}

/* What one change leaves to flush: the leaves it stored into, to flush one by one
 * when they are few (INVLPG of any address in a leaf drops its TLB entries, whatever
 * its size, and every paging-structure cache entry: SDM Vol. 3A, 4.10.4.1), and the
 * tables its merges unlinked, freed only after that flush. More than FLUSH_MAX leaves
 * flush the whole TLB: past that, one flush is cheaper. */
#define FLUSH_MAX 32
#define FREED_MAX 64
struct flush_list {
	int n; /* > FLUSH_MAX: flush everything */
	uint64_t va[FLUSH_MAX];
	int nfreed;
	phys_addr_t freed[FREED_MAX];
	int8_t freed_level[FREED_MAX]; /* the level of the table freed[i] */
};

/* The lists of the changes in progress, one per nesting level (a split's table-cache
 * refill runs __set_memory inside a set_memory call), under pt_lock and written only
 * inside the change's window. Keyed: a list decides what is flushed and which tables
 * are freed after it, and on a stack one stray store into its count would skip the
 * flush and free a table other CPUs may still walk. */
#define CHANGE_NEST_MAX 4
static struct flush_list lists[CHANGE_NEST_MAX] __pt_keyed;
static int lists_used __pt_keyed;

uint64_t *set_memory_attack_target(void)
{
	return (uint64_t *)&lists[0];
}

static void flush_add(struct flush_list *f, uint64_t va)
{
	if (f->n < FLUSH_MAX)
		f->va[f->n] = va;
	f->n += f->n <= FLUSH_MAX;
}

/* One flush for the whole change, then the unlinked tables go back: this CPU drops
 * the leaves in f one by one (or everything; one INVLPG when only merges happened,
 * for the paging-structure caches), and every other online CPU flushes [va, end) in
 * one round, which meets each changed leaf and drops those caches too. A merged leaf
 * maps what its table mapped, with the same attributes, so a translation left from
 * the table outside [va, end) is still right (SDM Vol. 3A, 4.10.2.3). */
static void flush_list_run(struct flush_list *f, uint64_t va, uint64_t end)
{
	if (f->n > FLUSH_MAX)
		flush_tlb_all_local();
	else
		for (int i = 0; i < f->n; i++)
			invlpg((void *)f->va[i]);
	if (!f->n && f->nfreed)
		invlpg((void *)va);
	if ((f->n || f->nfreed) && flush_tlb_others)
		flush_tlb_others(va, end);
	stats.flushes += f->n || f->nfreed;
	while (f->nfreed) {
		f->nfreed--;
		pt_free(f->freed[f->nfreed], f->freed_level[f->nfreed]);
	}
	f->n = 0;
}

/* Merges what can be merged in [va, end) at `level` (pmd: 2 MiB, pud: 1 GiB); the
 * unlinked tables join f, to be freed after its flush (an early flush when f is
 * full). Needs a write window open (one per set_memory call covers every merge). */
static void merge_level(uint64_t va, uint64_t end, int level, struct flush_list *f)
{
	for (uint64_t a = ALIGN_DOWN(va, pt_size(level)); a < end; a += pt_size(level)) {
		uint64_t *e = pt_entry_at(pt_kernel_root(), a, level);

		if (f->nfreed == FREED_MAX)
			flush_list_run(f, va, end);
		if (e && try_merge(e, level, &f->freed[f->nfreed]))
			f->freed_level[f->nfreed++] = (int8_t)(level - 1);
	}
}

/* The leaves from e (at `level`, the first mapping start) to change with one
 * __pt_set_leaves(): the next slots of e's table while each holds a leaf inside
 * [start, end); adds each that changes to f. */
static int leaf_run(const uint64_t *e, int level, uint64_t start, uint64_t end, uint64_t set,
		    uint64_t clear, struct flush_list *f)
{
	uint64_t size = pt_size(level);
	int n = 0, room = PT_ENTRIES - pt_index(start, level);

	while (n < room && start + (n + 1) * size <= end && pt_present(e[n]) &&
	       pt_is_leaf(e[n], level)) {
		if (((e[n] & ~clear) | set) != e[n])
			flush_add(f, start + n * size);
		n++;
	}
	return n;
}

/* Applies the change a run of leaves at a time, splitting leaves that stick out of the range
 * (a split flushes its large translation itself); records each leaf stored into in
 * *f. Needs a write window open. Cannot fail: check_leaves() checked every store,
 * and the pool holds the tables of a 4 KiB map of all RAM (mm/pool.h), so a split
 * never finds it empty; either failing is a broken invariant (panic). */
static void apply(uint64_t va, uint64_t end, uint64_t set, uint64_t clear, struct flush_list *f)
{
	uint64_t *e = NULL;
	int level = 0;

	for (uint64_t a = va; a < end;) {
		uint64_t start, size, v;

		e = leaf_after(a, e, &level);
		size = pt_size(level);
		start = ALIGN_DOWN(a, size);
		v = (*e & ~clear) | set;
		if (v == *e) {
			a = start + size;
		} else if (start >= va && start + size <= end) {
			int n = leaf_run(e, level, start, end, set, clear, f);

			/* Invariant: check_leaves() checked these stores. */
			if (__pt_set_leaves(e, n, set, clear))
				panic("set_memory: change of 0x%llx refused",
				      (unsigned long long)start);
			e += n - 1;
			a = start + n * size;
		} else if (set_memory_split_leaf(e, level, start)) {
			/* Invariant: the pool holds every table a direct-map split needs. */
			panic("set_memory: split pool empty splitting 0x%llx",
			      (unsigned long long)start);
		} else {
			e = NULL; /* a is now in the new table: walk to it */
		}
	}
}

/* The change both paths share, after their own checks: checks every leaf, then
 * changes, flushes, merges, all in one write window (the splits' and frees' own
 * windows nest in it). */
static int change(uint64_t va, uint64_t end, uint64_t set, uint64_t clear)
{
	uint64_t flags = pt_lock_take();
	int rc = check_leaves(va, end, set, clear);
	struct flush_list *f;
	uint32_t w;

	if (!rc) {
		w = pt_window_open();
		/* Invariant: changes nest only through cache refills, one or two deep. */
		if (lists_used == CHANGE_NEST_MAX)
			panic("set_memory: changes nested deeper than %d", CHANGE_NEST_MAX);
		f = &lists[lists_used++];
		*f = (struct flush_list){ 0 };
		apply(va, end, set, clear, f);
		merge_level(va, end, PT_LEVEL_PMD, f);
		if (dmap_has_1g())
			merge_level(va, end, PT_LEVEL_PUD, f);
		flush_list_run(f, va, end);
		lists_used--;
		pt_window_close(w);
		checker_after_change("after set_memory");
	}
	pt_lock_drop(flags);
	return rc;
}

/* The public path: also refuses the protected regions and the table key. */
int set_memory(uint64_t va, uint64_t pages, uint64_t set, uint64_t clear)
{
	uint64_t end = range_end(va, pages);
	int rc = check_args(va, end, set, clear);

	stats.calls++;
	if (!rc)
		rc = check_owner(va - PAGE_OFFSET, end - va, set);
	return rc ? rc : change(va, end, set, clear);
}

/* mm's own path (mm/mm_internal.h): no owner check. */
int __set_memory(uint64_t va, uint64_t pages, uint64_t set, uint64_t clear)
{
	uint64_t end = range_end(va, pages);
	int rc = check_args(va, end, set, clear);

	stats.calls++;
	return rc ? rc : change(va, end, set, clear);
}

int set_memory_ro(uint64_t va, uint64_t pages)
{
	return set_memory(va, pages, 0, PTE_W);
}
int set_memory_rw(uint64_t va, uint64_t pages)
{
	return set_memory(va, pages, PTE_W, 0);
}
int set_memory_nx(uint64_t va, uint64_t pages)
{
	return set_memory(va, pages, PTE_NX, 0);
}
int set_memory_x(uint64_t va, uint64_t pages)
{
	return set_memory(va, pages, 0, PTE_NX);
}

int set_memory_pkey(uint64_t va, uint64_t pages, int key)
{
	if (key < 0 || key > 15)
		return -EINVAL;
	return set_memory(va, pages, PTE_PKEY(key), PTE_PKEY_MASK);
}
