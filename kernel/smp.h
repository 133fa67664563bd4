/* kernel/smp.h - bringing up the application processors (APs), so that PKS is
 * enabled on every CPU of the machine.
 *
 * The boot CPU starts every other enabled CPU of the MADT (kernel/acpi.h), one at
 * a time, with INIT-SIPI-SIPI (SDM Vol. 3A, 8.4.4.1 "Typical BSP Initialization
 * Sequence"), delays timed by the TSC calibrated against PIT channel 2:
 *
 *   boot CPU                                     AP
 *   trampoline -> low page P, params written
 *   P read-only in the direct map, mapped RX
 *     at its identity address in the kernel root
 *   per AP: stack, GDT/TSS, IST stacks
 *   INIT, 10 ms, SIPI, 200 us, SIPI, 200 us  ->  real mode at P (arch/ap_boot.asm)
 *   waits (timeout: the AP failed, INIT         -> long mode, kernel root, own stack
 *     stops it, the next one starts)            smp_ap_main: own GDT/TSS, the IDT,
 *                                               pks_enable_cpu(), records CR4 and
 *                                               PKRS, writes a table page in
 *                                               catch_run() (the boot CPU only
 *                                               spins meanwhile), signals "up"
 *   P unmapped, release                     ->  flushes its TLB, "parked":
 *   waits for every "parked"                    cli; hlt forever
 *   P writable again in the direct map
 *
 * Only one CPU ever uses the fault catcher at a time: an AP probes while the boot
 * CPU spins, and parked APs run nothing. With one CPU in the MADT nothing happens.
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
#define SMP_AP_TIMEOUT_MS    1000
#define SMP_AP_STACK_PAGES   4
#define SMP_MAX_FAIL_REPORTS 8

/* An AP's progress; only moves forward. The AP moves OFF -> ENTERED -> PROBING ->
 * UP -> PARKED; the boot CPU moves OFF or ENTERED -> FAILED on a timeout. */
enum smp_state {
	SMP_OFF,
	SMP_ENTERED, /* running C on its own stack */
	SMP_PROBING, /* inside catch_run(): the catcher is its */
	SMP_UP,
	SMP_PARKED, /* TLB flushed after the trampoline went away; halted */
	SMP_FAILED,
};

struct smp_cpu {
	uint32_t apic_id;
	volatile int state; /* enum smp_state */
	const char *why;    /* SMP_FAILED: the reason */
	/* Given by the boot CPU. */
	uint64_t stack_top;
	struct gdt_cpu *gdt;
	uint64_t ist_top[NR_IST];
	/* Recorded by the AP itself. */
	uint32_t seen_apic_id;
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
	int nr_cpus;	     /* in the MADT (0 without a CPU list) */
	int nr_up;	     /* the boot CPU and every AP that came up */
	int nr_aps;
	struct smp_cpu *aps; /* nr_aps records, MADT order */
	phys_addr_t tramp_pa;
	uint64_t tsc_khz;
	const char *tsc_source;
	uint64_t bsp_cr4, bsp_gdtr_base;
	uint64_t tables_before[PT_NR_LEVELS]; /* pt_count() before P was mapped */
	uint64_t tables_after[PT_NR_LEVELS];  /* and after it was unmapped */
};

/* Starts every AP of the MADT (after acpi_init() and init_apic(); IF = 0). */
void smp_init(const struct boot_info *bi);
const struct smp_report *smp_report(void);
/* The "# smp:" lines of the report header. */
void smp_print_header(void);
/* Why the AP cases cannot run ("one CPU in the MADT (boot with SMP=2 or more)",
 * no CPU list from ACPI), or NULL. */
const char *smp_skip_reason(void);

/* For tests: maps the trampoline again and starts the CPU with APIC ID c->apic_id
 * like an AP, waiting at most timeout_ms after the second SIPI; unmaps it after.
 * 0, -EIO (c->state = SMP_FAILED, the reason in c->why) or -ENOENT when smp_init()
 * started no AP (no trampoline page, one CPU). */
int smp_start_cpu(struct smp_cpu *c, uint64_t timeout_ms);

#endif
