/* tests/test_pks_nmi.c - an NMI taken inside a #PF handler: each nested trap runs
 * with the default PKRS and gets its own interrupted value back (part of suite pks).
 *
 *   test code (PKRS = X) --read--> #PF handler (default) --self-NMI--> NMI handler
 *   NMI returns: the #PF handler's PKRS is the default again; the #PF handler maps
 *   the page and returns: the read completes with PKRS = X.
 */
#include "tests/pks_fixture.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/trap.h"

static struct {
	bool armed;
	uint64_t va;
	phys_addr_t frame;
	int pf_calls, nmi_calls;
	uint32_t pf_live, pf_saved;   /* PKRS in the #PF handler / saved by it */
	uint32_t nmi_live, nmi_saved; /* PKRS in the NMI handler / saved by it */
	uint32_t pf_after_nmi;	      /* #PF handler's PKRS once the NMI returned */
} nest;

static bool nest_nmi(struct trap_frame *f)
{
	if (!nest.armed || nest.pf_calls != 1)
		return false;
	nest.nmi_calls++;
	nest.nmi_live = pkrs_read();
	nest.nmi_saved = (uint32_t)f->pkrs;
	return true;
}

/* Handles the one expected fault: sends the NMI, waits for it, maps the page. */
static bool nest_pf(struct trap_frame *f)
{
	if (!nest.armed || read_cr2() != nest.va)
		return false;
	nest.pf_calls++;
	nest.pf_live = pkrs_read();
	nest.pf_saved = (uint32_t)f->pkrs;
	apic_send_nmi_self();
	for (uint64_t spin = 0; spin < 100000000 && !nest.nmi_calls; spin++)
		cpu_relax();
	nest.pf_after_nmi = pkrs_read();
	return vmap_map(nest.va, nest.frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0) == 0;
}

KTEST(pks, nmi_inside_a_page_fault_handler_each_restore_their_own_pkrs)
{
	static bool registered;
	uint32_t saved = pks_read(), interrupted;
	int key;
	uint64_t v;

	if (!pks_enabled())
		KTEST_SKIP(pks_unavailable_reason() ?: "PKS not enabled");
	if (!apic_ready())
		KTEST_SKIP("no usable local APIC to send a self-NMI");
	if (!registered)
		registered = !trap_register(VEC_NMI, nest_nmi) && !trap_register(VEC_PF, nest_pf);
	KASSERT_TRUE(registered);
	nest = (typeof(nest)){ .va = vmap_reserve(PAGE_SIZE, PAGE_SIZE), .frame = frame_alloc() };
	key = pks_key_alloc("nmi test", &pks_test_owner);
	KEXPECT_TRUE(key > 0 && nest.va && nest.frame);
	if (key <= 0 || !nest.va || !nest.frame)
		goto out;
	*(volatile uint64_t *)pa_to_va(nest.frame) = 0x4e4d49;
	KEXPECT_EQ(pks_key_set_default(&pks_test_owner, key, PKS_ACCESS_NONE), 0);
	KEXPECT_EQ(pks_set_access(&pks_test_owner, key, PKS_ACCESS_RW), 0);
	interrupted = pks_read();
	/* The handlers read `nest`: the barriers keep the stores around the access. */
	nest.armed = true;
	barrier();
	v = *(volatile uint64_t *)nest.va; /* #PF -> NMI -> back */
	barrier();
	nest.armed = false;
	KEXPECT_EQ(v, 0x4e4d49);
	KEXPECT_EQ(nest.pf_calls, 1);
	KEXPECT_EQ(nest.nmi_calls, 1);
	KEXPECT_EQ(nest.pf_live, pks_default());
	KEXPECT_EQ(nest.pf_saved, interrupted);
	KEXPECT_EQ(nest.nmi_live, pks_default());
	KEXPECT_EQ(nest.nmi_saved, pks_default());
	KEXPECT_EQ(nest.pf_after_nmi, pks_default());
	KEXPECT_EQ(pks_read(), interrupted);
	pkrs_write(saved);
	vmap_unmap(nest.va, PAGE_SIZE);
out:
	if (nest.frame)
		frame_free(nest.frame);
	if (key > 0)
		KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
}
