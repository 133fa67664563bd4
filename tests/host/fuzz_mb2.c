/* tests/host/fuzz_mb2.c - libFuzzer target: mb2_parse() on any bytes, then the
 * command line it found through cmdline_parse(), as kmain does. The input is copied
 * to a buffer of exactly its size, so AddressSanitizer sees any read past it; a
 * result that breaks mb2_parse()'s promises (tests/host/check.h) aborts. */
#include "kernel/cmdline.h"
#include "kernel/multiboot2.h"
#include "tests/host/check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct boot_info bi;
	uint8_t *copy = malloc(size ? size : 1);
	char err[160];
	const char *broken;
	int rc;

	memcpy(copy, data, size);
	rc = mb2_parse(copy, size, &bi, err, sizeof(err));
	broken = rc ? check_err(err, sizeof(err)) : check_boot_info(&bi, copy, size);
	if (broken || (rc && rc != -EINVAL)) {
		fprintf(stderr, "mb2_parse returned %d: %s\n", rc, broken ? broken : "bad code");
		abort();
	}
	if (!rc)
		cmdline_parse(bi.cmdline);
	free(copy);
	return 0;
}
