/* tests/host/harness.h - the host unit tests' harness: registration and checks.
 *
 *   HTEST(mb2, rejects_a_tag_past_the_end) { EXPECT_EQ(parse(...), -EINVAL); }
 *
 * Each test is one behaviour, registered at load time and run in the order of
 * definition, file by file. A failed check prints "file:line: what" and marks the
 * test failed; ASSERT_* also leave the test. The run prints "ok N suite.name" /
 * "not ok N suite.name" per test and closes with "N passed, N failed, 0 skipped".
 * Host code: libc is available, and the kernel's headers are included as they are.
 */
#ifndef TESTS_HOST_HARNESS_H
#define TESTS_HOST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct htest {
	const char *suite, *name;
	void (*fn)(void);
	struct htest *next;
};

/* Adds t to the run (called by HTEST's constructor). */
void htest_register(struct htest *t);
/* Marks the running test failed and prints "file:line: " and the message. */
void htest_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define HTEST(suite, name)                                                                  \
	static void suite##__##name(void);                                                  \
	static struct htest suite##__##name##_t = { #suite, #name, suite##__##name, NULL }; \
	__attribute__((constructor)) static void suite##__##name##_reg(void)                \
	{                                                                                   \
		htest_register(&suite##__##name##_t);                                       \
	}                                                                                   \
	static void suite##__##name(void)

/* Integer checks compare as 64-bit values and print both signed and hex. */
#define EXPECT_EQ(a, b)                                                                            \
	do {                                                                                       \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b);     \
		if (a_ != b_)                                                                      \
			htest_fail(__FILE__, __LINE__, "%s == %s: %lld (0x%llx) != %lld (0x%llx)", \
				   #a, #b, (long long)a_, a_, (long long)b_, b_);                  \
	} while (0)

#define EXPECT_TRUE(x)                                                     \
	do {                                                               \
		if (!(x))                                                  \
			htest_fail(__FILE__, __LINE__, "expected %s", #x); \
	} while (0)

/* hay contains needle (hay may be NULL: then it contains nothing). */
#define EXPECT_HAS(hay, needle)                                                                    \
	do {                                                                                       \
		const char *h_ = (hay), *n_ = (needle);                                            \
		if (!h_ || !strstr(h_, n_))                                                        \
			htest_fail(__FILE__, __LINE__, "%s: \"%s\" does not contain \"%s\"", #hay, \
				   h_ ? h_ : "(null)", n_);                                        \
	} while (0)

#define ASSERT_TRUE(x)                                                     \
	do {                                                               \
		if (!(x)) {                                                \
			htest_fail(__FILE__, __LINE__, "expected %s", #x); \
			return;                                            \
		}                                                          \
	} while (0)

/* The bytes of tests/host/seeds/<rel> in a malloc'd buffer of exactly their size
 * (so that AddressSanitizer sees any read past the end); NULL, with a failed check,
 * when the file cannot be read. *len = its size. free() it. */
uint8_t *htest_seed(const char *rel, size_t *len);

/* Names of the files in tests/host/seeds/<dir> whose names end in suffix (sorted);
 * *n = how many. free() each name and the array. */
char **htest_seed_list(const char *dir, const char *suffix, int *n);

#endif
