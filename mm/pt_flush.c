/* mm/pt_flush.c - the batched shootdown of mm/pt_flush.h. */
#include "mm/pt_flush.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/pt_lock.h"
#include "kernel/panic.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"

struct frame_run {
	phys_addr_t pa;
	uint64_t size;
};

/* Under pt_lock: the one open batch (the lock's owner's). Page-table-keyed and
 * written only inside the caller's window: its range decides what the round flushes
 * and its queues what is freed after it, so a stray store must not reach them. */
static struct {
	int depth;
	uint64_t lo, hi; /* the union of the added ranges; lo == hi: none */
	int nr_tables, nr_runs;
	phys_addr_t tables[PT_FLUSH_TABLES_MAX];
	int levels[PT_FLUSH_TABLES_MAX];
	struct frame_run runs[PT_FLUSH_FRAMES_MAX];
} batch __pt_keyed;

bool pt_flush_open(void)
{
	return spin_held(&pt_lock) && batch.depth > 0;
}

void pt_flush_begin(void)
{
	/* Invariant: the batch is pt_lock's: one CPU fills it at a time. */
	if (!spin_held(&pt_lock))
		panic("pt_flush_begin: pt_lock not held");
	/* Invariant: a batch is written inside its caller's window (it is keyed). */
	ASSERT(pt_window_is_open());
	batch.depth++;
}

/* Panics unless a batch is open: a change outside one would not be flushed. */
static void need_batch(const char *who)
{
	if (!pt_flush_open())
		panic("%s: no flush batch open (pt_flush_begin under pt_lock)", who);
}

/* frame_free_run of [pa, pa + size), or a panic naming the run. */
static void free_frames_now(phys_addr_t pa, uint64_t size)
{
	if (frame_free_run(pa, size / PAGE_SIZE))
		panic("pt_flush: frames 0x%llx + 0x%llx were not allocated", (unsigned long long)pa,
		      (unsigned long long)size);
}

/* The flush and the frees the batch owes so far; the batch stays open. */
static void settle(void)
{
	uint64_t lo = batch.lo, hi = batch.hi;

	batch.lo = batch.hi = 0;
	if (lo != hi)
		flush_tlb_range(lo, hi);
	while (batch.nr_tables > 0) {
		batch.nr_tables--;
		pt_free(batch.tables[batch.nr_tables], batch.levels[batch.nr_tables]);
	}
	while (batch.nr_runs > 0) {
		batch.nr_runs--;
		free_frames_now(batch.runs[batch.nr_runs].pa, batch.runs[batch.nr_runs].size);
	}
}

void pt_flush_end(void)
{
	/* Invariant: every end has its begin, on the CPU that holds pt_lock. */
	ASSERT(pt_flush_open());
	if (batch.depth == 1)
		settle();
	batch.depth--;
}

void pt_flush_add(uint64_t start, uint64_t end)
{
	need_batch("pt_flush_add");
	start = ALIGN_DOWN(start, PAGE_SIZE);
	end = ALIGN_UP(end, PAGE_SIZE);
	if (batch.lo == batch.hi) {
		batch.lo = start;
		batch.hi = end;
	} else {
		batch.lo = MIN(batch.lo, start);
		batch.hi = MAX(batch.hi, end);
	}
}

void pt_flush_free_table(phys_addr_t pa, int level)
{
	need_batch("pt_flush_free_table");
	/* Invariant: the table's range was added, so the flush ahead covers it. */
	ASSERT(batch.lo != batch.hi);
	if (batch.nr_tables == PT_FLUSH_TABLES_MAX) {
		settle(); /* one more round, which covered this table too */
		pt_free(pa, level);
		return;
	}
	batch.tables[batch.nr_tables] = pa;
	batch.levels[batch.nr_tables++] = level;
}

void pt_flush_free_frames(phys_addr_t pa, uint64_t size)
{
	struct frame_run *last = batch.nr_runs ? &batch.runs[batch.nr_runs - 1] : NULL;

	if (!pt_flush_open()) {
		free_frames_now(pa, size); /* the caller flushed */
		return;
	}
	if (last && last->pa + last->size == pa) {
		last->size += size;
	} else if (batch.nr_runs == PT_FLUSH_FRAMES_MAX) {
		settle(); /* one more round, which covered these frames too */
		free_frames_now(pa, size);
	} else {
		batch.runs[batch.nr_runs++] = (struct frame_run){ pa, size };
	}
}

void pt_flush_attack_targets(uint64_t **range_hi, uint64_t **run_pa)
{
	*range_hi = &batch.hi;
	*run_pa = &batch.runs[0].pa;
}
