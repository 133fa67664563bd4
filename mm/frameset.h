/* mm/frameset.h - a 2 MiB block of 512 frames with a free bitmap and, per frame in
 * use, the level of the table it holds: the unit of the split pool (mm/pool.c) and
 * of the grouped table cache (mm/ptcache.c). */
#ifndef MM_FRAMESET_H
#define MM_FRAMESET_H

#include "kernel/types.h"

#define FRAMESET_FRAMES 512
#define FRAMESET_SIZE	(FRAMESET_FRAMES * PAGE_SIZE)

struct frameset {
	phys_addr_t pa; /* 2 MiB aligned */
	uint32_t nfree;
	uint64_t bits[FRAMESET_FRAMES / 64]; /* set = free */
	uint8_t levels[FRAMESET_FRAMES / 2]; /* a nibble per frame: table level + 1, 0 = none */
	/* Set = an entry links the table in the frame (its one parent). */
	uint64_t linked[FRAMESET_FRAMES / 64];
};

/* Every frame of the block at pa starts free. */
static inline void frameset_init(struct frameset *s, phys_addr_t pa)
{
	s->pa = pa;
	s->nfree = FRAMESET_FRAMES;
	memset(s->bits, 0xff, sizeof(s->bits));
	memset(s->levels, 0, sizeof(s->levels));
	memset(s->linked, 0, sizeof(s->linked));
}

static inline bool frameset_holds(const struct frameset *s, phys_addr_t pa)
{
	return pa >= s->pa && pa < s->pa + FRAMESET_SIZE;
}

/* The lowest free frame, now in use; 0 when none is free. */
static inline phys_addr_t frameset_take(struct frameset *s)
{
	for (int w = 0; s->nfree && w < FRAMESET_FRAMES / 64; w++) {
		if (s->bits[w]) {
			int b = __builtin_ctzll(s->bits[w]);

			s->bits[w] &= ~(1ULL << b);
			s->nfree--;
			return s->pa + (uint64_t)(w * 64 + b) * PAGE_SIZE;
		}
	}
	return 0;
}

static inline bool frameset_is_free(const struct frameset *s, phys_addr_t pa)
{
	uint64_t i = (pa - s->pa) / PAGE_SIZE;

	return s->bits[i / 64] & (1ULL << (i % 64));
}

/* The table level recorded for the frame at pa (in the block), or -1 when none. */
static inline int frameset_level(const struct frameset *s, phys_addr_t pa)
{
	uint64_t i = (pa - s->pa) / PAGE_SIZE;

	return ((s->levels[i / 2] >> (4 * (i % 2))) & 0xf) - 1;
}

/* Records that the frame at pa (in the block) holds a table of `level` (-1: none). */
static inline void frameset_set_level(struct frameset *s, phys_addr_t pa, int level)
{
	uint64_t i = (pa - s->pa) / PAGE_SIZE;
	unsigned int shift = 4 * (i % 2);

	s->levels[i / 2] = (uint8_t)((s->levels[i / 2] & ~(0xf << shift)) | ((level + 1) << shift));
}

/* True when an entry links the table in the frame at pa (in the block). */
static inline bool frameset_linked(const struct frameset *s, phys_addr_t pa)
{
	uint64_t i = (pa - s->pa) / PAGE_SIZE;

	return __atomic_load_n(&s->linked[i / 64], __ATOMIC_RELAXED) & (1ULL << (i % 64));
}

/* Marks the table in the frame at pa (in the block) linked or not. */
static inline void frameset_set_linked(struct frameset *s, phys_addr_t pa, bool linked)
{
	uint64_t i = (pa - s->pa) / PAGE_SIZE;

	if (linked)
		__atomic_fetch_or(&s->linked[i / 64], 1ULL << (i % 64), __ATOMIC_RELAXED);
	else
		__atomic_fetch_and(&s->linked[i / 64], ~(1ULL << (i % 64)), __ATOMIC_RELAXED);
}

/* Returns a frame. 0, or -EINVAL (not in the block / misaligned) or -EEXIST
 * (already free); nothing changes on an error. */
static inline int frameset_put(struct frameset *s, phys_addr_t pa)
{
	uint64_t i = (pa - s->pa) / PAGE_SIZE;

	if (!frameset_holds(s, pa) || !IS_ALIGNED(pa, PAGE_SIZE))
		return -EINVAL;
	if (frameset_is_free(s, pa))
		return -EEXIST;
	s->bits[i / 64] |= 1ULL << (i % 64);
	s->nfree++;
	frameset_set_level(s, pa, -1);
	frameset_set_linked(s, pa, false);
	return 0;
}

#endif
