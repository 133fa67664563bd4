/* mm/set_memory.h - change attributes of direct-map ranges.
 *
 * Each call splits large leaves as needed (tables from the split pool; each split
 * flushes the large translation right after linking its table), changes the 4 KiB-
 * page range [va, va + pages * 4 KiB), flushes the TLB for what changed, and merges
 * back: a table whose 512 entries agree again (contiguous, same attributes and key)
 * is replaced by one large leaf and returned to the pool. Every call checks the whole
 * range first and changes nothing on an error:
 *   -EINVAL  not page aligned / no pages / outside the direct map / not attribute
 *            bits / would be writable+executable
 *   -ENOENT  part of the range is not mapped (a hole)
 *   -EPERM   the range holds a region of the protected-regions table (mm/protect_map.h:
 *            kernel text+rodata, ro_after_init, split pool, table cache, pt_keyed
 *            state, pool bookkeeping), or the change gives the page-table key (owned
 *            by mm); the message (printed, and set_memory_last_refusal) names the row
 * The pool cannot run dry: it holds the tables of a 4 KiB map of all RAM (mm/pool.h),
 * so a split that found it empty is a broken invariant and panics.
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

/* Counters since boot, for the report and tests. */
struct set_memory_stats {
	uint64_t splits, merges, calls;
	uint64_t split_flushes; /* large translations flushed after a split's link */
	uint64_t flushes;	/* flushes of a change's leaves and merges: at most 1 per call */
};
void set_memory_get_stats(struct set_memory_stats *s);
/* The first word of the keyed list a change records its flush in (for the redteam
 * suite's stray store). */
uint64_t *set_memory_attack_target(void);
/* Why the last -EPERM was returned (names the row or the key); "" before any. */
const char *set_memory_last_refusal(void);

#endif
