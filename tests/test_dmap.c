/* tests/test_dmap.c - the direct map: every RAM frame at PAGE_OFFSET + pa, holes left
 * unmapped, the large-leaf layout. The leaf bits, the read-only image alias and NX
 * are in tests/test_dmap_bits.c; simulated hot-add and hot-remove, the rest of the
 * suite, in tests/test_dmap_hotadd.c (cases run in file order: this file, bits,
 * hotadd).
 *
 * Every access that may fault is one load, store or call through the fault catcher.
 * The cases read every mapped frame but write only frames they took from the frame
 * allocator (other frames belong to someone else; the image's .text/.rodata alias
 * is read-only by design), and give back everything they take.
 */
#include "kernel/catch.h"
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "arch/cpu.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "mm/set_memory.h"
#include "tests/test_dmap.h"

KTEST_SUITE(20, dmap, NULL);

#define DM_FULL_BYTES (1 * GiB)	      /* up to this much RAM, every frame is checked */
#define DM_SAMPLE     8192	      /* above it, about this many per check */
#define DM_MAX_RUNS   4096	      /* runs a drain can record */
#define DM_DRAIN_RUN  (1ULL << 20)    /* largest drain run: 4 GiB */
#define DM_PATTERN    0x5741524445ULL /* "WARDE" */

struct dm_run {
	phys_addr_t pa;
	uint64_t count;
};

/* Frames a case checked, how many failed, and the first that did. */
struct dm_tally {
	uint64_t checked, bad;
	phys_addr_t first_bad;
};

static struct dm_run dm_runs[DM_MAX_RUNS];
static int dm_nr_runs;

/* 1 (every frame) up to DM_FULL_BYTES of RAM, else a stride giving ~DM_SAMPLE frames. */
static uint64_t dm_stride(void)
{
	uint64_t pages = dmap_ram_bytes() / PAGE_SIZE;

	return dmap_ram_bytes() <= DM_FULL_BYTES ? 1 : MAX(pages / DM_SAMPLE, 1);
}

static void dm_count(struct dm_tally *t, phys_addr_t pa, bool ok)
{
	t->checked++;
	if (!ok && !t->bad++)
		t->first_bad = pa;
}

static void dm_expect_clean(const struct dm_tally *t, const char *what)
{
	ktest_note("%s: %llu frames checked, %llu bad (first 0x%llx)", what,
		   (unsigned long long)t->checked, (unsigned long long)t->bad,
		   (unsigned long long)t->first_bad);
	KEXPECT_GT(t->checked, 0);
	KEXPECT_EQ(t->bad, 0);
}

/* True when the kernel's leaf for PAGE_OFFSET + pa maps exactly pa. */
static bool dm_translates(phys_addr_t pa)
{
	int level;
	uint64_t *e = pt_lookup(PAGE_OFFSET + pa, &level);

	return e && pt_entry_pa(*e, level) + (pa & (pt_size(level) - 1)) == pa;
}

/* The word of frame pa a check uses: a different cache line for neighbouring frames. */
static uint64_t *dm_word(phys_addr_t pa)
{
	return (uint64_t *)pa_to_va(pa) + (pa >> PAGE_SHIFT) % 512;
}

bool dm_frame_reads(phys_addr_t pa)
{
	struct fault f;

	catch_read64(dm_word(pa), &f);
	return !f.hit && dm_translates(pa);
}

/* Stores a pattern into a frame the caller owns, loads it back, restores the word. */
bool dm_frame_writes(phys_addr_t pa)
{
	uint64_t *w = dm_word(pa), v = DM_PATTERN ^ pa, old;
	struct fault f0, f1, f2, f3;
	bool ok;

	old = catch_read64(w, &f0);
	catch_write64(w, v, &f1);
	ok = catch_read64(w, &f2) == v && dm_translates(pa) &&
	     va_to_pa(w) == pa + ((uint64_t)w & (PAGE_SIZE - 1));
	catch_write64(w, old, &f3);
	return ok && !f0.hit && !f1.hit && !f2.hit && !f3.hit;
}

/* Takes every free frame as runs, largest first (stops early if dm_runs fills). */
static void dm_drain(void)
{
	dm_nr_runs = 0;
	for (uint64_t count = DM_DRAIN_RUN; count > 0; count /= 2) {
		while (dm_nr_runs < DM_MAX_RUNS) {
			phys_addr_t pa = frame_alloc_run(count, PAGE_SIZE);

			if (!pa)
				break;
			dm_runs[dm_nr_runs++] = (struct dm_run){ pa, count };
		}
	}
}

static void dm_undrain(void)
{
	while (dm_nr_runs > 0) {
		dm_nr_runs--;
		KEXPECT_EQ(frame_free_run(dm_runs[dm_nr_runs].pa, dm_runs[dm_nr_runs].count), 0);
	}
}

/* The leaf entry that maps va, or 0 when none does. */
static uint64_t dm_leaf(uint64_t va)
{
	int level;
	uint64_t *e = pt_lookup(va, &level);

	return e ? *e : 0;
}

static bool dm_in_ram(phys_addr_t pa)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r);

	for (int i = 0; i < n; i++)
		if (pa >= r[i].base && pa - r[i].base < r[i].len)
			return true;
	return false;
}

/* CPUID.80000001H:EDX bit 26, read here rather than trusting the kernel's copy. */
static bool dm_cpu_has_1g(void)
{
	return cpuid(0x80000001, 0).edx & (1u << 26);
}

KTEST(dmap, paging_levels_match_cr4_la57)
{
	bool la57 = read_cr4() & CR4_LA57;

	ktest_note("%d-level paging, la57=%s on the command line", la57 ? 5 : 4,
		   cmdline_get("la57") ? cmdline_get("la57") : "(not given)");
	KEXPECT_EQ(pt_root_level(), la57 ? PT_LEVEL_PGD_5LEVEL : PT_LEVEL_PGD_4LEVEL);
	if (cmdline_is("la57", "off"))
		KEXPECT_EQ(pt_root_level(), PT_LEVEL_PGD_4LEVEL);
	else if (cpuid(7, 0).ecx & (1u << 16))
		KEXPECT_EQ(pt_root_level(), PT_LEVEL_PGD_5LEVEL);
	KEXPECT_EQ(read_cr3() & PTE_ADDR_MASK, pt_kernel_root());
}

/* Reads [pa, end) of RAM through the direct map leaf by leaf: the first and the last
 * frame of each leaf and a seeded one between them (each read also checks that the
 * leaf translates that frame to itself), so every 4 KiB leaf is read whole. A leaf
 * translates all its frames through one entry: a missing leaf or a wrong address
 * shows at every frame of it, so this stratified sample catches what a read of
 * every frame caught. */
static void dm_read_leaves(struct dm_tally *t, phys_addr_t pa, phys_addr_t end, uint64_t *rng)
{
	while (pa < end) {
		int level = PT_LEVEL_PTE;
		uint64_t size = pt_lookup(PAGE_OFFSET + pa, &level) ? pt_size(level) : PAGE_SIZE;
		phys_addr_t seg = MIN(ALIGN_DOWN(pa, size) + size, end);
		phys_addr_t pick[3] = { pa,
					pa + ktest_rand(rng) % ((seg - pa) / PAGE_SIZE) * PAGE_SIZE,
					seg - PAGE_SIZE };

		for (int i = 0; i < 3; i++)
			if (i == 0 || pick[i] != pick[i - 1])
				dm_count(t, pick[i], dm_frame_reads(pick[i]));
		pa = seg;
	}
}

KTEST(dmap, every_ram_frame_translates_to_itself_and_reads)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r);
	uint64_t step = dm_stride(), rng = ktest_seed() | 1;
	struct dm_tally t = { 0 };

	for (int i = 0; i < n && step == 1; i++)
		dm_read_leaves(&t, r[i].base, r[i].base + r[i].len, &rng);
	for (int i = 0; i < n && step > 1; i++) {
		for (uint64_t off = 0; off < r[i].len; off += step * PAGE_SIZE)
			dm_count(&t, r[i].base + off, dm_frame_reads(r[i].base + off));
		dm_count(&t, r[i].base + r[i].len - PAGE_SIZE,
			 dm_frame_reads(r[i].base + r[i].len - PAGE_SIZE));
	}
	dm_expect_clean(&t, step == 1 ? "RAM frames: first, last and a seeded one of every leaf"
				      : "a sample of RAM frames");
}

/* How many drained frames from the g-th on to skip before the next write-checked
 * one (0: check it), above DM_FULL_BYTES of RAM: DM_SAMPLE in
 * 2 MiB bands spread over the whole: frames the host must back (a guest may have
 * more RAM than the host) stay few and in few large pages, and the loop visits
 * only the bands, not every frame of terabytes. */
static uint64_t dm_write_skip(uint64_t g, uint64_t total)
{
	uint64_t period = total / (DM_SAMPLE / 512);

	if (dmap_ram_bytes() <= DM_FULL_BYTES || total <= DM_SAMPLE || g % period < 512)
		return 0;
	return period - g % period;
}

/* True when the leaf that maps pa is a writable entry that maps pa (read from the
 * entry; the store through the MMU is dm_frame_writes). */
static bool dm_leaf_writable(phys_addr_t pa)
{
	return (dm_leaf(PAGE_OFFSET + pa) & PTE_W) && dm_translates(pa);
}

/* True when pa's direct-map leaf (leaf bytes) is the first or the last leaf of its
 * RAM range (the edges where the map changes). */
static bool dm_range_edge(phys_addr_t pa, uint64_t leaf)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r);

	for (int i = 0; i < n; i++)
		if (pa >= r[i].base && pa - r[i].base < r[i].len)
			return ALIGN_DOWN(pa, leaf) <= r[i].base ||
			       ALIGN_DOWN(pa, leaf) + leaf >= r[i].base + r[i].len;
	return true;
}

/* Checks the drained frames [pa, pa + count pages) leaf by leaf: every leaf's entry
 * (present, writable, the right address) for its first frame, and a store through
 * the MMU into every 4 KiB leaf, into the first and last large leaf of each RAM
 * range and into one large leaf in DM_WRITE_EVERY of the others, at a seeded frame
 * of it. A leaf maps all its frames through one entry, so a wrong entry shows in the
 * entry check of every leaf; the stores show that the MMU uses what the entries say.
 * Storing into every frame of RAM caught nothing more, and made the host commit all
 * of the guest's memory (about 1 s of the default run under TCG); a store into a
 * large leaf still makes it commit 2 MiB (a transparent huge page, about 3 ms on a
 * nested host), so the large ones are a sample. */
#define DM_WRITE_EVERY 64
static void dm_write_leaves(struct dm_tally *t, phys_addr_t pa, uint64_t count, uint64_t *rng)
{
	phys_addr_t end = pa + count * PAGE_SIZE;

	while (pa < end) {
		int level = PT_LEVEL_PTE;
		uint64_t size;
		phys_addr_t seg, pick;
		bool store;

		size = pt_lookup(PAGE_OFFSET + pa, &level) ? pt_size(level) : PAGE_SIZE;
		seg = MIN(ALIGN_DOWN(pa, size) + size, end);
		pick = pa + ktest_rand(rng) % ((seg - pa) / PAGE_SIZE) * PAGE_SIZE;
		store = level == PT_LEVEL_PTE || dm_range_edge(pa, size) ||
			ktest_rand(rng) % DM_WRITE_EVERY == 0;
		dm_count(t, pa, dm_leaf_writable(pa) && (!store || dm_frame_writes(pick)));
		pa = seg;
	}
}

KTEST(dmap, every_free_frame_writes_through_direct_map)
{
	struct dm_tally t = { 0 };
	uint64_t g = 0, total = frame_free_count(), rng = ktest_seed() | 1;

	dm_drain();
	for (int i = 0; i < dm_nr_runs && dmap_ram_bytes() <= DM_FULL_BYTES; i++)
		dm_write_leaves(&t, dm_runs[i].pa, dm_runs[i].count, &rng);
	for (int i = 0; i < dm_nr_runs && dmap_ram_bytes() > DM_FULL_BYTES; i++) {
		for (uint64_t k = 0; k < dm_runs[i].count;) {
			uint64_t skip = dm_write_skip(g, total);

			if (!skip) {
				dm_count(&t, dm_runs[i].pa + k * PAGE_SIZE,
					 dm_frame_writes(dm_runs[i].pa + k * PAGE_SIZE));
				skip = 1;
			}
			skip = MIN(skip, dm_runs[i].count - k);
			k += skip;
			g += skip;
		}
	}
	dm_undrain();
	dm_expect_clean(&t, dmap_ram_bytes() <= DM_FULL_BYTES
				    ? "free frames, one per leaf (stores into a sample)"
				    : "2 MiB bands of free frames");
}

/* Collects physical addresses that are not RAM: fixed platform holes, the first and
 * last page of every gap between RAM ranges, the page right above the last range,
 * far above it, and RAM held back by mem=. Returns how many. */
static int dm_holes(phys_addr_t *out, int max)
{
	static const phys_addr_t fixed[] = {
		0xa0000,    /* legacy VGA window */
		0xb0000000, /* q35 PCIe ECAM */
		0xfec00000, /* I/O APIC */
		0xfee00000, /* local APIC */
	};
	const struct pa_range *r, *h;
	int n = dmap_ranges(&r), nh = dmap_held_ranges(&h), k = 0;

	for (size_t i = 0; i < ARRAY_SIZE(fixed) && k < max; i++)
		out[k++] = fixed[i];
	for (int i = 0; i < n && k + 2 <= max; i++) {
		phys_addr_t end = r[i].base + r[i].len;

		out[k++] = end;
		out[k++] = i + 1 < n ? r[i + 1].base - PAGE_SIZE : ALIGN_UP(end, GiB) + GiB;
	}
	for (int i = 0; i < nh && k < max; i++)
		out[k++] = h[i].base;
	return k;
}

KTEST(dmap, non_ram_is_not_mapped_and_reads_fault)
{
	static phys_addr_t holes[2 * BOOT_MAX_RANGES + 8];
	int n = dm_holes(holes, (int)ARRAY_SIZE(holes)), tested = 0;

	for (int i = 0; i < n; i++) {
		uint64_t va = PAGE_OFFSET + holes[i];
		struct fault f;
		int level;

		if (dm_in_ram(holes[i]))
			continue; /* e.g. 0xb0000000 is RAM in a bigger guest */
		tested++;
		if (pt_lookup(va, &level))
			ktest_fail(__FILE__, __LINE__, "hole 0x%llx is mapped",
				   (unsigned long long)holes[i]);
		catch_read64((void *)va, &f);
		KEXPECT_PF(&f, 0, va);
	}
	ktest_note("%d non-RAM addresses probed", tested);
	KEXPECT_GT(tested, 3);
}

/* True when [pa, pa+size) lies wholly inside or wholly outside [lo, hi). */
static bool dm_uniform_with(phys_addr_t pa, uint64_t size, phys_addr_t lo, phys_addr_t hi)
{
	return pa + size <= lo || pa >= hi || (pa >= lo && pa + size <= hi);
}

/* Index of the first pool chunk (sorted by address) that ends above pa. */
static uint64_t dm_first_chunk_ending_above(phys_addr_t pa)
{
	uint64_t lo = 0, hi = pool_nr_chunks();

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (pool_chunk(mid) + POOL_CHUNK_SIZE <= pa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* True when [pa, pa+size) straddles no edge of what the seal changed after boot
 * (mm/pgprot.h): the protection state's image pages and the pool's chunk array. */
static bool dm_uniform_with_sealed(phys_addr_t pa, uint64_t size)
{
	struct pgprot_range r[PGPROT_NR_STATE_RANGES];
	phys_addr_t meta;
	uint64_t len;

	pgprot_state_ranges(r);
	for (int i = 0; i < PGPROT_NR_STATE_RANGES; i++) {
		phys_addr_t lo = kernel_image_pa(r[i].va);

		if ((!r[i].keyed || pgprot_key()) && !dm_uniform_with(pa, size, lo, lo + r[i].len))
			return false;
	}
	pool_meta(&meta, &len);
	return !pgprot_key() || dm_uniform_with(pa, size, meta, meta + len);
}

/* True when one leaf may map [pa, pa+size): it straddles no edge of the read-only
 * image alias, a pool chunk or a keyed cache block (the boot block; all blocks
 * when `all_blocks`, the live map, which also has the sealed state). */
static bool dm_leaf_fits(phys_addr_t pa, uint64_t size, bool all_blocks)
{
	uint64_t nb = all_blocks ? ptcache_nr_blocks() : MIN(ptcache_nr_blocks(), 1);

	if (!dm_uniform_with(pa, size, kernel_pa_start(), kernel_ro_pa_end()))
		return false;
	if (all_blocks && pgprot_sealed() && !dm_uniform_with_sealed(pa, size))
		return false;
	/* Chunks are sorted: only those from the first one ending above pa can touch it
	 * (terabyte machines have thousands of chunks). */
	for (uint64_t i = dm_first_chunk_ending_above(pa);
	     i < pool_nr_chunks() && pool_chunk(i) < pa + size; i++)
		if (!dm_uniform_with(pa, size, pool_chunk(i), pool_chunk(i) + POOL_CHUNK_SIZE))
			return false;
	for (uint64_t i = 0; i < nb; i++)
		if (!dm_uniform_with(pa, size, ptcache_block(i), ptcache_block(i) + 2 * MiB))
			return false;
	return true;
}

/* The layout computed from dmap_ranges(): each range mapped from its start with the
 * largest aligned leaf that fits in it and in its special region. */
static void dm_expected_layout(struct dmap_stats *s, bool all_blocks)
{
	const struct pa_range *r;
	int n = dmap_ranges(&r), top = dm_cpu_has_1g() ? PT_LEVEL_PUD : PT_LEVEL_PMD;

	*s = (struct dmap_stats){ 0 };
	for (int i = 0; i < n; i++) {
		phys_addr_t pa = r[i].base, end = r[i].base + r[i].len;

		while (pa < end) {
			int l = top;

			while (l > PT_LEVEL_PTE &&
			       !(IS_ALIGNED(pa, pt_size(l)) && pa + pt_size(l) <= end &&
				 dm_leaf_fits(pa, pt_size(l), all_blocks)))
				l--;
			s->leaves[l]++;
			s->bytes += pt_size(l);
			pa += pt_size(l);
		}
	}
}

void dm_expect_layout(const struct dmap_stats *got, const struct dmap_stats *want)
{
	ktest_note("expected %llu x 1G, %llu x 2M, %llu x 4K; found %llu, %llu, %llu",
		   (unsigned long long)want->leaves[2], (unsigned long long)want->leaves[1],
		   (unsigned long long)want->leaves[0], (unsigned long long)got->leaves[2],
		   (unsigned long long)got->leaves[1], (unsigned long long)got->leaves[0]);
	for (int l = PT_LEVEL_PTE; l <= PT_LEVEL_PUD; l++)
		KEXPECT_EQ(got->leaves[l], want->leaves[l]);
	KEXPECT_EQ(got->bytes, want->bytes);
}

KTEST(dmap, boot_leaf_counts_match_expected_large_page_layout)
{
	struct dmap_stats want;

	KEXPECT_EQ(dmap_has_1g(), dm_cpu_has_1g());
	dm_expected_layout(&want, false);
	dm_expect_layout(dmap_boot_stats(), &want);
}

KTEST(dmap, live_leaf_counts_match_expected_large_page_layout)
{
	struct dmap_stats want, got;

	/* Cache blocks taken after boot force 2 MiB leaves only when they carry a key. */
	dm_expected_layout(&want, pgprot_key() != 0);
	dmap_stats(&got);
	dm_expect_layout(&got, &want);
}

KTEST(dmap, leaf_bytes_add_up_to_ram_mapped)
{
	struct dmap_stats s;

	dmap_stats(&s);
	KEXPECT_EQ(s.leaves[0] * PAGE_SIZE + s.leaves[1] * PMD_SIZE + s.leaves[2] * PUD_SIZE,
		   dmap_ram_bytes());
	KEXPECT_EQ(s.bytes, dmap_ram_bytes());
	KEXPECT_EQ(dmap_boot_stats()->bytes, dmap_ram_bytes());
}
