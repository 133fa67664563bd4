/* tests/test_redteam.c - the attack suite, part 1: calls that would switch the
 * page-table protection off through an API. Each case makes one attack and asserts
 * the secure outcome: refused with the error code the contract names, and nothing
 * changed. Part 2 (tests/test_redteam_state.c) attacks with stray stores.
 *
 *   attack                                         secure outcome
 *   open / re-default / free the table key        -EPERM, PKRS and default unchanged
 *   reuse the table key after a refused free      never handed out again
 *   load a saved PKRS that opens the table key    the key stays at its default
 *   change a user key's rights as a non-owner     -EPERM
 *   free a key inside a window, close the window  the freed key stays closed
 */
#include "tests/test_redteam.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "arch/pkrs.h"

KTEST_SUITE(32, redteam, NULL);

/* An owner token the attacks use: not the table key's owner. */
static const char intruder;

const char *redteam_unenforced(void)
{
	return pgprot_enforced() ? NULL : pgprot_unprotected_reason();
}

const char *redteam_no_table_key(void)
{
	if (pgprot_key())
		return NULL;
	return pks_unavailable_reason() ?: "no page-table key";
}

KTEST(redteam, table_key_rights_cannot_be_changed_by_another_owner)
{
	static const enum pks_access all[] = { PKS_ACCESS_RW, PKS_ACCESS_RO, PKS_ACCESS_NONE };
	uint32_t before = pks_read(), def = pks_default();
	int key = pgprot_key();

	REDTEAM_REQUIRE(redteam_no_table_key());
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		KEXPECT_EQ(pks_set_access(&intruder, key, all[i]), -EPERM);
		KEXPECT_EQ(pks_key_set_default(&intruder, key, all[i]), -EPERM);
		KEXPECT_EQ(pks_set_access(NULL, key, all[i]), -EPERM);
	}
	KEXPECT_EQ(pks_key_free(&intruder, key), -EPERM);
	KEXPECT_EQ(pks_key_free(NULL, key), -EPERM);
	KEXPECT_EQ(pks_read(), before);
	KEXPECT_EQ(pks_default(), def);
	KEXPECT_STREQ(pks_key_name(key) ?: "(free)", "page tables");
}

KTEST(redteam, table_key_is_never_handed_out_after_a_refused_free)
{
	int got[PKS_NR_KEYS], n = 0, k;

	REDTEAM_REQUIRE(redteam_no_table_key());
	KEXPECT_EQ(pks_key_free(&intruder, pgprot_key()), -EPERM);
	while (n < PKS_NR_KEYS && (k = pks_key_alloc("redteam fill", &intruder)) > 0) {
		KEXPECT_NE(k, pgprot_key());
		got[n++] = k;
	}
	KEXPECT_GT(n, 0);
	while (n > 0)
		KEXPECT_EQ(pks_key_free(&intruder, got[--n]), 0);
	KEXPECT_STREQ(pks_key_name(pgprot_key()) ?: "(free)", "page tables");
}

KTEST(redteam, loading_a_saved_pkrs_cannot_open_the_table_key)
{
	uint32_t saved = pks_read(), mask;

	REDTEAM_REQUIRE(redteam_unenforced());
	mask = PKRS_KEY_MASK(pgprot_key());
	pks_load(0); /* a saved value with every key open */
	KEXPECT_EQ(pks_read() & mask, pks_default() & mask);
	KEXPECT_NE(pks_read() & PKRS_WD(pgprot_key()), 0);
	pks_load(saved & ~mask);
	KEXPECT_NE(pks_read() & PKRS_WD(pgprot_key()), 0);
	pkrs_write(saved);
}

KTEST(redteam, user_key_rights_change_only_through_its_owner)
{
	static const char owner;
	uint32_t before;
	int key;

	REDTEAM_REQUIRE(pks_unavailable_reason());
	key = pks_key_alloc("redteam user", &owner);
	KASSERT_TRUE(key > 0);
	before = pks_read();
	KEXPECT_EQ(pks_set_access(&intruder, key, PKS_ACCESS_RW), -EPERM);
	KEXPECT_EQ(pks_key_set_default(&intruder, key, PKS_ACCESS_RW), -EPERM);
	KEXPECT_EQ(pks_key_free(&intruder, key), -EPERM);
	KEXPECT_EQ(pks_read(), before);
	KEXPECT_EQ(pks_access_of(pks_default(), key), PKS_ACCESS_NONE);
	KEXPECT_EQ(pks_set_access(&owner, key, PKS_ACCESS_RO), 0);
	KEXPECT_EQ(pks_access_of(pks_read(), key), PKS_ACCESS_RO);
	KEXPECT_EQ(pks_key_free(&owner, key), 0);
	KEXPECT_EQ(pks_read(), before);
}

KTEST(redteam, window_close_keeps_a_key_freed_inside_the_window_closed)
{
	static const char owner;
	uint32_t w, mask;
	int key;

	REDTEAM_REQUIRE(redteam_unenforced());
	key = pks_key_alloc("redteam window", &owner);
	KASSERT_TRUE(key > 0);
	mask = PKRS_KEY_MASK(key);
	KEXPECT_EQ(pks_set_access(&owner, key, PKS_ACCESS_RW), 0);
	w = pt_window_open(); /* the snapshot has the key open */
	KEXPECT_EQ(pks_key_free(&owner, key), 0);
	pt_window_close(w);
	KEXPECT_EQ(pks_read() & mask, mask);
	KEXPECT_NE(pks_read() & PKRS_WD(pgprot_key()), 0);
}
