/* mm/pgtable.h - paging structures: levels, entry bits, the one door for table pages
 * and the set helpers that are the only code storing into a table.
 *
 *   level  Warden  Intel (SDM Vol. 3A, 4.5)    one entry maps     leaf possible
 *     4    pgd     PML5E  (5-level root)        256 TiB            no
 *     3    p4d     PML4E  (4-level root: pgd)   512 GiB            no
 *     2    pud     PDPTE                        1 GiB              yes (PS=1, pdpe1gb)
 *     1    pmd     PDE                          2 MiB              yes (PS=1)
 *     0    pte     PTE                          4 KiB              always
 *
 * In 4-level mode the root table is a PML4: the pgd level folds onto the p4d level,
 * and pt_root_level() is 3. Table pages of every level are allocated by pt_alloc()
 * and freed by pt_free(), which run the level's constructor and destructor (counts,
 * PKS protection). Tables that map only the direct map come from the split pool
 * (mm/pool.h), all others from the grouped table cache (mm/ptcache.h).
 */
#ifndef MM_PGTABLE_H
#define MM_PGTABLE_H

#include "kernel/types.h"

#define PT_LEVEL_PTE 0
#define PT_LEVEL_PMD 1
#define PT_LEVEL_PUD 2
#define PT_LEVEL_P4D 3
#define PT_LEVEL_PGD 4
#define PT_NR_LEVELS 5
#define PT_ENTRIES   512

#define PTE_SHIFT 12
#define PMD_SHIFT 21
#define PUD_SHIFT 30
#define P4D_SHIFT 39
#define PGD_SHIFT 48
#define PMD_SIZE  (1ULL << PMD_SHIFT)
#define PUD_SIZE  (1ULL << PUD_SHIFT)
#define P4D_SIZE  (1ULL << P4D_SHIFT)
#define PMD_MASK  (~(PMD_SIZE - 1))
#define PUD_MASK  (~(PUD_SIZE - 1))

/* Entry bits (SDM Vol. 3A, 4.5, tables 4-15 to 4-20). */
#define PTE_P	       (1ULL << 0)
#define PTE_W	       (1ULL << 1)
#define PTE_U	       (1ULL << 2)
#define PTE_PWT	       (1ULL << 3)
#define PTE_PCD	       (1ULL << 4)
#define PTE_A	       (1ULL << 5)
#define PTE_D	       (1ULL << 6)
#define PTE_PS	       (1ULL << 7) /* leaf at the pmd and pud levels */
#define PTE_G	       (1ULL << 8)
#define PTE_NX	       (1ULL << 63)
#define PTE_PKEY_SHIFT 59 /* protection key: bits 62:59 of a leaf */
#define PTE_PKEY_MASK  (0xfULL << PTE_PKEY_SHIFT)
#define PTE_PKEY(k)    ((uint64_t)(k) << PTE_PKEY_SHIFT)
#define PTE_ADDR_MASK  0x000ffffffffff000ULL
/* Attribute bits that set_memory and the mapping helpers manage. */
#define PTE_PROT_MASK  (PTE_W | PTE_U | PTE_NX | PTE_G | PTE_PKEY_MASK | PTE_PWT | PTE_PCD)

/* An entry pointing to a lower table: present, writable, supervisor. */
#define PTE_TABLE      (PTE_P | PTE_W | PTE_A)
/* Kernel leaf attribute sets (present, global; accessed/dirty preset). */
#define PAGE_KERNEL_RW (PTE_P | PTE_W | PTE_NX | PTE_G | PTE_A | PTE_D)
#define PAGE_KERNEL_RO (PTE_P | PTE_NX | PTE_G | PTE_A)
#define PAGE_KERNEL_RX (PTE_P | PTE_G | PTE_A)

static inline unsigned int pt_shift(int level)
{
	return PTE_SHIFT + 9 * level;
}
static inline uint64_t pt_size(int level)
{
	return 1ULL << pt_shift(level);
}
static inline unsigned int pt_index(uint64_t va, int level)
{
	return (va >> pt_shift(level)) & (PT_ENTRIES - 1);
}
static inline bool pt_present(uint64_t e)
{
	return e & PTE_P;
}
/* True when e (an entry at `level`) maps memory itself rather than a table. */
static inline bool pt_is_leaf(uint64_t e, int level)
{
	return level == PT_LEVEL_PTE || (level <= PT_LEVEL_PUD && (e & PTE_PS));
}
/* Physical address an entry at `level` points to (table, or leaf frame). */
static inline phys_addr_t pt_entry_pa(uint64_t e, int level)
{
	uint64_t mask = PTE_ADDR_MASK;

	if (level > PT_LEVEL_PTE && pt_is_leaf(e, level))
		mask &= ~(pt_size(level) - 1);
	return e & mask;
}
static inline int pt_entry_pkey(uint64_t e)
{
	return (int)((e >> PTE_PKEY_SHIFT) & 0xf);
}

/* 4 in 5-level paging, 3 in 4-level. */
int pt_root_level(void);
/* Name of a level in Warden's vocabulary ("pgd" for the root) and Intel's. */
const char *pt_level_name(int level);
const char *pt_level_intel_name(int level);

/* --- the one door ------------------------------------------------------------ */

/* A zeroed, protected table page for `level` that will map addresses around `va`;
 * 0 when its source is empty. Runs the level constructor. */
phys_addr_t pt_alloc(int level, uint64_t va);
/* Runs the level destructor and returns the page to its source. The table must be
 * unlinked and no longer in any TLB. */
void pt_free(phys_addr_t pa, int level);
/* Live table pages per level, as counted by the constructors and destructors. */
uint64_t pt_count(int level);
/* The level of the live table page at pa (recorded by its constructor in the pool's
 * or the cache's keyed bookkeeping), or -1 when pa holds no live table. */
int pt_table_level(phys_addr_t pa);

/* --- the only stores into tables ---------------------------------------------- */

/* Stores v into the entry at p, inside a page-table write window (opened here if
 * none is open). Refuses, storing nothing: -EINVAL when p is not an entry of a live
 * table (pt_table_level), -EPERM when v links anything but a live table one level
 * down, or is a leaf that would make a writable alias the guards forbid
 * (mm/protect_map.h: protect_leaf_allowed). */
int pt_set_entry(uint64_t *p, uint64_t v);
/* Batch form of pt_set_entry, same checks: the caller holds a window open (asserted). */
int __pt_set_entry(uint64_t *p, uint64_t v);
/* True when stores into tables are possible right now (window open, or no
 * enforcement). */
bool pt_window_is_open(void);
/* Opens / closes a write window for a batch of stores (they nest; IRQ-safe because
 * every trap entry loads the default PKRS). Returns the state to pass to close;
 * close puts back only the table key's bits of that state. */
uint32_t pt_window_open(void);
void pt_window_close(uint32_t saved);
/* Zeroes a table page inside a window. */
void pt_clear_table(phys_addr_t pa);

/* Per-level vocabulary: pte_index(va), pmd_offset(table, va), pud_none(e),
 * pud_present(e), pmd_leaf(e), set_pmd(p, v), pud_populate(p, pmd_table_pa),
 * pmd_alloc(va), pmd_free(pa), ... all thin wrappers over the generic helpers. */
#define PT_LEVEL_HELPERS(name, LVL)                                         \
	static inline unsigned int name##_index(uint64_t va)                \
	{                                                                   \
		return pt_index(va, LVL);                                   \
	}                                                                   \
	static inline uint64_t *name##_offset(uint64_t *table, uint64_t va) \
	{                                                                   \
		return &table[pt_index(va, LVL)];                           \
	}                                                                   \
	static inline bool name##_none(uint64_t e)                          \
	{                                                                   \
		return e == 0;                                              \
	}                                                                   \
	static inline bool name##_present(uint64_t e)                       \
	{                                                                   \
		return pt_present(e);                                       \
	}                                                                   \
	static inline bool name##_leaf(uint64_t e)                          \
	{                                                                   \
		return pt_is_leaf(e, LVL);                                  \
	}                                                                   \
	static inline int set_##name(uint64_t *p, uint64_t v)               \
	{                                                                   \
		return pt_set_entry(p, v);                                  \
	}                                                                   \
	static inline phys_addr_t name##_alloc(uint64_t va)                 \
	{                                                                   \
		return pt_alloc(LVL, va);                                   \
	}                                                                   \
	static inline void name##_free(phys_addr_t pa)                      \
	{                                                                   \
		pt_free(pa, LVL);                                           \
	}
PT_LEVEL_HELPERS(pgd, PT_LEVEL_PGD)
PT_LEVEL_HELPERS(p4d, PT_LEVEL_P4D)
PT_LEVEL_HELPERS(pud, PT_LEVEL_PUD)
PT_LEVEL_HELPERS(pmd, PT_LEVEL_PMD)
PT_LEVEL_HELPERS(pte, PT_LEVEL_PTE)
#undef PT_LEVEL_HELPERS
/* Points the entry at p (a pud/pmd entry) to a lower table. */
static inline int pud_populate(uint64_t *p, phys_addr_t pmd)
{
	return pt_set_entry(p, pmd | PTE_TABLE);
}
static inline int pmd_populate(uint64_t *p, phys_addr_t pte)
{
	return pt_set_entry(p, pte | PTE_TABLE);
}

/* --- walking and mapping (kernel address space) -------------------------------- */

/* Boot only: reads the paging mode from CR4; records the kernel root once built. */
void pt_init(void);
void pt_set_kernel_root(phys_addr_t root);
/* Physical address of the kernel's root table (the value in CR3). */
phys_addr_t pt_kernel_root(void);

/* Finds the entry that maps va in the kernel tables: returns a pointer to the leaf
 * entry and its level in *level, or NULL when va is not mapped (then *level is the
 * level where the walk stopped). */
uint64_t *pt_lookup(uint64_t va, int *level);
/* Pointer to the entry at `level` on the walk for va from root, or NULL when the
 * walk ends in a leaf or a hole above that level. */
uint64_t *pt_entry_at(phys_addr_t root, uint64_t va, int level);
/* Same, from an explicit root table. */
uint64_t *pt_lookup_in(phys_addr_t root, uint64_t va, int *level);

/* Maps one leaf of `level` at va (aligned) to pa with the attribute bits `prot`
 * (PTE_* without PS; PTE_P implied), allocating tables on the way. A user leaf
 * (PTE_U) gets U=1 in every entry of its path. Returns 0, -EEXIST when something
 * is mapped there, -ENOMEM when a table cannot be had, -EINVAL when root is not a
 * live root table, -EPERM when the leaf would be a writable alias the guards forbid
 * (mm/pgprot.h; nothing is mapped then). Does not flush the TLB (nothing was
 * mapped before). */
int pt_map_leaf(phys_addr_t root, uint64_t va, phys_addr_t pa, int level, uint64_t prot);
/* Clears the leaf that maps va (of any level), frees tables left empty (except the
 * root's direct children), flushes va from the TLB. Returns 0, -ENOENT, or -EINVAL
 * when root is not a live root table. */
int pt_unmap_leaf(phys_addr_t root, uint64_t va);

/* Calls fn for every present entry of every table reachable from root, top-down:
 * fn(table_pa, level of the table, index, entry, va it maps, arg). */
typedef void (*pt_visit_fn)(phys_addr_t table, int level, int index, uint64_t e, uint64_t va,
			    void *arg);
void pt_walk_all(phys_addr_t root, pt_visit_fn fn, void *arg);

/* Turns a level-relative index path into a canonical address (sign-extended from
 * bit 47 or 56). */
uint64_t pt_canonical(uint64_t va);

#endif
