/* kernel/mce_report.c - the machine-check report of kernel/mce_report.h. */
#include "kernel/mce_report.h"
#include "kernel/ktest.h"
#include "kernel/nmi.h"
#include "kernel/panic.h"
#include "kernel/printf.h"
#include "kernel/smp.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

#define NO_REPORTER 0xffffffffu

static struct mce_cpu_record records[MCE_MAX_CPUS];
static int nr_records; /* slots claimed (may exceed MCE_MAX_CPUS) */
static int nr_done;    /* CPUs that recorded themselves */
static uint32_t reporter = NO_REPORTER;

/* Fills r with this CPU's view of the machine check. */
static void record_cpu(struct mce_cpu_record *r, const struct trap_frame *f)
{
	r->apic_id = apic_id();
	r->bsp = rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_BSP;
	r->mcg_status = mce_read_mcg_status();
	r->rip = f->rip;
	r->nr_banks = mce_read_banks(r->banks, MCE_CPU_BANKS);
}

/* True when this CPU is to report: the boot CPU at once, an AP only when no
 * reporter appeared within MCE_WAIT_BOOT_US. */
static bool claim_reporter(const struct mce_cpu_record *r)
{
	uint32_t none = NO_REPORTER;
	uint64_t start = rdtsc(), ticks = tsc_us_to_ticks(MCE_WAIT_BOOT_US);

	while (!r->bsp && __atomic_load_n(&reporter, __ATOMIC_ACQUIRE) == NO_REPORTER &&
	       rdtsc() - start < ticks)
		cpu_relax();
	return __atomic_compare_exchange_n(&reporter, &none, r->apic_id, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_ACQUIRE);
}

static __noreturn void halt_for_good(void)
{
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
}

void mce_print_record(const struct mce_cpu_record *r)
{
	int n = report_cpu_number(r->apic_id, r->bsp);
	char text[192];

	mce_format_mcg_status(r->mcg_status, text, sizeof(text));
	kprintf("MACHINE CHECK on CPU %d (APIC ID %u): MCG_STATUS %s, RIP 0x%016llx (%s)\n", n,
		r->apic_id, text, (unsigned long long)r->rip,
		(r->mcg_status & MCG_STATUS_EIPV)   ? "the error is at this RIP"
		: (r->mcg_status & MCG_STATUS_RIPV) ? "restartable there"
						    : "not restartable");
	for (int i = 0; i < MIN(r->nr_banks, MCE_CPU_BANKS); i++) {
		mce_format_bank(&r->banks[i], text, sizeof(text));
		kprintf("machine check: CPU %d bank %u: %s\n", n, r->banks[i].bank, text);
	}
	if (r->nr_banks > MCE_CPU_BANKS)
		kprintf("machine check: CPU %d: %d more banks with VAL\n", n,
			r->nr_banks - MCE_CPU_BANKS);
	if (!r->nr_banks)
		kprintf("machine check: CPU %d: no bank has MCi_STATUS.VAL\n", n);
}

/* The reason for the Bail out! line: the CPU and its first bank. */
static const char *reason_of(const struct mce_cpu_record *r)
{
	static char reason[128];
	size_t len = ksnprintf(reason, sizeof(reason), "machine check on CPU %d",
			       report_cpu_number(r->apic_id, r->bsp));

	if (r->nr_banks)
		ksnprintf(reason + len, sizeof(reason) - len, ", bank %u status 0x%016llx",
			  r->banks[0].bank, (unsigned long long)r->banks[0].status);
	return reason;
}

/* The reporter (record slot `own`, -1 for none): waits for the other CPUs of a
 * broadcast, prints every record, ends the run. */
static __noreturn void report(const struct mce_cpu_record *r, int own)
{
	const struct smp_report *s = smp_report();
	int expected = (r->mcg_status & MCG_STATUS_LMCE_S) ? 1 : MAX(s->nr_up, 1);

	ktest_begin();
	console_fresh_line();
	if (!tsc_wait_until(&nr_done, expected, MCE_WAIT_OTHERS_US))
		kprintf("machine check: %d of the %d CPUs that are up entered the handler\n",
			__atomic_load_n(&nr_done, __ATOMIC_ACQUIRE), expected);
	if (!r->bsp)
		kprintf("machine check: the boot CPU did not take it; it may still be running\n");
	mce_print_record(r);
	for (int i = 0; i < MCE_MAX_CPUS; i++)
		if (i != own && __atomic_load_n(&records[i].done, __ATOMIC_ACQUIRE))
			mce_print_record(&records[i]);
	if (nr_records > MCE_MAX_CPUS)
		kprintf("machine check: %d more CPUs took it (records not kept)\n",
			nr_records - MCE_MAX_CPUS);
	nmi_report_pending();
	ktest_abort(reason_of(r));
}

__noreturn void mce_fatal(struct trap_frame *f)
{
	struct mce_cpu_record r = { 0 };
	int slot;

	record_cpu(&r, f);
	slot = __atomic_fetch_add(&nr_records, 1, __ATOMIC_ACQ_REL);
	if (slot < MCE_MAX_CPUS) {
		records[slot] = r;
		__atomic_store_n(&records[slot].done, true, __ATOMIC_RELEASE);
	} else {
		slot = -1;
	}
	__atomic_fetch_add(&nr_done, 1, __ATOMIC_RELEASE);
	if (claim_reporter(&r))
		report(&r, slot);
	halt_for_good();
}
