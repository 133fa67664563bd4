/* tests/test_smp_util.h - shared by the multi-CPU tests (tests/test_smp_work.c,
 * tests/test_smp_tlb.c, tests/test_smp_stress.c, tests/test_smp_preempt.c). */
#ifndef TESTS_TEST_SMP_UTIL_H
#define TESTS_TEST_SMP_UTIL_H

#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/pks.h"
#include "kernel/smp.h"
#include "kernel/smp_ipi.h"

/* Skips (with the reason) without a second CPU; fails when APs should be online
 * but none is. */
#define NEED_ONLINE_APS()                              \
	do {                                           \
		if (smp_skip_reason())                 \
			KTEST_SKIP(smp_skip_reason()); \
		KASSERT_TRUE(smp_nr_online() > 1);     \
	} while (0)

#define NEED_PKS()                                                                 \
	do {                                                                       \
		if (!pks_enabled())                                                \
			KTEST_SKIP(pks_unavailable_reason() ?: "PKS not enabled"); \
	} while (0)

/* The highest online AP's index (0 when none is online). */
static inline int last_online_ap(void)
{
	int last = 0;

	for (int i = 1; i < NR_CPUS; i++)
		if (smp_online(i))
			last = i;
	return last;
}

/* A wall-clock bound for a multi-CPU case that passes with 4 CPUs in base_ms,
 * stretched by online/4 beyond that. Honest only as a hang detector: with N CPUs
 * the work through one shared lock (a test lock, round_lock) grows
 * with N, and under QEMU's TCG N vCPUs share the host's few cores, each getting
 * about cores/N of the time. On hardware a case that passes never nears it. */
static inline uint64_t smp_test_bound_ms(uint64_t base_ms)
{
	int n = smp_nr_online();

	return n > 4 ? base_ms * (uint64_t)n / 4 : base_ms;
}

/* A body for every CPU: the key *arg is access-disabled in this CPU's PKRS. */
static inline void check_key_closed(void *arg)
{
	KEXPECT_EQ(pks_access_of(pks_read(), *(int *)arg), PKS_ACCESS_NONE);
}

#endif
