/* kernel/smp.h - bringing up the application processors (APs), so that PKS is
 * enabled on every CPU of the machine.
 *
 * The boot CPU starts every other enabled CPU of the MADT (kernel/acpi.h), one at
 * a time, with INIT-SIPI-SIPI (SDM Vol. 3A, 9.4.4.1 "Typical BSP Initialization
 * Sequence"; 8.4.4.1 in older editions), every delay and wait timed by the TSC
 * (arch/tsc.h):
 *
 *   boot CPU                                     AP
 *   trampoline -> low page P, params written
 *   P read-only in the direct map, mapped RX
 *     at its identity address in the kernel root
 *   per AP: stack, GDT/TSS, IST stacks
 *   INIT, 10 ms, SIPI, 200 us, SIPI, 200 us  ->  real mode at P (arch/ap_boot.asm)
 *   waits (timeout: the AP failed, INIT         -> long mode, kernel root, own stack
 *     stops it, the next one starts)            smp_ap_main: the boot CPU's APIC
 *                                               mode, own GDT/TSS, the IDT,
 *                                               pks_enable_cpu(), records CR4 and
 *                                               PKRS, writes a table page in
 *                                               catch_run() (the boot CPU only
 *                                               spins meanwhile), signals "up"
 *   P unmapped, release                     ->  flushes its TLB, "online":
 *   waits for every "online"                    its per-CPU record (GS base),
 *   P writable again in the direct map          then smp_worker(): runs its calls
 *                                               and threads, halts with interrupts
 *                                               on until a call, a thread or a
 *                                               round arrives (kernel/smp_ipi.h)
 *
 * The fault catcher's state is per CPU (kernel/percpu.h), so an AP's probe and the
 * boot CPU's catches never meet. With one CPU in the MADT nothing is started.
 *
 * APIC mode (x2apic=on|off|auto, arch/apic.h): the boot CPU keeps the mode the
 * firmware left, or switches from xAPIC to x2APIC when x2apic=on or (auto) an APIC
 * ID of the MADT is above XAPIC_MAX_ID, if CPUID.1:ECX[21] allows. Every AP then
 * switches its own APIC to that mode before it reads its ID (INIT keeps the mode,
 * RESET does not: SDM Vol. 3A, 11.12.5.1).
 *
 * Bounds: a CPU that does not answer costs at most SMP_AP_TIMEOUT_MS, and all of
 * them together at most SMP_FAIL_BUDGET_MS plus SMP_AP_MIN_WAIT_MS each (plus the
 * 10 ms INIT delays); each is reported ("# smp: CPU with APIC ID n did not
 * answer: ...") and stopped with INIT, and the run goes on without it, also when
 * it hangs inside its probe (the fault catcher is disarmed for it).
 */
#ifndef KERNEL_SMP_H
#define KERNEL_SMP_H

#include "kernel/types.h"
#include "kernel/catch.h"
#include "kernel/multiboot2.h"
#include "arch/gdt.h"
#include "mm/pgtable.h"

/* The trampoline page P is the highest 4 KiB page wholly below SMP_TRAMP_LIMIT
 * (clear of the EBDA) and above page 0 (real-mode IVT, BIOS data area) that the
 * memory map calls usable: 0x9e000 under SeaBIOS and OVMF. The frame allocator
 * never hands out the first 1 MiB, so nothing else uses it. */
#define SMP_TRAMP_LIMIT	     0x9f000
#define SMP_AP_TIMEOUT_MS    500  /* the longest wait for one AP to come up */
#define SMP_AP_MIN_WAIT_MS   20	  /* ... once SMP_FAIL_BUDGET_MS is spent */
#define SMP_FAIL_BUDGET_MS   1000 /* waited on APs that did not answer, in all */
#define SMP_AP_STACK_PAGES   4
#define SMP_MAX_FAIL_REPORTS 8

/* An AP's progress; only moves forward. The AP moves OFF -> ENTERED -> PROBING ->
 * UP -> ONLINE; the boot CPU moves OFF or ENTERED -> FAILED on a timeout. */
enum smp_state {
	SMP_OFF,
	SMP_ENTERED, /* running C on its own stack */
	SMP_PROBING, /* inside catch_run(): the catcher is its */
	SMP_UP,
	SMP_ONLINE, /* TLB flushed after the trampoline went away; waits for work */
	SMP_FAILED,
};

struct smp_cpu {
	uint32_t apic_id;
	volatile int state; /* enum smp_state */
	const char *why;    /* SMP_FAILED: the reason */
	bool no_answer;	    /* FAILED after its IPIs: it did not answer in time */
	bool hang_in_probe; /* tests: spin inside the probe, as a hung AP would */
	uint64_t waited_ms; /* how long the boot CPU waited for it to come up */
	/* Given by the boot CPU. */
	uint64_t stack_top;
	struct gdt_cpu *gdt;
	uint64_t ist_top[NR_IST];
	/* Recorded by the AP itself. */
	uint32_t seen_apic_id;	/* apic_id() once in the boot CPU's mode */
	uint32_t cpuid_apic_id; /* CPUID.0BH:EDX (x2APIC ID), ~0 without leaf 0xb */
	uint8_t apic_found;	/* enum apic_mode at entry (as INIT left it) */
	uint8_t apic_mode;	/* enum apic_mode after matching the boot CPU's */
	int apic_switch_rc;	/* apic_enable_x2apic() when it had to switch */
	uint64_t apic_base;	/* IA32_APIC_BASE then */
	uint64_t cr4;
	uint32_t pkrs;		   /* IA32_PKRS after pks_enable_cpu() (0 without PKS) */
	uint64_t gdtr_base;	   /* SGDT */
	uint8_t tss_access;	   /* its TSS descriptor after LTR (0x8b = busy) */
	uint64_t tramp_leaf;	   /* identity-map leaf of the trampoline while it ran */
	uint64_t tramp_alias_leaf; /* direct-map leaf of the trampoline page then */
	uint64_t probe_va;	   /* the table entry it wrote */
	struct fault probe;	   /* what that write raised */
};

/* What smp_init() did, for the header and the tests. */
struct smp_report {
	const char *problem; /* why no AP was started (NULL: all were tried) */
	/* The boot CPU's APIC: as handed over, as used (every AP matches it), why. */
	uint8_t apic_handed_over, apic_mode; /* enum apic_mode */
	const char *apic_why;
	uint64_t bsp_apic_base;
	uint32_t bsp_cpuid_apic_id; /* CPUID.0BH:EDX, ~0 without leaf 0xb */
	uint64_t fail_budget_left_ms;
	int nr_cpus; /* in the MADT (0 without a CPU list) */
	int nr_up;   /* the boot CPU and every AP that came up */
	int nr_aps;
	struct smp_cpu *aps; /* nr_aps records, MADT order */
	phys_addr_t tramp_pa;
	uint64_t tsc_khz;
	const char *tsc_source;
	uint64_t bsp_cr4, bsp_gdtr_base;
	uint64_t tables_before[PT_NR_LEVELS]; /* pt_count() before P was mapped */
	uint64_t tables_after[PT_NR_LEVELS];  /* and after it was unmapped */
};

/* The highest APIC ID of the MADT (0 without a CPU list). */
uint32_t smp_top_madt_id(void);

/* Chooses the APIC mode, then starts every AP of the MADT (after acpi_init() and
 * init_apic(); IF = 0). */
void smp_init(const struct boot_info *bi);
const struct smp_report *smp_report(void);
/* For tests that restart an AP: its record, i < smp_report()->nr_aps. */
struct smp_cpu *smp_ap(int i);
/* The "# smp:" lines of the report header. */
void smp_print_header(void);
/* Why the AP cases cannot run ("one CPU in the MADT (boot with SMP=2 or more)",
 * no CPU list from ACPI), or NULL. */
const char *smp_skip_reason(void);

/* For tests: maps the trampoline again and starts the CPU with APIC ID c->apic_id
 * like an AP (an online AP goes offline and is restarted), waiting at most timeout_ms after the
 * second SIPI; unmaps it after. 0, -EIO (c->state = SMP_FAILED, the reason in
 * c->why; the CPU is stopped with INIT) or -ENOENT when smp_init() started no AP
 * (no trampoline page, one CPU). */
int smp_start_cpu(struct smp_cpu *c, uint64_t timeout_ms);

#endif
