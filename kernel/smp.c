/* kernel/smp.c - AP bring-up behind kernel/smp.h. */
#include "kernel/smp.h"
#include "kernel/smp_tramp.h"
#include "kernel/catch.h"
#include "kernel/cmdline.h"
#include "kernel/acpi.h"
#include "kernel/panic.h"
#include "kernel/percpu.h"
#include "kernel/pks.h"
#include "kernel/smp_ipi.h"
#include "arch/apic.h"
#include "arch/tsc.h"
#include "arch/cpu.h"
#include "arch/io.h"
#include "arch/trap.h"
#include "mm/dmap.h"
#include "mm/set_memory.h"
#include "mm/vmap.h"

/* Read by ap_start64 (arch/ap_boot.asm): the stack of the AP being started. */
volatile uint64_t ap_boot_stack;
void smp_ap_main(void);

static struct smp_report report;
static struct smp_cpu *volatile booting; /* the AP being started */
static volatile bool release;		 /* the trampoline is gone: flush, go online */

/* Moves c from `from` to `to` unless the other CPU moved it first. */
static bool claim(struct smp_cpu *c, int from, int to)
{
	int expected = from;

	return __atomic_compare_exchange_n(&c->state, &expected, to, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

static int stop_ap(struct smp_cpu *c, const char *why);

/* c's per-CPU index (kernel/percpu.h): the boot CPU is 0, the APs follow; -1 for
 * a record that is not one of report.aps (a test's absent CPU). */
static int cpu_index(const struct smp_cpu *c)
{
	if (c < report.aps || c >= report.aps + report.nr_aps)
		return -1;
	return (int)(c - report.aps) + 1;
}

/* Unmaps P, lets the n APs of aps flush their TLBs and waits for them, each at
 * most SMP_AP_TIMEOUT_MS from when the one before confirmed (they flush at once,
 * in parallel; a bound on all of them together would not hold for hundreds of
 * CPUs on a slow host). They never touch low addresses again; one that does not
 * confirm is stopped. Then frees what the mapping built, makes P writable. */
static void tramp_remove(phys_addr_t p, struct smp_cpu *aps, int n)
{
	uint64_t start, ticks = tsc_us_to_ticks(SMP_AP_TIMEOUT_MS * 1000ULL);

	smp_tramp_unmap(p);
	release = true;
	for (int i = 0; i < n; i++)
		for (start = rdtsc(); aps[i].state == SMP_UP;)
			if (rdtsc() - start > ticks) {
				if (claim(&aps[i], SMP_UP, SMP_FAILED)) {
					stop_ap(&aps[i], "did not confirm its TLB flush");
					report.nr_up--; /* it counted when it came up */
				}
			} else {
				cpu_relax();
			}
	smp_tramp_free(p);
}

/* --- starting one AP ----------------------------------------------------------- */

/* Top of a fresh stack of `pages` pages with guard pages around it, or 0. */
static uint64_t alloc_stack(uint64_t pages)
{
	uint8_t *s = vmap_alloc_pages(pages);

	return s ? (uint64_t)s + pages * PAGE_SIZE : 0;
}

/* The AP's stack, GDT/TSS and IST stacks; kept for good (an online AP runs on them).
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

/* Marks c FAILED without sending it anything. -EIO. */
static int not_started(struct smp_cpu *c, const char *why)
{
	c->state = SMP_FAILED;
	c->why = why;
	return -EIO;
}

/* Stops c (already FAILED) with INIT, which lands before this returns: it did not
 * answer for `why`. -EIO. */
static int stop_ap(struct smp_cpu *c, const char *why)
{
	smp_cpu_offline(cpu_index(c));
	c->why = why;
	c->no_answer = true;
	apic_send_init(c->apic_id);
	tsc_udelay(10000); /* INIT has surely landed before `booting` changes */
	return -EIO;
}

/* An AP not up in time: FAILED in whatever state it reached, and stopped; a catch
 * it left armed is dropped back to `mark` (the catcher before it started).
 * -EIO, or 0 when it came up after all. */
static int ap_timed_out(struct smp_cpu *c, const void *mark)
{
	if (claim(c, SMP_OFF, SMP_FAILED))
		return stop_ap(c, "no answer to INIT-SIPI-SIPI");
	if (claim(c, SMP_ENTERED, SMP_FAILED))
		return stop_ap(c, "entered the kernel but did not finish");
	if (!claim(c, SMP_PROBING, SMP_FAILED))
		return 0;
	stop_ap(c, "hung inside its page-table probe");
	catch_drop_to(mark);
	return -EIO;
}

/* INIT, 10 ms, SIPI, 200 us, SIPI, 200 us to APIC ID id (SDM Vol. 3A, 9.4.4.1).
 * 0 or the first error of apic_send_*(). */
static int init_sipi_sipi(uint32_t id, uint8_t vector)
{
	int rc = apic_send_init(id);

	tsc_udelay(10000);
	for (int i = 0; i < 2 && !rc; i++) {
		rc = apic_send_startup(id, vector);
		tsc_udelay(200);
	}
	return rc;
}

/* INIT-SIPI-SIPI to c->apic_id and a wait of at most timeout_ms for "up"; P is
 * mapped. 0 or -EIO (c FAILED, stopped with INIT if it was sent anything). */
static int start_ap(struct smp_cpu *c, uint64_t timeout_ms)
{
	const void *mark = catch_mark();
	uint64_t start;
	int rc;

	if (!c->stack_top && ap_alloc(c))
		return not_started(c, "no memory for its stacks");
	smp_cpu_offline(cpu_index(c)); /* a restarted AP takes no rounds until online */
	c->state = SMP_OFF;
	c->why = NULL;
	c->no_answer = false;
	booting = c;
	ap_boot_stack = c->stack_top;
	rc = init_sipi_sipi(c->apic_id, report.tramp_pa >> PAGE_SHIFT);
	if (rc == -ERANGE)
		return not_started(c, "its APIC ID needs x2APIC mode");
	if (rc) {
		c->state = SMP_FAILED;
		return stop_ap(c, "an IPI stayed pending in the ICR");
	}
	start = rdtsc();
	rc = tsc_wait_until(&c->state, SMP_UP, timeout_ms * 1000) ? 0 : ap_timed_out(c, mark);
	c->waited_ms = (rdtsc() - start) / tsc_khz();
	return rc;
}

int smp_start_cpu(struct smp_cpu *c, uint64_t timeout_ms)
{
	const char *why;
	uint64_t flags;
	int rc = -EIO;

	if (!report.tsc_khz || !report.tramp_pa || report.problem)
		return -ENOENT;
	flags = irq_save();
	release = false;
	why = smp_tramp_install(report.tramp_pa);
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

/* Halts for good (a straggler that must not touch anything). An NMI wakes the CPU;
 * its handler counts it (arch/trap.h) and returns here, and the loop halts again. */
static __noreturn void park(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

/* The last state of an AP that came up: its LINT1 delivers platform NMIs too, and
 * it waits for calls and rounds (kernel/smp_ipi.h). */
static __noreturn void go_online(void)
{
	apic_enable_lint1_nmi();
	smp_cpu_online();
	smp_worker();
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

/* CPUID.0BH:EDX, this CPU's x2APIC ID (SDM Vol. 2A, CPUID), or ~0 without leaf
 * 0xb. */
static uint32_t cpuid_apic_id(void)
{
	return cpuid(0, 0).eax < 0xb ? ~0u : cpuid(0xb, 0).edx;
}

/* What this AP runs with, for the tests. */
static void ap_record(struct smp_cpu *c)
{
	int level;
	uint64_t *e;

	c->apic_mode = apic_mode();
	c->apic_base = rdmsr(MSR_IA32_APIC_BASE);
	c->cpuid_apic_id = cpuid_apic_id();
	c->cr4 = read_cr4();
	c->pkrs = pks_available() ? pkrs_read() : 0;
	c->gdtr_base = read_gdtr_base();
	c->tss_access = gdt_tss_access(c->gdt);
	e = pt_lookup(report.tramp_pa, &level);
	c->tramp_leaf = e ? *e : 0;
	e = pt_lookup((uint64_t)pa_to_va(report.tramp_pa), &level);
	c->tramp_alias_leaf = e ? *e : 0;
}

static void spin_forever(void *unused)
{
	(void)unused;
	for (;;)
		cpu_relax();
}

/* Writes a root entry back unchanged, with the catcher armed: with the tables
 * protected it must fault with P|W|PK; if it does not, nothing changed. */
static void ap_probe(struct smp_cpu *c)
{
	uint64_t *e = &((uint64_t *)pa_to_va(pt_kernel_root()))[PT_ENTRIES - 1];

	c->probe_va = (uint64_t)e;
	if (c->hang_in_probe)
		catch_run(spin_forever, NULL, &c->probe);
	catch_write64(e, *e, &c->probe);
}

/* C entry of every AP (arch/ap_boot.asm), on its own stack with IF = 0. */
__noreturn void smp_ap_main(void)
{
	struct smp_cpu *c = booting;
	enum apic_mode found = apic_mode();
	int rc = report.apic_mode == APIC_X2APIC ? apic_enable_x2apic() : 0;
	uint32_t id = apic_id();

	/* A straggler that missed its turn is INIT'ed; it must not touch c. */
	if (id != c->apic_id || !claim(c, SMP_OFF, SMP_ENTERED))
		park();
	c->seen_apic_id = id;
	c->apic_found = found;
	c->apic_switch_rc = rc;
	gdt_load_cpu(c->gdt, c->ist_top);
	if (cpu_index(c) < 0) /* not a CPU of the MADT: no record, no work */
		park();
	percpu_init_cpu(cpu_index(c), id);
	idt_load();
	pks_enable_cpu();
	ap_record(c);
	if (!claim(c, SMP_ENTERED, SMP_PROBING))
		park();
	ap_probe(c);
	if (!claim(c, SMP_PROBING, SMP_UP))
		park();
	while (!release)
		cpu_relax();
	flush_tlb_all_local();
	/* The boot CPU may have given up on it meanwhile (it is being stopped): never
	 * online then, or rounds would wait for a CPU about to take INIT. */
	if (!claim(c, SMP_UP, SMP_ONLINE))
		park();
	go_online();
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
		if (n + 1 >= NR_CPUS)
			*c = (struct smp_cpu){ .apic_id = c->apic_id,
					       .state = SMP_FAILED,
					       .why = "beyond the per-CPU records (NR_CPUS)" };
		else if (ap_alloc(c)) /* now: the table counts are compared around P */
			*c = (struct smp_cpu){ .apic_id = c->apic_id,
					       .state = SMP_FAILED,
					       .why = "no memory for its stacks" };
		n++;
	}
	report.nr_aps = n;
	return found ? NULL : "the boot CPU's APIC ID is not in the MADT";
}

uint32_t smp_top_madt_id(void)
{
	const struct acpi_cpus *cpus = acpi_cpus();
	uint32_t top = 0;

	for (int i = 0; cpus && i < cpus->nr; i++)
		top = MAX(top, cpus->apic_id[i]);
	return top;
}

/* Why the boot CPU stays in xAPIC mode when apic_enable_x2apic() returned rc. */
static const char *no_switch_why(int rc)
{
	if (rc == -ENOTSUP)
		return "as the firmware left it; x2APIC wanted, but CPUID.1:ECX[21] is clear";
	return "as the firmware left it; x2APIC wanted, but the APIC is disabled";
}

/* The boot CPU's APIC mode for this run (SDM Vol. 3A, 11.12.1): the firmware's,
 * or xAPIC -> x2APIC when x2apic=on, or (auto) an APIC ID needs it, and the CPU
 * has it. The reason goes to report.apic_why. */
static void choose_apic_mode(void)
{
	bool on = cmdline_is("x2apic", "on"), off = cmdline_is("x2apic", "off");
	bool need = smp_top_madt_id() > XAPIC_MAX_ID;
	int rc;

	report.apic_handed_over = apic_handed_over();
	report.apic_why = "as the firmware left it";
	if (report.apic_handed_over == APIC_X2APIC && off)
		report.apic_why = "as the firmware left it (x2apic=off: leaving x2APIC needs the "
				  "APIC disabled first)";
	if (report.apic_handed_over == APIC_XAPIC && (on || (need && !off))) {
		rc = apic_enable_x2apic();
		if (rc)
			report.apic_why = no_switch_why(rc);
		else if (on)
			report.apic_why = "switched from xAPIC by x2apic=on";
		else
			report.apic_why = "switched from xAPIC: an APIC ID is above 254";
	} else if (need && off) {
		report.apic_why = "as the firmware left it (x2apic=off: APIC IDs above 254 "
				  "cannot be started)";
	}
	report.apic_mode = apic_mode();
	report.bsp_apic_base = rdmsr(MSR_IA32_APIC_BASE);
	report.bsp_cpuid_apic_id = cpuid_apic_id();
}

/* Starts the APs one by one; those that do not answer share SMP_FAIL_BUDGET_MS.
 * P is mapped. */
static void start_aps(void)
{
	report.fail_budget_left_ms = SMP_FAIL_BUDGET_MS;
	for (int i = 0; i < report.nr_aps; i++) {
		struct smp_cpu *c = &report.aps[i];
		uint64_t wait = MAX((uint64_t)SMP_AP_MIN_WAIT_MS,
				    MIN((uint64_t)SMP_AP_TIMEOUT_MS, report.fail_budget_left_ms));

		if (c->state == SMP_FAILED)
			continue;
		if (!start_ap(c, wait))
			report.nr_up++;
		else if (c->no_answer)
			report.fail_budget_left_ms -= MIN(report.fail_budget_left_ms, c->waited_ms);
	}
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
	report.tramp_pa = smp_tramp_pick(bi);
	if (!report.tramp_pa)
		return "no usable page below 0x9f000 for the trampoline";
	return collect_aps(acpi_cpus());
}

void smp_init(const struct boot_info *bi)
{
	uint64_t flags = irq_save();

	report = (struct smp_report){ .nr_up = 1, .bsp_cr4 = read_cr4() };
	smp_ipi_init();
	report.bsp_gdtr_base = read_gdtr_base();
	report.nr_cpus = acpi_cpus() ? acpi_cpus()->nr : 0;
	choose_apic_mode();
	report.problem = cannot_start(bi);
	if (report.problem || report.nr_cpus < 2)
		goto out;
	report.tsc_khz = tsc_khz();
	report.tsc_source = tsc_source_text();
	for (int l = 0; l < PT_NR_LEVELS; l++)
		report.tables_before[l] = pt_count(l);
	release = false;
	report.problem = smp_tramp_install(report.tramp_pa);
	if (report.problem)
		goto out;
	start_aps();
	tramp_remove(report.tramp_pa, report.aps, report.nr_aps);
	for (int l = 0; l < PT_NR_LEVELS; l++)
		report.tables_after[l] = pt_count(l);
out:
	smp_cpu_online();
	irq_restore(flags);
}

const struct smp_report *smp_report(void)
{
	return &report;
}

struct smp_cpu *smp_ap(int i)
{
	/* Invariant: only records smp_init() made are handed out. */
	ASSERT(i >= 0 && i < report.nr_aps);
	return &report.aps[i];
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
