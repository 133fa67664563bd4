/* tests/test_redteam.h - what the two files of the `redteam` suite share:
 * tests/test_redteam.c (attacks through APIs) and tests/test_redteam_state.c
 * (stray stores, trap exits, soft mode, the checker). */
#ifndef TESTS_TEST_REDTEAM_H
#define TESTS_TEST_REDTEAM_H

#include "kernel/types.h"
#include "arch/trap.h"

/* An entry bit the MMU ignores in every paging-structure entry (bit 10, SDM Vol. 3A,
 * 4.5, tables 4-15 to 4-20): an attack that writes a value with it flipped changes a
 * table visibly and harmlessly if it ever lands. */
#define REDTEAM_HARMLESS_BIT (1ULL << 10)

/* Why the tables are not protected right now (pks_tables=off, no PKS), else NULL. */
const char *redteam_unenforced(void);
/* Why there is no page-table key (no PKS), else NULL. */
const char *redteam_no_table_key(void);

/* A write denied by a protection key: present, write, PK (#PF 0x23). */
#define PF_PK_WRITE (PF_P | PF_W | PF_PK)

/* Stores v (which must differ from *p) into the word at p, as a stray store would:
 * true when the store faulted with exactly `err` at p and left the word as it was.
 * Else fails the case saying what happened; a store that lands is undone (inside a
 * window: it may have hit keyed state). */
bool redteam_attack_word(volatile uint64_t *p, uint64_t v, uint32_t err);
/* The kernel root's entry over the direct map: a live link in every paging mode. */
uint64_t *redteam_root_entry(void);
/* Expects a store of a harmless change (an ignored bit) into the table entry e to
 * fault with #PF 0x23 at e and leave it (redteam_attack_word; a store that lands is
 * undone). */
void redteam_expect_table_store_faults(uint64_t *e);

/* Skips the case with `why` unless it is NULL. */
#define REDTEAM_REQUIRE(why)              \
	do {                              \
		const char *why_ = (why); \
		if (why_)                 \
			KTEST_SKIP(why_); \
	} while (0)

#endif
