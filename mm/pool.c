/* mm/pool.c - the split pool behind mm/pool.h.
 *
 * Chunks are kept sorted by address in an array that itself lives in frames from
 * the frame allocator (it grows on hot-add); each chunk has a bitmap of free frames
 * (bit set = free). Allocation takes the lowest free frame, so chunks added by a
 * hot-add (at higher addresses) are used last.
 */
#include "mm/pool.h"
#include "mm/frame.h"
#include "mm/frameset.h"
#include "kernel/panic.h"
#include "kernel/printf.h"

_Static_assert(POOL_CHUNK_SIZE == FRAMESET_SIZE, "a pool chunk is one frameset");

static struct frameset *chunks; /* in frames: pa_to_va(meta_pa) */
static phys_addr_t meta_pa;
static uint64_t meta_frames;
static uint64_t nr_chunks, cap_chunks;
static uint64_t free_frames;
static uint64_t hint; /* no chunk below this index has a free frame */

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

uint64_t pool_tables_needed(const struct pa_range *r, int n)
{
	return count_regions(r, n, 21) + count_regions(r, n, 30) + count_regions(r, n, 39);
}

/* Makes room for `want` chunks; the metadata moves to new frames if it must. */
static int reserve_meta(uint64_t want)
{
	uint64_t frames = ALIGN_UP(want * sizeof(struct frameset), PAGE_SIZE) / PAGE_SIZE;
	phys_addr_t pa;

	if (want <= cap_chunks)
		return 0;
	pa = frame_alloc_run(frames, PAGE_SIZE);
	if (!pa)
		return -ENOMEM;
	if (chunks)
		memcpy(pa_to_va(pa), chunks, nr_chunks * sizeof(struct frameset));
	if (meta_pa)
		frame_free_run(meta_pa, meta_frames);
	meta_pa = pa;
	meta_frames = frames;
	chunks = pa_to_va(pa);
	cap_chunks = frames * PAGE_SIZE / sizeof(struct frameset);
	return 0;
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

int pool_add_chunk(phys_addr_t pa)
{
	uint64_t i;

	if (!IS_ALIGNED(pa, POOL_CHUNK_SIZE) || find_chunk(pa) >= 0)
		return -EINVAL;
	if (reserve_meta(nr_chunks + 1))
		return -ENOMEM;
	for (i = nr_chunks; i > 0 && chunks[i - 1].pa > pa; i--)
		chunks[i] = chunks[i - 1];
	frameset_init(&chunks[i], pa);
	nr_chunks++;
	free_frames += POOL_CHUNK_FRAMES;
	hint = MIN(hint, i);
	return 0;
}

uint64_t pool_chunks_needed(uint64_t frames)
{
	return (frames + POOL_BOOTSTRAP_FRAMES + POOL_CHUNK_FRAMES - 1) / POOL_CHUNK_FRAMES;
}

int pool_init(uint64_t frames)
{
	uint64_t want = pool_chunks_needed(frames);

	if (reserve_meta(want))
		return -ENOMEM;
	for (uint64_t i = 0; i < want; i++) {
		phys_addr_t pa = frame_alloc_run(POOL_CHUNK_FRAMES, POOL_CHUNK_SIZE);

		if (!pa || pool_add_chunk(pa)) {
			kprintf("pool_init: only %llu of %llu 2 MiB chunks available\n",
				(unsigned long long)i, (unsigned long long)want);
			return -ENOMEM;
		}
	}
	return 0;
}

phys_addr_t pool_alloc(void)
{
	for (uint64_t i = hint; i < nr_chunks; i++) {
		phys_addr_t pa = frameset_take(&chunks[i]);

		if (pa) {
			hint = i;
			free_frames--;
			return pa;
		}
	}
	hint = nr_chunks;
	return 0;
}

void pool_free(phys_addr_t pa)
{
	int64_t i = find_chunk(pa);

	/* Invariant: only frames handed out by pool_alloc come back, once. */
	if (i < 0 || frameset_put(&chunks[i], pa))
		panic("pool_free: 0x%llx is not a pool frame in use", (unsigned long long)pa);
	free_frames++;
	hint = MIN(hint, (uint64_t)i);
}

int pool_remove_chunks(phys_addr_t pa, uint64_t len)
{
	uint64_t keep = 0, removed = 0;

	for (uint64_t i = 0; i < nr_chunks; i++)
		if (chunks[i].pa >= pa && chunks[i].pa < pa + len &&
		    chunks[i].nfree != POOL_CHUNK_FRAMES)
			return -EBUSY;
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
