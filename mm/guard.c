/* mm/guard.c - the guard-marker walker, large-leaf split and merge, and the guard
 * report (mm/guard.h). Every store goes through __pt_set_entry inside one write
 * window per call; tables come from pt_alloc and go back through pt_free. */
#include "mm/guard.h"
#include "mm/pt_lock.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/pgtable.h"
#include "mm/pt_flush.h"
#include "mm/vmap.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"

/* How far below the interrupted RSP a #DF's CR2 may lie to count as the #PF frame
 * push that overflowed: the CPU aligns RSP to 16 and pushes 5 or 6 words. */
#define DF_PUSH_REACH 64

/* True while the walker stores markers, inside its window: the only time
 * pt_set_entry takes GUARD_MARKER. Keyed, so only a window holder can set it.
 * (One CPU stores at a time today; with several it becomes per CPU.) */
static bool walker_active __pt_keyed;

bool guard_store_allowed(void)
{
	return walker_active;
}

/* __pt_set_entry for a store the walker has already validated. */
static void store(uint64_t *p, uint64_t v)
{
	int rc = __pt_set_entry(p, v);

	/* Invariant: the walker only makes stores the checks allow. */
	if (rc)
		panic("guard: store of 0x%llx at %p refused (%d)", (unsigned long long)v, (void *)p,
		      rc);
}

static bool table_empty(const uint64_t *t)
{
	for (int i = 0; i < PT_ENTRIES; i++)
		if (t[i])
			return false;
	return true;
}

/* Replaces the large leaf *e (at `level`, covering va) by a table of 512 leaves one
 * level down over the same memory with the same attributes, then flushes the old
 * translation (INVLPG of any address in a large page drops it, SDM Vol. 3A,
 * 4.10.4.1). 0 or -ENOMEM (nothing changed). Needs the window open. */
static int split(uint64_t *e, int level, uint64_t va)
{
	uint64_t old = *e, base = ALIGN_DOWN(va, pt_size(level));
	uint64_t attrs = old & ~PTE_ADDR_MASK & ~PTE_PS, *child;
	phys_addr_t pa = pt_entry_pa(old, level), t = pt_alloc(level - 1, base);

	if (!t)
		return -ENOMEM;
	if (level - 1 > PT_LEVEL_PTE)
		attrs |= PTE_PS;
	child = pa_to_va(t);
	/* Invariant: a split maps the same memory the same way, so the checks allow it
	 * (made once for the 512 leaves, mm/pt_door.h). */
	if (__pt_fill_leaves(child, PT_ENTRIES, pa | attrs))
		panic("guard: split of 0x%llx refused", (unsigned long long)va);
	store(e, t | PTE_TABLE);
	invlpg((void *)base);
	return 0;
}

/* True when [base, base+size) lies inside one region whose caller lent the memory:
 * only there may 4 KiB pages fold into a large leaf. A VMAP_OWNER_FRAMES region's
 * pages are separate frames (physically contiguous by chance), which vmap_drop and
 * vmap_region_free give back page by page; and a leaf across two regions would tie
 * their lifetimes together. */
static bool mergeable_range(uint64_t base, uint64_t size)
{
	const struct vmap_region *r = vmap_region_of(base);

	return r && r->owner == VMAP_OWNER_CALLER && size <= r->size &&
	       base - r->base <= r->size - size;
}

/* When the 512 entries of the table *e links (e at `level`, mapping from base) are
 * leaves over one aligned run with the same attributes (A and D aside), inside one
 * caller-owned region, replaces the link by one leaf of `level`, flushes every old
 * translation, frees the table and returns true. Needs the window open. */
static bool merge(uint64_t *e, int level, uint64_t base)
{
	phys_addr_t t = pt_entry_pa(*e, level);
	const uint64_t *c = pa_to_va(t);
	uint64_t ad = PTE_A | PTE_D, attrs = c[0] & ~PTE_ADDR_MASK & ~ad, seen = 0;
	uint64_t step = pt_size(level - 1);
	phys_addr_t pa = pt_entry_pa(c[0], level - 1);

	if (level > PT_LEVEL_PUD || (level == PT_LEVEL_PUD && !dmap_has_1g()) ||
	    !IS_ALIGNED(pa, pt_size(level)) || !mergeable_range(base, pt_size(level)))
		return false;
	for (int i = 0; i < PT_ENTRIES; i++) {
		if (!pt_present(c[i]) || !pt_is_leaf(c[i], level - 1) ||
		    pt_entry_pa(c[i], level - 1) != pa + (uint64_t)i * step ||
		    (c[i] & ~PTE_ADDR_MASK & ~ad) != attrs)
			return false;
		seen |= c[i] & ad;
	}
	store(e, pa | attrs | seen | PTE_PS);
	pt_flush_add(base, base + pt_size(level)); /* every CPU, before the free */
	pt_flush_free_table(t, level - 1);
	return true;
}

/* From va's pmd entry up (never the root's children): frees each table left empty,
 * or merges it into one leaf when its entries agree; stops at the first that stays.
 * Needs the window open. */
static void tidy(uint64_t va)
{
	for (int l = PT_LEVEL_PMD; l < pt_root_level(); l++) {
		uint64_t *e = pt_entry_at(pt_kernel_root(), va, l);
		phys_addr_t t;

		if (!e || !pt_present(*e) || pt_is_leaf(*e, l))
			return;
		t = pt_entry_pa(*e, l);
		if (table_empty(pa_to_va(t))) {
			store(e, 0);
			pt_flush_add(va, va + PAGE_SIZE); /* every CPU, before the free */
			pt_flush_free_table(t, l - 1);
		} else if (!merge(e, l, ALIGN_DOWN(va, pt_size(l)))) {
			return;
		}
	}
}

/* What make_pte_tables changed, in order: each entry it linked a new table into or
 * split, so that -ENOMEM can undo exactly that. */
#define GUARD_MADE_MAX 64
struct made {
	int n;
	struct {
		uint64_t *e, va;
		phys_addr_t t; /* the table linked at e */
		int level;
		bool split;
	} c[GUARD_MADE_MAX];
};

/* guard_install's record (under pt_lock, written inside its window): keyed, since
 * its count and entries decide where the next record goes and what the undo
 * unlinks. */
static struct made made __pt_keyed;

/* Records one change in m (pte_for checked there is room, before making it). */
static void record(struct made *m, uint64_t *e, uint64_t va, int level, bool split)
{
	m->c[m->n].e = e;
	m->c[m->n].va = va;
	m->c[m->n].t = pt_entry_pa(*e, level);
	m->c[m->n].level = level;
	m->c[m->n++].split = split;
}

/* The pte for va, linking new tables and splitting large leaves on the way (each
 * recorded in m when not NULL); NULL with *rc = -ENOMEM when a table cannot be had,
 * or -E2BIG when m has no room for one more change (nothing made then). Needs the
 * window open. */
static uint64_t *pte_for(uint64_t va, int *rc, struct made *m)
{
	uint64_t *table = pa_to_va(pt_kernel_root());

	*rc = 0;
	for (int l = pt_root_level(); l > PT_LEVEL_PTE && !*rc; l--) {
		uint64_t *e = &table[pt_index(va, l)];
		bool make = !pt_present(*e) || pt_is_leaf(*e, l);

		if (make && m && (unsigned int)m->n >= GUARD_MADE_MAX) {
			*rc = -E2BIG;
		} else if (!pt_present(*e)) {
			phys_addr_t t = pt_alloc(l - 1, va);

			if (!t)
				*rc = -ENOMEM;
			else
				store(e, t | PTE_TABLE);
			if (t && m)
				record(m, e, va, l, false);
		} else if (pt_is_leaf(*e, l)) {
			*rc = split(e, l, va);
			if (!*rc && m)
				record(m, e, va, l, true);
		}
		table = pa_to_va(pt_entry_pa(*e, l));
	}
	return *rc ? NULL : &table[pt_index(va, PT_LEVEL_PTE)];
}

/* Undoes m, newest first: a table made is unlinked and freed after the batch's
 * round (it holds nothing now), a leaf split is merged back. */
static void undo(const struct made *m)
{
	for (int i = m->n - 1; i >= 0; i--) {
		uint64_t *e = m->c[i].e, va = m->c[i].va;
		int l = m->c[i].level;
		phys_addr_t t = pt_entry_pa(*e, l);

		/* Invariant: e still links the table this call linked there. */
		if (!pt_present(*e) || pt_is_leaf(*e, l) || t != m->c[i].t)
			panic("guard: entry %p no longer links the table 0x%llx it made", (void *)e,
			      (unsigned long long)m->c[i].t);

		if (m->c[i].split) {
			merge(e, l, ALIGN_DOWN(va, pt_size(l))); /* same memory, same attributes */
			continue;
		}
		store(e, 0);
		pt_flush_add(va, va + PAGE_SIZE);
		pt_flush_free_table(t, l - 1);
	}
}

/* Adds `delta` markers to the count of each vmap region, page by page over the n
 * pages from va whose flags are set in counted[]: one keyed store per region met, not
 * one per page. */
static void add_to_marker_counts(uint64_t va, int n, const bool *counted, int delta)
{
	const struct vmap_region *r = NULL;
	uint64_t at = 0;
	int k = 0;

	for (int i = 0; i < n; i++) {
		uint64_t a = va + (uint64_t)i * PAGE_SIZE;

		if (!counted[i])
			continue;
		if (!r || a < r->base || a - r->base >= r->size) {
			if (k)
				vmap_count_markers(at, k * delta);
			r = vmap_region_of(a);
			at = a;
			k = 0;
		}
		k++;
	}
	if (k)
		vmap_count_markers(at, k * delta);
}

/* Puts a marker into the n ptes from e (va's, in one table); a page mapped there is
 * zapped first and its frame goes back to the region's owner once flushed. Needs the
 * window. */
static void install_run(uint64_t *e, uint64_t va, int n)
{
	bool stored[PT_ENTRIES];

	for (int i = 0; i < n; i++) {
		uint64_t old = e[i], a = va + (uint64_t)i * PAGE_SIZE;

		/* No nesting: a marker stays one marker. Single CPU: nothing maps a
		 * between the read above and this store. Once other CPUs map pages this
		 * becomes a compare-exchange of old with the marker; a failed exchange
		 * re-reads the entry and goes round again (a race is retried, never
		 * returned as -EAGAIN). */
		stored[i] = !guard_is_marker(old);
		if (!stored[i])
			continue;
		store(&e[i], GUARD_MARKER);
		if (pt_present(old)) {
			pt_flush_add(a, a + PAGE_SIZE);
			vmap_put_page(a, pt_entry_pa(old, PT_LEVEL_PTE), PAGE_SIZE); /* after it */
		}
	}
	add_to_marker_counts(va, n, stored, 1);
}

/* 0 when [va, va+size) is page aligned, non-empty and inside vmap regions. */
static int check_range(uint64_t va, uint64_t size)
{
	if (!size || !IS_ALIGNED(va | size, PAGE_SIZE) || !vmap_range_in_regions(va, size))
		return -EINVAL;
	return 0;
}

/* Drops pt_lock (flags from pt_lock_take), then runs the every-change checker
 * unless an outer batch is still open: its queued tables are unlinked but not yet
 * freed, and its caller checks once it is over. */
static void check_after(uint64_t flags, const char *what)
{
	bool outer = pt_flush_open();

	pt_lock_drop(flags);
	if (!outer)
		checker_after_change(what);
}

/* Links (or splits down to) the pte table of every 2 MiB of [va, va+size) before any
 * marker goes in, so that running out of tables changes nothing: on -ENOMEM, or
 * -E2BIG past GUARD_MADE_MAX changes, what it made is undone (and only that). Needs
 * the window open. */
static int make_pte_tables(uint64_t va, uint64_t size)
{
	uint64_t chunk = pt_size(PT_LEVEL_PMD);
	int rc = 0;

	made.n = 0;
	for (uint64_t a = ALIGN_DOWN(va, chunk); a < va + size && !rc; a += chunk)
		pte_for(MAX(a, va), &rc, &made);
	if (rc)
		undo(&made);
	return rc;
}

uint64_t *guard_made_attack_target(void)
{
	return (uint64_t *)&made;
}

int guard_install(uint64_t va, uint64_t size)
{
	int rc = check_range(va, size);
	uint64_t flags;
	uint32_t w;

	if (rc)
		return rc;
	flags = pt_lock_take();
	w = pt_window_open();
	pt_flush_begin(); /* one shootdown round for the pages it zaps */
	walker_active = true;
	rc = make_pte_tables(va, size);
	/* A table's worth of ptes at a time: one walk (the tables are there now) for
	 * the run; nothing here can fail. */
	for (uint64_t a = va; a < va + size && !rc;) {
		uint64_t *e = pte_for(a, &rc, NULL);
		int n = (int)MIN((va + size - a) / PAGE_SIZE,
				 PT_ENTRIES - pt_index(a, PT_LEVEL_PTE));

		/* Invariant: make_pte_tables made every table this walk needs. */
		if (!e)
			panic("guard_install: no pte table for 0x%llx after they were made",
			      (unsigned long long)a);
		install_run(e, a, n);
		a += (uint64_t)n * PAGE_SIZE;
	}
	walker_active = false;
	pt_flush_end();
	pt_window_close(w);
	check_after(flags, "after guard_install");
	return rc;
}

/* Clears the markers of [lo, hi) in the pte table that the pmd entry *pmd links,
 * then tidies that table and the ones above. Needs the window open. */
static void remove_in_table(uint64_t *pmd, uint64_t lo, uint64_t hi)
{
	uint64_t *t = pa_to_va(pt_entry_pa(*pmd, PT_LEVEL_PMD));
	int n = (int)((hi - lo) / PAGE_SIZE), first = (int)pt_index(lo, PT_LEVEL_PTE);
	bool cleared[PT_ENTRIES];

	for (int i = 0; i < n; i++) {
		uint64_t *e = &t[first + i];

		cleared[i] = guard_is_marker(*e);
		if (cleared[i])
			store(e, 0); /* P was 0: no translation to flush */
	}
	add_to_marker_counts(lo, n, cleared, -1);
	tidy(lo);
}

int guard_remove(uint64_t va, uint64_t size)
{
	uint64_t chunk = pt_size(PT_LEVEL_PMD), flags;
	int rc = check_range(va, size);
	uint32_t w;

	if (rc)
		return rc;
	flags = pt_lock_take();
	w = pt_window_open();
	pt_flush_begin(); /* one shootdown round for the tables it frees or merges */
	for (uint64_t a = va; a < va + size;) {
		uint64_t next = MIN(ALIGN_DOWN(a, chunk) + chunk, va + size);
		uint64_t *pmd = pt_entry_at(pt_kernel_root(), a, PT_LEVEL_PMD);

		/* A hole or a large leaf holds no marker: left alone, never split. */
		if (pmd && pt_present(*pmd) && !pt_is_leaf(*pmd, PT_LEVEL_PMD))
			remove_in_table(pmd, a, next);
		a = next;
	}
	pt_flush_end();
	pt_window_close(w);
	check_after(flags, "after guard_remove");
	return 0;
}

static int split_leaf(uint64_t va)
{
	int level, rc;
	uint64_t *e = pt_lookup(va, &level);
	uint32_t w;

	if (!e || level == PT_LEVEL_PTE)
		return -ENOENT;
	w = pt_window_open();
	rc = split(e, level, va);
	pt_window_close(w);
	checker_after_change("after guard_split_leaf");
	return rc;
}

/* split_leaf under pt_lock (mm/pt_lock.h): the entry is looked up with it held. */
int guard_split_leaf(uint64_t va)
{
	uint64_t flags = pt_lock_take();
	int rc = split_leaf(va);

	pt_lock_drop(flags);
	return rc;
}

bool guard_marker_at(uint64_t va)
{
	uint64_t *e = pt_entry_at(pt_kernel_root(), va, PT_LEVEL_PTE);

	return e && guard_is_marker(*e);
}

bool guard_range_has_marker(uint64_t va, uint64_t size)
{
	uint64_t chunk = pt_size(PT_LEVEL_PMD);

	for (uint64_t a = ALIGN_DOWN(va, PAGE_SIZE); a < va + size;) {
		uint64_t next = MIN(ALIGN_DOWN(a, chunk) + chunk, va + size);
		const uint64_t *e = pt_entry_at(pt_kernel_root(), a, PT_LEVEL_PTE);

		/* No pte table under this 2 MiB: no marker; else its slots in turn. */
		for (; e && a < next; a += PAGE_SIZE, e++)
			if (guard_is_marker(*e))
				return true;
		a = next;
	}
	return false;
}

/* "read", "write" or "fetch" for a #PF error code; the #DF case is a push. */
static const char *access_name(const struct trap_frame *f)
{
	if (f->vector == VEC_DF)
		return "write (stack overflow: no room for the #PF frame, #DF)";
	return (f->error & PF_I) ? "fetch" : (f->error & PF_W) ? "write" : "read";
}

bool guard_describe(const struct trap_frame *f, uint64_t cr2, char *buf, size_t size)
{
	const struct vmap_region *r;

	if (f->vector == VEC_PF) {
		if (f->error & PF_P)
			return false;
	} else if (f->vector != VEC_DF || cr2 >= f->rsp || f->rsp - cr2 > DF_PUSH_REACH) {
		return false;
	}
	if (!guard_marker_at(cr2) || !(r = vmap_region_of(cr2)))
		return false;
	ksnprintf(buf, size,
		  "guard page hit: %s at 0x%016llx, offset 0x%llx in \"%s\", RIP 0x%016llx",
		  access_name(f), (unsigned long long)cr2, (unsigned long long)(cr2 - r->base),
		  r->name, (unsigned long long)f->rip);
	return true;
}

/* #PF and #DF handler: a guard hit nobody caught is fatal, with its report first. */
static bool guard_trap(struct trap_frame *f)
{
	char line[200];

	if (!guard_describe(f, read_cr2(), line, sizeof(line)))
		return false;
	kprintf("\n%s\n", line);
	trap_fatal(f);
}

void guard_init(void)
{
	trap_register(VEC_PF, guard_trap);
	trap_register(VEC_DF, guard_trap);
}
