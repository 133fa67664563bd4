/* arch/mce.h - the machine-check architecture: banks initialised and CR4.MCE set on
 * every CPU, bank contents read and decoded for the #MC report (SDM Vol. 3B, ch. 16
 * "Machine-Check Architecture").
 *
 *   MSR                 bits Warden reads or writes
 *   0x179 IA32_MCG_CAP    7:0 Count (banks), 8 MCG_CTL_P, 24 MCG_SER_P, 27 MCG_LMCE_P
 *   0x17a IA32_MCG_STATUS 0 RIPV, 1 EIPV, 2 MCIP, 3 LMCE_S                   (16.3.1.2)
 *   0x17b IA32_MCG_CTL    present when MCG_CTL_P; all ones enables every feature
 *   0x400 + 4i  IA32_MCi_CTL     all ones: report every error class of bank i
 *   0x401 + 4i  IA32_MCi_STATUS  63 VAL 62 OVER 61 UC 60 EN 59 MISCV 58 ADDRV
 *                                57 PCC 56 S 55 AR, 31:16 model code, 15:0 MCA code
 *   0x402 + 4i  IA32_MCi_ADDR    valid when ADDRV;  0x403 + 4i IA32_MCi_MISC: MISCV
 * At most 32 banks fit below MSR 0x480 (IA32_VMX_BASIC); more are not touched.
 *
 * Each CPU runs mce_cpu_init() once its IDT is loaded (idt_load()): errors its banks
 * logged before this boot are recorded for the report header, then cleared, as 16.8
 * "Machine-Check Initialization" asks of the OS; then CR4.MCE (bit 6) is set. Without
 * CR4.MCE a machine check shuts the CPU down (Vol. 3A, 6.15, "Interrupt 18").
 */
#ifndef ARCH_MCE_H
#define ARCH_MCE_H

#include "kernel/types.h"

#define MSR_IA32_MCG_CAP    0x179
#define MSR_IA32_MCG_STATUS 0x17a
#define MSR_IA32_MCG_CTL    0x17b
#define MSR_IA32_MC0_CTL    0x400
#define MSR_MCI_CTL(i)	    (MSR_IA32_MC0_CTL + 4 * (i))
#define MSR_MCI_STATUS(i)   (MSR_IA32_MC0_CTL + 4 * (i) + 1)
#define MSR_MCI_ADDR(i)	    (MSR_IA32_MC0_CTL + 4 * (i) + 2)
#define MSR_MCI_MISC(i)	    (MSR_IA32_MC0_CTL + 4 * (i) + 3)
#define MCE_MAX_BANKS	    32

#define MCG_CAP_COUNT  0xffULL
#define MCG_CAP_CTL_P  (1ULL << 8)
#define MCG_CAP_SER_P  (1ULL << 24)
#define MCG_CAP_LMCE_P (1ULL << 27)

#define MCG_STATUS_RIPV	  (1ULL << 0)
#define MCG_STATUS_EIPV	  (1ULL << 1)
#define MCG_STATUS_MCIP	  (1ULL << 2)
#define MCG_STATUS_LMCE_S (1ULL << 3)

#define MCI_STATUS_VAL	 (1ULL << 63)
#define MCI_STATUS_OVER	 (1ULL << 62)
#define MCI_STATUS_UC	 (1ULL << 61)
#define MCI_STATUS_EN	 (1ULL << 60)
#define MCI_STATUS_MISCV (1ULL << 59)
#define MCI_STATUS_ADDRV (1ULL << 58)
#define MCI_STATUS_PCC	 (1ULL << 57)
#define MCI_STATUS_S	 (1ULL << 56)
#define MCI_STATUS_AR	 (1ULL << 55)

#define CR4_MCE (1ULL << 6)

/* One bank's logged error; addr and misc are 0 unless ADDRV / MISCV say so. */
struct mce_bank {
	uint32_t apic_id; /* the CPU that read it */
	uint8_t bank;
	uint64_t status, addr, misc;
};

/* What the CPU offers (CPUID.1:EDX bit 7 MCE, bit 14 MCA) and what boot found. */
struct mce_info {
	bool initialised; /* by the first CPU (the boot CPU): the rest is its view */
	bool mce, mca;
	uint64_t mcg_cap;	  /* the boot CPU's IA32_MCG_CAP (0 without MCA) */
	int logged;		  /* errors found logged before boot (all CPUs) */
	struct mce_bank early[8]; /* the first of them */
	const char *ctl_note;	  /* why some MCi_CTL was left alone, or NULL */
};

/* This CPU: MCG_CTL and every MCi_CTL to all ones, errors logged before boot
 * recorded and their MCi_STATUS cleared, then CR4.MCE set. Does nothing without
 * CPUID MCE; without MCA only CR4.MCE is set. Needs the IDT loaded (vector 18). */
void mce_cpu_init(void);
const struct mce_info *mce_info(void);

/* Reads IA32_MCG_STATUS (0 without MCA). */
uint64_t mce_read_mcg_status(void);
/* Reads this CPU's banks; fills out[] with the ones whose MCi_STATUS has VAL, at
 * most max; returns how many had VAL (which may exceed max). */
int mce_read_banks(struct mce_bank *out, int max);

/* "status 0xb200000000000000 (VAL UC EN PCC) MCA code 0x0000 model code 0x0000,
 * addr 0x..., misc 0x..." (addr only with ADDRV, misc only with MISCV). Pure. */
void mce_format_bank(const struct mce_bank *b, char *buf, size_t size);
/* "0x5 (RIPV MCIP)" or "0x0 (none)" into buf. Pure. */
void mce_format_mcg_status(uint64_t mcg_status, char *buf, size_t size);

/* The "# mce:" lines of the report header. */
void mce_print_header(void);

#endif
