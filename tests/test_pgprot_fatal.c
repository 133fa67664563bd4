/* tests/test_pgprot_fatal.c - with pks_tables=on a stray write to a page table ends
 * the run with "write to a protected page table". The suite runs only when named
 * (ktest=pgprot_fatal); the host runner's matrix boot checks the report, the
 * failing exit and that the table was not changed (the case after the write would
 * print "not ok" if execution ever came back). */
#include "kernel/ktest.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"
#include "mm/frame.h"

KTEST_SUITE_EXPLICIT(31, pgprot_fatal);

KTEST(pgprot_fatal, stray_write_to_a_pte_table_is_fatal)
{
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE), *e;
	phys_addr_t pa = frame_alloc();
	int level;

	KASSERT_TRUE(pgprot_enforced() && pgprot_mode() == PGPROT_ON);
	KASSERT_EQ(vmap_map(va, pa, PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0), 0);
	e = pt_lookup(va, &level);
	KASSERT_TRUE(e != NULL);
	ktest_note("stray write to the pte at %p (maps 0x%llx)", (void *)e, (unsigned long long)va);
	*(volatile uint64_t *)e = 0; /* must never complete */
	ktest_fail(__FILE__, __LINE__, "the stray write completed: tables are writable");
}
