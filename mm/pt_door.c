/* mm/pt_door.c - the write window and the set helpers behind mm/pt_door.h: the
 * only code that opens the page-table key in PKRS, and the only stores into tables. */
#include "mm/pt_door.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/protect_map.h"
#include "mm/ptcache.h"
#include "mm/pt_lock.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/printf.h"
#include "arch/pkrs.h"

/* The key's AD and WD bits in PKRS while the tables are protected, else 0 (then a
 * window changes nothing). */
static uint32_t key_bits(void)
{
	return pgprot_enforced() ? PKRS_KEY_MASK(pgprot_key()) : 0;
}

/* Per CPU, keyed: the windows open on this CPU's current thread, innermost last:
 * depth, and per level whether the key was already writable when that level opened
 * (bit set: a nested window, whose close leaves the key as it is). pt_window_close
 * reads this, never its caller's token: the token lives on a writable stack, and a
 * stray store that made it say "nested" would leave the key open after the outermost
 * close. A thread switch saves and loads it with the thread's PKRS (kernel/thread.c).
 * It also says whether pt_window_suspend closed the window for a while. */
static struct pt_window_nest nest[NR_CPUS] __pt_keyed;

/* This CPU's record. The index comes from the plain per-CPU record: bounded, so a
 * forged one cannot aim a keyed store (made inside a window) elsewhere. */
static struct pt_window_nest *my_nest(void)
{
	int i = this_cpu_id();

	if ((unsigned int)i >= NR_CPUS)
		panic("pt_door: CPU index %d out of range", i);
	return &nest[i];
}

uint32_t pt_window_open(void)
{
	uint32_t mask = key_bits(), old;
	struct pt_window_nest *n;
	uint64_t flags;

	if (!mask)
		return 0;
	/* Interrupts off: a handler that opens a window of its own (a round's
	 * acknowledgement) must not land between the record's bit and its depth. */
	flags = irq_save();
	old = pkrs_read();
	if (old & mask) {
		pkrs_count_this_cpu()->windows++;
		pkrs_write(old & ~mask);
	}
	n = my_nest();
	/* Invariant: windows nest a few levels (a call, its splits, a cache refill). */
	if (n->depth >= PT_WINDOW_NEST_MAX)
		panic("pt_window_open: windows nested deeper than %d", PT_WINDOW_NEST_MAX);
	if (old & mask)
		n->was_open &= ~(1ULL << n->depth);
	else
		n->was_open |= 1ULL << n->depth;
	n->depth++;
	irq_restore(flags);
	return old;
}

void pt_window_close(uint32_t saved)
{
	uint32_t mask = key_bits(), cur;
	struct pt_window_nest *n;
	uint64_t flags;
	bool nested;

	(void)saved; /* the keyed record decides, not the caller's copy */
	if (!mask)
		return;
	flags = irq_save(); /* as in pt_window_open */
	cur = pkrs_read();
	if (!(cur & mask)) { /* else closed already (a caught fault ended every window) */
		n = my_nest();
		nested = n->depth && (n->was_open & (1ULL << (n->depth - 1)));
		if (n->depth)
			n->depth--;
		if (!nested)
			pkrs_write((cur & ~mask) | PKRS_WD(pgprot_key()));
	}
	irq_restore(flags);
}

void pt_window_nest_switch(struct pt_window_nest *save, const struct pt_window_nest *load)
{
	struct pt_window_nest *n = my_nest();

	/* Invariant: called inside the switch's own window, the innermost level. */
	ASSERT(pt_window_is_open() && (!key_bits() || n->depth > 0));
	if (key_bits())
		n->depth--; /* the switch's window: the load of next's PKRS ends it */
	*save = *n;
	*n = *load;
}

void pt_window_reopen(void)
{
	uint32_t mask = key_bits(), cur;

	if (!mask || !my_nest()->depth)
		return; /* only a window the keyed record holds comes back */
	cur = pkrs_read();
	if (cur & mask) {
		pkrs_count_this_cpu()->windows++;
		pkrs_write(cur & ~mask);
	}
}

void pt_window_forget_all(void)
{
	struct pt_window_nest *n = my_nest();
	uint32_t cur;

	if (!key_bits() || (!n->depth && !n->suspended))
		return;
	cur = pkrs_read();
	pkrs_write(cur & ~key_bits()); /* the record is keyed */
	n->depth = 0;
	n->suspended = false; /* a suspended window ended too: no resume reopens it */
	pkrs_write(cur);
}

uint32_t pt_window_depth(void)
{
	return my_nest()->depth;
}

bool pt_window_suspend(void)
{
	uint32_t mask = key_bits(), cur;

	if (!mask)
		return false;
	cur = pkrs_read();
	if (cur & mask)
		return false; /* no window open: nothing to close */
	/* The record's flag is set while the window is still open (it is keyed): a stray
	 * store during the suspended stretch (into it, or into the caller's token on the
	 * stack) cannot make a resume open the key. Suspensions happen with interrupts off
	 * (under ptcache_lock), so the CPU does not change in between.
	 * Invariant: a suspended stretch runs with the key closed, so none nests in one. */
	ASSERT(!my_nest()->suspended);
	my_nest()->suspended = true;
	pkrs_write(cur | PKRS_WD(pgprot_key()));
	return true;
}

void pt_window_resume(bool closed)
{
	uint32_t mask = key_bits();

	if (!mask || !closed || !my_nest()->suspended)
		return; /* only the suspension this CPU recorded opens the key again */
	pkrs_count_this_cpu()->windows++;
	pkrs_write(pkrs_read() & ~mask);
	my_nest()->suspended = false;
}

void pt_door_counts(struct pt_door_counts *c)
{
	const struct pkrs_count *k = pkrs_count_this_cpu();

	c->pkrs_writes = k->writes;
	c->windows = k->windows;
}

bool pt_window_is_open(void)
{
	uint32_t mask = key_bits();

	return !mask || !(pkrs_read() & mask);
}

uint32_t pt_window_opened(uint32_t pkrs)
{
	return pkrs & ~key_bits();
}

/* The table the entry e of a table of `level` links, or 0 (no link: empty, a leaf,
 * or a pte). */
static phys_addr_t link_of(uint64_t e, int level)
{
	if (level == PT_LEVEL_PTE || !pt_present(e) || pt_is_leaf(e, level))
		return 0;
	return pt_entry_pa(e, level);
}

/* 0 when v, stored at p (an entry of a live table of `level`), links a live table one
 * level down that no other entry links; -EPERM otherwise. A second parent would let
 * one table be freed twice: the refusal is reported. */
static int check_link(const uint64_t *p, uint64_t v, int level)
{
	phys_addr_t child = pt_entry_pa(v, level);

	if (pt_table_level(child) != level - 1)
		return -EPERM;
	if (link_of(*p, level) == child || !pt_table_linked(child))
		return 0;
	kprintf("pt_door: refused a second link to the %s table 0x%llx at %p: it has a parent\n",
		pt_level_name(level - 1), (unsigned long long)child, (const void *)p);
	return -EPERM;
}

/* Stores the checked v at p (an entry of a table of `level`, window open) and moves
 * the parent record: the table the old entry linked has none now, v's table has p. */
static void store_entry(uint64_t *p, uint64_t v, int level)
{
	phys_addr_t was = link_of(*p, level), now = link_of(v, level);

	*(volatile uint64_t *)p = v;
	if (was == now)
		return;
	if (was && pt_table_level(was) >= 0)
		pt_set_table_linked(was, false);
	if (now)
		pt_set_table_linked(now, true);
}

/* 0 when v may be stored at p: p is an entry of a live table (its level in *level),
 * and v is not present (a guard marker only from the guard walker, in a pte), or links
 * a live table one level down that has no other parent, or is a leaf the guards allow
 * (a slot of a pool table maps the direct map). -EINVAL or -EPERM otherwise. */
static int check_store(const uint64_t *p, uint64_t v, int *level_out)
{
	phys_addr_t table;
	int level;

	if (!IS_ALIGNED((uint64_t)p, sizeof(*p)) || !is_dmap_va((uint64_t)p))
		return -EINVAL;
	table = ALIGN_DOWN((uint64_t)p - PAGE_OFFSET, PAGE_SIZE);
	level = pt_table_level(table);
	if (level < 0)
		return -EINVAL;
	*level_out = level;
	if (guard_is_marker(v) && (level != PT_LEVEL_PTE || !guard_store_allowed()))
		return -EPERM;
	if (!pt_present(v)) /* only two values: empty, or the walker's marker above */
		return v == 0 || guard_is_marker(v) ? 0 : -EPERM;
	if (!pt_is_leaf(v, level))
		return check_link(p, v, level);
	if ((v & PTE_W) && !(v & PTE_NX))
		return -EPERM; /* W^X: no leaf is writable and executable */
	if (!protect_leaf_allowed(pool_contains(table), pt_entry_pa(v, level), pt_size(level), v))
		return -EPERM;
	return 0;
}

int pt_set_entry(uint64_t *p, uint64_t v)
{
	uint64_t flags = pt_lock_take();
	int level, rc = check_store(p, v, &level);
	uint32_t w;

	if (rc) {
		pt_lock_drop(flags);
		return rc;
	}
	w = pt_window_open();
	store_entry(p, v, level);
	pt_window_close(w);
	pt_lock_drop(flags);
	checker_after_change("after a table store");
	return 0;
}

int __pt_set_entry(uint64_t *p, uint64_t v)
{
	int level, rc = check_store(p, v, &level);

	/* Invariant: batch stores happen inside an open write window. */
	ASSERT(pt_window_is_open());
	if (!rc)
		store_entry(p, v, level);
	return rc;
}

/* The level of the live table whose slots p[0..n) are (n >= 1, all inside it), or
 * -EINVAL; its physical address in *table. */
static int run_table_level(const uint64_t *p, int n, phys_addr_t *table)
{
	int slot = (int)(((uint64_t)p & (PAGE_SIZE - 1)) / sizeof(*p)), level;

	if (!IS_ALIGNED((uint64_t)p, sizeof(*p)) || !is_dmap_va((uint64_t)p) || n < 1 ||
	    n > PT_ENTRIES - slot)
		return -EINVAL;
	*table = ALIGN_DOWN((uint64_t)p - PAGE_OFFSET, PAGE_SIZE);
	level = pt_table_level(*table);
	return level < 0 ? -EINVAL : level;
}

int __pt_fill_leaves(uint64_t *p, int n, uint64_t first)
{
	phys_addr_t table;
	int level = run_table_level(p, n, &table);
	uint64_t step;

	if (level < 0 || !pt_present(first) || !pt_is_leaf(first, level))
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (p[i])
			return -EINVAL; /* empty slots only: no link or marker is overwritten */
	step = pt_size(level);
	/* Every leaf's frame in the address field: first + i * step must not carry out
	 * of bits 12..51 into the ignored bits, the key or NX (a frame wrapping to 0). */
	if (!pt_pa_range_ok(pt_entry_pa(first, level), (uint64_t)n * step, level))
		return -EINVAL;
	if ((first & PTE_W) && !(first & PTE_NX))
		return -EPERM; /* W^X */
	if (!protect_leaf_allowed(pool_contains(table), pt_entry_pa(first, level),
				  (uint64_t)n * step, first))
		return -EPERM;
	/* Invariant: batch stores happen inside an open write window. */
	ASSERT(pt_window_is_open());
	for (int i = 0; i < n; i++)
		((volatile uint64_t *)p)[i] = first + (uint64_t)i * step;
	return 0;
}

int __pt_clear_leaves(uint64_t *p, int n)
{
	phys_addr_t table;
	int level = run_table_level(p, n, &table);

	if (level < 0)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (!pt_present(p[i]) || !pt_is_leaf(p[i], level))
			return -EINVAL; /* leaves only: no link is dropped without its record */
	/* Invariant: batch stores happen inside an open write window. */
	ASSERT(pt_window_is_open());
	for (int i = 0; i < n; i++)
		((volatile uint64_t *)p)[i] = 0;
	return 0;
}

/* True when the leaves p[0..n) of a table of `level` (in the pool when dmap), given
 * set and clear, keep every row's rule: checked once per run of leaves that map
 * contiguous memory with the same rule bits (a row refuses one of them exactly
 * when it overlaps the run). */
static bool leaves_allowed(const uint64_t *p, int n, int level, bool dmap, uint64_t set,
			   uint64_t clear)
{
	uint64_t size = pt_size(level);

	for (int i = 0, j; i < n; i = j) {
		uint64_t v = (p[i] & ~clear) | set;
		phys_addr_t pa = pt_entry_pa(v, level);

		for (j = i + 1;
		     j < n &&
		     (((p[j] & ~clear) | set) & PROTECT_RULE_BITS) == (v & PROTECT_RULE_BITS) &&
		     pt_entry_pa(p[j], level) == pa + (uint64_t)(j - i) * size;
		     j++)
			;
		if (!protect_leaf_allowed(dmap, pa, (uint64_t)(j - i) * size, v))
			return false;
	}
	return true;
}

int __pt_set_leaves(uint64_t *p, int n, uint64_t set, uint64_t clear)
{
	phys_addr_t table;
	int level = run_table_level(p, n, &table);

	if (level < 0 || ((set | clear) & ~PTE_PROT_MASK))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		uint64_t v = (p[i] & ~clear) | set;

		if (!pt_present(p[i]) || !pt_is_leaf(p[i], level))
			return -EINVAL;
		if ((v & PTE_W) && !(v & PTE_NX))
			return -EPERM; /* W^X */
	}
	if (!leaves_allowed(p, n, level, pool_contains(table), set, clear))
		return -EPERM;
	/* Invariant: batch stores happen inside an open write window. */
	ASSERT(pt_window_is_open());
	for (int i = 0; i < n; i++)
		((volatile uint64_t *)p)[i] = (p[i] & ~clear) | set;
	return 0;
}

int pt_clear_table(phys_addr_t pa)
{
	uint32_t w;

	if (!IS_ALIGNED(pa, PAGE_SIZE) || pt_table_level(pa) >= 0 ||
	    !(pool_contains(pa) || ptcache_overlaps(pa, PAGE_SIZE)))
		return -EPERM;
	w = pt_window_open();
	memset(pa_to_va(pa), 0, PT_ENTRIES * sizeof(uint64_t));
	pt_window_close(w);
	return 0;
}
