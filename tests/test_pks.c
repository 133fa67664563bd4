/* tests/test_pks.c - PKS semantics on real mappings, driven by one scenario table.
 *
 * Each row maps a fresh leaf in the vmap area with a chosen size, U/S, W/NX and key,
 * sets PKRS (and CR0.WP, CR4.PKE + PKRU) as the row says, performs one real load,
 * store or call through the fault catcher, and checks the outcome: no fault, or a
 * #PF with exactly the expected error code at exactly the accessed address. Data
 * is written through the direct map (key 0) so every successful read and write is
 * also checked against memory. A failing row is printed whole, with its line and
 * the PKRS, CR0.WP and leaf level it ran with.
 *
 * The rest of the suite (PKRS across traps and threads, the allocator, the fault
 * report) is in tests/test_pks_state.c and tests/test_pks_nmi.c.
 */
#include "tests/pks_fixture.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"
#include "mm/dmap.h"
#include "mm/pgtable.h"

KTEST_SUITE(10, pks, pks_unavailable_reason);

#define PF_READ	   (PF_P | PF_PK)	 /* 0x21: read blocked by a key */
#define PF_WRITE   (PF_P | PF_W | PF_PK) /* 0x23: write blocked by a key */
#define NO_FAULT   0
#define RET_OPCODE 0xc3

enum pks_op { OP_READ, OP_WRITE, OP_EXEC };

/* The rows of one case. */
enum pks_group { G_AD, G_WD, G_WP0, G_KEY0, G_USER, G_EXEC, G_2M, G_1G };

struct pks_scenario {
	int line; /* of the row in this file: AT_LINE */
	enum pks_group group;
	const char *what;
	int level;		/* leaf: PT_LEVEL_PTE (4 KiB), _PMD (2 MiB), _PUD (1 GiB) */
	uint64_t prot;		/* PTE_W, PTE_NX, PTE_U (P implied) */
	bool key0;		/* the page has key 0 (else the test key) */
	enum pks_access access; /* test key in PKRS; key0 rows: every key but 0 closed */
	bool wp0;		/* access with CR0.WP = 0 */
	bool pkru_ad;		/* access with CR4.PKE = 1 and PKRU AD|WD for the key */
	enum pks_op op;
	uint64_t offset; /* into the leaf */
	uint32_t err;	 /* expected #PF error code, or NO_FAULT */
};

/* Records the line of the row it opens, which a failure of the row prints. */
#define AT_LINE .line = __LINE__

#define DATA  (PTE_W | PTE_NX)
#define USER  (PTE_U | PTE_W | PTE_NX)
#define CODE  0ULL /* present, read-only, executable */
#define PTE   PT_LEVEL_PTE
#define PMD   PT_LEVEL_PMD
#define PUD   PT_LEVEL_PUD
#define RW    PKS_ACCESS_RW
#define RO    PKS_ACCESS_RO
#define NONE  PKS_ACCESS_NONE
#define END4K (PAGE_SIZE - 1)
#define MID2M (PMD_SIZE / 2 + 0x40)
#define END2M (PMD_SIZE - 1)
#define MID1G (PUD_SIZE / 2 + 0x40)
#define END1G (PUD_SIZE - 1)

/* Fields left out are 0: key0, wp0 and pkru_ad false. */
static const struct pks_scenario scenarios[] = {
	{ AT_LINE, .group = G_AD, .what = "RW key: read", .level = PTE, .prot = DATA, .access = RW,
	  .op = OP_READ, .offset = 0, .err = NO_FAULT },
	{ AT_LINE, .group = G_AD, .what = "RW key: write", .level = PTE, .prot = DATA, .access = RW,
	  .op = OP_WRITE, .offset = 8, .err = NO_FAULT },
	{ AT_LINE, .group = G_AD, .what = "AD: read", .level = PTE, .prot = DATA, .access = NONE,
	  .op = OP_READ, .offset = 0, .err = PF_READ },
	{ AT_LINE, .group = G_AD, .what = "AD: write", .level = PTE, .prot = DATA, .access = NONE,
	  .op = OP_WRITE, .offset = 8, .err = PF_WRITE },
	{ AT_LINE, .group = G_AD, .what = "AD: read of the last byte", .level = PTE, .prot = DATA,
	  .access = NONE, .op = OP_READ, .offset = END4K, .err = PF_READ },
	{ AT_LINE, .group = G_WD, .what = "WD, WP=1: read", .level = PTE, .prot = DATA,
	  .access = RO, .op = OP_READ, .offset = 0x10, .err = NO_FAULT },
	{ AT_LINE, .group = G_WD, .what = "WD, WP=1: write", .level = PTE, .prot = DATA,
	  .access = RO, .op = OP_WRITE, .offset = 0x10, .err = PF_WRITE },
	{ AT_LINE, .group = G_WP0, .what = "WD, WP=0: write", .level = PTE, .prot = DATA,
	  .access = RO, .wp0 = true, .op = OP_WRITE, .offset = 0x18, .err = NO_FAULT },
	{ AT_LINE, .group = G_WP0, .what = "WD, WP=0: read", .level = PTE, .prot = DATA,
	  .access = RO, .wp0 = true, .op = OP_READ, .offset = 0x18, .err = NO_FAULT },
	{ AT_LINE, .group = G_WP0, .what = "AD, WP=0: read", .level = PTE, .prot = DATA,
	  .access = NONE, .wp0 = true, .op = OP_READ, .offset = 0x20, .err = PF_READ },
	{ AT_LINE, .group = G_WP0, .what = "AD, WP=0: write", .level = PTE, .prot = DATA,
	  .access = NONE, .wp0 = true, .op = OP_WRITE, .offset = 0x20, .err = PF_WRITE },
	{ AT_LINE, .group = G_KEY0, .what = "key 0, keys 1-15 AD|WD: read", .level = PTE,
	  .prot = DATA, .key0 = true, .access = NONE, .op = OP_READ, .offset = 0x28,
	  .err = NO_FAULT },
	{ AT_LINE, .group = G_KEY0, .what = "key 0, keys 1-15 AD|WD: write", .level = PTE,
	  .prot = DATA, .key0 = true, .access = NONE, .op = OP_WRITE, .offset = 0x28,
	  .err = NO_FAULT },
	{ AT_LINE, .group = G_USER, .what = "user page, PKRS AD: read", .level = PTE, .prot = USER,
	  .access = NONE, .op = OP_READ, .offset = 0x30, .err = NO_FAULT },
	{ AT_LINE, .group = G_USER, .what = "user page, PKRS AD: write", .level = PTE, .prot = USER,
	  .access = NONE, .op = OP_WRITE, .offset = 0x30, .err = NO_FAULT },
	{ AT_LINE, .group = G_USER, .what = "user page, PKRU AD: read", .level = PTE, .prot = USER,
	  .access = RW, .pkru_ad = true, .op = OP_READ, .offset = 0x38, .err = PF_READ },
	{ AT_LINE, .group = G_USER, .what = "user page, PKRU AD: write", .level = PTE, .prot = USER,
	  .access = RW, .pkru_ad = true, .op = OP_WRITE, .offset = 0x38, .err = PF_WRITE },
	{ AT_LINE, .group = G_EXEC, .what = "AD: fetch of a ret", .level = PTE, .prot = CODE,
	  .access = NONE, .op = OP_EXEC, .offset = 0x40, .err = NO_FAULT },
	{ AT_LINE, .group = G_EXEC, .what = "AD: read of the same ret", .level = PTE, .prot = CODE,
	  .access = NONE, .op = OP_READ, .offset = 0x40, .err = PF_READ },
	{ AT_LINE, .group = G_2M, .what = "2M AD: read at start", .level = PMD, .prot = DATA,
	  .access = NONE, .op = OP_READ, .offset = 0, .err = PF_READ },
	{ AT_LINE, .group = G_2M, .what = "2M AD: read in the middle", .level = PMD, .prot = DATA,
	  .access = NONE, .op = OP_READ, .offset = MID2M, .err = PF_READ },
	{ AT_LINE, .group = G_2M, .what = "2M AD: read of the last byte", .level = PMD,
	  .prot = DATA, .access = NONE, .op = OP_READ, .offset = END2M, .err = PF_READ },
	{ AT_LINE, .group = G_2M, .what = "2M WD: write at start", .level = PMD, .prot = DATA,
	  .access = RO, .op = OP_WRITE, .offset = 0, .err = PF_WRITE },
	{ AT_LINE, .group = G_2M, .what = "2M WD: write in the middle", .level = PMD, .prot = DATA,
	  .access = RO, .op = OP_WRITE, .offset = MID2M, .err = PF_WRITE },
	{ AT_LINE, .group = G_2M, .what = "2M WD: write of the last byte", .level = PMD,
	  .prot = DATA, .access = RO, .op = OP_WRITE, .offset = END2M, .err = PF_WRITE },
	{ AT_LINE, .group = G_2M, .what = "2M WD: read of the last byte", .level = PMD,
	  .prot = DATA, .access = RO, .op = OP_READ, .offset = END2M, .err = NO_FAULT },
	{ AT_LINE, .group = G_2M, .what = "2M RW: write of the last byte", .level = PMD,
	  .prot = DATA, .access = RW, .op = OP_WRITE, .offset = END2M, .err = NO_FAULT },
	{ AT_LINE, .group = G_1G, .what = "1G AD: read at start", .level = PUD, .prot = DATA,
	  .access = NONE, .op = OP_READ, .offset = 0, .err = PF_READ },
	{ AT_LINE, .group = G_1G, .what = "1G AD: read in the middle", .level = PUD, .prot = DATA,
	  .access = NONE, .op = OP_READ, .offset = MID1G, .err = PF_READ },
	{ AT_LINE, .group = G_1G, .what = "1G AD: read of the last byte", .level = PUD,
	  .prot = DATA, .access = NONE, .op = OP_READ, .offset = END1G, .err = PF_READ },
	{ AT_LINE, .group = G_1G, .what = "1G WD: write at start", .level = PUD, .prot = DATA,
	  .access = RO, .op = OP_WRITE, .offset = 0, .err = PF_WRITE },
	{ AT_LINE, .group = G_1G, .what = "1G WD: write in the middle", .level = PUD, .prot = DATA,
	  .access = RO, .op = OP_WRITE, .offset = MID1G, .err = PF_WRITE },
	{ AT_LINE, .group = G_1G, .what = "1G WD: write of the last byte", .level = PUD,
	  .prot = DATA, .access = RO, .op = OP_WRITE, .offset = END1G, .err = PF_WRITE },
	{ AT_LINE, .group = G_1G, .what = "1G WD: read of the last byte", .level = PUD,
	  .prot = DATA, .access = RO, .op = OP_READ, .offset = END1G, .err = NO_FAULT },
	{ AT_LINE, .group = G_1G, .what = "1G RW: write of the last byte", .level = PUD,
	  .prot = DATA, .access = RW, .op = OP_WRITE, .offset = END1G, .err = NO_FAULT },
};

/* Names of the enums above, in their order, for print_row. */
static const char *const group_names[] = { "G_AD",   "G_WD",   "G_WP0", "G_KEY0",
					   "G_USER", "G_EXEC", "G_2M",	"G_1G" };
static const char *const op_names[] = { "OP_READ", "OP_WRITE", "OP_EXEC" };
static const char *const access_names[] = { [RW] = "RW", [RO] = "RO", [NONE] = "NONE" };

/* The byte a row stores (through the direct map) at `offset` before its access. */
static uint8_t row_pattern(uint64_t offset)
{
	return (uint8_t)(0xa5 ^ offset ^ (offset >> 12) ^ (offset >> 21));
}

/* A row in progress: what its failure prints besides the row itself. */
struct row_run {
	const struct pks_scenario *s;
	int key;	/* the test key */
	uint64_t va;	/* of the access; 0 before the page is mapped */
	bool accessed;	/* the register values below were taken */
	uint32_t pkrs;	/* IA32_PKRS at the access */
	uint32_t pkru;	/* PKRU at the access (pkru_ad rows) */
	bool wp;	/* CR0.WP at the access */
	int leaf_level; /* of the leaf that maps va, -1 when none */
};

/* ktest context: the row by field name, then what it ran with. */
static void print_row(const void *arg)
{
	const struct row_run *r = arg;
	const struct pks_scenario *s = r->s;
	int pk = s->key0 ? 0 : r->key;

	kprintf("row at %s:%d: group=%s, what=\"%s\", level=%s, prot=%s|%s|%s, key0=%d, "
		"access=%s, wp0=%d, pkru_ad=%d, op=%s, offset=0x%llx, err=0x%x; ",
		__FILE__, s->line, group_names[s->group], s->what, pt_level_name(s->level),
		s->prot & PTE_W ? "W" : "RO", s->prot & PTE_NX ? "NX" : "X",
		s->prot & PTE_U ? "U" : "S", s->key0, access_names[s->access], s->wp0, s->pkru_ad,
		op_names[s->op], (unsigned long long)s->offset, s->err);
	if (!r->accessed) {
		kprintf("failed before the access, test key %d\n", r->key);
		return;
	}
	kprintf("ran with va=0x%llx, PKRS=0x%08x (page key %d: AD=%d WD=%d), CR0.WP=%d, "
		"leaf level=%s",
		(unsigned long long)r->va, r->pkrs, pk, !!(r->pkrs & PKRS_AD(pk)),
		!!(r->pkrs & PKRS_WD(pk)), r->wp,
		r->leaf_level < 0 ? "unmapped" : pt_level_name(r->leaf_level));
	if (s->pkru_ad)
		kprintf(", CR4.PKE=1, PKRU=0x%08x", r->pkru);
	kprintf("\n");
}

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

/* Puts back what env_enter changed. */
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

/* Fails the case unless f matches: no fault when err is NO_FAULT, else a #PF with
 * exactly err at exactly va (the row context names the row). */
static void check_outcome(const struct pks_scenario *s, const struct fault *f, uint64_t va)
{
	if (!s->err && f->hit)
		ktest_fail(__FILE__, __LINE__, "unexpected %s, error 0x%llx at 0x%llx",
			   trap_name(f->vector), (unsigned long long)f->error,
			   (unsigned long long)f->addr);
	else if (s->err && !f->hit)
		ktest_fail(__FILE__, __LINE__, "no fault, expected #PF 0x%x", s->err);
	else if (s->err && (f->vector != VEC_PF || f->error != s->err || f->addr != va))
		ktest_fail(__FILE__, __LINE__,
			   "got %s error 0x%llx at 0x%llx, expected #PF 0x%x at 0x%llx",
			   trap_name(f->vector), (unsigned long long)f->error,
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

/* Sets the row's rights and control registers, records them in r, makes the access
 * and puts the registers back; returns the byte read or written. */
static uint8_t row_access(struct row_run *r, volatile uint8_t *va, uint8_t want, struct fault *f)
{
	const struct pks_scenario *s = r->s;
	uint32_t saved = pkrs_read();
	struct row_env env;
	uint8_t got;
	int level;

	r->leaf_level = pt_lookup((uint64_t)va, &level) ? level : -1; /* before keys close */
	set_rights(s, r->key);
	env_enter(s, r->key, &env);
	r->pkrs = pkrs_read();
	r->pkru = s->pkru_ad ? pkru_read() : 0;
	r->wp = (read_cr0() & CR0_WP) != 0;
	r->accessed = true;
	got = do_access(s->op, va, want, f);
	env_leave(s, &env);
	pkrs_write(saved);
	return got;
}

/* Runs one row on a page of its own; returns a reason when the row cannot run
 * (no frames for its leaf); any other failure to map the page fails the case.
 * Every failure of the row is preceded by the row (print_row). */
static const char *run_scenario(const struct pks_scenario *s, int key)
{
	struct row_run r = { .s = s, .key = key, .leaf_level = -1 };
	volatile uint8_t *mem, *va;
	struct pks_page p;
	struct fault f;
	uint8_t want, got;
	int rc = pks_page_map(&p, s->level, s->prot, s->key0 ? 0 : key);

	if (rc && !p.pa)
		return no_frames_reason(s->level);
	ktest_set_context(print_row, &r);
	if (rc) {
		ktest_fail(__FILE__, __LINE__, "%s: mapping its %llu KiB page failed: %d", s->what,
			   (unsigned long long)(p.size / KiB), rc);
		ktest_set_context(NULL, NULL);
		return NULL;
	}
	mem = (volatile uint8_t *)pa_to_va(p.pa) + s->offset;
	va = (volatile uint8_t *)(p.va + s->offset);
	r.va = (uint64_t)va;
	*mem = s->op == OP_EXEC ? RET_OPCODE : row_pattern(s->offset);
	want = s->op == OP_WRITE ? (uint8_t) ~*mem : *mem;
	got = row_access(&r, va, want, &f);
	check_outcome(s, &f, r.va);
	if (!f.hit && s->op != OP_EXEC && got != want)
		ktest_fail(__FILE__, __LINE__, "read 0x%x, expected 0x%x", got, want);
	if (s->op == OP_WRITE && *mem != (f.hit ? (uint8_t)~want : want))
		ktest_fail(__FILE__, __LINE__, "memory holds 0x%x after the write", *mem);
	ktest_set_context(NULL, NULL);
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
