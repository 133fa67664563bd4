/* tests/test_pool.c - the split pool (being written). */
#include "kernel/ktest.h"

KTEST_SUITE(21, pool, NULL);
