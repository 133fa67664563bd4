/* mm/pgtable.h - paging structures: levels, entry bits, the one door for table
 * pages, the walkers and leaf mapping. Stores into tables go through mm/pt_door.h.
 *
 *   level  5-level  4-level  Intel (SDM Vol. 3A, 4.5)  one entry maps  leaf possible
 *     4    pgd      -        PML5E                     256 TiB         no
 *     3    p4d      pgd      PML4E                     512 GiB         no
 *     2    pud      pud      PDPTE                     1 GiB           yes (PS=1, pdpe1gb)
 *     1    pmd      pmd      PDE                       2 MiB           yes (PS=1)
 *     0    pte      pte      PTE                       4 KiB           always
 *
 * A level is the number of 9-bit index steps above the 4 KiB page: what one entry
 * maps fixes it, in either mode. The root is always the pgd, at pt_root_level().
 * In 4-level mode the p4d folds into the pgd, as in Linux: the root is a PML4 at
 * level 3, called pgd, and no table or name is a p4d. Table pages of every level
 * are allocated by pt_alloc() and freed by pt_free(), which run the level's
 * constructor and destructor (counts, PKS protection). Tables that map only the
 * direct map come from the split pool (mm/pool.h), all others from the grouped
 * table cache (mm/ptcache.h).
 */
#ifndef MM_PGTABLE_H
#define MM_PGTABLE_H

#include "kernel/types.h"
#include "mm/pt_door.h"

#define PT_LEVEL_PTE	    0
#define PT_LEVEL_PMD	    1
#define PT_LEVEL_PUD	    2
#define PT_LEVEL_P4D	    3 /* 5-level paging only */
#define PT_LEVEL_PGD_4LEVEL 3 /* the root's level: p4d folded into the pgd */
#define PT_LEVEL_PGD_5LEVEL 4
#define PT_NR_LEVELS	    5
#define PT_ENTRIES	    512

#define PTE_SHIFT 12 /* a level adds 9 bits: pt_shift() */
#define PMD_SIZE  (1ULL << 21)
#define PUD_SIZE  (1ULL << 30)

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

/* The pgd's level: PT_LEVEL_PGD_5LEVEL or PT_LEVEL_PGD_4LEVEL (pt_init). */
int pt_root_level(void);
/* Name of a level in Warden's vocabulary ("pgd" for the root, in either mode) and
 * Intel's ("PML4" for level 3); "none" for a level above the root. */
const char *pt_level_name(int level);
const char *pt_level_intel_name(int level);

/* --- the one door for table pages ----------------------------------------------- */

/* A zeroed, protected table page for `level` that will map addresses around `va`;
 * 0 when its source is empty. Runs the level constructor. */
phys_addr_t pt_alloc(int level, uint64_t va);
/* Runs the level destructor and returns the page to its source. The table must be
 * unlinked and no longer in any TLB. */
void pt_free(phys_addr_t pa, int level);
/* pt_alloc() up to n times into pas[], all in one write window (callers that take
 * many tables at once); returns how many it got: fewer than n when the source ran
 * dry. No errors beyond that. */
int pt_alloc_batch(int level, uint64_t va, phys_addr_t *pas, int n);
/* pt_free() of pas[n-1] down to pas[0] (all of `level`, unlinked, out of every TLB),
 * all in one write window. No errors. */
void pt_free_batch(const phys_addr_t *pas, int n, int level);
/* Live table pages per level, as counted by the constructors and destructors. */
uint64_t pt_count(int level);
/* The level of the live table page at pa (recorded by its constructor in the pool's
 * or the cache's keyed bookkeeping), or -1 when pa holds no live table. */
int pt_table_level(phys_addr_t pa);
/* True when an entry links the live table at pa: a table has one parent, which the
 * set helpers (mm/pt_door.c) record in the same keyed bookkeeping as its level. */
bool pt_table_linked(phys_addr_t pa);
/* For mm/pt_door.c: records that the live table at pa gained or lost its parent
 * entry. Needs a write window open (asserted). */
void pt_set_table_linked(phys_addr_t pa, bool linked);

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
 * live root table or (checked first) pa fails pt_pa_range_ok for one leaf or prot
 * has a frame-address bit, -EPERM when the leaf would be a writable alias of a protected
 * region (mm/protect_map.h) or writable and executable (nothing is mapped then). Does not flush the
 * TLB (nothing was mapped before). A guard marker in the pte counts as mapped (-EEXIST). One write
 * window for the tables it makes and the leaf. */
int pt_map_leaf(phys_addr_t root, uint64_t va, phys_addr_t pa, int level, uint64_t prot);
/* pt_map_leaf of n consecutive leaves from va and pa, all in one table (n at most
 * the slots left in it from va's): one walk, one lock, one window and one check of
 * the run (mm/pt_door.h: __pt_fill_leaves); all or nothing. -EINVAL also for n out
 * of that bound. */
int pt_map_leaves(phys_addr_t root, uint64_t va, phys_addr_t pa, int level, uint64_t prot, int n);
/* True when [pa, pa + size) can be mapped by leaves of `level` (pte..pud): size is not
 * 0, pa and size are multiples of the level's size, and the range ends below the CPU's
 * physical-address width, so no bit of pa lands in a leaf's key, NX or flag bits. */
bool pt_pa_range_ok(phys_addr_t pa, uint64_t size, int level);
/* Clears the leaf that maps va (of any level), frees tables left empty (except the
 * root's direct children), flushes va on every CPU (one round; inside a caller's
 * batch, mm/pt_flush.h, that batch's round) and frees the tables after it. Returns
 * 0, -ENOENT, or -EINVAL when root is not a live root table. One write window. */
int pt_unmap_leaf(phys_addr_t root, uint64_t va);
/* pt_unmap_leaf of the n leaves from va's: consecutive slots of one table, each a
 * present leaf of the level of va's leaf (-ENOENT, nothing cleared, otherwise, and
 * when the run passes the table's end; -EINVAL for n < 1). One walk, one lock, one
 * window, one flush range. */
int pt_unmap_leaves(phys_addr_t root, uint64_t va, int n);
/* Frees the root's child table covering va when it is empty: clears the root entry,
 * flushes this CPU's TLB, frees the table. Other CPUs must hold nothing under that
 * entry in their TLBs. Returns 0, -ENOENT when the root entry is empty, -EBUSY when
 * the child still has an entry (nothing changes), -EINVAL when root is not a live
 * root table. */
int pt_free_root_child(phys_addr_t root, uint64_t va);

/* Calls fn for every present entry of every table reachable from root, top-down:
 * fn(table_pa, level of the table, index, entry, va it maps, arg). */
typedef void (*pt_visit_fn)(phys_addr_t table, int level, int index, uint64_t e, uint64_t va,
			    void *arg);
void pt_walk_all(phys_addr_t root, pt_visit_fn fn, void *arg);

/* Turns a level-relative index path into a canonical address (sign-extended from
 * bit 47 or 56). */
uint64_t pt_canonical(uint64_t va);

#endif
