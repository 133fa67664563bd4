/* kernel/acpi_parse.h - ACPI table parsers over bytes already in memory.
 *
 * Pure functions: no mapping, no global state, every read bounded by the length
 * given. kernel/acpi.c maps the firmware's tables and calls them; the in-kernel
 * smp suite and the host tests (tests/host/) feed them crafted and captured tables.
 * (ACPI 6.5, 5.2.5 RSDP, 5.2.6 table header, 5.2.12 MADT; SPCR below.)
 */
#ifndef KERNEL_ACPI_PARSE_H
#define KERNEL_ACPI_PARSE_H

#include "kernel/types.h"

#define ACPI_MAX_CPUS  1024
#define SDT_HEADER_LEN 36
#define RSDP_V1_LEN    20
#define RSDP_V2_LEN    36

/* The enabled CPUs of a MADT, in table order, each APIC ID once. */
struct acpi_cpus {
	int nr;
	int nr_dropped;	 /* enabled entries beyond ACPI_MAX_CPUS (not kept) */
	int nr_disabled; /* entries with the Enabled flag clear (not kept) */
	uint32_t apic_id[ACPI_MAX_CPUS];
};

/* The console UART an SPCR table describes (Microsoft, "Serial Port Console Redirection
 * Table", revisions 1-4; the base address is a Generic Address Structure, ACPI 6.5
 * 5.2.3.2). Interface types (DBG2 Table 3): 0 = 16550, 1 = 16550 subset, 0x12 = 16550
 * described by the GAS. */
struct acpi_spcr {
	uint8_t revision;
	uint8_t interface_type;
	uint8_t space_id;    /* GAS: 0 = system memory, 1 = system I/O */
	uint8_t bit_width;   /* GAS: register width in bits */
	uint64_t address;    /* 0: the firmware has console redirection off */
	uint8_t baud_code;   /* 0 = as configured, 3 = 9600, 4 = 19200, 6 = 57600, 7 = 115200 */
	uint32_t baud;	     /* from the precise rate (revision 4) or the code; 0 = none */
	uint32_t uart_clock; /* Hz, revision 3 and later; 0 = not given */
};

#define SPCR_MIN_LEN 80 /* revisions 1-3; revision 4 appends fields */

/* Each parser returns 0, or -EINVAL with a one-line reason in err. */
/* RSDP of `len` bytes: *root = XSDT (*xsdt true) or RSDT address. */
int acpi_parse_rsdp(const uint8_t *rsdp, size_t len, phys_addr_t *root, bool *xsdt, char *err,
		    size_t errlen);
/* A system description table: signature, 36 <= Length <= len, checksum. */
int acpi_check_table(const void *table, size_t len, const char *sig, char *err, size_t errlen);
/* A MADT (already checked) into *out. */
int acpi_parse_madt(const void *madt, size_t len, struct acpi_cpus *out, char *err, size_t errlen);
/* An SPCR (already checked) into *out. */
int acpi_parse_spcr(const void *spcr, size_t len, struct acpi_spcr *out, char *err, size_t errlen);

/* "0-3,8,10-11" (runs merged) for the APIC IDs of c, truncated with "...". */
void acpi_format_ids(const struct acpi_cpus *c, char *buf, size_t size);

/* Writes the reason into err (if any) and returns -EINVAL. */
int acpi_fail(char *err, size_t errlen, const char *fmt, ...) __printf(3, 4);

#endif
