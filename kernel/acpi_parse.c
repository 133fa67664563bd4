/* kernel/acpi_parse.c - the ACPI parsers behind kernel/acpi_parse.h. */
#include "kernel/acpi_parse.h"
#include "kernel/printf.h"

#define MADT_ENTRIES_OFF 44 /* header, local APIC address (4), flags (4) */
#define MADT_LAPIC	 0  /* Processor Local APIC */
#define MADT_X2APIC	 9  /* Processor Local x2APIC */
#define MADT_ENABLED	 (1u << 0)

/* Sum of n bytes modulo 256: 0 for a valid ACPI checksum. */
static uint8_t sum8(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (n--)
		s += *b++;
	return s;
}

/* See acpi_parse.h. */
int acpi_fail(char *err, size_t errlen, const char *fmt, ...)
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
		return acpi_fail(err, errlen, "no RSDP signature \"RSD PTR \"");
	if (sum8(rsdp, RSDP_V1_LEN))
		return acpi_fail(err, errlen, "RSDP checksum is wrong (20 bytes sum to 0x%02x)",
				 sum8(rsdp, RSDP_V1_LEN));
	*xsdt = rsdp[15] >= 2 && len >= RSDP_V2_LEN && load_u64(rsdp + 24) != 0;
	if (*xsdt && (load_u32(rsdp + 20) < RSDP_V2_LEN || sum8(rsdp, RSDP_V2_LEN)))
		return acpi_fail(err, errlen,
				 "RSDP revision %u: length %u or extended checksum is wrong",
				 rsdp[15], load_u32(rsdp + 20));
	*root = *xsdt ? load_u64(rsdp + 24) : load_u32(rsdp + 16);
	if (!*root)
		return acpi_fail(err, errlen, "RSDP gives no RSDT address");
	return 0;
}

int acpi_check_table(const void *table, size_t len, const char *sig, char *err, size_t errlen)
{
	uint32_t tlen;

	if (len < SDT_HEADER_LEN)
		return acpi_fail(err, errlen, "%s: %zu bytes, shorter than a table header", sig,
				 len);
	if (memcmp(table, sig, 4) != 0)
		return acpi_fail(err, errlen, "expected signature %s, found \"%.4s\"", sig,
				 (const char *)table);
	tlen = load_u32((const uint8_t *)table + 4);
	if (tlen < SDT_HEADER_LEN || tlen > len)
		return acpi_fail(err, errlen, "%s: length %u is outside %u..%zu", sig, tlen,
				 SDT_HEADER_LEN, len);
	if (sum8(table, tlen))
		return acpi_fail(err, errlen, "%s: checksum is wrong (%u bytes sum to 0x%02x)", sig,
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
		return acpi_fail(err, errlen, "MADT: %s entry at offset %zu has length %u",
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
		return acpi_fail(err, errlen, "MADT: length %zu leaves no room for entries", end);
	while (off < end) {
		const uint8_t *e = t + off;

		if (end - off < 2)
			return acpi_fail(err, errlen, "MADT: a stray byte at offset %zu", off);
		if (e[1] < 2 || e[1] > end - off)
			return acpi_fail(
				err, errlen,
				"MADT: entry type %u at offset %zu has length %u, %zu bytes left",
				e[0], off, e[1], end - off);
		if ((e[0] == MADT_LAPIC || e[0] == MADT_X2APIC) &&
		    madt_entry(e, out, off, err, errlen))
			return -EINVAL;
		off += e[1];
	}
	if (!out->nr)
		return acpi_fail(err, errlen, "MADT lists no enabled processor");
	return 0;
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

/* SPCR field offsets (SPCR specification, "Serial Port Console Redirection Table"). */
#define SPCR_IFACE   36 /* interface type */
#define SPCR_GAS     40 /* base address: space ID, bit width, bit offset, access, address */
#define SPCR_BAUD    58 /* configured baud rate code */
#define SPCR_CLOCK   76 /* UART clock frequency in Hz (revision 3 and later) */
#define SPCR_PRECISE 80 /* precise baud rate (revision 4 and later) */

/* Baud of an SPCR baud-rate code; 0 for 0 ("as configured") and unknown codes. */
static uint32_t spcr_code_baud(uint8_t code)
{
	switch (code) {
	case 3:
		return 9600;
	case 4:
		return 19200;
	case 6:
		return 57600;
	case 7:
		return 115200;
	default:
		return 0;
	}
}

int acpi_parse_spcr(const void *spcr, size_t len, struct acpi_spcr *out, char *err, size_t errlen)
{
	const uint8_t *t = spcr;
	size_t end = len < 8 ? 0 : MIN(len, (size_t)load_u32(t + 4));

	*out = (struct acpi_spcr){ 0 };
	if (end < SPCR_MIN_LEN)
		return acpi_fail(err, errlen, "SPCR: length %zu, shorter than %d bytes", end,
				 SPCR_MIN_LEN);
	out->revision = t[8];
	out->interface_type = t[SPCR_IFACE];
	out->space_id = t[SPCR_GAS];
	out->bit_width = t[SPCR_GAS + 1];
	out->address = load_u64(t + SPCR_GAS + 4);
	out->baud_code = t[SPCR_BAUD];
	out->baud = spcr_code_baud(out->baud_code);
	if (out->revision >= 3)
		out->uart_clock = load_u32(t + SPCR_CLOCK);
	if (out->revision >= 4 && end >= SPCR_PRECISE + 4 && load_u32(t + SPCR_PRECISE))
		out->baud = load_u32(t + SPCR_PRECISE);
	return 0;
}
