/* tests/test_redteam_review.c - the attack suite, part 5 (suite redteam, declared in
 * tests/test_redteam.c): plain data a review found deciding what a shootdown covers
 * or what goes back to an allocator after it.
 *
 *   attack                                         secure outcome
 *   a stray store into flush_tlb_others (NULL:     #PF 0x23, the pointer unchanged
 *   no other CPU is flushed; another function:
 *   it runs inside set_memory's write window)
 *   a stray store into the open shootdown batch    #PF 0x23, the batch unchanged
 *   (its range: the round flushes nothing; a
 *   queued run: any allocated frame is freed)
 *   a stray store into the round in flight (its  #PF 0x23, the round unchanged
 *   range start = end: every other CPU acks
 *   having flushed nothing)
 *   a forged token to pt_window_close (the         the key closes: a table store
 *   caller's spilled `w` says "an outer window     faults 0x23
 *   is open")
 */
#include "tests/test_redteam.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/smp_ipi.h"
#include "mm/dmap.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pt_flush.h"
#include "mm/pt_lock.h"
#include "mm/set_memory.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"

/* flush_tlb_others is called by set_memory inside its write window and by every
 * batch's round: a store that clears it skips every other CPU's flush, one that
 * points it elsewhere runs that code with the table key open. */
KTEST(redteam, stray_store_into_flush_tlb_others_faults_with_pk)
{
	REDTEAM_REQUIRE(redteam_unenforced());
	KASSERT_TRUE(flush_tlb_others != NULL);
	KEXPECT_TRUE(redteam_attack_word((uint64_t *)&flush_tlb_others, 0, PF_PK_WRITE));
	KEXPECT_TRUE(flush_tlb_others != NULL);
}

/* The open batch (pt_lock held, a window open, as vmap_unmap has it) records what
 * its round flushes and what it frees after it: a store into its range end or a
 * queued frame run faults, from inside the batch too (the store is made with the
 * key closed, as another CPU's would be). */
KTEST(redteam, stray_store_into_the_open_shootdown_batch_faults_with_pk)
{
	uint64_t flags, *hi, *run_pa;
	uint32_t w;
	bool hi_refused, run_refused;

	REDTEAM_REQUIRE(redteam_unenforced());
	flags = pt_lock_take();
	w = pt_window_open();
	pt_flush_begin();
	pt_flush_attack_targets(&hi, &run_pa);
	pt_window_close(w); /* the stray store comes from code outside the window */
	hi_refused = redteam_attack_word(hi, 0, PF_PK_WRITE);
	run_refused = redteam_attack_word(run_pa, PAGE_SIZE, PF_PK_WRITE);
	w = pt_window_open();
	pt_flush_end(); /* nothing recorded: no round, nothing freed */
	pt_window_close(w);
	pt_lock_drop(flags);
	KEXPECT_TRUE(hi_refused);
	KEXPECT_TRUE(run_refused);
}

/* set_memory's list of the leaves to flush and the tables to free after the flush:
 * a store that empties it (count 0) would skip the flush and free tables other CPUs
 * may still walk. */
KTEST(redteam, stray_store_into_set_memorys_flush_list_faults_with_pk)
{
	uint64_t *list = set_memory_attack_target();

	REDTEAM_REQUIRE(redteam_unenforced());
	KEXPECT_TRUE(redteam_attack_word(list, *list ^ 33, PF_PK_WRITE));
}

/* A round's range is what every other CPU flushes before it acks, and the sender
 * frees tables and frames once all acked: a store that makes the range empty
 * (start = end) while the round is in flight must fault. */
KTEST(redteam, stray_store_into_the_shootdown_round_faults_with_pk)
{
	uint64_t *start = smp_round_attack_target();

	REDTEAM_REQUIRE(redteam_unenforced());
	KEXPECT_TRUE(redteam_attack_word(start, start[1], PF_PK_WRITE));
}

/* A sender frees tables once every online CPU acknowledged its round: a store that
 * moved a CPU's acknowledgement ahead (it would skip the round, its TLB unflushed)
 * must fault. The word is CPU 0's (in every boot); each CPU's lies in the same keyed
 * record, next to the flags that say which CPUs take rounds. */
KTEST(redteam, stray_store_into_a_cpus_round_acknowledgement_faults_with_pk)
{
	uint64_t *ack = smp_ack_attack_target(0);

	REDTEAM_REQUIRE(redteam_unenforced());
	KEXPECT_TRUE(redteam_attack_word(ack, *ack + 1000, PF_PK_WRITE));
}

/* A sender sends its round to the CPUs flagged online: a store that cleared a CPU's
 * flag would leave it out of every round (its TLB never flushed before tables are
 * freed); the word holds the flags of CPUs 0 to 7. */
KTEST(redteam, stray_store_into_the_cpus_online_flags_faults_with_pk)
{
	uint64_t *flags = smp_online_attack_target();

	REDTEAM_REQUIRE(redteam_unenforced());
	KEXPECT_TRUE(redteam_attack_word(flags, *flags ^ 0x0101010101010100ULL, PF_PK_WRITE));
}

/* Only RAM in the hot-added list may be hot-removed again (boot RAM holds the pool's
 * worst case), and the direct map's own lists say what it maps: a store that put boot
 * RAM into the list, or moved a range, must fault. */
KTEST(redteam, stray_store_into_the_direct_maps_range_lists_faults_with_pk)
{
	uint64_t *added = dmap_added_attack_target();
	const struct pa_range *ram;

	REDTEAM_REQUIRE(redteam_unenforced());
	KEXPECT_TRUE(dmap_ranges(&ram) > 0);
	KEXPECT_TRUE(redteam_attack_word(added, *added ^ (1ULL << 30), PF_PK_WRITE));
	KEXPECT_TRUE(redteam_attack_word((volatile uint64_t *)&ram[0].len, ram[0].len + 2 * MiB,
					 PF_PK_WRITE));
}

/* guard_install records each table it makes so that -ENOMEM can undo them, and the
 * record is written inside its window: a store that moved its count would aim the
 * next record at other keyed state. */
KTEST(redteam, stray_store_into_guard_installs_record_faults_with_pk)
{
	uint64_t *made = guard_made_attack_target();

	REDTEAM_REQUIRE(redteam_unenforced());
	KEXPECT_TRUE(redteam_attack_word(made, *made ^ 0x40000, PF_PK_WRITE));
}

/* pt_window_close trusts its token for the one direction that matters: a `saved`
 * with the key's bits clear keeps the key open. The token is the caller's (a
 * register spilled to its stack, writable by any CPU): a stray store that clears
 * those bits while the window runs must not leave the key open after it. */
KTEST(redteam, a_forged_close_token_cannot_leave_the_table_key_open)
{
	uint32_t w;

	REDTEAM_REQUIRE(redteam_unenforced());
	w = pt_window_open();
	pt_window_close(w & ~PKRS_KEY_MASK(pgprot_key())); /* the forged token */
	KEXPECT_FALSE(pt_window_is_open());
	redteam_expect_table_store_faults(redteam_root_entry());
	pt_window_close(w); /* the real token */
}
