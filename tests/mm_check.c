/* tests/mm_check.c - checks shared by the memory-management suites: snapshots of
 * what a case must leave as it found it, and table counts against a walk. */
#include "tests/mm_check.h"
#include "kernel/ktest.h"
#include "mm/dmap.h"
#include "mm/pool.h"

/* ---- snapshots: what a case must leave as it found it -------------------------- */

void mm_snap(struct mm_snap *s)
{
	dmap_stats(&s->st);
	s->pool_free = pool_free_count();
	for (int l = 0; l < PT_NR_LEVELS; l++)
		s->count[l] = pt_count(l);
}

/* True when the leaf counts, free pool frames and table counts are as in *was. */
bool mm_snap_same(const struct mm_snap *was)
{
	struct mm_snap now;

	mm_snap(&now);
	return memcmp(&now, was, sizeof(now)) == 0; /* all uint64_t: no padding */
}

void mm_expect_snap(const struct mm_snap *was)
{
	if (!mm_snap_same(was))
		ktest_fail(__FILE__, __LINE__, "leaf, pool or table counts not back to before");
}

/* ---- counts against a walk ------------------------------------------------------ */

static void mm_count_table(phys_addr_t table, int level, int index, uint64_t e, uint64_t va,
			   void *arg)
{
	uint64_t *n = arg;

	(void)table;
	(void)index;
	(void)va;
	if (!pt_is_leaf(e, level))
		n[level - 1]++;
}

/* Tables per level reachable from the kernel root: the root, plus one per non-leaf
 * entry at the level above. */
void mm_walk_counts(uint64_t *n)
{
	memset(n, 0, PT_NR_LEVELS * sizeof(*n));
	n[pt_root_level()] = 1;
	pt_walk_all(pt_kernel_root(), mm_count_table, n);
}

void mm_expect_counts_match_walk(const char *when)
{
	uint64_t n[PT_NR_LEVELS];

	mm_walk_counts(n);
	for (int l = 0; l < PT_NR_LEVELS; l++)
		if (n[l] != pt_count(l))
			ktest_fail(__FILE__, __LINE__, "%s: %s tables: count %llu, walk %llu", when,
				   pt_level_intel_name(l), (unsigned long long)pt_count(l),
				   (unsigned long long)n[l]);
}

void mm_counts(uint64_t *c)
{
	for (int l = 0; l < PT_NR_LEVELS; l++)
		c[l] = pt_count(l);
}

/* Expects the counts to be c0 plus the tables in `added`; `unmapped` drops those
 * again except the root's children, which pt_unmap_leaf keeps. */
void mm_expect_counts(const uint64_t *c0, unsigned int added, bool unmapped)
{
	for (int l = 0; l < PT_NR_LEVELS; l++) {
		bool extra = (added >> l) & 1;

		if (unmapped && l != pt_root_level() - 1)
			extra = false;
		KEXPECT_EQ(pt_count(l), c0[l] + extra);
	}
}

/* ---- messages ------------------------------------------------------------------- */

bool mm_text_has(const char *text, const char *word)
{
	size_t n = strlen(word);

	for (; *text; text++)
		if (!strncmp(text, word, n))
			return true;
	return !n;
}
