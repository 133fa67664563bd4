/* mm/pgtable.c - the one door for table pages, the walkers and leaf mapping. Stores
 * into tables go through mm/pt_door.c. */
#include "mm/pt_lock.h"
#include "mm/checker.h"
#include "mm/pgtable.h"
#include "mm/dmap.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pool.h"
#include "mm/protect_map.h"
#include "mm/pt_flush.h"
#include "mm/ptcache.h"
#include "kernel/panic.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"

static int root_level __ro_after_init = PT_LEVEL_PGD_4LEVEL;
static phys_addr_t kernel_root __ro_after_init;
/* Live table pages per level: changed only by pt_ctor / pt_dtor, inside windows. */
static uint64_t counts[PT_NR_LEVELS] __pt_keyed;

/* Level names per mode (mm/pgtable.h): in 4-level mode level 3 is the pgd. */
static const char *const names5[PT_NR_LEVELS] = { "pte", "pmd", "pud", "p4d", "pgd" };
static const char *const names4[PT_NR_LEVELS] = { "pte", "pmd", "pud", "pgd", "none" };
static const char *const intel[PT_NR_LEVELS] = { "PT", "PD", "PDPT", "PML4", "PML5" };

int pt_root_level(void)
{
	return root_level;
}

const char *pt_level_name(int level)
{
	return root_level == PT_LEVEL_PGD_5LEVEL ? names5[level] : names4[level];
}

const char *pt_level_intel_name(int level)
{
	return intel[level];
}

/* Reads the paging mode (4- or 5-level) from CR4. */
void pt_init(void)
{
	root_level = (read_cr4() & CR4_LA57) ? PT_LEVEL_PGD_5LEVEL : PT_LEVEL_PGD_4LEVEL;
}

phys_addr_t pt_kernel_root(void)
{
	return kernel_root;
}

void pt_set_kernel_root(phys_addr_t root)
{
	kernel_root = root;
}

uint64_t pt_canonical(uint64_t va)
{
	unsigned int top = root_level == PT_LEVEL_PGD_5LEVEL ? 56 : 47;

	if (va & (1ULL << top))
		return va | ~((1ULL << top) - 1);
	return va & ((1ULL << (top + 1)) - 1);
}

/* Tables that map only direct-map addresses (pud level and below under
 * PAGE_OFFSET) come from the split pool; every other table from the cache.
 * The cache relies on this: keying a new cache block may split a direct-map leaf,
 * and that split's tables must come from the pool, never from the cache being
 * refilled (asserted in mm/ptcache.c: ptcache_alloc). */
static bool from_pool(int level, uint64_t va)
{
	return level <= PT_LEVEL_PUD && is_dmap_va(va);
}

/* Constructor: counts the page, makes sure it is protected, records its level in
 * its source's keyed bookkeeping (from now on it is a live table), zeroes it. */
static void pt_ctor(phys_addr_t pa, int level)
{
	/* Invariant: a page handed out as a table is a fresh pool or cache page, no
	 * live table (two parents would reach it): pt_clear_table refuses anything else. */
	if (pt_clear_table(pa))
		panic("pt_ctor: 0x%llx is a live %s table or no pool or table-cache page",
		      (unsigned long long)pa, pt_level_name(MAX(pt_table_level(pa), 0)));
	counts[level]++;
	pgprot_table_ctor(pa, level);
	if (pool_contains(pa))
		pool_set_level(pa, level);
	else
		ptcache_set_level(pa, level);
}

/* Destructor: reverses the constructor's accounting and protection; freeing the
 * page forgets its level. */
static void pt_dtor(phys_addr_t pa, int level)
{
	/* Invariant: a destructor never runs more often than its constructor. */
	ASSERT(counts[level] > 0);
	/* Invariant: only a live table of that level is freed. */
	ASSERT(pt_table_level(pa) == level);
	/* Invariant: a table is freed only after its parent entry let go of it. */
	ASSERT(!pt_table_linked(pa));
	counts[level]--;
	pgprot_table_dtor(pa, level);
}

/* One write window covers the source's bookkeeping, the level record and the clear;
 * a table-cache refill inside it runs with the key closed (mm/ptcache.c: refill). */
phys_addr_t pt_alloc(int level, uint64_t va)
{
	uint32_t w = pt_window_open();
	phys_addr_t pa = from_pool(level, va) ? pool_alloc() : ptcache_alloc();

	if (pa)
		pt_ctor(pa, level);
	pt_window_close(w);
	return pa;
}

void pt_free(phys_addr_t pa, int level)
{
	uint32_t w = pt_window_open();

	pt_dtor(pa, level);
	if (pool_contains(pa))
		pool_free(pa);
	else
		ptcache_free(pa);
	pt_window_close(w);
}

int pt_alloc_batch(int level, uint64_t va, phys_addr_t *pas, int n)
{
	uint32_t w = pt_window_open(); /* the pt_alloc() windows below nest in it */
	int k = 0;

	while (k < n && (pas[k] = pt_alloc(level, va)))
		k++;
	pt_window_close(w);
	return k;
}

void pt_free_batch(const phys_addr_t *pas, int n, int level)
{
	uint32_t w = pt_window_open(); /* the pt_free() windows below nest in it */

	while (n > 0)
		pt_free(pas[--n], level);
	pt_window_close(w);
}

int pt_table_level(phys_addr_t pa)
{
	int level = pool_table_level(pa);

	return level >= 0 ? level : ptcache_table_level(pa);
}

bool pt_table_linked(phys_addr_t pa)
{
	return pool_contains(pa) ? pool_table_linked(pa) : ptcache_table_linked(pa);
}

void pt_set_table_linked(phys_addr_t pa, bool linked)
{
	if (pool_contains(pa))
		pool_set_linked(pa, linked);
	else
		ptcache_set_linked(pa, linked);
}

uint64_t pt_count(int level)
{
	return counts[level];
}

/* pt_set_entry() for a store the caller has already validated. */
static void set_entry(uint64_t *p, uint64_t v)
{
	int rc = pt_set_entry(p, v);

	/* Invariant: the mapping code only makes stores the checks allow. */
	if (rc)
		panic("pt_set_entry: store of 0x%llx at %p refused (%d)", (unsigned long long)v,
		      (void *)p, rc);
}

uint64_t *pt_lookup_in(phys_addr_t root, uint64_t va, int *level)
{
	uint64_t *table = pa_to_va(root);

	for (int l = root_level; l >= 0; l--) {
		uint64_t *e = &table[pt_index(va, l)];

		*level = l;
		if (!pt_present(*e))
			return NULL;
		if (pt_is_leaf(*e, l))
			return e;
		table = pa_to_va(pt_entry_pa(*e, l));
	}
	return NULL;
}

uint64_t *pt_entry_at(phys_addr_t root, uint64_t va, int level)
{
	uint64_t *t = pa_to_va(root);

	for (int k = root_level; k > level; k--) {
		uint64_t e = t[pt_index(va, k)];

		if (!pt_present(e) || pt_is_leaf(e, k))
			return NULL;
		t = pa_to_va(pt_entry_pa(e, k));
	}
	return &t[pt_index(va, level)];
}

uint64_t *pt_lookup(uint64_t va, int *level)
{
	return pt_lookup_in(kernel_root, va, level);
}

/* Undoes the tables pt_map_leaf linked on a failed call: entries[i] points to the
 * parent entry of the table created at level[i]. */
static void unlink_new_tables(uint64_t **entries, int *levels, int n)
{
	while (n-- > 0) {
		phys_addr_t t = pt_entry_pa(*entries[n], levels[n] + 1);

		set_entry(entries[n], 0);
		pt_free(t, levels[n]);
	}
}

/* Maps the n leaves of `level` from va (consecutive slots of one table) to pa on,
 * making the tables on the way; all or nothing. */
static int map_leaves(phys_addr_t root, uint64_t va, phys_addr_t pa, int level, uint64_t prot,
		      int n)
{
	uint64_t *table = pa_to_va(root), *made[PT_NR_LEVELS], *slot;
	uint64_t user = prot & PTE_U;
	int made_level[PT_NR_LEVELS], m = 0, rc;

	if (pt_table_level(root) != root_level || level < PT_LEVEL_PTE || level > PT_LEVEL_PUD)
		return -EINVAL;
	for (int l = root_level; l > level; l--) {
		uint64_t *e = &table[pt_index(va, l)];

		if (!pt_present(*e)) {
			phys_addr_t t = pt_alloc(l - 1, va);

			if (!t) {
				unlink_new_tables(made, made_level, m);
				return -ENOMEM;
			}
			set_entry(e, t | PTE_TABLE | user);
			made[m] = e;
			made_level[m++] = l - 1;
		} else if (pt_is_leaf(*e, l)) {
			unlink_new_tables(made, made_level, m);
			return -EEXIST;
		} else if (user && !(*e & PTE_U)) {
			set_entry(e, *e | PTE_U);
		}
		table = pa_to_va(pt_entry_pa(*e, l));
	}
	slot = &table[pt_index(va, level)];
	for (int i = 0; i < n; i++) {
		if (pt_present(slot[i]) || guard_is_marker(slot[i])) {
			unlink_new_tables(made, made_level, m);
			return -EEXIST;
		}
	}
	/* The door refuses what the guards forbid (a writable alias of a protected
	 * region, W^X), checking the run once; the tables made on the way then go again. */
	rc = __pt_fill_leaves(slot, n, pa | prot | PTE_P | (level > PT_LEVEL_PTE ? PTE_PS : 0));
	if (rc)
		unlink_new_tables(made, made_level, m);
	return rc;
}

/* True when every entry of t is 0. The scan starts after slot `from` (the one just
 * cleared) and wraps: a range unmapped in order finds the next slot still in use at
 * once, instead of scanning past every slot it already cleared. */
static bool table_empty(const uint64_t *t, int from)
{
	for (int i = 1; i <= PT_ENTRIES; i++)
		if (t[(from + i) % PT_ENTRIES])
			return false;
	return true;
}

/* Clears the n leaves from va (consecutive slots of one table, each a present leaf of
 * the level of va's leaf), frees the tables left empty up to the root's children, and
 * records the range and the tables in the flush batch. */
static int unmap_leaves(phys_addr_t root, uint64_t va, int n)
{
	uint64_t *path[PT_NR_LEVELS] = { 0 }, *table = pa_to_va(root);
	int l;

	if (pt_table_level(root) != root_level)
		return -EINVAL;
	for (l = root_level; l >= 0; l--) {
		path[l] = &table[pt_index(va, l)];
		if (!pt_present(*path[l]))
			return -ENOENT;
		if (pt_is_leaf(*path[l], l))
			break;
		table = pa_to_va(pt_entry_pa(*path[l], l));
	}
	if (l < 0 || __pt_clear_leaves(path[l], n))
		return -ENOENT; /* a slot of the run holds no leaf: nothing cleared */
	/* INVLPG of any address in a leaf drops it, whatever its size (SDM Vol. 3A,
	 * 4.10.4.1): one page of range per leaf covers it. */
	pt_flush_add(va, va + (uint64_t)(n - 1) * pt_size(l) + PAGE_SIZE);
	/* Free tables left empty, up to (not including) the root's children: after
	 * the batch's flush, when no CPU walks them any more. */
	for (int up = l + 1; up < root_level; up++) {
		phys_addr_t child = pt_entry_pa(*path[up], up);

		if (!table_empty(pa_to_va(child), pt_index(va, up - 1)))
			break;
		set_entry(path[up], 0);
		pt_flush_free_table(child, up - 1);
	}
	return 0;
}

static int free_root_child(phys_addr_t root, uint64_t va)
{
	uint64_t *e = &((uint64_t *)pa_to_va(root))[pt_index(va, root_level)];
	phys_addr_t child;

	if (pt_table_level(root) != root_level)
		return -EINVAL;
	if (!pt_present(*e))
		return -ENOENT;
	child = pt_entry_pa(*e, root_level);
	if (!table_empty(pa_to_va(child), PT_ENTRIES - 1))
		return -EBUSY;
	set_entry(e, 0);
	flush_tlb_all();
	pt_free(child, root_level - 1);
	return 0;
}

bool pt_pa_range_ok(phys_addr_t pa, uint64_t size, int level)
{
	uint64_t top = 1ULL << MIN(cpu.phys_bits, 52u); /* 52: the entry's address field */

	if (level < PT_LEVEL_PTE || level > PT_LEVEL_PUD || !size)
		return false;
	return IS_ALIGNED(pa | size, pt_size(level)) && pa < top && size <= top - pa;
}

/* The three table changes above, each under pt_lock (mm/pt_lock.h) and in one
 * write window (the stores and the tables made or freed share it). pa and prot are
 * checked first: an address bit in prot, or a pa bit outside the frame address,
 * would land in another field of the leaf (its key, NX, flags, or the frame). */
int pt_map_leaves(phys_addr_t root, uint64_t va, phys_addr_t pa, int level, uint64_t prot, int n)
{
	uint64_t flags;
	uint32_t w;
	int rc;

	if (level < PT_LEVEL_PTE || level > PT_LEVEL_PUD || n < 1 ||
	    n > PT_ENTRIES - (int)pt_index(va, level) ||
	    !pt_pa_range_ok(pa, (uint64_t)n * pt_size(level), level) || (prot & PTE_ADDR_MASK))
		return -EINVAL;
	flags = pt_lock_take();
	w = pt_window_open();
	rc = map_leaves(root, va, pa, level, prot, n);

	pt_window_close(w);
	if (!rc)
		checker_after_change("after a map of leaves");
	pt_lock_drop(flags);
	return rc;
}

int pt_map_leaf(phys_addr_t root, uint64_t va, phys_addr_t pa, int level, uint64_t prot)
{
	return pt_map_leaves(root, va, pa, level, prot, 1);
}

int pt_unmap_leaves(phys_addr_t root, uint64_t va, int n)
{
	uint64_t flags;
	uint32_t w;
	int rc;

	if (n < 1)
		return -EINVAL;
	flags = pt_lock_take();
	w = pt_window_open();
	pt_flush_begin(); /* the caller's batch, if it has one, flushes instead */
	rc = unmap_leaves(root, va, n);
	pt_flush_end();
	pt_window_close(w);
	if (!rc)
		checker_after_change("after an unmap of leaves");
	pt_lock_drop(flags);
	return rc;
}

int pt_unmap_leaf(phys_addr_t root, uint64_t va)
{
	return pt_unmap_leaves(root, va, 1);
}

int pt_free_root_child(phys_addr_t root, uint64_t va)
{
	uint64_t flags = pt_lock_take();
	uint32_t w = pt_window_open();
	int rc = free_root_child(root, va);

	pt_window_close(w);
	pt_lock_drop(flags);
	return rc;
}

/* Visits the present entries of the table at pa (level `level`) and below. */
static void walk_table(phys_addr_t pa, int level, uint64_t base, pt_visit_fn fn, void *arg)
{
	const uint64_t *t = pa_to_va(pa);

	for (int i = 0; i < PT_ENTRIES; i++) {
		uint64_t e = t[i], va = pt_canonical(base + ((uint64_t)i << pt_shift(level)));

		if (!pt_present(e))
			continue;
		fn(pa, level, i, e, va, arg);
		if (!pt_is_leaf(e, level))
			walk_table(pt_entry_pa(e, level), level - 1, va, fn, arg);
	}
}

void pt_walk_all(phys_addr_t root, pt_visit_fn fn, void *arg)
{
	walk_table(root, root_level, 0, fn, arg);
}
