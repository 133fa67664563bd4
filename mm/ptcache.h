/* mm/ptcache.h - the grouped table cache: table pages for everything but the
 * direct map (kernel image, vmap area, roots). 2 MiB blocks are taken from the frame
 * allocator, keyed as a whole in the direct map (one 2 MiB leaf carries the
 * page-table key), and handed out 4 KiB at a time; a wholly free block loses its key
 * and goes back to the frame allocator. */
#ifndef MM_PTCACHE_H
#define MM_PTCACHE_H

#include "kernel/types.h"

/* Registers the boot block (reserved before the direct map, keyed by its build). */
void ptcache_init(phys_addr_t boot_block);
/* A free table page, or 0. Keys a new block if one is needed. */
phys_addr_t ptcache_alloc(void);
void ptcache_free(phys_addr_t pa);

/* Records that the cache page pa (in use) holds a table of `level` (-1: none);
 * opens a write window. ptcache_free() forgets it. */
void ptcache_set_level(phys_addr_t pa, int level);
/* The level of the table in cache page pa, or -1 (not a cache page, or no table). */
int ptcache_table_level(phys_addr_t pa);
/* Marks the table in cache page pa (in use) linked by an entry or not; needs a write
 * window open (asserted). ptcache_free() forgets it. */
void ptcache_set_linked(phys_addr_t pa, bool linked);
/* True when an entry links the table in cache page pa. */
bool ptcache_table_linked(phys_addr_t pa);
/* True when [pa, pa+len) overlaps a cache block. */
bool ptcache_overlaps(phys_addr_t pa, uint64_t len);

bool ptcache_contains(phys_addr_t pa);
uint64_t ptcache_nr_blocks(void);
phys_addr_t ptcache_block(uint64_t i);
uint64_t ptcache_block_free(uint64_t i); /* free pages in block i */
uint64_t ptcache_free_count(void);
/* Write windows that block refills and releases opened since boot: each runs with
 * the table key closed (pt_window_suspend) and opens its own for set_memory's
 * stores and the bookkeeping, then opens the caller's again (pt_window_resume), so
 * a table operation that refills or releases a block opens these on top of its one
 * (mm/pt_door.h: pt_door_counts). */
uint64_t ptcache_block_windows(void);
/* The PKRS the last block refill ran with (0 when the tables were not protected):
 * the table key is closed in it. */
uint32_t ptcache_refill_pkrs(void);

#endif
