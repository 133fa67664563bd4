/* tests/test_thread.c - cooperative kernel threads: create, yield, exit, join (and a
 * bounded wait), own
 * stacks with guard markers, a stack overflow caught as a guard page hit. Runs with and without PKS
 * (per-thread PKRS is tested in the pks suite). */
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/percpu.h"
#include "kernel/pks.h"
#include "kernel/thread.h"
#include "mm/frame.h"

KTEST_SUITE(11, thread, NULL);

static char trace[64];
static int trace_len;

static void trace_reset(void)
{
	memset(trace, 0, sizeof(trace));
	trace_len = 0;
}

static void trace_add(char c)
{
	if (trace_len < (int)sizeof(trace) - 1)
		trace[trace_len++] = c;
}

static void add_arg(void *arg)
{
	*(int *)arg += 42;
}

KTEST(thread, boot_context_is_thread_0)
{
	struct thread *t = thread_current();

	KEXPECT_EQ(thread_id(t), 0);
	KEXPECT_STREQ(thread_name(t), "boot");
	KEXPECT_EQ(thread_count(), 0);
}

KTEST(thread, created_thread_runs_fn_with_arg_once_joined)
{
	int value = 1;
	struct thread *t = thread_create("adder", add_arg, &value);

	KASSERT_TRUE(t != NULL);
	KEXPECT_GT(thread_id(t), 0);
	KEXPECT_STREQ(thread_name(t), "adder");
	KEXPECT_EQ(value, 1); /* create does not switch */
	KEXPECT_EQ(thread_count(), 1);
	thread_join(t);
	KEXPECT_EQ(value, 43);
	KEXPECT_EQ(thread_count(), 0);
}

/* Appends its letter (arg), yields, three times. */
static void ping(void *arg)
{
	for (int i = 0; i < 3; i++) {
		trace_add((char)(uintptr_t)arg + i);
		thread_yield();
	}
}

KTEST(thread, yield_runs_threads_round_robin_in_creation_order)
{
	struct thread *a, *b;

	trace_reset();
	a = thread_create("a", ping, (void *)(uintptr_t)'a');
	b = thread_create("b", ping, (void *)(uintptr_t)'A');
	KEXPECT_TRUE(a && b);
	thread_yield(); /* one round: a, b, back here */
	trace_add('0');
	if (a)
		thread_join(a);
	if (b)
		thread_join(b);
	KEXPECT_STREQ(trace, "aA0bBcC");
}

/* Exits from two calls deep; the trace must not get an 'x' after it. */
static void __attribute__((noinline)) exit_inner(void)
{
	trace_add('e');
	thread_exit();
}

static void __attribute__((noinline)) exit_outer(void)
{
	exit_inner();
	trace_add('x');
}

static void exiter(void *arg)
{
	(void)arg;
	exit_outer();
	trace_add('x');
}

KTEST(thread, exit_from_a_nested_call_ends_the_thread)
{
	struct thread *t;

	trace_reset();
	t = thread_create("exiter", exiter, NULL);
	KASSERT_TRUE(t != NULL);
	thread_join(t);
	KEXPECT_STREQ(trace, "e");
}

/* Keeps values live across yields (in callee-saved registers at -O2) and checks
 * them: a switch that lost a register would change the sums. */
static void summer(void *arg)
{
	uint64_t *out = arg, a = (uint64_t)arg, b = 7, c = 0;

	for (int i = 0; i < 50; i++) {
		b = b * 31 + (uint64_t)i;
		c += b ^ a;
		thread_yield();
	}
	*out = c;
}

/* The value summer() computes without any switches. */
static uint64_t summer_expected(uint64_t a)
{
	uint64_t b = 7, c = 0;

	for (int i = 0; i < 50; i++) {
		b = b * 31 + (uint64_t)i;
		c += b ^ a;
	}
	return c;
}

KTEST(thread, locals_survive_many_switches)
{
	static uint64_t out[3];
	struct thread *t[3];

	for (int i = 0; i < 3; i++)
		KEXPECT_TRUE((t[i] = thread_create("summer", summer, &out[i])) != NULL);
	for (int i = 0; i < 3; i++)
		if (t[i])
			thread_join(t[i]);
	for (int i = 0; i < 3; i++)
		KEXPECT_EQ(out[i], summer_expected((uint64_t)&out[i]));
}

static void record_stack(void *arg)
{
	volatile uint64_t local = 0;

	*(uint64_t *)arg = (uint64_t)&local;
}

KTEST(thread, each_thread_runs_on_its_own_guarded_stack)
{
	uint64_t sp[2] = { 0, 0 }, lo[2], hi[2];
	struct thread *t[2];
	struct fault f;

	for (int i = 0; i < 2; i++)
		t[i] = thread_create("stack", record_stack, &sp[i]);
	if (!t[0] || !t[1]) {
		ktest_fail(__FILE__, __LINE__, "thread_create failed");
		for (int i = 0; i < 2; i++)
			if (t[i])
				thread_join(t[i]);
		return;
	}
	for (int i = 0; i < 2; i++) {
		thread_stack_bounds(t[i], &lo[i], &hi[i]);
		KEXPECT_EQ(hi[i] - lo[i], THREAD_STACK_PAGES * PAGE_SIZE);
		/* The page below the stack and the one above carry guard markers. */
		catch_read8((const void *)(lo[i] - 1), &f);
		KEXPECT_GUARD_PF(&f, 0, lo[i] - 1);
		KEXPECT_TRUE(ktest_contains(f.detail, "in \"stack stack\""));
		catch_read8((const void *)hi[i], &f);
		KEXPECT_GUARD_PF(&f, 0, hi[i]);
	}
	for (int i = 0; i < 2; i++)
		thread_join(t[i]);
	for (int i = 0; i < 2; i++) {
		KEXPECT_TRUE(sp[i] >= lo[i] && sp[i] < hi[i]);
		/* join freed the stack and its markers: it is unmapped now. */
		catch_read8((const void *)(hi[i] - 8), &f);
		KEXPECT_PF(&f, 0, hi[i] - 8);
		catch_read8((const void *)(lo[i] - 1), &f);
		KEXPECT_PF(&f, 0, lo[i] - 1);
		KEXPECT_EQ(f.cause, FAULT_OTHER);
	}
	KEXPECT_TRUE(hi[0] <= lo[1] || hi[1] <= lo[0]);
}

static void noop(void *arg)
{
	(void)arg;
}

/* Creates and joins n threads. */
static void churn(int n)
{
	for (int i = 0; i < n; i++) {
		struct thread *t = thread_create("churn", noop, NULL);

		KEXPECT_TRUE(t != NULL);
		if (!t)
			return;
		thread_join(t);
	}
}

KTEST(thread, join_returns_every_stack_frame)
{
	uint64_t before;

	churn(4); /* warms up the table cache */
	before = frame_free_count();
	churn(16);
	KEXPECT_EQ(frame_free_count(), before);
	KEXPECT_EQ(thread_count(), 0);
}

static void read_pkrs(void *arg)
{
	*(uint32_t *)arg = pks_read();
}

KTEST(thread, new_thread_starts_with_the_default_pkrs)
{
	uint32_t seen = 0xdeadbeef;
	struct thread *t = thread_create("pkrs", read_pkrs, &seen);

	KASSERT_TRUE(t != NULL);
	KEXPECT_EQ(thread_saved_pkrs(t), pks_default());
	thread_join(t);
	KEXPECT_EQ(seen, pks_default()); /* 0 == 0 without PKS */
	KEXPECT_EQ(thread_saved_pkrs(thread_current()), pks_read());
}

KTEST(thread, creation_beyond_thread_max_fails_and_frees_its_stack)
{
	static struct thread *t[THREAD_MAX];
	uint64_t before = frame_free_count();
	int n = 0;

	while (n < THREAD_MAX && (t[n] = thread_create("many", noop, NULL)))
		n++;
	KEXPECT_EQ(n, THREAD_MAX - 1); /* thread 0 holds the first slot */
	KEXPECT_TRUE(thread_create("one too many", noop, NULL) == NULL);
	while (n > 0)
		thread_join(t[--n]);
	KEXPECT_EQ(thread_count(), 0);
	KEXPECT_EQ(frame_free_count(), before);
}

static volatile uint64_t recursion_limit = ~0ULL; /* never reached: the stack ends first */

/* Recurses with a 512-byte frame until the stack runs out. The asm keeps the frame
 * alive across the call, so the compiler cannot turn this into a loop. */
static __attribute__((noinline)) uint64_t recurse(uint64_t depth)
{
	volatile uint8_t frame[512];
	uint64_t r;

	frame[0] = (uint8_t)depth;
	if (depth >= recursion_limit)
		return depth;
	r = recurse(depth + 1);
	__asm__ volatile("" : : "r"(frame) : "memory");
	return r + frame[0];
}

static void recurse_forever(void *arg)
{
	*(uint64_t *)arg = recurse(0);
}

struct overflow {
	struct fault f;
	uint64_t lo, hi, sink;
};

/* Runs the recursion under a catch on its own stack and records the bounds. */
static void overflow_thread(void *arg)
{
	struct overflow *o = arg;

	thread_stack_bounds(thread_current(), &o->lo, &o->hi);
	catch_run(recurse_forever, &o->sink, &o->f);
}

/* The overflowing push faults on a marker; the CPU cannot push that #PF's frame
 * onto the same stack and raises #DF on the IST stack, which the guard layer
 * recognises (CR2 a marker just below the interrupted RSP). */
KTEST(thread, stack_overflow_ends_in_a_guard_page_hit_naming_its_stack)
{
	static struct overflow o;
	struct thread *t = thread_create("deep", overflow_thread, &o);

	KASSERT_TRUE(t != NULL);
	thread_join(t);
	KEXPECT_FAULT(&o.f, VEC_DF);
	KEXPECT_EQ(o.f.cause, FAULT_GUARD);
	KEXPECT_TRUE(o.f.addr < o.lo && o.f.addr >= o.lo - THREAD_GUARD_PAGES * PAGE_SIZE);
	KEXPECT_TRUE(ktest_contains(o.f.detail, "guard page hit: write (stack overflow"));
	KEXPECT_TRUE(ktest_contains(o.f.detail, "in \"stack deep\""));
	ktest_note("%s", o.f.detail);
	KEXPECT_EQ(thread_count(), 0);
}

static volatile int release;

static void record_cpu(void *p)
{
	*(int *)p = this_cpu_id();
}

/* Yields until released. */
static void wait_for_release(void *unused)
{
	(void)unused;
	while (!release)
		thread_yield();
}

KTEST(thread, a_bounded_wait_for_a_thread_that_does_not_exit_times_out_and_it_stays_joinable)
{
	struct thread *t;

	release = 0;
	t = thread_create("waiter", wait_for_release, NULL);
	KASSERT_TRUE(t != NULL);
	KEXPECT_EQ(thread_wait_exit(t, 5), -ETIMEDOUT);
	KEXPECT_EQ(thread_wait_exit(thread_current(), 5), -EINVAL);
	KEXPECT_EQ(thread_count(), 1);
	release = 1;
	KEXPECT_EQ(thread_wait_exit(t, 1000), 0);
	thread_join(t);
	KEXPECT_EQ(thread_count(), 0);
}

KTEST(thread, a_thread_runs_on_the_cpu_that_created_it)
{
	int cpu = -1;
	struct thread *t = thread_create("where", record_cpu, &cpu);

	KASSERT_TRUE(t != NULL);
	thread_join(t);
	KEXPECT_EQ(cpu, this_cpu_id());
}
