/* kernel/acpi.c - RSDP -> XSDT/RSDT -> MADT, behind kernel/acpi.h; the parsers are in
 * kernel/acpi_parse.c. */
#include "kernel/acpi.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "mm/dmap.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"

static struct acpi_cpus cpus;
static bool have_cpus;
static char problem[160] = "acpi_init() has not run";
/* For the header: where the tables were. */
static struct {
	int rsdp_rev;
	char oem[7];
	bool xsdt;
	phys_addr_t root, madt;
	uint32_t madt_len, lapic_pa;
} found;

/* See acpi.h. */
int acpi_map_ro(phys_addr_t pa, uint64_t len, struct acpi_map *m)
{
	phys_addr_t first = ALIGN_DOWN(pa, PAGE_SIZE);

	if (!pa || pa + len < pa || pa + len > (1ULL << cpu.phys_bits))
		return -EINVAL;
	m->size = ALIGN_UP(pa + len, PAGE_SIZE) - first;
	m->base = vmap_reserve(m->size, PAGE_SIZE);
	if (!m->base || vmap_map(m->base, first, m->size, PT_LEVEL_PTE, PTE_NX | PTE_A, 0))
		return -ENOMEM;
	m->p = (const uint8_t *)(m->base + (pa - first));
	return 0;
}

/* See acpi.h. */
void acpi_unmap(struct acpi_map *m)
{
	vmap_unmap(m->base, m->size);
	*m = (struct acpi_map){ 0 };
}

/* Maps the whole table at pa and checks it (signature sig). 0 or -EINVAL with
 * the reason in problem; nothing stays mapped on an error. */
static int map_table(phys_addr_t pa, const char *sig, struct acpi_map *m)
{
	uint32_t len;

	if (acpi_map_ro(pa, SDT_HEADER_LEN, m))
		return acpi_fail(problem, sizeof(problem), "%s address 0x%llx cannot be mapped",
				 sig, (unsigned long long)pa);
	len = load_u32(m->p + 4);
	acpi_unmap(m);
	if (len < SDT_HEADER_LEN || len > ACPI_MAX_TABLE)
		return acpi_fail(problem, sizeof(problem),
				 "%s at 0x%llx: length %u is outside %u..%u", sig,
				 (unsigned long long)pa, len, SDT_HEADER_LEN, ACPI_MAX_TABLE);
	if (acpi_map_ro(pa, len, m))
		return acpi_fail(problem, sizeof(problem),
				 "%s at 0x%llx: %u bytes cannot be mapped", sig,
				 (unsigned long long)pa, len);
	if (acpi_check_table(m->p, len, sig, problem, sizeof(problem))) {
		acpi_unmap(m);
		return -EINVAL;
	}
	return 0;
}

/* Finds the "APIC" table among the entries of the mapped XSDT/RSDT. 0 or -ENOENT. */
static int find_madt(const struct acpi_map *root, bool xsdt, struct acpi_map *madt)
{
	size_t step = xsdt ? 8 : 4, n = (load_u32(root->p + 4) - SDT_HEADER_LEN) / step;

	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = root->p + SDT_HEADER_LEN + i * step;
		phys_addr_t pa = xsdt ? load_u64(e) : load_u32(e);
		struct acpi_map h;
		bool is_madt;

		if (acpi_map_ro(pa, SDT_HEADER_LEN, &h))
			continue;
		is_madt = memcmp(h.p, "APIC", 4) == 0;
		acpi_unmap(&h);
		if (is_madt) {
			found.madt = pa;
			return map_table(pa, "APIC", madt);
		}
	}
	acpi_fail(problem, sizeof(problem), "no MADT (\"APIC\") among the %zu tables of the %s", n,
		  xsdt ? "XSDT" : "RSDT");
	return -ENOENT;
}

/* RSDP -> root table -> MADT; leaves the MADT mapped in *madt on success. */
static int read_madt(const struct boot_info *bi, struct acpi_map *madt)
{
	size_t len = bi->acpi_rev >= 2 ? RSDP_V2_LEN : RSDP_V1_LEN;
	struct acpi_map root;
	int rc;

	if (!bi->acpi_rev) {
		acpi_fail(problem, sizeof(problem), "the bootloader passed no ACPI RSDP");
		return -ENOENT;
	}
	if (acpi_parse_rsdp(bi->rsdp, len, &found.root, &found.xsdt, problem, sizeof(problem)))
		return -EINVAL;
	found.rsdp_rev = bi->rsdp[15];
	memcpy(found.oem, bi->rsdp + 9, 6);
	rc = map_table(found.root, found.xsdt ? "XSDT" : "RSDT", &root);
	if (rc)
		return rc;
	rc = find_madt(&root, found.xsdt, madt);
	acpi_unmap(&root);
	return rc;
}

int acpi_init(const struct boot_info *bi)
{
	struct acpi_map madt;
	int rc;

	have_cpus = false;
	found = (typeof(found)){ 0 };
	rc = read_madt(bi, &madt);
	if (rc)
		return rc;
	found.madt_len = load_u32(madt.p + 4);
	found.lapic_pa = load_u32(madt.p + SDT_HEADER_LEN);
	rc = acpi_parse_madt(madt.p, found.madt_len, &cpus, problem, sizeof(problem));
	acpi_unmap(&madt);
	if (rc)
		return rc;
	have_cpus = true;
	return 0;
}

const struct acpi_cpus *acpi_cpus(void)
{
	return have_cpus ? &cpus : NULL;
}

const char *acpi_problem(void)
{
	return have_cpus ? NULL : problem;
}

void acpi_print_header(void)
{
	char ids[480];

	if (!have_cpus) {
		kprintf("# cpus: unknown (ACPI: %s): only the boot CPU runs\n", problem);
		return;
	}
	kprintf("# acpi: RSDP revision %d (OEM '%s'), %s at 0x%llx, MADT at 0x%llx (%u bytes), "
		"local APIC at 0x%x\n",
		found.rsdp_rev, found.oem, found.xsdt ? "XSDT" : "RSDT",
		(unsigned long long)found.root, (unsigned long long)found.madt, found.madt_len,
		found.lapic_pa);
	acpi_format_ids(&cpus, ids, sizeof(ids));
	kprintf("# cpus: %d in the MADT (APIC IDs %s)", cpus.nr, ids);
	if (cpus.nr_disabled)
		kprintf(", %d disabled entries", cpus.nr_disabled);
	if (cpus.nr_dropped)
		kprintf(", %d more beyond the %d Warden keeps", cpus.nr_dropped, ACPI_MAX_CPUS);
	kprintf("\n");
}

/* --- before memory management: the entry code's map of the first 4 GiB ------------ */

#define EARLY_MAP_END (4 * GiB) /* the entry code maps 0..4 GiB at PAGE_OFFSET */

/* The early-map address of [pa, pa + len), or NULL when it is not all below 4 GiB. */
static const uint8_t *early_va(phys_addr_t pa, uint64_t len)
{
	if (!pa || pa + len < pa || pa + len > EARLY_MAP_END)
		return NULL;
	return (const uint8_t *)(PAGE_OFFSET + pa);
}

/* The checked table at pa with signature sig through the early map, or NULL with the
 * reason in why. */
static const uint8_t *early_table(phys_addr_t pa, const char *sig, char *why, size_t n)
{
	const uint8_t *t = early_va(pa, SDT_HEADER_LEN);
	uint32_t len;

	if (!t) {
		acpi_fail(why, n, "%s at 0x%llx is not below 4 GiB", sig, (unsigned long long)pa);
		return NULL;
	}
	len = load_u32(t + 4);
	if (len > ACPI_MAX_TABLE || !early_va(pa, len)) {
		acpi_fail(why, n, "%s at 0x%llx: length %u reaches past 4 GiB or %u", sig,
			  (unsigned long long)pa, len, ACPI_MAX_TABLE);
		return NULL;
	}
	return acpi_check_table(t, len, sig, why, n) ? NULL : t;
}

/* See acpi.h. */
int acpi_copy_table_early(const struct boot_info *bi, const char *sig, void *buf, size_t size,
			  char *why, size_t n)
{
	const uint8_t *root, *t;
	phys_addr_t root_pa, pa;
	size_t step, nr, high = 0;
	bool xsdt;

	if (!bi->acpi_rev) {
		acpi_fail(why, n, "the bootloader passed no ACPI RSDP");
		return -ENOENT;
	}
	if (acpi_parse_rsdp(bi->rsdp, bi->acpi_rev >= 2 ? RSDP_V2_LEN : RSDP_V1_LEN, &root_pa,
			    &xsdt, why, n))
		return -EINVAL;
	root = early_table(root_pa, xsdt ? "XSDT" : "RSDT", why, n);
	if (!root)
		return -EINVAL;
	step = xsdt ? 8 : 4;
	nr = (load_u32(root + 4) - SDT_HEADER_LEN) / step;
	for (size_t i = 0; i < nr; i++) {
		const uint8_t *e = root + SDT_HEADER_LEN + i * step, *h;

		pa = xsdt ? load_u64(e) : load_u32(e);
		h = early_va(pa, SDT_HEADER_LEN);
		high += !h && pa;
		if (!h || memcmp(h, sig, 4) != 0)
			continue;
		t = early_table(pa, sig, why, n);
		if (!t)
			return -EINVAL;
		memcpy(buf, t, MIN(size, (size_t)load_u32(t + 4)));
		return (int)load_u32(t + 4);
	}
	if (high)
		return acpi_fail(why, n, "no %s below 4 GiB; %zu of the %zu tables are above", sig,
				 high, nr);
	acpi_fail(why, n, "no %s among the %zu tables of the %s", sig, nr, xsdt ? "XSDT" : "RSDT");
	return -ENOENT;
}
