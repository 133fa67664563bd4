/* mm/pool.h - the split pool: table pages reserved for the direct map.
 *
 * Sized at boot for the worst case: the tables of a map of every RAM byte with
 * 4 KiB pages (one pud table per 512 GiB touched, one pmd table per 1 GiB, one pte
 * table per 2 MiB), which is exactly the tables building the map needs plus those
 * splitting every leaf to 4 KiB needs. Reserved in 2 MiB-aligned chunks that the
 * direct map maps with 2 MiB leaves carrying the page-table key, so the pool is
 * protected from birth and never split. Direct-map tables come from here only.
 */
#ifndef MM_POOL_H
#define MM_POOL_H

#include "kernel/types.h"
#include "mm/dmap.h"

#define POOL_CHUNK_SIZE	      (2 * MiB)
#define POOL_CHUNK_FRAMES     512
/* Extra frames so that a hot-add can map its first new chunk even when every
 * other pool frame is in use (one pud and one pmd table). */
#define POOL_BOOTSTRAP_FRAMES 2

/* Table pages a 4 KiB map of the sorted, non-overlapping ranges needs, in 64-bit
 * arithmetic: pte tables (2 MiB regions) + pmd (1 GiB) + pud (512 GiB). */
uint64_t pool_tables_needed(const struct pa_range *r, int n);
/* The same for a map with leaves of 2^leaf_shift bytes (12, 21 or 30): e.g. 21
 * counts the pmd and pud tables 2 MiB leaves need. */
uint64_t pool_tables_for_leaves(const struct pa_range *r, int n, unsigned int leaf_shift);

/* Chunks pool_init(frames) reserves: ceil((frames + POOL_BOOTSTRAP_FRAMES) / 512). */
uint64_t pool_chunks_needed(uint64_t frames);

/* Reserves pool_chunks_needed(frames) chunks: enough for low_frames entirely below
 * low_limit first (what must be reachable before the direct map exists), the rest
 * from the top of RAM. 0 or -ENOMEM (with a message; the pool stays partial). */
int pool_init(uint64_t frames, uint64_t low_frames, phys_addr_t low_limit);
/* Adds chunks below low_limit until that many free frames lie there. 0 or -ENOMEM. */
int pool_grow_low(uint64_t low_frames, phys_addr_t low_limit);
/* Free pool frames in chunks that end at or below limit. */
uint64_t pool_frames_below(phys_addr_t limit);
/* pool_alloc hands out no frame at or above limit (~0 = no limit) until reset:
 * used while only the entry code's map (0..4 GiB) reaches table pages. */
void pool_set_alloc_limit(phys_addr_t limit);
/* Adds the chunk at pa (2 MiB aligned, RAM not owned by the frame allocator). */
int pool_add_chunk(phys_addr_t pa);
/* Removes every chunk inside [pa, pa+len): -EBUSY (nothing changed) if one is in use. */
int pool_remove_chunks(phys_addr_t pa, uint64_t len);

/* A free pool frame (lowest first), or 0 when the pool is empty. */
phys_addr_t pool_alloc(void);
/* Returns a frame; a frame not in use is a broken invariant (panic). */
void pool_free(phys_addr_t pa);

/* Records that the pool frame pa (in use) holds a table of `level` (-1: none);
 * opens a write window. pool_free() forgets it. */
void pool_set_level(phys_addr_t pa, int level);
/* The level of the table in pool frame pa, or -1 (not a pool frame, or no table). */
int pool_table_level(phys_addr_t pa);
/* Marks the table in pool frame pa (in use) linked by an entry or not; needs a
 * write window open (asserted). pool_free() forgets it. */
void pool_set_linked(phys_addr_t pa, bool linked);
/* True when an entry links the table in pool frame pa. */
bool pool_table_linked(phys_addr_t pa);
/* The frames that hold the pool's own bookkeeping (the chunk array). */
void pool_meta(phys_addr_t *pa, uint64_t *len);

bool pool_contains(phys_addr_t pa);
bool pool_frame_free(phys_addr_t pa);
uint64_t pool_total(void); /* frames */
uint64_t pool_free_count(void);
uint64_t pool_nr_chunks(void);
phys_addr_t pool_chunk(uint64_t i); /* chunks sorted by address */
/* True when [pa, pa+len) overlaps a chunk; *chunk set to the first such chunk. */
bool pool_overlaps(phys_addr_t pa, uint64_t len, phys_addr_t *chunk);

#endif
