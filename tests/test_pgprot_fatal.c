/* tests/test_pgprot_fatal.c - with pks_tables=on a stray write to a page table ends
 * the run with "write to a protected page table". The suite runs only when named
 * (ktest=pgprot_fatal); the host runner's matrix boot checks the report, the
 * failing exit, and that the table was not changed: the write stores a value other
 * than the one there (an empty entry gets REDTEAM_HARMLESS_BIT, non-present either
 * way) and the report prints what the entry holds after the blocked write, which
 * must still be 0. The case after the write would print "not ok" if execution ever
 * came back. */
#include "tests/test_redteam.h"
#include "kernel/ktest.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"

KTEST_SUITE_EXPLICIT(31, pgprot_fatal);

KTEST(pgprot_fatal, stray_write_to_a_pte_table_is_fatal)
{
	uint64_t va = vmap_reserve(2 * MiB, 2 * MiB), *e;
	phys_addr_t pa = frame_alloc();
	volatile uint64_t *empty;
	int level;

	KASSERT_TRUE(pgprot_enforced() && pgprot_mode() == PGPROT_ON);
	KASSERT_EQ(vmap_map(va, pa, PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0), 0);
	e = pt_lookup(va, &level);
	KASSERT_TRUE(e != NULL && level == PT_LEVEL_PTE);
	empty = e + 1; /* va is 2 MiB aligned: e is entry 0, entry 1 maps nothing */
	KASSERT_EQ(*empty, 0);
	ktest_note("stray write of 0x%llx to the empty pte at %p (0x%llx is not mapped)",
		   (unsigned long long)REDTEAM_HARMLESS_BIT, (void *)empty,
		   (unsigned long long)(va + PAGE_SIZE));
	*empty = REDTEAM_HARMLESS_BIT; /* must never complete */
	ktest_fail(__FILE__, __LINE__, "the stray write completed: tables are writable");
}
