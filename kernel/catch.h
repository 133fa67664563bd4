/* kernel/catch.h - run one access, catch the exception it raises, report it.
 *
 *   struct fault f;
 *   catch_write64(va, 0x1234, &f);
 *   KEXPECT_PF(&f, PF_P | PF_W | PF_PK, va);
 *
 * While a catch is armed, any exception vector except NMI, #DF and #MC that the
 * called code raises is recorded and execution resumes after the catch as if the
 * called function had returned; IA32_PKRS is set back to its value at the catch,
 * except that the page-table key is always closed on that resume (arch/trap_pkrs.h:
 * trap_pkrs_closed), so a catch armed inside a write window resumes outside it.
 * A #DF is caught too when it is a stack overflow into a guard marker (the CPU
 * could not push the #PF frame; mm/guard.h): the catch's own stack is above it.
 * A fault on a guard marker has cause FAULT_GUARD and its report line in `detail`.
 * Every probe is one real load, store or call instruction in inline assembly.
 */
#ifndef KERNEL_CATCH_H
#define KERNEL_CATCH_H

#include "kernel/types.h"
#include "kernel/ktest.h"
#include "arch/trap.h"

enum fault_cause {
	FAULT_OTHER, /* anything but a guard marker */
	FAULT_GUARD, /* an access to a guard marker (#PF, or #DF on a stack overflow) */
};

struct fault {
	bool hit; /* an exception was caught */
	uint8_t vector;
	uint64_t error; /* error code (0 for vectors without one) */
	uint64_t addr;	/* CR2 for #PF and a caught #DF, else 0 */
	uint64_t rip;	/* where it happened */
	enum fault_cause cause;
	char detail[160]; /* FAULT_GUARD: "guard page hit: ..." (mm/guard.h) */
};

/* "guard" or "other". */
const char *fault_cause_name(enum fault_cause c);

/* Calls fn(arg) with a catch armed. Returns true when it faulted (*f filled). */
bool catch_run(void (*fn)(void *), void *arg, struct fault *f);

/* Single accesses. Reads return the value read (0 when they faulted). */
uint8_t catch_read8(const volatile void *va, struct fault *f);
uint64_t catch_read64(const volatile void *va, struct fault *f);
void catch_write8(volatile void *va, uint8_t v, struct fault *f);
void catch_write64(volatile void *va, uint64_t v, struct fault *f);
/* Calls the code at va (which should be a `ret` if it runs at all). */
void catch_exec(const void *va, struct fault *f);

/* The innermost armed catch, as an opaque mark for catch_drop_to(). */
const void *catch_mark(void);
/* Disarms every catch armed since `mark` was taken, running nothing: for a catch
 * that a CPU stopped with INIT left armed (kernel/smp.c). */
void catch_drop_to(const void *mark);

/* The PKRS saved by the innermost armed catch (NULL when none is): a word on a
 * writable stack, which the attack suite overwrites as one stray store would. */
uint64_t *catch_saved_pkrs(void);

/* Installs the catcher as the first trap handler. */
void catch_init(void);

/* Expectations on a struct fault, for tests. */
#define KEXPECT_NO_FAULT(f)                                                                      \
	do {                                                                                     \
		if ((f)->hit)                                                                    \
			ktest_fail(__FILE__, __LINE__,                                           \
				   "unexpected %s, error 0x%llx, addr 0x%llx, rip 0x%llx",       \
				   trap_name((f)->vector), (unsigned long long)(f)->error,       \
				   (unsigned long long)(f)->addr, (unsigned long long)(f)->rip); \
	} while (0)

#define KEXPECT_FAULT(f, vec)                                                                    \
	do {                                                                                     \
		if (!(f)->hit)                                                                   \
			ktest_fail(__FILE__, __LINE__, "expected %s, no fault", trap_name(vec)); \
		else if ((f)->vector != (vec))                                                   \
			ktest_fail(__FILE__, __LINE__, "expected %s, got %s", trap_name(vec),    \
				   trap_name((f)->vector));                                      \
	} while (0)

/* A #PF with exactly this error code at exactly this address. */
#define KEXPECT_PF(f, err, address)                                 \
	do {                                                        \
		KEXPECT_FAULT(f, VEC_PF);                           \
		if ((f)->hit && (f)->vector == VEC_PF) {            \
			KEXPECT_EQ((f)->error, (err));              \
			KEXPECT_EQ((f)->addr, (uint64_t)(address)); \
		}                                                   \
	} while (0)

/* A #PF with this error code at this address, on a guard marker. */
#define KEXPECT_GUARD_PF(f, err, address)                                                     \
	do {                                                                                  \
		KEXPECT_PF(f, err, address);                                                  \
		if ((f)->hit && (f)->cause != FAULT_GUARD)                                    \
			ktest_fail(__FILE__, __LINE__, "cause %s, expected guard",            \
				   fault_cause_name((f)->cause));                             \
		else if ((f)->hit && !ktest_contains((f)->detail, "guard page hit"))          \
			ktest_fail(__FILE__, __LINE__, "no guard report: '%s'", (f)->detail); \
	} while (0)

#endif
