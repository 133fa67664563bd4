/* mm/checker.h - an independent walk of every live paging structure, and of the
 * state that decides whether the protection holds.
 *
 * It walks every root (every live table of the root level: the kernel's and any a
 * test made; pt_table_level() finds them, no list to forget) and verifies:
 *   1. every link points to a live table one level down; a guard marker sits only
 *      in a pte of the kernel's vmap area (mm/guard.h);
 *   2. no leaf is both writable and executable;
 *   3. every direct-map leaf maps va - PAGE_OFFSET;
 *   4. no writable leaf anywhere breaks the rule of a row of the protected-regions
 *      table (mm/protect_map.h): a table, a free pool or cache frame, the protection
 *      state, the kernel's read-only parts;
 *   5. every range of every live row keeps its rule in the direct map (and in the
 *      image, for a part of it): the keyed rows (split pool, table cache, pt_keyed
 *      state, pool bookkeeping) carry the table key, the read-only rows (kernel
 *      text+rodata, ro_after_init) are read-only;
 *   6. the direct map's 1G + 2M + 4K leaf bytes equal the RAM it maps;
 *   7. the per-level constructor/destructor counts equal the tables found;
 *   8. the live control state: CR0.WP, CR4.PKS, the current PKRS (no window open),
 *      the default PKRS and the trap entry's copy of it, the trap guard, no trap
 *      frame or soft-mode re-arm left pending, the state sealed.
 * The key checks (5) run in every mode where a table key exists, pks_tables=off
 * included (the tables are keyed there too); what is off by choice there (the
 * default leaves the key writable) is reported as a note, not a violation. Checks 4
 * and 5 name the row in each violation.
 */
#ifndef MM_CHECKER_H
#define MM_CHECKER_H

#include "kernel/types.h"

struct checker_result {
	uint64_t tables[5]; /* tables found per level, over every root */
	uint64_t roots;
	uint64_t protected; /* table pages whose direct-map leaf carries the key */
	uint64_t markers;   /* guard markers found (legal only in vmap-area ptes) */
	uint64_t violations;
	char first_violation[200]; /* the first one's text ("" when none) */
};

/* Runs every check, prints "# checker (<when>): ..." and every violation found (the
 * first few in detail). Returns the number of violations. */
uint64_t checker_run(const char *when, struct checker_result *out);

/* ktest after-suite hook: runs the checker after the suite. */
int checker_after_suite(const char *suite);

/* Debug mode: with it on, every store into a table (pt_set_entry, and each batch of
 * __pt_set_entry) is followed by the checks that hold at any instant (all but 6 and
 * 7, which a multi-step change passes through); a violation is printed with what
 * changed. Off by default; ktest=checker_every turns it on for the rest of a run. */
void checker_set_every_change(bool on);
bool checker_every_change(void);
/* Called by mm/pgtable.c after a table changed; `what` names the change. */
void checker_after_change(const char *what);
/* Checks made by the debug mode since boot, and violations it found that nobody
 * forgave. Those found during a suite fail its checker line (checker_after_suite). */
void checker_every_change_stats(uint64_t *runs, uint64_t *violations);
/* Forgets n of them: a case that made violations on purpose, once it checked them. */
void checker_every_change_forgive(uint64_t n);

#endif
