/* mm/mm_internal.h - calls for mm/ only. Nothing outside mm/ includes this file:
 * these paths change memory that the table code owns. */
#ifndef MM_MM_INTERNAL_H
#define MM_MM_INTERNAL_H

#include "kernel/types.h"

/* set_memory() without the owner check: may key, unkey or write-protect what mm
 * owns (cache blocks, the pool's bookkeeping, protection state). Still refuses a
 * leaf the guards forbid (mm/pgprot.h: pgprot_leaf_allowed): no writable alias. */
int __set_memory(uint64_t va, uint64_t pages, uint64_t set, uint64_t clear);

/* mm/pgprot_fault.c: registers the #PF and #DB handlers of the table protection. */
void pgprot_fault_init(void);

/* mm/pool.c: keys the frames of the pool's bookkeeping with `key`, now and whenever
 * they move (hot-add); 0 or a panic (the seal cannot fail halfway). */
void pool_seal(int key);

#endif
