/* mm/frame.c - the physical frame allocator: sorted extents of owned and free RAM.
 *
 * Two sets of extents (mm/extent.h) [start, end), each 4 KiB aligned, sorted by address,
 * non-overlapping and non-adjacent (extents that touch are merged):
 *
 *   owned   usable RAM given to the allocator, free or handed out
 *   free    the part of owned that can be handed out (free is a subset of owned)
 *
 *   1 MiB                                                                   limit
 *   |  owned   |  kernel  | owned ............ | hole |  owned ...   |
 *   | free|used|  (never  | used | free | used |      |  free        |
 *   |     |    |  owned)  |      |      |      |      |              |
 *
 * Every operation first validates, then mutates, so a refused call changes
 * nothing. Counters of free and owned frames are kept as extents change.
 * Locking: none yet. Callers run on the boot CPU with interrupts off.
 */
#include "mm/frame.h"
#include "kernel/spinlock.h"
#include "mm/extent.h"
#include "kernel/printf.h"

#ifndef FRAME_MAX_EXTENTS
#define FRAME_MAX_EXTENTS 16384 /* free extents: 256 KiB of .bss */
#endif
#ifndef FRAME_MAX_OWNED
#define FRAME_MAX_OWNED 4096 /* owned extents: 64 KiB of .bss */
#endif
#define FRAME_LOW_LIMIT (1 * MiB) /* nothing below is ever owned */
#define PA_MAX		ALIGN_DOWN(~0ULL, PAGE_SIZE)

static struct extent free_ext[FRAME_MAX_EXTENTS];
static struct extent owned_ext[FRAME_MAX_OWNED];
static struct extent_set free_set = { free_ext, 0, FRAME_MAX_EXTENTS };
static struct extent_set owned_set = { owned_ext, 0, FRAME_MAX_OWNED };
static uint64_t nr_free_frames;
static uint64_t nr_owned_frames;
static const struct boot_info *frame_bi;

/* ---- helpers -------------------------------------------------------------- */

/* True when [pa, pa+len) is a non-empty, page-aligned range that does not wrap. */
static bool range_ok(phys_addr_t pa, uint64_t len)
{
	return IS_ALIGNED(pa, PAGE_SIZE) && IS_ALIGNED(len, PAGE_SIZE) && len != 0 &&
	       len <= PA_MAX - pa;
}

/* Rounds [pa, pa+len) outward to whole frames in *start, *end; false if empty or wrapping. */
static bool range_outward(phys_addr_t pa, uint64_t len, phys_addr_t *start, phys_addr_t *end)
{
	if (len == 0 || pa > PA_MAX || len > PA_MAX - pa)
		return false;
	*start = ALIGN_DOWN(pa, PAGE_SIZE);
	*end = ALIGN_UP(pa + len, PAGE_SIZE);
	return true;
}

/* Makes [start, end) (aligned, disjoint from owned) owned and free.
 * Returns 0, or -ENOMEM when an extent table is full; nothing changes then. */
static int own_and_free(phys_addr_t start, phys_addr_t end)
{
	if ((ext_insert_needs_slot(&owned_set, start, end) && ext_full(&owned_set)) ||
	    (ext_insert_needs_slot(&free_set, start, end) && ext_full(&free_set)))
		return -ENOMEM;
	if (ext_insert(&owned_set, start, end) != 0 || ext_insert(&free_set, start, end) != 0)
		return -EEXIST; /* not reached: the caller checked owned */
	nr_owned_frames += (end - start) >> PAGE_SHIFT;
	nr_free_frames += (end - start) >> PAGE_SHIFT;
	return 0;
}

/* ---- the interface -------------------------------------------------------- */

/* Owns and frees bi's usable ranges clipped to [1 MiB, limit), rounded inward.
 * Keeps bi (it must outlive the allocator). Returns 0, -E2BIG or -EINVAL (overlap). */
int frame_init(const struct boot_info *bi, uint64_t limit)
{
	free_set.nr = owned_set.nr = 0;
	nr_free_frames = nr_owned_frames = 0;
	frame_bi = bi;
	for (int i = 0; i < bi->nr_mem; i++) {
		const struct mem_range *r = &bi->mem[i];
		uint64_t start = MAX(r->base, FRAME_LOW_LIMIT);
		uint64_t end = r->len > ~0ULL - r->base ? ~0ULL : r->base + r->len;
		int err;

		if (r->type != MEM_USABLE)
			continue;
		end = ALIGN_DOWN(MIN(end, limit), PAGE_SIZE);
		if (start >= end)
			continue;
		start = ALIGN_UP(start, PAGE_SIZE); /* < end <= PA_MAX: cannot wrap */
		if (start >= end)
			continue;
		if (ext_first_covered(&owned_set, start, end) < end) {
			kprintf("frame_init: usable range 0x%llx overlaps another\n",
				(unsigned long long)r->base);
			return -EINVAL;
		}
		err = own_and_free(start, end);
		if (err != 0) {
			kprintf("frame_init: memory map too fragmented (%d ranges)\n", bi->nr_mem);
			return -E2BIG;
		}
	}
	return 0;
}

/* Takes [pa, pa+len), rounded outward, out of owned and free, whatever part is there.
 * If an extent table is full, also drops the rest of the owned extent (with a message). */
void frame_reserve(phys_addr_t pa, uint64_t len)
{
	phys_addr_t start, end;

	if (!range_outward(pa, len, &start, &end))
		return;
	if ((ext_remove_needs_slot(&owned_set, start, end) && ext_full(&owned_set)) ||
	    (ext_remove_needs_slot(&free_set, start, end) && ext_full(&free_set))) {
		phys_addr_t tail = owned_set.e[ext_find(&owned_set, start)].end;

		kprintf("frame_reserve: extent table full, also dropping [0x%llx, 0x%llx)\n",
			(unsigned long long)end, (unsigned long long)tail);
		end = tail;
	}
	nr_owned_frames -= ext_remove(&owned_set, start, end) >> PAGE_SHIFT;
	nr_free_frames -= ext_remove(&free_set, start, end) >> PAGE_SHIFT;
}

/* The lowest free frame, or 0 when none is left. Not zeroed. */
phys_addr_t frame_alloc(void)
{
	return frame_alloc_run(1, PAGE_SIZE);
}

/* True when count/align make a valid request; else says why and returns false. */
static bool run_request_ok(const char *fn, uint64_t count, uint64_t align)
{
	if (count == 0 || count > PA_MAX >> PAGE_SHIFT || align < PAGE_SIZE ||
	    (align & (align - 1)) != 0) {
		kprintf("%s: bad request (%llu frames, align 0x%llx)\n", fn,
			(unsigned long long)count, (unsigned long long)align);
		return false;
	}
	return true;
}

/* Where a run of `size` bytes on an `align` boundary fits in extent x below limit:
 * the lowest such address (top = false) or the highest (top = true); 0 if none. */
static phys_addr_t fit_in_extent(const struct extent *x, uint64_t size, uint64_t align,
				 phys_addr_t limit, bool top)
{
	phys_addr_t end = MIN(x->end, limit), pa;

	if (end <= x->start || end - x->start < size)
		return 0;
	pa = top ? ALIGN_DOWN(end - size, align) : ALIGN_UP(x->start, align);
	if (pa < x->start || pa > end - size)
		return 0; /* no aligned start inside, or the boundary wrapped */
	return pa;
}

/* Takes [pa, pa + size) from the free extents; false when that would split an
 * extent while the table is full. */
static bool take_run(phys_addr_t pa, uint64_t size)
{
	if (ext_remove_needs_slot(&free_set, pa, pa + size) && ext_full(&free_set))
		return false;
	ext_remove(&free_set, pa, pa + size);
	nr_free_frames -= size >> PAGE_SHIFT;
	return true;
}

/* Every change of the extents, one CPU at a time (kernel/spinlock.h: the last mm
 * lock; it may be taken under pt_lock and the table cache's). */
static struct spinlock frame_lock = SPINLOCK_INIT("frame_lock");

/* The lowest (or highest, top) fitting run ending at or below limit, taken; or 0.
 * frame_lock held. */
static phys_addr_t find_run(uint64_t count, uint64_t align, phys_addr_t limit, bool top)
{
	uint64_t size = count << PAGE_SHIFT;

	for (int k = 0; k < free_set.nr; k++) {
		const struct extent *x = &free_set.e[top ? free_set.nr - 1 - k : k];
		phys_addr_t pa = fit_in_extent(x, size, align, limit, top);

		if (pa && take_run(pa, size))
			return pa;
	}
	return 0;
}

/* find_run under frame_lock. */
static phys_addr_t alloc_run(uint64_t count, uint64_t align, phys_addr_t limit, bool top)
{
	uint64_t flags = spin_lock_irqsave(&frame_lock);
	phys_addr_t pa = find_run(count, align, limit, top);

	spin_unlock_irqrestore(&frame_lock, flags);
	return pa;
}

/* The lowest run of `count` free frames starting on an `align` boundary, or 0.
 * A run that would split an extent while the table is full is passed over. */
phys_addr_t frame_alloc_run(uint64_t count, uint64_t align)
{
	if (!run_request_ok("frame_alloc_run", count, align))
		return 0;
	return alloc_run(count, align, PA_MAX, false);
}

phys_addr_t frame_alloc_run_below(uint64_t count, uint64_t align, phys_addr_t limit)
{
	if (!run_request_ok("frame_alloc_run_below", count, align))
		return 0;
	return alloc_run(count, align, limit, false);
}

phys_addr_t frame_alloc_run_top(uint64_t count, uint64_t align)
{
	if (!run_request_ok("frame_alloc_run_top", count, align))
		return 0;
	return alloc_run(count, align, PA_MAX, true);
}

/* Frees one frame; see frame_free_run(). */
int frame_free(phys_addr_t pa)
{
	return frame_free_run(pa, 1);
}

/* Frees `count` frames from pa. Returns 0, -EINVAL (misaligned, not owned), -EEXIST
 * (double free) or -ENOMEM (free extent table full); on error prints why, changes nothing. */
static int free_run(phys_addr_t pa, uint64_t count)
{
	phys_addr_t end = pa + (count << PAGE_SHIFT), bad;

	if (!IS_ALIGNED(pa, PAGE_SIZE) || count == 0 || count > (PA_MAX - pa) >> PAGE_SHIFT) {
		kprintf("frame_free: 0x%llx (%llu frames) is not a page-aligned run\n",
			(unsigned long long)pa, (unsigned long long)count);
		return -EINVAL;
	}
	bad = ext_first_uncovered(&owned_set, pa, end);
	if (bad < end) {
		kprintf("frame_free: 0x%llx was never owned by the allocator\n",
			(unsigned long long)bad);
		return -EINVAL;
	}
	bad = ext_first_covered(&free_set, pa, end);
	if (bad < end) {
		kprintf("frame_free: double free of 0x%llx\n", (unsigned long long)bad);
		return -EEXIST;
	}
	if (ext_insert_needs_slot(&free_set, pa, end) && ext_full(&free_set)) {
		kprintf("frame_free: free extent table full (%d), 0x%llx not freed\n", free_set.max,
			(unsigned long long)pa);
		return -ENOMEM;
	}
	ext_insert(&free_set, pa, end);
	nr_free_frames += count;
	return 0;
}

/* free_run under frame_lock. */
int frame_free_run(phys_addr_t pa, uint64_t count)
{
	uint64_t flags = spin_lock_irqsave(&frame_lock);
	int rc = free_run(pa, count);

	spin_unlock_irqrestore(&frame_lock, flags);
	return rc;
}

/* Owns and frees [pa, pa+len) (page aligned, above 1 MiB). Returns 0, -EINVAL,
 * -EEXIST (part already owned) or -ENOMEM (table full); on error nothing changes. */
int frame_add_range(phys_addr_t pa, uint64_t len)
{
	if (!range_ok(pa, len) || pa < FRAME_LOW_LIMIT) {
		kprintf("frame_add_range: bad range 0x%llx + 0x%llx\n", (unsigned long long)pa,
			(unsigned long long)len);
		return -EINVAL;
	}
	if (ext_first_covered(&owned_set, pa, pa + len) < pa + len) {
		kprintf("frame_add_range: 0x%llx is already owned\n",
			(unsigned long long)ext_first_covered(&owned_set, pa, pa + len));
		return -EEXIST;
	}
	if (own_and_free(pa, pa + len) != 0) {
		kprintf("frame_add_range: extent table full, 0x%llx not added\n",
			(unsigned long long)pa);
		return -ENOMEM;
	}
	return 0;
}

/* Disowns [pa, pa+len) (page aligned), which must be wholly owned and free.
 * Returns 0, -EINVAL, -EBUSY (not all free) or -ENOMEM; on error nothing changes. */
int frame_remove_range(phys_addr_t pa, uint64_t len)
{
	if (!range_ok(pa, len)) {
		kprintf("frame_remove_range: bad range 0x%llx + 0x%llx\n", (unsigned long long)pa,
			(unsigned long long)len);
		return -EINVAL;
	}
	if (!ext_covers(&free_set, pa, pa + len))
		return -EBUSY;
	if ((ext_remove_needs_slot(&owned_set, pa, pa + len) && ext_full(&owned_set)) ||
	    (ext_remove_needs_slot(&free_set, pa, pa + len) && ext_full(&free_set))) {
		kprintf("frame_remove_range: extent table full, 0x%llx not removed\n",
			(unsigned long long)pa);
		return -ENOMEM;
	}
	nr_owned_frames -= ext_remove(&owned_set, pa, pa + len) >> PAGE_SHIFT;
	nr_free_frames -= ext_remove(&free_set, pa, pa + len) >> PAGE_SHIFT;
	return 0;
}

/* True when every frame touched by [pa, pa+len) is owned and free; false if len is 0. */
bool frame_range_free(phys_addr_t pa, uint64_t len)
{
	phys_addr_t start, end;

	return range_outward(pa, len, &start, &end) && ext_covers(&free_set, start, end);
}

/* True when every frame touched by [pa, pa+len) is owned; false if len is 0. */
bool frame_range_owned(phys_addr_t pa, uint64_t len)
{
	phys_addr_t start, end;

	return range_outward(pa, len, &start, &end) && ext_covers(&owned_set, start, end);
}

/* True when the allocator owns the frame holding pa (free or handed out). */
bool frame_owned(phys_addr_t pa)
{
	return frame_range_owned(pa, 1);
}

/* Number of free frames. */
uint64_t frame_free_count(void)
{
	return nr_free_frames;
}

/* Number of owned frames (free plus handed out). */
uint64_t frame_owned_count(void)
{
	return nr_owned_frames;
}

/* The boot information frame_init() was given, or NULL before it ran. */
const struct boot_info *frame_boot_info(void)
{
	return frame_bi;
}

/* Checks one set's shape and that its frames add up to `frames`; returns problems. */
static int ext_check(const struct extent_set *s, const char *name, uint64_t frames)
{
	uint64_t sum = 0;
	int bad = 0;

	for (int i = 0; i < s->nr; i++) {
		const struct extent *x = &s->e[i];

		/* Invariant: extents are aligned, non-empty, above 1 MiB, sorted, merged. */
		if (!IS_ALIGNED(x->start | x->end, PAGE_SIZE) || x->start >= x->end ||
		    x->start < FRAME_LOW_LIMIT || (i > 0 && s->e[i - 1].end >= x->start)) {
			kprintf("frame_check: %s extent %d [0x%llx, 0x%llx) is malformed\n", name,
				i, (unsigned long long)x->start, (unsigned long long)x->end);
			bad++;
		}
		sum += (x->end - x->start) >> PAGE_SHIFT;
	}
	/* Invariant: the counter matches the extents. */
	if (sum != frames) {
		kprintf("frame_check: %s extents hold %llu frames, counter says %llu\n", name,
			(unsigned long long)sum, (unsigned long long)frames);
		bad++;
	}
	return bad;
}

/* Verifies both extent sets and that free lies within owned; prints each problem
 * and returns how many were found. Both sets are sorted, so the subset check is one
 * pass over each (tests call this after every operation). */
int frame_check(void)
{
	int bad = ext_check(&owned_set, "owned", nr_owned_frames) +
		  ext_check(&free_set, "free", nr_free_frames);
	int j = 0;

	for (int i = 0; i < free_set.nr; i++) {
		const struct extent *x = &free_set.e[i];

		while (j < owned_set.nr && owned_set.e[j].end <= x->start)
			j++;
		/* Invariant: every free frame is owned. Owned extents never touch, so one
		 * of them holds the whole free extent. */
		if (j == owned_set.nr || owned_set.e[j].start > x->start ||
		    owned_set.e[j].end < x->end) {
			kprintf("frame_check: free [0x%llx, 0x%llx) is not owned\n",
				(unsigned long long)x->start, (unsigned long long)x->end);
			bad++;
		}
	}
	return bad;
}
