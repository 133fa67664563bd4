/* mm/pgprot.c - page-table protection: the key, the write window, the modes, and
 * the handling of a write that hits a table page outside a window. */
#include "mm/pgprot.h"
#include "mm/dmap.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "kernel/cmdline.h"
#include "kernel/panic.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/trap.h"
#include "arch/trap_pkrs.h"

/* The table key's owner token (kernel/pks.h): only this file changes its rights. */
static const char key_owner;
static int table_key;
static enum pgprot_mode mode = PGPROT_OFF;
static bool enforced;
static const char *unprotected_reason = "pgprot_setup() has not run";
static uint64_t violations;

/* Soft mode: the write let through is single-stepped; #DB puts this PKRS back. */
static struct {
	bool pending;
	uint32_t pkrs;
	bool had_tf;
} rearm;

static bool pgprot_pf(struct trap_frame *f);
static bool pgprot_db(struct trap_frame *f);

/* Picks the mode: pks_tables= when PKS is available, else off with the reason. */
static enum pgprot_mode choose_mode(void)
{
	if (!pks_available()) {
		unprotected_reason = pks_unavailable_reason();
		return PGPROT_OFF;
	}
	if (cmdline_is("pks_tables", "off")) {
		unprotected_reason = "disabled by pks_tables=off";
		return PGPROT_OFF;
	}
	return cmdline_is("pks_tables", "soft") ? PGPROT_SOFT : PGPROT_ON;
}

void pgprot_setup(void)
{
	int key;

	mode = choose_mode();
	if (!pks_available())
		return;
	/* The key is taken even with pks_tables=off: tables carry it either way, so
	 * every mode runs the same code; off leaves it writable in the default. */
	key = pks_key_alloc_guarded("page tables", &key_owner);
	if (key < 0) {
		mode = PGPROT_OFF;
		unprotected_reason = "no protection key left for the page tables";
		return;
	}
	table_key = key;
	pks_key_set_default(&key_owner, key, mode == PGPROT_OFF ? PKS_ACCESS_RW : PKS_ACCESS_RO);
	trap_register(VEC_PF, pgprot_pf);
	trap_register(VEC_DB, pgprot_db);
}

void pgprot_enable(void)
{
	enforced = mode != PGPROT_OFF && pks_enabled();
	if (mode != PGPROT_OFF && !enforced)
		unprotected_reason = "PKS could not be enabled";
	/* No trap exit may open the table key unless its trap came from inside a window. */
	if (enforced)
		trap_pkrs_set_guard(PKRS_KEY_MASK(table_key), PKRS_WD(table_key));
}

enum pgprot_mode pgprot_mode(void)
{
	return mode;
}

const char *pgprot_mode_name(void)
{
	static const char *const n[] = { "off", "soft", "on" };

	return n[mode];
}

const char *pgprot_unprotected_reason(void)
{
	return enforced ? NULL : unprotected_reason;
}

int pgprot_key(void)
{
	return table_key;
}

bool pgprot_enforced(void)
{
	return enforced;
}

bool pgprot_pkrs_opens_tables(uint32_t pkrs)
{
	return enforced && !(pkrs & PKRS_KEY_MASK(table_key));
}

uint64_t pgprot_violations(void)
{
	return violations;
}

int pgprot_set_mode(enum pgprot_mode m)
{
	if (!enforced || m == PGPROT_OFF)
		return -EINVAL;
	mode = m;
	return 0;
}

uint32_t pt_window_open(void)
{
	uint32_t old;

	if (!enforced)
		return 0;
	old = pkrs_read();
	if (old & PKRS_KEY_MASK(table_key))
		pkrs_write(old & ~PKRS_KEY_MASK(table_key));
	return old;
}

/* Only the table key's two bits go back to their value at the open: a key another
 * call closed inside the window (pks_key_free) stays closed. */
void pt_window_close(uint32_t saved)
{
	uint32_t mask = PKRS_KEY_MASK(table_key), cur;

	if (!enforced)
		return;
	cur = pkrs_read();
	if ((cur & mask) != (saved & mask))
		pkrs_write((cur & ~mask) | (saved & mask));
}

bool pt_window_is_open(void)
{
	return !enforced || !(pkrs_read() & PKRS_KEY_MASK(table_key));
}

/* True when [a, a+alen) and [b, b+blen) overlap. */
static bool overlaps(phys_addr_t a, uint64_t alen, phys_addr_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

enum pgprot_guard pgprot_guard_of(phys_addr_t pa, uint64_t len)
{
	phys_addr_t ro = kernel_pa_start();

	if (overlaps(pa, len, ro, kernel_ro_pa_end() - ro))
		return PGPROT_GUARD_READONLY;
	if (pool_overlaps(pa, len, NULL) || ptcache_overlaps(pa, len))
		return PGPROT_GUARD_TABLE;
	return PGPROT_GUARD_NONE;
}

bool pgprot_leaf_allowed(bool dmap, phys_addr_t pa, uint64_t size, uint64_t e)
{
	enum pgprot_guard g;

	if (!(e & PTE_W))
		return true;
	g = pgprot_guard_of(pa, size);
	if (g == PGPROT_GUARD_NONE)
		return true;
	if (g == PGPROT_GUARD_READONLY || pt_entry_pkey(e) != table_key)
		return false;
	return g == PGPROT_GUARD_CONTROL || dmap;
}

/* Every table page lives in a keyed pool chunk or a keyed cache block, so the
 * constructor only verifies that its direct-map leaf carries the key. */
void pgprot_table_ctor(phys_addr_t pa, int level)
{
	int l;
	uint64_t *e;

	if (!table_key || !pt_kernel_root())
		return; /* the boot build keys pool chunks and cache blocks itself */
	e = pt_lookup(PAGE_OFFSET + pa, &l);
	/* Invariant: a table page is protected from the moment it is handed out. */
	if (e && pt_entry_pkey(*e) != table_key)
		panic("pgprot_table_ctor: %s table 0x%llx is not keyed", pt_level_name(level),
		      (unsigned long long)pa);
}

/* Pool frames stay keyed for life; a cache block loses its key when wholly free
 * (mm/ptcache.c), so a single page has nothing to undo. */
void pgprot_table_dtor(phys_addr_t pa, int level)
{
	(void)pa;
	(void)level;
}

/* What a table page at pa is: its level and the range it maps, from a walk. */
struct table_owner {
	phys_addr_t pa;
	int level; /* -1: not a live table */
	uint64_t va, size;
};

static void match_table(phys_addr_t table, int level, int index, uint64_t e, uint64_t va, void *arg)
{
	struct table_owner *o = arg;

	(void)table;
	(void)index;
	if (level > PT_LEVEL_PTE && !pt_is_leaf(e, level) && pt_entry_pa(e, level) == o->pa) {
		o->level = level - 1;
		o->va = va;
		o->size = pt_size(level);
	}
}

/* Prints the "write to a protected page table" report for a fault at addr. */
static void report_violation(const struct trap_frame *f, uint64_t addr)
{
	struct table_owner o = { ALIGN_DOWN(va_to_pa((void *)addr), PAGE_SIZE), -1, 0, 0 };
	char pkrs[400];

	if (o.pa == pt_kernel_root())
		o = (struct table_owner){ o.pa, pt_root_level(), 0, 0 };
	else
		pt_walk_all(pt_kernel_root(), match_table, &o);
	kprintf("\nPKS: write to a protected page table at 0x%016llx, RIP 0x%016llx\n",
		(unsigned long long)addr, (unsigned long long)f->rip);
	if (o.level < 0)
		kprintf("PKS: frame 0x%llx is a free %s page\n", (unsigned long long)o.pa,
			pool_contains(o.pa) ? "split-pool" : "table-cache");
	else if (o.size)
		kprintf("PKS: frame 0x%llx is a %s table (%s) mapping 0x%016llx-0x%016llx\n",
			(unsigned long long)o.pa, pt_level_name(o.level),
			pt_level_intel_name(o.level), (unsigned long long)o.va,
			(unsigned long long)(o.va + o.size - 1));
	else
		kprintf("PKS: frame 0x%llx is the root table (%s)\n", (unsigned long long)o.pa,
			pt_level_intel_name(o.level));
	pks_decode((uint32_t)f->pkrs, pkrs, sizeof(pkrs));
	kprintf("PKS: PKRS at the fault 0x%08llx: %s\n", (unsigned long long)f->pkrs, pkrs);
	backtrace(f->rip, f->rbp);
}

/* #PF handler: a write blocked by the table key outside a window. */
static bool pgprot_pf(struct trap_frame *f)
{
	uint64_t addr = read_cr2(), *e;
	uint32_t w;
	int level;

	if (!enforced || (f->error & (PF_PK | PF_W)) != (PF_PK | PF_W))
		return false;
	e = pt_lookup(addr, &level);
	if (!e || pt_entry_pkey(*e) != table_key)
		return false;
	violations++;
	report_violation(f, addr);
	if (mode == PGPROT_ON) {
		kprintf("PKS: after the blocked write the word at the fault address holds "
			"0x%016llx\n",
			(unsigned long long)*(volatile uint64_t *)ALIGN_DOWN(addr, 8));
		kprintf("PKS: pks_tables=on: a stray page-table write is fatal\n");
		trap_fatal(f);
	}
	kprintf("PKS: pks_tables=soft: violation %llu, this write is let through once\n",
		(unsigned long long)violations);
	w = pt_window_open();
	if (trap_pkrs_allow_open(f)) {
		kprintf("PKS: no room to let this write through: fatal\n");
		trap_fatal(f);
	}
	rearm.pending = true;
	rearm.pkrs = (uint32_t)f->pkrs;
	rearm.had_tf = f->rflags & RFLAGS_TF;
	pt_window_close(w);
	f->pkrs &= ~(uint64_t)PKRS_KEY_MASK(table_key);
	f->rflags |= RFLAGS_TF;
	return true;
}

/* #DB after the single-stepped write: protection back on. */
static bool pgprot_db(struct trap_frame *f)
{
	if (!rearm.pending)
		return false;
	f->pkrs = rearm.pkrs;
	if (!rearm.had_tf)
		f->rflags &= ~RFLAGS_TF;
	rearm.pending = false;
	return true;
}
