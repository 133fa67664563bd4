/* arch/gdt.h - each CPU's GDT and TSS (IST stacks for #DF, NMI and #MC).
 *
 * A TSS descriptor can be loaded by one CPU only: LTR marks it busy, and loading a
 * busy TSS raises #GP (SDM Vol. 3A, 8.2.2 "TSS Descriptor" and 8.7 "Task Management
 * in 64-bit Mode"). So every CPU has its own GDT, TSS and IST stacks: the boot CPU
 * uses the static ones of gdt_init(), an AP the ones its starter gives gdt_load_cpu().
 */
#ifndef ARCH_GDT_H
#define ARCH_GDT_H

#include "kernel/types.h"

#define GDT_KERNEL_CS 0x08
#define GDT_KERNEL_DS 0x10
#define GDT_TSS	      0x18

/* IST slots (1-based, as in the IDT gate). */
#define IST_DF	1
#define IST_NMI 2
#define IST_MC	3
#define NR_IST	3

#define IST_STACK_SIZE 8192

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __packed;
_Static_assert(sizeof(struct tss) == 104, "64-bit TSS is 104 bytes");

/* One CPU's descriptor tables. */
struct gdt_cpu {
	uint64_t gdt[5]; /* null, kernel code (L=1), kernel data, TSS (two slots) */
	struct tss tss;
} __aligned(16);

/* Boot CPU: loads its static GDT and TSS, reloads the segment registers and TR. */
void gdt_init(void);
/* Any CPU: fills *g (IST slot n's stack ends at ist_top[n - 1], 16-byte aligned)
 * and loads it like gdt_init(). g must stay mapped and owned by this CPU for good. */
void gdt_load_cpu(struct gdt_cpu *g, const uint64_t ist_top[NR_IST]);

/* Boot CPU: IST slot n (1..3) uses the IST_STACK_SIZE bytes at lo from now on
 * (16-byte aligned; mapped for good). Call with no #DF, NMI or #MC running. */
void gdt_set_boot_ist(int n, uint64_t lo);
/* Bounds of the boot CPU's IST stack n (1..3), for backtraces and tests. */
void gdt_ist_bounds(int n, uint64_t *lo, uint64_t *hi);

/* Access byte of the TSS descriptor in g: 0x89 = available, 0x8b = busy (loaded). */
static inline uint8_t gdt_tss_access(const struct gdt_cpu *g)
{
	return (uint8_t)(g->gdt[GDT_TSS / 8] >> 40);
}

#endif
