/* mm/vmap.h - the vmap area: kernel virtual mappings made at run time.
 *
 *   0xffffc90000000000 .. +VMAP_SIZE   regions, in address order:
 *
 *   plain reservation:  hole | region ..................... | hole
 *   guarded allocation:        region [markers | pages | marker]  (no holes needed)
 *
 * Every allocation is a region object (base, size, name, owner). A plain
 * reservation (vmap_reserve: test mappings, MMIO) keeps an unmapped page before and
 * after it that belongs to no region. A guarded allocation (thread, AP and IST
 * stacks) is one region whose ends carry guard markers (mm/guard.h) instead of
 * holes, so guarded regions lie back to back. The owner says where a page goes when
 * the region stops mapping it: VMAP_OWNER_FRAMES frees it (frames vmap took from
 * the frame allocator), VMAP_OWNER_CALLER leaves it to the caller (memory it lent).
 * Address space is never reused; region objects are. Tables here come from the
 * grouped table cache, never from the split pool. The region objects and their list
 * are page-table-keyed (written inside a write window only): a region's base and
 * size decide which pages vmap_region_free drops.
 */
#ifndef MM_VMAP_H
#define MM_VMAP_H

#include "kernel/types.h"

#define VMAP_BASE	 0xffffc90000000000ULL
#define VMAP_SIZE	 (4 * 1024ULL * 1024 * 1024 * 1024) /* 4 TiB */
#define VMAP_MAX_REGIONS 1024				    /* live at once */
#define VMAP_NAME_MAX	 32

enum vmap_owner {
	VMAP_OWNER_CALLER, /* the caller's memory: unmapping gives it back, frees nothing */
	VMAP_OWNER_FRAMES, /* frames vmap_populate took: unmapping frees them */
};

struct vmap_region {
	uint64_t base, size; /* page aligned */
	enum vmap_owner owner;
	char name[VMAP_NAME_MAX];
	uint64_t markers;	  /* guard markers in its ptes (counted by mm/guard.c) */
	struct vmap_region *next; /* the next region up; NULL: the last */
};

/* Reserves `size` bytes of vmap address space aligned to `align` (a power of two),
 * with at least one unmapped 4 KiB page before and after: a region owned by the
 * caller, named "reserved". Returns the start, or 0 when the area or the region
 * objects are used up. */
uint64_t vmap_reserve(uint64_t size, uint64_t align);
/* A region of `size` bytes (page multiple) aligned to `align`, right after the last
 * one (no hole). Returns its base, or 0 (bad size or align, area or objects used
 * up). Maps nothing. */
uint64_t vmap_region_new(const char *name, uint64_t size, uint64_t align, enum vmap_owner owner);
/* Frees the region at base: drops its pages (vmap_drop), clears its markers, frees
 * tables left empty (one shootdown round for all), forgets it. 0, or -ENOENT when
 * no region starts at base. */
int vmap_region_free(uint64_t base);
/* The region containing va, or NULL. */
const struct vmap_region *vmap_region_of(uint64_t va);
/* True when every byte of [va, va+size) lies in some region (several may share it). */
bool vmap_range_in_regions(uint64_t va, uint64_t size);
/* Regions alive now. */
int vmap_region_count(void);
/* The lowest region (r->next leads up through all of them), or NULL: for the
 * checker's walk over every region. */
const struct vmap_region *vmap_first_region(void);
/* For mm/guard.c only: adds delta to the marker count of va's region. Panics when
 * va lies in no region (the walker stores markers only inside regions). */
void vmap_count_markers(uint64_t va, int delta);

/* Maps [va, va+size) to [pa, pa+size) with leaves of `level` (0 = 4 KiB, 1 = 2 MiB,
 * 2 = 1 GiB; va, pa and size aligned to it), attribute bits `prot` (PTE_W, PTE_NX,
 * PTE_U, PTE_G ...) and protection key `pkey`. Returns 0, or a negative error with
 * nothing mapped: -EINVAL for bad arguments (a pa beyond the physical-address width
 * or with bits outside the frame address: mm/pgtable.h pt_pa_range_ok), inside a
 * VMAP_OWNER_FRAMES region
 * (its pages come from vmap_populate), -EEXIST when a guard marker (or a mapping) is in the range,
 * -EPERM for the page-table key (mm's own), for a writable and executable mapping
 * (W^X), and for a writable mapping of a protected region (mm/protect_map.h:
 * tables, the pool, the cache, protection state, the kernel's read-only parts; a
 * read-only one is allowed). One write window per call, as for vmap_unmap,
 * vmap_populate and vmap_drop. */
int vmap_map(uint64_t va, phys_addr_t pa, uint64_t size, int level, uint64_t prot, int pkey);
/* Unmaps every leaf in [va, va+size) and flushes them on every CPU in one
 * shootdown round (mm/pt_flush.h); frees tables left empty after it. Leaves
 * markers alone; gives nothing back to any owner (see vmap_drop). */
void vmap_unmap(uint64_t va, uint64_t size);

/* Maps fresh zeroed frames read-write NX into [va, va+size) of a VMAP_OWNER_FRAMES
 * region; every page must be empty. 0, -EINVAL (not page aligned, not inside one
 * such region), -EEXIST (a page or a guard marker is there: the marker wins),
 * -ENOMEM; nothing mapped on an error. */
int vmap_populate(uint64_t va, uint64_t size);
/* The MADV_DONTNEED analogue: unmaps the pages of [va, va+size) (inside regions,
 * page aligned; a large leaf only partly inside is split first) and gives each to
 * its region's owner after one shootdown round for the whole range (mm/pt_flush.h).
 * Guard markers and the regions stay. 0, -EINVAL, -ENOMEM. */
int vmap_drop(uint64_t va, uint64_t size);
/* Gives the page(s) [pa, pa+size) that va's region stopped mapping to its owner
 * (frees them for VMAP_OWNER_FRAMES): after the flush of the caller's open batch
 * (mm/pt_flush.h), or now when it has none (then it has flushed them). */
void vmap_put_page(uint64_t va, phys_addr_t pa, uint64_t size);

/* One region named `name`: guard_lo marker pages, `pages` fresh zeroed frames
 * mapped read-write NX, guard_hi marker pages. Returns the first of the pages, or
 * NULL (nothing left behind) when out of memory or region objects. */
void *vmap_alloc_guarded(const char *name, uint64_t pages, uint64_t guard_lo, uint64_t guard_hi);
/* vmap_alloc_guarded("pages", pages, 1, 1): for AP stacks and scratch buffers. */
void *vmap_alloc_pages(uint64_t pages);
/* Frees the region of what vmap_alloc_pages or vmap_alloc_guarded returned (pages
 * is checked against it); panics when va is no such allocation. */
void vmap_free_pages(void *va, uint64_t pages);

#endif
