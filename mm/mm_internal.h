/* mm/mm_internal.h - calls for mm/ only. Nothing outside mm/ includes this file:
 * these paths change memory that the table code owns. */
#ifndef MM_MM_INTERNAL_H
#define MM_MM_INTERNAL_H

#include "kernel/types.h"
#include "mm/dmap.h"

/* set_memory() without the owner check: may key, unkey or write-protect what mm
 * owns (cache blocks, the pool's bookkeeping, protection state). Same errors but
 * -EPERM only for a leaf a row of the table forbids (mm/protect_map.h:
 * protect_leaf_refused): no writable alias. */
int __set_memory(uint64_t va, uint64_t pages, uint64_t set, uint64_t clear);

/* mm/set_memory.c: replaces the direct-map leaf at e (of `level`, mapping from va)
 * by a complete table of 512 leaves one level down (from the pool), links it and
 * flushes the large translation (INVLPG va); the caller flushes after changing the
 * new leaves. 0, or -ENOMEM (nothing changed) when the pool is empty. */
int set_memory_split_leaf(uint64_t *e, int level, uint64_t va);

/* mm/dmap.c, for mm/dmap_hotplug.c: a sorted list of RAM ranges (page-aligned). */
struct dmap_list {
	struct pa_range r[BOOT_MAX_RANGES];
	int n;
};
/* The RAM the direct map covers, and the RAM held back by mem=. */
struct dmap_list *dmap_ram_list(void);
struct dmap_list *dmap_held_list(void);
/* Maps [base, end) of RAM at PAGE_OFFSET with the largest leaves the protected-regions
 * table allows (mm/protect_map.h); with skip_chunks, pool chunks (mapped already) are
 * left as they are. Tables from the pool; a failure panics (the pool is sized). */
void dmap_map_ram(phys_addr_t root, phys_addr_t base, phys_addr_t end, bool skip_chunks);
/* Maps the pool chunk at c as a 2 MiB leaf carrying the page-table key. 0 or -errno. */
int dmap_map_chunk(phys_addr_t root, phys_addr_t c);

/* mm/pgprot_fault.c: registers the #PF and #DB handlers of the table protection. */
void pgprot_fault_init(void);

/* mm/pool.c: keys the frames of the pool's bookkeeping with `key`, now and whenever
 * they move (hot-add); 0 or a panic (the seal cannot fail halfway). */
void pool_seal(int key);

#endif
