/* kernel/bootdump.h - `bootdump=`: the firmware's data as hex lines in the report.
 *
 * For the seeds of the host tests (tests/host/capture-seeds.sh turns the lines back
 * into files). Every dumped object is framed as
 *
 *   # bootdump: begin NAME LEN at 0xPA
 *   # bootdump: NAME OFFSET HEXBYTES       offset in hex, up to 32 bytes a line
 *   # bootdump: end NAME
 *
 * NAME is "mbi" (the copy mb2_parse() read; PA is where GRUB put it), "rsdp" (the copy
 * in the MBI, PA 0), or an ACPI table's signature ("XSDT", "APIC", "DSDT"; a signature
 * seen before gets ".2", ".3"...). Tables come from the RSDP's root table and the
 * FADT's DSDT; each is mapped read-only while it is printed.
 */
#ifndef KERNEL_BOOTDUMP_H
#define KERNEL_BOOTDUMP_H

#include "kernel/types.h"
#include "kernel/multiboot2.h"

/* Prints what bootdump=mbi|acpi|all asks for (nothing without it); `mbi` is the
 * bi->mbi_size-byte copy. Maps and unmaps vmap pages; needs acpi_init()'s world
 * (vmap area, CPU features). */
void bootdump(const void *mbi, const struct boot_info *bi);

#endif
