/* tests/test_redteam_state.c - the attack suite, part 2 (suite redteam, declared in
 * tests/test_redteam.c): trap exits that try to return into an open window.
 *
 *   attack                                         secure outcome
 *   a handler clears frame->pkrs (or a stray       the table key is write-disabled
 *   store into a frame on a known stack does)      after the return
 *   the same on a trap taken inside a window       the window comes back, nothing more
 */
#include "tests/test_redteam.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "arch/pkrs.h"
#include "arch/trap.h"
#include "arch/trap_pkrs.h"

#define VEC_REDTEAM 0xe4

/* --- trap exits ------------------------------------------------------------------ */

static struct {
	bool armed;
	uint32_t set_to; /* what the handler stores into frame->pkrs */
	int calls;
} exit_attack;

static bool open_on_exit(struct trap_frame *f)
{
	if (!exit_attack.armed)
		return false;
	exit_attack.calls++;
	f->pkrs = exit_attack.set_to;
	return true;
}

/* Raises the test vector with the handler storing set_to into frame->pkrs. */
static bool raise_exit_attack(uint32_t set_to)
{
	static bool registered;

	if (!registered)
		registered = trap_register(VEC_REDTEAM, open_on_exit) == 0;
	if (!registered)
		return false;
	exit_attack = (typeof(exit_attack)){ .armed = true, .set_to = set_to };
	__asm__ volatile("int %0" : : "i"(VEC_REDTEAM) : "memory");
	exit_attack.armed = false;
	return exit_attack.calls == 1;
}

KTEST(redteam, trap_exit_cannot_open_the_table_key)
{
	uint32_t saved = pks_read(), wd;

	REDTEAM_REQUIRE(redteam_unenforced());
	wd = PKRS_WD(pgprot_key());
	KEXPECT_TRUE(raise_exit_attack(0)); /* every key open */
	KEXPECT_NE(pks_read() & wd, 0);
	KEXPECT_FALSE(pgprot_pkrs_opens_tables(pks_read()));
	KEXPECT_TRUE(raise_exit_attack(saved & ~PKRS_KEY_MASK(pgprot_key())));
	KEXPECT_NE(pks_read() & wd, 0);
	KEXPECT_EQ(trap_pkrs_listed(), 0);
	pkrs_write(saved);
}

KTEST(redteam, trap_exit_gives_a_window_back_and_nothing_more)
{
	uint32_t saved = pks_read(), w, mask;

	REDTEAM_REQUIRE(redteam_unenforced());
	mask = PKRS_KEY_MASK(pgprot_key());
	w = pt_window_open();
	KEXPECT_TRUE(raise_exit_attack(saved & ~mask)); /* taken inside the window */
	KEXPECT_EQ(pks_read() & mask, 0);
	pt_window_close(w);
	KEXPECT_EQ(pks_read() & mask, saved & mask);
	KEXPECT_TRUE(raise_exit_attack(saved & ~mask)); /* the list forgot that frame */
	KEXPECT_EQ(pks_read() & mask, saved & mask);
	KEXPECT_EQ(trap_pkrs_listed(), 0);
	pkrs_write(saved);
}
