/* mm/ptcache.c - the grouped table cache behind mm/ptcache.h. Its bookkeeping (the
 * blocks, their free bitmaps and table levels) is page-table-keyed: every change
 * happens inside a write window. */
#include "mm/ptcache.h"
#include "kernel/spinlock.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/frameset.h"
#include "mm/mm_internal.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/protect_map.h"
#include "mm/set_memory.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "arch/pkrs.h"

#define BLOCK_SIZE  FRAMESET_SIZE
#define BLOCK_PAGES FRAMESET_FRAMES
#define MAX_BLOCKS  256 /* 512 MiB of non-direct-map tables */

static struct frameset blocks[MAX_BLOCKS] __pt_keyed;
static uint64_t nr_blocks __pt_keyed;
static uint64_t free_pages __pt_keyed;
/* True while new_block() keys a block. Not protection state: only the assert in
 * ptcache_alloc() reads it. */
static bool refilling;
/* Windows the refills and releases opened (ptcache_block_windows), and the PKRS the
 * last refill ran with. Not protection state: tests read them. */
static uint64_t block_windows;
static uint32_t refill_pkrs;

static void add_block(phys_addr_t pa)
{
	uint32_t w = pt_window_open();

	frameset_init(&blocks[nr_blocks++], pa);
	free_pages += BLOCK_PAGES;
	pt_window_close(w);
}

void ptcache_init(phys_addr_t boot_block)
{
	add_block(boot_block);
}

/* Takes a 2 MiB block from the frame allocator and keys it as a whole. Keying may
 * split the direct-map leaf over the block, which allocates tables: those come
 * from the split pool (mm/pgtable.c: from_pool), never from this cache. */
static struct frameset *new_block(void)
{
	const struct protect_row *row;
	phys_addr_t pa;
	int rc = 0;

	if (nr_blocks == MAX_BLOCKS)
		return NULL;
	pa = frame_alloc_run(BLOCK_PAGES, BLOCK_SIZE);
	if (!pa)
		return NULL;
	/* Invariant: the frame allocator never hands out a protected region (a live
	 * block or chunk among them); if a stray store to its free list made it, this
	 * block would hand out live tables a second time. */
	row = protect_region_of(pa, BLOCK_SIZE, NULL);
	if (row)
		panic("ptcache: the frame allocator handed out 0x%llx, inside \"%s\": its free "
		      "list is corrupt",
		      (unsigned long long)pa, protect_row_name(row));
	refilling = true;
	if (pgprot_key())
		rc = __set_memory(PAGE_OFFSET + pa, BLOCK_PAGES, PTE_PKEY(pgprot_key()),
				  PTE_PKEY_MASK);
	refilling = false;
	if (rc) {
		frame_free_run(pa, BLOCK_PAGES);
		return NULL;
	}
	add_block(pa);
	return &blocks[nr_blocks - 1];
}

static struct spinlock ptcache_lock = SPINLOCK_INIT("ptcache_lock");

/* A stretch of block work with the table key closed, whatever window the caller has
 * open (it stores into no table itself; set_memory opens windows of its own), and
 * the windows it opened counted as the cache's (ptcache_block_windows). */
struct key_closed {
	bool suspended;
	struct pt_door_counts c0;
};

static void key_closed_begin(struct key_closed *k)
{
	k->suspended = pt_window_suspend();
	pt_door_counts(&k->c0);
}

static void key_closed_end(const struct key_closed *k)
{
	struct pt_door_counts c1;

	pt_window_resume(k->suspended);
	pt_door_counts(&c1);
	block_windows += c1.windows - k->c0.windows;
}

/* new_block() with the key closed: it runs the frame allocator and set_memory. */
static struct frameset *refill(void)
{
	struct key_closed k;
	struct frameset *b;

	key_closed_begin(&k);
	refill_pkrs = pgprot_enforced() ? pkrs_read() : 0;
	b = new_block();
	if (!b)
		kprintf("ptcache_alloc: no 2 MiB block left for page tables\n");
	key_closed_end(&k);
	return b;
}

/* ptcache_alloc with ptcache_lock held. */
static phys_addr_t alloc_page(void)
{
	struct frameset *b = NULL;
	phys_addr_t pa;
	uint32_t w;

	/* Invariant: keying a new block never takes a page from this cache. The cycle
	 * pt_alloc -> ptcache_alloc -> new_block -> __set_memory -> split -> pt_alloc
	 * ends in the split pool because direct-map tables come from the pool. */
	if (refilling)
		panic("ptcache_alloc: called while new_block keys a block: a direct-map "
		      "split must take its tables from the pool");
	for (uint64_t i = 0; i < nr_blocks && !b; i++)
		if (blocks[i].nfree)
			b = &blocks[i];
	if (!b && !(b = refill()))
		return 0;
	w = pt_window_open();
	free_pages--;
	pa = frameset_take(b);
	pt_window_close(w);
	return pa;
}

phys_addr_t ptcache_alloc(void)
{
	uint64_t flags = spin_lock_irqsave(&ptcache_lock);
	phys_addr_t pa = alloc_page();

	spin_unlock_irqrestore(&ptcache_lock, flags);
	return pa;
}

static int64_t find_block(phys_addr_t pa)
{
	for (uint64_t i = 0; i < nr_blocks; i++)
		if (frameset_holds(&blocks[i], pa))
			return (int64_t)i;
	return -1;
}

/* Gives a wholly free block back to the frame allocator: it leaves the cache first
 * (from then on no table can live there), then loses its key. */
static void release_block(uint64_t i)
{
	phys_addr_t pa = blocks[i].pa;
	uint32_t w = pt_window_open();
	struct key_closed k;

	free_pages -= BLOCK_PAGES;
	blocks[i] = blocks[--nr_blocks];
	pt_window_close(w);
	key_closed_begin(&k); /* as for a refill: no table store from here */
	if (pgprot_key() && __set_memory(PAGE_OFFSET + pa, BLOCK_PAGES, 0, PTE_PKEY_MASK))
		panic("ptcache: cannot unkey block 0x%llx", (unsigned long long)pa);
	frame_free_run(pa, BLOCK_PAGES);
	key_closed_end(&k);
}

void ptcache_free(phys_addr_t pa)
{
	uint64_t flags = spin_lock_irqsave(&ptcache_lock);
	int64_t i = find_block(pa);
	uint32_t w = pt_window_open();

	/* Invariant: only pages handed out by ptcache_alloc come back, once. */
	if (i < 0 || frameset_put(&blocks[i], pa))
		panic("ptcache_free: 0x%llx is not a cache page in use", (unsigned long long)pa);
	free_pages++;
	pt_window_close(w);
	if (blocks[i].nfree == BLOCK_PAGES)
		release_block((uint64_t)i);
	spin_unlock_irqrestore(&ptcache_lock, flags);
}

void ptcache_set_level(phys_addr_t pa, int level)
{
	int64_t i = find_block(pa);
	uint32_t w;

	/* Invariant: a level is recorded only for a cache page in use. */
	ASSERT(i >= 0 && !frameset_is_free(&blocks[i], pa));
	w = pt_window_open();
	frameset_set_level(&blocks[i], pa, level);
	pt_window_close(w);
}

void ptcache_set_linked(phys_addr_t pa, bool linked)
{
	int64_t i = find_block(pa);

	/* Invariant: only a cache page in use is marked, inside a window. */
	ASSERT(i >= 0 && !frameset_is_free(&blocks[i], pa) && pt_window_is_open());
	frameset_set_linked(&blocks[i], pa, linked);
}

bool ptcache_table_linked(phys_addr_t pa)
{
	int64_t i = find_block(pa);

	return i >= 0 && frameset_linked(&blocks[i], pa);
}

int ptcache_table_level(phys_addr_t pa)
{
	int64_t i = find_block(pa);

	return i < 0 ? -1 : frameset_level(&blocks[i], pa);
}

bool ptcache_overlaps(phys_addr_t pa, uint64_t len)
{
	for (uint64_t i = 0; i < nr_blocks; i++)
		if (pa < blocks[i].pa + BLOCK_SIZE && pa + len > blocks[i].pa)
			return true;
	return false;
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
uint64_t ptcache_block_windows(void)
{
	return block_windows;
}
uint32_t ptcache_refill_pkrs(void)
{
	return refill_pkrs;
}
uint64_t ptcache_free_count(void)
{
	return free_pages;
}
