/* kernel/acpi.c - RSDP -> XSDT/RSDT -> MADT, behind kernel/acpi.h. */
#include "kernel/acpi.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"

#define SDT_HEADER_LEN	 36
#define MADT_ENTRIES_OFF 44 /* header, local APIC address (4), flags (4) */
#define RSDP_V1_LEN	 20
#define RSDP_V2_LEN	 36
#define MADT_LAPIC	 0 /* Processor Local APIC */
#define MADT_X2APIC	 9 /* Processor Local x2APIC */
#define MADT_ENABLED	 (1u << 0)

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

/* Sum of n bytes modulo 256: 0 for a valid ACPI checksum. */
static uint8_t sum8(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (n--)
		s += *b++;
	return s;
}

/* Writes the reason into err (if any) and returns -EINVAL. */
static __printf(3, 4) int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		kvsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int acpi_parse_rsdp(const uint8_t *rsdp, size_t len, phys_addr_t *root, bool *xsdt, char *err,
		    size_t errlen)
{
	if (len < RSDP_V1_LEN || memcmp(rsdp, "RSD PTR ", 8) != 0)
		return fail(err, errlen, "no RSDP signature \"RSD PTR \"");
	if (sum8(rsdp, RSDP_V1_LEN))
		return fail(err, errlen, "RSDP checksum is wrong (20 bytes sum to 0x%02x)",
			    sum8(rsdp, RSDP_V1_LEN));
	*xsdt = rsdp[15] >= 2 && len >= RSDP_V2_LEN && load_u64(rsdp + 24) != 0;
	if (*xsdt && (load_u32(rsdp + 20) < RSDP_V2_LEN || sum8(rsdp, RSDP_V2_LEN)))
		return fail(err, errlen,
			    "RSDP revision %u: length %u or extended checksum is wrong", rsdp[15],
			    load_u32(rsdp + 20));
	*root = *xsdt ? load_u64(rsdp + 24) : load_u32(rsdp + 16);
	if (!*root)
		return fail(err, errlen, "RSDP gives no RSDT address");
	return 0;
}

int acpi_check_table(const void *table, size_t len, const char *sig, char *err, size_t errlen)
{
	uint32_t tlen;

	if (len < SDT_HEADER_LEN)
		return fail(err, errlen, "%s: %zu bytes, shorter than a table header", sig, len);
	if (memcmp(table, sig, 4) != 0)
		return fail(err, errlen, "expected signature %s, found \"%.4s\"", sig,
			    (const char *)table);
	tlen = load_u32((const uint8_t *)table + 4);
	if (tlen < SDT_HEADER_LEN || tlen > len)
		return fail(err, errlen, "%s: length %u is outside %u..%zu", sig, tlen,
			    SDT_HEADER_LEN, len);
	if (sum8(table, tlen))
		return fail(err, errlen, "%s: checksum is wrong (%u bytes sum to 0x%02x)", sig,
			    tlen, sum8(table, tlen));
	return 0;
}

/* Adds an enabled CPU's APIC ID to out, once; counts what does not fit. */
static void add_cpu(struct acpi_cpus *out, uint32_t id)
{
	for (int i = 0; i < out->nr; i++)
		if (out->apic_id[i] == id)
			return;
	if (out->nr == ACPI_MAX_CPUS)
		out->nr_dropped++;
	else
		out->apic_id[out->nr++] = id;
}

/* One MADT entry of type 0 or 9 at e (length checked by the caller). */
static int madt_entry(const uint8_t *e, struct acpi_cpus *out, size_t off, char *err, size_t errlen)
{
	bool x2 = e[0] == MADT_X2APIC;
	uint32_t flags, id;

	if (e[1] < (x2 ? 16 : 8))
		return fail(err, errlen, "MADT: %s entry at offset %zu has length %u",
			    x2 ? "x2APIC" : "local APIC", off, e[1]);
	flags = x2 ? load_u32(e + 8) : load_u32(e + 4);
	id = x2 ? load_u32(e + 4) : e[3];
	if (!(flags & MADT_ENABLED))
		out->nr_disabled++;
	else if (id != (x2 ? 0xffffffffu : 0xffu)) /* all ones: no such processor */
		add_cpu(out, id);
	return 0;
}

int acpi_parse_madt(const void *madt, size_t len, struct acpi_cpus *out, char *err, size_t errlen)
{
	const uint8_t *t = madt;
	size_t off = MADT_ENTRIES_OFF, end = len < 8 ? 0 : MIN(len, (size_t)load_u32(t + 4));

	*out = (struct acpi_cpus){ 0 };
	if (end < MADT_ENTRIES_OFF)
		return fail(err, errlen, "MADT: length %zu leaves no room for entries", end);
	while (off < end) {
		const uint8_t *e = t + off;

		if (end - off < 2)
			return fail(err, errlen, "MADT: a stray byte at offset %zu", off);
		if (e[1] < 2 || e[1] > end - off)
			return fail(
				err, errlen,
				"MADT: entry type %u at offset %zu has length %u, %zu bytes left",
				e[0], off, e[1], end - off);
		if ((e[0] == MADT_LAPIC || e[0] == MADT_X2APIC) &&
		    madt_entry(e, out, off, err, errlen))
			return -EINVAL;
		off += e[1];
	}
	if (!out->nr)
		return fail(err, errlen, "MADT lists no enabled processor");
	return 0;
}

/* A read-only, NX mapping of physical bytes in the vmap area. */
struct acpi_map {
	uint64_t base, size; /* the mapped pages */
	const uint8_t *p;    /* the first byte asked for */
};

static int map_ro(phys_addr_t pa, uint64_t len, struct acpi_map *m)
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

static void unmap(struct acpi_map *m)
{
	vmap_unmap(m->base, m->size);
	*m = (struct acpi_map){ 0 };
}

/* Maps the whole table at pa and checks it (signature sig). 0 or -EINVAL with
 * the reason in problem; nothing stays mapped on an error. */
static int map_table(phys_addr_t pa, const char *sig, struct acpi_map *m)
{
	uint32_t len;

	if (map_ro(pa, SDT_HEADER_LEN, m))
		return fail(problem, sizeof(problem), "%s address 0x%llx cannot be mapped", sig,
			    (unsigned long long)pa);
	len = load_u32(m->p + 4);
	unmap(m);
	if (len < SDT_HEADER_LEN || len > ACPI_MAX_TABLE)
		return fail(problem, sizeof(problem), "%s at 0x%llx: length %u is outside %u..%u",
			    sig, (unsigned long long)pa, len, SDT_HEADER_LEN, ACPI_MAX_TABLE);
	if (map_ro(pa, len, m))
		return fail(problem, sizeof(problem), "%s at 0x%llx: %u bytes cannot be mapped",
			    sig, (unsigned long long)pa, len);
	if (acpi_check_table(m->p, len, sig, problem, sizeof(problem))) {
		unmap(m);
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

		if (map_ro(pa, SDT_HEADER_LEN, &h))
			continue;
		is_madt = memcmp(h.p, "APIC", 4) == 0;
		unmap(&h);
		if (is_madt) {
			found.madt = pa;
			return map_table(pa, "APIC", madt);
		}
	}
	fail(problem, sizeof(problem), "no MADT (\"APIC\") among the %zu tables of the %s", n,
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
		fail(problem, sizeof(problem), "the bootloader passed no ACPI RSDP");
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
	unmap(&root);
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
	unmap(&madt);
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

void acpi_format_ids(const struct acpi_cpus *c, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < c->nr && len < size; i++) {
		int j = i;

		while (j + 1 < c->nr && c->apic_id[j + 1] == c->apic_id[j] + 1)
			j++;
		if (j > i)
			len += ksnprintf(buf + len, size - len, "%s%u-%u", i ? "," : "",
					 c->apic_id[i], c->apic_id[j]);
		else
			len += ksnprintf(buf + len, size - len, "%s%u", i ? "," : "",
					 c->apic_id[i]);
		i = j;
	}
	if (len >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
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
