/* kernel/ktest.c - runs the registered suites and prints the KTAP version 1 report.
 *
 *   KTAP version 1                                   <- ktest_begin(), on a fresh line
 *   1..<suites>
 *   # <header lines>
 *       KTAP version 1
 *       # Subtest: printf
 *       1..<cases + 1>
 *       ok 1 formats_decimal
 *       # tests/test_x.c:42: expected a == b, got ...
 *       not ok 2 formats_hex
 *       ok 3 uses_pks # SKIP CPU has no PKS
 *       # checker (after printf): ...
 *       ok 4 page_tables_checked
 *       # printf: pass:2 fail:1 skip:1 total:4
 *   not ok 1 printf
 *   ...
 *   # Totals: pass:P fail:F skip:S total:T
 *   P passed, F failed, S skipped
 *
 * Every other line printed while the report runs becomes a "#" diagnostic at the
 * depth of the test in progress (the console's line hook). After a crash
 * (ktest_abort) the case in progress ends "not ok N name # crashed: reason", every
 * planned line not reached yet "not ok N name # not run: reason", then come the
 * totals, "Bail out! reason" and the closing line: the counts are those of the leaf
 * result lines, as a KTAP parser counts them (a suite that never ran is one leaf).
 */
#include "kernel/ktest.h"
#include "kernel/ktest_filter.h"
#include "kernel/printf.h"
#include "kernel/smp_ipi.h"
#include "arch/cpu.h"
#include "arch/io.h"
#include "arch/tsc.h"

extern const struct ktest_suite *const __ktest_suites_start[];
extern const struct ktest_suite *const __ktest_suites_end[];
extern const struct ktest_case *const __ktest_cases_start[];
extern const struct ktest_case *const __ktest_cases_end[];

#define QEMU_DEBUG_EXIT_PORT 0xf4
#define MAX_CASES_PER_SUITE  256
#define CHECKED_NAME	     "page_tables_checked" /* the after-suite line */

static struct {
	int passed, failed, skipped;
} totals;

/* The report as printed so far. */
static struct {
	bool begun; /* version and plan printed */
	bool aborting;
	int done;	/* top-level result lines printed */
	int depth;	/* 1 while a suite's subtest is open */
	bool harness;	/* the line in print is one of the harness's own, */
	int line_depth; /* to go out at this depth; */
	bool line_out;	/* its first character has gone out; */
	char line[512]; /* its text */
} report;

/* The suite in progress (suite == NULL between suites). */
static struct {
	const struct ktest_suite *suite;
	const struct ktest_case **cases;
	int idx;       /* its top-level number */
	int n;	       /* cases */
	int planned;   /* cases + the checker line */
	int reported;  /* result lines printed */
	bool open;     /* subtest header printed */
	int counts[3]; /* pass, fail, skip */
	uint64_t t0;   /* TSC when it began */
} run;

/* State of the case in progress. */
static struct {
	bool running;
	bool failed;
	bool skipped;
	char skip_reason[96];
	void (*context)(const void *arg); /* printed before the first failure under it */
	const void *context_arg;
	bool context_printed;
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

/* The console's line hook: harness lines go out at their own depth, everything else
 * as a "#" diagnostic at the depth of the test in progress. */
static const char *line_prefix(char first)
{
	static const char *const indent[] = { "", "    " };
	static const char *const note[] = { "# ", "    # " };
	int d = report.harness ? report.line_depth : report.depth;

	report.line_out = report.harness;
	return report.harness || first == '#' ? indent[d] : note[d];
}

/* Prints one line of the harness's own (version, plan, result) at `depth`, on a
 * fresh line. What the line reports is counted before it is printed, so that an
 * abort which cuts it short (finish_cut_line) finds the counts agreeing with it. */
static __printf(2, 3) void ktap_line(int depth, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(report.line, sizeof(report.line), fmt, ap);
	va_end(ap);
	console_fresh_line();
	report.line_out = false;
	report.line_depth = depth;
	report.harness = true;
	kprintf("%s", report.line);
	report.harness = false;
}

/* An abort that interrupted a harness line (an asynchronous fatal trap such as a
 * machine check): the line is ended if it had begun, else printed whole. A cut inside
 * its leading "ok N" stays malformed: no byte count of the console says how far the
 * line got. */
static void finish_cut_line(void)
{
	char text[sizeof(report.line)];

	if (!report.harness)
		return;
	report.harness = false;
	if (report.line_out) {
		console_fresh_line();
		return;
	}
	strncpy_z(text, report.line, sizeof(text));
	ktap_line(report.line_depth, "%s", text);
}

bool ktest_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; hay && *hay; hay++)
		if (strncmp(hay, needle, n) == 0)
			return true;
	return false;
}

void ktest_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (smp_ktest_collect(file, line, msg))
		return; /* a part run on every CPU: reported per CPU (kernel/smp_ipi.h) */
	if (cur.context && !cur.context_printed) {
		cur.context_printed = true;
		cur.context(cur.context_arg);
	}
	kprintf("# %s:%d: %s\n", file, line, msg);
	cur.failed = true;
}

void ktest_set_context(void (*print)(const void *arg), const void *arg)
{
	cur.context = print;
	cur.context_arg = arg;
	cur.context_printed = false;
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
	kprintf("# %s\n", msg);
}

bool ktest_failed(void)
{
	int here = smp_ktest_failed_here();

	if (here >= 0)
		return here;
	return cur.failed;
}

/* Counts the words of the filter that name no suite; when print is true, reports
 * each one (numbered from idx + 1) not reported yet as a failed top-level line. */
static int unknown_suites(int idx, bool print)
{
	char word[64];
	int nr = 0;

	while (ktest_filter_unknown(nr, word, sizeof(word))) {
		nr++;
		if (!print || nr + idx <= report.done)
			continue;
		ktap_line(0, "not ok %d %s # no such test suite (ktest=%s)\n", nr + idx, word,
			  ktest_filter());
		report.done = nr + idx;
		totals.failed++;
	}
	return nr;
}

void ktest_begin(void)
{
	finish_cut_line();
	if (report.begun)
		return;
	report.begun = true;
	console_write("\n", 1); /* the loader may leave a partial line */
	console_set_line_hook(line_prefix);
	ktap_line(0, "KTAP version 1\n");
	ktap_line(0, "1..%d\n", ktest_filter_nr_selected() + unknown_suites(0, false));
}

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

/* Prints the result line of the suite's next item and adds it to the suite counts. */
static void report_item(const char *name)
{
	int k = ++run.reported;

	if (cur.failed) {
		run.counts[1]++;
		ktap_line(1, "not ok %d %s\n", k, name);
	} else if (cur.skipped) {
		run.counts[2]++;
		ktap_line(1, "ok %d %s # SKIP %s\n", k, name, cur.skip_reason);
	} else {
		run.counts[0]++;
		ktap_line(1, "ok %d %s\n", k, name);
	}
}

/* Runs one case with a fresh state; a suite-wide skip reason skips it. */
static void run_case(const struct ktest_case *c, const char *skip)
{
	cur.failed = false;
	cur.skipped = false;
	ktest_set_context(NULL, NULL);
	if (skip) {
		ktest_skip(skip);
	} else {
		cur.running = true;
		c->fn();
		cur.running = false;
	}
	report_item(c->name);
}

/* The after-suite hook (the page-table checker) as the suite's last line. */
static void run_checker(const char *suite)
{
	cur.skipped = false;
	cur.running = true;
	cur.failed = after_suite(suite) != 0;
	cur.running = false;
	report_item(CHECKED_NAME);
}

/* Prints the suite's totals and its top-level result line; adds its counts to the
 * run's. A not-ok suite without any line counts as one failure, as parsers count it. */
static void finish_suite(bool crashed, const char *skip)
{
	const char *name = run.suite->name;
	int *c = run.counts, k = run.reported;

	kprintf("# %s: pass:%d fail:%d skip:%d total:%d time:%llu ms\n", name, c[0], c[1], c[2], k,
		(unsigned long long)((rdtsc() - run.t0) / (tsc_khz() ?: 1)));
	report.depth = 0;
	report.done = run.idx;
	totals.passed += c[0];
	totals.failed += c[1] + (crashed && !k);
	totals.skipped += c[2];
	run.suite = NULL;
	if (crashed || c[1])
		ktap_line(0, "not ok %d %s\n", report.done, name);
	else if (c[2] == k && k)
		ktap_line(0, "ok %d %s # SKIP %s\n", report.done, name,
			  skip ? skip : "all cases skipped");
	else
		ktap_line(0, "ok %d %s\n", report.done, name);
}

/* Runs suite s as top-level test number idx. */
static void run_suite(const struct ktest_suite *s, int idx)
{
	static const struct ktest_case *cases[MAX_CASES_PER_SUITE];
	const char *skip;

	run = (typeof(run)){ .suite = s, .cases = cases, .idx = idx, .t0 = rdtsc() };
	run.n = collect_cases(s->name, cases);
	run.planned = run.n + (after_suite ? 1 : 0);
	ktap_line(1, "KTAP version 1\n");
	ktap_line(1, "# Subtest: %s\n", s->name);
	ktap_line(1, "1..%d\n", run.planned);
	run.open = true;
	report.depth = 1;
	skip = s->skip_reason ? s->skip_reason() : NULL;
	for (int i = 0; i < run.n; i++)
		run_case(cases[i], skip);
	if (after_suite)
		run_checker(s->name);
	finish_suite(false, skip);
}

static void print_totals(void)
{
	kprintf("# Totals: pass:%d fail:%d skip:%d total:%d\n", totals.passed, totals.failed,
		totals.skipped, totals.passed + totals.failed + totals.skipped);
}

bool ktest_run_all(void)
{
	int idx = 0;

	ktest_begin();
	for (const struct ktest_suite *const *s = __ktest_suites_start; s < __ktest_suites_end; s++)
		if (ktest_filter_selects(*s))
			run_suite(*s, ++idx);
	unknown_suites(idx, true);
	print_totals();
	return totals.failed == 0;
}

static void print_closing_line(void)
{
	ktap_line(0, "%d passed, %d failed, %d skipped\n", totals.passed, totals.failed,
		  totals.skipped);
}

/* Under a hypervisor, asks QEMU's isa-debug-exit to end the run (status 1 = all
 * passed, 3 = failures or a bail-out); then, or on hardware, idles re-printing the
 * closing line every 10 s (TSC time) for a serial console that attaches late. */
static __noreturn void end_run(void)
{
	print_closing_line();
	if (cpu.hypervisor)
		outb(QEMU_DEBUG_EXIT_PORT, totals.failed || report.aborting ? 1 : 0);
	for (;;) {
		tsc_udelay(10ULL * 1000 * 1000);
		print_closing_line();
	}
}

__noreturn void ktest_finish(void)
{
	cli();
	end_run();
}

/* Ends the suite in progress after a crash: the item in progress "crashed", the
 * rest of its plan "not run", then the suite's own line. */
static void close_crashed_suite(const char *reason)
{
	if (!run.open) {
		ktap_line(0, "not ok %d %s # crashed: %s\n", run.idx, run.suite->name, reason);
		report.done = run.idx;
		totals.failed++;
		run.suite = NULL;
		return;
	}
	for (int k = run.reported; k < run.planned; k++) {
		const char *what = k == run.reported && cur.running ? "crashed" : "not run";

		ktap_line(1, "not ok %d %s # %s: %s\n", k + 1,
			  k < run.n ? run.cases[k]->name : CHECKED_NAME, what, reason);
		run.counts[1]++;
	}
	run.reported = run.planned;
	cur.running = false;
	finish_suite(true, NULL);
}

/* Reports every top-level test of the plan not reported yet as not run. */
static void report_rest_not_run(const char *reason)
{
	int idx = 0;

	for (const struct ktest_suite *const *s = __ktest_suites_start; s < __ktest_suites_end;
	     s++) {
		if (!ktest_filter_selects(*s) || ++idx <= report.done)
			continue;
		ktap_line(0, "not ok %d %s # not run: %s\n", idx, (*s)->name, reason);
		report.done = idx;
		totals.failed++;
	}
	unknown_suites(idx, true);
}

__noreturn void ktest_abort(const char *reason)
{
	cli();
	if (report.aborting) /* a fault while reporting the first one */
		end_run();
	report.aborting = true;
	ktest_begin();
	if (run.suite)
		close_crashed_suite(reason);
	report.depth = 0;
	report_rest_not_run(reason);
	print_totals();
	ktap_line(0, "Bail out! %s\n", reason);
	end_run();
}
