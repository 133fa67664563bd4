/* tests/host/check.c - independent checks of the parsers' results (see check.h). */
#include "tests/host/check.h"

#include <string.h>

/* Sorted, non-overlapping, non-empty, no wrap, known types, merged neighbours. */
static const char *check_ranges(const struct boot_info *bi)
{
	if (bi->nr_mem < 1 || bi->nr_mem > BOOT_MAX_RANGES)
		return "nr_mem outside 1..BOOT_MAX_RANGES";
	if ((bi->mem_folded || bi->mem_dropped) && bi->nr_mem != BOOT_MAX_RANGES)
		return "ranges folded or left out while the table had room";
	if (bi->mem_folded < 0 || bi->mem_dropped < 0 || (!bi->mem_dropped && bi->mem_dropped_ram))
		return "inconsistent counts of ranges folded or left out";
	/* RAM is left out only when every slot holds RAM. */
	for (int i = 0; bi->mem_dropped && i < bi->nr_mem; i++)
		if (bi->mem[i].type != MEM_USABLE && bi->mem[i].type != MEM_ACPI_RECLAIM)
			return "RAM left out while a non-RAM range keeps a slot";
	for (int i = 0; i < bi->nr_mem; i++) {
		const struct mem_range *r = &bi->mem[i], *next = r + 1;

		if (!r->len)
			return "an empty range";
		if (r->base + r->len - 1 < r->base)
			return "a range wraps past 2^64";
		if (r->type < MEM_USABLE || r->type > MEM_BAD)
			return "a range of unknown type";
		if (i + 1 == bi->nr_mem)
			break;
		if (r->base + r->len > next->base)
			return "ranges unsorted or overlapping";
		/* A non-RAM range folded into its neighbour may meet one of its type. */
		if (r->base + r->len == next->base && r->type == next->type && !bi->mem_folded)
			return "adjacent ranges of one type not merged";
	}
	return NULL;
}

const char *check_boot_info(const struct boot_info *bi, const uint8_t *mbi, size_t len)
{
	uint32_t total;

	if (len < 8)
		return "success on an MBI shorter than its header";
	memcpy(&total, mbi, 4);
	if (bi->mbi_size != total || total > len || total > MB2_MAX_SIZE)
		return "mbi_size is not the checked total_size";
	if (!memchr(bi->cmdline, 0, sizeof(bi->cmdline)) ||
	    !memchr(bi->loader, 0, sizeof(bi->loader)))
		return "cmdline or loader not NUL-terminated";
	if (bi->acpi_rev < 0 || bi->acpi_rev > 2)
		return "acpi_rev outside 0..2";
	if (bi->mem_from_efi && !bi->uefi)
		return "a map converted from EFI on a non-UEFI boot";
	return check_ranges(bi);
}

const char *check_cpus(const struct acpi_cpus *c)
{
	if (c->nr < 1 || c->nr > ACPI_MAX_CPUS)
		return "nr outside 1..ACPI_MAX_CPUS";
	if (c->nr_dropped < 0 || c->nr_disabled < 0 || (c->nr_dropped && c->nr != ACPI_MAX_CPUS))
		return "dropped CPUs while there was room";
	for (int i = 0; i < c->nr; i++)
		for (int j = i + 1; j < c->nr; j++)
			if (c->apic_id[i] == c->apic_id[j])
				return "an APIC ID twice";
	return NULL;
}

const char *check_err(const char *err, size_t size)
{
	if (!size)
		return NULL;
	if (!memchr(err, 0, size))
		return "error message not NUL-terminated";
	if (!err[0])
		return "empty error message";
	return NULL;
}

uint8_t check_sum8(const uint8_t *p, size_t n)
{
	unsigned int s = 0;

	for (size_t i = 0; i < n; i++)
		s += p[i];
	return (uint8_t)s;
}
