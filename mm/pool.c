/* mm/pool.c - the split pool behind mm/pool.h.
 *
 * Chunks are kept sorted by address in an array that itself lives in frames from
 * the frame allocator (it grows on hot-add); each chunk has a bitmap of free frames
 * (bit set = free) and the level of the table each frame in use holds. Allocation
 * takes the lowest free frame, so chunks added by a hot-add (at higher addresses)
 * are used last. All of this is page-table-keyed once sealed (the statics here, the
 * chunk array's frames: pool_seal): every change happens inside a write window.
 */
#include "mm/pool.h"
#include "kernel/spinlock.h"
#include "mm/frame.h"
#include "mm/frameset.h"
#include "mm/mm_internal.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/protect_map.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "arch/pkrs.h"

_Static_assert(POOL_CHUNK_SIZE == FRAMESET_SIZE, "a pool chunk is one frameset");

static struct frameset *chunks __pt_keyed; /* in frames: pa_to_va(meta_pa) */
static phys_addr_t meta_pa __pt_keyed;
static uint64_t meta_frames __pt_keyed;
static uint64_t nr_chunks __pt_keyed, cap_chunks __pt_keyed;
static uint64_t free_frames __pt_keyed;
static uint64_t hint __pt_keyed; /* no chunk below this index has a free frame */
/* pool_alloc hands out nothing at or above this */
static phys_addr_t alloc_limit __pt_keyed_data = ~0ULL;
/* Once sealed: the key the chunk array's frames carry wherever they move. */
static int meta_key __pt_keyed;

/* Counts the distinct regions of 2^shift bytes the sorted ranges touch. */
static uint64_t count_regions(const struct pa_range *r, int n, unsigned int shift)
{
	uint64_t count = 0, last = ~0ULL;

	for (int i = 0; i < n; i++) {
		uint64_t first, end;

		if (!r[i].len)
			continue;
		first = r[i].base >> shift;
		end = (r[i].base + r[i].len - 1) >> shift;
		if (first == last)
			first++;
		if (first <= end)
			count += end - first + 1;
		last = end;
	}
	return count;
}

uint64_t pool_tables_for_leaves(const struct pa_range *r, int n, unsigned int leaf_shift)
{
	uint64_t tables = 0;

	for (unsigned int shift = leaf_shift + 9; shift <= 39; shift += 9)
		tables += count_regions(r, n, shift);
	return tables;
}

uint64_t pool_tables_needed(const struct pa_range *r, int n)
{
	return pool_tables_for_leaves(r, n, 12);
}

/* Gives the direct map of [pa, pa + frames pages) the protection key `key`. */
static int set_meta_key(phys_addr_t pa, uint64_t frames, int key)
{
	return __set_memory(PAGE_OFFSET + pa, frames, PTE_PKEY(key), PTE_PKEY_MASK);
}

/* Makes room for `want` chunks; the metadata moves to new frames (ending at or below
 * limit) if it must, keyed like the old ones once sealed. */
static int reserve_meta(uint64_t want, phys_addr_t limit)
{
	uint64_t frames = ALIGN_UP(want * sizeof(struct frameset), PAGE_SIZE) / PAGE_SIZE;
	phys_addr_t pa;

	phys_addr_t old_pa = meta_pa;
	uint64_t old_frames = meta_frames;
	uint32_t w;

	if (want <= cap_chunks)
		return 0;
	pa = frame_alloc_run_below(frames, PAGE_SIZE, limit);
	if (!pa)
		return -ENOMEM;
	if (meta_key && set_meta_key(pa, frames, meta_key)) {
		frame_free_run(pa, frames);
		return -ENOMEM;
	}
	w = pt_window_open();
	if (chunks)
		memcpy(pa_to_va(pa), chunks, nr_chunks * sizeof(struct frameset));
	meta_pa = pa;
	meta_frames = frames;
	chunks = pa_to_va(pa);
	cap_chunks = frames * PAGE_SIZE / sizeof(struct frameset);
	pt_window_close(w);
	/* The old frames hold no bookkeeping any more: unkeyed, they go back. */
	if (old_pa && meta_key && set_meta_key(old_pa, old_frames, 0))
		panic("pool: cannot unkey the old chunk array at 0x%llx",
		      (unsigned long long)old_pa);
	if (old_pa)
		frame_free_run(old_pa, old_frames);
	return 0;
}

void pool_seal(int key)
{
	uint32_t w;

	/* Invariant: the chunk array is keyed once, at boot. */
	if (set_meta_key(meta_pa, meta_frames, key))
		panic("pool: cannot key the chunk array at 0x%llx", (unsigned long long)meta_pa);
	w = pt_window_open();
	meta_key = key;
	pt_window_close(w);
}

/* Index of the chunk holding pa, or -1. */
static int64_t find_chunk(phys_addr_t pa)
{
	uint64_t lo = 0, hi = nr_chunks;

	while (lo < hi) {
		uint64_t mid = (lo + hi) / 2;

		if (pa < chunks[mid].pa)
			hi = mid;
		else if (pa >= chunks[mid].pa + POOL_CHUNK_SIZE)
			lo = mid + 1;
		else
			return (int64_t)mid;
	}
	return -1;
}

/* Invariants for a chunk about to join: it lies in no protected region (a live
 * chunk or cache block among them: the frame allocator's free list would be
 * corrupt), and once the kernel's tables are live its direct-map leaf already
 * carries the table key (else the pool would hand out open tables). */
static void check_new_chunk(phys_addr_t pa)
{
	const struct protect_row *row = protect_region_of(pa, POOL_CHUNK_SIZE, NULL);
	uint64_t *e;
	int level;

	if (row)
		panic("pool: new chunk 0x%llx lies in \"%s\"", (unsigned long long)pa,
		      protect_row_name(row));
	if (!pgprot_key() || !pt_kernel_root())
		return;
	e = pt_lookup(PAGE_OFFSET + pa, &level);
	if (!e || pt_entry_pkey(*e) != pgprot_key())
		panic("pool: new chunk 0x%llx is not mapped with the table key %d",
		      (unsigned long long)pa, pgprot_key());
}

int pool_add_chunk(phys_addr_t pa)
{
	uint64_t i;
	uint32_t w;

	if (!IS_ALIGNED(pa, POOL_CHUNK_SIZE) || find_chunk(pa) >= 0)
		return -EINVAL;
	check_new_chunk(pa);
	if (reserve_meta(nr_chunks + 1, ~0ULL))
		return -ENOMEM;
	w = pt_window_open();
	for (i = nr_chunks; i > 0 && chunks[i - 1].pa > pa; i--)
		chunks[i] = chunks[i - 1];
	frameset_init(&chunks[i], pa);
	nr_chunks++;
	free_frames += POOL_CHUNK_FRAMES;
	hint = MIN(hint, i);
	pt_window_close(w);
	return 0;
}

uint64_t pool_chunks_needed(uint64_t frames)
{
	return (frames + POOL_BOOTSTRAP_FRAMES + POOL_CHUNK_FRAMES - 1) / POOL_CHUNK_FRAMES;
}

/* Sorts the chunk array by address (Shell sort: pool_init appends the chunks it
 * takes from the top in descending order, and an insertion each would be O(n^2)). */
static void sort_chunks(void)
{
	for (uint64_t gap = nr_chunks / 2; gap; gap /= 2)
		for (uint64_t i = gap; i < nr_chunks; i++)
			for (uint64_t j = i; j >= gap && chunks[j - gap].pa > chunks[j].pa;
			     j -= gap) {
				struct frameset t = chunks[j];

				chunks[j] = chunks[j - gap];
				chunks[j - gap] = t;
			}
	hint = 0;
}

/* Takes one chunk below `limit` (low) or from the top of RAM and appends it to the
 * chunk array, which has room (reserve_meta) and must be sorted afterwards. */
static int append_chunk(bool low, phys_addr_t limit)
{
	phys_addr_t pa = low ? frame_alloc_run_below(POOL_CHUNK_FRAMES, POOL_CHUNK_SIZE, limit)
			     : frame_alloc_run_top(POOL_CHUNK_FRAMES, POOL_CHUNK_SIZE);

	if (!pa)
		return -ENOMEM;
	frameset_init(&chunks[nr_chunks++], pa);
	free_frames += POOL_CHUNK_FRAMES;
	return 0;
}

int pool_init(uint64_t frames, uint64_t low_frames, phys_addr_t low_limit)
{
	uint64_t want = pool_chunks_needed(frames);
	uint64_t low = (low_frames + POOL_CHUNK_FRAMES - 1) / POOL_CHUNK_FRAMES;
	uint32_t w;
	int rc = 0;

	want = MAX(want, low);
	/* Invariant: the chunk array is written before the direct map exists. */
	if (reserve_meta(nr_chunks + want, low_limit))
		return -ENOMEM;
	w = pt_window_open();
	for (uint64_t i = 0; i < want && !rc; i++) {
		rc = append_chunk(i < low, low_limit);
		if (rc)
			kprintf("pool_init: only %llu of %llu 2 MiB chunks available%s\n",
				(unsigned long long)i, (unsigned long long)want,
				i < low ? " below the low limit" : "");
	}
	sort_chunks();
	pt_window_close(w);
	return rc;
}

int pool_grow_low(uint64_t low_frames, phys_addr_t low_limit)
{
	uint64_t have = pool_frames_below(low_limit);

	if (have >= low_frames)
		return 0;
	/* The chunk array stays below low_limit too (pool_add_chunk finds room). */
	if (reserve_meta(nr_chunks +
				 (low_frames - have + POOL_CHUNK_FRAMES - 1) / POOL_CHUNK_FRAMES,
			 low_limit))
		return -ENOMEM;
	while (pool_frames_below(low_limit) < low_frames) {
		phys_addr_t pa =
			frame_alloc_run_below(POOL_CHUNK_FRAMES, POOL_CHUNK_SIZE, low_limit);

		if (!pa)
			return -ENOMEM;
		if (pool_add_chunk(pa)) {
			frame_free_run(pa, POOL_CHUNK_FRAMES);
			return -ENOMEM;
		}
	}
	return 0;
}

uint64_t pool_frames_below(phys_addr_t limit)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < nr_chunks && chunks[i].pa + POOL_CHUNK_SIZE <= limit; i++)
		n += chunks[i].nfree;
	return n;
}

void pool_set_alloc_limit(phys_addr_t limit)
{
	uint32_t w = pt_window_open();

	alloc_limit = limit;
	pt_window_close(w);
}

/* Frees and takes frames one CPU at a time, under pt_lock (kernel/spinlock.h). */
static struct spinlock pool_lock = SPINLOCK_INIT("pool_lock");

phys_addr_t pool_alloc(void)
{
	uint64_t flags = spin_lock_irqsave(&pool_lock);
	uint32_t w = pt_window_open();
	phys_addr_t pa = 0;
	uint64_t i;

	for (i = hint; i < nr_chunks && chunks[i].pa < alloc_limit && !pa; i++)
		pa = frameset_take(&chunks[i]);
	if (pa)
		free_frames--;
	hint = pa ? i - 1 : i; /* every chunk below hint is full */
	pt_window_close(w);
	spin_unlock_irqrestore(&pool_lock, flags);
	return pa;
}

void pool_free(phys_addr_t pa)
{
	uint64_t flags = spin_lock_irqsave(&pool_lock);
	int64_t i = find_chunk(pa);
	uint32_t w = pt_window_open();

	/* Invariant: only frames handed out by pool_alloc come back, once. */
	if (i < 0 || frameset_put(&chunks[i], pa))
		panic("pool_free: 0x%llx is not a pool frame in use", (unsigned long long)pa);
	free_frames++;
	hint = MIN(hint, (uint64_t)i);
	pt_window_close(w);
	spin_unlock_irqrestore(&pool_lock, flags);
}

void pool_set_level(phys_addr_t pa, int level)
{
	int64_t i = find_chunk(pa);
	uint32_t w;

	/* Invariant: a level is recorded only for a pool frame in use. */
	ASSERT(i >= 0 && !frameset_is_free(&chunks[i], pa));
	w = pt_window_open();
	frameset_set_level(&chunks[i], pa, level);
	pt_window_close(w);
}

void pool_set_linked(phys_addr_t pa, bool linked)
{
	int64_t i = find_chunk(pa);

	/* Invariant: only a pool frame in use is marked, inside a window. */
	ASSERT(i >= 0 && !frameset_is_free(&chunks[i], pa) && pt_window_is_open());
	frameset_set_linked(&chunks[i], pa, linked);
}

bool pool_table_linked(phys_addr_t pa)
{
	int64_t i = chunks ? find_chunk(pa) : -1;

	return i >= 0 && frameset_linked(&chunks[i], pa);
}

int pool_table_level(phys_addr_t pa)
{
	int64_t i = chunks ? find_chunk(pa) : -1;

	return i < 0 ? -1 : frameset_level(&chunks[i], pa);
}

void pool_meta(phys_addr_t *pa, uint64_t *len)
{
	*pa = meta_pa;
	*len = meta_frames * PAGE_SIZE;
}

int pool_remove_chunks(phys_addr_t pa, uint64_t len)
{
	uint64_t keep = 0, removed = 0;
	uint32_t w;

	for (uint64_t i = 0; i < nr_chunks; i++)
		if (chunks[i].pa >= pa && chunks[i].pa < pa + len &&
		    chunks[i].nfree != POOL_CHUNK_FRAMES)
			return -EBUSY;
	w = pt_window_open();
	for (uint64_t i = 0; i < nr_chunks; i++) {
		if (chunks[i].pa >= pa && chunks[i].pa < pa + len) {
			removed++;
			continue;
		}
		chunks[keep++] = chunks[i];
	}
	nr_chunks = keep;
	free_frames -= removed * POOL_CHUNK_FRAMES;
	hint = 0;
	pt_window_close(w);
	return 0;
}

bool pool_contains(phys_addr_t pa)
{
	return chunks && find_chunk(pa) >= 0;
}

bool pool_frame_free(phys_addr_t pa)
{
	int64_t i = chunks ? find_chunk(pa) : -1;

	return i >= 0 && frameset_is_free(&chunks[i], pa);
}

bool pool_overlaps(phys_addr_t pa, uint64_t len, phys_addr_t *chunk)
{
	uint64_t lo = 0, hi = nr_chunks;

	while (lo < hi) { /* first chunk ending above pa */
		uint64_t mid = (lo + hi) / 2;

		if (chunks[mid].pa + POOL_CHUNK_SIZE <= pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == nr_chunks || chunks[lo].pa >= pa + len)
		return false;
	if (chunk)
		*chunk = chunks[lo].pa;
	return true;
}

uint64_t pool_total(void)
{
	return nr_chunks * POOL_CHUNK_FRAMES;
}
uint64_t pool_free_count(void)
{
	return free_frames;
}
uint64_t pool_nr_chunks(void)
{
	return nr_chunks;
}
phys_addr_t pool_chunk(uint64_t i)
{
	return i < nr_chunks ? chunks[i].pa : 0;
}
