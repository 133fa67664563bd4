/* tests/test_printf.c - the printf-style formatter, one conversion behaviour per case. */
#include "kernel/ktest.h"
#include "kernel/printf.h"

KTEST_SUITE(01, printf, NULL);

/* Formats into a local buffer and compares with the expected text. */
#define EXPECT_FMT(expected, ...)                           \
	do {                                                \
		char buf_[128];                             \
		ksnprintf(buf_, sizeof(buf_), __VA_ARGS__); \
		KEXPECT_STREQ(buf_, expected);              \
	} while (0)

KTEST(printf, formats_signed_decimal)
{
	EXPECT_FMT("0 42 -42", "%d %i %d", 0, 42, -42);
	EXPECT_FMT("-2147483648", "%d", (int)0x80000000);
}

KTEST(printf, formats_unsigned_and_hex)
{
	EXPECT_FMT("4294967295 ffffffff FFFFFFFF", "%u %x %X", 0xffffffffu, 0xffffffffu,
		   0xffffffffu);
}

KTEST(printf, honours_long_long_and_size_lengths)
{
	EXPECT_FMT("-9223372036854775808", "%lld", (long long)(1ULL << 63));
	EXPECT_FMT("ffffffffffffffff 18446744073709551615", "%llx %lu", ~0ULL, ~0UL);
	EXPECT_FMT("123456789012", "%zu", (size_t)123456789012ULL);
}

KTEST(printf, pads_with_width_zero_and_left)
{
	EXPECT_FMT("[   42]", "[%5d]", 42);
	EXPECT_FMT("[00042]", "[%05d]", 42);
	EXPECT_FMT("[42   ]", "[%-5d]", 42);
	EXPECT_FMT("[-0042]", "[%05d]", -42);
	EXPECT_FMT("[0000beef]", "[%08x]", 0xbeef);
	EXPECT_FMT("[   ab]", "[%*x]", 5, 0xab);
}

KTEST(printf, formats_pointers_with_prefix)
{
	EXPECT_FMT("0xffffffff80100000", "%p", (void *)0xffffffff80100000ULL);
	EXPECT_FMT("0x0", "%p", (void *)0);
}

KTEST(printf, formats_strings_with_precision_and_width)
{
	EXPECT_FMT("warden", "%s", "warden");
	EXPECT_FMT("war", "%.3s", "warden");
	EXPECT_FMT("[  war]", "[%5.3s]", "warden");
	EXPECT_FMT("[ab   ]", "[%-5s]", "ab");
}

KTEST(printf, prints_null_string_as_marker)
{
	const char *volatile nothing = NULL; /* hidden from the format checker */

	EXPECT_FMT("(null)", "%s", nothing);
}

KTEST(printf, formats_chars_and_percent)
{
	EXPECT_FMT("a%b", "%c%%%c", 'a', 'b');
}

KTEST(printf, truncates_but_reports_full_length)
{
	char buf[8];
	int n = ksnprintf(buf, sizeof(buf), "%s", "0123456789");

	KEXPECT_EQ(n, 10);
	KEXPECT_STREQ(buf, "0123456");
	KEXPECT_EQ(ksnprintf(NULL, 0, "%d", 12345), 5);
}
