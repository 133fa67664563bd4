/* arch/mce.c - machine-check banks, CR4.MCE and the bank decoder (arch/mce.h). */
#include "arch/mce.h"
#include "arch/apic.h"
#include "arch/cpu.h"
#include "kernel/printf.h"

#define CPUID1_EDX_MCE (1u << 7)
#define CPUID1_EDX_MCA (1u << 14)

static struct mce_info info;

const struct mce_info *mce_info(void)
{
	return &info;
}

/* Banks this CPU reports: IA32_MCG_CAP.Count, capped at MCE_MAX_BANKS. */
static int nr_banks(void)
{
	uint64_t n = info.mca ? rdmsr(MSR_IA32_MCG_CAP) & MCG_CAP_COUNT : 0;

	return (int)MIN(n, (uint64_t)MCE_MAX_BANKS);
}

/* SDM Vol. 3B, 16.8: on family 6 before model 1AH the BIOS owns MC0_CTL, and the
 * OS enables banks 1 and up only. Returns the first bank whose MCi_CTL is ours. */
static int first_ctl_bank(void)
{
	uint32_t eax = cpuid(1, 0).eax;
	uint32_t family = (eax >> 8) & 0xf, model = ((eax >> 4) & 0xf) | ((eax >> 12) & 0xf0);

	if (family == 6 && model < 0x1a) {
		info.ctl_note = "MC0_CTL left to the BIOS (family 6, model below 1AH)";
		return 1;
	}
	return 0;
}

/* Reads bank i into *b (addr/misc only when ADDRV/MISCV); true when VAL is set. */
static bool read_bank(int i, struct mce_bank *b)
{
	uint64_t st = rdmsr(MSR_MCI_STATUS(i));

	*b = (struct mce_bank){ .apic_id = apic_id(), .bank = (uint8_t)i, .status = st };
	if (!(st & MCI_STATUS_VAL))
		return false;
	if (st & MCI_STATUS_ADDRV)
		b->addr = rdmsr(MSR_MCI_ADDR(i));
	if (st & MCI_STATUS_MISCV)
		b->misc = rdmsr(MSR_MCI_MISC(i));
	return true;
}

/* Records an error logged before this boot (kept for the header), then clears it:
 * 16.8 leaves the MCi_STATUS clearing to the OS once it has logged the error. */
static void take_early_error(int i)
{
	struct mce_bank b;
	int slot;

	if (!read_bank(i, &b))
		return;
	slot = __atomic_fetch_add(&info.logged, 1, __ATOMIC_RELAXED);
	if (slot < (int)ARRAY_SIZE(info.early))
		info.early[slot] = b;
	wrmsr(MSR_MCI_STATUS(i), 0);
}

void mce_cpu_init(void)
{
	uint32_t edx = cpuid(1, 0).edx;
	bool first_cpu = !info.initialised;
	uint64_t mcg_cap = 0;
	int n, first;

	if (first_cpu) { /* what the header reports: the boot CPU's, which runs first */
		info.mce = edx & CPUID1_EDX_MCE;
		info.mca = edx & CPUID1_EDX_MCA;
		info.initialised = true;
	}
	if (!(edx & CPUID1_EDX_MCE))
		return;
	if (edx & CPUID1_EDX_MCA) {
		mcg_cap = rdmsr(MSR_IA32_MCG_CAP);
		if (first_cpu)
			info.mcg_cap = mcg_cap;
		if (mcg_cap & MCG_CAP_CTL_P)
			wrmsr(MSR_IA32_MCG_CTL, ~0ULL);
		n = nr_banks();
		first = first_ctl_bank();
		for (int i = first; i < n; i++)
			wrmsr(MSR_MCI_CTL(i), ~0ULL);
		for (int i = 0; i < n; i++)
			take_early_error(i);
	}
	write_cr4(read_cr4() | CR4_MCE);
}

uint64_t mce_read_mcg_status(void)
{
	return info.mca ? rdmsr(MSR_IA32_MCG_STATUS) : 0;
}

int mce_read_banks(struct mce_bank *out, int max)
{
	struct mce_bank b;
	int found = 0;

	for (int i = 0, n = nr_banks(); i < n; i++)
		if (read_bank(i, &b) && found++ < max)
			out[found - 1] = b;
	return found;
}

/* Appends the names of the bits of `v` found in names[] ("VAL UC", "none"). */
static size_t flag_names(uint64_t v, const char *const *names, int first_bit, int n, char *buf,
			 size_t size)
{
	size_t len = 0;

	for (int i = 0; i < n; i++)
		if (v & (1ULL << (first_bit - i)) && names[i])
			len += ksnprintf(buf + len, size > len ? size - len : 0, "%s%s",
					 len ? " " : "", names[i]);
	if (!len)
		len = ksnprintf(buf, size, "none");
	return len;
}

void mce_format_bank(const struct mce_bank *b, char *buf, size_t size)
{
	static const char *const bits[] = { "VAL",   "OVER", "UC", "EN", "MISCV",
					    "ADDRV", "PCC",  "S",  "AR" };
	char flags[64];
	size_t len;

	flag_names(b->status, bits, 63, ARRAY_SIZE(bits), flags, sizeof(flags));
	len = ksnprintf(buf, size, "status 0x%016llx (%s) MCA code 0x%04x model code 0x%04x",
			(unsigned long long)b->status, flags, (unsigned int)(b->status & 0xffff),
			(unsigned int)((b->status >> 16) & 0xffff));
	if (b->status & MCI_STATUS_ADDRV)
		len += ksnprintf(buf + len, size > len ? size - len : 0, ", addr 0x%llx",
				 (unsigned long long)b->addr);
	if (b->status & MCI_STATUS_MISCV)
		ksnprintf(buf + len, size > len ? size - len : 0, ", misc 0x%llx",
			  (unsigned long long)b->misc);
}

void mce_format_mcg_status(uint64_t s, char *buf, size_t size)
{
	static const char *const bits[] = { "LMCE_S", "MCIP", "EIPV", "RIPV" };
	size_t len = ksnprintf(buf, size, "0x%llx (", (unsigned long long)s);

	len += flag_names(s, bits, 3, ARRAY_SIZE(bits), buf + len, size > len ? size - len : 0);
	ksnprintf(buf + len, size > len ? size - len : 0, ")");
}

void mce_print_header(void)
{
	char text[160];
	int shown = MIN(info.logged, (int)ARRAY_SIZE(info.early));

	if (!info.mce) {
		kprintf("# mce: no machine-check exception (CPUID.1:EDX.MCE=0)\n");
		return;
	}
	if (!info.mca)
		kprintf("# mce: CR4.MCE set; no machine-check architecture (CPUID.1:EDX.MCA=0), "
			"no banks to report\n");
	else
		kprintf("# mce: CR4.MCE set, %d banks enabled (MCG_CAP 0x%llx, MCG_CTL %s)%s%s\n",
			nr_banks(), (unsigned long long)info.mcg_cap,
			(info.mcg_cap & MCG_CAP_CTL_P) ? "all ones" : "absent",
			info.ctl_note ? "; " : "", info.ctl_note ? info.ctl_note : "");
	for (int i = 0; i < shown; i++) {
		mce_format_bank(&info.early[i], text, sizeof(text));
		kprintf("# mce: bank %u logged %s before boot (APIC ID %u); cleared\n",
			info.early[i].bank, text, info.early[i].apic_id);
	}
	if (info.logged > shown)
		kprintf("# mce: %d more errors logged before boot, cleared\n", info.logged - shown);
}
