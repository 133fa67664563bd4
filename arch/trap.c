/* arch/trap.c - IDT, 8259 masking, and the dispatch of every trap to its handlers. */
#include "arch/trap.h"
#include "arch/gdt.h"
#include "arch/io.h"

#define HANDLERS_PER_VECTOR 4

volatile uint8_t trap_pkrs_managed;
volatile uint32_t trap_pkrs_default;

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

void trap_dispatch(struct trap_frame *f)
{
	if (catch_hook && catch_hook(f))
		return;
	for (int i = 0; i < HANDLERS_PER_VECTOR && handlers[f->vector][i]; i++)
		if (handlers[f->vector][i](f))
			return;
	if (fatal_hook)
		fatal_hook(f);
	for (;;)
		__asm__ volatile("cli; hlt");
}
