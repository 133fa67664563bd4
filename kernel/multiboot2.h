/* kernel/multiboot2.h - the multiboot2 boot information, validated and copied.
 *
 * The bootloader's information (MBI) may sit anywhere in low memory (under OVMF at
 * addresses such as 0x5000) and is not ours: kmain copies it into a buffer first,
 * then mb2_parse() validates every tag against the total size and fills a
 * struct boot_info that the rest of the kernel uses.
 */
#ifndef KERNEL_MULTIBOOT2_H
#define KERNEL_MULTIBOOT2_H

#include "kernel/types.h"

#define MB2_BOOT_MAGIC 0x36d76289u
#define MB2_MAX_SIZE   (512 * 1024) /* larger MBIs are rejected */

/* Memory types, as in the multiboot2 memory-map tag. */
enum mem_type {
	MEM_USABLE = 1,
	MEM_RESERVED = 2,
	MEM_ACPI_RECLAIM = 3,
	MEM_ACPI_NVS = 4,
	MEM_BAD = 5,
};

struct mem_range {
	uint64_t base;
	uint64_t len;
	uint32_t type; /* enum mem_type */
};

/* Ranges kept from the memory map. A longer map (GRUB's cutmem/badram, a fragmented
 * UEFI map) is not an error: once the table is full, non-RAM ranges are folded into
 * their non-RAM neighbours or forgotten (nothing maps them either way) to make room
 * for RAM; only when every slot holds RAM is the smallest RAM range left out, and
 * counted for the report header. */
#define BOOT_MAX_RANGES 1024

struct boot_info {
	char cmdline[1024];
	char loader[128];
	bool uefi;			       /* EFI system table or EFI memory map tag seen */
	bool mem_from_efi;		       /* no memory-map tag: converted from the EFI map */
	struct mem_range mem[BOOT_MAX_RANGES]; /* sorted by base, non-overlapping */
	int nr_mem;
	int mem_folded;		      /* non-RAM ranges folded or forgotten (table full) */
	int mem_dropped;	      /* RAM ranges left out (table full of RAM) */
	uint64_t mem_dropped_ram;     /* their bytes (usable and ACPI reclaimable) */
	phys_addr_t mem_dropped_from; /* base of the lowest of them */
	phys_addr_t rsdp_pa;	      /* physical address of the RSDP copy in the MBI, 0 if none */
	int acpi_rev;		      /* 2 = ACPI 2.0+ RSDP tag used, 1 = ACPI 1.0, 0 = none */
	uint8_t rsdp[36];	      /* the RSDP bytes (20 for ACPI 1.0) */
	phys_addr_t mbi_pa;	      /* where the bootloader put the MBI */
	uint32_t mbi_size;
};

/* Validates the MBI at `mbi` (a copy, `len` bytes available) and fills *out.
 * Returns 0, or -EINVAL with a one-line reason in err (e.g. "tag 6 at offset 0x48:
 * size 0x1000 runs past the end of the MBI (0x200)"); *out is then unspecified. */
int mb2_parse(const void *mbi, size_t len, struct boot_info *out, char *err, size_t errlen);

/* Human name of a memory type ("usable", "reserved", "ACPI reclaimable", ...). */
const char *mem_type_name(uint32_t type);

/* Total bytes of the ranges of `type` in bi. */
uint64_t boot_mem_total(const struct boot_info *bi, uint32_t type);

#endif
