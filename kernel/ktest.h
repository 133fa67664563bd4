/* kernel/ktest.h - the in-kernel test harness (KTAP version 1 over the console).
 *
 * A suite is declared once with KTEST_SUITE(order, name, skip_fn); cases with
 * KTEST(suite, case) { ... }. Suites run in ascending `order` (two digits), cases in
 * link order. skip_fn may be NULL; otherwise it returns NULL to run the suite or a
 * reason, and then every case of the suite is reported "# SKIP reason". Cases run
 * in source order (file name, then line).
 *
 *   KTEST(printf, formats_negative_decimal)
 *   {
 *           char buf[16];
 *           ksnprintf(buf, sizeof(buf), "%d", -42);
 *           KEXPECT_STREQ(buf, "-42");
 *   }
 *
 * A failing KEXPECT_* prints file, line, expression and values as a "#" diagnostic
 * and the case goes on; KASSERT_* does the same and then returns from the case.
 */
#ifndef KERNEL_KTEST_H
#define KERNEL_KTEST_H

#include "kernel/types.h"

struct ktest_suite {
	const char *name;
	const char *(*skip_reason)(void);
	bool explicit_only; /* runs only when named in ktest= (it ends the run) */
};

struct ktest_case {
	const char *suite;
	const char *name;
	void (*fn)(void);
	const char *file; /* cases run in file, then line order */
	int line;
};

#define KTEST_SUITE_DEFINE(order, sname, skip_fn, explicit)                                  \
	static const struct ktest_suite ktest_suite_##sname = { #sname, skip_fn, explicit }; \
	static const struct ktest_suite *const ktest_suite_ptr_##sname __used __section(     \
		".ktest_suites." #order) = &ktest_suite_##sname
#define KTEST_SUITE(order, sname, skip_fn) KTEST_SUITE_DEFINE(order, sname, skip_fn, false)
/* A suite that deliberately ends the run (a fatal report is what it checks, from
 * the host runner): it runs only when ktest= names it. */
#define KTEST_SUITE_EXPLICIT(order, sname) KTEST_SUITE_DEFINE(order, sname, NULL, true)

#define KTEST(sname, cname)                                                                        \
	static void ktest_##sname##__##cname(void);                                                \
	static const struct ktest_case ktest_case_##sname##__##cname = { #sname, #cname,           \
									 ktest_##sname##__##cname, \
									 __FILE__, __LINE__ };     \
	static const struct ktest_case *const ktest_case_ptr_##sname##__##cname __used __section(  \
		".ktest_cases") = &ktest_case_##sname##__##cname;                                  \
	static void ktest_##sname##__##cname(void)

/* True when needle occurs in hay (a NULL hay contains nothing): for tests that
 * check a message. */
bool ktest_contains(const char *hay, const char *needle);

/* Records a failure of the current case with a formatted diagnostic. */
void ktest_fail(const char *file, int line, const char *fmt, ...) __printf(3, 4);
/* Sets what the current case is checking (a table row, a random step): print(arg)
 * prints it as "#" lines before the first failure recorded while it is set, so the
 * failure names its row. NULL clears it; each case starts with none. */
void ktest_set_context(void (*print)(const void *arg), const void *arg);
/* Marks the current case skipped; the case should return right after. */
void ktest_skip(const char *reason);
/* Prints a "# " diagnostic line inside the current case (figures, counts). */
void ktest_note(const char *fmt, ...) __printf(1, 2);
/* True once the current case has recorded a failure. */
bool ktest_failed(void);

#define KEXPECT_TRUE(x)                                                    \
	do {                                                               \
		if (!(x))                                                  \
			ktest_fail(__FILE__, __LINE__, "expected %s", #x); \
	} while (0)
#define KEXPECT_FALSE(x) KEXPECT_TRUE(!(x))

#define KEXPECT_CMP(a, op, b)                                                                    \
	do {                                                                                     \
		long long ka_ = (long long)(a), kb_ = (long long)(b);                            \
		if (!(ka_ op kb_))                                                               \
			ktest_fail(__FILE__, __LINE__,                                           \
				   "expected %s %s %s, got %lld (0x%llx) and %lld (0x%llx)", #a, \
				   #op, #b, ka_, ka_, kb_, kb_);                                 \
	} while (0)
#define KEXPECT_EQ(a, b) KEXPECT_CMP(a, ==, b)
#define KEXPECT_NE(a, b) KEXPECT_CMP(a, !=, b)
#define KEXPECT_LT(a, b) KEXPECT_CMP(a, <, b)
#define KEXPECT_LE(a, b) KEXPECT_CMP(a, <=, b)
#define KEXPECT_GT(a, b) KEXPECT_CMP(a, >, b)
#define KEXPECT_GE(a, b) KEXPECT_CMP(a, >=, b)

#define KEXPECT_STREQ(a, b)                                                                        \
	do {                                                                                       \
		const char *ka_ = (a), *kb_ = (b);                                                 \
		if (strcmp(ka_, kb_) != 0)                                                         \
			ktest_fail(__FILE__, __LINE__, "expected %s == %s, got \"%s\" and \"%s\"", \
				   #a, #b, ka_, kb_);                                              \
	} while (0)

/* As KEXPECT_*, but a failure ends the case. */
#define KASSERT_TRUE(x)             \
	do {                        \
		KEXPECT_TRUE(x);    \
		if (ktest_failed()) \
			return;     \
	} while (0)
#define KASSERT_EQ(a, b)            \
	do {                        \
		KEXPECT_EQ(a, b);   \
		if (ktest_failed()) \
			return;     \
	} while (0)

#define KTEST_SKIP(reason)          \
	do {                        \
		ktest_skip(reason); \
		return;             \
	} while (0)

/* Chooses the suites of the run: `filter` is ktest= (comma-separated names; NULL or
 * "" = every suite but the explicit-only ones). Copied; prints nothing. */
void ktest_select(const char *filter);

/* Starts the report: a newline (the loader may leave a partial line), "KTAP version 1"
 * and the plan "1..N" of the selected suites, and from then on keeps every console
 * line KTAP (printf.h's line hook). Only the first call prints; panic and the trap
 * report call it too, so a failure before the report has begun still begins it, and
 * a harness line that the failure interrupted is ended (or printed whole, if none of
 * it was out yet) before the failure's own lines. */
void ktest_begin(void);

/* Runs the selected suites, one subtest each; returns true when nothing failed. */
bool ktest_run_all(void);

/* Called after every suite (the page-table checker hooks in here); returns the
 * number of problems found, which fail the suite's "checker" line. NULL = none. */
void ktest_set_after_suite(int (*fn)(const char *suite));

/* Seed for randomized tests (ktest.seed=N, else derived from the TSC at boot). */
uint64_t ktest_seed(void);
void ktest_set_seed(uint64_t seed);
/* A small deterministic PRNG (xorshift64*) for tests; state must be nonzero. */
uint64_t ktest_rand(uint64_t *state);

/* Ends the run after a fatal error: begins the report if needed, ends the case in
 * progress "not ok N name # crashed: reason" and every planned line not reached yet
 * "not ok N name # not run: reason", then prints the totals, "Bail out! reason" and
 * the closing line; exits (QEMU, as failed) or idles re-printing it (hardware). */
__noreturn void ktest_abort(const char *reason);

/* Prints the closing line "N passed, N failed, N skipped" and ends the run. */
__noreturn void ktest_finish(void);

#endif
