/* kernel/nmi.c - the "# nmi:" lines of kernel/nmi.h. */
#include "kernel/nmi.h"
#include "kernel/printf.h"
#include "kernel/panic.h"
#include "arch/trap.h"

static uint32_t reported[TRAP_NMI_CPUS]; /* count at the last line, per slot */
static uint32_t reported_untracked;
static volatile int printing;

bool nmi_pending(void)
{
	const struct trap_nmi_cpu *c = trap_nmi_cpus();

	for (int i = 0; i < TRAP_NMI_CPUS && c[i].apic_id_plus1; i++)
		if (c[i].count != reported[i])
			return true;
	return trap_nmi_untracked() != reported_untracked;
}

/* Prints the line of slot i if its count grew; true when it printed. */
static bool report_slot(int i)
{
	const struct trap_nmi_cpu *c = &trap_nmi_cpus()[i];
	uint32_t count = __atomic_load_n(&c->count, __ATOMIC_ACQUIRE);
	int n;

	if (count == reported[i])
		return false;
	reported[i] = count;
	n = report_cpu_number(c->apic_id_plus1 - 1, c->bsp);
	if (n >= 0)
		kprintf("# nmi: unexpected NMI on CPU %d (count %u), APIC ID %u, last at RIP "
			"0x%llx\n",
			n, count, c->apic_id_plus1 - 1, (unsigned long long)c->last_rip);
	else
		kprintf("# nmi: unexpected NMI on the CPU with APIC ID %u (not in the MADT) "
			"(count %u), last at RIP 0x%llx\n",
			c->apic_id_plus1 - 1, count, (unsigned long long)c->last_rip);
	return true;
}

/* Fills order[] with the claimed slots, boot CPU first, then by CPU number (CPUs not
 * in the MADT last); returns how many. */
static int slots_in_cpu_order(int order[TRAP_NMI_CPUS])
{
	const struct trap_nmi_cpu *c = trap_nmi_cpus();
	int key[TRAP_NMI_CPUS], n = 0;

	for (int i = 0; i < TRAP_NMI_CPUS && c[i].apic_id_plus1; i++, n++) {
		int k = report_cpu_number(c[i].apic_id_plus1 - 1, c[i].bsp), j = n;

		k = k < 0 ? TRAP_NMI_CPUS * 1024 + i : k;
		for (; j > 0 && key[j - 1] > k; j--) {
			key[j] = key[j - 1];
			order[j] = order[j - 1];
		}
		key[j] = k;
		order[j] = i;
	}
	return n;
}

int nmi_report_pending(void)
{
	int order[TRAP_NMI_CPUS], n, lines = 0;
	uint32_t untracked;

	if (__atomic_exchange_n(&printing, 1, __ATOMIC_ACQUIRE))
		return 0;
	n = slots_in_cpu_order(order);
	for (int i = 0; i < n; i++)
		lines += report_slot(order[i]);
	untracked = trap_nmi_untracked();
	if (untracked != reported_untracked) {
		kprintf("# nmi: %u unexpected NMIs on CPUs beyond the %d tracked\n", untracked,
			TRAP_NMI_CPUS);
		reported_untracked = untracked;
		lines++;
	}
	__atomic_store_n(&printing, 0, __ATOMIC_RELEASE);
	return lines;
}
