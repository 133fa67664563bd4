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
 *   5. RAM below 4 GiB, largest uniform leaf at each step, attributes from the
 *      protected-regions table (mm/protect_map.h: pool chunks and the cache block get
 *      2 MiB leaves with the page-table key, the image's .text/.rodata alias is
 *      read-only), and every pool chunk above 4 GiB as a keyed 2 MiB leaf; the pool
 *      hands out only frames below 4 GiB meanwhile
 *   6. CR3 switch, CR4.PGE, full flush
 * Phase 2 runs on the kernel's root, where every pool frame is now reachable:
 *   7. RAM above 4 GiB; then the entry code's tables are freed
 * Boot cost is a walk over the leaves (1 GiB where possible), flat in RAM size.
 * Hot-add and hot-remove (mem=) are in mm/dmap_hotplug.c.
 */
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/mm_internal.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/protect_map.h"
#include "mm/ptcache.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"

#define MAX_RANGES BOOT_MAX_RANGES

extern char __kernel_start[], __text_end[], __rodata_end[], __bss_end[];
extern char __boot_tables_start[], __boot_tables_end[];

/* RAM mapped; RAM held back by mem= (hot-add takes from it). Page-table-keyed: the
 * lists decide what the direct map holds, what the checker expects of it and what
 * hot-add may map (mm/dmap_hotplug.c changes them inside windows). */
static struct dmap_list ram __pt_keyed, held __pt_keyed;
/* Sealed with the rest of the protection state: a stray store to it would make
 * merges build 1 GiB leaves on a CPU without them. The table key is not copied
 * here: the direct map reads pgprot_key(), sealed in mm/pgprot.c (a writable copy
 * once mapped hot-added pool chunks unkeyed). */
static bool has_1g __ro_after_init;
static struct dmap_stats boot_stats;
static uint64_t boot_cycles;
static uint64_t boot_windows;		    /* write windows the build opened (mm/pt_door.h) */
uint64_t kernel_load_delta __ro_after_init; /* sealed: the guards' image bounds */

/* The entry code maps 0..4 GiB (boot/multiboot_entry.asm): table pages written before the
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
const volatile bool *dmap_has_1g_word(void)
{
	return &has_1g;
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
	*out = ram.r;
	return ram.n;
}

int dmap_held_ranges(const struct pa_range **out)
{
	*out = held.r;
	return held.n;
}

uint64_t dmap_ram_bytes(void)
{
	uint64_t sum = 0;

	for (int i = 0; i < ram.n; i++)
		sum += ram.r[i].len;
	return sum;
}

/* Appends [base, end) page-aligned inward to l, merging with its last range. */
static void add_range(struct dmap_list *l, uint64_t base, uint64_t end)
{
	base = ALIGN_UP(base, PAGE_SIZE);
	end = ALIGN_DOWN(end, PAGE_SIZE);
	if (base >= end)
		return;
	if (l->n && l->r[l->n - 1].base + l->r[l->n - 1].len == base) {
		l->r[l->n - 1].len += end - base;
		return;
	}
	if (l->n == MAX_RANGES)
		panic("dmap: more than %d RAM ranges", MAX_RANGES);
	l->r[l->n++] = (struct pa_range){ base, end - base };
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
		add_range(&ram, r->base, MIN(end, limit));
		if (r->type == MEM_USABLE && end > limit)
			add_range(&held, MAX(r->base, limit), end);
	}
}

void dmap_map_ram(phys_addr_t root, phys_addr_t base, phys_addr_t end, bool skip_chunks)
{
	uint32_t w = pt_window_open();

	for (phys_addr_t pa = base; pa < end;) {
		int level = has_1g ? PT_LEVEL_PUD : PT_LEVEL_PMD;
		uint64_t size, prot;

		for (;; level--) {
			size = pt_size(level);
			if (level == PT_LEVEL_PTE)
				break;
			if (IS_ALIGNED(pa, size) && pa + size <= end && protect_dmap_leaf(pa, size))
				break;
		}
		prot = protect_dmap_leaf(pa, size);
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

	for (int i = 0; i < ram.n; i++) {
		uint64_t b = MAX(ram.r[i].base, lo), e = MIN(ram.r[i].base + ram.r[i].len, hi);

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
	uint64_t total = pool_tables_needed(ram.r, ram.n);
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

int dmap_map_chunk(phys_addr_t root, phys_addr_t c)
{
	return pt_map_leaf(root, PAGE_OFFSET + c, c, PT_LEVEL_PMD,
			   PAGE_KERNEL_RW | PTE_PKEY(pgprot_key()));
}

/* Maps every pool chunk at or above `from` as a keyed 2 MiB leaf. */
static void map_high_chunks(phys_addr_t root, phys_addr_t from)
{
	for (uint64_t i = 0; i < pool_nr_chunks(); i++) {
		phys_addr_t c = pool_chunk(i);

		if (c >= from && dmap_map_chunk(root, c))
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
	for (int i = 0; i < ram.n && ram.r[i].base < EARLY_MAP_LIMIT; i++)
		dmap_map_ram(root, ram.r[i].base,
			     MIN(ram.r[i].base + ram.r[i].len, EARLY_MAP_LIMIT), false);
	map_high_chunks(root, EARLY_MAP_LIMIT);
	pool_set_alloc_limit(~0ULL);
	return root;
}

void dmap_init(const struct boot_info *bi, uint64_t limit)
{
	uint64_t start = rdtsc();
	struct pt_door_counts c0, c1;
	phys_addr_t root;
	uint32_t w;

	pt_door_counts(&c0);
	pt_init();
	has_1g = cpu.pdpe1gb;
	collect_ranges(bi, limit);
	w = pt_window_open(); /* one window for the whole build */
	root = build_reachable();
	pt_set_kernel_root(root);
	write_cr3(root);
	if (cpu.pge)
		write_cr4(read_cr4() | CR4_PGE);
	flush_tlb_all();
	/* Phase 2, on the kernel's root: RAM above 4 GiB, tables from anywhere in the pool. */
	for (int i = 0; i < ram.n; i++)
		if (ram.r[i].base + ram.r[i].len > EARLY_MAP_LIMIT)
			dmap_map_ram(root, MAX(ram.r[i].base, EARLY_MAP_LIMIT),
				     ram.r[i].base + ram.r[i].len, true);
	flush_tlb_all();
	retire_boot_tables();
	pt_window_close(w);
	dmap_stats(&boot_stats);
	pt_door_counts(&c1);
	boot_windows = c1.windows - c0.windows;
	boot_cycles = rdtsc() - start;
}

uint64_t dmap_boot_cycles(void)
{
	return boot_cycles;
}

uint64_t dmap_boot_windows(void)
{
	return boot_windows;
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

struct dmap_list *dmap_ram_list(void)
{
	return &ram;
}

struct dmap_list *dmap_held_list(void)
{
	return &held;
}
