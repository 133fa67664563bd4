/* mm/checker.h - an independent walk of every live paging structure.
 *
 * From the kernel root it visits every table and leaf and verifies:
 *   1. each table page's direct-map leaf carries the page-table key;
 *   2. no writable leaf outside the direct map maps a table page;
 *   3. every split-pool chunk and table-cache block is keyed as a whole;
 *   4. no leaf is both writable and executable;
 *   5. the direct map's 1G + 2M + 4K leaf bytes equal the RAM it maps;
 *   6. the per-level constructor/destructor counts equal the tables found.
 * Checks 1 and 3 apply while the tables are protected (pks_tables=on|soft).
 */
#ifndef MM_CHECKER_H
#define MM_CHECKER_H

#include "kernel/types.h"

struct checker_result {
	uint64_t tables[5]; /* tables found per level */
	uint64_t protected; /* table pages whose direct-map leaf carries the key */
	uint64_t violations;
};

/* Runs the walk, prints "# checker (<when>): ..." and every violation found (the
 * first few in detail). Returns the number of violations. */
uint64_t checker_run(const char *when, struct checker_result *out);

/* ktest after-suite hook: runs the checker after the suite. */
int checker_after_suite(const char *suite);

#endif
