/* tests/test_redteam.h - what the two files of the `redteam` suite share:
 * tests/test_redteam.c (attacks through APIs) and tests/test_redteam_state.c
 * (stray stores, trap exits, soft mode, the checker). */
#ifndef TESTS_TEST_REDTEAM_H
#define TESTS_TEST_REDTEAM_H

#include "kernel/types.h"

/* An entry bit the MMU ignores in every paging-structure entry (bit 10, SDM Vol. 3A,
 * 4.5, tables 4-15 to 4-20): an attack that writes a value with it flipped changes a
 * table visibly and harmlessly if it ever lands. */
#define REDTEAM_HARMLESS_BIT (1ULL << 10)

/* Why the tables are not protected right now (pks_tables=off, no PKS), else NULL. */
const char *redteam_unenforced(void);
/* Why there is no page-table key (no PKS), else NULL. */
const char *redteam_no_table_key(void);

/* Skips the case with `why` unless it is NULL. */
#define REDTEAM_REQUIRE(why)              \
	do {                              \
		const char *why_ = (why); \
		if (why_)                 \
			KTEST_SKIP(why_); \
	} while (0)

#endif
