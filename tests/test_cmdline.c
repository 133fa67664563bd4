/* tests/test_cmdline.c - the command-line parser and the number parsers.
 *
 * cmdline_parse() resets the global state; kmain has consumed the boot command line
 * before the tests run, and every case that parses ends with cmdline_restore_boot()
 * so the boot line is in force again afterwards (use KEXPECT_*, not KASSERT_*, there).
 */
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "kernel/types.h"

KTEST_SUITE(03, cmdline, NULL);

/* The value of key, or "(null)", for string comparisons. */
static const char *value_of(const char *key)
{
	const char *v = cmdline_get(key);

	return v ? v : "(null)";
}

KTEST(cmdline, parses_key_value_words)
{
	KEXPECT_EQ(cmdline_parse("pks=off la57=auto mem=512M ktest.seed=0x2a console=ttyS0"), 0);
	KEXPECT_STREQ(value_of("pks"), "off");
	KEXPECT_TRUE(cmdline_is("la57", "auto"));
	KEXPECT_FALSE(cmdline_is("la57", "on"));
	KEXPECT_STREQ(value_of("mem"), "512M");
	KEXPECT_STREQ(value_of("ktest.seed"), "0x2a");
	KEXPECT_STREQ(value_of("console"), "ttyS0");
	KEXPECT_TRUE(cmdline_get("pks_tables") == NULL);
	KEXPECT_TRUE(cmdline_problem(0) == NULL);
	cmdline_restore_boot();
}

KTEST(cmdline, tolerates_multiple_spaces)
{
	KEXPECT_EQ(cmdline_parse("   pks_tables=soft     la57=off  \t ktest=cmdline   "), 0);
	KEXPECT_STREQ(value_of("pks_tables"), "soft");
	KEXPECT_STREQ(value_of("la57"), "off");
	KEXPECT_STREQ(value_of("ktest"), "cmdline");
	cmdline_restore_boot();
}

KTEST(cmdline, reports_and_ignores_unknown_key)
{
	KEXPECT_EQ(cmdline_parse("foo=bar pks=on"), 1);
	KEXPECT_TRUE(ktest_contains(cmdline_problem(0), "unknown parameter 'foo=bar'"));
	KEXPECT_TRUE(cmdline_problem(1) == NULL);
	KEXPECT_TRUE(cmdline_get("foo") == NULL);
	KEXPECT_STREQ(value_of("pks"), "on");
	cmdline_restore_boot();
}

KTEST(cmdline, reports_and_ignores_invalid_value)
{
	KEXPECT_EQ(cmdline_parse("la57=maybe pks=off"), 1);
	KEXPECT_TRUE(ktest_contains(cmdline_problem(0), "invalid value 'maybe' for la57"));
	KEXPECT_TRUE(cmdline_get("la57") == NULL);
	KEXPECT_STREQ(value_of("pks"), "off");
	cmdline_restore_boot();
}

KTEST(cmdline, invalid_duplicate_keeps_earlier_value)
{
	KEXPECT_EQ(cmdline_parse("mem=4G mem=lots"), 1);
	KEXPECT_STREQ(value_of("mem"), "4G");
	cmdline_restore_boot();
}

KTEST(cmdline, duplicate_key_last_wins)
{
	KEXPECT_EQ(cmdline_parse("pks_tables=on la57=on pks_tables=soft"), 0);
	KEXPECT_STREQ(value_of("pks_tables"), "soft");
	KEXPECT_STREQ(value_of("la57"), "on");
	cmdline_restore_boot();
}

KTEST(cmdline, reports_bare_key)
{
	KEXPECT_EQ(cmdline_parse("la57 pks=off"), 1);
	KEXPECT_TRUE(ktest_contains(cmdline_problem(0), "parameter 'la57' needs a value"));
	KEXPECT_TRUE(cmdline_get("la57") == NULL);
	KEXPECT_STREQ(value_of("pks"), "off");
	cmdline_restore_boot();
}

KTEST(cmdline, reports_empty_value)
{
	KEXPECT_EQ(cmdline_parse("ktest="), 1);
	KEXPECT_TRUE(ktest_contains(cmdline_problem(0), "invalid value '' for ktest"));
	KEXPECT_TRUE(cmdline_get("ktest") == NULL);
	cmdline_restore_boot();
}

KTEST(cmdline, reports_overlong_word)
{
	static char s[CMDLINE_MAX_WORD + 16];

	memcpy(s, "ktest=", 6);
	memset(s + 6, 'a', CMDLINE_MAX_WORD);
	s[6 + CMDLINE_MAX_WORD] = '\0';
	KEXPECT_EQ(cmdline_parse(s), 1);
	KEXPECT_TRUE(ktest_contains(cmdline_problem(0), "longer than"));
	KEXPECT_TRUE(cmdline_get("ktest") == NULL);
	cmdline_restore_boot();
}

KTEST(cmdline, drops_word_cut_by_line_limit)
{
	static char s[CMDLINE_MAX + 64];
	size_t n = 0;
	int i;

	for (i = 0; i < 4; i++) { /* 4 x 251 bytes */
		memcpy(s + n, "ktest=", 6);
		memset(s + n + 6, 'a', 244);
		s[n + 250] = ' ';
		n += 251;
	}
	memcpy(s + n, "pks=on mem=4096000000M", 23); /* cut after "mem=40960000" */
	KEXPECT_EQ(cmdline_parse(s), 1);
	KEXPECT_TRUE(ktest_contains(cmdline_problem(0), "longer than"));
	KEXPECT_STREQ(value_of("pks"), "on");
	KEXPECT_TRUE(cmdline_get("mem") == NULL);
	cmdline_restore_boot();
}

KTEST(cmdline, reports_words_beyond_limit)
{
	static char s[CMDLINE_MAX];
	int i;

	s[0] = '\0';
	for (i = 0; i < CMDLINE_MAX_WORDS; i++)
		memcpy(s + strlen(s), "pks=on ", 8);
	memcpy(s + strlen(s), "la57=off", 9);
	KEXPECT_EQ(cmdline_parse(s), 1);
	KEXPECT_TRUE(ktest_contains(cmdline_problem(0), "more than 32"));
	KEXPECT_STREQ(value_of("pks"), "on");
	KEXPECT_TRUE(cmdline_get("la57") == NULL);
	cmdline_restore_boot();
}

KTEST(cmdline, accepts_console_ttyS1_115200)
{
	KEXPECT_EQ(cmdline_parse("console=ttyS1,115200"), 0);
	KEXPECT_STREQ(value_of("console"), "ttyS1,115200");
	cmdline_restore_boot();
}

KTEST(cmdline, rejects_console_ttyS9)
{
	KEXPECT_EQ(cmdline_parse("console=ttyS9"), 1);
	KEXPECT_TRUE(ktest_contains(cmdline_problem(0), "invalid value 'ttyS9' for console"));
	KEXPECT_TRUE(cmdline_get("console") == NULL);
	cmdline_restore_boot();
}

KTEST(cmdline, rejects_console_malformed_port_or_baud)
{
	static const char *const bad[] = {
		"console=ttyS0,fast", "console=ttyS0,", "console=ttyS0,0", "console=ttyS1x9600",
		"console=ttyS12",     "console=ttyS",	"console=com1",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		KEXPECT_EQ(cmdline_parse(bad[i]), 1);
		KEXPECT_TRUE(cmdline_get("console") == NULL);
		if (ktest_failed()) {
			ktest_note("failed on \"%s\"", bad[i]);
			break;
		}
	}
	cmdline_restore_boot();
}

KTEST(cmdline, restore_boot_brings_back_boot_line)
{
	char before[CMDLINE_MAX_WORD + 1];
	const char *v = cmdline_get("ktest");

	strncpy_z(before, v ? v : "(null)", sizeof(before));
	cmdline_parse("ktest=restore_probe");
	KEXPECT_STREQ(value_of("ktest"), "restore_probe");
	cmdline_restore_boot();
	KEXPECT_STREQ(value_of("ktest"), before);
}

KTEST(cmdline, parse_size_accepts_units)
{
	static const struct {
		const char *s;
		uint64_t bytes;
	} cases[] = {
		{ "512M", 512 * MiB }, { "4G", 4 * GiB }, { "2T", 2 * TiB },
		{ "0x1000", 0x1000 },  { "123", 123 },	  { "64k", 64 * KiB },
		{ "0x10m", 16 * MiB },
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		v = 0;
		KEXPECT_EQ(parse_size(cases[i].s, &v), 0);
		KEXPECT_EQ(v, cases[i].bytes);
		if (ktest_failed()) {
			ktest_note("failed on \"%s\"", cases[i].s);
			return;
		}
	}
}

KTEST(cmdline, parse_size_rejects_malformed)
{
	static const char *const bad[] = {
		"", "12Q", "99999999999999999999", "4GG", "0x", "G", "16777216T", " 4G", "4G ",
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		v = 7;
		KEXPECT_EQ(parse_size(bad[i], &v), -EINVAL);
		KEXPECT_EQ(v, 7);
		if (ktest_failed()) {
			ktest_note("failed on \"%s\"", bad[i]);
			return;
		}
	}
}

KTEST(cmdline, parse_u64_accepts_decimal_and_hex)
{
	uint64_t v = 0;

	KEXPECT_EQ(parse_u64("18446744073709551615", &v), 0);
	KEXPECT_TRUE(v == UINT64_MAX);
	KEXPECT_EQ(parse_u64("0xDEADbeef", &v), 0);
	KEXPECT_EQ(v, 0xdeadbeef);
}

KTEST(cmdline, parse_u64_rejects_suffix_and_overflow)
{
	uint64_t v = 7;

	KEXPECT_EQ(parse_u64("4K", &v), -EINVAL);
	KEXPECT_EQ(parse_u64("18446744073709551616", &v), -EINVAL);
	KEXPECT_EQ(parse_u64("0x10000000000000000", &v), -EINVAL);
	KEXPECT_EQ(parse_u64("", &v), -EINVAL);
	KEXPECT_EQ(v, 7);
}
