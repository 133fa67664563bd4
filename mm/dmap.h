/* mm/dmap.h - the direct map: all RAM at PAGE_OFFSET with the largest leaves.
 *
 *   PAGE_OFFSET 0xffff888000000000 + pa   every usable / ACPI-reclaimable range of the
 *                                         memory map below mem=, NX, global;
 *                                         1 GiB leaves where aligned and available,
 *                                         2 MiB, then 4 KiB at the edges
 *   split pool chunks, table-cache blocks 2 MiB leaves carrying the page-table key
 *   kernel .text/.rodata alias            read-only
 * (the regions and their rules: mm/protect_map.h)
 * Holes and MMIO are not mapped. Tables come only from the split pool.
 */
#ifndef MM_DMAP_H
#define MM_DMAP_H

#include "kernel/types.h"
#include "kernel/multiboot2.h"

#define PAGE_OFFSET   0xffff888000000000ULL
#define DMAP_MAX_SPAN (64 * TiB)
#define KERNEL_VMA    0xffffffff80000000ULL /* linker.ld: the image at KERNEL_VMA + 2 MiB */

/* How far above its link address (2 MiB) the loader put the image; set once by
 * kmain from the entry code. The image's virtual addresses never move. */
extern uint64_t kernel_load_delta;

/* Physical address of a kernel-image virtual address (linked address + load delta). */
static inline phys_addr_t kernel_image_pa(uint64_t va)
{
	return va - KERNEL_VMA + kernel_load_delta;
}

static inline void *pa_to_va(phys_addr_t pa)
{
	return (void *)(PAGE_OFFSET + pa);
}

static inline bool is_dmap_va(uint64_t va)
{
	return va >= PAGE_OFFSET && va < PAGE_OFFSET + DMAP_MAX_SPAN;
}

/* Physical address behind a kernel virtual address (direct map, kernel image, or
 * any mapped address by a table walk); ~0 when unmapped. */
phys_addr_t va_to_pa(const volatile void *va);

struct pa_range {
	phys_addr_t base;
	uint64_t len;
};

/* Leaf counts of the live direct map, from a walk. */
struct dmap_stats {
	uint64_t leaves[3]; /* 4 KiB, 2 MiB, 1 GiB */
	uint64_t bytes;	    /* bytes mapped by them */
};

/* Builds the kernel's own root: the kernel image mapped W^X and the direct map of
 * every RAM range of bi below `limit`, switches CR3 to it, and retires the entry
 * code's tables. Table pages carry pgprot_key() (pgprot_setup() runs first; 0 =
 * none). */
void dmap_init(const struct boot_info *bi, uint64_t limit);

/* The RAM ranges the direct map covers, sorted (page-aligned). */
int dmap_ranges(const struct pa_range **out);
/* RAM held back by mem= and not yet added. */
int dmap_held_ranges(const struct pa_range **out);
uint64_t dmap_ram_bytes(void);
bool dmap_has_1g(void);

void dmap_stats(struct dmap_stats *s);
/* The layout the boot map had, for comparisons after split/merge. */
const struct dmap_stats *dmap_boot_stats(void);
/* TSC cycles dmap_init() took (pool reservation and the whole direct map). */
uint64_t dmap_boot_cycles(void);
/* Write windows dmap_init() opened: at most 1 (the whole build shares one; 0 at
 * boot, where the tables are not protected yet). */
uint64_t dmap_boot_windows(void);

/* For the red-team tests: where the direct map keeps its sealed 1 GiB flag. */
const volatile bool *dmap_has_1g_word(void);

/* Hot-add (mm/dmap_hotplug.c): maps a held-back range [pa, pa+len) (2 MiB aligned,
 * inside one held range) with large leaves, grows the pool by exactly its worst-case
 * need taken from the range itself, gives the rest to the frame allocator. 0 or
 * -errno. */
int dmap_hotadd(phys_addr_t pa, uint64_t len);
/* Hot-remove of a range added by dmap_hotadd: unmaps it and shrinks the pool; -EBUSY
 * (nothing changed) when some of its frames are in use, -ENOENT for RAM that was not
 * hot-added (boot RAM holds the pool's worst case), -ENOSPC when the range lists
 * are full. */
int dmap_hotremove(phys_addr_t pa, uint64_t len);
/* The first word of the hot-added list: what a stray store would aim at to let
 * hot-remove take boot RAM (suite redteam). */
uint64_t *dmap_added_attack_target(void);

/* Physical bounds of the kernel image parts (for tests and the checker). */
phys_addr_t kernel_pa_start(void);
phys_addr_t kernel_pa_end(void);    /* end of .bss (boot tables excluded) */
phys_addr_t kernel_ro_pa_end(void); /* end of .rodata */

#endif
