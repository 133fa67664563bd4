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
 *   vmap_map/pt_map_leaf a writable alias of a     -EPERM, nothing mapped (a read-only
 *   table, pool or cache frame, kernel text        alias maps; a write through it faults)
 *   vmap_map with the page-table key               -EPERM
 *   pt_set_entry/__pt_set_entry into memory that   -EINVAL, nothing stored
 *   is no live table
 *   pt_set_entry of a writable unkeyed leaf of a   -EPERM, the entry unchanged
 *   table, or a link to a page that is no table
 *   set_memory that unkeys or unprotects a pool    -EPERM, nothing changed
 *   or cache frame, or gives the table key
 *   set_memory / a writable vmap alias on every    -EPERM, the refusal names the row,
 *   row of the protected-regions table             nothing changed
 *   a writable alias of kernel text, with the      -EPERM (and a store into
 *   load delta that locates it sealed              kernel_load_delta faults: redteam_state)
 */
#include "tests/test_redteam.h"
#include "tests/mm_check.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/protect_map.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
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

bool redteam_attack_word(volatile uint64_t *p, uint64_t v, uint32_t err)
{
	uint64_t old = *p;
	struct fault f;
	uint32_t w;

	catch_write64((uint64_t *)p, v, &f);
	if (*p != old) {
		ktest_fail(__FILE__, __LINE__, "the store to %p landed", (const void *)p);
		w = pt_window_open();
		*p = old;
		pt_window_close(w);
		return false;
	}
	if (!f.hit || f.vector != VEC_PF || f.error != err || f.addr != (uint64_t)p) {
		ktest_fail(__FILE__, __LINE__,
			   "store to %p: %s error 0x%llx at 0x%llx, want #PF 0x%x", (const void *)p,
			   f.hit ? trap_name(f.vector) : "no fault", (unsigned long long)f.error,
			   (unsigned long long)f.addr, err);
		return false;
	}
	return true;
}

uint64_t *redteam_root_entry(void)
{
	return (uint64_t *)pa_to_va(pt_kernel_root()) + pt_index(PAGE_OFFSET, pt_root_level());
}

void redteam_expect_table_store_faults(uint64_t *e)
{
	KEXPECT_TRUE(redteam_attack_word(e, *e ^ REDTEAM_HARMLESS_BIT, PF_PK_WRITE));
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

/* --- no writable alias by construction ------------------------------------------ */

/* A free frame of the split pool (0 when the pool is full). */
static phys_addr_t free_pool_frame(void)
{
	for (uint64_t c = 0; c < pool_nr_chunks(); c++)
		for (phys_addr_t pa = pool_chunk(c); pa < pool_chunk(c) + POOL_CHUNK_SIZE;
		     pa += PAGE_SIZE)
			if (pool_frame_free(pa))
				return pa;
	return 0;
}

/* A page of a cache block that holds no table (0 when every one does). */
static phys_addr_t free_cache_page(void)
{
	for (uint64_t b = 0; b < ptcache_nr_blocks(); b++)
		for (phys_addr_t pa = ptcache_block(b); pa < ptcache_block(b) + 2 * MiB;
		     pa += PAGE_SIZE)
			if (pt_table_level(pa) < 0)
				return pa;
	return 0;
}

/* The direct map's pud table: a live table from the split pool. */
static phys_addr_t pool_table(void)
{
	uint64_t *e = pt_entry_at(pt_kernel_root(), PAGE_OFFSET, PT_LEVEL_PUD);

	return e ? ALIGN_DOWN((uint64_t)e - PAGE_OFFSET, PAGE_SIZE) : 0;
}

KTEST(redteam, vmap_map_refuses_a_writable_alias_of_any_table_pool_or_cache_frame)
{
	const phys_addr_t targets[] = {
		pt_kernel_root(),  pool_table(),      free_pool_frame(),
		free_cache_page(), kernel_pa_start(), /* kernel text */
	};
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);

	KASSERT_TRUE(va != 0);
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
		KEXPECT_NE(targets[i], 0);
		KEXPECT_EQ(vmap_map(va, targets[i], PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0),
			   -EPERM);
		KEXPECT_TRUE(pt_lookup(va, &(int){ 0 }) == NULL);
	}
	va = vmap_reserve(2 * MiB, 2 * MiB);
	KASSERT_TRUE(va != 0);
	KEXPECT_EQ(vmap_map(va, pool_chunk(0), 2 * MiB, PT_LEVEL_PMD, PTE_W | PTE_NX, 0), -EPERM);
	KEXPECT_TRUE(pt_lookup(va, &(int){ 0 }) == NULL);
}

KTEST(redteam, vmap_map_allows_only_a_read_only_alias_and_a_write_through_it_faults)
{
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	uint64_t *root = pa_to_va(pt_kernel_root()), before = root[1];
	struct fault f;

	KASSERT_TRUE(va != 0);
	KASSERT_EQ(vmap_map(va, pt_kernel_root(), PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0), 0);
	KEXPECT_EQ(catch_read64((void *)(va + 8), &f), before);
	catch_write64((void *)(va + 8), before ^ REDTEAM_HARMLESS_BIT, &f);
	KEXPECT_PF(&f, PF_P | PF_W, va + 8);
	KEXPECT_EQ(root[1], before);
	vmap_unmap(va, PAGE_SIZE);
}

KTEST(redteam, vmap_map_refuses_the_page_table_key)
{
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	phys_addr_t frame = frame_alloc();

	if (redteam_no_table_key() || !va || !frame) {
		KEXPECT_TRUE(va && frame);
		if (frame)
			frame_free(frame);
		REDTEAM_REQUIRE(redteam_no_table_key());
		return;
	}
	KEXPECT_EQ(vmap_map(va, frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, pgprot_key()),
		   -EPERM);
	KEXPECT_EQ(vmap_map(va, frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, pgprot_key()), -EPERM);
	KEXPECT_TRUE(pt_lookup(va, &(int){ 0 }) == NULL);
	frame_free(frame);
}

KTEST(redteam, pt_map_leaf_refuses_a_writable_alias_w_x_and_a_root_that_is_no_root)
{
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	phys_addr_t frame = frame_alloc();

	KEXPECT_TRUE(va && frame);
	if (!va || !frame)
		goto out;
	KEXPECT_EQ(
		pt_map_leaf(pt_kernel_root(), va, pt_kernel_root(), PT_LEVEL_PTE, PTE_W | PTE_NX),
		-EPERM);
	KEXPECT_EQ(pt_map_leaf(pt_kernel_root(), va, pool_table(), PT_LEVEL_PTE,
			       PTE_W | PTE_NX | PTE_PKEY(pgprot_key())),
		   -EPERM); /* keyed or not: tables are writable in the direct map only */
	KEXPECT_EQ(pt_map_leaf(frame, va, frame, PT_LEVEL_PTE, PTE_W | PTE_NX), -EINVAL);
	KEXPECT_EQ(pt_map_leaf(pool_table(), va, frame, PT_LEVEL_PTE, PTE_W | PTE_NX), -EINVAL);
	/* W^X at the door: a writable, executable leaf is refused by every path. */
	KEXPECT_EQ(pt_map_leaf(pt_kernel_root(), va, frame, PT_LEVEL_PTE, PTE_W), -EPERM);
	KEXPECT_EQ(vmap_map(va, frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_W, 0), -EPERM);
	KEXPECT_TRUE(pt_lookup(va, &(int){ 0 }) == NULL);
	/* Zeroing is for fresh table pages only: not the root, not a plain frame. */
	KEXPECT_EQ(pt_clear_table(pt_kernel_root()), -EPERM);
	KEXPECT_EQ(pt_clear_table(frame), -EPERM);
	KEXPECT_EQ(pt_table_level(pt_kernel_root()), pt_root_level());
	KEXPECT_TRUE(pt_lookup((uint64_t)&frame_alloc, &(int){ 0 }) != NULL);
out:
	if (frame)
		frame_free(frame);
}

/* A PTE slot the test owns: the table behind a fresh 4 KiB vmap mapping (read-only
 * leaf of `frame`) and the pmd entry above it. */
struct own_slot {
	uint64_t va, *pte, *pmd;
	phys_addr_t frame;
};

static bool own_slot_map(struct own_slot *o)
{
	int level;

	o->va = vmap_reserve(2 * MiB, 2 * MiB);
	o->frame = frame_alloc();
	if (!o->va || !o->frame || vmap_map(o->va, o->frame, PAGE_SIZE, PT_LEVEL_PTE, PTE_NX, 0))
		return false;
	o->pte = pt_lookup(o->va, &level);
	o->pmd = pt_entry_at(pt_kernel_root(), o->va, PT_LEVEL_PMD);
	return o->pte && o->pmd && level == PT_LEVEL_PTE;
}

static void own_slot_unmap(struct own_slot *o)
{
	if (o->va)
		vmap_unmap(o->va, PAGE_SIZE);
	if (o->frame)
		frame_free(o->frame);
}

KTEST(redteam, pt_set_entry_refuses_memory_that_is_no_live_table)
{
	static uint64_t data[4] = { 1, 2, 3, 4 };
	uint64_t *pool_free_slot = pa_to_va(free_pool_frame()), *dm = pa_to_va(va_to_pa(data));
	uint64_t *cache_free_slot = pa_to_va(free_cache_page()), v = PTE_P | PTE_NX | 0x1000;
	uint64_t pool_before = *pool_free_slot, cache_before = *cache_free_slot;
	uint32_t w;

	KEXPECT_EQ(pt_set_entry(&data[1], v), -EINVAL);	       /* kernel image */
	KEXPECT_EQ(pt_set_entry(&dm[1], v), -EINVAL);	       /* its direct-map alias */
	KEXPECT_EQ(pt_set_entry(pool_free_slot, v), -EINVAL);  /* a free pool frame */
	KEXPECT_EQ(pt_set_entry(cache_free_slot, v), -EINVAL); /* a free cache page */
	KEXPECT_EQ(pt_set_entry((uint64_t *)((uint64_t)pt_lookup(PAGE_OFFSET, &(int){ 0 }) + 1), v),
		   -EINVAL); /* misaligned */
	w = pt_window_open();
	KEXPECT_EQ(__pt_set_entry(&dm[2], v), -EINVAL);
	pt_window_close(w);
	KEXPECT_EQ(data[1], 2);
	KEXPECT_EQ(data[2], 3);
	KEXPECT_EQ(*pool_free_slot, pool_before);
	KEXPECT_EQ(*cache_free_slot, cache_before);
}

KTEST(redteam, pt_set_entry_refuses_a_writable_alias_or_a_false_table_link)
{
	struct own_slot o = { 0 };
	uint64_t pte, pmd, rw = PTE_P | PTE_W | PTE_NX;

	if (!own_slot_map(&o)) {
		ktest_fail(__FILE__, __LINE__, "cannot map a page of the test's own");
		goto out;
	}
	pte = *o.pte;
	pmd = *o.pmd;
	KEXPECT_EQ(pt_set_entry(o.pte, pt_kernel_root() | rw), -EPERM);
	KEXPECT_EQ(pt_set_entry(o.pte, pool_table() | rw | PTE_PKEY(pgprot_key())), -EPERM);
	KEXPECT_EQ(pt_set_entry(o.pte, free_pool_frame() | rw), -EPERM);
	KEXPECT_EQ(pt_set_entry(o.pte, kernel_pa_start() | rw), -EPERM);
	KEXPECT_EQ(pt_set_entry(o.pmd, o.frame | PTE_TABLE), -EPERM);	       /* data as a table */
	KEXPECT_EQ(pt_set_entry(o.pmd, pt_kernel_root() | PTE_TABLE), -EPERM); /* wrong level */
	KEXPECT_EQ(*o.pte, pte);
	KEXPECT_EQ(*o.pmd, pmd);
	KEXPECT_EQ(pt_set_entry(o.pte, o.frame | rw), 0); /* an ordinary page: allowed */
	invlpg((void *)o.va);
out:
	own_slot_unmap(&o);
}

KTEST(redteam, set_memory_refuses_to_unkey_or_unprotect_what_mm_owns)
{
	uint64_t pool_va = PAGE_OFFSET + free_pool_frame(), *e;
	uint64_t cache_va = PAGE_OFFSET + ptcache_block(0), data = PAGE_OFFSET + frame_alloc();
	int level, key;

	e = pt_lookup(pool_va, &level);
	KEXPECT_TRUE(pool_va != PAGE_OFFSET && data != PAGE_OFFSET && e);
	if (pool_va == PAGE_OFFSET || data == PAGE_OFFSET || !e)
		goto out;
	key = pt_entry_pkey(*e);
	KEXPECT_EQ(set_memory(pool_va, 1, 0, PTE_PKEY_MASK), -EPERM);
	KEXPECT_EQ(set_memory_pkey(pool_va, 1, 0), -EPERM);
	KEXPECT_EQ(set_memory_ro(pool_va, 1), -EPERM);
	KEXPECT_EQ(set_memory_pkey(cache_va, 1, 0), -EPERM);
	KEXPECT_EQ(set_memory_rw(PAGE_OFFSET + kernel_pa_start(), 1), -EPERM);
	if (pgprot_key())
		KEXPECT_EQ(set_memory_pkey(data, 1, pgprot_key()), -EPERM);
	KEXPECT_EQ(pt_entry_pkey(*pt_lookup(pool_va, &level)), key);
	KEXPECT_EQ(pt_entry_pkey(*pt_lookup(data, &level)), 0);
out:
	if (data != PAGE_OFFSET)
		frame_free(data - PAGE_OFFSET);
}

/* set_memory and vmap_map on page pa of row: both refused, the message names the
 * row, the direct-map leaf unchanged. */
static void expect_row_refused(const struct protect_row *row, phys_addr_t pa, uint64_t vva)
{
	char want[48];
	uint64_t va = PAGE_OFFSET + pa, *e = pt_lookup(va, &(int){ 0 }), before = e ? *e : 0;
	bool ro = protect_row_kind(row) == PROTECT_READONLY;
	int rc = ro ? set_memory_rw(va, 1) : set_memory_pkey(va, 1, 0);

	ksnprintf(want, sizeof(want), "\"%s\"", protect_row_name(row));
	KEXPECT_EQ(rc, -EPERM);
	if (!mm_text_has(set_memory_last_refusal(), want))
		ktest_fail(__FILE__, __LINE__, "refusal of pa 0x%llx \"%s\" does not name %s",
			   (unsigned long long)pa, set_memory_last_refusal(), want);
	KEXPECT_TRUE(e && *e == before);
	/* No writable alias either; a keyed row is writable with the table key only,
	 * so with no key (0) the protection state has no rule to break. */
	if (pgprot_key() || protect_row_kind(row) != PROTECT_CONTROL) {
		KEXPECT_EQ(vmap_map(vva, pa, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), -EPERM);
		KEXPECT_TRUE(pt_lookup(vva, &(int){ 0 }) == NULL);
	}
}

/* Every row of the protected-regions table (mm/protect_map.h), at the first and the
 * last page of its first range: set_memory -EPERM naming the row, no vmap alias. */
KTEST(redteam, set_memory_refuses_every_protected_region_naming_its_row)
{
	uint64_t vva = vmap_reserve(PAGE_SIZE, PAGE_SIZE);

	KASSERT_TRUE(vva != 0);
	for (int i = 0; i < protect_nr_rows(); i++) {
		const struct protect_row *row = protect_row(i);
		struct pa_range r;

		KEXPECT_TRUE(protect_row_live(row)); /* all are, once sealed */
		if (!protect_row_range(row, 0, &r) || !IS_ALIGNED(r.base | r.len, PAGE_SIZE)) {
			ktest_fail(__FILE__, __LINE__, "row \"%s\" has no page-aligned range",
				   protect_row_name(row));
			continue;
		}
		ktest_note("\"%s\": [0x%llx, 0x%llx)", protect_row_name(row),
			   (unsigned long long)r.base, (unsigned long long)(r.base + r.len));
		expect_row_refused(row, r.base, vva);
		expect_row_refused(row, r.base + r.len - PAGE_SIZE, vva);
	}
}

/* The image's bounds follow kernel_load_delta, which is sealed read-only after boot
 * (redteam_state attacks it): asking for a writable alias of text is refused. */
KTEST(redteam, guards_refuse_a_writable_alias_of_kernel_text)
{
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
	phys_addr_t text = kernel_pa_start();
	int rc_map, rc_set;

	KASSERT_TRUE(va != 0);
	rc_map = vmap_map(va, text, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0);
	rc_set = set_memory_rw(PAGE_OFFSET + text, 1);
	KEXPECT_EQ(rc_map, -EPERM);
	KEXPECT_EQ(rc_set, -EPERM);
	if (!rc_map)
		vmap_unmap(va, PAGE_SIZE);
}
