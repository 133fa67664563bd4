/* kernel/catch.c - the fault catcher behind kernel/catch.h. */
#include "kernel/catch.h"
#include "kernel/percpu.h"
#include "mm/guard.h"
#include "arch/cpu.h"
#include "arch/trap_pkrs.h"
#include "mm/pt_door.h"

/* Saved by catch_call (arch/context.asm); layout fixed there. */
struct catch_ctx {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp;
	uint64_t pkrs; /* PKRS at the catch, restored on a fault (the table key closed) */
	struct fault *f;
	struct catch_ctx *outer;
};

int catch_call(void (*fn)(void *), void *arg, struct catch_ctx *ctx);
void catch_resume(void);

/* The innermost armed catch of this CPU: each CPU catches its own faults. */
#define current (*(struct catch_ctx **)&this_cpu()->catch_current)

const char *fault_cause_name(enum fault_cause c)
{
	return c == FAULT_GUARD ? "guard" : "other";
}

/* Trap hook: records the fault and resumes at the innermost catch. A #DF only when
 * it is a guard hit (a stack overflow), never NMI or #MC. The resume loads the PKRS
 * saved at the catch with the guarded key closed whatever that stack word says: the
 * catch lives on a writable stack, and a fault inside a write window lists its frame
 * (arch/trap_pkrs.h), whose exit would load the saved value unchecked. */
static bool catch_trap(struct trap_frame *tf)
{
	struct catch_ctx *c = current;
	uint64_t cr2;
	bool guard;

	if (!c || tf->vector >= 32 || tf->vector == VEC_NMI || tf->vector == VEC_MC)
		return false;
	cr2 = tf->vector == VEC_PF || tf->vector == VEC_DF ? read_cr2() : 0;
	guard = guard_describe(tf, cr2, c->f->detail, sizeof(c->f->detail));
	if (tf->vector == VEC_DF && !guard)
		return false;
	c->f->hit = true;
	c->f->vector = (uint8_t)tf->vector;
	c->f->error = tf->error;
	c->f->addr = cr2;
	c->f->rip = tf->rip;
	c->f->cause = guard ? FAULT_GUARD : FAULT_OTHER;
	tf->rip = (uint64_t)catch_resume;
	tf->rdi = (uint64_t)c;
	tf->rsp = c->rsp;
	tf->rflags &= ~(RFLAGS_TF | RFLAGS_AC);
	tf->pkrs = trap_pkrs_closed((uint32_t)c->pkrs);
	pt_window_forget_all(); /* the key is closed from here on: no window is open */
	return true;
}

const void *catch_mark(void)
{
	return current;
}

void catch_drop_to(const void *mark)
{
	current = (struct catch_ctx *)mark;
	barrier();
}

uint64_t *catch_saved_pkrs(void)
{
	return current ? &current->pkrs : NULL;
}

void catch_init(void)
{
	trap_set_catch_hook(catch_trap);
}

bool catch_run(void (*fn)(void *), void *arg, struct fault *f)
{
	struct catch_ctx ctx = { .f = f, .outer = current };
	bool faulted;

	*f = (struct fault){ 0 };
	ctx.pkrs = trap_pkrs_managed ? rdmsr(MSR_IA32_PKRS) : 0;
	current = &ctx;
	barrier();
	faulted = catch_call(fn, arg, &ctx) != 0;
	barrier();
	current = ctx.outer;
	return faulted;
}

struct access {
	volatile void *va;
	uint64_t value;
};

static void do_read8(void *p)
{
	struct access *a = p;
	uint8_t v;

	__asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(a->va) : "memory");
	a->value = v;
}

static void do_read64(void *p)
{
	struct access *a = p;
	uint64_t v;

	__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(a->va) : "memory");
	a->value = v;
}

static void do_write8(void *p)
{
	struct access *a = p;

	__asm__ volatile("movb %1, (%0)" : : "r"(a->va), "q"((uint8_t)a->value) : "memory");
}

static void do_write64(void *p)
{
	struct access *a = p;

	__asm__ volatile("movq %1, (%0)" : : "r"(a->va), "r"(a->value) : "memory");
}

static void do_exec(void *p)
{
	struct access *a = p;

	__asm__ volatile("call *%0"
			 :
			 : "r"(a->va)
			 : "memory", "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
}

uint8_t catch_read8(const volatile void *va, struct fault *f)
{
	struct access a = { (volatile void *)va, 0 };

	return catch_run(do_read8, &a, f) ? 0 : (uint8_t)a.value;
}

uint64_t catch_read64(const volatile void *va, struct fault *f)
{
	struct access a = { (volatile void *)va, 0 };

	return catch_run(do_read64, &a, f) ? 0 : a.value;
}

void catch_write8(volatile void *va, uint8_t v, struct fault *f)
{
	struct access a = { va, v };

	catch_run(do_write8, &a, f);
}

void catch_write64(volatile void *va, uint64_t v, struct fault *f)
{
	struct access a = { va, v };

	catch_run(do_write64, &a, f);
}

void catch_exec(const void *va, struct fault *f)
{
	struct access a = { (volatile void *)va, 0 };

	catch_run(do_exec, &a, f);
}
