/* tests/test_pgtable.c - page tables (being written). */
#include "kernel/ktest.h"

KTEST_SUITE(22, pgtable, NULL);
