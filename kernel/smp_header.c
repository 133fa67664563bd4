/* kernel/smp_header.c - the "# apic:" and "# smp:" lines of the report header
 * (smp_print_header(), kernel/smp.h), from what smp_init() recorded. */
#include "kernel/smp.h"
#include "kernel/pks.h"
#include "kernel/smp_ipi.h"
#include "kernel/printf.h"
#include "arch/apic.h"
#include "arch/cpu.h"

static bool up(const struct smp_cpu *c)
{
	return c->state == SMP_UP || c->state == SMP_ONLINE;
}

/* ", PKS enabled on all" or where it is not. */
static void print_pks_state(const struct smp_report *r)
{
	int bad = 0;

	if (!pks_enabled()) {
		kprintf(", PKS unavailable (%s)", pks_unavailable_reason() ?: "not enabled");
		return;
	}
	for (int i = 0; i < r->nr_aps; i++)
		if (up(&r->aps[i]) &&
		    (!(r->aps[i].cr4 & CR4_PKS) || r->aps[i].pkrs != pks_default()))
			kprintf("%s %u", bad++ ? "," : ", PKS NOT enabled on APIC ID",
				r->aps[i].apic_id);
	if (!bad)
		kprintf(", PKS enabled on all%s", r->nr_up < r->nr_cpus ? " that are up" : "");
}

/* ", all in x2APIC mode" or the APs whose mode differs from the boot CPU's. */
static void print_mode_state(const struct smp_report *r)
{
	int bad = 0;

	for (int i = 0; i < r->nr_aps; i++)
		if (up(&r->aps[i]) && r->aps[i].apic_mode != r->apic_mode)
			kprintf("%s %u (%s)", bad++ ? "," : ", APIC mode DIFFERS on APIC ID",
				r->aps[i].apic_id, apic_mode_name(r->aps[i].apic_mode));
	if (!bad)
		kprintf(", all in %s mode", apic_mode_name(r->apic_mode));
}

/* One line per AP that failed or misbehaved, at most SMP_MAX_FAIL_REPORTS. */
static void print_failures(const struct smp_report *r)
{
	int shown = 0;

	for (int i = 0; i < r->nr_aps; i++) {
		const struct smp_cpu *c = &r->aps[i];

		if (!c->why || shown++ >= SMP_MAX_FAIL_REPORTS)
			continue;
		if (c->no_answer)
			kprintf("# smp: CPU with APIC ID %u did not answer: %s (waited %llu ms; "
				"stopped with INIT, the run goes on without it)\n",
				c->apic_id, c->why, (unsigned long long)c->waited_ms);
		else
			kprintf("# smp: CPU with APIC ID %u was not started: %s\n", c->apic_id,
				c->why);
	}
	if (shown > SMP_MAX_FAIL_REPORTS)
		kprintf("# smp: %d more CPUs failed (not listed)\n", shown - SMP_MAX_FAIL_REPORTS);
}

void smp_print_header(void)
{
	const struct smp_report *r = smp_report();

	kprintf("# apic: boot CPU in %s mode (%s), IA32_APIC_BASE 0x%llx, APIC ID %u\n",
		apic_mode_name(r->apic_mode), r->apic_why, (unsigned long long)r->bsp_apic_base,
		apic_id());
	if (r->tsc_khz)
		kprintf("# smp: trampoline at 0x%llx (SIPI vector 0x%02llx, highest usable page "
			"below 0x%x), TSC %llu kHz (%s)\n",
			(unsigned long long)r->tramp_pa,
			(unsigned long long)(r->tramp_pa >> PAGE_SHIFT), SMP_TRAMP_LIMIT,
			(unsigned long long)r->tsc_khz, r->tsc_source);
	if (r->problem) {
		kprintf("# smp: only the boot CPU runs: %s\n", r->problem);
		return;
	}
	kprintf("# smp: %d of %d CPUs up%s", r->nr_up, r->nr_cpus,
		r->nr_cpus == 1 ? " (one CPU in the MADT: no AP to start)" : "");
	print_mode_state(r);
	print_pks_state(r);
	kprintf("\n");
	print_failures(r);
	kprintf("# smp: multi-CPU cases run on %d CPU%s (the boot CPU and every AP online "
		"waiting for work)\n",
		smp_nr_online(), smp_nr_online() == 1 ? "" : "s");
}
