/* mm/pgprot.c - page-table protection: the key, the write window, the modes. */
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "arch/cpu.h"

static int table_key;
static enum pgprot_mode mode = PGPROT_OFF;
static bool enforced;
static const char *unprotected_reason = "not set up";
static uint64_t violations;

void pgprot_setup(void)
{
	table_key = 0;
	mode = PGPROT_OFF;
	unprotected_reason = "PKS support not built yet";
}

void pgprot_enable(void)
{
}

enum pgprot_mode pgprot_mode(void)
{
	return mode;
}

const char *pgprot_mode_name(void)
{
	static const char *const n[] = { "off", "soft", "on" };

	return n[mode];
}

const char *pgprot_unprotected_reason(void)
{
	return enforced ? NULL : unprotected_reason;
}

int pgprot_key(void)
{
	return table_key;
}

bool pgprot_enforced(void)
{
	return enforced;
}

uint64_t pgprot_violations(void)
{
	return violations;
}

uint32_t pt_window_open(void)
{
	uint32_t old, wd = 2u << (2 * table_key);

	if (!enforced)
		return 0;
	old = (uint32_t)rdmsr(MSR_IA32_PKRS);
	if (old & wd)
		wrmsr(MSR_IA32_PKRS, old & ~wd);
	return old;
}

bool pt_window_is_open(void)
{
	return !enforced || !(rdmsr(MSR_IA32_PKRS) & (2u << (2 * table_key)));
}

void pt_window_close(uint32_t saved)
{
	if (enforced && (uint32_t)rdmsr(MSR_IA32_PKRS) != saved)
		wrmsr(MSR_IA32_PKRS, saved);
}

void pgprot_table_ctor(phys_addr_t pa, int level)
{
	(void)pa;
	(void)level;
}

void pgprot_table_dtor(phys_addr_t pa, int level)
{
	(void)pa;
	(void)level;
}
