/* mm/frame.h - the physical frame allocator.
 *
 * Hands out 4 KiB frames and 2 MiB-aligned runs of usable RAM from the memory map.
 * Never hands out: the first 1 MiB, the kernel image, the multiboot2 information, or
 * anything that is not usable RAM. Free ranges are kept as sorted extents, so a
 * machine with terabytes costs no bitmap; allocation is first fit from the lowest
 * address. Freeing a frame that is already free (double free) or that the allocator
 * never owned is refused with a message and changes nothing.
 */
#ifndef MM_FRAME_H
#define MM_FRAME_H

#include "kernel/types.h"
#include "kernel/multiboot2.h"

/* Builds the free extents from bi's usable ranges below `limit` (mem=; ~0 = all),
 * minus the reserved ranges below. Returns 0 or -E2BIG if the map is too fragmented. */
int frame_init(const struct boot_info *bi, uint64_t limit);
/* Keeps [pa, pa+len) out of the allocator (call before handing out frames). */
void frame_reserve(phys_addr_t pa, uint64_t len);

/* One frame (not zeroed), or 0 when none is left. */
phys_addr_t frame_alloc(void);
/* `count` contiguous frames aligned to `align` bytes (a power of two >= 4 KiB),
 * or 0 when no such run exists. */
phys_addr_t frame_alloc_run(uint64_t count, uint64_t align);
/* As frame_alloc_run, but the run must end at or below `limit` (e.g. 4 GiB for
 * what 32-bit code or the entry code's map must reach). */
phys_addr_t frame_alloc_run_below(uint64_t count, uint64_t align, phys_addr_t limit);
/* As frame_alloc_run, but the highest such run (high memory first). */
phys_addr_t frame_alloc_run_top(uint64_t count, uint64_t align);
/* Returns frames to the allocator. 0, or -EINVAL (not owned / not aligned) or
 * -EEXIST (some frame already free); on error nothing changes. */
int frame_free(phys_addr_t pa);
int frame_free_run(phys_addr_t pa, uint64_t count);

/* Adds [pa, pa+len) of RAM to the allocator's owned set and frees it (hot-add).
 * Removes a wholly free range from it again (hot-remove): -EBUSY if part is in use. */
int frame_add_range(phys_addr_t pa, uint64_t len);
int frame_remove_range(phys_addr_t pa, uint64_t len);

/* True when every frame of [pa, pa+len) is owned by the allocator and free. */
bool frame_range_free(phys_addr_t pa, uint64_t len);
/* True when the allocator owns pa (free or handed out). */
bool frame_owned(phys_addr_t pa);

/* True when the allocator owns every frame of [pa, pa+len) (free or handed out). */
bool frame_range_owned(phys_addr_t pa, uint64_t len);

uint64_t frame_free_count(void);
uint64_t frame_owned_count(void);

/* The boot information given to frame_init() (the memory map the frames came from). */
const struct boot_info *frame_boot_info(void);
/* Verifies the extents (aligned, sorted, merged, free within owned, counters);
 * prints each problem and returns how many were found. */
int frame_check(void);

#endif
