/* mm/extent.h - a sorted set of physical extents, the frame allocator's bookkeeping.
 *
 * A set holds extents [start, end), page aligned, sorted by address, non-overlapping
 * and non-adjacent (extents that touch are merged), in a fixed array of `max` slots
 * the owner provides. The queries change nothing; ext_insert() and ext_remove() need
 * a slot when the matching *_needs_slot() says so, which the caller checks first, so
 * that a refused operation changes nothing. No locking: the owner serialises.
 */
#ifndef MM_EXTENT_H
#define MM_EXTENT_H

#include "kernel/types.h"

struct extent {
	phys_addr_t start;
	phys_addr_t end; /* exclusive */
};

struct extent_set {
	struct extent *e;
	int nr;
	int max;
};

/* Index of the first extent of s that ends above pa; s->nr if there is none. */
int ext_find(const struct extent_set *s, phys_addr_t pa);
/* True when the set is full, so an operation needing a new extent must be refused. */
bool ext_full(const struct extent_set *s);
/* Lowest address of [start, end) that s does not cover; end if s covers it all.
 * Extents are merged, so the end of the extent holding start is not covered. */
phys_addr_t ext_first_uncovered(const struct extent_set *s, phys_addr_t start, phys_addr_t end);
/* Lowest address of [start, end) that s covers; end if it covers none of it. */
phys_addr_t ext_first_covered(const struct extent_set *s, phys_addr_t start, phys_addr_t end);
/* True when one extent of s holds all of [start, end). */
bool ext_covers(const struct extent_set *s, phys_addr_t start, phys_addr_t end);
/* True when adding [start, end) (disjoint from s) touches no extent, so it needs a slot. */
bool ext_insert_needs_slot(const struct extent_set *s, phys_addr_t start, phys_addr_t end);
/* Adds [start, end), merging with touching neighbours. Needs the range disjoint from
 * s (else -EEXIST) and a free slot when ext_insert_needs_slot() (else -ENOMEM). */
int ext_insert(struct extent_set *s, phys_addr_t start, phys_addr_t end);
/* True when removing [start, end) from s would split one extent in two. */
bool ext_remove_needs_slot(const struct extent_set *s, phys_addr_t start, phys_addr_t end);
/* Removes whatever s holds of [start, end); returns the bytes removed. Needs a free
 * slot when ext_remove_needs_slot() (the caller checks). */
uint64_t ext_remove(struct extent_set *s, phys_addr_t start, phys_addr_t end);

#endif
