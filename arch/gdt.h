/* arch/gdt.h - the kernel's GDT and TSS (IST stacks for #DF, NMI and #MC). */
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

/* Loads the GDT, reloads the segment registers and loads the TSS. */
void gdt_init(void);

/* Bounds of IST stack n (1..3), for backtraces and tests. */
void gdt_ist_bounds(int n, uint64_t *lo, uint64_t *hi);

#endif
