/* mm/set_memory.h - change attributes of direct-map ranges.
 *
 * Each call splits large leaves as needed (tables from the split pool), changes
 * the 4 KiB-page range [va, va + pages * 4 KiB), flushes the TLB for what changed,
 * and merges back: a table whose 512 entries agree again (contiguous, same
 * attributes and key) is replaced by one large leaf and returned to the pool.
 * Every call checks the whole range first and changes nothing on an error:
 *   -EINVAL  not page aligned / outside the direct map / would be writable+executable
 *   -ENOENT  part of the range is not mapped (a hole)
 *   -EPERM   the range holds memory with a guard (mm/pgprot.h: table pages, the pool,
 *            the cache, protection state, the kernel's read-only parts), or the
 *            change gives the page-table key (owned by mm)
 *   -ENOMEM  the pool ran dry (impossible for the direct map by construction)
 * mm/'s own path that keys and unkeys what it owns is private (mm/mm_internal.h).
 */
#ifndef MM_SET_MEMORY_H
#define MM_SET_MEMORY_H

#include "kernel/types.h"

int set_memory_ro(uint64_t va, uint64_t pages);
int set_memory_rw(uint64_t va, uint64_t pages);
int set_memory_nx(uint64_t va, uint64_t pages);
int set_memory_x(uint64_t va, uint64_t pages);
int set_memory_pkey(uint64_t va, uint64_t pages, int key);

/* The general form: set and clear attribute bits (PTE_W, PTE_NX, PTE_PKEY_MASK...). */
int set_memory(uint64_t va, uint64_t pages, uint64_t set, uint64_t clear);

/* For mm/ only: replaces the direct-map leaf at e (of `level`, mapping from va) by
 * a complete table of 512 leaves one level down (from the pool), then links it.
 * The caller flushes the TLB. 0 or -ENOMEM. */
int set_memory_split_leaf(uint64_t *e, int level, uint64_t va);

/* Counters since boot, for the report and tests. */
struct set_memory_stats {
	uint64_t splits, merges, calls;
};
void set_memory_get_stats(struct set_memory_stats *s);

#endif
