/* mm/pt_door.h - the one door for stores into page tables: the PKS write window
 * and the set helpers. mm/pt_door.c is the only code that opens the page-table key
 * (mm/pgprot.h) in PKRS, and the set helpers are the only code that store into a
 * table; each checks the store first and stores nothing on a refusal. The policy
 * (which key, which mode, what a violation does) stays in mm/pgprot.c. Every user
 * of the tables needs this door, so mm/pgtable.h includes this header. */
#ifndef MM_PT_DOOR_H
#define MM_PT_DOOR_H

#include "kernel/types.h"

/* Opens a write window for a batch of stores: the table key becomes writable in
 * PKRS on this CPU. Windows nest; IRQ-safe because every trap entry loads the
 * default PKRS. Returns the PKRS before (0 and no change when the tables are not
 * protected). Panics past PT_WINDOW_NEST_MAX levels. */
uint32_t pt_window_open(void);
/* Ends the innermost window: closes the table key unless that window was nested in
 * another (as this CPU's keyed record says, not `saved`, which only pairs the calls
 * for the reader). Leaves the other keys' bits alone (pks_key_free inside a window
 * stays). Nothing when the key is closed already. */
void pt_window_close(uint32_t saved);

/* The windows open on a CPU's current thread (keyed; see mm/pt_door.c). */
#define PT_WINDOW_NEST_MAX 64
struct pt_window_nest {
	uint32_t depth;
	bool suspended;	   /* pt_window_suspend closed the key (interrupts off till resume) */
	uint64_t was_open; /* bit i: the key was writable when level i opened */
};
/* For a thread switch, inside the switch's own window (its innermost level, which
 * the load of next's PKRS ends): stores this CPU's record without that level into
 * *save (prev's keyed slot) and loads *load (next's). */
void pt_window_nest_switch(struct pt_window_nest *save, const struct pt_window_nest *load);
/* After a thread switch loaded next's PKRS (its table key closed, kernel/pks.c:
 * pks_load) and its record: opens the key again when that record holds a window (a
 * thread switched out inside one gets it back), counted as a window opened. */
void pt_window_reopen(void);
/* A caught fault resumes with the key closed (kernel/catch.c): every window open on
 * this CPU is over, a suspended one too, so its record is emptied (the later closes
 * find the key closed, a later resume opens nothing). */
void pt_window_forget_all(void);
/* Levels in this CPU's record (tests). */
uint32_t pt_window_depth(void);
/* Closes this CPU's open window while code that stores into no table runs (a
 * table-cache refill or release: the frame allocator, set_memory with windows of
 * its own, the console). Needs interrupts off. Returns true when it closed one
 * (false: no window open, or the tables not protected; nothing changes). */
bool pt_window_suspend(void);
/* Opens the window pt_window_suspend closed again, counted as a window opened. Only
 * a suspension recorded in keyed per-CPU state is undone: `closed` (the suspend's
 * result) cannot open the key by itself. */
void pt_window_resume(bool closed);
/* What protection has cost this CPU since boot, as counts a test may assert (a
 * count is deterministic, a time is not): PKRS loads (arch/pkrs.h: every
 * pkrs_write) and write windows opened (a pt_window_open that loaded PKRS; a
 * nested one loads nothing and is not counted). Every table operation (map or
 * unmap a range, set_memory, split, merge, building the direct map, guard
 * install/remove) opens at most one window per call, plus the table cache's when
 * the call refills or releases a 2 MiB cache block (mm/ptcache.h: those run with
 * the key closed and open windows of their own, counted by ptcache_block_windows). */
struct pt_door_counts {
	uint64_t pkrs_writes;
	uint64_t windows;
};
void pt_door_counts(struct pt_door_counts *c);

/* True when stores into tables are possible right now (window open, or no
 * enforcement). */
bool pt_window_is_open(void);
/* The PKRS value pkrs with the table key writable (pkrs itself when the tables are
 * not protected): what a trapped write resumes with when pks_tables=soft lets it
 * through once (mm/pgprot_fault.c). Loads nothing. */
uint32_t pt_window_opened(uint32_t pkrs);

/* Stores v into the entry at p, inside a write window (opened here if none is
 * open). Refuses, storing nothing: -EINVAL when p is not an entry of a live table
 * (pt_table_level), -EPERM when v links anything but a live table one level down,
 * or a table another entry already links (a table has one parent: reported on the
 * console; p itself may store its own link again), or is a leaf that would make a
 * writable alias of a protected region (mm/protect_map.h: protect_leaf_allowed) or
 * writable and executable (W^X), or is a guard marker stored by anything but the
 * guard walker or above the pte level (mm/guard.h), or is any other not-present
 * value (stray bits with P = 0). Does not flush the TLB. */
int pt_set_entry(uint64_t *p, uint64_t v);
/* Batch form of pt_set_entry, same checks: the caller holds a window open
 * (asserted). */
int __pt_set_entry(uint64_t *p, uint64_t v);
/* Fills the n empty slots p[0..n) of one live table (all 0: no link, no guard
 * marker) with leaves of the table's level, first + i * the level's size: the map of
 * a large leaf split (p a fresh table, n 512), or a run of pages mapped at once. The
 * checks of __pt_set_entry, made once for the whole run (the leaves share their
 * attributes, so a protected region refuses one exactly when it meets the run).
 * The caller holds a window open (asserted). 0; -EINVAL (no live table, the run
 * past the table's end, a slot not 0, first no leaf) or -EPERM (W^X, a region's
 * rule): nothing stored then. */
int __pt_fill_leaves(uint64_t *p, int n, uint64_t first);
/* Empties the slots p[0..n) of one live table, each a present leaf (an unmap of a
 * run of pages; no link is dropped, so no parent record changes). The caller holds a
 * window open (asserted) and flushes. 0, or -EINVAL (no live table, the run past its
 * end, a slot that is no present leaf): nothing stored then. */
int __pt_clear_leaves(uint64_t *p, int n);
/* Changes the attributes of the present leaves p[0..n) of one live table to
 * (entry & ~clear) | set (set and clear: bits of PTE_PROT_MASK only, so each leaf
 * keeps what it maps): the checks of __pt_set_entry, made once per run of leaves
 * that map contiguous memory alike. The caller holds a window open (asserted).
 * 0; -EINVAL (no live table, past its end, an entry no present leaf, other bits)
 * or -EPERM (W^X, a region's rule): nothing stored then. */
int __pt_set_leaves(uint64_t *p, int n, uint64_t set, uint64_t clear);
/* Zeroes a fresh table page inside a write window: a pool or table-cache page that
 * is no live table (the constructor clears before it records the level). 0, or
 * -EPERM (nothing zeroed) for a live table or any other page. */
int pt_clear_table(phys_addr_t pa);

#endif
