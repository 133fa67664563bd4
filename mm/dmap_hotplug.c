/* mm/dmap_hotplug.c - simulated hot-add and hot-remove of RAM held back by mem=
 * (mm/dmap.h: dmap_hotadd, dmap_hotremove). A hot-added range carries its own pool
 * chunks at its top; only hot-added RAM can go again. */
#include "mm/dmap.h"
#include "arch/pkrs.h"
#include "mm/frame.h"
#include "mm/mm_internal.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/pt_door.h"
#include "mm/pt_flush.h"
#include "mm/pt_lock.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "arch/cpu.h"

#define MAX_RANGES BOOT_MAX_RANGES

/* RAM hot-added since boot: the only RAM hot-remove may take away again (boot RAM
 * holds the pool's worst case). Keyed, like the direct map's lists (mm/dmap.c). */
static struct dmap_list added __pt_keyed;

uint64_t *dmap_added_attack_target(void)
{
	return &added.r[0].base;
}

/* Inserts r into the sorted list l (merging with neighbours). The lists are keyed:
 * they change inside the caller's one window. */
static void list_insert(struct dmap_list *l, struct pa_range r)
{
	struct pa_range *list = l->r;
	int i = 0;

	/* Invariant: hot-add and hot-remove hold their window across their changes. */
	ASSERT(pt_window_is_open());

	while (i < l->n && list[i].base < r.base)
		i++;
	/* Invariant: callers checked lists_have_room() (boot lists hold <= MAX_RANGES). */
	if (l->n == MAX_RANGES)
		panic("dmap: more than %d RAM ranges", MAX_RANGES);
	memmove(&list[i + 1], &list[i], (size_t)(l->n - i) * sizeof(*list));
	list[i] = r;
	l->n++;
	for (i = 0; i + 1 < l->n;) {
		if (list[i].base + list[i].len == list[i + 1].base) {
			list[i].len += list[i + 1].len;
			memmove(&list[i + 1], &list[i + 2], (size_t)(l->n - i - 2) * sizeof(*list));
			l->n--;
		} else {
			i++;
		}
	}
}

/* Removes r (wholly inside one range of the list) from the list, inside the caller's
 * window. Returns 0 or -EINVAL when no range holds it. */
static int list_remove(struct dmap_list *l, struct pa_range r)
{
	ASSERT(pt_window_is_open());
	for (int i = 0; i < l->n; i++) {
		struct pa_range cur = l->r[i];
		uint64_t end = r.base + r.len, cend = cur.base + cur.len;

		if (r.base < cur.base || end > cend)
			continue;
		memmove(&l->r[i], &l->r[i + 1], (size_t)(l->n - i - 1) * sizeof(l->r[0]));
		l->n--;
		if (r.base > cur.base)
			list_insert(l, (struct pa_range){ cur.base, r.base - cur.base });
		if (end < cend)
			list_insert(l, (struct pa_range){ end, cend - end });
		return 0;
	}
	return -EINVAL;
}

/* Pool chunks the ranges need beyond what `ram` needs now. */
static uint64_t extra_chunks(struct pa_range r)
{
	static struct dmap_list tmp __pt_keyed; /* a copy, but list_insert trusts its count */
	const struct dmap_list *ram = dmap_ram_list();
	uint64_t before = pool_tables_needed(ram->r, ram->n), after;

	tmp = *ram;
	list_insert(&tmp, r);
	after = pool_tables_needed(tmp.r, tmp.n);
	return (after - before + POOL_CHUNK_FRAMES - 1) / POOL_CHUNK_FRAMES;
}

/* Maps the new pool chunks at the top of the range (keyed 2 MiB leaves, tables
 * from the pool's existing frames and its bootstrap reserve), then adds them. */
static void map_new_chunks(phys_addr_t first, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		phys_addr_t c = first + i * POOL_CHUNK_SIZE;

		if (dmap_map_chunk(pt_kernel_root(), c) || pool_add_chunk(c))
			panic("dmap_hotadd: cannot map pool chunk 0x%llx", (unsigned long long)c);
	}
}

/* True when a hot-add or hot-remove may split or add a range in every list: each
 * grows by at most two. Says why not. */
static bool lists_have_room(const char *fn)
{
	if (dmap_ram_list()->n + 2 <= MAX_RANGES && dmap_held_list()->n + 2 <= MAX_RANGES &&
	    added.n + 2 <= MAX_RANGES)
		return true;
	kprintf("%s: the direct map's range lists are full (%d ranges)\n", fn, MAX_RANGES);
	return false;
}

/* True when r lies wholly inside one range of the list. */
static bool list_covers(const struct dmap_list *l, struct pa_range r)
{
	for (int i = 0; i < l->n; i++)
		if (r.base >= l->r[i].base && r.base + r.len <= l->r[i].base + l->r[i].len)
			return true;
	return false;
}

/* dmap_hotadd under pt_lock: the checks and the changes with no other hot-add or
 * hot-remove between them. */
static int hotadd_locked(struct pa_range r)
{
	uint64_t k;
	phys_addr_t first;
	uint32_t w;

	if (!lists_have_room("dmap_hotadd"))
		return -ENOSPC;
	if (!list_covers(dmap_held_list(), r))
		return -ENOENT;
	w = pt_window_open(); /* one window for the lists, the chunks and the RAM */
	k = extra_chunks(r);
	if (k * POOL_CHUNK_SIZE >= r.len) {
		pt_window_close(w);
		kprintf("dmap_hotadd: 0x%llx bytes cannot hold their own %llu pool chunks\n",
			(unsigned long long)r.len, (unsigned long long)k);
		return -ENOSPC;
	}
	first = r.base + r.len - k * POOL_CHUNK_SIZE;
	/* Invariant: checked above, under the same lock. */
	if (list_remove(dmap_held_list(), r))
		panic("dmap_hotadd: 0x%llx left the held list", (unsigned long long)r.base);
	map_new_chunks(first, k);
	dmap_map_ram(pt_kernel_root(), r.base, first, false);
	list_insert(dmap_ram_list(), r);
	list_insert(&added, r);
	pt_window_close(w);
	if (frame_add_range(r.base, first - r.base))
		panic("dmap_hotadd: the frame allocator refused 0x%llx",
		      (unsigned long long)r.base);
	return 0;
}

int dmap_hotadd(phys_addr_t pa, uint64_t len)
{
	uint64_t flags;
	int rc;

	if (!len || !IS_ALIGNED(pa | len, 2 * MiB) || pa + len < pa)
		return -EINVAL;
	flags = pt_lock_take();
	rc = hotadd_locked((struct pa_range){ pa, len });
	pt_lock_drop(flags);
	return rc;
}

/* Queues the tables under [va, end) that no longer map anything for the batch's
 * free (after its one round), one level at a time from the bottom. */
static void free_empty_tables(uint64_t va, uint64_t end)
{
	for (int level = PT_LEVEL_PMD; level <= PT_LEVEL_PUD; level++) {
		for (uint64_t a = ALIGN_DOWN(va, pt_size(level)); a < end; a += pt_size(level)) {
			uint64_t *e = pt_entry_at(pt_kernel_root(), a, level);
			phys_addr_t t;
			const uint64_t *tt;
			bool empty = true;

			if (!e || !pt_present(*e) || pt_is_leaf(*e, level))
				continue;
			t = pt_entry_pa(*e, level);
			tt = pa_to_va(t);
			for (int i = 0; i < PT_ENTRIES && empty; i++)
				empty = !tt[i];
			if (!empty)
				continue;
			pt_set_entry(e, 0);
			pt_flush_free_table(t, level - 1);
		}
	}
}

/* Unmaps the direct map of [pa, end), splitting leaves that stick out of it; the
 * range and the emptied tables go to the caller's flush batch (one round). */
static void unmap_ram(phys_addr_t pa, phys_addr_t end)
{
	uint32_t w = pt_window_open();

	pt_flush_add(PAGE_OFFSET + pa, PAGE_OFFSET + end);
	for (phys_addr_t a = pa; a < end;) {
		int level;
		uint64_t *e = pt_lookup(PAGE_OFFSET + a, &level), size = pt_size(level);
		phys_addr_t start = ALIGN_DOWN(a, size);

		if (!e) {
			a = start + size; /* a hole of that level */
		} else if (start < pa || start + size > end) {
			if (set_memory_split_leaf(e, level, PAGE_OFFSET + start))
				panic("dmap_hotremove: split pool empty");
		} else {
			pt_set_entry(e, 0);
			a = start + size;
		}
	}
	free_empty_tables(PAGE_OFFSET + pa, PAGE_OFFSET + end);
	pt_window_close(w);
}

/* The chunks of a hot-added range sit at its top: returns where they start. */
static phys_addr_t chunks_start(phys_addr_t pa, uint64_t len)
{
	phys_addr_t first = pa + len;

	for (uint64_t i = pool_nr_chunks(); i-- > 0;) {
		phys_addr_t c = pool_chunk(i);

		if (c >= pa && c < pa + len && c + POOL_CHUNK_SIZE == first)
			first = c;
	}
	return first;
}

/* Maps [pa, end) back after a hot-remove the pool refused (a chunk frame holds a
 * table of other memory): its chunks from `first` on, then the RAM below them. */
static void map_back(phys_addr_t pa, phys_addr_t first, phys_addr_t end)
{
	for (phys_addr_t c = first; c < end; c += POOL_CHUNK_SIZE)
		if (dmap_map_chunk(pt_kernel_root(), c))
			panic("dmap_hotremove: cannot map pool chunk 0x%llx back",
			      (unsigned long long)c);
	dmap_map_ram(pt_kernel_root(), pa, first, false);
}

/* dmap_hotremove under pt_lock: the checks and the changes with no other hot-add or
 * hot-remove between them. */
static int hotremove_locked(struct pa_range r, phys_addr_t first)
{
	uint32_t w;
	bool busy;

	/* Boot RAM holds the pool's worst case: only hot-added RAM can go again. */
	if (!list_covers(&added, r) || !list_covers(dmap_ram_list(), r))
		return -ENOENT;
	if (!lists_have_room("dmap_hotremove"))
		return -ENOSPC;
	if (!frame_range_free(r.base, first - r.base))
		return -EBUSY;
	w = pt_window_open(); /* one window for the lists, the unmap and a put-back */
	if (list_remove(dmap_ram_list(), r)) /* Invariant: checked above */
		panic("dmap_hotremove: 0x%llx left the RAM list", (unsigned long long)r.base);
	pt_flush_begin();
	unmap_ram(r.base, r.base + r.len);
	pt_flush_end(); /* one round; the emptied tables are back before the chunks go */
	busy = pool_remove_chunks(r.base, r.len) != 0;
	if (busy) {
		map_back(r.base, first, r.base + r.len);
		list_insert(dmap_ram_list(), r);
	} else {
		list_insert(dmap_held_list(), r);
		list_remove(&added, r);
	}
	pt_window_close(w);
	if (busy)
		return -EBUSY;
	if (frame_remove_range(r.base, first - r.base))
		panic("dmap_hotremove: frames of 0x%llx vanished", (unsigned long long)r.base);
	return 0;
}

int dmap_hotremove(phys_addr_t pa, uint64_t len)
{
	phys_addr_t first = chunks_start(pa, len);
	uint64_t flags;
	int rc;

	if (!len || !IS_ALIGNED(pa | len, 2 * MiB) || pool_overlaps(pa, first - pa, NULL))
		return -EINVAL;
	flags = pt_lock_take(); /* one CPU changes tables, and the checks hold till then */
	rc = hotremove_locked((struct pa_range){ pa, len }, first);
	pt_lock_drop(flags);
	return rc;
}
