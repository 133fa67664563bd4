/* kernel/main.c - Warden's init sequence, from the entry code to the test report.
 *
 * kmain runs on the boot stack with the entry code's tables (identity map of the
 * first 4 GiB, the same 4 GiB at PAGE_OFFSET, the image at KERNEL_VMA):
 *   1. serial, GDT/TSS, IDT, fault catcher          - nothing may fault unseen after
 *   2. CPU features, multiboot2 information copied   - the MBI is not ours to keep
 *   3. command line, console ports (console=, SPCR)  - problems go into the header
 *   4. frame allocator, memory management            - later: direct map, PKS;
 *      guard-hit reports, IST stacks to guarded vmap regions
 *   5. local APIC, ACPI CPU list, AP bring-up        - PKS on every CPU, APs wait for work
 *   6. report header, test suites, closing line
 * The report begins (KTAP version, plan) once the command line is known, before any
 * other output; the header's first lines follow it, the rest comes after step 5.
 */
#include "kernel/types.h"
#include "kernel/acpi.h"
#include "kernel/bootdump.h"
#include "kernel/catch.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/ktest.h"
#include "kernel/multiboot2.h"
#include "kernel/nmi.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/preempt.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "kernel/smp.h"
#include "kernel/thread.h"
#include "kernel/version.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/gdt.h"
#include "arch/mce.h"
#include "arch/trap.h"
#include "arch/tsc.h"
#include "mm/checker.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/guard.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/vmap.h"

#define EARLY_PAGE_OFFSET PAGE_OFFSET /* the entry code maps 0..4 GiB here too */

extern char __kernel_start[], __kernel_end[];

static struct boot_info boot_info;
static uint8_t mbi_copy[MB2_MAX_SIZE] __aligned(8);

/* Copies the MBI at physical mbi_pa into mbi_copy; panics on an impossible size. */
static uint32_t copy_mbi(phys_addr_t mbi_pa)
{
	const uint8_t *src = (const uint8_t *)(EARLY_PAGE_OFFSET + mbi_pa);
	uint32_t size;

	if (mbi_pa & 7)
		panic("kmain: multiboot2 information at 0x%llx is not 8-byte aligned",
		      (unsigned long long)mbi_pa);
	if (mbi_pa + MB2_MAX_SIZE > 4 * GiB)
		panic("kmain: multiboot2 information at 0x%llx lies above 4 GiB",
		      (unsigned long long)mbi_pa);
	size = *(const uint32_t *)src;
	if (size < 16 || size > MB2_MAX_SIZE)
		panic("kmain: multiboot2 information claims %u bytes (expected 16..%u)", size,
		      (unsigned int)MB2_MAX_SIZE);
	memcpy(mbi_copy, src, size);
	return size;
}

/* Fixes the console's ports (kernel/console.h): console=, else the firmware's SPCR, read
 * through the entry code's map (memory management has not run yet), else every legacy
 * UART found. */
static void apply_console(void)
{
	static uint8_t table[256];
	struct acpi_spcr spcr;
	char why[CON_NOTE_LEN];
	int len = acpi_copy_table_early(&boot_info, "SPCR", table, sizeof(table), why, sizeof(why));

	if (len > 0 &&
	    acpi_parse_spcr(table, MIN((size_t)len, sizeof(table)), &spcr, why, sizeof(why)))
		len = -EINVAL;
	console_choose(cmdline_get("console"), len > 0 ? &spcr : NULL, why);
}

/* How long dmap_init() took: cycles, and milliseconds once the TSC rate is known. */
static void print_setup_time(void)
{
	uint64_t cycles = dmap_boot_cycles(), khz = tsc_khz();

	kprintf("# direct map and split pool set up in %llu cycles", (unsigned long long)cycles);
	if (khz)
		kprintf(" (%llu.%03llu ms at %llu kHz)", (unsigned long long)(cycles / khz),
			(unsigned long long)(cycles * 1000 / khz % 1000), (unsigned long long)khz);
	kprintf("\n");
}

/* Where the pool chunks lie: those below 4 GiB built the map, the rest are high. */
static void print_pool_placement(void)
{
	uint64_t n = pool_nr_chunks(), low = 0;

	for (uint64_t i = 0; i < n; i++)
		low += pool_chunk(i) < 4 * GiB;
	if (n)
		kprintf("# split pool placement: %llu chunks below 4 GiB, %llu above; lowest at "
			"0x%llx, highest at 0x%llx\n",
			(unsigned long long)low, (unsigned long long)(n - low),
			(unsigned long long)pool_chunk(0), (unsigned long long)pool_chunk(n - 1));
}

/* Direct map layout, pool and table counts. */
static void print_memory_management(void)
{
	struct dmap_stats st;
	uint64_t ram = dmap_ram_bytes();

	dmap_stats(&st);
	kprintf("# direct map: %llu MiB of RAM at 0x%llx: %llu x 1G, %llu x 2M, %llu x 4K leaves "
		"(%llu bytes)\n",
		(unsigned long long)(ram / MiB), (unsigned long long)PAGE_OFFSET,
		(unsigned long long)st.leaves[2], (unsigned long long)st.leaves[1],
		(unsigned long long)st.leaves[0], (unsigned long long)st.bytes);
	print_setup_time();
	kprintf("# split pool: %llu frames (%llu KiB, %llu.%03llu%% of RAM) in %llu chunks, "
		"%llu free\n",
		(unsigned long long)pool_total(), (unsigned long long)(pool_total() * 4),
		(unsigned long long)(pool_total() * PAGE_SIZE * 100 / ram),
		(unsigned long long)(pool_total() * PAGE_SIZE * 100000 / ram % 1000),
		(unsigned long long)pool_nr_chunks(), (unsigned long long)pool_free_count());
	print_pool_placement();
	if (pgprot_enforced())
		kprintf("# page-table protection: %s (pks_tables=%s), key %d write-disabled "
			"outside the page-table helpers\n",
			pgprot_mode_name(), pgprot_mode_name(), pgprot_key());
	else
		kprintf("# page-table protection: UNPROTECTED (%s)\n", pgprot_unprotected_reason());
	kprintf("# page tables:");
	for (int l = pt_root_level(); l >= 0; l--)
		kprintf(" %s(%s)=%llu", pt_level_name(l), pt_level_intel_name(l),
			(unsigned long long)pt_count(l));
	kprintf("\n");
}

static void print_features(void)
{
	kprintf("# cpu: %s family %u model %u stepping %u: %s\n", cpu.vendor, cpu.family, cpu.model,
		cpu.stepping, cpu.brand[0] ? cpu.brand : "(no brand string)");
	kprintf("# cpu features: pks=%s pku=%s la57=%s pdpe1gb=%s nx=%s smep=%s smap=%s "
		"x2apic=%s hypervisor=%s\n",
		cpu.pks ? "yes" : "no", cpu.pku ? "yes" : "no", cpu.la57 ? "yes" : "no",
		cpu.pdpe1gb ? "yes" : "no", cpu.nx ? "yes" : "no", cpu.smep ? "yes" : "no",
		cpu.smap ? "yes" : "no", cpu.x2apic ? "yes" : "no", cpu.hypervisor ? "yes" : "no");
	kprintf("# address bits: physical %u, virtual %u\n", cpu.phys_bits, cpu.virt_bits);
	kprintf("# tsc: %llu kHz from %s\n", (unsigned long long)tsc_khz(), tsc_source_text());
}

static void print_memory_map(const struct boot_info *bi)
{
	kprintf("# memory map (%s, %d ranges):\n",
		bi->mem_from_efi ? "from the EFI memory map" : "multiboot2 memory map", bi->nr_mem);
	for (int i = 0; i < bi->nr_mem; i++) {
		const struct mem_range *r = &bi->mem[i];

		kprintf("#   0x%016llx-0x%016llx %-16s %llu KiB\n", (unsigned long long)r->base,
			(unsigned long long)(r->base + r->len - 1), mem_type_name(r->type),
			(unsigned long long)(r->len / KiB));
	}
	kprintf("# usable RAM: %llu MiB\n",
		(unsigned long long)(boot_mem_total(bi, MEM_USABLE) / MiB));
	if (bi->mem_folded || bi->mem_dropped)
		kprintf("# memory map: longer than %d ranges: %d non-RAM ranges folded or "
			"forgotten to make room; %d RAM ranges left out (lowest at 0x%llx), %llu "
			"KiB of RAM that Warden does not use\n",
			BOOT_MAX_RANGES, bi->mem_folded, bi->mem_dropped,
			(unsigned long long)bi->mem_dropped_from,
			(unsigned long long)(bi->mem_dropped_ram / KiB));
}

/* The first "#" lines of the report, right after the plan: what ran, where, on what. */
static void print_boot_header(const struct boot_info *bi)
{
	const char *problem;

	kprintf("# Warden %s\n", WARDEN_VERSION);
	kprintf("# bootloader: %s\n", bi->loader[0] ? bi->loader : "(not named)");
	kprintf("# firmware: %s\n", bi->uefi ? "UEFI" : "BIOS");
	kprintf("# image: loaded at 0x%llx (linked at 0x%llx), %llu KiB\n",
		(unsigned long long)kernel_pa_start(),
		(unsigned long long)(kernel_pa_start() - kernel_load_delta),
		(unsigned long long)((kernel_pa_end() - kernel_pa_start()) / KiB));
	kprintf("# cmdline: %s\n", bi->cmdline[0] ? bi->cmdline : "(empty)");
	for (int i = 0; (problem = cmdline_problem(i)); i++)
		kprintf("# cmdline: %s (ignored)\n", problem);
	console_print_header();
	print_features();
	kprintf("# paging: %s\n", (read_cr4() & CR4_LA57) ? "5-level (LA57)" : "4-level");
	print_memory_map(bi);
}

/* The rest of the header, once memory management and the other CPUs are up. */
static void print_header(void)
{
	pks_print_header();
	print_memory_management();
	kprintf("# frames: %llu owned, %llu free\n", (unsigned long long)frame_owned_count(),
		(unsigned long long)frame_free_count());
	acpi_print_header();
	smp_print_header();
	mce_print_header();
	kprintf("# ktest seed: %llu (reproduce with ktest.seed=%llu)\n",
		(unsigned long long)ktest_seed(), (unsigned long long)ktest_seed());
}

/* Steps 2 and 3: boot information and command line. */
static void read_boot_info(phys_addr_t mbi_pa, uint32_t magic)
{
	char err[160];
	uint32_t size;
	int rc;

	if (magic != MB2_BOOT_MAGIC)
		panic("kmain: bad multiboot2 magic 0x%x", magic);
	size = copy_mbi(mbi_pa);
	rc = mb2_parse(mbi_copy, size, &boot_info, err, sizeof(err));
	if (rc)
		panic("kmain: malformed multiboot2 information: %s", err);
	boot_info.mbi_pa = mbi_pa;
	boot_info.mbi_size = size;
	cmdline_parse(boot_info.cmdline);
	apply_console();
}

/* mem= never cuts into the image (GRUB may load it high): RAM up to the end of its
 * 2 MiB region stays mapped and allocatable, and the header says so. */
static uint64_t mem_limit_past_image(uint64_t limit)
{
	uint64_t end = ALIGN_UP(kernel_image_pa((uint64_t)__kernel_end), 2 * MiB);

	if (limit >= end)
		return limit;
	kprintf("# mem=%s ends below the kernel image (loaded at 0x%llx): RAM up to 0x%llx "
		"is used\n",
		cmdline_get("mem"), (unsigned long long)kernel_pa_start(), (unsigned long long)end);
	return end;
}

/* Step 4: the frame allocator over usable RAM below mem= (if given). */
static void init_memory(void)
{
	uint64_t limit = ~0ULL;
	const char *mem = cmdline_get("mem");

	if (mem && parse_size(mem, &limit) != 0)
		limit = ~0ULL;
	limit = mem_limit_past_image(limit);
	if (frame_init(&boot_info, limit) != 0)
		panic("kmain: memory map too fragmented for the frame allocator");
	frame_reserve(kernel_pa_start(), (uint64_t)(__kernel_end - __kernel_start));
	frame_reserve(boot_info.mbi_pa, boot_info.mbi_size);
	pks_setup();
	pgprot_setup();
	dmap_init(&boot_info, limit);
	pks_enable_cpu();
	pgprot_enable();
}

/* The local APIC's register page, mapped uncached in the vmap area (xAPIC mode). */
static void init_apic(void)
{
	uint64_t va = 0;

	if (!apic_x2apic_mode()) {
		va = vmap_reserve(PAGE_SIZE, PAGE_SIZE);
		if (!va || vmap_map(va, apic_base_pa(), PAGE_SIZE, PT_LEVEL_PTE,
				    PTE_W | PTE_NX | PTE_PCD | PTE_PWT, 0))
			va = 0;
	}
	if (!apic_init((volatile void *)va))
		kprintf("# apic: local APIC unavailable; NMI tests will skip\n");
}

static void seed_tests(void)
{
	const char *s = cmdline_get("ktest.seed");
	uint64_t v;

	if (s && parse_u64(s, &v) == 0)
		ktest_set_seed(v);
	else
		ktest_set_seed(rdtsc());
}

/* After every suite: the "# nmi:" lines of NMIs taken meanwhile (kernel/nmi.h: the
 * NMI handler never prints), then the page-table checker. */
static int after_suite(const char *suite)
{
	nmi_report_pending();
	return checker_after_suite(suite);
}

/* Step 6. */
static void run_tests(void)
{
	ktest_set_after_suite(after_suite);
	ktest_run_all();
}

void kmain(phys_addr_t mbi_pa, uint32_t magic, uint64_t load_delta)
{
	kernel_load_delta = load_delta;
	console_init_early();
	gdt_init();
	percpu_init_boot(); /* GS base: after the GDT load, before the first trap */
	idt_init();
	catch_init();
	trap_set_fatal_hook(trap_fatal);
	cpu_detect();
	tsc_init();
	read_boot_info(mbi_pa, magic);
	ktest_select(cmdline_get("ktest"));
	if (cmdline_is("ktest.fail_early", "on")) /* the runner checks this report */
		panic("kmain: ktest.fail_early=on: deliberate failure before memory management");
	ktest_begin();
	print_boot_header(&boot_info);
	init_memory();
	guard_init();
	thread_init();
	init_apic();
	acpi_init(&boot_info);
	bootdump(mbi_copy, &boot_info);
	smp_init(&boot_info);
	preempt_init();
	seed_tests();
	print_header();
	run_tests();
	ktest_finish();
}
