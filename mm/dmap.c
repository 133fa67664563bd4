/* mm/dmap.c - builds the kernel's own root: kernel image W^X + the direct map.
 *
 * Order at boot. Phase 1 runs on the entry code's tables, which map only 0..4 GiB
 * at PAGE_OFFSET, so every table page written then must lie below 4 GiB:
 *   1. RAM ranges to map, and those held back by mem=
 *   2. a table-cache block below 4 GiB, explicitly; the root and the image tables
 *      come from it (the AP trampoline also loads the root's address in 32-bit mode)
 *   3. the split pool, sized from the ranges: enough chunks below 4 GiB for what
 *      phase 1 maps, the rest from the top of RAM (mm/pool.c)
 *   4. kernel image: .text RX, .rodata R, .data/.bss RW (4 KiB pages)
 *   5. RAM below 4 GiB, largest uniform leaf at each step (pool chunks and the cache
 *      block get 2 MiB leaves with the page-table key, the image's .text/.rodata
 *      alias is read-only), and every pool chunk above 4 GiB as a keyed 2 MiB leaf;
 *      the pool hands out only frames below 4 GiB meanwhile
 *   6. CR3 switch, CR4.PGE, full flush
 * Phase 2 runs on the kernel's root, where every pool frame is now reachable:
 *   7. RAM above 4 GiB; then the entry code's tables are freed
 * Boot cost is a walk over the leaves (1 GiB where possible), flat in RAM size.
 */
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"

#define MAX_RANGES BOOT_MAX_RANGES

extern char __kernel_start[], __text_end[], __rodata_end[], __bss_end[];
extern char __boot_tables_start[], __boot_tables_end[];

static struct pa_range ram[MAX_RANGES], held[MAX_RANGES], added[MAX_RANGES];
static int nr_ram, nr_held, nr_added; /* added: RAM hot-added since boot */
static bool has_1g;
static int table_key;
static struct dmap_stats boot_stats;
static uint64_t boot_cycles;
static uint64_t boot_windows;		    /* write windows the build opened (mm/pt_door.h) */
uint64_t kernel_load_delta __ro_after_init; /* sealed: the guards' image bounds */

/* The entry code maps 0..4 GiB (boot/entry.asm): table pages written before the
 * switch to the kernel's root must lie below this. */
#define EARLY_MAP_LIMIT (4 * GiB)

phys_addr_t kernel_pa_start(void)
{
	return kernel_image_pa((uint64_t)__kernel_start);
}
phys_addr_t kernel_pa_end(void)
{
	return kernel_image_pa((uint64_t)__bss_end);
}
phys_addr_t kernel_ro_pa_end(void)
{
	return kernel_image_pa((uint64_t)__rodata_end);
}
int dmap_table_key(void)
{
	return table_key;
}
bool dmap_has_1g(void)
{
	return has_1g;
}
const struct dmap_stats *dmap_boot_stats(void)
{
	return &boot_stats;
}

int dmap_ranges(const struct pa_range **out)
{
	*out = ram;
	return nr_ram;
}

int dmap_held_ranges(const struct pa_range **out)
{
	*out = held;
	return nr_held;
}

uint64_t dmap_ram_bytes(void)
{
	uint64_t sum = 0;

	for (int i = 0; i < nr_ram; i++)
		sum += ram[i].len;
	return sum;
}

/* Appends [base, end) page-aligned inward to list, merging with its last range. */
static void add_range(struct pa_range *list, int *n, uint64_t base, uint64_t end)
{
	base = ALIGN_UP(base, PAGE_SIZE);
	end = ALIGN_DOWN(end, PAGE_SIZE);
	if (base >= end)
		return;
	if (*n && list[*n - 1].base + list[*n - 1].len == base) {
		list[*n - 1].len += end - base;
		return;
	}
	if (*n == MAX_RANGES)
		panic("dmap: more than %d RAM ranges", MAX_RANGES);
	list[(*n)++] = (struct pa_range){ base, end - base };
}

/* Step 1: usable and ACPI-reclaimable RAM below limit is mapped; usable RAM above
 * it is held back for hot-add. */
static void collect_ranges(const struct boot_info *bi, uint64_t limit)
{
	for (int i = 0; i < bi->nr_mem; i++) {
		const struct mem_range *r = &bi->mem[i];
		uint64_t end = r->base + r->len;

		if (r->type != MEM_USABLE && r->type != MEM_ACPI_RECLAIM)
			continue;
		add_range(ram, &nr_ram, r->base, MIN(end, limit));
		if (r->type == MEM_USABLE && end > limit)
			add_range(held, &nr_held, MAX(r->base, limit), end);
	}
}

/* True when [pa, pa+size) lies wholly inside the keyed 2 MiB region at `region`. */
static bool inside(phys_addr_t pa, uint64_t size, phys_addr_t region, uint64_t rsize)
{
	return pa >= region && pa + size <= region + rsize;
}

/* The leaf attributes for [pa, pa+size), or 0 when the range is not uniform. */
static uint64_t leaf_prot(phys_addr_t pa, uint64_t size)
{
	phys_addr_t ro_start = kernel_pa_start(), ro_end = kernel_ro_pa_end(), chunk;
	uint64_t keyed = PAGE_KERNEL_RW | PTE_PKEY(table_key);

	if (pa < ro_end && pa + size > ro_start)
		return inside(pa, size, ro_start, ro_end - ro_start) ? PAGE_KERNEL_RO : 0;
	if (pool_overlaps(pa, size, &chunk))
		return inside(pa, size, chunk, POOL_CHUNK_SIZE) ? keyed : 0;
	for (uint64_t i = 0; i < ptcache_nr_blocks(); i++) {
		phys_addr_t b = ptcache_block(i);

		if (pa < b + 2 * MiB && pa + size > b)
			return inside(pa, size, b, 2 * MiB) ? keyed : 0;
	}
	return PAGE_KERNEL_RW;
}

/* Maps [base, end) of RAM at PAGE_OFFSET with the largest uniform leaves; with
 * skip_chunks, pool chunks (mapped already) are left as they are. */
static void map_ram(phys_addr_t root, phys_addr_t base, phys_addr_t end, bool skip_chunks)
{
	uint32_t w = pt_window_open();

	for (phys_addr_t pa = base; pa < end;) {
		int level = has_1g ? PT_LEVEL_PUD : PT_LEVEL_PMD;
		uint64_t size, prot;

		for (;; level--) {
			size = pt_size(level);
			if (level == PT_LEVEL_PTE)
				break;
			if (IS_ALIGNED(pa, size) && pa + size <= end && leaf_prot(pa, size))
				break;
		}
		prot = leaf_prot(pa, size);
		if (skip_chunks && level == PT_LEVEL_PMD && pool_contains(pa)) {
			pa += size;
			continue;
		}
		/* Invariant: the pool holds every table the direct map can need. */
		if (pt_map_leaf(root, PAGE_OFFSET + pa, pa, level, prot))
			panic("dmap: cannot map 0x%llx (%s leaf): pool sized wrong",
			      (unsigned long long)pa, pt_level_name(level));
		pa += size;
	}
	pt_window_close(w);
}

/* Step 4: the image, page by page, W^X; the early tables are left out. */
static void map_kernel_image(phys_addr_t root)
{
	uint64_t va;

	for (va = (uint64_t)__kernel_start; va < (uint64_t)__boot_tables_start; va += PAGE_SIZE) {
		uint64_t prot = va < (uint64_t)__text_end     ? PAGE_KERNEL_RX
				: va < (uint64_t)__rodata_end ? PAGE_KERNEL_RO
							      : PAGE_KERNEL_RW;

		if (pt_map_leaf(root, va, kernel_image_pa(va), PT_LEVEL_PTE, prot))
			panic("dmap: cannot map the kernel image at 0x%llx",
			      (unsigned long long)va);
	}
}

/* Step 6: the entry code's tables are no table pages any more: free them. */
static void retire_boot_tables(void)
{
	phys_addr_t pa = kernel_image_pa((uint64_t)__boot_tables_start);
	uint64_t len = (uint64_t)(__boot_tables_end - __boot_tables_start);

	if (frame_add_range(pa, len))
		panic("dmap: cannot hand the boot tables back to the frame allocator");
}

/* Clips the RAM ranges to [lo, hi) into out[]; returns how many. */
static int clip_ranges(struct pa_range *out, uint64_t lo, uint64_t hi)
{
	int n = 0;

	for (int i = 0; i < nr_ram; i++) {
		uint64_t b = MAX(ram[i].base, lo), e = MIN(ram[i].base + ram[i].len, hi);

		if (b < e)
			out[n++] = (struct pa_range){ b, e - b };
	}
	return n;
}

/* Pool chunks at or above `from`, merged into ranges in out[]; returns how many. */
static int chunk_ranges(struct pa_range *out, phys_addr_t from)
{
	int n = 0;

	for (uint64_t i = 0; i < pool_nr_chunks(); i++) {
		phys_addr_t c = pool_chunk(i);

		if (c < from)
			continue;
		if (n && out[n - 1].base + out[n - 1].len == c)
			out[n - 1].len += POOL_CHUNK_SIZE;
		else if (n < MAX_RANGES)
			out[n++] = (struct pa_range){ c, POOL_CHUNK_SIZE };
		else
			out[n - 1].len = c + POOL_CHUNK_SIZE - out[n - 1].base; /* over-count */
	}
	return n;
}

/* At most how many tables phase 1 needs for RAM below EARLY_MAP_LIMIT with the
 * largest leaves: the pmd and pud tables of a 2 MiB map, plus a pte table at each
 * end of each range and at each end of the image's read-only part (everything else
 * that is mapped differently, pool chunks and cache blocks, is 2 MiB aligned).
 * tmp: room for MAX_RANGES ranges. */
static uint64_t low_tables_bound(struct pa_range *tmp)
{
	int n = clip_ranges(tmp, 0, EARLY_MAP_LIMIT);

	return pool_tables_for_leaves(tmp, n, 21) + 2 * (uint64_t)n + 2;
}

/* Step 3: the split pool. Phase 1 writes tables while only the entry code's map
 * reaches memory, so enough pool frames must lie below EARLY_MAP_LIMIT for low RAM
 * and for the pmd/pud tables of the chunks above it; the rest comes from the top. */
static void reserve_pool(void)
{
	static struct pa_range tmp[MAX_RANGES];
	uint64_t total = pool_tables_needed(ram, nr_ram);
	uint64_t need = low_tables_bound(tmp) + POOL_BOOTSTRAP_FRAMES;

	if (pool_init(total, need, EARLY_MAP_LIMIT))
		panic("dmap: not enough RAM for the split pool (%llu frames, %llu of them below "
		      "4 GiB for building the direct map)",
		      (unsigned long long)(pool_chunks_needed(total) * POOL_CHUNK_FRAMES),
		      (unsigned long long)need);
	need += pool_tables_for_leaves(tmp, chunk_ranges(tmp, EARLY_MAP_LIMIT), 21);
	if (pool_grow_low(need, EARLY_MAP_LIMIT))
		panic("dmap: the split pool needs %llu free frames below 4 GiB to build the direct "
		      "map, and RAM there has no more free 2 MiB runs",
		      (unsigned long long)need);
}

/* Maps the pool chunk at c as a 2 MiB leaf carrying the page-table key. 0 or -errno. */
static int map_chunk(phys_addr_t root, phys_addr_t c)
{
	return pt_map_leaf(root, PAGE_OFFSET + c, c, PT_LEVEL_PMD,
			   PAGE_KERNEL_RW | PTE_PKEY(table_key));
}

/* Maps every pool chunk at or above `from` as a keyed 2 MiB leaf. */
static void map_high_chunks(phys_addr_t root, phys_addr_t from)
{
	for (uint64_t i = 0; i < pool_nr_chunks(); i++) {
		phys_addr_t c = pool_chunk(i);

		if (c >= from && map_chunk(root, c))
			panic("dmap: no pool frame below 4 GiB left to map pool chunk 0x%llx",
			      (unsigned long long)c);
	}
}

/* Phase 1, on the entry code's tables: the root and the image tables from a cache
 * block below 4 GiB (the AP trampoline loads CR3 in 32-bit mode), then the image,
 * RAM below 4 GiB and every pool chunk, with pool frames below 4 GiB only. */
static phys_addr_t build_reachable(void)
{
	phys_addr_t block = frame_alloc_run_below(512, 2 * MiB, EARLY_MAP_LIMIT), root;

	if (!block)
		panic("dmap: no free 2 MiB block below 4 GiB for the root and the image tables");
	ptcache_init(block);
	root = pt_alloc(pt_root_level(), 0);
	/* Invariant: the root is below 4 GiB (entry code's map, 32-bit AP trampoline). */
	if (!root || root >= EARLY_MAP_LIMIT)
		panic("dmap: no root table below 4 GiB");
	reserve_pool();
	pool_set_alloc_limit(EARLY_MAP_LIMIT);
	map_kernel_image(root);
	for (int i = 0; i < nr_ram && ram[i].base < EARLY_MAP_LIMIT; i++)
		map_ram(root, ram[i].base, MIN(ram[i].base + ram[i].len, EARLY_MAP_LIMIT), false);
	map_high_chunks(root, EARLY_MAP_LIMIT);
	pool_set_alloc_limit(~0ULL);
	return root;
}

void dmap_init(const struct boot_info *bi, uint64_t limit, int pt_key)
{
	uint64_t start = rdtsc();
	struct pt_door_counts c0, c1;
	phys_addr_t root;
	uint32_t w;

	pt_door_counts(&c0);
	pt_init();
	has_1g = cpu.pdpe1gb;
	table_key = pt_key;
	collect_ranges(bi, limit);
	w = pt_window_open(); /* one window for the whole build */
	root = build_reachable();
	pt_set_kernel_root(root);
	write_cr3(root);
	if (cpu.pge)
		write_cr4(read_cr4() | CR4_PGE);
	flush_tlb_all();
	/* Phase 2, on the kernel's root: RAM above 4 GiB, tables from anywhere in the pool. */
	for (int i = 0; i < nr_ram; i++)
		if (ram[i].base + ram[i].len > EARLY_MAP_LIMIT)
			map_ram(root, MAX(ram[i].base, EARLY_MAP_LIMIT), ram[i].base + ram[i].len,
				true);
	flush_tlb_all();
	retire_boot_tables();
	pt_window_close(w);
	dmap_stats(&boot_stats);
	pt_door_counts(&c1);
	boot_windows = c1.windows - c0.windows;
	boot_cycles = rdtsc() - start;
}

uint64_t dmap_boot_windows(void)
{
	return boot_windows;
}

uint64_t dmap_boot_cycles(void)
{
	return boot_cycles;
}

/* Counts direct-map leaves by level. */
static void count_leaf(phys_addr_t table, int level, int index, uint64_t e, uint64_t va, void *arg)
{
	struct dmap_stats *s = arg;

	(void)table;
	(void)index;
	if (!is_dmap_va(va) || !pt_is_leaf(e, level))
		return;
	s->leaves[level]++;
	s->bytes += pt_size(level);
}

void dmap_stats(struct dmap_stats *s)
{
	*s = (struct dmap_stats){ 0 };
	pt_walk_all(pt_kernel_root(), count_leaf, s);
}

phys_addr_t va_to_pa(const volatile void *p)
{
	uint64_t va = (uint64_t)p, *e;
	int level;

	if (is_dmap_va(va))
		return va - PAGE_OFFSET;
	e = pt_lookup(va, &level);
	if (!e)
		return ~0ULL;
	return pt_entry_pa(*e, level) + (va & (pt_size(level) - 1));
}

/* ---- simulated hot-add and hot-remove (mem=) ------------------------------- */

/* Inserts r into the sorted list (merging with neighbours). */
static void list_insert(struct pa_range *list, int *n, struct pa_range r)
{
	int i = 0;

	while (i < *n && list[i].base < r.base)
		i++;
	/* Invariant: callers checked lists_have_room() (boot lists hold <= MAX_RANGES). */
	if (*n == MAX_RANGES)
		panic("dmap: more than %d RAM ranges", MAX_RANGES);
	memmove(&list[i + 1], &list[i], (size_t)(*n - i) * sizeof(*list));
	list[i] = r;
	(*n)++;
	for (i = 0; i + 1 < *n;) {
		if (list[i].base + list[i].len == list[i + 1].base) {
			list[i].len += list[i + 1].len;
			memmove(&list[i + 1], &list[i + 2], (size_t)(*n - i - 2) * sizeof(*list));
			(*n)--;
		} else {
			i++;
		}
	}
}

/* Removes r (wholly inside one range of the list) from the list. Returns 0 or
 * -EINVAL when no range holds it. */
static int list_remove(struct pa_range *list, int *n, struct pa_range r)
{
	for (int i = 0; i < *n; i++) {
		struct pa_range cur = list[i];
		uint64_t end = r.base + r.len, cend = cur.base + cur.len;

		if (r.base < cur.base || end > cend)
			continue;
		memmove(&list[i], &list[i + 1], (size_t)(*n - i - 1) * sizeof(*list));
		(*n)--;
		if (r.base > cur.base)
			list_insert(list, n, (struct pa_range){ cur.base, r.base - cur.base });
		if (end < cend)
			list_insert(list, n, (struct pa_range){ end, cend - end });
		return 0;
	}
	return -EINVAL;
}

/* Pool chunks the ranges need beyond what `ram` needs now. */
static uint64_t extra_chunks(struct pa_range r)
{
	static struct pa_range tmp[MAX_RANGES];
	int n = nr_ram;
	uint64_t before = pool_tables_needed(ram, nr_ram), after;

	memcpy(tmp, ram, sizeof(ram[0]) * (size_t)nr_ram);
	list_insert(tmp, &n, r);
	after = pool_tables_needed(tmp, n);
	return (after - before + POOL_CHUNK_FRAMES - 1) / POOL_CHUNK_FRAMES;
}

/* Maps the new pool chunks at the top of the range (keyed 2 MiB leaves, tables
 * from the pool's existing frames and its bootstrap reserve), then adds them. */
static void map_new_chunks(phys_addr_t first, uint64_t k)
{
	for (uint64_t i = 0; i < k; i++) {
		phys_addr_t c = first + i * POOL_CHUNK_SIZE;

		if (map_chunk(pt_kernel_root(), c) || pool_add_chunk(c))
			panic("dmap_hotadd: cannot map pool chunk 0x%llx", (unsigned long long)c);
	}
}

/* True when a hot-add or hot-remove may split or add a range in every list: each
 * grows by at most two. Says why not. */
static bool lists_have_room(const char *fn)
{
	if (nr_ram + 2 <= MAX_RANGES && nr_held + 2 <= MAX_RANGES && nr_added + 2 <= MAX_RANGES)
		return true;
	kprintf("%s: the direct map's range lists are full (%d ranges)\n", fn, MAX_RANGES);
	return false;
}

/* True when r lies wholly inside one range of the list. */
static bool list_covers(const struct pa_range *list, int n, struct pa_range r)
{
	for (int i = 0; i < n; i++)
		if (r.base >= list[i].base && r.base + r.len <= list[i].base + list[i].len)
			return true;
	return false;
}

int dmap_hotadd(phys_addr_t pa, uint64_t len)
{
	struct pa_range r = { pa, len };
	uint64_t k;
	phys_addr_t first;
	uint32_t w;

	if (!len || !IS_ALIGNED(pa | len, 2 * MiB) || pa + len < pa)
		return -EINVAL;
	if (!lists_have_room("dmap_hotadd"))
		return -ENOSPC;
	if (list_remove(held, &nr_held, r))
		return -ENOENT;
	k = extra_chunks(r);
	if (k * POOL_CHUNK_SIZE >= len) {
		list_insert(held, &nr_held, r);
		kprintf("dmap_hotadd: 0x%llx bytes cannot hold their own %llu pool chunks\n",
			(unsigned long long)len, (unsigned long long)k);
		return -ENOSPC;
	}
	first = pa + len - k * POOL_CHUNK_SIZE;
	w = pt_window_open(); /* one window for the chunks and the RAM */
	map_new_chunks(first, k);
	map_ram(pt_kernel_root(), pa, first, false);
	pt_window_close(w);
	list_insert(ram, &nr_ram, r);
	list_insert(added, &nr_added, r);
	if (frame_add_range(pa, first - pa))
		panic("dmap_hotadd: the frame allocator refused 0x%llx", (unsigned long long)pa);
	return 0;
}

/* Frees the tables under [va, end) that no longer map anything, one level at a
 * time from the bottom; the TLB is flushed before a table is given back. */
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
			flush_tlb_all();
			pt_free(t, level - 1);
		}
	}
}

/* Unmaps the direct map of [pa, end), splitting leaves that stick out of it. */
static void unmap_ram(phys_addr_t pa, phys_addr_t end)
{
	uint32_t w = pt_window_open();

	for (phys_addr_t a = pa; a < end;) {
		int level;
		uint64_t *e = pt_lookup(PAGE_OFFSET + a, &level), size = pt_size(level);
		phys_addr_t start = ALIGN_DOWN(a, size);

		if (!e) {
			a += PAGE_SIZE;
		} else if (start < pa || start + size > end) {
			if (set_memory_split_leaf(e, level, PAGE_OFFSET + start))
				panic("dmap_hotremove: split pool empty");
		} else {
			pt_set_entry(e, 0);
			a = start + size;
		}
	}
	flush_tlb_all();
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
		if (map_chunk(pt_kernel_root(), c))
			panic("dmap_hotremove: cannot map pool chunk 0x%llx back",
			      (unsigned long long)c);
	map_ram(pt_kernel_root(), pa, first, false);
}

int dmap_hotremove(phys_addr_t pa, uint64_t len)
{
	struct pa_range r = { pa, len };
	phys_addr_t first = chunks_start(pa, len);
	uint32_t w;
	bool busy;

	if (!len || !IS_ALIGNED(pa | len, 2 * MiB) || pool_overlaps(pa, first - pa, NULL))
		return -EINVAL;
	/* Boot RAM holds the pool's worst case: only hot-added RAM can go again. */
	if (!list_covers(added, nr_added, r))
		return -ENOENT;
	if (!lists_have_room("dmap_hotremove"))
		return -ENOSPC;
	if (list_remove(ram, &nr_ram, r))
		return -ENOENT;
	if (!frame_range_free(pa, first - pa)) {
		list_insert(ram, &nr_ram, r);
		return -EBUSY;
	}
	w = pt_window_open(); /* one window for the unmap and a put-back */
	unmap_ram(pa, pa + len);
	busy = pool_remove_chunks(pa, len) != 0;
	if (busy)
		map_back(pa, first, pa + len);
	pt_window_close(w);
	if (busy) {
		list_insert(ram, &nr_ram, r);
		return -EBUSY;
	}
	if (frame_remove_range(pa, first - pa))
		panic("dmap_hotremove: frames of 0x%llx vanished", (unsigned long long)pa);
	list_insert(held, &nr_held, r);
	list_remove(added, &nr_added, r);
	return 0;
}
