/* mm/vmap.c - run-time kernel mappings in the vmap area, and its region objects. */
#include "mm/vmap.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/protect_map.h"
#include "mm/pt_flush.h"
#include "mm/pt_lock.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "arch/pkrs.h"

/* Under pt_lock (mm/pt_lock.h), and page-table-keyed (arch/pkrs.h: written only
 * inside a write window): a region's base and size decide which pages
 * vmap_region_free drops and which leaves vmap_map may make, so a stray store must
 * not reach them. The end of the last region (or hole), the regions in address
 * order (they are made at rising addresses), and the free region objects. */
static uint64_t next_va __pt_keyed_data = VMAP_BASE;
static struct vmap_region slots[VMAP_MAX_REGIONS] __pt_keyed;
static struct vmap_region *first __pt_keyed, *last __pt_keyed, *spare __pt_keyed;
static int nr_live __pt_keyed, nr_used_slots __pt_keyed;

/* A free region object, or NULL when all VMAP_MAX_REGIONS are live. */
static struct vmap_region *region_obj(void)
{
	struct vmap_region *r = spare;

	if (r)
		spare = r->next;
	else if (nr_used_slots < VMAP_MAX_REGIONS)
		r = &slots[nr_used_slots++];
	return r;
}

/* Places a region at the first `align`ed address at or above next_va + gap; with a
 * hole of `gap` bytes after it too. Returns its base, or 0. */
static uint64_t __region_add(const char *name, uint64_t size, uint64_t align, enum vmap_owner owner,
			     uint64_t gap)
{
	struct vmap_region *r;
	uint64_t va;

	if (!size || (align & (align - 1)) || size > VMAP_SIZE)
		return 0;
	va = ALIGN_UP(next_va + gap, MAX(align, PAGE_SIZE));
	size = ALIGN_UP(size, PAGE_SIZE);
	if (va < next_va || va + size + gap > VMAP_BASE + VMAP_SIZE || va + size < va)
		return 0;
	if (!(r = region_obj()))
		return 0;
	*r = (struct vmap_region){ .base = va, .size = size, .owner = owner };
	strncpy_z(r->name, name ? name : "region", sizeof(r->name));
	if (last)
		last->next = r;
	else
		first = r;
	last = r;
	nr_live++;
	next_va = va + size + gap;
	return va;
}

/* __region_add under pt_lock, in a write window (the region objects are keyed). */
static uint64_t region_add(const char *name, uint64_t size, uint64_t align, enum vmap_owner owner,
			   uint64_t gap)
{
	uint64_t flags = pt_lock_take(), va;
	uint32_t w = pt_window_open();

	va = __region_add(name, size, align, owner, gap);
	pt_window_close(w);
	pt_lock_drop(flags);
	return va;
}

uint64_t vmap_reserve(uint64_t size, uint64_t align)
{
	return region_add("reserved", size, align, VMAP_OWNER_CALLER, PAGE_SIZE);
}

uint64_t vmap_region_new(const char *name, uint64_t size, uint64_t align, enum vmap_owner owner)
{
	if (!IS_ALIGNED(size, PAGE_SIZE))
		return 0;
	return region_add(name, size, align, owner, 0);
}

/* The region holding va, or NULL; pt_lock held. */
static const struct vmap_region *__region_of(uint64_t va)
{
	for (const struct vmap_region *r = first; r && r->base <= va; r = r->next)
		if (va - r->base < r->size)
			return r;
	return NULL;
}

const struct vmap_region *vmap_region_of(uint64_t va)
{
	uint64_t flags = pt_lock_take();
	const struct vmap_region *r = __region_of(va);

	pt_lock_drop(flags);
	return r;
}

const struct vmap_region *vmap_first_region(void)
{
	return first;
}

void vmap_count_markers(uint64_t va, int delta)
{
	struct vmap_region *r = (struct vmap_region *)vmap_region_of(va);
	uint32_t w;

	if (!r)
		panic("vmap_count_markers: 0x%llx lies in no vmap region", (unsigned long long)va);
	w = pt_window_open(); /* the guard walker's, nested: the objects are keyed */
	r->markers += delta;
	pt_window_close(w);
}

bool vmap_range_in_regions(uint64_t va, uint64_t size)
{
	uint64_t end = va + size;

	if (end < va)
		return false;
	while (va < end) {
		const struct vmap_region *r = vmap_region_of(va);

		if (!r)
			return false;
		va = r->base + r->size;
	}
	return true;
}

int vmap_region_count(void)
{
	return nr_live;
}

/* Unlinks r (a live region) and makes its object spare. */
static void region_forget(struct vmap_region *r)
{
	struct vmap_region **p = &first, *prev = NULL;

	while (*p != r) {
		prev = *p;
		p = &(*p)->next;
	}
	*p = r->next;
	if (last == r)
		last = prev;
	r->next = spare;
	spare = r;
	nr_live--;
}

/* vmap_region_free with pt_lock held. */
static int __region_free(uint64_t base)
{
	struct vmap_region *r = (struct vmap_region *)vmap_region_of(base);
	uint32_t w;

	if (!r || r->base != base)
		return -ENOENT;
	/* Only a leaf reaching past the region is split, so only that can fail (no
	 * table left): no caller maps past its region. One window for both. */
	w = pt_window_open();
	pt_flush_begin(); /* and one shootdown round */
	if (vmap_drop(r->base, r->size) || guard_remove(r->base, r->size))
		panic("vmap_region_free: region \"%s\" at 0x%llx would not empty", r->name,
		      (unsigned long long)base);
	pt_flush_end();
	region_forget(r); /* keyed: inside the window */
	pt_window_close(w);
	checker_after_change("after vmap_region_free"); /* guard_remove left it to here */
	return 0;
}

int vmap_region_free(uint64_t base)
{
	uint64_t flags = pt_lock_take();
	int rc = __region_free(base);

	pt_lock_drop(flags);
	return rc;
}

/* True when [va, va+size) overlaps a region whose pages vmap owns. */
static bool overlaps_frames_region(uint64_t va, uint64_t size)
{
	uint64_t flags = pt_lock_take();
	bool hit = false;

	for (const struct vmap_region *r = first; r && r->base < va + size && !hit; r = r->next)
		hit = r->owner == VMAP_OWNER_FRAMES && va < r->base + r->size;
	pt_lock_drop(flags);
	return hit;
}

static bool in_vmap(uint64_t va, uint64_t size)
{
	return va >= VMAP_BASE && size <= VMAP_SIZE && va - VMAP_BASE <= VMAP_SIZE - size;
}

int vmap_map(uint64_t va, phys_addr_t pa, uint64_t size, int level, uint64_t prot, int pkey)
{
	uint64_t step, off;
	uint32_t w;
	int rc = 0, n;

	if (level < PT_LEVEL_PTE || level > PT_LEVEL_PUD || pkey < 0 || pkey > 15)
		return -EINVAL;
	if (!pt_pa_range_ok(pa, size, level))
		return -EINVAL; /* a bit of pa would land in the leaf's key, NX or flags */
	if (pkey && pkey == pgprot_key())
		return -EPERM; /* the page-table key is mm's own */
	step = pt_size(level);
	if (!size || !IS_ALIGNED(va | pa | size, step) || !in_vmap(va, size) ||
	    (prot & ~PTE_PROT_MASK & ~(PTE_A | PTE_D)) || overlaps_frames_region(va, size))
		return -EINVAL;
	prot = (prot & ~PTE_PKEY_MASK) | PTE_PKEY(pkey);
	if (!protect_leaf_allowed(false, pa, size, prot))
		return -EPERM;
	if (guard_range_has_marker(va, size))
		return -EEXIST; /* the marker wins until it is removed */
	w = pt_window_open();
	/* A table's worth of leaves at a time (one walk and one check each); a run
	 * that fails maps nothing, so what came before it is undone. */
	for (off = 0; off < size; off += (uint64_t)n * step) {
		n = (int)MIN((size - off) / step, PT_ENTRIES - pt_index(va + off, level));
		rc = pt_map_leaves(pt_kernel_root(), va + off, pa + off, level, prot, n);
		if (rc)
			break;
	}
	if (rc && off)
		vmap_unmap(va, off);
	pt_window_close(w);
	return rc;
}

/* Where the walk past a hole or leaf at va ends: the next entry of that level. */
static uint64_t after(uint64_t va, int level)
{
	return ALIGN_DOWN(va, pt_size(level)) + pt_size(level);
}

void vmap_unmap(uint64_t va, uint64_t size)
{
	uint64_t flags = pt_lock_take();
	uint32_t w = pt_window_open();

	pt_flush_begin(); /* one shootdown round for the whole range */
	for (uint64_t a = va; a < va + size;) {
		int level, n = 1;
		uint64_t *e = pt_lookup(a, &level);

		if (e) {
			/* The run of leaves from a in this table, inside the range. */
			int room = PT_ENTRIES - (int)pt_index(a, level);
			uint64_t left =
				(va + size - ALIGN_DOWN(a, pt_size(level))) / pt_size(level);

			while (n < room && (uint64_t)n < left && pt_present(e[n]) &&
			       pt_is_leaf(e[n], level))
				n++;
			pt_unmap_leaves(pt_kernel_root(), a, n);
			a = after(a, level) + (uint64_t)(n - 1) * pt_size(level);
		} else {
			a = after(a, level); /* a hole of that level (a marker: one page) */
		}
	}
	pt_flush_end();
	pt_window_close(w);
	pt_lock_drop(flags);
}

void vmap_put_page(uint64_t va, phys_addr_t pa, uint64_t size)
{
	const struct vmap_region *r = vmap_region_of(va);

	if (!r || r->owner != VMAP_OWNER_FRAMES)
		return;
	pt_flush_free_frames(pa, size);
}

/* vmap_drop's walk, inside the caller's write window. */
static int drop_range(uint64_t va, uint64_t size)
{
	for (uint64_t a = va; a < va + size;) {
		int level, rc;
		uint64_t *e = pt_lookup(a, &level), start = ALIGN_DOWN(a, pt_size(level));
		phys_addr_t pa;

		if (!e) {
			a = after(a, level); /* a hole of that level (a marker: one page) */
			continue;
		}
		if (start < va || start + pt_size(level) > va + size) {
			if ((rc = guard_split_leaf(a)))
				return rc;
			continue;
		}
		pa = pt_entry_pa(*e, level);
		pt_unmap_leaf(pt_kernel_root(), a);
		vmap_put_page(a, pa, pt_size(level));
		a = after(a, level);
	}
	return 0;
}

int vmap_drop(uint64_t va, uint64_t size)
{
	uint64_t flags;
	uint32_t w;
	int rc;

	if (!size || !IS_ALIGNED(va | size, PAGE_SIZE) || !vmap_range_in_regions(va, size))
		return -EINVAL;
	flags = pt_lock_take();
	w = pt_window_open();
	pt_flush_begin(); /* one shootdown round; the frames go back after it */
	rc = drop_range(va, size);
	pt_flush_end();
	pt_window_close(w);
	pt_lock_drop(flags);
	return rc;
}

/* Unmaps the first n pages of a populate that failed on page n. */
static void populate_undo(uint64_t va, uint64_t n)
{
	if (n)
		vmap_drop(va, n * PAGE_SIZE);
}

/* Maps n fresh zeroed frames at va, inside the caller's write window; 0 or -ENOMEM
 * (then nothing stays mapped). */
static int populate_pages(uint64_t va, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		phys_addr_t pa = frame_alloc();

		if (!pa) {
			populate_undo(va, i);
			return -ENOMEM;
		}
		memset(pa_to_va(pa), 0, PAGE_SIZE);
		if (pt_map_leaf(pt_kernel_root(), va + i * PAGE_SIZE, pa, PT_LEVEL_PTE,
				PTE_W | PTE_NX | PTE_G | PTE_A | PTE_D)) {
			frame_free(pa);
			populate_undo(va, i);
			return -ENOMEM;
		}
	}
	return 0;
}

int vmap_populate(uint64_t va, uint64_t size)
{
	const struct vmap_region *r = vmap_region_of(va);
	uint64_t n = size / PAGE_SIZE, i;
	uint32_t w;
	int level, rc;

	if (!size || !IS_ALIGNED(va | size, PAGE_SIZE) || !r || r->owner != VMAP_OWNER_FRAMES ||
	    size > r->size - (va - r->base))
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (pt_lookup(va + i * PAGE_SIZE, &level))
			return -EEXIST;
	if (guard_range_has_marker(va, size))
		return -EEXIST;
	w = pt_window_open();
	rc = populate_pages(va, n);
	pt_window_close(w);
	return rc;
}

void *vmap_alloc_guarded(const char *name, uint64_t pages, uint64_t guard_lo, uint64_t guard_hi)
{
	uint64_t total = (guard_lo + pages + guard_hi) * PAGE_SIZE, base, body;
	uint32_t w;
	bool failed;

	if (!pages)
		return NULL;
	w = pt_window_open(); /* one window for the region object, both markers, the pages */
	if (!(base = vmap_region_new(name, total, PAGE_SIZE, VMAP_OWNER_FRAMES))) {
		pt_window_close(w);
		return NULL;
	}
	body = base + guard_lo * PAGE_SIZE;
	failed = (guard_lo && guard_install(base, guard_lo * PAGE_SIZE)) ||
		 (guard_hi && guard_install(body + pages * PAGE_SIZE, guard_hi * PAGE_SIZE)) ||
		 vmap_populate(body, pages * PAGE_SIZE);
	if (failed)
		vmap_region_free(base);
	pt_window_close(w);
	return failed ? NULL : (void *)body;
}

void *vmap_alloc_pages(uint64_t pages)
{
	return vmap_alloc_guarded("pages", pages, 1, 1);
}

void vmap_free_pages(void *p, uint64_t pages)
{
	const struct vmap_region *r = vmap_region_of((uint64_t)p);

	/* Invariant: only a whole guarded allocation is freed, by its first page. */
	if (!r || r->owner != VMAP_OWNER_FRAMES || pages * PAGE_SIZE > r->size)
		panic("vmap_free_pages: %p (%llu pages) is no vmap allocation", p,
		      (unsigned long long)pages);
	vmap_region_free(r->base);
}
