/* arch/gdt.c - per-CPU GDT with a 64-bit TSS (SDM Vol. 3A, 3.4.5 and 8.7). */
#include "arch/gdt.h"

/* The boot CPU's IST stacks until gdt_set_boot_ist() moves them (to guarded vmap
 * regions, once memory management is up). */
static uint8_t boot_ist_stacks[NR_IST][IST_STACK_SIZE] __aligned(16);
static uint64_t boot_ist_lo[NR_IST];
static struct gdt_cpu boot_gdt;

struct gdt_ptr {
	uint16_t limit;
	uint64_t base;
} __packed;

/* Writes the 16-byte TSS descriptor (type 9 = available, present) for g->tss. */
static void set_tss_descriptor(struct gdt_cpu *g)
{
	uint64_t base = (uint64_t)&g->tss, limit = sizeof(g->tss) - 1;

	g->gdt[GDT_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
			      (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	g->gdt[GDT_TSS / 8 + 1] = base >> 32;
}

void gdt_load_cpu(struct gdt_cpu *g, const uint64_t ist_top[NR_IST])
{
	struct gdt_ptr p = { sizeof(g->gdt) - 1, (uint64_t)g->gdt };

	*g = (struct gdt_cpu){ .gdt = { 0, 0x00af9a000000ffffULL, 0x00cf92000000ffffULL } };
	for (int i = 0; i < NR_IST; i++)
		g->tss.ist[i] = ist_top[i];
	g->tss.iomap_base = sizeof(g->tss);
	set_tss_descriptor(g);
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "leaq 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "mov %2, %%ax\n\t"
			 "mov %%ax, %%ds\n\t"
			 "mov %%ax, %%es\n\t"
			 "mov %%ax, %%ss\n\t"
			 "xor %%eax, %%eax\n\t"
			 "mov %%ax, %%fs\n\t"
			 "mov %%ax, %%gs\n\t"
			 "mov %3, %%ax\n\t"
			 "ltr %%ax"
			 :
			 : "m"(p), "i"(GDT_KERNEL_CS), "i"(GDT_KERNEL_DS), "i"(GDT_TSS)
			 : "rax", "memory");
}

void gdt_init(void)
{
	uint64_t top[NR_IST];

	for (int i = 0; i < NR_IST; i++) {
		boot_ist_lo[i] = (uint64_t)boot_ist_stacks[i];
		top[i] = boot_ist_lo[i] + IST_STACK_SIZE;
	}
	gdt_load_cpu(&boot_gdt, top);
}

void gdt_set_boot_ist(int n, uint64_t lo)
{
	/* The CPU reads the IST slot at each delivery (SDM Vol. 3A, 6.14.5): the next
	 * #DF, NMI or #MC uses the new stack; none is running on the old one here. */
	boot_ist_lo[n - 1] = lo;
	boot_gdt.tss.ist[n - 1] = lo + IST_STACK_SIZE;
}

void gdt_ist_bounds(int n, uint64_t *lo, uint64_t *hi)
{
	*lo = boot_ist_lo[n - 1];
	*hi = *lo + IST_STACK_SIZE;
}
