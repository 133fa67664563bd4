/* kernel/smp_tramp.c - the AP trampoline page behind kernel/smp_tramp.h. */
#include "kernel/smp_tramp.h"
#include "kernel/panic.h"
#include "kernel/smp.h"
#include "arch/cpu.h"
#include "mm/dmap.h"
#include "mm/pgtable.h"
#include "mm/set_memory.h"

#define AP_CR4_PAE   (1ULL << 5)
#define AP_EFER_LME  (1ULL << 8)
#define TRAMP_CODE32 0x18 /* selectors of the trampoline's GDT */
#define TRAMP_CODE64 0x08

/* The parameter block at the end of the trampoline; layout fixed by
 * arch/ap_boot.asm (its last four fields are set by the assembler). */
struct ap_tramp_params {
	uint16_t gdt_limit;
	uint32_t gdt_base;
	uint32_t pm32_off;
	uint16_t pm32_sel;
	uint32_t lm64_off;
	uint16_t lm64_sel;
	uint32_t cr3, cr4, efer, cr0;
	uint16_t off_gdt, off_gdt_end, off_pm32, off_lm64;
} __packed;
_Static_assert(sizeof(struct ap_tramp_params) == 42, "matches arch/ap_boot.asm");

extern const uint8_t ap_tramp_start[], ap_tramp_end[];
extern const uint8_t ap_tramp_params[], ap_tramp_params_end[];

static bool made_root_child; /* P's root entry was empty before */

phys_addr_t smp_tramp_pick(const struct boot_info *bi)
{
	for (phys_addr_t p = SMP_TRAMP_LIMIT - PAGE_SIZE; p >= PAGE_SIZE; p -= PAGE_SIZE)
		for (int i = 0; i < bi->nr_mem; i++)
			if (bi->mem[i].type == MEM_USABLE && bi->mem[i].base <= p &&
			    bi->mem[i].base + bi->mem[i].len >= p + PAGE_SIZE)
				return p;
	return 0;
}

/* Writes the trampoline and its parameters into P through the direct map. */
static void tramp_write(phys_addr_t p)
{
	uint8_t *dst = pa_to_va(p);
	struct ap_tramp_params *t = (void *)(dst + (ap_tramp_params - ap_tramp_start));
	phys_addr_t root = pt_kernel_root();

	/* Invariant: the blob fits its page and agrees with struct ap_tramp_params. */
	ASSERT(ap_tramp_end - ap_tramp_start <= (long)PAGE_SIZE &&
	       ap_tramp_params_end - ap_tramp_params == sizeof(*t));
	/* Invariant: the trampoline loads CR3 in 32-bit mode: the root is below 4 GiB. */
	ASSERT(root < 4 * GiB);
	memcpy(dst, ap_tramp_start, ap_tramp_end - ap_tramp_start);
	t->gdt_limit = t->off_gdt_end - t->off_gdt - 1;
	t->gdt_base = p + t->off_gdt;
	t->pm32_off = p + t->off_pm32;
	t->pm32_sel = TRAMP_CODE32;
	t->lm64_off = p + t->off_lm64;
	t->lm64_sel = TRAMP_CODE64;
	t->cr3 = root;
	t->cr4 = AP_CR4_PAE | (read_cr4() & (CR4_LA57 | CR4_PGE));
	t->efer = AP_EFER_LME | EFER_NXE;
	t->cr0 = read_cr0();
}

const char *smp_tramp_install(phys_addr_t p)
{
	uint64_t *root = pa_to_va(pt_kernel_root());
	int level;

	if (!pt_lookup((uint64_t)pa_to_va(p), &level))
		return "the trampoline page is not in the direct map";
	tramp_write(p);
	if (set_memory_ro((uint64_t)pa_to_va(p), 1))
		return "the trampoline page cannot be made read-only";
	made_root_child = !pt_present(root[pt_index(p, pt_root_level())]);
	if (pt_map_leaf(pt_kernel_root(), p, p, PT_LEVEL_PTE, PTE_A)) {
		set_memory_rw((uint64_t)pa_to_va(p), 1);
		return "the trampoline page cannot be identity-mapped";
	}
	return NULL;
}

void smp_tramp_unmap(phys_addr_t p)
{
	pt_unmap_leaf(pt_kernel_root(), p);
}

void smp_tramp_free(phys_addr_t p)
{
	if (made_root_child) /* pt_unmap_leaf keeps the root's children */
		pt_free_root_child(pt_kernel_root(), p);
	set_memory_rw((uint64_t)pa_to_va(p), 1);
}
