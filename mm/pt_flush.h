/* mm/pt_flush.h - one TLB shootdown round per table operation, however many
 * entries it changes, and nothing it frees reused before that round.
 *
 * A table operation (vmap unmap/drop, guard install/remove, a vmap region's free)
 * opens a batch with pt_flush_begin() under pt_lock, records every address
 * range whose translation it took away or weakened (pt_flush_add), and hands the
 * table pages and vmap frames it frees to the batch instead of freeing them
 * (pt_flush_free_table, pt_flush_free_frames). pt_flush_end() of the outermost
 * batch then flushes the union of the ranges once, here and on every other online
 * CPU (flush_tlb_range: INVLPG up to SMP_FLUSH_PAGES_MAX pages, else the whole
 * TLB), and only then gives the pages back: no CPU can still walk a freed table or
 * reach a freed frame through a stale entry (SDM Vol. 3A, 4.10.4.1 and 4.10.4.3:
 * INVLPG and a CR4.PGE toggle also drop the paging-structure caches).
 *
 * What needs no round: an entry that was not present (a new leaf or marker in an
 * empty slot, a new table linked into an empty upper entry). A CPU caches neither
 * TLB nor paging-structure-cache entries from a not-present entry (SDM Vol. 3A,
 * 4.10.2.3, 4.10.3.1), and every table freed earlier was flushed before its free,
 * so no cache names a table that is no longer linked.
 *
 *   store, store, ... (entries zapped; tables and frames queued)
 *   pt_flush_end: one round over [lo, hi) ----> every CPU flushed
 *   queued tables -> pool / cache, queued frames -> frame allocator
 *
 * Batches nest (a region free drops its pages and removes its markers in one
 * round); only the outermost end flushes. A queue that fills up flushes early (one
 * more round): correctness never depends on the queue's size. set_memory keeps its
 * own one-flush list (mm/set_memory.c) and flushes before it returns, inside a batch
 * too: a key change (a page that becomes a table) must not wait.
 */
#ifndef MM_PT_FLUSH_H
#define MM_PT_FLUSH_H

#include "kernel/types.h"

#define PT_FLUSH_TABLES_MAX 64	/* table pages queued per round */
#define PT_FLUSH_FRAMES_MAX 512 /* runs of frames queued per round */

/* Opens (or nests into) this CPU's batch. Needs pt_lock held and a write window open
 * until the matching pt_flush_end (the batch is page-table-keyed). */
void pt_flush_begin(void);
/* Ends a batch; the outermost end flushes the recorded range on every CPU (one
 * round, none when nothing was recorded), then frees what was queued. */
void pt_flush_end(void);
/* True while a batch is open (pt_lock held). */
bool pt_flush_open(void);
/* Records [start, end) as holding translations that must go. Panics outside a
 * batch (a change nobody would flush). */
void pt_flush_add(uint64_t start, uint64_t end);
/* Queues the unlinked table page pa (of `level`) for pt_free after the flush;
 * its range must have been added. Panics outside a batch. */
void pt_flush_free_table(phys_addr_t pa, int level);
/* Queues [pa, pa + size) of frame-allocator frames for frame_free after the
 * flush; outside a batch frees them now (the caller flushed). Panics naming a
 * frame that was not allocated. */
void pt_flush_free_frames(phys_addr_t pa, uint64_t size);
/* The batch's range end and its first frame run's pa: words a stray store would aim
 * at (the attack suite, tests/test_redteam_review.c). Changes nothing. */
void pt_flush_attack_targets(uint64_t **range_hi, uint64_t **run_pa);

#endif
