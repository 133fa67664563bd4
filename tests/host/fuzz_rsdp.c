/* tests/host/fuzz_rsdp.c - libFuzzer target: acpi_parse_rsdp() on any bytes. A
 * success must mean the checksums hold (computed here) and a root address was given. */
#include "kernel/acpi_parse.h"
#include "tests/host/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *p = malloc(size ? size : 1);
	phys_addr_t root = 0;
	bool xsdt = false;
	char err[160];
	int rc;

	memcpy(p, data, size);
	rc = acpi_parse_rsdp(p, size, &root, &xsdt, err, sizeof(err));
	if (rc ? rc != -EINVAL || check_err(err, sizeof(err))
	       : size < 20 || check_sum8(p, 20) || !root ||
			    (xsdt && (size < 36 || p[15] < 2 || check_sum8(p, 36)))) {
		fprintf(stderr, "acpi_parse_rsdp returned %d, xsdt %d, root 0x%llx\n", rc, xsdt,
			(unsigned long long)root);
		abort();
	}
	free(p);
	return 0;
}
