/* tests/host/fuzz_sdt.c - libFuzzer target: a system description table. The input is
 * checked with acpi_check_table() against its own signature, then parsed as a MADT and
 * as an SPCR whatever it is (the parsers must stay inside the Length and the buffer
 * even unchecked), and the CPU list formatted into buffers of several sizes. */
#include "kernel/acpi_parse.h"
#include "tests/host/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, int rc)
{
	fprintf(stderr, "sdt: %s (rc %d)\n", what, rc);
	abort();
}

/* acpi_check_table() with the input's own signature: success needs Length and sum. */
static void check_table(const uint8_t *t, size_t size)
{
	char sig[5] = "APIC", err[160];
	uint32_t len = 0;
	int rc;

	if (size >= 4)
		memcpy(sig, t, 4);
	rc = acpi_check_table(t, size, sig, err, sizeof(err));
	if (size >= 8)
		memcpy(&len, t + 4, 4);
	if (rc ? rc != -EINVAL || check_err(err, sizeof(err)) != NULL
	       : len < 36 || len > size || check_sum8(t, len))
		fail("acpi_check_table broke its contract", rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct acpi_cpus cpus;
	struct acpi_spcr spcr;
	static const size_t sizes[] = { 1, 5, 16, 480 };
	uint8_t *t = malloc(size ? size : 1);
	char err[160], ids[480];
	int rc;

	memcpy(t, data, size);
	check_table(t, size);
	rc = acpi_parse_madt(t, size, &cpus, err, sizeof(err));
	if (rc ? rc != -EINVAL || check_err(err, sizeof(err)) != NULL : check_cpus(&cpus) != NULL)
		fail("acpi_parse_madt broke its contract", rc);
	for (size_t i = 0; !rc && i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		acpi_format_ids(&cpus, ids, sizes[i]);
		if (strlen(ids) >= sizes[i])
			fail("acpi_format_ids overran its buffer", rc);
	}
	rc = acpi_parse_spcr(t, size, &spcr, err, sizeof(err));
	if (rc ? rc != -EINVAL || check_err(err, sizeof(err)) != NULL
	       : size < SPCR_MIN_LEN || spcr.revision != t[8])
		fail("acpi_parse_spcr broke its contract", rc);
	free(t);
	return 0;
}
