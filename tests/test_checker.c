/* tests/test_checker.c - the page-table checker on the tables as booted, before any
 * test has touched them; after every suite the harness runs it again. The attacks it
 * must see are in tests/test_redteam_checker.c. Suite checker_every (only when named
 * in ktest=) turns the debug mode on for the rest of the run. */
#include "kernel/ktest.h"
#include "mm/checker.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"

KTEST_SUITE(00, checker, NULL);

KTEST(checker, boot_tables_pass_every_check)
{
	struct checker_result r;
	uint64_t total = 0;

	KEXPECT_EQ(checker_run("boot", &r), 0);
	KEXPECT_STREQ(r.first_violation, ""); /* else: the first one, naming its rule */
	KEXPECT_EQ(r.tables[pt_root_level()], 1);
	KEXPECT_EQ(r.roots, 1);
	for (int l = 0; l < 5; l++)
		total += r.tables[l];
	/* pks_tables=off keys the tables too: only a CPU without PKS has no key. */
	KEXPECT_EQ(r.protected, pgprot_key() ? total : 0);
	KEXPECT_TRUE(pgprot_sealed());
}

KTEST_SUITE_EXPLICIT(01, checker_every);

KTEST(checker_every, turns_on_the_check_after_every_table_change)
{
	uint64_t runs, found;

	checker_set_every_change(true);
	KEXPECT_TRUE(checker_every_change());
	checker_every_change_stats(&runs, &found);
	ktest_note("from here on every table store is followed by a check (%llu so far)",
		   (unsigned long long)runs);
	KEXPECT_EQ(found, 0);
}
