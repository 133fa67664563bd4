/* mm/vmap.c - run-time kernel mappings in the vmap area. */
#include "mm/vmap.h"
#include "mm/dmap.h"
#include "mm/frame.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/protect_map.h"
#include "kernel/printf.h"

static uint64_t next_va = VMAP_BASE;

uint64_t vmap_reserve(uint64_t size, uint64_t align)
{
	uint64_t va;

	if (!size || (align & (align - 1)))
		return 0;
	va = ALIGN_UP(next_va + PAGE_SIZE, MAX(align, PAGE_SIZE));
	if (va + size + PAGE_SIZE > VMAP_BASE + VMAP_SIZE || va + size < va)
		return 0;
	next_va = va + ALIGN_UP(size, PAGE_SIZE) + PAGE_SIZE;
	return va;
}

static bool in_vmap(uint64_t va, uint64_t size)
{
	return va >= VMAP_BASE && size <= VMAP_SIZE && va - VMAP_BASE <= VMAP_SIZE - size;
}

int vmap_map(uint64_t va, phys_addr_t pa, uint64_t size, int level, uint64_t prot, int pkey)
{
	uint64_t step, off;
	int rc = 0;

	if (level < PT_LEVEL_PTE || level > PT_LEVEL_PUD || pkey < 0 || pkey > 15)
		return -EINVAL;
	if (pkey && pkey == pgprot_key())
		return -EPERM; /* the page-table key is mm's own */
	step = pt_size(level);
	if (!size || !IS_ALIGNED(va | pa | size, step) || !in_vmap(va, size) ||
	    (prot & ~PTE_PROT_MASK & ~(PTE_A | PTE_D)))
		return -EINVAL;
	prot = (prot & ~PTE_PKEY_MASK) | PTE_PKEY(pkey);
	if (!protect_leaf_allowed(false, pa, size, prot))
		return -EPERM;
	for (off = 0; off < size && !rc; off += step)
		rc = pt_map_leaf(pt_kernel_root(), va + off, pa + off, level, prot);
	if (rc && off > step)
		vmap_unmap(va, off - step);
	return rc;
}

void vmap_unmap(uint64_t va, uint64_t size)
{
	for (uint64_t a = va; a < va + size;) {
		int level;

		if (pt_lookup(a, &level)) {
			pt_unmap_leaf(pt_kernel_root(), a);
			a = ALIGN_DOWN(a, pt_size(level)) + pt_size(level);
		} else {
			a += PAGE_SIZE;
		}
	}
}

void *vmap_alloc_pages(uint64_t pages)
{
	uint64_t va = vmap_reserve(pages * PAGE_SIZE, PAGE_SIZE), i;

	if (!va)
		return NULL;
	for (i = 0; i < pages; i++) {
		phys_addr_t pa = frame_alloc();

		if (!pa)
			break;
		memset(pa_to_va(pa), 0, PAGE_SIZE);
		if (vmap_map(va + i * PAGE_SIZE, pa, PAGE_SIZE, PT_LEVEL_PTE,
			     PTE_W | PTE_NX | PTE_G | PTE_A | PTE_D, 0)) {
			frame_free(pa);
			break;
		}
	}
	if (i == pages)
		return (void *)va;
	vmap_free_pages((void *)va, i);
	return NULL;
}

void vmap_free_pages(void *p, uint64_t pages)
{
	uint64_t va = (uint64_t)p;

	for (uint64_t i = 0; i < pages; i++) {
		phys_addr_t pa = va_to_pa((void *)(va + i * PAGE_SIZE));

		if (pa == ~0ULL)
			continue;
		pt_unmap_leaf(pt_kernel_root(), va + i * PAGE_SIZE);
		frame_free(pa);
	}
}
