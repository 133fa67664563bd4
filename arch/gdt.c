/* arch/gdt.c - GDT with a 64-bit TSS (SDM Vol. 3A, 3.4.5 and 8.7). */
#include "arch/gdt.h"

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

#define IST_STACK_SIZE 8192

static uint8_t ist_stacks[3][IST_STACK_SIZE] __aligned(16);
static struct tss tss;

/* null, kernel code (L=1), kernel data, TSS (two slots) */
static uint64_t gdt[5] __aligned(16) = {
	0, 0x00af9a000000ffffULL, 0x00cf92000000ffffULL, 0, 0,
};

struct gdt_ptr {
	uint16_t limit;
	uint64_t base;
} __packed;

/* Writes the 16-byte TSS descriptor (type 9, present) into gdt[3..4]. */
static void set_tss_descriptor(void)
{
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;

	gdt[3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
		 (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[4] = base >> 32;
}

void gdt_init(void)
{
	struct gdt_ptr p = { sizeof(gdt) - 1, (uint64_t)gdt };

	for (int i = 0; i < 3; i++)
		tss.ist[i] = (uint64_t)&ist_stacks[i][IST_STACK_SIZE];
	tss.iomap_base = sizeof(tss);
	set_tss_descriptor();
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

void gdt_ist_bounds(int n, uint64_t *lo, uint64_t *hi)
{
	*lo = (uint64_t)ist_stacks[n - 1];
	*hi = *lo + IST_STACK_SIZE;
}
