/* tests/test_dmap_bits.c - the `dmap` suite, part 2 (tests/test_dmap.h): the bits of
 * every direct-map leaf (NX, global, supervisor, never W+X), the read-only alias of
 * the image's .text/.rodata (a store faults, set_memory refuses), and NX on RAM.
 */
#include "tests/test_dmap.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/set_memory.h"

#define DM_RET 0xc3 /* x86 `ret` */

static uint64_t dm_leaf(uint64_t va)
{
	int level;
	uint64_t *e = pt_lookup(va, &level);

	return e ? *e : 0;
}

/* The fault of the last dm_store_lands() store. */
static struct fault f;

/* Stores a value that differs from old (the word at p) through the fault catcher,
 * leaving the fault in f; true when the store landed (then the word is put back). */
static bool dm_store_lands(uint64_t *p, uint64_t old)
{
	catch_write64(p, ~old, &f);
	if (*(volatile uint64_t *)p == old)
		return false;
	*(volatile uint64_t *)p = old;
	return true;
}

struct dm_bits {
	uint64_t leaves, no_nx, no_g, user, wx;
};

static void dm_check_leaf_bits(phys_addr_t table, int level, int index, uint64_t e, uint64_t va,
			       void *arg)
{
	struct dm_bits *b = arg;

	(void)table;
	(void)index;
	if (!is_dmap_va(va) || !pt_is_leaf(e, level))
		return;
	b->leaves++;
	b->no_nx += !(e & PTE_NX);
	b->no_g += !(e & PTE_G);
	b->user += !!(e & PTE_U);
	b->wx += (e & PTE_W) && !(e & PTE_NX);
}

KTEST(dmap, leaves_are_nx_global_and_supervisor)
{
	struct dm_bits b = { 0 };

	pt_walk_all(pt_kernel_root(), dm_check_leaf_bits, &b);
	KEXPECT_GT(b.leaves, 0);
	KEXPECT_EQ(b.no_nx, 0);
	KEXPECT_EQ(b.no_g, 0);
	KEXPECT_EQ(b.user, 0);
	KEXPECT_EQ(b.wx, 0);
}

KTEST(dmap, kernel_text_alias_is_read_only)
{
	uint64_t *va = pa_to_va(kernel_pa_start()), old, *e;
	uint64_t writable = 0;
	int level;

	for (phys_addr_t pa = kernel_pa_start(); pa < kernel_ro_pa_end(); pa += PAGE_SIZE) {
		e = pt_lookup(PAGE_OFFSET + pa, &level);
		writable += !e || (*e & PTE_W);
	}
	KEXPECT_EQ(writable, 0);
	old = catch_read64(va, &f);
	KEXPECT_NO_FAULT(&f);
	KEXPECT_FALSE(dm_store_lands(va, old));
	KEXPECT_PF(&f, PF_P | PF_W, va);
	/* The alias of the image's last .bss page is writable: the check above can tell.
	 * (Right above .rodata lies the protection state, read-only or keyed once
	 * mm/pgprot.c has sealed it.) */
	e = pt_lookup(PAGE_OFFSET + kernel_pa_end() - PAGE_SIZE, &level);
	KEXPECT_TRUE(e && (*e & PTE_W));
}

KTEST(dmap, set_memory_rw_on_kernel_text_alias_is_eperm)
{
	uint64_t va = PAGE_OFFSET + kernel_pa_start(),
		 last = PAGE_OFFSET + kernel_ro_pa_end() - PAGE_SIZE,
		 pages = (kernel_ro_pa_end() - kernel_pa_start()) / PAGE_SIZE;
	uint64_t before = dm_leaf(va);

	KEXPECT_EQ(set_memory_rw(va, pages), -EPERM);
	KEXPECT_EQ(set_memory_rw(va, 1), -EPERM);
	KEXPECT_EQ(set_memory_rw(last, 2), -EPERM); /* overlaps by its first page */
	KEXPECT_EQ(set_memory_x(va, 1), -EPERM);
	KEXPECT_EQ(dm_leaf(va), before);
	KEXPECT_FALSE(dm_store_lands((uint64_t *)last, catch_read64((void *)last, &f)));
	KEXPECT_PF(&f, PF_P | PF_W, last);
}

KTEST(dmap, exec_from_direct_map_faults_nx)
{
	phys_addr_t pa = frame_alloc();
	uint8_t *va = pa_to_va(pa);

	KASSERT_TRUE(pa != 0);
	catch_write8(va, DM_RET, &f);
	KEXPECT_NO_FAULT(&f);
	catch_exec(va, &f);
	KEXPECT_PF(&f, PF_P | PF_I, va);
	KEXPECT_EQ(frame_free(pa), 0);
}
