/* tests/host/fuzz_cmdline.c - libFuzzer target: cmdline_parse() on any string, and
 * parse_size() / parse_u64() on it. Aborts when a value is handed out that its own
 * parser would refuse, when the problem list is inconsistent, or when parse_u64()
 * and parse_size() disagree on a plain number. */
#include "kernel/cmdline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const char *s)
{
	fprintf(stderr, "cmdline: %s: '%.80s'\n", what, s);
	abort();
}

/* The parse's values and problems keep their promises. */
static void check_parse(const char *s, int problems)
{
	static const char *const keys[] = { "pks",     "pks_tables", "la57",	   "smp",
					    "console", "ktest",	     "ktest.seed", "mem" };
	uint64_t v;
	int n = 0;

	while (cmdline_problem(n)) {
		if (strlen(cmdline_problem(n)) >= 160)
			fail("problem message too long", s);
		n++;
	}
	if (n != problems || problems < 0)
		fail("problem count differs from the list", s);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *val = cmdline_get(keys[i]);

		if (!val)
			continue;
		if (!*val || strlen(val) > CMDLINE_MAX_WORD || strpbrk(val, " \t\r\n"))
			fail("a value that is empty, too long or has a blank", s);
	}
	if (cmdline_get("mem") && parse_size(cmdline_get("mem"), &v))
		fail("mem= accepted but parse_size refuses it", s);
	if (cmdline_get("ktest.seed") && parse_u64(cmdline_get("ktest.seed"), &v))
		fail("ktest.seed= accepted but parse_u64 refuses it", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t a = 0, b = 0;

	memcpy(s, data, size);
	s[size] = '\0';
	check_parse(s, cmdline_parse(s));
	if (parse_u64(s, &a) == 0 && (parse_size(s, &b) != 0 || a != b))
		fail("parse_u64 and parse_size disagree", s);
	free(s);
	return 0;
}
