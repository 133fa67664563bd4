/* tests/host/check.h - what the parsers promise about their results, checked
 * independently of them. Shared by the unit tests and the fuzz targets (which abort
 * on a broken promise). Each returns NULL when every rule holds, else the rule. */
#ifndef TESTS_HOST_CHECK_H
#define TESTS_HOST_CHECK_H

#include "kernel/acpi_parse.h"
#include "kernel/multiboot2.h"

/* A boot_info filled by a successful mb2_parse() of the len bytes at mbi. */
const char *check_boot_info(const struct boot_info *bi, const uint8_t *mbi, size_t len);
/* The CPU list of a successful acpi_parse_madt(). */
const char *check_cpus(const struct acpi_cpus *c);
/* An error message: non-empty and NUL-terminated within size bytes. */
const char *check_err(const char *err, size_t size);
/* Sum of n bytes modulo 256 (the ACPI checksum), computed here. */
uint8_t check_sum8(const uint8_t *p, size_t n);

#endif
