/* mm/pgprot.h - PKS write protection of page-table pages.
 *
 * Every table page is mapped in the direct map with the page-table key; the default
 * PKRS write-disables that key, so only code inside a write window (mm/pt_door.h:
 * pt_window_open/close, opened by the set helpers) can store into a table. The key is
 * mm's own (kernel/pks.h: only its owner changes its rights); the state that decides
 * the protection is sealed read-only or keyed at boot; one table of protected regions
 * (mm/protect_map.h) keeps every mapping call from making a writable alias; the trap
 * exit cannot reopen the key (arch/trap_pkrs.h). README "Threat model" has the whole
 * picture.
 *   pks_tables=on    (default with PKS) a write outside a window is fatal
 *   pks_tables=soft  reported and counted, let through once, protection stays on
 *   pks_tables=off   and CPUs without PKS: same code paths, no enforcement
 */
#ifndef MM_PGPROT_H
#define MM_PGPROT_H

#include "kernel/types.h"

enum pgprot_mode {
	PGPROT_OFF,
	PGPROT_SOFT,
	PGPROT_ON,
};

/* Chooses the mode (pks_tables=, PKS availability) and allocates the table key.
 * Before the direct map is built. */
void pgprot_setup(void);
/* Turns enforcement on once PKS is enabled on this CPU, guards the trap exit
 * (arch/trap_pkrs.h) and seals the protection state: __ro_after_init becomes
 * read-only and __pt_keyed (arch/pkrs.h) and the pool's bookkeeping carry the table
 * key, in every mapping. Once, at boot, on the kernel's own tables. */
void pgprot_enable(void);
/* True once pgprot_enable() sealed the protection state. */
bool pgprot_sealed(void);

/* The image ranges that hold protection state: [0] __ro_after_init (read-only once
 * sealed), [1] __pt_keyed (keyed once sealed). */
#define PGPROT_NR_STATE_RANGES 2
struct pgprot_range {
	uint64_t va, len; /* in the kernel image */
	bool keyed;	  /* else read-only */
};
void pgprot_state_ranges(struct pgprot_range r[PGPROT_NR_STATE_RANGES]);

enum pgprot_mode pgprot_mode(void);
const char *pgprot_mode_name(void);
/* Why the tables are not protected ("pks_tables=off", "CPU has no PKS"), or NULL. */
const char *pgprot_unprotected_reason(void);
/* The page-table protection key (0 when none). */
int pgprot_key(void);
/* True while writes outside a window fault (mode on or soft, PKS enabled). */
bool pgprot_enforced(void);
/* True when the PKRS value pkrs has a write window open (the table key writable)
 * while the tables are protected. */
bool pgprot_pkrs_opens_tables(uint32_t pkrs);

/* Constructor / destructor hooks of every table page (mm/pgtable.c). */
void pgprot_table_ctor(phys_addr_t pa, int level);
void pgprot_table_dtor(phys_addr_t pa, int level);

/* Switches between on and soft while enforcement is active (tests use it to
 * exercise soft mode in any protected boot), and to off and back (the bench,
 * tests/test_bench.c, times each operation both ways in one boot): off makes the
 * table key writable in the default PKRS and every window a no-op, as
 * pks_tables=off does, until the mode is set back. On this CPU and in the trap
 * default; other CPUs keep their PKRS. 0, or -EINVAL (not a protected boot). */
int pgprot_set_mode(enum pgprot_mode m);

/* Violations reported since boot (soft mode lets each through once). */
uint64_t pgprot_violations(void);
/* Soft-mode writes let through whose single step has not come back yet. */
unsigned int pgprot_rearms_pending(void);

#endif
