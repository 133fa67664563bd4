/* tests/test_guard.h - what the two files of the `guard` suite share:
 * tests/test_guard.c (the install/remove rules, faults, stacks, regions) and
 * tests/test_guard_checker.c (what the checker says about markers). */
#ifndef TESTS_TEST_GUARD_H
#define TESTS_TEST_GUARD_H

#include "kernel/types.h"

#define GT_PATTERN 0x6775617264000000ULL
#define GT_NO_PTE  (~0ULL) /* gt_pte(): no pte table under va */

/* A VMAP_OWNER_FRAMES region of n pages; populated ones hold GT_PATTERN + page
 * number in their first word. 0 when it cannot be had. */
uint64_t gt_region(const char *name, uint64_t n, bool populate);
/* The kernel's pte for va, or GT_NO_PTE. */
uint64_t gt_pte(uint64_t va);

#endif
