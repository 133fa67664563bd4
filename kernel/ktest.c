/* kernel/ktest.c - runs the registered suites and prints KTAP version 1.
 *
 *   KTAP version 1
 *   # <header lines>
 *   1..<suites>
 *       KTAP version 1
 *       # Subtest: printf
 *       1..<cases>
 *       ok 1 formats_decimal
 *       # tests/test_x.c:42: expected a == b, got ...
 *       not ok 2 formats_hex
 *       ok 3 uses_pks # SKIP CPU has no PKS
 *   # printf: pass:2 fail:1 skip:0 total:3
 *   not ok 1 printf
 *   ...
 *   # Totals: pass:P fail:F skip:S total:T
 *   P passed, F failed, S skipped
 */
#include "kernel/ktest.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/io.h"

extern const struct ktest_suite *const __ktest_suites_start[];
extern const struct ktest_suite *const __ktest_suites_end[];
extern const struct ktest_case *const __ktest_cases_start[];
extern const struct ktest_case *const __ktest_cases_end[];

#define QEMU_DEBUG_EXIT_PORT 0xf4

static struct {
	int passed, failed, skipped;
} totals;

/* State of the case in progress. */
static struct {
	bool running;
	bool failed;
	bool skipped;
	char skip_reason[96];
} cur;

static int (*after_suite)(const char *suite);
static uint64_t seed = 1;

void ktest_set_after_suite(int (*fn)(const char *suite))
{
	after_suite = fn;
}

uint64_t ktest_seed(void)
{
	return seed;
}

void ktest_set_seed(uint64_t s)
{
	seed = s ? s : 1;
}

uint64_t ktest_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

void ktest_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kprintf("    # %s:%d: %s\n", file, line, msg);
	cur.failed = true;
}

void ktest_skip(const char *reason)
{
	cur.skipped = true;
	strncpy_z(cur.skip_reason, reason, sizeof(cur.skip_reason));
}

void ktest_note(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kprintf("    # %s\n", msg);
}

bool ktest_failed(void)
{
	return cur.failed;
}

/* True when `name` is one of the comma-separated words of filter. */
static bool filter_has(const char *filter, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = filter; *p;) {
		const char *end = p;

		while (*end && *end != ',')
			end++;
		if ((size_t)(end - p) == n && strncmp(p, name, n) == 0)
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

static bool suite_selected(const char *filter, const struct ktest_suite *s)
{
	if (!filter || !*filter)
		return !s->explicit_only;
	return filter_has(filter, s->name);
}

#define MAX_CASES_PER_SUITE 256

static bool case_before(const struct ktest_case *a, const struct ktest_case *b)
{
	int c = strcmp(a->file, b->file);

	return c < 0 || (c == 0 && a->line < b->line);
}

/* Collects the cases of `suite` into out[], in source order; returns how many. */
static int collect_cases(const char *suite, const struct ktest_case **out)
{
	int n = 0;

	for (const struct ktest_case *const *c = __ktest_cases_start; c < __ktest_cases_end; c++) {
		int i;

		if (strcmp((*c)->suite, suite) != 0)
			continue;
		if (n == MAX_CASES_PER_SUITE) {
			kprintf("# ktest: suite %s has more than %d cases; the rest do not run\n",
				suite, MAX_CASES_PER_SUITE);
			break;
		}
		for (i = n; i > 0 && case_before(*c, out[i - 1]); i--)
			out[i] = out[i - 1];
		out[i] = *c;
		n++;
	}
	return n;
}

/* Prints one case result line and adds it to the suite counts. */
static void report_case(int idx, const char *name, int *counts)
{
	if (cur.failed) {
		kprintf("    not ok %d %s\n", idx, name);
		counts[1]++;
	} else if (cur.skipped) {
		kprintf("    ok %d %s # SKIP %s\n", idx, name, cur.skip_reason);
		counts[2]++;
	} else {
		kprintf("    ok %d %s\n", idx, name);
		counts[0]++;
	}
}

/* Runs one case with a fresh state; a suite-wide skip reason skips it. */
static void run_case(const struct ktest_case *c, int idx, const char *skip, int *counts)
{
	cur.failed = false;
	cur.skipped = false;
	if (skip) {
		ktest_skip(skip);
	} else {
		cur.running = true;
		c->fn();
		cur.running = false;
	}
	report_case(idx, c->name, counts);
}

/* Runs suite s as subtest number idx; counts[] = pass, fail, skip. */
static void run_suite(const struct ktest_suite *s, int idx)
{
	static const struct ktest_case *cases[MAX_CASES_PER_SUITE];
	int counts[3] = { 0, 0, 0 }, n = collect_cases(s->name, cases), k = 0;
	const char *skip = s->skip_reason ? s->skip_reason() : NULL;

	kprintf("    KTAP version 1\n    # Subtest: %s\n    1..%d\n", s->name,
		n + (after_suite ? 1 : 0));
	for (int i = 0; i < n; i++)
		run_case(cases[i], ++k, skip, counts);
	if (after_suite) {
		cur.failed = after_suite(s->name) != 0;
		cur.skipped = false;
		report_case(++k, "page_tables_checked", counts);
	}
	kprintf("# %s: pass:%d fail:%d skip:%d total:%d\n", s->name, counts[0], counts[1],
		counts[2], k);
	if (counts[1])
		kprintf("not ok %d %s\n", idx, s->name);
	else if (counts[2] == k && k)
		kprintf("ok %d %s # SKIP %s\n", idx, s->name, skip ? skip : "all cases skipped");
	else
		kprintf("ok %d %s\n", idx, s->name);
	totals.passed += counts[0];
	totals.failed += counts[1];
	totals.skipped += counts[2];
}

/* Reports each word of filter that names no suite, as a failed line. */
static int report_unknown_suites(const char *filter, int idx)
{
	char word[64];

	for (const char *p = filter; p && *p;) {
		const char *end = p;
		bool found = false;

		while (*end && *end != ',')
			end++;
		strncpy_z(word, p, MIN((size_t)(end - p) + 1, sizeof(word)));
		for (const struct ktest_suite *const *s = __ktest_suites_start;
		     s < __ktest_suites_end; s++)
			found |= strcmp((*s)->name, word) == 0;
		if (!found && *word) {
			kprintf("not ok %d %s # no such test suite (ktest=%s)\n", ++idx, word,
				filter);
			totals.failed++;
		}
		p = *end ? end + 1 : end;
	}
	return idx;
}

/* Number of words in filter that name no suite. */
static int count_unknown(const char *filter)
{
	int n = 0;

	for (const char *p = filter; p && *p;) {
		const char *end = p;
		bool found = false;

		while (*end && *end != ',')
			end++;
		for (const struct ktest_suite *const *s = __ktest_suites_start;
		     s < __ktest_suites_end; s++)
			found |= strlen((*s)->name) == (size_t)(end - p) &&
				 strncmp((*s)->name, p, end - p) == 0;
		n += !found && end != p;
		p = *end ? end + 1 : end;
	}
	return n;
}

bool ktest_run_all(const char *filter)
{
	int n = 0, idx = 0;

	for (const struct ktest_suite *const *s = __ktest_suites_start; s < __ktest_suites_end; s++)
		n += suite_selected(filter, *s);
	kprintf("1..%d\n", n + count_unknown(filter));
	for (const struct ktest_suite *const *s = __ktest_suites_start; s < __ktest_suites_end; s++)
		if (suite_selected(filter, *s))
			run_suite(*s, ++idx);
	report_unknown_suites(filter, idx);
	kprintf("# Totals: pass:%d fail:%d skip:%d total:%d\n", totals.passed, totals.failed,
		totals.skipped, totals.passed + totals.failed + totals.skipped);
	return totals.failed == 0;
}

static void print_closing_line(void)
{
	kprintf("%d passed, %d failed, %d skipped\n", totals.passed, totals.failed, totals.skipped);
}

/* Spins for roughly `cycles` TSC ticks. */
static void spin_cycles(uint64_t cycles)
{
	uint64_t start = rdtsc();

	while (rdtsc() - start < cycles)
		cpu_relax();
}

/* Under a hypervisor, asks QEMU's isa-debug-exit to end the run (status 1 = all
 * passed, 3 = failures); then, or on hardware, idles re-printing the closing line
 * every few seconds for a serial console that attaches late. */
static __noreturn void end_run(void)
{
	print_closing_line();
	if (cpu.hypervisor)
		outb(QEMU_DEBUG_EXIT_PORT, totals.failed ? 1 : 0);
	for (;;) {
		spin_cycles(10ULL * 1000 * 1000 * 1000);
		print_closing_line();
	}
}

__noreturn void ktest_finish(void)
{
	cli();
	end_run();
}

__noreturn void ktest_abort(const char *reason)
{
	cli();
	if (cur.running) {
		kprintf("    not ok - case crashed: %s\n", reason);
		totals.failed++;
		cur.running = false;
	} else {
		totals.failed++;
	}
	kprintf("Bail out! %s\n", reason);
	end_run();
}
