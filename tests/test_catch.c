/* tests/test_catch.c - unexpected-exception plumbing: the fault catcher sees the right
 * vector, error code and address for each kind of fault the CPU raises. */
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "arch/cpu.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"

KTEST_SUITE(05, exceptions, NULL);

/* Never mapped: the lowest page, and a hole well inside the kernel half. */
#define UNMAPPED_VA	0xffffc7fffff00000ULL
#define NONCANONICAL_VA 0x8000000000000000ULL /* non-canonical with 48 and 57 bits */

static const uint64_t rodata_word = 0x5741524445ULL;
/* A `ret` instruction in .data: executing it must fault (NX). */
static uint8_t data_ret[16] __aligned(16) = { 0xc3 };

KTEST(exceptions, read_of_unmapped_address_faults_not_present)
{
	struct fault f;

	catch_read64((const void *)UNMAPPED_VA, &f);
	KEXPECT_PF(&f, 0, UNMAPPED_VA);
	KEXPECT_EQ(f.cause, FAULT_OTHER);
	KEXPECT_STREQ(f.detail, "");
}

KTEST(exceptions, access_to_a_guard_marker_is_caught_with_cause_guard)
{
	uint64_t base = vmap_region_new("catch marker", PAGE_SIZE, PAGE_SIZE, VMAP_OWNER_FRAMES);
	struct fault f;

	KASSERT_TRUE(base != 0);
	KASSERT_EQ(guard_install(base, PAGE_SIZE), 0);
	catch_write64((void *)(base + 0x18), 1, &f);
	KEXPECT_GUARD_PF(&f, PF_W, base + 0x18);
	KEXPECT_STREQ(fault_cause_name(f.cause), "guard");
	KEXPECT_TRUE(ktest_contains(f.detail, "offset 0x18 in \"catch marker\""));
	KEXPECT_EQ(vmap_region_free(base), 0);
}

KTEST(exceptions, write_to_rodata_faults_present_write)
{
	struct fault f;

	catch_write64((void *)&rodata_word, 1, &f);
	KEXPECT_PF(&f, PF_P | PF_W, &rodata_word);
	KEXPECT_EQ(rodata_word, 0x5741524445ULL);
}

KTEST(exceptions, execute_from_data_faults_instruction_fetch)
{
	struct fault f;

	catch_exec(data_ret, &f);
	KEXPECT_PF(&f, PF_P | PF_I, data_ret);
}

KTEST(exceptions, noncanonical_access_raises_gp)
{
	struct fault f;

	catch_read64((const void *)NONCANONICAL_VA, &f);
	KEXPECT_FAULT(&f, VEC_GP);
	KEXPECT_EQ(f.error, 0);
}

static void do_ud2(void *arg)
{
	(void)arg;
	__asm__ volatile("ud2");
}

KTEST(exceptions, ud2_raises_invalid_opcode)
{
	struct fault f;

	catch_run(do_ud2, NULL, &f);
	KEXPECT_FAULT(&f, VEC_UD);
	KEXPECT_EQ(*(const uint16_t *)f.rip, 0x0b0f); /* the ud2 itself */
}

static void do_divide(void *arg)
{
	uint64_t zero = (uint64_t)arg, q;

	__asm__ volatile("xor %%edx, %%edx; mov $1, %%eax; divq %1" : "=a"(q) : "r"(zero) : "rdx");
	(void)q;
}

KTEST(exceptions, divide_by_zero_raises_de)
{
	struct fault f;

	catch_run(do_divide, (void *)0, &f);
	KEXPECT_FAULT(&f, VEC_DE);
}

KTEST(exceptions, catcher_resumes_and_reports_no_fault_for_good_access)
{
	struct fault f;
	uint64_t v = catch_read64(&rodata_word, &f);

	KEXPECT_NO_FAULT(&f);
	KEXPECT_EQ(v, 0x5741524445ULL);
}

static void nested_inner(void *arg)
{
	struct fault *inner = arg;

	catch_read64((const void *)UNMAPPED_VA, inner);
	__asm__ volatile("ud2");
}

KTEST(exceptions, nested_catches_each_see_their_own_fault)
{
	struct fault outer, inner;

	catch_run(nested_inner, &inner, &outer);
	KEXPECT_PF(&inner, 0, UNMAPPED_VA);
	KEXPECT_FAULT(&outer, VEC_UD);
}

static void read_unmapped(void *arg)
{
	(void)arg;
	(void)*(volatile const uint64_t *)UNMAPPED_VA;
}

/* The resume is outside whatever window the catch was armed in (kernel/catch.h): a
 * fault closes the table key, an access that does not fault leaves the window be. */
KTEST(exceptions, a_caught_fault_closes_the_window_the_catch_was_armed_in)
{
	struct fault f;
	uint32_t w;

	if (!pgprot_enforced())
		KTEST_SKIP(pgprot_unprotected_reason());
	w = pt_window_open();
	KEXPECT_EQ(catch_read64(&rodata_word, &f), 0x5741524445ULL);
	KEXPECT_NO_FAULT(&f);
	KEXPECT_TRUE(pt_window_is_open());
	catch_run(read_unmapped, NULL, &f);
	KEXPECT_PF(&f, 0, UNMAPPED_VA);
	KEXPECT_FALSE(pt_window_is_open());
	pt_window_close(w);
}
