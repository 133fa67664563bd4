/* kernel/smp.c - AP bring-up behind kernel/smp.h. */
#include "kernel/smp.h"
#include "kernel/cmdline.h"
#include "kernel/acpi.h"
#include "kernel/panic.h"
#include "kernel/pks.h"
#include "kernel/printf.h"
#include "arch/apic.h"
#include "arch/tsc.h"
#include "arch/cpu.h"
#include "arch/io.h"
#include "arch/trap.h"
#include "mm/dmap.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"

#define AP_CR4_PAE   (1ULL << 5)
#define AP_EFER_LME  (1ULL << 8)
#define TRAMP_CODE32 0x18 /* selectors of the trampoline's GDT */
#define TRAMP_CODE64 0x08

/* The parameter block at the end of the trampoline; layout fixed by
 * arch/ap_boot.asm (its last four fields are set by the assembler). */
struct ap_tramp_params {
	uint16_t gdt_limit;
	uint32_t gdt_base;
	uint32_t pm32_off;
	uint16_t pm32_sel;
	uint32_t lm64_off;
	uint16_t lm64_sel;
	uint32_t cr3, cr4, efer, cr0;
	uint16_t off_gdt, off_gdt_end, off_pm32, off_lm64;
} __packed;
_Static_assert(sizeof(struct ap_tramp_params) == 42, "matches arch/ap_boot.asm");

extern const uint8_t ap_tramp_start[], ap_tramp_end[];
extern const uint8_t ap_tramp_params[], ap_tramp_params_end[];

/* Read by ap_start64 (arch/ap_boot.asm): the stack of the AP being started. */
volatile uint64_t ap_boot_stack;
void smp_ap_main(void);

static struct smp_report report;
static struct smp_cpu *volatile booting; /* the AP being started */
static volatile bool release;		 /* the trampoline is gone: flush and park */
static bool made_root_child;		 /* P's root entry was empty before */

/* --- time: delays on the TSC (arch/tsc.c) -------------------------------------- */

/* Spins until *state >= want (never when state is NULL) or `us` microseconds
 * pass; true when it got there. */
static bool spin_us(volatile int *state, int want, uint64_t us)
{
	uint64_t start = rdtsc(), ticks = us * report.tsc_khz / 1000;

	while (!state || *state < want)
		if (rdtsc() - start > ticks)
			return state && *state >= want;
		else
			cpu_relax();
	return true;
}
#define udelay(us)		    spin_us(NULL, 0, us)
#define wait_state(state, want, ms) spin_us(state, want, (ms)*1000)

/* --- the trampoline page ------------------------------------------------------- */

/* The highest usable 4 KiB page in [PAGE_SIZE, SMP_TRAMP_LIMIT); 0 when none. */
static phys_addr_t pick_tramp_page(const struct boot_info *bi)
{
	for (phys_addr_t p = SMP_TRAMP_LIMIT - PAGE_SIZE; p >= PAGE_SIZE; p -= PAGE_SIZE)
		for (int i = 0; i < bi->nr_mem; i++)
			if (bi->mem[i].type == MEM_USABLE && bi->mem[i].base <= p &&
			    bi->mem[i].base + bi->mem[i].len >= p + PAGE_SIZE)
				return p;
	return 0;
}

/* Writes the trampoline and its parameters into P through the direct map. */
static void tramp_write(phys_addr_t p)
{
	uint8_t *dst = pa_to_va(p);
	struct ap_tramp_params *t = (void *)(dst + (ap_tramp_params - ap_tramp_start));
	phys_addr_t root = pt_kernel_root();

	/* Invariant: the blob fits its page and agrees with struct ap_tramp_params. */
	ASSERT(ap_tramp_end - ap_tramp_start <= (long)PAGE_SIZE &&
	       ap_tramp_params_end - ap_tramp_params == sizeof(*t));
	/* Invariant: the trampoline loads CR3 in 32-bit mode: the root is below 4 GiB. */
	ASSERT(root < 4 * GiB);
	memcpy(dst, ap_tramp_start, ap_tramp_end - ap_tramp_start);
	t->gdt_limit = t->off_gdt_end - t->off_gdt - 1;
	t->gdt_base = p + t->off_gdt;
	t->pm32_off = p + t->off_pm32;
	t->pm32_sel = TRAMP_CODE32;
	t->lm64_off = p + t->off_lm64;
	t->lm64_sel = TRAMP_CODE64;
	t->cr3 = root;
	t->cr4 = AP_CR4_PAE | (read_cr4() & (CR4_LA57 | CR4_PGE));
	t->efer = AP_EFER_LME | EFER_NXE;
	t->cr0 = read_cr0();
}

/* Writes P, makes it read-only in the direct map, then maps it read+execute at
 * its identity address in the kernel root: never writable and executable at once.
 * NULL, or the reason nothing is mapped. */
static const char *tramp_install(phys_addr_t p)
{
	uint64_t *root = pa_to_va(pt_kernel_root());
	int level;

	if (!pt_lookup((uint64_t)pa_to_va(p), &level))
		return "the trampoline page is not in the direct map";
	tramp_write(p);
	if (set_memory_ro((uint64_t)pa_to_va(p), 1))
		return "the trampoline page cannot be made read-only";
	made_root_child = !pt_present(root[pt_index(p, pt_root_level())]);
	if (pt_map_leaf(pt_kernel_root(), p, p, PT_LEVEL_PTE, PTE_A)) {
		set_memory_rw((uint64_t)pa_to_va(p), 1);
		return "the trampoline page cannot be identity-mapped";
	}
	release = false;
	return NULL;
}

/* Frees the table under the root entry of P if pt_map_leaf made it (pt_unmap_leaf
 * keeps the root's children). Every CPU has flushed its TLB. */
static void free_root_child(phys_addr_t p)
{
	uint64_t *e = &((uint64_t *)pa_to_va(pt_kernel_root()))[pt_index(p, pt_root_level())];
	phys_addr_t child;
	const uint64_t *t;

	if (!made_root_child || !pt_present(*e))
		return;
	child = pt_entry_pa(*e, pt_root_level());
	t = pa_to_va(child);
	for (int i = 0; i < PT_ENTRIES; i++)
		if (t[i])
			return;
	pt_set_entry(e, 0);
	flush_tlb_local();
	pt_free(child, pt_root_level() - 1);
}

/* Unmaps P, lets the n APs of aps flush their TLBs and waits for them (they never
 * touch low addresses again), frees what the mapping built, makes P writable. */
static void tramp_remove(phys_addr_t p, struct smp_cpu *aps, int n)
{
	pt_unmap_leaf(pt_kernel_root(), p);
	release = true;
	for (int i = 0; i < n; i++)
		if (aps[i].state == SMP_UP &&
		    !wait_state(&aps[i].state, SMP_PARKED, SMP_AP_TIMEOUT_MS))
			aps[i].why = "did not confirm its TLB flush";
	free_root_child(p);
	set_memory_rw((uint64_t)pa_to_va(p), 1);
}

/* --- starting one AP ----------------------------------------------------------- */

/* Top of a fresh stack of `pages` pages with guard pages around it, or 0. */
static uint64_t alloc_stack(uint64_t pages)
{
	uint8_t *s = vmap_alloc_pages(pages);

	return s ? (uint64_t)s + pages * PAGE_SIZE : 0;
}

/* The AP's stack, GDT/TSS and IST stacks; kept for good (a parked AP takes NMIs).
 * 0 or -ENOMEM. */
static int ap_alloc(struct smp_cpu *c)
{
	c->stack_top = alloc_stack(SMP_AP_STACK_PAGES);
	c->gdt = vmap_alloc_pages(1);
	for (int i = 0; i < NR_IST; i++)
		c->ist_top[i] = alloc_stack(IST_STACK_SIZE / PAGE_SIZE);
	if (!c->stack_top || !c->gdt || !c->ist_top[0] || !c->ist_top[1] || !c->ist_top[2])
		return -ENOMEM;
	return 0;
}

/* Moves c from `from` to `to` unless the other CPU moved it first. */
static bool claim(struct smp_cpu *c, int from, int to)
{
	int expected = from;

	return __atomic_compare_exchange_n(&c->state, &expected, to, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

/* A timed-out AP: FAILED (if it is not inside its probe) and INIT back to the
 * wait-for-SIPI state. -EIO, or 0 when it made it after all. */
static int ap_timed_out(struct smp_cpu *c, uint64_t timeout_ms)
{
	bool entered = c->state == SMP_ENTERED;

	if (claim(c, SMP_OFF, SMP_FAILED) || claim(c, SMP_ENTERED, SMP_FAILED)) {
		c->why = entered ? "entered the kernel but did not finish in time"
				 : "no answer to INIT-SIPI-SIPI in time";
		apic_send_init(c->apic_id);
		udelay(10000); /* INIT has surely landed before `booting` changes */
		return -EIO;
	}
	if (wait_state(&c->state, SMP_UP, timeout_ms))
		return 0;
	/* The catcher's context is on that AP's stack: no safe way on. */
	panic("start_ap: APIC ID %u hangs inside its page-table probe", c->apic_id);
}

/* INIT-SIPI-SIPI to c->apic_id and the wait for "up"; P is mapped. 0 or -EIO. */
static int start_ap(struct smp_cpu *c, uint64_t timeout_ms)
{
	uint8_t vector = report.tramp_pa >> PAGE_SHIFT;
	int rc;

	if (!c->stack_top && ap_alloc(c)) {
		c->state = SMP_FAILED;
		c->why = "no memory for its stacks";
		return -EIO;
	}
	c->state = SMP_OFF;
	booting = c;
	ap_boot_stack = c->stack_top;
	/* SDM Vol. 3A, 8.4.4.1: INIT, 10 ms, SIPI, 200 us, SIPI, 200 us. */
	rc = apic_send_init(c->apic_id);
	udelay(10000);
	for (int i = 0; i < 2 && !rc; i++) {
		rc = apic_send_startup(c->apic_id, vector);
		udelay(200);
	}
	if (rc) {
		c->state = SMP_FAILED;
		c->why = rc == -ERANGE ? "APIC ID needs x2APIC mode" : "the IPI stayed pending";
		return -EIO;
	}
	if (wait_state(&c->state, SMP_UP, timeout_ms))
		return 0;
	return ap_timed_out(c, timeout_ms);
}

int smp_start_cpu(struct smp_cpu *c, uint64_t timeout_ms)
{
	const char *why;
	uint64_t flags;
	int rc = -EIO;

	if (!report.tsc_khz || !report.tramp_pa || report.problem)
		return -ENOENT;
	flags = irq_save();
	why = tramp_install(report.tramp_pa);
	if (why) {
		c->state = SMP_FAILED;
		c->why = why;
	} else {
		rc = start_ap(c, timeout_ms);
		tramp_remove(report.tramp_pa, c, 1);
	}
	irq_restore(flags);
	return rc;
}

/* --- the AP's side --------------------------------------------------------------- */

static __noreturn void park(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

static uint64_t read_gdtr_base(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __packed p;

	__asm__ volatile("sgdt %0" : "=m"(p));
	return p.base;
}

/* What this AP runs with, for the tests. */
static void ap_record(struct smp_cpu *c)
{
	int level;
	uint64_t *e;

	c->cr4 = read_cr4();
	c->pkrs = pks_available() ? pkrs_read() : 0;
	c->gdtr_base = read_gdtr_base();
	c->tss_access = gdt_tss_access(c->gdt);
	e = pt_lookup(report.tramp_pa, &level);
	c->tramp_leaf = e ? *e : 0;
	e = pt_lookup((uint64_t)pa_to_va(report.tramp_pa), &level);
	c->tramp_alias_leaf = e ? *e : 0;
}

/* Writes a root entry back unchanged, with the catcher armed: with the tables
 * protected it must fault with P|W|PK; if it does not, nothing changed. */
static void ap_probe(struct smp_cpu *c)
{
	uint64_t *e = &((uint64_t *)pa_to_va(pt_kernel_root()))[PT_ENTRIES - 1];

	c->probe_va = (uint64_t)e;
	catch_write64(e, *e, &c->probe);
}

/* C entry of every AP (arch/ap_boot.asm), on its own stack with IF = 0. */
__noreturn void smp_ap_main(void)
{
	struct smp_cpu *c = booting;
	uint32_t id = apic_id();

	/* A straggler that missed its turn is INIT'ed; it must not touch c. */
	if (id != c->apic_id || !claim(c, SMP_OFF, SMP_ENTERED))
		park();
	c->seen_apic_id = id;
	gdt_load_cpu(c->gdt, c->ist_top);
	idt_load();
	pks_enable_cpu();
	ap_record(c);
	if (!claim(c, SMP_ENTERED, SMP_PROBING))
		park();
	ap_probe(c);
	c->state = SMP_UP;
	while (!release)
		cpu_relax();
	flush_tlb_all();
	c->state = SMP_PARKED;
	park();
}

/* --- the boot CPU's side ------------------------------------------------------- */

/* The AP records, one per MADT CPU but the boot CPU. 0 or the reason. */
static const char *collect_aps(const struct acpi_cpus *cpus)
{
	uint32_t self = apic_id();
	int n = 0, found = 0;

	report.aps = vmap_alloc_pages(ALIGN_UP(cpus->nr * sizeof(struct smp_cpu), PAGE_SIZE) /
				      PAGE_SIZE);
	if (!report.aps)
		return "no memory for the AP records";
	for (int i = 0; i < cpus->nr; i++) {
		struct smp_cpu *c = &report.aps[n];

		if (cpus->apic_id[i] == self) {
			found++;
			continue;
		}
		c->apic_id = cpus->apic_id[i];
		if (ap_alloc(c)) /* now: the table counts are compared around P */
			*c = (struct smp_cpu){ .apic_id = c->apic_id,
					       .state = SMP_FAILED,
					       .why = "no memory for its stacks" };
		n++;
	}
	report.nr_aps = n;
	return found ? NULL : "the boot CPU's APIC ID is not in the MADT";
}

/* Why no AP can be started on this machine, or NULL. */
static const char *cannot_start(const struct boot_info *bi)
{
	if (cmdline_is("smp", "off"))
		return "AP bring-up disabled by smp=off";
	if (!acpi_cpus())
		return "no CPU list from ACPI";
	if (acpi_cpus()->nr == 1)
		return NULL; /* nothing to do */
	if (!apic_ready())
		return "no usable local APIC";
	report.tramp_pa = pick_tramp_page(bi);
	if (!report.tramp_pa)
		return "no usable page below 0x9f000 for the trampoline";
	return collect_aps(acpi_cpus());
}

void smp_init(const struct boot_info *bi)
{
	uint64_t flags = irq_save();

	report = (struct smp_report){ .nr_up = 1, .bsp_cr4 = read_cr4() };
	report.bsp_gdtr_base = read_gdtr_base();
	report.nr_cpus = acpi_cpus() ? acpi_cpus()->nr : 0;
	report.problem = cannot_start(bi);
	if (report.problem || report.nr_cpus < 2)
		goto out;
	tsc_init();
	report.tsc_khz = tsc_khz();
	report.tsc_source = tsc_source_text();
	for (int l = 0; l < PT_NR_LEVELS; l++)
		report.tables_before[l] = pt_count(l);
	report.problem = tramp_install(report.tramp_pa);
	if (report.problem)
		goto out;
	for (int i = 0; i < report.nr_aps; i++)
		if (report.aps[i].state != SMP_FAILED &&
		    !start_ap(&report.aps[i], SMP_AP_TIMEOUT_MS))
			report.nr_up++;
	tramp_remove(report.tramp_pa, report.aps, report.nr_aps);
	for (int l = 0; l < PT_NR_LEVELS; l++)
		report.tables_after[l] = pt_count(l);
out:
	irq_restore(flags);
}

const struct smp_report *smp_report(void)
{
	return &report;
}

const char *smp_skip_reason(void)
{
	if (cmdline_is("smp", "off"))
		return "AP bring-up disabled by smp=off";
	if (!acpi_cpus())
		return "no CPU list from ACPI (see the # cpus line)";
	if (report.nr_cpus == 1)
		return "one CPU in the MADT (boot with SMP=2 or more)";
	return NULL;
}

/* ", PKS enabled on all" or where it is not. */
static void print_pks_state(void)
{
	int bad = 0;

	if (!pks_enabled()) {
		kprintf(", PKS unavailable (%s)", pks_unavailable_reason() ?: "not enabled");
		return;
	}
	for (int i = 0; i < report.nr_aps; i++)
		if ((report.aps[i].state == SMP_UP || report.aps[i].state == SMP_PARKED) &&
		    (!(report.aps[i].cr4 & CR4_PKS) || report.aps[i].pkrs != pks_default()))
			kprintf("%s %u", bad++ ? "," : ", PKS NOT enabled on APIC ID",
				report.aps[i].apic_id);
	if (!bad)
		kprintf(", PKS enabled on all%s",
			report.nr_up < report.nr_cpus ? " that are up" : "");
}

void smp_print_header(void)
{
	int shown = 0;

	if (report.tsc_khz)
		kprintf("# smp: trampoline at 0x%llx (SIPI vector 0x%02llx, highest usable page "
			"below 0x%x), %s mode, TSC %llu kHz (%s)\n",
			(unsigned long long)report.tramp_pa,
			(unsigned long long)(report.tramp_pa >> PAGE_SHIFT), SMP_TRAMP_LIMIT,
			apic_x2apic_mode() ? "x2APIC" : "xAPIC", (unsigned long long)report.tsc_khz,
			report.tsc_source);
	if (report.problem) {
		kprintf("# smp: only the boot CPU runs: %s\n", report.problem);
		return;
	}
	kprintf("# smp: %d of %d CPUs up%s", report.nr_up, report.nr_cpus,
		report.nr_cpus == 1 ? " (one CPU in the MADT: no AP to start)" : "");
	print_pks_state();
	kprintf("\n");
	for (int i = 0; i < report.nr_aps; i++) {
		const struct smp_cpu *c = &report.aps[i];

		if (c->why && shown++ < SMP_MAX_FAIL_REPORTS)
			kprintf("# smp: APIC ID %u %s: %s\n", c->apic_id,
				c->state == SMP_FAILED ? "FAILED" : "is up but", c->why);
	}
}
