/* kernel/acpi.h - just enough ACPI to list the CPUs: RSDP -> XSDT or RSDT -> MADT.
 *
 *   RSDP (GRUB copies it into the multiboot2 information)
 *     revision >= 2 and XsdtAddress != 0:  XSDT, 64-bit table addresses
 *     otherwise:                           RSDT, 32-bit table addresses
 *       -> "APIC" (MADT): enabled Processor Local APIC (type 0) and Processor
 *          Local x2APIC (type 9) entries, one APIC ID each
 * (ACPI 6.5, 5.2.5 RSDP, 5.2.7 RSDT, 5.2.8 XSDT, 5.2.12 MADT.)
 *
 * The tables usually sit in reserved or ACPI memory that the direct map leaves
 * out: each one is mapped read-only and NX in the vmap area while it is read, and
 * unmapped after. Every signature, length and checksum is checked; a malformed
 * table is reported with the reason and no AP is started.
 *
 * Before memory management, acpi_copy_table_early() finds one table the same way (the
 * console's "SPCR") and reads it through the entry code's map of the first 4 GiB.
 */
#ifndef KERNEL_ACPI_H
#define KERNEL_ACPI_H

#include "kernel/types.h"
#include "kernel/multiboot2.h"
#include "kernel/acpi_parse.h"

#define ACPI_MAX_TABLE (1024 * 1024) /* longer tables are refused as malformed */

/* A read-only, NX mapping of physical bytes in the vmap area. */
struct acpi_map {
	uint64_t base, size; /* the mapped pages */
	const uint8_t *p;    /* the first byte asked for */
};

/* Maps [pa, pa+len) read-only and NX in the vmap area (4 KiB pages). 0, -EINVAL for
 * an address outside the CPU's physical range, or -ENOMEM. */
int acpi_map_ro(phys_addr_t pa, uint64_t len, struct acpi_map *m);
/* Unmaps what acpi_map_ro() mapped (flushing it) and clears *m. */
void acpi_unmap(struct acpi_map *m);

/* Reads the MADT through the RSDP of bi and keeps its CPU list. 0, or -EINVAL /
 * -ENOENT with the reason in acpi_problem(). Maps and unmaps vmap pages. */
int acpi_init(const struct boot_info *bi);
/* The CPU list read by acpi_init(), or NULL when it failed. */
const struct acpi_cpus *acpi_cpus(void);
/* Why there is no CPU list ("RSDP checksum ..."), or NULL. */
const char *acpi_problem(void);
/* The "# acpi:" and "# cpus:" lines of the report header. */
void acpi_print_header(void);

/* Copies the table with signature sig (found through the RSDP of bi) into buf, at most
 * size bytes; returns its length, or -ENOENT (none) / -EINVAL (malformed, or not below
 * 4 GiB) with the reason in why. Reads through the entry code's map of the first 4 GiB
 * at PAGE_OFFSET, so only before memory management replaces it (the console's SPCR). */
int acpi_copy_table_early(const struct boot_info *bi, const char *sig, void *buf, size_t size,
			  char *why, size_t n);

#endif
