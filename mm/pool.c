/* mm/pool.c - the split pool behind mm/pool.h.
 *
 * Chunks are kept sorted by address in an array that itself lives in frames from
 * the frame allocator (it grows on hot-add); each chunk has a bitmap of free frames
 * (bit set = free). Allocation takes the lowest free frame, so chunks added by a
 * hot-add (at higher addresses) are used last.
 */
#include "mm/pool.h"
#include "mm/frame.h"
#include "kernel/panic.h"
#include "kernel/printf.h"

struct chunk {
	phys_addr_t pa;
	uint32_t nfree;
	uint64_t bits[POOL_CHUNK_FRAMES / 64];
};

static struct chunk *chunks;    /* in frames: pa_to_va(meta_pa) */
static phys_addr_t meta_pa;
static uint64_t meta_frames;
static uint64_t nr_chunks, cap_chunks;
static uint64_t free_frames;
static uint64_t hint;           /* no chunk below this index has a free frame */

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
	uint64_t frames = ALIGN_UP(want * sizeof(struct chunk), PAGE_SIZE) / PAGE_SIZE;
	phys_addr_t pa;

	if (want <= cap_chunks)
		return 0;
	pa = frame_alloc_run(frames, PAGE_SIZE);
	if (!pa)
		return -ENOMEM;
	if (chunks)
		memcpy(pa_to_va(pa), chunks, nr_chunks * sizeof(struct chunk));
	if (meta_pa)
		frame_free_run(meta_pa, meta_frames);
	meta_pa = pa;
	meta_frames = frames;
	chunks = pa_to_va(pa);
	cap_chunks = frames * PAGE_SIZE / sizeof(struct chunk);
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
	chunks[i].pa = pa;
	chunks[i].nfree = POOL_CHUNK_FRAMES;
	memset(chunks[i].bits, 0xff, sizeof(chunks[i].bits));
	nr_chunks++;
	free_frames += POOL_CHUNK_FRAMES;
	hint = MIN(hint, i);
	return 0;
}

int pool_init(uint64_t frames)
{
	uint64_t want = (frames + POOL_BOOTSTRAP_FRAMES + POOL_CHUNK_FRAMES - 1) /
			POOL_CHUNK_FRAMES;

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
		struct chunk *c = &chunks[i];

		if (!c->nfree)
			continue;
		hint = i;
		for (int w = 0; w < POOL_CHUNK_FRAMES / 64; w++) {
			if (!c->bits[w])
				continue;
			int b = __builtin_ctzll(c->bits[w]);

			c->bits[w] &= ~(1ULL << b);
			c->nfree--;
			free_frames--;
			return c->pa + (uint64_t)(w * 64 + b) * PAGE_SIZE;
		}
	}
	hint = nr_chunks;
	return 0;
}

void pool_free(phys_addr_t pa)
{
	int64_t i = find_chunk(pa);
	uint64_t idx;

	/* Invariant: only frames handed out by pool_alloc come back. */
	if (i < 0 || !IS_ALIGNED(pa, PAGE_SIZE))
		panic("pool_free: 0x%llx is not a pool frame", (unsigned long long)pa);
	idx = (pa - chunks[i].pa) / PAGE_SIZE;
	if (chunks[i].bits[idx / 64] & (1ULL << (idx % 64)))
		panic("pool_free: double free of 0x%llx", (unsigned long long)pa);
	chunks[i].bits[idx / 64] |= 1ULL << (idx % 64);
	chunks[i].nfree++;
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
	uint64_t idx;

	if (i < 0)
		return false;
	idx = (pa - chunks[i].pa) / PAGE_SIZE;
	return chunks[i].bits[idx / 64] & (1ULL << (idx % 64));
}

bool pool_overlaps(phys_addr_t pa, uint64_t len, phys_addr_t *chunk)
{
	uint64_t lo = 0, hi = nr_chunks;

	while (lo < hi) {       /* first chunk ending above pa */
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

uint64_t pool_total(void) { return nr_chunks * POOL_CHUNK_FRAMES; }
uint64_t pool_free_count(void) { return free_frames; }
uint64_t pool_nr_chunks(void) { return nr_chunks; }
phys_addr_t pool_chunk(uint64_t i) { return i < nr_chunks ? chunks[i].pa : 0; }
