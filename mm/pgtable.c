/* mm/pgtable.c - the one door for table pages, the walkers and leaf mapping. */
#include "mm/pgtable.h"
#include "mm/dmap.h"
#include "mm/pgprot.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "kernel/panic.h"
#include "arch/cpu.h"

static int root_level = PT_LEVEL_P4D;
static phys_addr_t kernel_root;
/* Live table pages per level: changed only by pt_ctor / pt_dtor. */
static uint64_t counts[PT_NR_LEVELS];

static const char *const names[PT_NR_LEVELS] = { "pte", "pmd", "pud", "p4d", "pgd" };
static const char *const intel[PT_NR_LEVELS] = { "PT", "PD", "PDPT", "PML4", "PML5" };

int pt_root_level(void)
{
	return root_level;
}

const char *pt_level_name(int level)
{
	return level == root_level ? "pgd" : names[level];
}

const char *pt_level_intel_name(int level)
{
	return intel[level];
}

/* Reads the paging mode (4- or 5-level) from CR4. */
void pt_init(void)
{
	root_level = (read_cr4() & CR4_LA57) ? PT_LEVEL_PGD : PT_LEVEL_P4D;
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
	unsigned int top = root_level == PT_LEVEL_PGD ? 56 : 47;

	if (va & (1ULL << top))
		return va | ~((1ULL << top) - 1);
	return va & ((1ULL << (top + 1)) - 1);
}

/* Tables that map only direct-map addresses (pud level and below under
 * PAGE_OFFSET) come from the split pool; every other table from the cache. */
static bool from_pool(int level, uint64_t va)
{
	return level <= PT_LEVEL_PUD && is_dmap_va(va);
}

/* Constructor: counts the page, makes sure it is protected, zeroes it. */
static void pt_ctor(phys_addr_t pa, int level)
{
	counts[level]++;
	pgprot_table_ctor(pa, level);
	pt_clear_table(pa);
}

/* Destructor: reverses the constructor's accounting and protection. */
static void pt_dtor(phys_addr_t pa, int level)
{
	/* Invariant: a destructor never runs more often than its constructor. */
	ASSERT(counts[level] > 0);
	counts[level]--;
	pgprot_table_dtor(pa, level);
}

phys_addr_t pt_alloc(int level, uint64_t va)
{
	phys_addr_t pa = from_pool(level, va) ? pool_alloc() : ptcache_alloc();

	if (pa)
		pt_ctor(pa, level);
	return pa;
}

void pt_free(phys_addr_t pa, int level)
{
	pt_dtor(pa, level);
	if (pool_contains(pa))
		pool_free(pa);
	else
		ptcache_free(pa);
}

uint64_t pt_count(int level)
{
	return counts[level];
}

void pt_set_entry(uint64_t *p, uint64_t v)
{
	uint32_t w = pt_window_open();

	*(volatile uint64_t *)p = v;
	pt_window_close(w);
}

void __pt_set_entry(uint64_t *p, uint64_t v)
{
	/* Invariant: batch stores happen inside an open write window. */
	ASSERT(pt_window_is_open());
	*(volatile uint64_t *)p = v;
}

void pt_clear_table(phys_addr_t pa)
{
	uint32_t w = pt_window_open();

	memset(pa_to_va(pa), 0, PT_ENTRIES * sizeof(uint64_t));
	pt_window_close(w);
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

		pt_set_entry(entries[n], 0);
		pt_free(t, levels[n]);
	}
}

int pt_map_leaf(phys_addr_t root, uint64_t va, phys_addr_t pa, int level, uint64_t prot)
{
	uint64_t *table = pa_to_va(root), *made[PT_NR_LEVELS];
	uint64_t user = prot & PTE_U;
	int made_level[PT_NR_LEVELS], n = 0;

	for (int l = root_level; l > level; l--) {
		uint64_t *e = &table[pt_index(va, l)];

		if (!pt_present(*e)) {
			phys_addr_t t = pt_alloc(l - 1, va);

			if (!t) {
				unlink_new_tables(made, made_level, n);
				return -ENOMEM;
			}
			pt_set_entry(e, t | PTE_TABLE | user);
			made[n] = e;
			made_level[n++] = l - 1;
		} else if (pt_is_leaf(*e, l)) {
			unlink_new_tables(made, made_level, n);
			return -EEXIST;
		} else if (user && !(*e & PTE_U)) {
			pt_set_entry(e, *e | PTE_U);
		}
		table = pa_to_va(pt_entry_pa(*e, l));
	}
	if (pt_present(table[pt_index(va, level)])) {
		unlink_new_tables(made, made_level, n);
		return -EEXIST;
	}
	pt_set_entry(&table[pt_index(va, level)],
		     pa | prot | PTE_P | (level > PT_LEVEL_PTE ? PTE_PS : 0));
	return 0;
}

static bool table_empty(const uint64_t *t)
{
	for (int i = 0; i < PT_ENTRIES; i++)
		if (t[i])
			return false;
	return true;
}

int pt_unmap_leaf(phys_addr_t root, uint64_t va)
{
	uint64_t *path[PT_NR_LEVELS] = { 0 }, *table = pa_to_va(root);
	int l;

	for (l = root_level; l >= 0; l--) {
		path[l] = &table[pt_index(va, l)];
		if (!pt_present(*path[l]))
			return -ENOENT;
		if (pt_is_leaf(*path[l], l))
			break;
		table = pa_to_va(pt_entry_pa(*path[l], l));
	}
	pt_set_entry(path[l], 0);
	invlpg((void *)va);
	/* Free tables left empty, up to (not including) the root's children. */
	for (int up = l + 1; up < root_level; up++) {
		phys_addr_t child = pt_entry_pa(*path[up], up);

		if (!table_empty(pa_to_va(child)))
			break;
		pt_set_entry(path[up], 0);
		invlpg((void *)va);
		pt_free(child, up - 1);
	}
	return 0;
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
