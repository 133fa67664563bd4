/* mm/pgprot.c - page-table protection: the key, the modes and the seal of the
 * protection state. The regions the guards keep writable aliases out of are one
 * table in mm/protect_map.c; the write window that opens the key is mm/pt_door.c;
 * what happens on a write that hits a keyed page outside a window is in
 * mm/pgprot_fault.c. */
#include "mm/pgprot.h"
#include "mm/dmap.h"
#include "mm/mm_internal.h"
#include "mm/pgtable.h"
#include "mm/protect_map.h"
#include "mm/pool.h"
#include "kernel/cmdline.h"
#include "kernel/panic.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/pkrs.h"
#include "arch/trap.h"
#include "arch/trap_pkrs.h"

extern char __ro_after_init_start[], __ro_after_init_end[];
extern char __pt_keyed_start[], __pt_keyed_end[];

/* The table key's owner token (kernel/pks.h): only this file changes its rights. */
static const char key_owner;
static int table_key __ro_after_init;
static bool enforced __ro_after_init;
static const char *unprotected_reason __ro_after_init = "pgprot_setup() has not run";
static enum pgprot_mode mode __pt_keyed_data = PGPROT_OFF;
static bool sealed __pt_keyed;

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

	protect_map_init();
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
	pgprot_fault_init();
}

/* Sets the image mapping of [start, end) (4 KiB pages, mm/dmap.c) to its attributes
 * without `clear`, with `set`. */
static void reprotect_image(uint64_t start, uint64_t end, uint64_t set, uint64_t clear)
{
	for (uint64_t va = start; va < end; va += PAGE_SIZE) {
		int level;
		uint64_t *e = pt_lookup(va, &level);

		/* Invariant: the image is mapped with 4 KiB pages, and the seal makes no
		 * alias the guards forbid. */
		if (!e || level != PT_LEVEL_PTE || pt_set_entry(e, (*e & ~clear) | set))
			panic("pgprot: cannot seal the image page 0x%llx", (unsigned long long)va);
	}
}

/* The same change in both mappings of the image range [start, end): the image's own
 * and its direct-map alias. */
static void seal_range(char *start, char *end, uint64_t set, uint64_t clear)
{
	uint64_t pages = (uint64_t)(end - start) / PAGE_SIZE;
	phys_addr_t pa = kernel_image_pa((uint64_t)start);

	if (!pages)
		return;
	reprotect_image((uint64_t)start, (uint64_t)end, set, clear);
	if (__set_memory(PAGE_OFFSET + pa, pages, set, clear))
		panic("pgprot: cannot seal the direct map of 0x%llx", (unsigned long long)pa);
}

/* Makes the protection state unreachable for a stray store: __ro_after_init read-only
 * and __pt_keyed (with the pool's bookkeeping) carrying the table key, in every
 * mapping. From here on the guards cover them. */
static void seal(void)
{
	uint32_t w;

	seal_range(__ro_after_init_start, __ro_after_init_end, 0, PTE_W);
	if (table_key) {
		seal_range(__pt_keyed_start, __pt_keyed_end, PTE_PKEY(table_key), PTE_PKEY_MASK);
		pool_seal(table_key);
	}
	flush_tlb_all();
	w = pt_window_open();
	sealed = true;
	pt_window_close(w);
}

void pgprot_enable(void)
{
	enforced = mode != PGPROT_OFF && pks_enabled();
	if (mode != PGPROT_OFF && !enforced)
		unprotected_reason = "PKS could not be enabled";
	/* No trap exit may open the table key unless its trap came from inside a window. */
	if (enforced)
		trap_pkrs_set_guard(PKRS_KEY_MASK(table_key), PKRS_WD(table_key));
	seal();
}

bool pgprot_sealed(void)
{
	return sealed;
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
	if (pgprot_enforced())
		return NULL;
	return enforced ? "switched off at run time (pgprot_set_mode)" : unprotected_reason;
}

int pgprot_key(void)
{
	return table_key;
}

bool pgprot_enforced(void)
{
	return enforced && mode != PGPROT_OFF;
}

bool pgprot_pkrs_opens_tables(uint32_t pkrs)
{
	return pgprot_enforced() && !(pkrs & PKRS_KEY_MASK(table_key));
}

/* Off: the mode changes inside a window that then stays open, because the key
 * becomes writable in the default PKRS (as with pks_tables=off). Back on: the key
 * is writable while the mode changes, then write-disabled again. */
int pgprot_set_mode(enum pgprot_mode m)
{
	uint32_t w;

	if (!enforced || (unsigned int)m > PGPROT_ON)
		return -EINVAL;
	if (m == PGPROT_OFF || mode == PGPROT_OFF) {
		if (m == mode)
			return 0;
		w = pt_window_open();
		mode = m;
		pks_key_set_default(&key_owner, table_key,
				    m == PGPROT_OFF ? PKS_ACCESS_RW : PKS_ACCESS_RO);
		return 0;
	}
	w = pt_window_open();
	mode = m;
	pt_window_close(w);
	return 0;
}

void pgprot_state_ranges(struct pgprot_range r[PGPROT_NR_STATE_RANGES])
{
	r[0] = (struct pgprot_range){ (uint64_t)__ro_after_init_start,
				      (uint64_t)(__ro_after_init_end - __ro_after_init_start),
				      false };
	r[1] = (struct pgprot_range){ (uint64_t)__pt_keyed_start,
				      (uint64_t)(__pt_keyed_end - __pt_keyed_start), true };
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
