/* tests/test_nmi.c - an NMI that no test expects is counted and reported, and the
 * interrupted code goes on; an expected one still reaches its handler (suite nmi).
 *
 * The NMIs are self-NMIs through the local APIC (arch/apic.h). NMIs on the idle
 * APs come from QEMU's monitor in the matrix (`nmi` reaches every CPU).
 */
#include "kernel/ktest.h"
#include "kernel/nmi.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/trap.h"

#define NMI_WAIT_SPINS 100000000 /* pause loops; a self-NMI lands long before */

static const char *nmi_skip(void)
{
	return apic_ready() ? NULL : "no usable local APIC to send a self-NMI";
}

KTEST_SUITE(08, nmi, nmi_skip);

/* Sends this CPU an NMI and spins until *seen changes; true when it did. */
static bool self_nmi_and_wait(const volatile uint32_t *seen)
{
	uint32_t before = *seen;

	apic_send_nmi_self();
	for (uint64_t spin = 0; spin < NMI_WAIT_SPINS && *seen == before; spin++)
		cpu_relax();
	return *seen != before;
}

/* Sends this CPU an NMI that no handler takes and spins until its count of
 * unexpected NMIs passes `before`; true when it did. */
static bool self_nmi_counted(uint32_t before)
{
	uint32_t id = apic_id();

	apic_send_nmi_self();
	for (uint64_t spin = 0; spin < NMI_WAIT_SPINS; spin++)
		if (trap_nmi_count(id) != before)
			return true;
		else
			cpu_relax();
	return false;
}

/* Before, such an NMI ended the run: reaching the lines after it is the point. */
KTEST(nmi, unexpected_self_nmi_is_counted_and_the_case_goes_on)
{
	uint32_t before = trap_nmi_count(apic_id());

	KASSERT_TRUE(self_nmi_counted(before));
	KEXPECT_EQ(trap_nmi_count(apic_id()), before + 1);
	KEXPECT_TRUE(nmi_pending());
}

KTEST(nmi, pending_count_is_printed_once)
{
	uint32_t before = trap_nmi_count(apic_id());

	KASSERT_TRUE(self_nmi_counted(before));
	KEXPECT_TRUE(nmi_pending());
	KEXPECT_GE(nmi_report_pending(), 1);
	KEXPECT_FALSE(nmi_pending());
	KEXPECT_EQ(nmi_report_pending(), 0);
}

static struct {
	bool armed;
	volatile uint32_t calls;
} expected;

static bool expected_nmi(struct trap_frame *f)
{
	(void)f;
	if (!expected.armed)
		return false;
	expected.calls++;
	return true;
}

KTEST(nmi, expected_nmi_reaches_its_handler_and_is_not_counted)
{
	static bool registered;
	uint32_t before = trap_nmi_count(apic_id());

	if (!registered)
		registered = trap_register(VEC_NMI, expected_nmi) == 0;
	KASSERT_TRUE(registered);
	expected.calls = 0;
	expected.armed = true;
	barrier();
	KEXPECT_TRUE(self_nmi_and_wait(&expected.calls));
	barrier();
	expected.armed = false;
	KEXPECT_EQ(expected.calls, 1);
	KEXPECT_EQ(trap_nmi_count(apic_id()), before);
}
