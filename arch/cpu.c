/* arch/cpu.c - CPU identification (CPUID leaves 0, 1, 7, 0x80000001..8). */
#include "arch/cpu.h"
#include "arch/pkrs.h"

struct cpu_features cpu;
bool cpu_invpcid __ro_after_init;
/* Keyed: a stray store must neither skip every other CPU's flush nor send set_memory,
 * inside its write window, to other code (kernel/smp_ipi.c sets it in a window). */
void (*flush_tlb_others)(uint64_t start, uint64_t end) __pt_keyed;

static void copy_regs(char *dst, const struct cpuid_regs *r)
{
	memcpy(dst, &r->eax, 4);
	memcpy(dst + 4, &r->ebx, 4);
	memcpy(dst + 8, &r->ecx, 4);
	memcpy(dst + 12, &r->edx, 4);
}

/* Reads vendor, brand string and the feature bits Warden cares about. */
void cpu_detect(void)
{
	struct cpuid_regs r = cpuid(0, 0);
	uint32_t max_leaf = r.eax, max_ext;

	memcpy(cpu.vendor, &r.ebx, 4);
	memcpy(cpu.vendor + 4, &r.edx, 4);
	memcpy(cpu.vendor + 8, &r.ecx, 4);
	cpu.vendor[12] = '\0';

	r = cpuid(1, 0);
	cpu.stepping = r.eax & 0xf;
	cpu.model = ((r.eax >> 4) & 0xf) | (((r.eax >> 16) & 0xf) << 4);
	cpu.family = ((r.eax >> 8) & 0xf) + ((r.eax >> 20) & 0xff);
	cpu.hypervisor = r.ecx & (1u << 31);
	cpu.x2apic = r.ecx & (1u << 21);
	cpu.pge = r.edx & (1u << 13);
	if (max_leaf >= 7) {
		r = cpuid(7, 0);
		cpu.smep = r.ebx & (1u << 7);
		cpu.smap = r.ebx & (1u << 20);
		cpu.invpcid = r.ebx & (1u << 10);
		cpu_invpcid = cpu.invpcid;
		cpu.pku = r.ecx & (1u << 3);
		cpu.la57 = r.ecx & (1u << 16);
		cpu.pks = r.ecx & (1u << 31);
	}
	max_ext = cpuid(0x80000000, 0).eax;
	if (max_ext >= 0x80000001) {
		r = cpuid(0x80000001, 0);
		cpu.nx = r.edx & (1u << 20);
		cpu.pdpe1gb = r.edx & (1u << 26);
	}
	if (max_ext >= 0x80000004) {
		for (uint32_t i = 0; i < 3; i++) {
			r = cpuid(0x80000002 + i, 0);
			copy_regs(cpu.brand + 16 * i, &r);
		}
		cpu.brand[48] = '\0';
	}
	cpu.phys_bits = 36;
	cpu.virt_bits = 48;
	if (max_ext >= 0x80000008) {
		r = cpuid(0x80000008, 0);
		cpu.phys_bits = r.eax & 0xff;
		cpu.virt_bits = (r.eax >> 8) & 0xff;
	}
}
