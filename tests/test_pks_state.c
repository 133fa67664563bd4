/* tests/test_pks_state.c - where a PKRS value lives: across exceptions (saved in the
 * frame, default inside the handler, nested levels), across thread switches, in the
 * key allocator (key 0 refused), in the protection-key fault report, and the
 * default PKRS after boot. Part of suite `pks` (declared in tests/test_pks.c). */
#include "tests/pks_fixture.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "kernel/thread.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"
#include "arch/trap.h"
#include "mm/pgtable.h"

#define VEC_TEST_OUTER 0xe0
#define VEC_TEST_INNER 0xe1
#define PF_READ	       (PF_P | PF_PK)
#define PF_WRITE       (PF_P | PF_W | PF_PK)

/* --- the default PKRS ----------------------------------------------------------- */

KTEST(pks, enable_sets_cr4_pks_and_the_default_pkrs)
{
	uint32_t def = pks_default();

	KEXPECT_TRUE(pks_enabled());
	KEXPECT_TRUE(read_cr4() & CR4_PKS);
	KEXPECT_TRUE(read_cr0() & CR0_WP);
	KEXPECT_EQ(trap_pkrs_managed, 1);
	KEXPECT_EQ(trap_pkrs_default, def);
	KEXPECT_EQ(def & PKRS_KEY_MASK(0), 0);
	for (int k = 1; k < PKS_NR_KEYS; k++)
		if (!pks_key_name(k))
			KEXPECT_EQ(def & PKRS_KEY_MASK(k), PKRS_KEY_MASK(k));
}

/* Prints each line of text as a diagnostic of the current case. */
static void note_lines(const char *text)
{
	char line[256];

	while (*text) {
		size_t n = 0;

		while (text[n] && text[n] != '\n')
			n++;
		strncpy_z(line, text, MIN(n + 1, sizeof(line)));
		ktest_note("%s", line);
		text += text[n] ? n + 1 : n;
	}
}

/* --- exceptions ------------------------------------------------------------------ */

/* What the handlers of the two test vectors saw; level 0 = outer, 1 = inner. */
static struct {
	bool armed;
	bool nest; /* outer: load outer_pkrs, raise the inner vector, fault */
	bool edit; /* outer: store edit_to into frame->pkrs */
	uint32_t outer_pkrs, edit_to;
	uint64_t fault_va; /* a page the outer handler reads under outer_pkrs */
	int calls[2];
	uint32_t live[2];  /* PKRS the handler ran with */
	uint32_t saved[2]; /* frame->pkrs: the interrupted value */
	uint32_t after_inner, after_fault;
	struct fault pf;
} probe;

static bool outer_handler(struct trap_frame *f)
{
	if (!probe.armed)
		return false;
	probe.calls[0]++;
	probe.live[0] = pkrs_read();
	probe.saved[0] = (uint32_t)f->pkrs;
	if (probe.nest) {
		pkrs_write(probe.outer_pkrs);
		__asm__ volatile("int %0" : : "i"(VEC_TEST_INNER) : "memory");
		probe.after_inner = pkrs_read();
		catch_read8((const void *)probe.fault_va, &probe.pf);
		probe.after_fault = pkrs_read();
	}
	if (probe.edit)
		f->pkrs = probe.edit_to;
	return true;
}

static bool inner_handler(struct trap_frame *f)
{
	if (!probe.armed)
		return false;
	probe.calls[1]++;
	probe.live[1] = pkrs_read();
	probe.saved[1] = (uint32_t)f->pkrs;
	return true;
}

/* Registers the test vectors' handlers once (they stay, inert while disarmed). */
static bool handlers_ready(void)
{
	static bool registered;

	if (!registered)
		registered = trap_register(VEC_TEST_OUTER, outer_handler) == 0 &&
			     trap_register(VEC_TEST_INNER, inner_handler) == 0;
	if (!registered)
		ktest_fail(__FILE__, __LINE__, "trap_register failed");
	if (!trap_pkrs_managed)
		ktest_fail(__FILE__, __LINE__, "the trap entry does not manage PKRS");
	return registered && trap_pkrs_managed;
}

/* Raises the outer test vector with the given plan; returns PKRS right after. */
static uint32_t raise_outer(bool nest, bool edit)
{
	probe.calls[0] = probe.calls[1] = 0;
	probe.nest = nest;
	probe.edit = edit;
	probe.armed = true;
	__asm__ volatile("int %0" : : "i"(VEC_TEST_OUTER) : "memory");
	probe.armed = false;
	return pkrs_read();
}

KTEST(pks, trap_handler_runs_with_default_and_interrupted_pkrs_returns)
{
	int key = handlers_ready() ? pks_test_key("pks test") : -1;
	uint32_t saved = pks_read(), interrupted;

	if (key <= 0)
		return;
	KEXPECT_EQ(pks_set_access(&pks_test_owner, key, PKS_ACCESS_RW), 0);
	interrupted = pks_read();
	KEXPECT_NE(interrupted, pks_default());
	KEXPECT_EQ(raise_outer(false, false), interrupted);
	KEXPECT_EQ(probe.calls[0], 1);
	KEXPECT_EQ(probe.live[0], pks_default());
	KEXPECT_EQ(probe.saved[0], interrupted);
	pkrs_write(saved);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
}

KTEST(pks, trap_handler_edit_of_saved_pkrs_is_what_resumes)
{
	int key = handlers_ready() ? pks_test_key("pks test") : -1;
	uint32_t saved = pks_read();
	struct pks_page p;
	struct fault f;

	if (key <= 0 || !pks_data_page(&p, key))
		return; /* the failure is already recorded */
	KEXPECT_EQ(pks_set_access(&pks_test_owner, key, PKS_ACCESS_RW), 0);
	probe.edit_to = pks_read() | PKRS_WD(key);
	KEXPECT_EQ(raise_outer(false, true), probe.edit_to);
	/* The hardware enforces the edited value: reads pass, writes fault. */
	catch_read8((const void *)p.va, &f);
	KEXPECT_NO_FAULT(&f);
	catch_write8((void *)p.va, 1, &f);
	KEXPECT_PF(&f, PF_WRITE, p.va);
	pkrs_write(saved);
	pks_page_unmap(&p);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
}

/* Three distinct values for one key: default WD, interrupted RW, the outer handler's
 * own AD. Each level must see the default on entry and get its own value back. */
KTEST(pks, nested_traps_each_restore_their_own_pkrs)
{
	int key = handlers_ready() ? pks_test_key("pks test") : -1;
	uint32_t saved = pks_read(), interrupted;
	struct pks_page p;

	if (key <= 0 || !pks_data_page(&p, key))
		return; /* the failure is already recorded */
	KEXPECT_EQ(pks_key_set_default(&pks_test_owner, key, PKS_ACCESS_RO), 0);
	KEXPECT_EQ(pks_set_access(&pks_test_owner, key, PKS_ACCESS_RW), 0);
	interrupted = pks_read();
	probe.outer_pkrs = pks_default() | PKRS_AD(key);
	probe.fault_va = p.va;
	KEXPECT_EQ(raise_outer(true, false), interrupted);
	KEXPECT_EQ(probe.calls[0], 1);
	KEXPECT_EQ(probe.calls[1], 1);
	KEXPECT_EQ(probe.live[0], pks_default());
	KEXPECT_EQ(probe.saved[0], interrupted);
	KEXPECT_EQ(probe.live[1], pks_default());
	KEXPECT_EQ(probe.saved[1], probe.outer_pkrs);
	KEXPECT_EQ(probe.after_inner, probe.outer_pkrs);
	KEXPECT_PF(&probe.pf, PF_READ, p.va); /* a #PF inside the handler */
	KEXPECT_EQ(probe.after_fault, probe.outer_pkrs);
	pkrs_write(saved);
	pks_page_unmap(&p);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
}

/* --- threads --------------------------------------------------------------------- */

static struct {
	int key;
	uint64_t va;
	char order[8];
	int steps;
	uint32_t a_opened, a_resumed, b_seen;
	struct fault a_write, b_write, b_read;
} two;

static void thread_a(void *arg)
{
	(void)arg;
	pks_set_access(&pks_test_owner, two.key, PKS_ACCESS_RW);
	two.a_opened = pks_read();
	two.order[two.steps++] = 'A';
	thread_yield();
	two.a_resumed = pks_read();
	catch_write8((void *)two.va, 0xaa, &two.a_write);
	two.order[two.steps++] = 'a';
}

static void thread_b(void *arg)
{
	(void)arg;
	two.b_seen = pks_read();
	catch_write8((void *)two.va, 0xbb, &two.b_write);
	catch_read8((const void *)two.va, &two.b_read);
	two.order[two.steps++] = 'B';
	thread_yield();
	two.order[two.steps++] = 'b';
}

KTEST(pks, key_opened_by_one_thread_stays_closed_for_another)
{
	struct thread *a, *b;
	struct pks_page p;
	uint32_t mine;

	two = (typeof(two)){ .key = pks_test_key("pks test") };
	if (two.key <= 0)
		return;
	KEXPECT_EQ(pks_key_set_default(&pks_test_owner, two.key, PKS_ACCESS_RO), 0);
	if (!pks_data_page(&p, two.key))
		return;
	two.va = p.va;
	mine = pks_read();
	a = thread_create("pks A", thread_a, NULL);
	b = thread_create("pks B", thread_b, NULL);
	KEXPECT_TRUE(a && b);
	if (a)
		thread_join(a);
	if (b)
		thread_join(b);
	KEXPECT_STREQ(two.order, "ABab");
	KEXPECT_EQ(pks_access_of(two.a_opened, two.key), PKS_ACCESS_RW);
	KEXPECT_EQ(two.b_seen, pks_default());
	KEXPECT_PF(&two.b_write, PF_WRITE, p.va);
	KEXPECT_NO_FAULT(&two.b_read);
	KEXPECT_EQ(two.a_resumed, two.a_opened);
	KEXPECT_NO_FAULT(&two.a_write);
	KEXPECT_EQ(pks_read(), mine);
	pks_page_unmap(&p);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, two.key), 0);
}

/* --- allocator ------------------------------------------------------------------- */

KTEST(pks, key0_cannot_be_allocated_or_restricted)
{
	uint32_t before = pks_read(), def = pks_default();

	KEXPECT_EQ(pks_set_access(&pks_test_owner, 0, PKS_ACCESS_NONE), -EINVAL);
	KEXPECT_EQ(pks_set_access(&pks_test_owner, 0, PKS_ACCESS_RO), -EINVAL);
	KEXPECT_EQ(pks_key_set_default(&pks_test_owner, 0, PKS_ACCESS_NONE), -EINVAL);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, 0), -EINVAL);
	KEXPECT_EQ(pks_set_access(&pks_test_owner, 16, PKS_ACCESS_NONE), -EINVAL);
	KEXPECT_EQ(pks_set_access(&pks_test_owner, -1, PKS_ACCESS_NONE), -EINVAL);
	KEXPECT_TRUE(pks_key_name(0) == NULL);
	KEXPECT_EQ(pks_read(), before);
	KEXPECT_EQ(pks_default(), def);
	KEXPECT_EQ(pks_read() & PKRS_KEY_MASK(0), 0);
}

KTEST(pks, allocator_hands_out_every_free_key_then_fails_cleanly)
{
	const char *held[PKS_NR_KEYS];
	int got[PKS_NR_KEYS], n = 0, k, in_use = pks_keys_in_use();
	uint32_t def, cur;

	for (k = 0; k < PKS_NR_KEYS; k++)
		held[k] = pks_key_name(k);
	while ((k = pks_key_alloc("pks fill", &pks_test_owner)) > 0 && n < PKS_NR_KEYS) {
		KEXPECT_TRUE(k >= 1 && k < PKS_NR_KEYS && !held[k]);
		got[n++] = k;
	}
	KEXPECT_EQ(k, -ENOSPC);
	KEXPECT_EQ(n, PKS_NR_KEYS - 1 - in_use);
	def = pks_default();
	cur = pks_read();
	KEXPECT_EQ(pks_key_alloc("one too many", &pks_test_owner), -ENOSPC);
	KEXPECT_EQ(pks_default(), def);
	KEXPECT_EQ(pks_read(), cur);
	KEXPECT_EQ(pks_keys_in_use(), PKS_NR_KEYS - 1);
	for (int i = 0; i < n; i++) {
		KEXPECT_EQ(pks_key_free(&pks_test_owner, got[i]), 0);
		KEXPECT_EQ(pks_key_free(&pks_test_owner, got[i]), -EINVAL);
	}
	KEXPECT_EQ(pks_keys_in_use(), in_use);
	if (n > 0) {
		/* The lowest free key again. */
		KEXPECT_EQ(pks_key_alloc("pks reuse", &pks_test_owner), got[0]);
		KEXPECT_EQ(pks_key_free(&pks_test_owner, got[0]), 0);
	}
	for (k = 0; k < PKS_NR_KEYS; k++)
		KEXPECT_TRUE(pks_key_name(k) == held[k]); /* others' keys stay held */
}

KTEST(pks, freed_key_is_closed_again_in_default_and_current_pkrs)
{
	int key = pks_test_key("pks test");

	if (key <= 0)
		return;
	KEXPECT_EQ(pks_access_of(pks_default(), key), PKS_ACCESS_NONE);
	KEXPECT_EQ(pks_key_set_default(&pks_test_owner, key, PKS_ACCESS_RW), 0);
	KEXPECT_EQ(pks_access_of(pks_default(), key), PKS_ACCESS_RW);
	KEXPECT_EQ(trap_pkrs_default, pks_default());
	KEXPECT_EQ(pks_access_of(pks_read(), key), PKS_ACCESS_RW);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
	KEXPECT_EQ(pks_access_of(pks_default(), key), PKS_ACCESS_NONE);
	KEXPECT_EQ(pks_read() & PKRS_KEY_MASK(key), PKRS_KEY_MASK(key));
	KEXPECT_EQ(trap_pkrs_default, pks_default());
	/* Not allocated any more. */
	KEXPECT_EQ(pks_set_access(&pks_test_owner, key, PKS_ACCESS_RW), -EINVAL);
}

/* --- the fault report ------------------------------------------------------------ */

KTEST(pks, fault_report_names_leaf_key_and_blocking_right)
{
	int key = pks_test_key("pks report");
	uint32_t saved = pks_read(), at_fault;
	char buf[768], want[96];
	struct pks_page p;
	struct fault f;

	if (key <= 0 || !pks_data_page(&p, key))
		return; /* the failure is already recorded */
	KEXPECT_EQ(pks_set_access(&pks_test_owner, key, PKS_ACCESS_RO), 0);
	at_fault = pks_read();
	catch_write8((void *)p.va, 1, &f);
	KEXPECT_PF(&f, PF_WRITE, p.va);
	pks_describe_fault(f.addr, f.rip, f.error, at_fault, buf, sizeof(buf));
	note_lines(buf);
	ksnprintf(want, sizeof(want), "write of 0x%016llx", (unsigned long long)p.va);
	KEXPECT_TRUE(ktest_contains(buf, want));
	ksnprintf(want, sizeof(want), "key %d (pks report)", key);
	KEXPECT_TRUE(ktest_contains(buf, want));
	ksnprintf(want, sizeof(want), "key%d(pks report)=WD", key);
	KEXPECT_TRUE(ktest_contains(buf, want));
	KEXPECT_TRUE(ktest_contains(buf, "WD: writes disabled"));
	pkrs_write(saved);
	pks_page_unmap(&p);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
}

KTEST(pks, decode_names_keys_and_merges_free_runs)
{
	int key = pks_test_key("pks test");
	char buf[256], want[64];

	if (key <= 0)
		return;
	pks_decode(0, buf, sizeof(buf));
	KEXPECT_STREQ(buf, "all keys full access");
	pks_decode(PKRS_WD(key), buf, sizeof(buf));
	ksnprintf(want, sizeof(want), "key%d(pks test)=WD", key);
	KEXPECT_STREQ(buf, want);
	pks_decode(PKRS_AD(key) | PKRS_AD(0), buf, sizeof(buf));
	ksnprintf(want, sizeof(want), "key0=AD key%d(pks test)=AD", key);
	KEXPECT_STREQ(buf, want);
	if (!pks_key_name(14) && !pks_key_name(15)) {
		pks_decode(PKRS_KEY_MASK(14) | PKRS_KEY_MASK(15), buf, sizeof(buf));
		KEXPECT_STREQ(buf, "keys14-15=AD+WD");
	}
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
}
