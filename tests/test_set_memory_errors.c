/* tests/test_set_memory_errors.c - every error path of set_memory returns its code
 * and changes nothing: no leaf, pool or table count, no split or merge. Part of
 * suite `set_memory` (declared in tests/test_set_memory.c). */
#include "kernel/ktest.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "tests/mm_check.h"

/* ---- error paths change nothing --------------------------------------------------- */

enum sm_target { SM_T_HOLE_EDGE, SM_T_HOLE, SM_T_SCRATCH, SM_T_VMAP, SM_T_CHUNK, SM_T_BLOCK };
enum sm_call { SM_C_RO, SM_C_X, SM_C_KEY16, SM_C_PS };

static const struct {
	const char *what;
	int target, call;
	uint64_t offset, pages;
	int want;
} sm_errs[] = {
	{ "last RAM page and the hole above", SM_T_HOLE_EDGE, SM_C_RO, 0, 2, -ENOENT },
	{ "a page inside a hole of the memory map", SM_T_HOLE, SM_C_RO, 0, 1, -ENOENT },
	{ "misaligned start", SM_T_SCRATCH, SM_C_RO, 8, 1, -EINVAL },
	{ "no pages", SM_T_SCRATCH, SM_C_RO, 0, 0, -EINVAL },
	/* pages * 4 KiB wraps to one page: must be refused, not change that page */
	{ "2^52 + 1 pages (the size wraps)", SM_T_SCRATCH, SM_C_RO, 0, (1ULL << 52) + 1, -EINVAL },
	{ "outside the direct map", SM_T_VMAP, SM_C_RO, 0, 1, -EINVAL },
	{ "x on a writable page (W^X)", SM_T_SCRATCH, SM_C_X, 0, 1, -EINVAL },
	{ "protection key 16", SM_T_SCRATCH, SM_C_KEY16, 0, 1, -EINVAL },
	{ "PS, not an attribute bit", SM_T_SCRATCH, SM_C_PS, 0, 1, -EINVAL },
	{ "a pool chunk", SM_T_CHUNK, SM_C_RO, 0, 1, -EPERM },
	{ "a table-cache block", SM_T_BLOCK, SM_C_RO, 0, 1, -EPERM },
};

/* True when set_memory refuses pa's page to every caller (-EPERM): the kernel's
 * .text/.rodata, a pool chunk or a table-cache block. */
static bool sm_owned_by_mm(phys_addr_t pa)
{
	if (pa >= kernel_pa_start() && pa < kernel_ro_pa_end())
		return true;
	for (uint64_t i = 0; i < ptcache_nr_blocks(); i++)
		if (pa >= ptcache_block(i) && pa - ptcache_block(i) < 2 * MiB)
			return true;
	return pool_overlaps(pa, PAGE_SIZE, NULL);
}

/* The last page of a RAM range with an unmapped page right above it and no owner
 * that would make the call -EPERM first; of those, the one under the largest leaf
 * (a split started before the hole is found would show there). Which range ends
 * so depends on the memory map and on where the pool chunks and cache blocks went.
 * False when none does. */
static bool sm_ram_edge_page(phys_addr_t *pa)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r), best = -1, level;

	for (int i = 0; i < n; i++) {
		phys_addr_t end = r[i].base + r[i].len, last = end - PAGE_SIZE;

		if (pt_lookup(PAGE_OFFSET + end, &level) || sm_owned_by_mm(last) ||
		    !pt_lookup(PAGE_OFFSET + last, &level) || level <= best)
			continue;
		best = level;
		*pa = last;
	}
	return best >= 0;
}

/* A page in the middle of the first gap between RAM ranges, else the page above
 * the last range: unmapped on every memory map. */
static phys_addr_t sm_hole_page(void)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r);

	for (int i = 0; i + 1 < n; i++) {
		phys_addr_t end = r[i].base + r[i].len;

		if (end < r[i + 1].base)
			return ALIGN_DOWN(end + (r[i + 1].base - end) / 2, PAGE_SIZE);
	}
	return r[n - 1].base + r[n - 1].len;
}

/* The address a call on `target` is made at, or 0 when this memory map has none. */
static uint64_t sm_err_va(int target, phys_addr_t scratch)
{
	phys_addr_t edge;

	switch (target) {
	case SM_T_HOLE_EDGE:
		return sm_ram_edge_page(&edge) ? PAGE_OFFSET + edge : 0;
	case SM_T_HOLE:
		return PAGE_OFFSET + sm_hole_page();
	case SM_T_VMAP:
		return VMAP_BASE;
	case SM_T_CHUNK:
		return PAGE_OFFSET + pool_chunk(0);
	case SM_T_BLOCK:
		return PAGE_OFFSET + ptcache_block(0);
	default:
		return PAGE_OFFSET + scratch;
	}
}

static int sm_err_call(int call, uint64_t va, uint64_t pages)
{
	switch (call) {
	case SM_C_X:
		return set_memory_x(va, pages);
	case SM_C_KEY16:
		return set_memory_pkey(va, pages, 16);
	case SM_C_PS:
		return set_memory(va, pages, PTE_PS, 0);
	default:
		return set_memory_ro(va, pages);
	}
}

/* The leaf that maps va's page, or 0. */
static uint64_t sm_leaf(uint64_t va)
{
	int level;
	uint64_t *e = pt_lookup(ALIGN_DOWN(va, PAGE_SIZE), &level);

	return e ? *e : 0;
}

/* Makes call i of the table; reports a wrong error code or any change. */
static void sm_expect_error(size_t i, phys_addr_t scratch)
{
	uint64_t va = sm_err_va(sm_errs[i].target, scratch), leaf = sm_leaf(va);
	struct set_memory_stats s0, s1;
	struct mm_snap was;
	const char *diff;
	int rc;

	if (!va) {
		ktest_fail(__FILE__, __LINE__, "%s: no such place in this memory map",
			   sm_errs[i].what);
		return;
	}
	if (sm_errs[i].target == SM_T_HOLE_EDGE || sm_errs[i].target == SM_T_HOLE)
		ktest_note("%s: 0x%llx", sm_errs[i].what, (unsigned long long)(va - PAGE_OFFSET));
	mm_snap(&was);
	set_memory_get_stats(&s0);
	rc = sm_err_call(sm_errs[i].call, va + sm_errs[i].offset, sm_errs[i].pages);
	set_memory_get_stats(&s1);
	diff = mm_snap_same(&was) ? NULL : "leaf, pool or table counts changed";
	if (s1.splits != s0.splits || s1.merges != s0.merges)
		diff = "a leaf was split or merged";
	if (sm_leaf(va) != leaf)
		diff = "the leaf changed";
	if (rc != sm_errs[i].want || diff)
		ktest_fail(__FILE__, __LINE__, "%s: returned %d, expected %d; %s", sm_errs[i].what,
			   rc, sm_errs[i].want, diff ? diff : "nothing changed");
}

KTEST(set_memory, errors_return_their_code_and_change_nothing)
{
	phys_addr_t scratch = frame_alloc();

	KASSERT_TRUE(scratch != 0);
	for (size_t i = 0; i < ARRAY_SIZE(sm_errs); i++)
		sm_expect_error(i, scratch);
	KEXPECT_EQ(frame_free(scratch), 0);
}
