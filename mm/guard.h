/* mm/guard.h - guard markers: page-table entries of the vmap area that must fault.
 *
 * A guarded range does not need a region of its own with a hole around it: a region
 * (mm/vmap.h) spans the whole range, and each 4 KiB page that must fault holds
 * GUARD_MARKER in its pte. The marker is not present (P = 0), so the CPU faults on
 * any access to it and ignores every other bit (SDM Vol. 3A, 4.7); Warden's fault
 * path reads the entry back and reports "guard page hit" instead of a bare #PF.
 *
 *   entry value          the CPU sees      Warden sees
 *   0                    not present       empty
 *   GUARD_MARKER         not present       guard marker (pte level, vmap area only)
 *   any other P = 0      not present       not Warden's (a stray store; the checker
 *                                          and the red-team tests look for those)
 *   P = 1                a leaf or a link  mapped
 *
 * Only this file's walker stores the marker (pt_set_entry refuses it from anyone
 * else), and only at the pte level, through one write window per call. Semantics,
 * after Linux's lightweight guard pages (MADV_GUARD_INSTALL/REMOVE):
 *   - install zaps what is mapped first (the frame goes back to the region's owner
 *     after the TLB flush), then writes markers; a 2M/1G leaf around a marker
 *     position is split (tables from the table cache, keyed like every table);
 *   - no nesting: installing over markers changes nothing; one remove clears them;
 *   - remove clears markers only (mapped pages and empty entries stay as they are),
 *     frees tables left empty and merges a table back into one large leaf when its
 *     512 entries agree again; ranges without marker positions leave large leaves
 *     alone;
 *   - mapping or populating over a marker fails (-EEXIST): the marker wins;
 *   - dropping pages (vmap_drop) keeps markers; freeing the region clears them.
 * Ranges must lie inside vmap regions and may span several adjacent ones.
 */
#ifndef MM_GUARD_H
#define MM_GUARD_H

#include "kernel/types.h"
#include "arch/trap.h"

/* "GUARD" in the frame-number bits, P = 0: no empty entry and no bit flip of one. */
#define GUARD_MARKER (0x4755415244ULL << 12)

static inline bool guard_is_marker(uint64_t e)
{
	return e == GUARD_MARKER;
}

/* Puts markers on every 4 KiB page of [va, va+size) (page aligned, inside vmap
 * regions), zapping mapped pages first. Returns 0, -EINVAL, -E2BIG when the range
 * would need more than 64 new tables or splits (128 MiB of vmap space without pte
 * tables; install it in parts), or -ENOMEM when a table cannot be had: nothing
 * changed on any error (every table is made before the first marker, and what a call
 * that then fails made, and only that, is undone). One write window; flushes every
 * page it zapped. */
int guard_install(uint64_t va, uint64_t size);
/* The first word of guard_install's record of the tables it made (its count): what a
 * stray store would aim at (suite redteam). */
uint64_t *guard_made_attack_target(void);
/* Clears the markers in [va, va+size) (same rules), touching nothing else; frees
 * tables left empty, merges tables whose entries agree again. 0 or -EINVAL. */
int guard_remove(uint64_t va, uint64_t size);
/* Splits the 2M or 1G leaf that maps va one level down (same memory, same
 * attributes) and flushes it. 0, -ENOENT when va has no large leaf, -ENOMEM. */
int guard_split_leaf(uint64_t va);
/* True when some pte of [va, va+size) holds a marker. */
bool guard_range_has_marker(uint64_t va, uint64_t size);
/* True when the kernel's pte for va holds a marker. */
bool guard_marker_at(uint64_t va);

/* For mm/pgtable.c's store checks: true only while the walker stores markers. */
bool guard_store_allowed(void);

/* When the trap in f (CR2 = cr2) hit a marker, writes the one-line report ("guard
 * page hit: <access> at <addr>, offset <off> in <region>, RIP <rip>") into buf and
 * returns true: a #PF without P on a marker, or a #DF whose CR2 is a marker just
 * below the interrupted RSP (a stack overflow: the CPU could not push the #PF frame
 * onto the overflowed stack, SDM Vol. 3A, 6.15 table 6-5). Reads only. */
bool guard_describe(const struct trap_frame *f, uint64_t cr2, char *buf, size_t size);

/* Registers the #PF and #DF handlers that print that report and end the run. */
void guard_init(void);

#endif
