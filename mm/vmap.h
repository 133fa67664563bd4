/* mm/vmap.h - the vmap area: kernel virtual mappings made at run time.
 *
 *   0xffffc90000000000 .. +VMAP_SIZE   thread stacks (with unmapped guard pages),
 *                                      test mappings (chosen leaf size, key, U/S)
 * Tables here come from the grouped table cache, never from the split pool.
 */
#ifndef MM_VMAP_H
#define MM_VMAP_H

#include "kernel/types.h"

#define VMAP_BASE 0xffffc90000000000ULL
#define VMAP_SIZE (4 * 1024ULL * 1024 * 1024 * 1024) /* 4 TiB */

/* Reserves `size` bytes of vmap address space aligned to `align` (a power of two),
 * with at least one unmapped 4 KiB guard page before and after. Returns the start,
 * or 0 when the area is used up. Address space is never reused. */
uint64_t vmap_reserve(uint64_t size, uint64_t align);

/* Maps [va, va+size) to [pa, pa+size) with leaves of `level` (0 = 4 KiB, 1 = 2 MiB,
 * 2 = 1 GiB; va, pa and size aligned to it), attribute bits `prot` (PTE_W, PTE_NX,
 * PTE_U, PTE_G ...) and protection key `pkey`. Returns 0, or a negative error with
 * nothing mapped: -EPERM for the page-table key (mm's own) and for a writable
 * mapping of memory with a guard (mm/pgprot.h: tables, the pool, the cache,
 * protection state, the kernel's read-only parts; a read-only one is allowed). */
int vmap_map(uint64_t va, phys_addr_t pa, uint64_t size, int level, uint64_t prot, int pkey);
/* Unmaps every leaf in [va, va+size) and flushes them; frees tables left empty. */
void vmap_unmap(uint64_t va, uint64_t size);

/* `pages` fresh zeroed frames mapped read-write NX with guard pages around them;
 * NULL when out of memory. For thread stacks and scratch buffers. */
void *vmap_alloc_pages(uint64_t pages);
/* Unmaps and frees what vmap_alloc_pages returned. */
void vmap_free_pages(void *va, uint64_t pages);

#endif
