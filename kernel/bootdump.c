/* kernel/bootdump.c - hex dumps of the MBI and the ACPI tables, behind kernel/bootdump.h. */
#include "kernel/bootdump.h"
#include "kernel/acpi.h"
#include "kernel/cmdline.h"
#include "kernel/printf.h"

#define DUMP_LINE   32	/* bytes per hex line */
#define FADT_DSDT   40	/* u32 DSDT address (ACPI 6.5, 5.2.9, Table 5.9) */
#define FADT_X_DSDT 140 /* u64 X_DSDT, present when the FADT is >= 148 bytes */
#define MAX_NAMES   64	/* signatures remembered for the ".N" suffixes */

static char seen[MAX_NAMES][5];
static int nr_seen;

/* Prints len bytes at p as one framed object named `name`, found at pa. */
static void dump(const char *name, const uint8_t *p, size_t len, phys_addr_t pa)
{
	static const char hex[] = "0123456789abcdef";
	char line[2 * DUMP_LINE + 1];

	kprintf("# bootdump: begin %s %zu at 0x%llx\n", name, len, (unsigned long long)pa);
	for (size_t off = 0; off < len; off += DUMP_LINE) {
		size_t n = MIN(len - off, (size_t)DUMP_LINE);

		for (size_t i = 0; i < n; i++) {
			line[2 * i] = hex[p[off + i] >> 4];
			line[2 * i + 1] = hex[p[off + i] & 15];
		}
		line[2 * n] = '\0';
		kprintf("# bootdump: %s %zx %s\n", name, off, line);
	}
	kprintf("# bootdump: end %s\n", name);
}

/* The dump name of a table with signature sig: "APIC", then "APIC.2", ... Characters
 * other than letters and digits become '_'. */
static void table_name(const uint8_t *sig, char *name, size_t size)
{
	char s[5];
	int count = 1;

	for (int i = 0; i < 4; i++) {
		char c = (char)sig[i];
		bool alnum =
			(c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');

		s[i] = alnum ? c : '_';
	}
	s[4] = '\0';
	for (int i = 0; i < nr_seen; i++)
		count += strcmp(seen[i], s) == 0;
	if (nr_seen < MAX_NAMES)
		strncpy_z(seen[nr_seen++], s, sizeof(seen[0]));
	if (count == 1)
		ksnprintf(name, size, "%s", s);
	else
		ksnprintf(name, size, "%s.%d", s, count);
}

/* The Length of the table at pa clamped to SDT_HEADER_LEN..ACPI_MAX_TABLE, or 0 when
 * its header cannot be mapped. */
static uint32_t table_len(phys_addr_t pa)
{
	struct acpi_map m;
	uint32_t len;

	if (acpi_map_ro(pa, SDT_HEADER_LEN, &m))
		return 0;
	len = MIN(MAX(load_u32(m.p + 4), (uint32_t)SDT_HEADER_LEN), (uint32_t)ACPI_MAX_TABLE);
	acpi_unmap(&m);
	return len;
}

/* Dumps the table at pa (table_len() bytes). When it is the FADT and fadt_dsdt is
 * given, *fadt_dsdt = the FADT's DSDT address (X_DSDT when set). */
static void dump_table(phys_addr_t pa, phys_addr_t *fadt_dsdt)
{
	uint32_t len = table_len(pa);
	struct acpi_map m;
	char name[16];

	if (!len || acpi_map_ro(pa, len, &m)) {
		kprintf("# bootdump: the table at 0x%llx cannot be mapped\n",
			(unsigned long long)pa);
		return;
	}
	table_name(m.p, name, sizeof(name));
	dump(name, m.p, len, pa);
	if (fadt_dsdt && memcmp(m.p, "FACP", 4) == 0) {
		if (len >= FADT_X_DSDT + 8 && load_u64(m.p + FADT_X_DSDT))
			*fadt_dsdt = load_u64(m.p + FADT_X_DSDT);
		else if (len >= FADT_DSDT + 4)
			*fadt_dsdt = load_u32(m.p + FADT_DSDT);
	}
	acpi_unmap(&m);
}

/* The RSDP copy, the root table, every table it lists, and the DSDT. */
static void dump_acpi(const struct boot_info *bi)
{
	size_t rlen = bi->acpi_rev >= 2 ? RSDP_V2_LEN : RSDP_V1_LEN, step, n;
	phys_addr_t root, dsdt = 0;
	uint32_t len;
	struct acpi_map m;
	bool xsdt;
	char err[160];

	if (!bi->acpi_rev) {
		kprintf("# bootdump: no RSDP\n");
		return;
	}
	dump("rsdp", bi->rsdp, rlen, 0);
	if (acpi_parse_rsdp(bi->rsdp, rlen, &root, &xsdt, err, sizeof(err))) {
		kprintf("# bootdump: %s\n", err);
		return;
	}
	dump_table(root, NULL);
	step = xsdt ? 8 : 4;
	len = table_len(root);
	n = len ? (len - SDT_HEADER_LEN) / step : 0;
	if (!n || acpi_map_ro(root, SDT_HEADER_LEN + n * step, &m))
		return;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = m.p + SDT_HEADER_LEN + i * step;

		dump_table(xsdt ? load_u64(e) : load_u32(e), &dsdt);
	}
	acpi_unmap(&m);
	if (dsdt)
		dump_table(dsdt, NULL);
}

/* See bootdump.h. */
void bootdump(const void *mbi, const struct boot_info *bi)
{
	bool all = cmdline_is("bootdump", "all");

	if (all || cmdline_is("bootdump", "mbi"))
		dump("mbi", mbi, bi->mbi_size, bi->mbi_pa);
	if (all || cmdline_is("bootdump", "acpi"))
		dump_acpi(bi);
}
