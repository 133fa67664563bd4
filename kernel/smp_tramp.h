/* kernel/smp_tramp.h - the trampoline page P that APs start in (kernel/smp.h).
 *
 * P holds a copy of arch/ap_boot.asm's blob and its parameter block (the kernel
 * root, CR4, EFER, CR0, the far-jump targets inside P). While APs start, P is
 * read-only in the direct map and mapped read+execute at its identity address in
 * the kernel root, so the trampoline can turn paging on: it is never writable and
 * executable at once.
 */
#ifndef KERNEL_SMP_TRAMP_H
#define KERNEL_SMP_TRAMP_H

#include "kernel/types.h"
#include "kernel/multiboot2.h"

/* The highest usable 4 KiB page in [PAGE_SIZE, SMP_TRAMP_LIMIT); 0 when none. */
phys_addr_t smp_tramp_pick(const struct boot_info *bi);
/* Writes P, makes it read-only in the direct map, then maps it read+execute at its
 * identity address in the kernel root. NULL, or the reason nothing is mapped. */
const char *smp_tramp_install(phys_addr_t p);
/* Removes the identity mapping (local flush only: the APs flush their own). */
void smp_tramp_unmap(phys_addr_t p);
/* Once every AP has flushed: frees the table the mapping built, P writable again. */
void smp_tramp_free(phys_addr_t p);

#endif
