/* mm/ptcache.c - the grouped table cache behind mm/ptcache.h. */
#include "mm/ptcache.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/frameset.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/set_memory.h"
#include "kernel/panic.h"
#include "kernel/printf.h"

#define BLOCK_SIZE  FRAMESET_SIZE
#define BLOCK_PAGES FRAMESET_FRAMES
#define MAX_BLOCKS  256 /* 512 MiB of non-direct-map tables */

static struct frameset blocks[MAX_BLOCKS];
static uint64_t nr_blocks;
static uint64_t free_pages;

static void add_block(phys_addr_t pa)
{
	frameset_init(&blocks[nr_blocks++], pa);
	free_pages += BLOCK_PAGES;
}

void ptcache_init(phys_addr_t boot_block)
{
	add_block(boot_block);
}

/* Takes a 2 MiB block from the frame allocator and keys it as a whole. */
static struct frameset *new_block(void)
{
	phys_addr_t pa;

	if (nr_blocks == MAX_BLOCKS)
		return NULL;
	pa = frame_alloc_run(BLOCK_PAGES, BLOCK_SIZE);
	if (!pa)
		return NULL;
	if (pgprot_key() && set_memory(PAGE_OFFSET + pa, BLOCK_PAGES, PTE_PKEY(pgprot_key()),
				       PTE_PKEY_MASK, true)) {
		frame_free_run(pa, BLOCK_PAGES);
		return NULL;
	}
	add_block(pa);
	return &blocks[nr_blocks - 1];
}

phys_addr_t ptcache_alloc(void)
{
	struct frameset *b = NULL;

	for (uint64_t i = 0; i < nr_blocks && !b; i++)
		if (blocks[i].nfree)
			b = &blocks[i];
	if (!b && !(b = new_block())) {
		kprintf("ptcache_alloc: no 2 MiB block left for page tables\n");
		return 0;
	}
	free_pages--;
	return frameset_take(b);
}

static int64_t find_block(phys_addr_t pa)
{
	for (uint64_t i = 0; i < nr_blocks; i++)
		if (frameset_holds(&blocks[i], pa))
			return (int64_t)i;
	return -1;
}

/* Unkeys a wholly free block and gives it back to the frame allocator. */
static void release_block(uint64_t i)
{
	phys_addr_t pa = blocks[i].pa;

	if (pgprot_key() && set_memory(PAGE_OFFSET + pa, BLOCK_PAGES, 0, PTE_PKEY_MASK, true))
		panic("ptcache: cannot unkey block 0x%llx", (unsigned long long)pa);
	free_pages -= BLOCK_PAGES;
	blocks[i] = blocks[--nr_blocks];
	frame_free_run(pa, BLOCK_PAGES);
}

void ptcache_free(phys_addr_t pa)
{
	int64_t i = find_block(pa);

	/* Invariant: only pages handed out by ptcache_alloc come back, once. */
	if (i < 0 || frameset_put(&blocks[i], pa))
		panic("ptcache_free: 0x%llx is not a cache page in use", (unsigned long long)pa);
	free_pages++;
	if (blocks[i].nfree == BLOCK_PAGES)
		release_block((uint64_t)i);
}

bool ptcache_contains(phys_addr_t pa)
{
	return find_block(pa) >= 0;
}

uint64_t ptcache_nr_blocks(void)
{
	return nr_blocks;
}
phys_addr_t ptcache_block(uint64_t i)
{
	return i < nr_blocks ? blocks[i].pa : 0;
}
uint64_t ptcache_block_free(uint64_t i)
{
	return i < nr_blocks ? blocks[i].nfree : 0;
}
uint64_t ptcache_free_count(void)
{
	return free_pages;
}
