/* tests/test_bench.c - what page-table protection costs, in TSC cycles per
 * operation. Figures only: every case asserts that the operations it times worked,
 * never how long they took. Under QEMU TCG the TSC is emulated and the figures say
 * little; on hardware they are the point. */
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"
#include "arch/cpu.h"

KTEST_SUITE(90, bench, NULL);

#define ROUNDS 2000

/* Serialising TSC read: the figures must not include reordered work. */
static uint64_t tsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) : : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static void report(const char *what, uint64_t cycles, uint64_t ops)
{
	ktest_note("%s: %llu cycles per operation (%llu operations)", what,
		   (unsigned long long)(ops ? cycles / ops : 0), (unsigned long long)ops);
}

KTEST(bench, pkrs_write_and_read)
{
	uint32_t v;
	uint64_t t;

	if (!pks_enabled())
		KTEST_SKIP(pks_unavailable_reason() ?: "PKS not enabled");
	v = pkrs_read();
	t = tsc();
	for (int i = 0; i < ROUNDS; i++)
		pkrs_write(v);
	report("WRMSR IA32_PKRS", tsc() - t, ROUNDS);
	t = tsc();
	for (int i = 0; i < ROUNDS; i++)
		v ^= pkrs_read();
	report("RDMSR IA32_PKRS", tsc() - t, ROUNDS);
	KEXPECT_EQ(pkrs_read(), pks_default());
}

KTEST(bench, write_window_open_and_close)
{
	uint64_t t = tsc();

	for (int i = 0; i < ROUNDS; i++)
		pt_window_close(pt_window_open());
	report(pgprot_enforced() ? "write window open+close (enforced)"
				 : "write window open+close (not enforced: no-op)",
	       tsc() - t, ROUNDS);
	KEXPECT_TRUE(!pgprot_enforced() || (pkrs_read() & PKRS_WD(pgprot_key())));
}

KTEST(bench, table_store_through_helper_vs_plain_store)
{
	uint64_t va = vmap_reserve(PAGE_SIZE, PAGE_SIZE), *e, t;
	phys_addr_t pa = frame_alloc();
	volatile uint64_t *plain;
	int level;

	KASSERT_TRUE(va && pa);
	KASSERT_EQ(vmap_map(va, pa, PAGE_SIZE, PT_LEVEL_PTE, PTE_W | PTE_NX, 0), 0);
	e = pt_lookup(va, &level);
	KASSERT_TRUE(e != NULL);
	t = tsc();
	for (int i = 0; i < ROUNDS; i++)
		pt_set_entry(e, *e);
	report("pt_set_entry (window + store)", tsc() - t, ROUNDS);
	plain = (volatile uint64_t *)va;
	t = tsc();
	for (int i = 0; i < ROUNDS; i++)
		*plain = (uint64_t)i;
	report("plain store to a data page", tsc() - t, ROUNDS);
	KEXPECT_EQ(*plain, ROUNDS - 1);
	vmap_unmap(va, PAGE_SIZE);
	frame_free(pa);
}

KTEST(bench, vmap_map_and_unmap_4k)
{
	uint64_t va = vmap_reserve(64 * PAGE_SIZE, 2 * MiB), t;
	phys_addr_t pa = frame_alloc();
	int failures = 0;

	KASSERT_TRUE(va && pa);
	t = tsc();
	for (int r = 0; r < ROUNDS / 64; r++) {
		for (int i = 0; i < 64; i++)
			failures += vmap_map(va + i * PAGE_SIZE, pa, PAGE_SIZE, PT_LEVEL_PTE,
					     PTE_NX, 0) != 0;
		vmap_unmap(va, 64 * PAGE_SIZE);
	}
	report("vmap map + unmap of one 4 KiB page (tables made and freed)", tsc() - t,
	       ROUNDS / 64 * 64);
	KEXPECT_EQ(failures, 0);
	frame_free(pa);
}

KTEST(bench, set_memory_split_and_merge_of_a_2m_leaf)
{
	phys_addr_t run = frame_alloc_run(512, 2 * MiB);
	uint64_t va = PAGE_OFFSET + run, t, split = 0, merge = 0;
	struct set_memory_stats before, after;
	int failures = 0;

	KASSERT_TRUE(run != 0);
	set_memory_get_stats(&before);
	for (int i = 0; i < ROUNDS / 20; i++) {
		t = tsc();
		failures += set_memory_ro(va, 1) != 0;
		split += tsc() - t;
		t = tsc();
		failures += set_memory_rw(va, 1) != 0;
		merge += tsc() - t;
	}
	set_memory_get_stats(&after);
	report("set_memory_ro of one page in a large leaf (split, flush)", split, ROUNDS / 20);
	report("set_memory_rw of it again (change, flush, merge back)", merge, ROUNDS / 20);
	ktest_note("splits %llu, merges %llu", (unsigned long long)(after.splits - before.splits),
		   (unsigned long long)(after.merges - before.merges));
	KEXPECT_EQ(failures, 0);
	KEXPECT_GE(after.merges - before.merges, ROUNDS / 20);
	frame_free_run(run, 512);
}

KTEST(bench, memory_held_by_page_tables)
{
	uint64_t tables = 0;

	for (int l = 0; l <= pt_root_level(); l++)
		tables += pt_count(l);
	ktest_note("live page tables: %llu pages, %llu KiB", (unsigned long long)tables,
		   (unsigned long long)(tables * 4));
	ktest_note("direct map RAM: %llu MiB", (unsigned long long)(dmap_ram_bytes() / MiB));
	KEXPECT_GT(tables, 0);
}
