/* tests/test_checker.c - the page-table checker on the tables as booted, before any
 * test has touched them; after every suite the harness runs it again. */
#include "kernel/ktest.h"
#include "mm/checker.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"

KTEST_SUITE(00, checker, NULL);

KTEST(checker, boot_tables_pass_every_check)
{
	struct checker_result r;

	KEXPECT_EQ(checker_run("boot", &r), 0);
	KEXPECT_EQ(r.tables[pt_root_level()], 1);
	if (pgprot_enforced()) {
		uint64_t total = 0;

		for (int l = 0; l < 5; l++)
			total += r.tables[l];
		KEXPECT_EQ(r.protected, total);
	}
}
