/* tests/mm_check.h - checks shared by the memory-management suites. */
#ifndef TESTS_MM_CHECK_H
#define TESTS_MM_CHECK_H

#include "kernel/types.h"
#include "mm/dmap.h"
#include "mm/pgtable.h"

/* Direct-map leaf counts, free pool frames and live tables per level. */
struct mm_snap {
	struct dmap_stats st;
	uint64_t pool_free, count[PT_NR_LEVELS];
};

void mm_snap(struct mm_snap *s);
/* True when the leaf counts, free pool frames and table counts are as in *was. */
bool mm_snap_same(const struct mm_snap *was);
/* Fails the case unless mm_snap_same(was). */
void mm_expect_snap(const struct mm_snap *was);

/* Tables per level reachable from the kernel root (n[PT_NR_LEVELS]). */
void mm_walk_counts(uint64_t *n);
/* Fails the case for every level whose ctor/dtor count differs from the walk. */
void mm_expect_counts_match_walk(const char *when);
/* The ctor/dtor counts (c[PT_NR_LEVELS]). */
void mm_counts(uint64_t *c);
/* Expects the counts to be c0 plus the tables in `added` (bit l = one table of
 * level l); `unmapped` drops those again except the root's children. */
void mm_expect_counts(const uint64_t *c0, unsigned int added, bool unmapped);

/* True when word occurs in text (messages naming a row, a rule). */
bool mm_text_has(const char *text, const char *word);

#endif
