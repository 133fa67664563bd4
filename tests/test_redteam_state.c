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
 *   pks_tables=soft: a second violation before    each write re-armed by its own step
 *   the first one's single step, and an unrelated  (RIP, DR6.BS, CPU); the breakpoint
 *   #DB (a breakpoint) in between                  reaches the next handler; key closed
 */
#include "tests/test_redteam.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/vmap.h"
#include "arch/debugreg.h"
#include "arch/pkrs.h"
#include "arch/trap.h"
#include "arch/trap_pkrs.h"

#define VEC_REDTEAM 0xe4
#define PF_RO_WRITE (PF_P | PF_W)

/* --- stray stores into the protection state -------------------------------------- */

/* redteam_attack_word with the top bit of the word flipped. Not inlined: the word may
 * hold a 32-bit variable and its neighbour, and the attack reads and writes all 64
 * bits of it on purpose. */
static __attribute__((noinline)) bool attack_word(volatile uint64_t *p, uint32_t err)
{
	return redteam_attack_word(p, *p ^ (1ULL << 63), err);
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
	KEXPECT_TRUE(attack_word((volatile uint64_t *)&kernel_load_delta, PF_RO_WRITE));
	/* How each CPU finds its counter slot (an instruction it lacks would #UD). */
	KEXPECT_TRUE(attack_word((volatile uint64_t *)ALIGN_DOWN((uint64_t)&pkrs_count_read, 8),
				 PF_RO_WRITE));
	/* The direct map's 1 GiB flag (merges build 1 GiB leaves by it); the table key
	 * it maps pool chunks with is pgprot_key()'s, inside the range attacked above. */
	KEXPECT_TRUE(attack_word((volatile uint64_t *)ALIGN_DOWN((uint64_t)dmap_has_1g_word(), 8),
				 PF_RO_WRITE));
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

/* --- soft mode: re-arms per write, matched by RIP and DR6.BS --------------------- */

/* The nested-violation scenario: a keyed page at va with the next page unmapped; an
 * 8-byte write across the two is let through (re-arm 1) and then faults on the
 * missing page; that #PF handler writes another keyed page (re-arm 2, its own step)
 * and hits an instruction breakpoint (a #DB without DR6.BS, while re-arm 1 is
 * pending), then maps the page; the first write completes and its step closes the
 * key. */
static struct {
	bool armed;
	uint64_t va, second_va;
	phys_addr_t frames[3]; /* keyed page, its missing neighbour, second keyed page */
	int pf_calls, db_calls;
	int map_rc;
} nest;

static bool nest_pf(struct trap_frame *f)
{
	(void)f;
	if (!nest.armed || read_cr2() != nest.va + PAGE_SIZE)
		return false;
	nest.pf_calls++;
	*(volatile uint64_t *)nest.second_va = 0x5354524159; /* a second stray write */
	debug_breakpoint_here();			     /* an unrelated #DB */
	nest.map_rc = vmap_map(nest.va + PAGE_SIZE, nest.frames[1], PAGE_SIZE, PT_LEVEL_PTE,
			       PTE_W | PTE_NX, 0);
	return nest.map_rc == 0;
}

/* Takes only the breakpoint #DB above (pgprot's are single steps). */
static bool nest_db(struct trap_frame *f)
{
	uint64_t dr6 = read_dr6();

	if (!nest.armed || !(dr6 & DR6_B0) || (dr6 & DR6_BS))
		return false;
	nest.db_calls++;
	write_dr7(0);
	write_dr6(dr6 & ~DR6_B0);
	f->rflags |= RFLAGS_RF_DB;
	return true;
}

/* Maps frame at va writable with the table key (pt_set_entry allows that for
 * ordinary memory; vmap_map keeps the key for mm). */
static bool map_keyed(uint64_t va, phys_addr_t frame)
{
	int level;
	uint64_t *e;

	if (vmap_map(va, frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0))
		return false;
	e = pt_lookup(va, &level);
	if (!e || pt_set_entry(e, *e | PTE_PKEY(pgprot_key())))
		return false;
	invlpg((void *)va);
	return true;
}

static bool nest_setup(void)
{
	static bool registered;

	if (!registered)
		registered = !trap_register(VEC_PF, nest_pf) && !trap_register(VEC_DB, nest_db);
	nest = (typeof(nest)){ .va = vmap_reserve(2 * PAGE_SIZE, PAGE_SIZE),
			       .second_va = vmap_reserve(PAGE_SIZE, PAGE_SIZE) };
	for (int i = 0; i < 3; i++)
		nest.frames[i] = frame_alloc();
	return registered && nest.va && nest.second_va && nest.frames[0] && nest.frames[1] &&
	       nest.frames[2] && map_keyed(nest.va, nest.frames[0]) &&
	       map_keyed(nest.second_va, nest.frames[2]);
}

static void nest_teardown(void)
{
	vmap_unmap(nest.va, 2 * PAGE_SIZE);
	vmap_unmap(nest.second_va, PAGE_SIZE);
	for (int i = 0; i < 3; i++)
		if (nest.frames[i])
			frame_free(nest.frames[i]);
}

KTEST(redteam, soft_mode_rearms_a_nested_write_and_passes_other_debug_traps)
{
	uint64_t before = pgprot_violations(), value = 0x1122334455667788ULL;
	enum pgprot_mode was = pgprot_mode();
	volatile uint64_t *across;

	REDTEAM_REQUIRE(redteam_unenforced());
	if (!nest_setup() || pgprot_set_mode(PGPROT_SOFT)) {
		ktest_fail(__FILE__, __LINE__, "cannot set up the keyed pages or soft mode");
		goto out;
	}
	across = (volatile uint64_t *)(nest.va + PAGE_SIZE - 4);
	nest.armed = true;
	barrier();
	__asm__ volatile("movq %1, (%0)" : : "r"(across), "r"(value) : "memory");
	barrier();
	nest.armed = false;
	pgprot_set_mode(was);
	KEXPECT_EQ(nest.pf_calls, 1);
	KEXPECT_EQ(nest.db_calls, 1);
	KEXPECT_EQ(nest.map_rc, 0);
	KEXPECT_EQ(*across, value);
	KEXPECT_EQ(*(volatile uint64_t *)nest.second_va, 0x5354524159);
	KEXPECT_EQ(pgprot_violations(), before + 2);
	KEXPECT_EQ(pgprot_rearms_pending(), 0);
	KEXPECT_EQ(trap_pkrs_listed(), 0);
	KEXPECT_FALSE(pgprot_pkrs_opens_tables(pks_read()));
	KEXPECT_EQ(read_dr6() & DR6_BS, 0);
out:
	nest.armed = false;
	pgprot_set_mode(was);
	nest_teardown();
}
