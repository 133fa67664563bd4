/* tests/host/test_cmdline.c - cmdline_parse(), parse_size() and parse_u64(). */
#include "kernel/cmdline.h"
#include "tests/host/harness.h"

#include <stdio.h>
#include <string.h>

/* The value of key, or "(null)". */
static const char *value_of(const char *key)
{
	const char *v = cmdline_get(key);

	return v ? v : "(null)";
}

static int nr_problems(void)
{
	int n = 0;

	while (cmdline_problem(n))
		n++;
	return n;
}

HTEST(cmdline, takes_every_known_key)
{
	EXPECT_EQ(cmdline_parse("pks=off pks_tables=soft la57=auto smp=off console=ttyS1,9600 "
				"ktest=pool,dmap ktest.seed=0x2a mem=4G"),
		  0);
	EXPECT_TRUE(cmdline_is("pks", "off") && cmdline_is("pks_tables", "soft"));
	EXPECT_TRUE(cmdline_is("la57", "auto") && cmdline_is("smp", "off"));
	EXPECT_TRUE(cmdline_is("console", "ttyS1,9600") && cmdline_is("ktest", "pool,dmap"));
	EXPECT_TRUE(cmdline_is("ktest.seed", "0x2a") && cmdline_is("mem", "4G"));
	EXPECT_TRUE(cmdline_problem(0) == NULL);
}

HTEST(cmdline, reports_unknown_keys_and_keeps_the_rest)
{
	EXPECT_EQ(cmdline_parse("quiet foo=bar pks=on"), 2);
	EXPECT_HAS(cmdline_problem(0), "unknown parameter 'quiet'");
	EXPECT_HAS(cmdline_problem(1), "unknown parameter 'foo=bar'");
	EXPECT_TRUE(cmdline_get("foo") == NULL);
	EXPECT_TRUE(cmdline_is("pks", "on"));
}

HTEST(cmdline, reports_invalid_and_missing_values)
{
	EXPECT_EQ(cmdline_parse("la57=maybe pks pks_tables= mem=4GB smp=on"), 4);
	EXPECT_HAS(cmdline_problem(0), "invalid value 'maybe' for la57 (expected on|off|auto)");
	EXPECT_HAS(cmdline_problem(1), "parameter 'pks' needs a value");
	EXPECT_HAS(cmdline_problem(2), "invalid value '' for pks_tables");
	EXPECT_HAS(cmdline_problem(3), "invalid value '4GB' for mem");
	EXPECT_TRUE(cmdline_get("la57") == NULL && cmdline_get("mem") == NULL);
	EXPECT_TRUE(cmdline_is("smp", "on"));
}

HTEST(cmdline, takes_quotes_literally)
{
	/* No quoting: the quote characters are part of the words, and spaces split. */
	EXPECT_EQ(cmdline_parse("ktest=\"pool dmap\" console='ttyS0'"), 3);
	EXPECT_HAS(cmdline_problem(0), "invalid value '\"pool' for ktest");
	EXPECT_HAS(cmdline_problem(1), "unknown parameter 'dmap\"'");
	EXPECT_HAS(cmdline_problem(2), "invalid value ''ttyS0'' for console");
}

HTEST(cmdline, splits_on_tabs_and_newlines)
{
	EXPECT_EQ(cmdline_parse("\tpks=off\r\nla57=on\n\n"), 0);
	EXPECT_TRUE(cmdline_is("pks", "off") && cmdline_is("la57", "on"));
	EXPECT_EQ(cmdline_parse(""), 0);
	EXPECT_EQ(cmdline_parse(NULL), 0);
	EXPECT_TRUE(cmdline_get("pks") == NULL);
}

HTEST(cmdline, lets_a_later_duplicate_win)
{
	EXPECT_EQ(cmdline_parse("mem=1G mem=2G mem=lots"), 1);
	EXPECT_TRUE(cmdline_is("mem", "2G"));
}

HTEST(cmdline, reports_an_overlong_word)
{
	char line[400];

	snprintf(line, sizeof(line), "ktest=%0*d pks=off", CMDLINE_MAX_WORD, 0);
	EXPECT_EQ(cmdline_parse(line), 1);
	EXPECT_HAS(cmdline_problem(0), "is longer than 256 characters");
	EXPECT_TRUE(cmdline_get("ktest") == NULL && cmdline_is("pks", "off"));
}

HTEST(cmdline, keeps_a_word_of_exactly_the_maximum_length)
{
	char line[400];

	snprintf(line, sizeof(line), "ktest=%0*d", CMDLINE_MAX_WORD - 6, 7);
	EXPECT_EQ(strlen(line), CMDLINE_MAX_WORD);
	EXPECT_EQ(cmdline_parse(line), 0);
	EXPECT_EQ(strlen(value_of("ktest")), CMDLINE_MAX_WORD - 6);
}

HTEST(cmdline, cuts_an_overlong_line_before_its_partial_word)
{
	char line[CMDLINE_MAX + 64];
	size_t n = 0;

	for (int i = 0; i < 10; i++) /* ten 100-character words */
		n += (size_t)snprintf(line + n, sizeof(line) - n, "ktest=%093d ", i);
	snprintf(line + n, sizeof(line) - n, "mem=%040d", 1); /* offsets 1000..1043 */
	EXPECT_EQ(cmdline_parse(line), 1);
	EXPECT_HAS(cmdline_problem(0), "longer than 1023 characters: ignoring it from offset 1000");
	EXPECT_EQ(nr_problems(), 1);
	EXPECT_TRUE(cmdline_get("mem") == NULL); /* cut: not taken as a shorter value */
	EXPECT_EQ(strlen(value_of("ktest")), 93);
}

HTEST(cmdline, takes_a_line_of_exactly_1023_characters)
{
	char line[CMDLINE_MAX];

	memset(line, ' ', sizeof(line));
	memcpy(line + sizeof(line) - 1 - 7, "pks=off", 7);
	line[sizeof(line) - 1] = '\0';
	EXPECT_EQ(cmdline_parse(line), 0);
	EXPECT_TRUE(cmdline_is("pks", "off"));
}

HTEST(cmdline, reports_words_beyond_the_32nd)
{
	char line[CMDLINE_MAX] = "";

	for (int i = 0; i < CMDLINE_MAX_WORDS + 3; i++)
		strcat(line, i == CMDLINE_MAX_WORDS ? "pks=off " : "smp=on ");
	EXPECT_EQ(cmdline_parse(line), 1);
	EXPECT_HAS(cmdline_problem(0), "more than 32 parameters: ignoring 'pks=off");
	EXPECT_TRUE(cmdline_get("pks") == NULL);
}

HTEST(cmdline, checks_console_values)
{
	static const char *const good[] = { "ttyS0", "ttyS3", "ttyS1,115200", "ttyS2,4294967295" };
	static const char *const bad[] = {
		"ttyS4",       "ttyS",	   "ttyS0,", "ttyS0,0", "ttyS0,4294967296",
		"ttyS0,9600x", "ttyS0,-1", "com1"
	};
	char line[64];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(line, sizeof(line), "console=%s", good[i]);
		EXPECT_EQ(cmdline_parse(line), 0);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "console=%s", bad[i]);
		EXPECT_EQ(cmdline_parse(line), 1);
	}
}

HTEST(cmdline, checks_suite_lists)
{
	EXPECT_EQ(cmdline_parse("ktest=a.b,c_d,e-f,*"), 0);
	EXPECT_EQ(cmdline_parse("ktest=a,,b"), 1);
	EXPECT_EQ(cmdline_parse("ktest=a,"), 1);
	EXPECT_EQ(cmdline_parse("ktest=,a"), 1);
	EXPECT_EQ(cmdline_parse("ktest=a;b"), 1);
}

HTEST(cmdline, parses_sizes_with_binary_suffixes)
{
	uint64_t v = 0;

	EXPECT_EQ(parse_size("512M", &v), 0);
	EXPECT_EQ(v, 512ULL << 20);
	EXPECT_EQ(parse_size("4g", &v), 0);
	EXPECT_EQ(v, 4ULL << 30);
	EXPECT_EQ(parse_size("0x10T", &v), 0);
	EXPECT_EQ(v, 16ULL << 40);
	EXPECT_EQ(parse_size("16777215T", &v), 0);
	EXPECT_EQ(v, 16777215ULL << 40);
	EXPECT_EQ(parse_size("18446744073709551615", &v), 0);
	EXPECT_EQ(v, ~0ULL);
}

HTEST(cmdline, rejects_malformed_and_overflowing_sizes)
{
	static const char *const bad[] = { "",
					   "K",
					   "4GB",
					   "0x",
					   "-1",
					   " 1",
					   "1 ",
					   "16777216T",
					   "18446744073709551616",
					   "17179869184G",
					   "0x1000000000000000K" };
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_size(bad[i], &v) != -EINVAL)
			htest_fail(__FILE__, __LINE__, "parse_size(\"%s\") accepted", bad[i]);
	}
	EXPECT_EQ(v, 42);
	EXPECT_EQ(parse_size(NULL, &v), -EINVAL);
}

HTEST(cmdline, parses_decimal_and_hex_numbers_to_the_64_bit_limit)
{
	uint64_t v = 0;

	EXPECT_EQ(parse_u64("0xFFFFffffFFFFffff", &v), 0);
	EXPECT_EQ(v, ~0ULL);
	EXPECT_EQ(parse_u64("0x10000000000000000", &v), -EINVAL);
	EXPECT_EQ(parse_u64("18446744073709551616", &v), -EINVAL);
	EXPECT_EQ(parse_u64("99999999999999999999", &v), -EINVAL);
	EXPECT_EQ(parse_u64("12a", &v), -EINVAL);
	EXPECT_EQ(parse_u64("0", &v), 0);
	EXPECT_EQ(v, 0);
}
