/* mm/checker.c - the page-table checker behind mm/checker.h. It only reads: no
 * allocation, no store into any table, so it can run after every table change. */
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/protect_map.h"
#include "mm/ptcache.h"
#include "mm/vmap.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"
#include "arch/trap.h"
#include "arch/trap_pkrs.h"

#define MAX_DETAILS 12

struct walk {
	const char *when;
	bool quick;	  /* debug mode: only the checks that hold at any instant */
	bool kernel_root; /* walking the kernel's root now */
	bool saw_kernel_root;
	uint64_t dmap_bytes;
	struct checker_result r;
};

/* The debug mode's state (keyed: a stray store cannot switch it off quietly). */
static struct {
	bool on, busy;
	uint64_t runs, violations;
} every __pt_keyed;

static void violation(struct walk *w, const char *fmt, ...) __printf(2, 3);

static void violation(struct walk *w, const char *fmt, ...)
{
	char buf[200];
	va_list ap;

	if (w->r.violations++ >= MAX_DETAILS)
		return;
	va_start(ap, fmt);
	kvsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (w->r.violations == 1)
		strncpy_z(w->r.first_violation, buf, sizeof(w->r.first_violation));
	kprintf("# checker (%s): VIOLATION: %s\n", w->when, buf);
}

/* Key of the direct-map leaf of pa, or -1 when pa is not mapped there. */
static int dmap_key(phys_addr_t pa)
{
	int level;
	uint64_t *e = pt_lookup(PAGE_OFFSET + pa, &level);

	return e ? pt_entry_pkey(*e) : -1;
}

/* Check 1 for a link at `level` (of the walk at va); true when it leads to a live
 * table one level down, which the walk may then enter. */
static bool check_link(struct walk *w, int level, uint64_t e, uint64_t va)
{
	phys_addr_t t = pt_entry_pa(e, level);

	if (pt_table_level(t) != level - 1) {
		violation(w, "%s entry for 0x%llx links 0x%llx, which is no live %s table",
			  pt_level_name(level), (unsigned long long)va, (unsigned long long)t,
			  pt_level_name(level - 1));
		return false;
	}
	w->r.tables[level - 1]++;
	w->r.protected += pgprot_key() && dmap_key(t) == pgprot_key();
	return true;
}

/* Checks 2, 3 and 4 on a leaf, and the direct map's byte count; check 4 (the rows'
 * rules) only when `rows` (check_leaves asks once per run of leaves). */
static void check_leaf(struct walk *w, int level, uint64_t e, uint64_t va, bool rows)
{
	phys_addr_t pa = pt_entry_pa(e, level);
	uint64_t size = pt_size(level);
	const struct protect_row *row;
	char rule[96];

	if ((e & PTE_W) && !(e & PTE_NX))
		violation(w, "leaf at 0x%llx (%s) is writable and executable",
			  (unsigned long long)va, pt_level_name(level));
	if (is_dmap_va(va)) {
		if (pa != va - PAGE_OFFSET)
			violation(w, "direct-map leaf at 0x%llx maps 0x%llx, not 0x%llx",
				  (unsigned long long)va, (unsigned long long)pa,
				  (unsigned long long)(va - PAGE_OFFSET));
		if (w->kernel_root)
			w->dmap_bytes += size;
	}
	row = rows ? protect_leaf_refused(is_dmap_va(va), pa, size, e) : NULL;
	if (row)
		violation(w, "writable alias of \"%s\" (%s): %s leaf at 0x%llx -> 0x%llx, key %d",
			  protect_row_name(row), protect_row_rule(row, rule, sizeof(rule)),
			  pt_level_name(level), (unsigned long long)va, (unsigned long long)pa,
			  pt_entry_pkey(e));
}

/* A guard marker is a legal non-present entry in a pte of the kernel's vmap area
 * (mm/guard.h); anywhere else it is a violation. */
static void check_marker(struct walk *w, int level, uint64_t va)
{
	w->r.markers++;
	if (level != PT_LEVEL_PTE || !w->kernel_root || va < VMAP_BASE ||
	    va - VMAP_BASE >= VMAP_SIZE)
		violation(w, "guard marker in a %s entry for 0x%llx%s", pt_level_name(level),
			  (unsigned long long)va, w->kernel_root ? "" : " of another root");
	else if (!vmap_region_of(va))
		violation(w, "guard marker at 0x%llx lies in no vmap region",
			  (unsigned long long)va);
}

/* Guard markers in the kernel's ptes of [va, va+size): holes and leaves skipped. */
static uint64_t count_markers(uint64_t va, uint64_t size)
{
	uint64_t n = 0;

	for (uint64_t a = va; a < va + size;) {
		const uint64_t *e;
		int level;

		if (pt_lookup(a, &level) || level > PT_LEVEL_PTE) {
			a = ALIGN_DOWN(a, pt_size(level)) + pt_size(level);
			continue;
		}
		e = pt_entry_at(pt_kernel_root(), a, PT_LEVEL_PTE);
		n += e && guard_is_marker(*e);
		a += PAGE_SIZE;
	}
	return n;
}

/* Full runs: every vmap region holds exactly the markers its count says (the count
 * is what mm/guard.c stored and cleared; a marker planted or wiped behind its back
 * shows here). */
static void check_region_markers(struct walk *w)
{
	for (const struct vmap_region *r = vmap_first_region(); r; r = r->next) {
		uint64_t n = count_markers(r->base, r->size);

		if (n != r->markers)
			violation(w,
				  "vmap region \"%s\" at 0x%llx holds %llu guard markers, its "
				  "count says %llu",
				  r->name, (unsigned long long)r->base, (unsigned long long)n,
				  (unsigned long long)r->markers);
	}
}

/* The address entry i of a table of `level` mapping from base maps. */
static uint64_t entry_va(uint64_t base, int i, int level)
{
	return pt_canonical(base + ((uint64_t)i << pt_shift(level)));
}

/* Checks the leaves t[i..j) of a table of `level` (mapping from base), where j ends
 * the run that maps contiguous memory alike (PROTECT_RULE_BITS, and all in the direct
 * map or none): a row refuses one of them exactly when it refuses the run, so the
 * rows are asked once for the run, and leaf by leaf only when they refuse it (to
 * name each leaf). Returns j. */
static int check_leaves(struct walk *w, const uint64_t *t, int i, int level, uint64_t base)
{
	uint64_t e = t[i], size = pt_size(level), va = entry_va(base, i, level);
	phys_addr_t pa = pt_entry_pa(e, level);
	bool dmap = is_dmap_va(va), rows;
	int j = i + 1;

	while (j < PT_ENTRIES && pt_present(t[j]) && pt_is_leaf(t[j], level) &&
	       !((t[j] ^ e) & PROTECT_RULE_BITS) &&
	       pt_entry_pa(t[j], level) == pa + (uint64_t)(j - i) * size &&
	       is_dmap_va(entry_va(base, j, level)) == dmap)
		j++;
	rows = protect_leaf_refused(dmap, pa, (uint64_t)(j - i) * size, e) != NULL;
	for (int k = i; k < j; k++)
		check_leaf(w, level, t[k], entry_va(base, k, level), rows);
	return j;
}

/* Walks the table at pa (of `level`, mapping from base), entering live tables only. */
static void walk_table(struct walk *w, phys_addr_t pa, int level, uint64_t base)
{
	const uint64_t *t = pa_to_va(pa);

	for (int i = 0; i < PT_ENTRIES;) {
		uint64_t e = t[i], va;

		if (!e) { /* empty: nothing to check (most slots of most tables) */
			i++;
			continue;
		}
		va = entry_va(base, i, level);
		if (pt_present(e) && pt_is_leaf(e, level)) {
			i = check_leaves(w, t, i, level, base);
			continue;
		}
		i++;
		if (!pt_present(e)) {
			if (guard_is_marker(e))
				check_marker(w, level, va);
			else if (e)
				violation(w,
					  "not-present %s entry for 0x%llx holds 0x%llx: neither "
					  "empty nor a guard marker",
					  pt_level_name(level), (unsigned long long)va,
					  (unsigned long long)e);
			continue;
		}
		if (check_link(w, level, e, va))
			walk_table(w, pt_entry_pa(e, level), level - 1, va);
	}
}

/* Walks every root: every live table of the root level (all come from the cache). */
static void walk_roots(struct walk *w)
{
	for (uint64_t b = 0; b < ptcache_nr_blocks(); b++) {
		for (phys_addr_t pa = ptcache_block(b); pa < ptcache_block(b) + 2 * MiB;
		     pa += PAGE_SIZE) {
			if (pt_table_level(pa) != pt_root_level())
				continue;
			w->r.roots++;
			w->r.tables[pt_root_level()]++;
			w->r.protected += pgprot_key() && dmap_key(pa) == pgprot_key();
			w->kernel_root = pa == pt_kernel_root();
			w->saw_kernel_root |= w->kernel_root;
			walk_table(w, pa, pt_root_level(), 0);
		}
	}
	w->kernel_root = false;
	if (!w->saw_kernel_root)
		violation(w, "the kernel root 0x%llx is no live root table",
			  (unsigned long long)pt_kernel_root());
}

/* Check 5 on [va, va+len) of the kernel's tables, a mapping of row: every leaf
 * carries `key` (when key >= 0) and is read-only (when ro). */
static void check_range(struct walk *w, const struct protect_row *row, uint64_t va, uint64_t len,
			int key, bool ro)
{
	char rule[96];

	for (uint64_t a = va; a < va + len;) {
		int level;
		uint64_t *e = pt_lookup(a, &level);

		if (!e) {
			if (!w->quick) /* a hot-remove unmaps before it forgets */
				violation(w, "\"%s\" at 0x%llx is not mapped",
					  protect_row_name(row), (unsigned long long)a);
			a += PAGE_SIZE;
			continue;
		}
		if ((key >= 0 && pt_entry_pkey(*e) != key) || (ro && (*e & PTE_W))) {
			violation(w, "\"%s\" at 0x%llx: leaf key %d%s breaks its rule (%s)",
				  protect_row_name(row), (unsigned long long)a, pt_entry_pkey(*e),
				  (*e & PTE_W) ? " writable" : "",
				  protect_row_rule(row, rule, sizeof(rule)));
			return;
		}
		a = ALIGN_DOWN(a, pt_size(level)) + pt_size(level);
	}
}

/* Check 5 on the range r of row: its direct-map alias and, for a part of the kernel
 * image, its image mapping are read-only (READONLY rows) or carry the table key. */
static void check_row_range(struct walk *w, const struct protect_row *row, const struct pa_range *r)
{
	bool ro = protect_row_kind(row) == PROTECT_READONLY;
	int key = ro ? -1 : pgprot_key();
	uint64_t image_va = protect_row_image_va(row, r);

	check_range(w, row, PAGE_OFFSET + r->base, r->len, key, ro);
	if (image_va)
		check_range(w, row, image_va, r->len, key, ro);
}

/* Check 5 everywhere: every range of every live row of the protected-regions table
 * (mm/protect_map.h) keeps its rule in each mapping; keyed rows only when a table
 * key exists, read-only rows in full runs only (a quick run's walk, check 4, flags
 * any writable leaf of them in every root; a full run also finds one unmapped). */
static void check_keys(struct walk *w)
{
	struct pa_range r;

	for (int i = 0; i < protect_nr_rows(); i++) {
		const struct protect_row *row = protect_row(i);
		bool ro = protect_row_kind(row) == PROTECT_READONLY;

		if (!protect_row_live(row) || (!ro && !pgprot_key()) || (ro && w->quick))
			continue;
		for (uint64_t j = 0; protect_row_range(row, j, &r); j++)
			check_row_range(w, row, &r);
	}
}

/* Check 8, PKRS half: PKS on, no window open, the defaults and the trap guard
 * intact, nothing pending. Off by choice (pks_tables=off) is a note. */
static void check_pkrs(struct walk *w)
{
	int key = pgprot_key();
	uint32_t mask = PKRS_KEY_MASK(key), def = pks_default(), cur = pks_read();

	if (!pks_enabled())
		return;
	if (!(read_cr4() & CR4_PKS))
		violation(w, "CR4.PKS is clear: no key is enforced");
	if (trap_pkrs_default != def)
		violation(w, "the trap entry's default PKRS 0x%08x is not the default 0x%08x",
			  trap_pkrs_default, def);
	if (!key)
		return;
	if (!pgprot_enforced()) {
		if (!w->quick)
			kprintf("# checker (%s): note: table key %d is %s in the default PKRS by "
				"choice (%s)\n",
				w->when, key, (def & mask) ? "restricted" : "writable",
				pgprot_unprotected_reason());
		return;
	}
	if (!(def & PKRS_WD(key)))
		violation(w, "the default PKRS 0x%08x leaves the table key %d writable", def, key);
	if (!w->quick && (cur & mask) != (def & mask))
		violation(w, "PKRS 0x%08x: a write window is open", cur);
	if (trap_pkrs_guard != mask || trap_pkrs_guard_closed != PKRS_WD(key))
		violation(w, "the trap exit guards 0x%08x (closed 0x%08x), not key %d",
			  trap_pkrs_guard, trap_pkrs_guard_closed, key);
	if (!w->quick && trap_pkrs_listed())
		violation(w, "%u trap frames may still resume with a window open",
			  trap_pkrs_listed());
	if (trap_pkrs_dropped())
		violation(w, "%u trap frames found the open list full", trap_pkrs_dropped());
	if (!w->quick && pgprot_rearms_pending())
		violation(w, "%u soft-mode re-arms pending", pgprot_rearms_pending());
}

/* Check 8: the control registers and the state that decides the protection. */
static void check_control(struct walk *w)
{
	if (!(read_cr0() & CR0_WP))
		violation(w, "CR0.WP is clear: supervisor writes ignore read-only pages and WD");
	if (!pgprot_sealed())
		violation(w, "the protection state is not sealed");
	check_pkrs(w);
}

/* Checks 6 and 7: what a change in several steps passes through, so full runs only. */
static void check_totals(struct walk *w)
{
	for (int l = 0; l <= pt_root_level(); l++)
		if (w->r.tables[l] != pt_count(l))
			violation(w, "%s tables: walk found %llu, constructors count %llu",
				  pt_level_name(l), (unsigned long long)w->r.tables[l],
				  (unsigned long long)pt_count(l));
	if (w->dmap_bytes != dmap_ram_bytes())
		violation(w, "direct map leaves hold %llu bytes, RAM mapped is %llu",
			  (unsigned long long)w->dmap_bytes, (unsigned long long)dmap_ram_bytes());
}

/* Every check (quick: those that hold at any instant); returns the violations. */
static uint64_t run(const char *when, bool quick, struct checker_result *out)
{
	struct walk w = { .when = when, .quick = quick };

	walk_roots(&w);
	check_keys(&w);
	check_control(&w);
	if (!quick) {
		check_totals(&w);
		check_region_markers(&w);
	}
	if (out)
		*out = w.r;
	return w.r.violations;
}

uint64_t checker_run(const char *when, struct checker_result *out)
{
	struct checker_result r;
	uint64_t total = 0;

	run(when, false, &r);
	kprintf("# checker (%s): tables", when);
	for (int l = pt_root_level(); l >= 0; l--) {
		kprintf(" %s=%llu", pt_level_name(l), (unsigned long long)r.tables[l]);
		total += r.tables[l];
	}
	kprintf(", %llu of %llu keyed, %llu root%s, %llu violations\n",
		(unsigned long long)r.protected, (unsigned long long)total,
		(unsigned long long)r.roots, r.roots == 1 ? "" : "s",
		(unsigned long long)r.violations);
	if (out)
		*out = r;
	return r.violations;
}

int checker_after_suite(const char *suite)
{
	char when[64];
	uint64_t found = every.violations;

	ksnprintf(when, sizeof(when), "after %s", suite);
	if (found) {
		kprintf("# checker (%s): debug mode saw %llu violations after table changes\n",
			when, (unsigned long long)found);
		checker_every_change_forgive(found);
	}
	return checker_run(when, NULL) || found ? 1 : 0;
}

/* Stores into the debug mode's keyed state, inside a window. */
static void set_every(bool busy, uint64_t runs, uint64_t violations)
{
	uint32_t w = pt_window_open();

	every.busy = busy;
	every.runs += runs;
	every.violations += violations;
	pt_window_close(w);
}

void checker_set_every_change(bool on)
{
	uint32_t w = pt_window_open();

	every.on = on;
	pt_window_close(w);
}

bool checker_every_change(void)
{
	return every.on;
}

void checker_after_change(const char *what)
{
	uint64_t found;

	if (!every.on || every.busy)
		return;
	set_every(true, 1, 0);
	found = run(what, true, NULL);
	set_every(false, 0, found);
}

void checker_every_change_stats(uint64_t *runs, uint64_t *violations)
{
	*runs = every.runs;
	*violations = every.violations;
}

void checker_every_change_forgive(uint64_t n)
{
	uint32_t w = pt_window_open();

	every.violations -= MIN(n, every.violations);
	pt_window_close(w);
}
