/* mm/ptcache.c - the grouped table cache behind mm/ptcache.h. */
#include "mm/ptcache.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/set_memory.h"
#include "kernel/panic.h"
#include "kernel/printf.h"

#define BLOCK_SIZE   (2 * MiB)
#define BLOCK_PAGES  512
#define MAX_BLOCKS   256        /* 512 MiB of non-direct-map tables */

struct block {
	phys_addr_t pa;
	uint32_t nfree;
	uint64_t bits[BLOCK_PAGES / 64];        /* set = free */
};

static struct block blocks[MAX_BLOCKS];
static uint64_t nr_blocks;
static uint64_t free_pages;

static void add_block(phys_addr_t pa)
{
	struct block *b = &blocks[nr_blocks++];

	b->pa = pa;
	b->nfree = BLOCK_PAGES;
	memset(b->bits, 0xff, sizeof(b->bits));
	free_pages += BLOCK_PAGES;
}

void ptcache_init(phys_addr_t boot_block)
{
	add_block(boot_block);
}

/* Takes a 2 MiB block from the frame allocator and keys it as a whole. */
static struct block *new_block(void)
{
	phys_addr_t pa;

	if (nr_blocks == MAX_BLOCKS)
		return NULL;
	pa = frame_alloc_run(BLOCK_PAGES, BLOCK_SIZE);
	if (!pa)
		return NULL;
	if (pgprot_key() &&
	    set_memory(PAGE_OFFSET + pa, BLOCK_PAGES, PTE_PKEY(pgprot_key()), PTE_PKEY_MASK,
		       true)) {
		frame_free_run(pa, BLOCK_PAGES);
		return NULL;
	}
	add_block(pa);
	return &blocks[nr_blocks - 1];
}

phys_addr_t ptcache_alloc(void)
{
	struct block *b = NULL;

	for (uint64_t i = 0; i < nr_blocks && !b; i++)
		if (blocks[i].nfree)
			b = &blocks[i];
	if (!b && !(b = new_block())) {
		kprintf("ptcache_alloc: no 2 MiB block left for page tables\n");
		return 0;
	}
	for (int w = 0; w < BLOCK_PAGES / 64; w++) {
		if (b->bits[w]) {
			int bit = __builtin_ctzll(b->bits[w]);

			b->bits[w] &= ~(1ULL << bit);
			b->nfree--;
			free_pages--;
			return b->pa + (uint64_t)(w * 64 + bit) * PAGE_SIZE;
		}
	}
	panic("ptcache_alloc: block 0x%llx counts free pages it does not have",
	      (unsigned long long)b->pa);
}

static int64_t find_block(phys_addr_t pa)
{
	for (uint64_t i = 0; i < nr_blocks; i++)
		if (pa >= blocks[i].pa && pa < blocks[i].pa + BLOCK_SIZE)
			return (int64_t)i;
	return -1;
}

/* Unkeys a wholly free block and gives it back to the frame allocator. */
static void release_block(uint64_t i)
{
	phys_addr_t pa = blocks[i].pa;

	if (pgprot_key() &&
	    set_memory(PAGE_OFFSET + pa, BLOCK_PAGES, 0, PTE_PKEY_MASK, true))
		panic("ptcache: cannot unkey block 0x%llx", (unsigned long long)pa);
	free_pages -= BLOCK_PAGES;
	blocks[i] = blocks[--nr_blocks];
	frame_free_run(pa, BLOCK_PAGES);
}

void ptcache_free(phys_addr_t pa)
{
	int64_t i = find_block(pa);
	uint64_t idx;

	/* Invariant: only pages handed out by ptcache_alloc come back, once. */
	if (i < 0)
		panic("ptcache_free: 0x%llx is not a cache page", (unsigned long long)pa);
	idx = (pa - blocks[i].pa) / PAGE_SIZE;
	if (blocks[i].bits[idx / 64] & (1ULL << (idx % 64)))
		panic("ptcache_free: double free of 0x%llx", (unsigned long long)pa);
	blocks[i].bits[idx / 64] |= 1ULL << (idx % 64);
	blocks[i].nfree++;
	free_pages++;
	if (blocks[i].nfree == BLOCK_PAGES)
		release_block((uint64_t)i);
}

bool ptcache_contains(phys_addr_t pa)
{
	return find_block(pa) >= 0;
}

uint64_t ptcache_nr_blocks(void) { return nr_blocks; }
phys_addr_t ptcache_block(uint64_t i) { return i < nr_blocks ? blocks[i].pa : 0; }
uint64_t ptcache_block_free(uint64_t i) { return i < nr_blocks ? blocks[i].nfree : 0; }
uint64_t ptcache_free_count(void) { return free_pages; }
