/* tests/test_pks.c - PKS semantics on real mappings, driven by one scenario table.
 *
 * Each row maps a fresh leaf in the vmap area with a chosen size, U/S, W/NX and key,
 * sets PKRS (and CR0.WP, CR4.PKE + PKRU) as the row says, performs one real load,
 * store or call through the fault catcher, and checks the outcome: no fault, or a
 * #PF with exactly the expected error code at exactly the accessed address. Data
 * is written through the direct map (key 0) so every successful read and write is
 * also checked against memory.
 *
 * The rest of the suite (PKRS across traps and threads, the allocator, the fault
 * report) is in tests/test_pks_state.c.
 */
#include "tests/test_pks.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"

KTEST_SUITE(10, pks, pks_unavailable_reason);

#define PF_READ	   (PF_P | PF_PK)	 /* 0x21: read blocked by a key */
#define PF_WRITE   (PF_P | PF_W | PF_PK) /* 0x23: write blocked by a key */
#define RET_OPCODE 0xc3

enum pks_op { OP_READ, OP_WRITE, OP_EXEC };

enum pks_group {
	G_AD,
	G_WD,
	G_WP0,
	G_KEY0,
	G_USER,
	G_EXEC,
	G_2M,
	G_1G,
};

struct pks_scenario {
	enum pks_group group;
	const char *what;	/* printed when the row fails */
	int level;		/* leaf: 0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB */
	uint64_t prot;		/* PTE_W, PTE_NX, PTE_U (P implied) */
	bool key0;		/* the page has key 0 (else the test key) */
	enum pks_access access; /* test key in PKRS; key0 rows: every key but 0 */
	bool wp0;		/* access with CR0.WP = 0 */
	bool pkru_ad;		/* access with CR4.PKE = 1 and PKRU AD for the key */
	enum pks_op op;
	uint64_t offset; /* into the leaf */
	uint32_t err;	 /* expected #PF error code; 0 = no fault */
};

#define DATA   (PTE_W | PTE_NX)
#define USER   (PTE_U | PTE_W | PTE_NX)
#define CODE   0ULL  /* present, read-only, executable */
#define KT     false /* the page has the test key */
#define K0     true  /* the page has key 0 */
#define RW     PKS_ACCESS_RW
#define RO     PKS_ACCESS_RO
#define NONE   PKS_ACCESS_NONE
#define WP1    false
#define WP0    true
#define NOPKRU false
#define PKRU   true
#define RD     OP_READ
#define WR     OP_WRITE
#define EX     OP_EXEC
#define END4K  (PAGE_SIZE - 1)
#define MID2M  (PMD_SIZE / 2 + 0x40)
#define END2M  (PMD_SIZE - 1)
#define MID1G  (PUD_SIZE / 2 + 0x40)
#define END1G  (PUD_SIZE - 1)

static const struct pks_scenario scenarios[] = {
	/* group  what                             lvl prot key PKRS  CR0  PKRU    op  offset
	   expected */
	{ G_AD, "RW key: read", 0, DATA, KT, RW, WP1, NOPKRU, RD, 0, 0 },
	{ G_AD, "RW key: write", 0, DATA, KT, RW, WP1, NOPKRU, WR, 8, 0 },
	{ G_AD, "AD: read", 0, DATA, KT, NONE, WP1, NOPKRU, RD, 0, PF_READ },
	{ G_AD, "AD: write", 0, DATA, KT, NONE, WP1, NOPKRU, WR, 8, PF_WRITE },
	{ G_AD, "AD: read of the last byte", 0, DATA, KT, NONE, WP1, NOPKRU, RD, END4K, PF_READ },
	{ G_WD, "WD, WP=1: read", 0, DATA, KT, RO, WP1, NOPKRU, RD, 0x10, 0 },
	{ G_WD, "WD, WP=1: write", 0, DATA, KT, RO, WP1, NOPKRU, WR, 0x10, PF_WRITE },
	{ G_WP0, "WD, WP=0: write", 0, DATA, KT, RO, WP0, NOPKRU, WR, 0x18, 0 },
	{ G_WP0, "WD, WP=0: read", 0, DATA, KT, RO, WP0, NOPKRU, RD, 0x18, 0 },
	{ G_WP0, "AD, WP=0: read", 0, DATA, KT, NONE, WP0, NOPKRU, RD, 0x20, PF_READ },
	{ G_WP0, "AD, WP=0: write", 0, DATA, KT, NONE, WP0, NOPKRU, WR, 0x20, PF_WRITE },
	{ G_KEY0, "key 0, keys 1-15 AD|WD: read", 0, DATA, K0, NONE, WP1, NOPKRU, RD, 0x28, 0 },
	{ G_KEY0, "key 0, keys 1-15 AD|WD: write", 0, DATA, K0, NONE, WP1, NOPKRU, WR, 0x28, 0 },
	{ G_USER, "user page, PKRS AD: read", 0, USER, KT, NONE, WP1, NOPKRU, RD, 0x30, 0 },
	{ G_USER, "user page, PKRS AD: write", 0, USER, KT, NONE, WP1, NOPKRU, WR, 0x30, 0 },
	{ G_USER, "user page, PKRU AD: read", 0, USER, KT, RW, WP1, PKRU, RD, 0x38, PF_READ },
	{ G_USER, "user page, PKRU AD: write", 0, USER, KT, RW, WP1, PKRU, WR, 0x38, PF_WRITE },
	{ G_EXEC, "AD: fetch of a ret", 0, CODE, KT, NONE, WP1, NOPKRU, EX, 0x40, 0 },
	{ G_EXEC, "AD: read of the same ret", 0, CODE, KT, NONE, WP1, NOPKRU, RD, 0x40, PF_READ },
	{ G_2M, "2M AD: read at start", 1, DATA, KT, NONE, WP1, NOPKRU, RD, 0, PF_READ },
	{ G_2M, "2M AD: read in the middle", 1, DATA, KT, NONE, WP1, NOPKRU, RD, MID2M, PF_READ },
	{ G_2M, "2M AD: read of the last byte", 1, DATA, KT, NONE, WP1, NOPKRU, RD, END2M,
	  PF_READ },
	{ G_2M, "2M WD: write at start", 1, DATA, KT, RO, WP1, NOPKRU, WR, 0, PF_WRITE },
	{ G_2M, "2M WD: write in the middle", 1, DATA, KT, RO, WP1, NOPKRU, WR, MID2M, PF_WRITE },
	{ G_2M, "2M WD: write of the last byte", 1, DATA, KT, RO, WP1, NOPKRU, WR, END2M,
	  PF_WRITE },
	{ G_2M, "2M WD: read of the last byte", 1, DATA, KT, RO, WP1, NOPKRU, RD, END2M, 0 },
	{ G_2M, "2M RW: write of the last byte", 1, DATA, KT, RW, WP1, NOPKRU, WR, END2M, 0 },
	{ G_1G, "1G AD: read at start", 2, DATA, KT, NONE, WP1, NOPKRU, RD, 0, PF_READ },
	{ G_1G, "1G AD: read in the middle", 2, DATA, KT, NONE, WP1, NOPKRU, RD, MID1G, PF_READ },
	{ G_1G, "1G AD: read of the last byte", 2, DATA, KT, NONE, WP1, NOPKRU, RD, END1G,
	  PF_READ },
	{ G_1G, "1G WD: write at start", 2, DATA, KT, RO, WP1, NOPKRU, WR, 0, PF_WRITE },
	{ G_1G, "1G WD: write in the middle", 2, DATA, KT, RO, WP1, NOPKRU, WR, MID1G, PF_WRITE },
	{ G_1G, "1G WD: write of the last byte", 2, DATA, KT, RO, WP1, NOPKRU, WR, END1G,
	  PF_WRITE },
	{ G_1G, "1G WD: read of the last byte", 2, DATA, KT, RO, WP1, NOPKRU, RD, END1G, 0 },
	{ G_1G, "1G RW: write of the last byte", 2, DATA, KT, RW, WP1, NOPKRU, WR, END1G, 0 },
};

/* --- fixtures (tests/test_pks.h) ---------------------------------------------- */

const char pks_test_owner;

int pks_page_map(struct pks_page *p, int level, uint64_t prot, int key)
{
	uint64_t size = pt_size(level);
	int rc;

	*p = (struct pks_page){ .size = size, .level = level };
	p->pa = level == PT_LEVEL_PTE ? frame_alloc() : frame_alloc_run(size / PAGE_SIZE, size);
	if (!p->pa)
		return -ENOMEM;
	p->va = vmap_reserve(size, size);
	rc = p->va ? vmap_map(p->va, p->pa, size, level, prot, key) : -ENOMEM;
	if (rc) {
		if (level == PT_LEVEL_PTE)
			frame_free(p->pa);
		else
			frame_free_run(p->pa, size / PAGE_SIZE);
	}
	return rc;
}

void pks_page_unmap(struct pks_page *p)
{
	vmap_unmap(p->va, p->size);
	if (p->level == PT_LEVEL_PTE)
		frame_free(p->pa);
	else
		frame_free_run(p->pa, p->size / PAGE_SIZE);
}

bool pks_data_page(struct pks_page *p, int key)
{
	int rc = pks_page_map(p, PT_LEVEL_PTE, PTE_W | PTE_NX, key);

	if (rc) {
		ktest_fail(__FILE__, __LINE__, "cannot map a test page: %d", rc);
		pks_key_free(&pks_test_owner, key);
	}
	return rc == 0;
}

/* The byte a row stores (through the direct map) at `offset` before its access. */
static uint8_t pks_pattern(uint64_t offset)
{
	return (uint8_t)(0xa5 ^ offset ^ (offset >> 12) ^ (offset >> 21));
}

int pks_test_key(const char *name)
{
	int key = pks_key_alloc(name, &pks_test_owner);

	if (key <= 0)
		ktest_fail(__FILE__, __LINE__, "pks_key_alloc(\"%s\") = %d", name, key);
	return key;
}

/* --- one row -------------------------------------------------------------------- */

/* Control-register state a row changes around its access. */
struct row_env {
	uint64_t cr0, cr4;
	uint32_t pkru;
};

/* Applies CR0.WP = 0, SMAP off, CR4.PKE + PKRU AD(key) as the row asks. */
static void env_enter(const struct pks_scenario *s, int key, struct row_env *env)
{
	env->cr0 = read_cr0();
	env->cr4 = read_cr4();
	env->pkru = 0;
	if (env->cr4 & CR4_SMAP)
		write_cr4(read_cr4() & ~CR4_SMAP); /* rows read user pages with SMAP off */
	if (s->pkru_ad) {
		write_cr4(read_cr4() | CR4_PKE);
		env->pkru = pkru_read();
		pkru_write(PKRS_AD(key) | PKRS_WD(key));
		flush_tlb_all(); /* QEMU keeps no-PKE TLB entries */
	}
	if (s->wp0)
		write_cr0(env->cr0 & ~CR0_WP);
}

static void env_leave(const struct pks_scenario *s, const struct row_env *env)
{
	write_cr0(env->cr0);
	if (s->pkru_ad)
		pkru_write(env->pkru);
	write_cr4(env->cr4);
	if (s->pkru_ad)
		flush_tlb_all();
}

/* Sets PKRS for the row: the test key's right, or every key but 0 closed. */
static void set_rights(const struct pks_scenario *s, int key)
{
	if (s->key0)
		pkrs_write(PKRS_ALL_BUT_KEY0);
	else
		KEXPECT_EQ(pks_set_access(&pks_test_owner, key, s->access), 0);
}

/* One real access of kind op at va; returns the byte read (or written). */
static uint8_t do_access(enum pks_op op, volatile uint8_t *va, uint8_t value, struct fault *f)
{
	switch (op) {
	case OP_READ:
		return catch_read8(va, f);
	case OP_WRITE:
		catch_write8(va, value, f);
		return value;
	case OP_EXEC:
		catch_exec((const void *)va, f);
		return 0;
	}
	return 0;
}

/* Fails the case, naming the row, unless f matches: no fault when err is 0, else
 * a #PF with exactly err at exactly va. */
static void check_outcome(const struct pks_scenario *s, const struct fault *f, uint64_t va)
{
	if (!s->err && f->hit)
		ktest_fail(__FILE__, __LINE__, "%s: unexpected %s, error 0x%llx at 0x%llx", s->what,
			   trap_name(f->vector), (unsigned long long)f->error,
			   (unsigned long long)f->addr);
	else if (s->err && !f->hit)
		ktest_fail(__FILE__, __LINE__, "%s: no fault, expected #PF 0x%x", s->what, s->err);
	else if (s->err && (f->vector != VEC_PF || f->error != s->err || f->addr != va))
		ktest_fail(__FILE__, __LINE__,
			   "%s: got %s error 0x%llx at 0x%llx, expected #PF "
			   "0x%x at 0x%llx",
			   s->what, trap_name(f->vector), (unsigned long long)f->error,
			   (unsigned long long)f->addr, s->err, (unsigned long long)va);
}

/* Why a row on a leaf of `level` cannot run when no free frames of that size and
 * alignment are left: a feature this memory map lacks, not a failure. */
static const char *no_frames_reason(int level)
{
	if (level == PT_LEVEL_PUD)
		return "no free 1 GiB-aligned GiB of RAM in this memory map (boot with more RAM, "
		       "e.g. MEM=4G)";
	if (level == PT_LEVEL_PMD)
		return "no free 2 MiB-aligned run of RAM in this memory map";
	return "no free frame";
}

/* Runs one row on a page of its own; returns a reason when the row cannot run
 * (no frames for its leaf); any other failure to map the page fails the case. */
static const char *run_scenario(const struct pks_scenario *s, int key)
{
	volatile uint8_t *mem, *va;
	struct pks_page p;
	struct row_env env;
	struct fault f;
	uint32_t saved = pkrs_read();
	uint8_t want, got;
	int rc = pks_page_map(&p, s->level, s->prot, s->key0 ? 0 : key);

	if (rc && !p.pa)
		return no_frames_reason(s->level);
	if (rc) {
		ktest_fail(__FILE__, __LINE__, "%s: mapping its %llu KiB page failed: %d", s->what,
			   (unsigned long long)(p.size / KiB), rc);
		return NULL;
	}
	mem = (volatile uint8_t *)pa_to_va(p.pa) + s->offset;
	va = (volatile uint8_t *)(p.va + s->offset);
	*mem = s->op == OP_EXEC ? RET_OPCODE : pks_pattern(s->offset);
	want = s->op == OP_WRITE ? (uint8_t) ~*mem : *mem;
	set_rights(s, key);
	env_enter(s, key, &env);
	got = do_access(s->op, va, want, &f);
	env_leave(s, &env);
	pkrs_write(saved);
	check_outcome(s, &f, (uint64_t)va);
	if (!f.hit && s->op != OP_EXEC && got != want)
		ktest_fail(__FILE__, __LINE__, "%s: read 0x%x, expected 0x%x", s->what, got, want);
	if (s->op == OP_WRITE && *mem != (f.hit ? (uint8_t)~want : want))
		ktest_fail(__FILE__, __LINE__, "%s: memory holds 0x%x after the write", s->what,
			   *mem);
	pks_page_unmap(&p);
	return NULL;
}

/* Runs every row of group g with a fresh test key; skips the case with the reason
 * of the first row that cannot run. */
static void run_group(enum pks_group g)
{
	int key = pks_test_key("pks test");
	const char *skip = NULL;

	if (key <= 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(scenarios) && !skip; i++)
		if (scenarios[i].group == g)
			skip = run_scenario(&scenarios[i], key);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
	if (skip)
		ktest_skip(skip);
}

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

KTEST(pks, ad_blocks_supervisor_read_and_write)
{
	run_group(G_AD);
}

KTEST(pks, wd_blocks_only_writes_with_cr0_wp_set)
{
	run_group(G_WD);
}

KTEST(pks, wd_is_ignored_with_cr0_wp_clear_but_ad_is_not)
{
	run_group(G_WP0);
}

KTEST(pks, key0_page_unaffected_by_any_other_key_closed)
{
	run_group(G_KEY0);
}

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

KTEST(pks, user_page_is_governed_by_pkru_not_pkrs)
{
	if (!cpu.pku)
		KTEST_SKIP("CPU has no PKU (CPUID.(EAX=7,ECX=0):ECX[3]=0) for the PKRU half");
	run_group(G_USER);
}

KTEST(pks, instruction_fetch_is_not_blocked_by_ad)
{
	run_group(G_EXEC);
}

KTEST(pks, key_covers_the_whole_2m_leaf)
{
	run_group(G_2M);
}

KTEST(pks, key_covers_the_whole_1g_leaf)
{
	if (!cpu.pdpe1gb)
		KTEST_SKIP("CPU has no 1 GiB pages (CPUID.80000001H:EDX[26]=0)");
	run_group(G_1G);
}

/* One step on the same address: set the key's right, access, expected #PF code. */
struct pks_step {
	enum pks_access access;
	enum pks_op op;
	uint32_t err;
};

/* No INVLPG or CR3 write between the steps: only WRMSR to IA32_PKRS. */
static const struct pks_step immediate_steps[] = {
	{ RW, OP_READ, 0 }, /* fills the TLB entry */
	{ NONE, OP_READ, PF_READ }, { RW, OP_READ, 0 },		  { RO, OP_WRITE, PF_WRITE },
	{ RW, OP_WRITE, 0 },	    { NONE, OP_WRITE, PF_WRITE }, { RO, OP_READ, 0 },
};

KTEST(pks, pkrs_change_takes_effect_without_tlb_flush)
{
	int key = pks_test_key("pks test");
	uint32_t saved = pks_read();
	struct pks_page p;
	uint8_t value = 0x3c, got;
	struct fault f;

	if (key <= 0 || !pks_data_page(&p, key))
		return; /* the failure is already recorded */
	*(volatile uint8_t *)pa_to_va(p.pa) = value;
	for (size_t i = 0; i < ARRAY_SIZE(immediate_steps); i++) {
		const struct pks_step *s = &immediate_steps[i];

		KEXPECT_EQ(pks_set_access(&pks_test_owner, key, s->access), 0);
		got = do_access(s->op, (volatile uint8_t *)p.va, (uint8_t)(value + 1), &f);
		if (s->err)
			KEXPECT_PF(&f, s->err, p.va);
		else
			KEXPECT_NO_FAULT(&f);
		if (!f.hit && s->op == OP_WRITE)
			value++;
		if (!f.hit)
			KEXPECT_EQ(got, value);
		if (ktest_failed()) {
			ktest_note("at step %zu", i);
			break;
		}
	}
	pkrs_write(saved);
	pks_page_unmap(&p);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
}

/* The MMU's accessed/dirty stores go to the leaf entry by physical address, never
 * through a linear mapping, so no key can block them (SDM Vol. 3A, 4.6.2: keys
 * govern data accesses only). The page that receives them is the table page holding
 * the leaf; its direct-map leaf carries the page-table key, which this case makes
 * write-disabled (whatever pks_tables= says) while the MMU sets A and D in it. The
 * data page's key is WD too while A is set; a write that WD blocks leaves D clear. */
KTEST(pks, mmu_accessed_dirty_updates_are_not_blocked_by_wd)
{
	int key = pks_test_key("pks test"), level, tlevel, tkey;
	uint32_t saved = pks_read();
	uint64_t *leaf, *tleaf;
	struct pks_page p;
	struct fault f;

	if (key <= 0 || !pks_data_page(&p, key))
		return; /* the failure is already recorded */
	leaf = pt_lookup(p.va, &level);
	tleaf = leaf ? pt_lookup((uint64_t)leaf, &tlevel) : NULL;
	KEXPECT_TRUE(leaf && tleaf);
	if (!leaf || !tleaf)
		goto out;
	tkey = pt_entry_pkey(*tleaf);
	pt_set_entry(leaf, *leaf & ~(PTE_A | PTE_D));
	invlpg((void *)p.va);
	if (tkey) /* mm owns that key: the test sets WD in the register directly */
		pkrs_write(pkrs_read() | PKRS_WD(tkey));
	else
		ktest_note("the leaf's table page has key 0: only the data-page half runs");
	KEXPECT_EQ(pks_set_access(&pks_test_owner, key, PKS_ACCESS_RO), 0);
	catch_read8((void *)p.va, &f);
	KEXPECT_NO_FAULT(&f);
	KEXPECT_TRUE(*leaf & PTE_A);
	KEXPECT_FALSE(*leaf & PTE_D);
	catch_write8((void *)p.va, 1, &f);
	KEXPECT_PF(&f, PF_WRITE, p.va);
	KEXPECT_FALSE(*leaf & PTE_D);
	KEXPECT_EQ(pks_set_access(&pks_test_owner, key, PKS_ACCESS_RW), 0);
	catch_write8((void *)p.va, 2, &f);
	KEXPECT_NO_FAULT(&f);
	KEXPECT_TRUE(*leaf & PTE_D);
	if (tkey)
		KEXPECT_NE(pks_read() & PKRS_WD(tkey), 0); /* WD held throughout */
out:
	pkrs_write(saved);
	pks_page_unmap(&p);
	KEXPECT_EQ(pks_key_free(&pks_test_owner, key), 0);
}
