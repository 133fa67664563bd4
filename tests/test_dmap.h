/* tests/test_dmap.h - what the two files of the `dmap` suite share: tests/test_dmap.c
 * (translation, holes, the large-leaf layout, protections) and tests/test_dmap_hotadd.c
 * (simulated hot-add and hot-remove). */
#ifndef TESTS_TEST_DMAP_H
#define TESTS_TEST_DMAP_H

#include "kernel/types.h"
#include "mm/dmap.h"

/* True when frame pa loads through the direct map without a fault and its leaf maps
 * exactly pa. */
bool dm_frame_reads(phys_addr_t pa);
/* True when a pattern stored into frame pa (the caller owns it) loads back through the
 * direct map; the word is restored. */
bool dm_frame_writes(phys_addr_t pa);
/* Expects got's leaf counts per size and mapped bytes to equal want's. */
void dm_expect_layout(const struct dmap_stats *got, const struct dmap_stats *want);

#endif
