/* arch/cpu.h - control registers, MSRs, CPUID, TLB and interrupt-flag accessors.
 * Bit positions: Intel SDM Vol. 3A, 2.5 (CR0/CR4) and Vol. 4 (MSRs). */
#ifndef ARCH_CPU_H
#define ARCH_CPU_H

#include "kernel/types.h"

#define CR0_PE (1ULL << 0)
#define CR0_WP (1ULL << 16)
#define CR0_PG (1ULL << 31)

#define CR4_PGE	 (1ULL << 7)
#define CR4_LA57 (1ULL << 12)
#define CR4_SMEP (1ULL << 20)
#define CR4_SMAP (1ULL << 21)
#define CR4_PKE	 (1ULL << 22)
#define CR4_PKS	 (1ULL << 24)

#define MSR_EFER      0xc0000080
#define EFER_NXE      (1ULL << 11)
#define MSR_IA32_PKRS 0x6e1

#define RFLAGS_TF (1ULL << 8)
#define RFLAGS_IF (1ULL << 9)
#define RFLAGS_AC (1ULL << 18)

#define DEFINE_CR_ACCESSORS(n)                                             \
	static inline uint64_t read_cr##n(void)                            \
	{                                                                  \
		uint64_t v;                                                \
		__asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));          \
		return v;                                                  \
	}                                                                  \
	static inline void write_cr##n(uint64_t v)                         \
	{                                                                  \
		__asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); \
	}
DEFINE_CR_ACCESSORS(0)
DEFINE_CR_ACCESSORS(2)
DEFINE_CR_ACCESSORS(3)
DEFINE_CR_ACCESSORS(4)
#undef DEFINE_CR_ACCESSORS

static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr"
			 :
			 : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
			 : "memory");
}

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
	struct cpuid_regs r;

	__asm__ volatile("cpuid"
			 : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
			 : "a"(leaf), "c"(subleaf));
	return r;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static inline void invlpg(const volatile void *va)
{
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static inline uint64_t read_rflags(void)
{
	uint64_t f;

	__asm__ volatile("pushfq; pop %0" : "=r"(f));
	return f;
}

static inline void cli(void)
{
	__asm__ volatile("cli" ::: "memory");
}
static inline void sti(void)
{
	__asm__ volatile("sti" ::: "memory");
}
static inline void hlt(void)
{
	__asm__ volatile("hlt" ::: "memory");
}
static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* Disables interrupts and returns the previous RFLAGS for irq_restore(). */
static inline uint64_t irq_save(void)
{
	uint64_t f = read_rflags();

	cli();
	return f;
}

static inline void irq_restore(uint64_t flags)
{
	if (flags & RFLAGS_IF)
		sti();
}

/* Flushes every non-global TLB entry (CR3 reload). */
static inline void flush_tlb_local(void)
{
	write_cr3(read_cr3());
}

/* The CPU has INVPCID: set once by cpu_detect(), read-only after boot. */
extern bool cpu_invpcid;

/* INVPCID of `type` (2: every PCID, global entries included) for descriptor d. */
static inline void invpcid(uint64_t type, const uint64_t d[2])
{
	__asm__ volatile("invpcid %0, %1" : : "m"(*(const uint64_t(*)[2])d), "r"(type) : "memory");
}

/* Flushes this CPU's whole TLB, global entries included: INVPCID type 2 where the CPU
 * has it (one instruction), else by toggling CR4.PGE (SDM Vol. 3A, 4.10.4.1); without
 * PGE set it reloads CR3. */
static inline void flush_tlb_all_local(void)
{
	static const uint64_t all[2] = { 0, 0 };
	uint64_t cr4;

	if (cpu_invpcid) {
		invpcid(2, all);
		return;
	}
	cr4 = read_cr4();
	if (cr4 & CR4_PGE) {
		write_cr4(cr4 & ~CR4_PGE);
		write_cr4(cr4);
	} else {
		flush_tlb_local();
	}
}

/* Set once other CPUs take TLB shootdowns (kernel/smp_ipi.c): flushes [start, end)
 * (end = 0: everything) on every other online CPU and waits until they did.
 * Page-table-keyed: set inside a write window. */
extern void (*flush_tlb_others)(uint64_t start, uint64_t end);

/* Flushes the whole TLB on this CPU and on every other online CPU. */
static inline void flush_tlb_all(void)
{
	flush_tlb_all_local();
	if (flush_tlb_others)
		flush_tlb_others(0, 0);
}

/* Flushes [start, end) on this CPU (INVLPG per page) and on every other online
 * CPU (INVLPG up to a threshold, else the whole TLB). */
static inline void flush_tlb_range(uint64_t start, uint64_t end)
{
	if (end - start > 32 * 0x1000)
		flush_tlb_all_local();
	else
		for (uint64_t a = start & ~0xfffULL; a < end; a += 0x1000)
			invlpg((void *)a);
	if (flush_tlb_others)
		flush_tlb_others(start, end);
}

/* What this CPU offers, read once by cpu_detect(). */
struct cpu_features {
	char vendor[13];
	char brand[49];
	uint32_t family, model, stepping;
	bool hypervisor;
	bool pks, pku, la57, pdpe1gb, nx, smep, smap, x2apic, pge, invpcid;
	unsigned int phys_bits, virt_bits;
};

extern struct cpu_features cpu;

/* Fills `cpu` from CPUID. */
void cpu_detect(void);

#endif
