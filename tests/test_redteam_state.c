/* tests/test_redteam_state.c - the attack suite, part 2 (suite redteam, declared in
 * tests/test_redteam.c): stray stores into the protection state, and trap exits that
 * try to return into an open window.
 *
 *   attack                                         secure outcome
 *   a store into any page of the keyed state       #PF P|W|PK (0x23) at that address,
 *   (default PKRS, trap default, key owners,       through the image and through the
 *   thread PKRS slots, pool/cache bookkeeping,     direct map; the value unchanged
 *   soft-mode records, mode, counts)
 *   a store into the pool's chunk array            the same
 *   a store into the read-only-after-boot state    #PF P|W (0x3) in every mode
 *   (table key, enforcement flag, trap guard)
 *   a handler clears frame->pkrs (or a stray       the table key is write-disabled
 *   store into a frame on a known stack does)      after the return
 *   the same on a trap taken inside a window       the window comes back, nothing more
 */
#include "tests/test_redteam.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "mm/dmap.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "arch/pkrs.h"
#include "arch/trap.h"
#include "arch/trap_pkrs.h"

#define VEC_REDTEAM 0xe4
#define PF_RO_WRITE (PF_P | PF_W)
#define PF_PK_WRITE (PF_P | PF_W | PF_PK)

/* --- stray stores into the protection state -------------------------------------- */

/* Stores a different value into the word at p: true when the store faulted with
 * exactly `err` at p and left the word as it was. A store that lands is undone
 * (inside a window: it may have hit keyed state) and fails the case. */
static bool attack_word(volatile uint64_t *p, uint32_t err)
{
	uint64_t old = *p;
	struct fault f;
	uint32_t w;

	catch_write64(p, old ^ (1ULL << 63), &f);
	if (*p != old) {
		ktest_fail(__FILE__, __LINE__, "the store to %p landed", (void *)p);
		w = pt_window_open();
		*p = old;
		pt_window_close(w);
		return false;
	}
	if (!f.hit || f.vector != VEC_PF || f.error != err || f.addr != (uint64_t)p) {
		ktest_fail(__FILE__, __LINE__,
			   "store to %p: %s error 0x%llx at 0x%llx, want #PF 0x%x", (void *)p,
			   f.hit ? trap_name(f.vector) : "no fault", (unsigned long long)f.error,
			   (unsigned long long)f.addr, err);
		return false;
	}
	return true;
}

/* Attacks one word of every page of [va, va+len) through the image and through the
 * direct map; returns how many stores were refused as expected. */
static uint64_t attack_range(uint64_t va, uint64_t len, uint32_t err)
{
	uint64_t refused = 0;

	for (uint64_t off = 0; off < len; off += PAGE_SIZE) {
		uint64_t word = off + (off / PAGE_SIZE * 72) % PAGE_SIZE;

		refused += attack_word((volatile uint64_t *)(va + word), err);
		refused += attack_word(pa_to_va(kernel_image_pa(va + word)), err);
	}
	return refused;
}

KTEST(redteam, stray_store_into_the_keyed_state_faults_with_pk)
{
	struct pgprot_range r[PGPROT_NR_STATE_RANGES];
	uint64_t refused;

	REDTEAM_REQUIRE(redteam_unenforced());
	pgprot_state_ranges(r);
	KEXPECT_TRUE(pgprot_sealed());
	KEXPECT_TRUE(r[1].keyed && r[1].len > 0);
	refused = attack_range(r[1].va, r[1].len, PF_PK_WRITE);
	ktest_note("%llu stores into %llu keyed pages refused", (unsigned long long)refused,
		   (unsigned long long)(r[1].len / PAGE_SIZE));
	KEXPECT_EQ(refused, 2 * r[1].len / PAGE_SIZE);
	KEXPECT_TRUE(attack_word((volatile uint64_t *)&trap_pkrs_default, PF_PK_WRITE));
	KEXPECT_TRUE(attack_word((volatile uint64_t *)&trap_pkrs_open_count, PF_PK_WRITE));
}

KTEST(redteam, stray_store_into_the_pool_bookkeeping_faults_with_pk)
{
	phys_addr_t meta;
	uint64_t len, refused = 0;

	REDTEAM_REQUIRE(redteam_unenforced());
	pool_meta(&meta, &len);
	KEXPECT_GT(len, 0);
	for (uint64_t off = 0; off < len; off += PAGE_SIZE)
		refused += attack_word(pa_to_va(meta + off + 8), PF_PK_WRITE);
	KEXPECT_EQ(refused, len / PAGE_SIZE);
}

KTEST(redteam, stray_store_into_the_read_only_state_faults)
{
	struct pgprot_range r[PGPROT_NR_STATE_RANGES];

	pgprot_state_ranges(r);
	KEXPECT_TRUE(pgprot_sealed());
	KEXPECT_FALSE(r[0].keyed);
	KEXPECT_EQ(attack_range(r[0].va, r[0].len, PF_RO_WRITE), 2 * r[0].len / PAGE_SIZE);
	KEXPECT_TRUE(attack_word((volatile uint64_t *)&trap_pkrs_guard, PF_RO_WRITE));
}

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
