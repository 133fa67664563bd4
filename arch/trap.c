/* arch/trap.c - IDT, 8259 masking, and the dispatch of every trap to its handlers. */
#include "arch/trap.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "arch/gdt.h"
#include "arch/io.h"
#include "arch/mce.h"

#define HANDLERS_PER_VECTOR 4
#define APIC_BASE_BSP_FLAG  (1ULL << 8) /* IA32_APIC_BASE: SDM Vol. 3A, 11.4.4 */

struct idt_gate {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type; /* 0x8e: present, DPL 0, 64-bit interrupt gate */
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
} __packed;
_Static_assert(sizeof(struct idt_gate) == 16, "IDT gates are 16 bytes");

extern const uint64_t trap_stub_table[256];

static struct idt_gate idt[256] __aligned(16);
static trap_handler_t handlers[256][HANDLERS_PER_VECTOR];
static trap_handler_t catch_hook;
static void (*fatal_hook)(struct trap_frame *f);

/* Unexpected NMIs, one slot per CPU that took any (claimed by APIC ID + 1). */
static struct trap_nmi_cpu nmi_cpus[TRAP_NMI_CPUS];
static volatile uint32_t nmi_untracked; /* NMIs of CPUs that found no free slot */

static const char *const names[32] = {
	"#DE divide error",
	"#DB debug",
	"NMI",
	"#BP breakpoint",
	"#OF overflow",
	"#BR bound range",
	"#UD invalid opcode",
	"#NM device not available",
	"#DF double fault",
	"coprocessor segment overrun",
	"#TS invalid TSS",
	"#NP segment not present",
	"#SS stack fault",
	"#GP general protection",
	"#PF page fault",
	"reserved 15",
	"#MF x87 error",
	"#AC alignment check",
	"#MC machine check",
	"#XM SIMD exception",
	"#VE virtualization exception",
	"#CP control protection",
	"reserved 22",
	"reserved 23",
	"reserved 24",
	"reserved 25",
	"reserved 26",
	"reserved 27",
	"#HV hypervisor injection",
	"#VC VMM communication",
	"#SX security exception",
	"reserved 31",
};

const char *trap_name(unsigned int vector)
{
	return vector < 32 ? names[vector] : "external interrupt";
}

bool trap_has_error_code(unsigned int vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 ||
	       vector == 29 || vector == 30;
}

/* Masks every line of both 8259 PICs: Warden takes no legacy IRQs. */
static void pic_mask_all(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

static uint8_t ist_for(unsigned int vector)
{
	switch (vector) {
	case VEC_DF:
		return IST_DF;
	case VEC_NMI:
		return IST_NMI;
	case VEC_MC:
		return IST_MC;
	default:
		return 0;
	}
}

void idt_load(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __packed ptr = { sizeof(idt) - 1, (uint64_t)idt };

	__asm__ volatile("lidt %0" : : "m"(ptr));
	mce_cpu_init();
}

void idt_init(void)
{
	for (unsigned int v = 0; v < 256; v++) {
		uint64_t a = trap_stub_table[v];

		idt[v] = (struct idt_gate){
			.offset_lo = a & 0xffff,
			.selector = GDT_KERNEL_CS,
			.ist = ist_for(v),
			.type = 0x8e,
			.offset_mid = (a >> 16) & 0xffff,
			.offset_hi = a >> 32,
		};
	}
	idt_load();
	pic_mask_all();
}

int trap_register(unsigned int vector, trap_handler_t h)
{
	for (int i = 0; vector < 256 && i < HANDLERS_PER_VECTOR; i++) {
		if (!handlers[vector][i]) {
			handlers[vector][i] = h;
			return 0;
		}
	}
	return -ENOSPC;
}

void trap_set_catch_hook(trap_handler_t h)
{
	catch_hook = h;
}

void trap_set_fatal_hook(void (*h)(struct trap_frame *f))
{
	fatal_hook = h;
}

/* This CPU's slot in nmi_cpus (claimed on first use), or NULL when all are taken. */
static struct trap_nmi_cpu *nmi_slot(void)
{
	uint32_t key = apic_id() + 1;

	for (int i = 0; i < TRAP_NMI_CPUS; i++) {
		uint32_t cur = __atomic_load_n(&nmi_cpus[i].apic_id_plus1, __ATOMIC_ACQUIRE);

		if (cur == key)
			return &nmi_cpus[i];
		if (!cur && __atomic_compare_exchange_n(&nmi_cpus[i].apic_id_plus1, &cur, key,
							false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return &nmi_cpus[i];
	}
	return NULL;
}

/* An NMI no handler claimed: counted for this CPU, never printed here (the
 * interrupted code may hold the console); the interrupted code resumes. */
static void nmi_unexpected(const struct trap_frame *f)
{
	struct trap_nmi_cpu *c = nmi_slot();

	if (!c) {
		__atomic_fetch_add(&nmi_untracked, 1, __ATOMIC_RELAXED);
		return;
	}
	c->bsp = rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_BSP_FLAG;
	c->last_rip = f->rip;
	__atomic_fetch_add(&c->count, 1, __ATOMIC_RELEASE);
}

const struct trap_nmi_cpu *trap_nmi_cpus(void)
{
	return nmi_cpus;
}

uint32_t trap_nmi_untracked(void)
{
	return nmi_untracked;
}

uint32_t trap_nmi_count(uint32_t apic)
{
	for (int i = 0; i < TRAP_NMI_CPUS; i++)
		if (nmi_cpus[i].apic_id_plus1 == apic + 1)
			return nmi_cpus[i].count;
	return 0;
}

void trap_dispatch(struct trap_frame *f)
{
	if (catch_hook && catch_hook(f))
		return;
	for (int i = 0; i < HANDLERS_PER_VECTOR && handlers[f->vector][i]; i++)
		if (handlers[f->vector][i](f))
			return;
	if (f->vector == VEC_NMI) {
		nmi_unexpected(f);
		return;
	}
	if (fatal_hook)
		fatal_hook(f);
	for (;;)
		__asm__ volatile("cli; hlt");
}
