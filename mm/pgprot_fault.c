/* mm/pgprot_fault.c - a write that hits a page carrying the table key outside a
 * window: the report, and what each mode does with it (mm/pgprot.h).
 *
 * pks_tables=soft lets the write through once: the #PF handler records the write
 * (CPU, RIP, the PKRS to put back), lists the frame with the trap exit so it may
 * return with the key open (arch/trap_pkrs.h) and sets RFLAGS.TF; the write runs,
 * and the single-step #DB that follows (DR6.BS, RIP just past the write's
 * instruction, same CPU) closes the key again. Records are per write, so a second
 * violation in between (a trap taken before the stepped write, a handler that
 * writes too) has its own; any other #DB passes on to the next handler. Records are
 * per CPU: claimed with an atomic exchange, matched by the CPU's APIC ID. */
#include "mm/pgprot.h"
#include "mm/dmap.h"
#include "mm/mm_internal.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/pt_door.h"
#include "mm/ptcache.h"
#include "kernel/panic.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/debugreg.h"
#include "arch/pkrs.h"
#include "arch/trap.h"
#include "arch/trap_pkrs.h"

#define REARM_MAX	16
#define MAX_INSN_LENGTH 15 /* SDM Vol. 2A, 2.3.11 */

static uint64_t violations __pt_keyed;

/* Soft mode: writes let through and being single-stepped, one record each. */
static struct rearm {
	uint32_t cpu;  /* APIC ID + 1; 0 = free */
	uint64_t seq;  /* the latest record wins a tie (a nested write) */
	uint64_t rip;  /* the write's instruction */
	uint32_t pkrs; /* what the interrupted code resumes with after the step */
	bool had_tf;   /* it was being single-stepped already */
} rearms[REARM_MAX] __pt_keyed;
static uint64_t rearm_seq __pt_keyed;

uint64_t pgprot_violations(void)
{
	return violations;
}

unsigned int pgprot_rearms_pending(void)
{
	unsigned int n = 0;

	for (int i = 0; i < REARM_MAX; i++)
		n += rearms[i].cpu != 0;
	return n;
}

/* Records the write at f (inside the caller's window); false when no slot is free. */
static bool rearm_record(const struct trap_frame *f)
{
	uint32_t me = apic_id() + 1;

	for (int i = 0; i < REARM_MAX; i++) {
		uint32_t free = 0;

		/* Claimed atomically: CPUs trapping at once each get their own record. */
		if (!__atomic_compare_exchange_n(&rearms[i].cpu, &free, me, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			continue;
		rearms[i].seq = __atomic_add_fetch(&rearm_seq, 1, __ATOMIC_RELAXED);
		rearms[i].rip = f->rip;
		rearms[i].pkrs = (uint32_t)f->pkrs;
		rearms[i].had_tf = f->rflags & RFLAGS_TF;
		return true;
	}
	return false;
}

/* The record a single-step #DB at rip on this CPU completes: the latest write of
 * this CPU whose instruction ends at rip; NULL when there is none. */
static struct rearm *rearm_match(uint64_t rip)
{
	struct rearm *best = NULL;
	uint32_t cpu = apic_id() + 1;

	for (int i = 0; i < REARM_MAX; i++) {
		struct rearm *r = &rearms[i];

		if (r->cpu == cpu && rip > r->rip && rip - r->rip <= MAX_INSN_LENGTH &&
		    (!best || r->seq > best->seq))
			best = r;
	}
	return best;
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
		kprintf("PKS: frame 0x%llx is %s\n", (unsigned long long)o.pa,
			pool_contains(o.pa)	 ? "a free split-pool page"
			: ptcache_contains(o.pa) ? "a free table-cache page"
						 : "protection state (page-table-keyed)");
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

/* pks_tables=soft: records the write, lets f return with the key open and
 * single-stepping. A write that cannot be recorded is fatal (never let through
 * without the way back). */
static void let_through_once(struct trap_frame *f)
{
	uint32_t w;

	kprintf("PKS: pks_tables=soft: violation %llu, this write is let through once\n",
		(unsigned long long)violations);
	w = pt_window_open();
	if (!rearm_record(f) || trap_pkrs_allow_open(f)) {
		kprintf("PKS: no room to let this write through: fatal\n");
		trap_fatal(f);
	}
	pt_window_close(w);
	f->pkrs = pt_window_opened((uint32_t)f->pkrs);
	f->rflags |= RFLAGS_TF;
}

/* #PF handler: a write blocked by the table key outside a window. */
static bool pgprot_pf(struct trap_frame *f)
{
	uint64_t addr = read_cr2(), *e;
	uint32_t w;
	int level;

	if (!pgprot_enforced() || (f->error & (PF_PK | PF_W)) != (PF_PK | PF_W))
		return false;
	e = pt_lookup(addr, &level);
	if (!e || pt_entry_pkey(*e) != pgprot_key())
		return false;
	w = pt_window_open();
	__atomic_add_fetch(&violations, 1, __ATOMIC_RELAXED);
	pt_window_close(w);
	report_violation(f, addr);
	if (pgprot_mode() == PGPROT_ON) {
		kprintf("PKS: after the blocked write the word at the fault address holds "
			"0x%016llx\n",
			(unsigned long long)*(volatile uint64_t *)ALIGN_DOWN(addr, 8));
		kprintf("PKS: pks_tables=on: a stray page-table write is fatal\n");
		trap_fatal(f);
	}
	let_through_once(f);
	return true;
}

/* #DB handler: the single step after a write let through closes the key again. Any
 * other #DB (no DR6.BS, another RIP, another CPU) is not ours. */
static bool pgprot_db(struct trap_frame *f)
{
	uint64_t dr6 = read_dr6();
	struct rearm *r;
	uint32_t w;

	if (!(dr6 & DR6_BS) || !(r = rearm_match(f->rip)))
		return false;
	f->pkrs = r->pkrs;
	if (!r->had_tf)
		f->rflags &= ~RFLAGS_TF;
	w = pt_window_open();
	r->cpu = 0;
	pt_window_close(w);
	write_dr6(dr6 & ~DR6_BS);
	return true;
}

void pgprot_fault_init(void)
{
	trap_register(VEC_PF, pgprot_pf);
	trap_register(VEC_DB, pgprot_db);
}
