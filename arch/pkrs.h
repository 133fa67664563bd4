/* arch/pkrs.h - raw access to the protection-key rights registers.
 *
 *   IA32_PKRS (MSR 0x6e1)  supervisor pages (U/S=0 somewhere in the walk)
 *   PKRU (RDPKRU/WRPKRU)   user pages (U/S=1 at every level), needs CR4.PKE
 *
 * Both use the same layout, 2 bits per key (SDM Vol. 3A, 4.6.2):
 *
 *   bit   31 30 ... 5   4   3   2   1   0
 *         WD AD ... WD  AD  WD  AD  WD  AD
 *         key 15        key 2   key 1   key 0
 *
 * AD disables every data access, WD disables writes (for supervisor accesses only
 * while CR0.WP = 1). Instruction fetches and the MMU's own paging-structure
 * accesses are never checked. A write to either register needs no TLB flush.
 * Mechanism only: the policy (which key means what) lives in kernel/pks.c.
 */
#ifndef ARCH_PKRS_H
#define ARCH_PKRS_H

#include "kernel/types.h"
#include "arch/cpu.h"
#include "kernel/percpu.h"

#define PKS_NR_KEYS	  16
#define PKRS_AD(k)	  (1u << (2 * (k)))
#define PKRS_WD(k)	  (1u << (2 * (k) + 1))
#define PKRS_KEY_MASK(k)  (PKRS_AD(k) | PKRS_WD(k))
/* Every key but key 0 access- and write-disabled. */
#define PKRS_ALL_BUT_KEY0 0xfffffffcu

_Static_assert(PKRS_WD(15) == 0x80000000u, "16 keys fill the 32 used bits of PKRS");

/* Where the state that decides whether protection holds lives (linker.ld: page-aligned
 * ranges; mm/pgprot.c seals them at boot):
 *   __ro_after_init  written during boot only; read-only in every mapping once sealed
 *                    (right after .rodata)
 *   __pt_keyed       carries the page-table key in every mapping once sealed, so it is
 *                    written only inside a page-table write window (mm/pgtable.h).
 *                    Zero-initialised (NOBITS, not stored in the file: the compiler
 *                    refuses an initialiser); __pt_keyed_data is the same range for a
 *                    variable that needs one.
 * A stray store to any of them faults like a store to a table page. */
#define __ro_after_init __attribute__((section(".data..ro_after_init")))
#define __pt_keyed	__attribute__((section(".bss..pt_keyed")))
#define __pt_keyed_data __attribute__((section(".data..pt_keyed")))

/* PKRS loads counted per CPU (issue 14: what protection costs, as a count a test
 * may assert). A CPU's slot is kept in IA32_TSC_AUX and read with RDPID (SDM Vol. 2B,
 * RDPID), so counting costs no MMIO and no serialising instruction; a CPU without
 * RDPID reads it with RDTSCP (which returns IA32_TSC_AUX in ECX; QEMU's TCG has no
 * RDPID), and one with neither reads its index from its per-CPU record (the GS base
 * is set before any CPU loads PKRS, kernel/percpu.h). Only the C loads below are counted:
 * the trap entry and exit (arch/trap_entry.asm) load PKRS per trap, not per table
 * operation. */
#define PKRS_COUNT_SLOTS 256
#define MSR_TSC_AUX	 0xc0000103
struct pkrs_count {
	uint64_t writes;  /* pkrs_write() calls */
	uint64_t windows; /* page-table write windows opened (mm/pt_door.c) */
	uint64_t pad[6];  /* one cache line per CPU */
};
extern struct pkrs_count pkrs_counts[PKRS_COUNT_SLOTS];
enum pkrs_slot_read { PKRS_SLOT_NONE, PKRS_SLOT_RDPID, PKRS_SLOT_RDTSCP, PKRS_SLOT_GS };
extern enum pkrs_slot_read pkrs_count_read;

/* Gives this CPU its counter slot: its dense CPU index (kernel/pks.c, as each CPU
 * enables PKS; < PKRS_COUNT_SLOTS). Before the first call every CPU counts in
 * slot 0. */
void pkrs_count_init_cpu(unsigned int slot);

/* This CPU's counters. */
static inline struct pkrs_count *pkrs_count_this_cpu(void)
{
	uint64_t slot = 0;
	uint32_t lo, hi, aux;

	if (pkrs_count_read == PKRS_SLOT_RDPID) {
		__asm__ volatile("rdpid %0" : "=r"(slot));
	} else if (pkrs_count_read == PKRS_SLOT_RDTSCP) {
		__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
		slot = aux;
	} else if (pkrs_count_read == PKRS_SLOT_GS) {
		slot = (uint64_t)this_cpu_id();
	}
	return &pkrs_counts[slot % PKRS_COUNT_SLOTS];
}

/* The current IA32_PKRS. Needs a CPU that enumerates PKS (else #GP). */
static inline uint32_t pkrs_read(void)
{
	return (uint32_t)rdmsr(MSR_IA32_PKRS);
}

/* Loads IA32_PKRS; effective for the next instruction, no TLB flush needed.
 * Bits 63:32 are always written as 0 (else #GP). */
static inline void pkrs_write(uint32_t v)
{
	pkrs_count_this_cpu()->writes++;
	wrmsr(MSR_IA32_PKRS, v);
}

/* The current PKRU. Needs CR4.PKE = 1 (else #UD). */
static inline uint32_t pkru_read(void)
{
	uint32_t eax, edx;

	__asm__ volatile("rdpkru" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

/* Loads PKRU (ECX = EDX = 0 required). Needs CR4.PKE = 1 (else #UD). */
static inline void pkru_write(uint32_t v)
{
	__asm__ volatile("wrpkru" : : "a"(v), "c"(0), "d"(0) : "memory");
}

#endif
