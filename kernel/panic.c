/* kernel/panic.c - panic, backtraces, the report of an unexpected trap and of a
 * machine check. All begin the KTAP report if it has not begun; the console's line
 * hook turns their lines into "#" diagnostics, and ktest_abort() ends the report. */
#include "kernel/panic.h"
#include "kernel/catch.h"
#include "kernel/ktest.h"
#include "kernel/mce_report.h"
#include "kernel/nmi.h"
#include "kernel/printf.h"
#include "kernel/smp.h"
#include "arch/cpu.h"

static void (*pf_explainer)(const struct trap_frame *f);
static int fatal_depth;

int report_cpu_number(uint32_t apic_id, bool bsp)
{
	const struct smp_report *r = smp_report();

	if (bsp)
		return 0;
	for (int i = 0; i < r->nr_aps; i++)
		if (r->aps[i].apic_id == apic_id)
			return i + 1;
	return -1;
}

void panic_set_pf_explainer(void (*fn)(const struct trap_frame *f))
{
	pf_explainer = fn;
}

void backtrace(uint64_t rip, uint64_t rbp)
{
	struct fault f;

	kprintf("backtrace:\n");
	if (rip)
		kprintf("  [0] 0x%016llx\n", (unsigned long long)rip);
	for (int i = 1; i < 24 && rbp; i++) {
		uint64_t next, ret;

		if ((rbp & 7) || rbp < 0xffff800000000000ULL)
			break;
		next = catch_read64((const void *)rbp, &f);
		if (f.hit)
			break;
		ret = catch_read64((const void *)(rbp + 8), &f);
		if (f.hit || !ret)
			break;
		kprintf("  [%d] 0x%016llx\n", i, (unsigned long long)ret);
		if (next <= rbp)
			break;
		rbp = next;
	}
}

__noreturn void panic(const char *fmt, ...)
{
	static char reason[256];
	size_t len = ksnprintf(reason, sizeof(reason), "kernel panic: ");
	va_list ap;
	uint64_t rbp;

	cli();
	ktest_begin();
	va_start(ap, fmt);
	kvsnprintf(reason + len, sizeof(reason) - len, fmt, ap);
	va_end(ap);
	kprintf("\nPANIC: %s\n", reason + len);
	__asm__ volatile("mov %%rbp, %0" : "=r"(rbp));
	if (fatal_depth++ == 0) {
		backtrace((uint64_t)__builtin_return_address(0), rbp);
		nmi_report_pending();
	}
	ktest_abort(reason);
}

void pf_error_string(uint64_t err, char *buf, size_t size)
{
	static const char *const bits[] = { "P", "W", "U", "RSVD", "I/D", "PK", "SS" };
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < ARRAY_SIZE(bits); i++)
		if (err & (1u << i))
			len += ksnprintf(buf + len, size > len ? size - len : 0, "%s%s",
					 len ? " " : "", bits[i]);
	if (!len)
		ksnprintf(buf, size, "none (read of a not-present page)");
}

static void print_registers(const struct trap_frame *f)
{
	kprintf("RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", (unsigned long long)f->rax,
		(unsigned long long)f->rbx, (unsigned long long)f->rcx, (unsigned long long)f->rdx);
	kprintf("RSI=%016llx RDI=%016llx RBP=%016llx RSP=%016llx\n", (unsigned long long)f->rsi,
		(unsigned long long)f->rdi, (unsigned long long)f->rbp, (unsigned long long)f->rsp);
	kprintf("R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n", (unsigned long long)f->r8,
		(unsigned long long)f->r9, (unsigned long long)f->r10, (unsigned long long)f->r11);
	kprintf("R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n", (unsigned long long)f->r12,
		(unsigned long long)f->r13, (unsigned long long)f->r14, (unsigned long long)f->r15);
	kprintf("RFLAGS=%016llx CS=%04llx SS=%04llx PKRS=%08llx\n", (unsigned long long)f->rflags,
		(unsigned long long)f->cs, (unsigned long long)f->ss, (unsigned long long)f->pkrs);
}

__noreturn void trap_fatal(struct trap_frame *f)
{
	char err[64];

	cli();
	if (f->vector == VEC_MC)
		mce_fatal(f);
	ktest_begin();
	if (fatal_depth++) {
		kprintf("\nFATAL: %s while reporting a fatal error (RIP %016llx)\n",
			trap_name(f->vector), (unsigned long long)f->rip);
		ktest_abort("nested fatal exception");
	}
	kprintf("\nFATAL: unexpected exception %llu %s", (unsigned long long)f->vector,
		trap_name(f->vector));
	if (trap_has_error_code(f->vector))
		kprintf(", error code 0x%llx", (unsigned long long)f->error);
	kprintf("\n");
	if (f->vector == VEC_PF) {
		pf_error_string(f->error, err, sizeof(err));
		kprintf("page fault at 0x%016llx: %s\n", (unsigned long long)read_cr2(), err);
		if (pf_explainer)
			pf_explainer(f);
	}
	kprintf("RIP=%016llx CR2=%016llx CR3=%016llx CR0=%08llx CR4=%08llx\n",
		(unsigned long long)f->rip, (unsigned long long)read_cr2(),
		(unsigned long long)read_cr3(), (unsigned long long)read_cr0(),
		(unsigned long long)read_cr4());
	print_registers(f);
	backtrace(f->rip, f->rbp);
	nmi_report_pending();
	ktest_abort(trap_name(f->vector));
}
