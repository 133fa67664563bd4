/* kernel/ktest_filter.h - which suites ktest= selects (the harness's own; ktest.c).
 * The filter is a comma-separated list of suite names; an empty one selects every
 * suite that is not explicit-only. */
#ifndef KERNEL_KTEST_FILTER_H
#define KERNEL_KTEST_FILTER_H

#include "kernel/ktest.h"

/* The filter as given to ktest_select() ("" before). */
const char *ktest_filter(void);
/* True when the filter selects suite s. */
bool ktest_filter_selects(const struct ktest_suite *s);
/* Number of registered suites the filter selects. */
int ktest_filter_nr_selected(void);
/* Copies the k-th (from 0) word of the filter that names no suite into word
 * (truncated to len, NUL-terminated); false when there are k or fewer. */
bool ktest_filter_unknown(int k, char *word, size_t len);

#endif
