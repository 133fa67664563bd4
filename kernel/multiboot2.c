/* kernel/multiboot2.c - validates a copy of the multiboot2 boot information (MBI).
 *
 * Layout (Multiboot2 specification 2.0, section 3.6):
 *
 *   0x00  u32 total_size  u32 reserved
 *   0x08  tag: u32 type, u32 size (header included), payload     each tag 8-aligned
 *   ...   tag ...
 *         end tag: type 0, size 8
 *
 * Every read is checked against total_size, itself checked against the length of the
 * copy: nothing outside [mbi, mbi + total_size) is read. The memory map (tag 6, or
 * tag 17 converted when there is no tag 6) is normalised into sorted, non-overlapping,
 * merged ranges where the more restrictive type wins.
 */
#include "kernel/multiboot2.h"
#include "kernel/printf.h"
#include "kernel/types.h"

enum mb2_tag {
	TAG_END = 0,
	TAG_CMDLINE = 1,
	TAG_LOADER = 2,
	TAG_MMAP = 6,
	TAG_EFI64 = 12,
	TAG_ACPI_OLD = 14,
	TAG_ACPI_NEW = 15,
	TAG_EFI_MMAP = 17,
};

#define MB2_HDR	       8  /* the MBI header, and every tag header */
#define MAP_HDR	       16 /* tag header + entry_size + entry_version */
#define MMAP_ENTRY_MIN 24 /* u64 base, u64 len, u32 type, u32 reserved */
#define EFI_DESC_MIN   40 /* u32 type, pad, u64 phys, virt, pages, attribute */
#define EFI_PAGE_SHIFT 12 /* EFI pages are always 4 KiB (UEFI 2.10, 7.2) */
#define RSDP1_LEN      20
#define RSDP2_LEN      36

_Static_assert(RSDP2_LEN <= sizeof(((struct boot_info *)0)->rsdp), "rsdp too small");

/* UEFI 2.10 section 7.2 EFI_MEMORY_TYPE -> enum mem_type; absent rows are reserved
 * (runtime services, MMIO, PAL code, persistent and unaccepted memory, ...). */
static const uint8_t efi_to_mem[] = {
	[1] = MEM_USABLE,	/* EfiLoaderCode */
	[2] = MEM_USABLE,	/* EfiLoaderData */
	[3] = MEM_USABLE,	/* EfiBootServicesCode */
	[4] = MEM_USABLE,	/* EfiBootServicesData */
	[7] = MEM_USABLE,	/* EfiConventionalMemory */
	[8] = MEM_BAD,		/* EfiUnusableMemory */
	[9] = MEM_ACPI_RECLAIM, /* EfiACPIReclaimMemory */
	[10] = MEM_ACPI_NVS,	/* EfiACPIMemoryNVS */
};

/* The entries of one memory-map tag (6 or 17); first == NULL when it is absent. */
struct map_src {
	const uint8_t *first;
	uint32_t count;
	uint32_t stride; /* entry_size / descriptor_size, as the tag says */
	uint32_t tag_off;
	bool efi;
};

struct mb2_ctx {
	const uint8_t *mbi;
	uint32_t total; /* validated total_size */
	struct boot_info *bi;
	char *err;
	size_t errlen;
	struct map_src mmap; /* tag 6 */
	struct map_src efi;  /* tag 17 */
};

/* Writes the reason into c->err (if any) and returns -EINVAL. */
static __printf(2, 3) int fail(struct mb2_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err && c->errlen) {
		va_start(ap, fmt);
		kvsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Converts an EFI memory type to enum mem_type. */
static uint32_t efi_mem_type(uint32_t efi_type)
{
	if (efi_type < ARRAY_SIZE(efi_to_mem) && efi_to_mem[efi_type])
		return efi_to_mem[efi_type];
	return MEM_RESERVED;
}

/* Decodes entry i of src into base, length in bytes and enum mem_type.
 * Needs: i < src->count and the source checked by map_check(). */
static void map_entry(const struct map_src *src, uint32_t i, uint64_t *base, uint64_t *len,
		      uint32_t *type)
{
	const uint8_t *e = src->first + (size_t)i * src->stride;

	if (src->efi) {
		*type = efi_mem_type(load_u32(e));
		*base = load_u64(e + 8);
		*len = load_u64(e + 24) << EFI_PAGE_SHIFT;
		return;
	}
	*base = load_u64(e);
	*len = load_u64(e + 8);
	*type = load_u32(e + 16);
	if (*type < MEM_USABLE || *type > MEM_BAD)
		*type = MEM_RESERVED;
}

/* Checks that no entry of src runs past 2^64. Returns 0 or -EINVAL. */
static int map_check(struct mb2_ctx *c, const struct map_src *src, uint32_t tag)
{
	const uint8_t *e;
	uint64_t base, len;
	uint32_t i;

	for (i = 0; i < src->count; i++) {
		e = src->first + (size_t)i * src->stride;
		base = load_u64(src->efi ? e + 8 : e);
		len = load_u64(src->efi ? e + 24 : e + 8);
		if (src->efi && len > (UINT64_MAX >> EFI_PAGE_SHIFT))
			return fail(c,
				    "tag %u at offset 0x%x: entry %u has 0x%llx pages, more than "
				    "2^64 bytes",
				    tag, src->tag_off, i, (unsigned long long)len);
		if (src->efi)
			len <<= EFI_PAGE_SHIFT;
		if (len > UINT64_MAX - base)
			return fail(c,
				    "tag %u at offset 0x%x: entry %u (base 0x%llx, length 0x%llx) "
				    "runs past 2^64",
				    tag, src->tag_off, i, (unsigned long long)base,
				    (unsigned long long)len);
	}
	return 0;
}

/* Records a memory-map tag (6 or 17) at off; honours its entry size.
 * Returns 0 or -EINVAL. A trailing partial entry is ignored. */
static int tag_map(struct mb2_ctx *c, uint32_t type, uint32_t off, uint32_t size)
{
	bool efi = type == TAG_EFI_MMAP;
	struct map_src *src = efi ? &c->efi : &c->mmap;
	uint32_t min = efi ? EFI_DESC_MIN : MMAP_ENTRY_MIN;
	uint32_t stride;

	if (src->first)
		return fail(c, "tag %u at offset 0x%x: a second memory map of this kind", type,
			    off);
	if (size < MAP_HDR)
		return fail(c, "tag %u at offset 0x%x: size %u too small for the map header", type,
			    off, size);
	stride = load_u32(c->mbi + off + MB2_HDR);
	if (stride < min || (!efi && stride % 8))
		return fail(c, "tag %u at offset 0x%x: entry size %u invalid (must be >= %u%s)",
			    type, off, stride, min, efi ? "" : " and a multiple of 8");
	src->first = c->mbi + off + MAP_HDR;
	src->count = (size - MAP_HDR) / stride;
	src->stride = stride;
	src->tag_off = off;
	src->efi = efi;
	if (efi)
		c->bi->uefi = true;
	return map_check(c, src, type);
}

/* Copies the NUL-terminated string of tag `type` at off into dst (truncated to dstlen).
 * Returns 0 or -EINVAL when the string has no NUL inside the tag. */
static int tag_string(struct mb2_ctx *c, uint32_t type, uint32_t off, uint32_t size, char *dst,
		      size_t dstlen)
{
	const char *s = (const char *)c->mbi + off + MB2_HDR;
	size_t n = size - MB2_HDR;

	if (strnlen(s, n) == n)
		return fail(c, "tag %u at offset 0x%x: string has no NUL within its %zu bytes",
			    type, off, n);
	strncpy_z(dst, s, dstlen);
	return 0;
}

/* Keeps the RSDP bytes of tag 14 (ACPI 1.0) or 15 (2.0+); 2.0 wins in any order.
 * Returns 0 or -EINVAL when the tag is too small for its RSDP. */
static int tag_rsdp(struct mb2_ctx *c, uint32_t type, uint32_t off, uint32_t size)
{
	int rev = type == TAG_ACPI_NEW ? 2 : 1;
	uint32_t need = rev == 2 ? RSDP2_LEN : RSDP1_LEN;
	struct boot_info *bi = c->bi;

	if (size - MB2_HDR < need)
		return fail(c, "tag %u at offset 0x%x: %u bytes, too small for a %u-byte RSDP",
			    type, off, size - MB2_HDR, need);
	if (rev < bi->acpi_rev)
		return 0;
	memset(bi->rsdp, 0, sizeof(bi->rsdp));
	memcpy(bi->rsdp, c->mbi + off + MB2_HDR, need);
	bi->acpi_rev = rev;
	bi->rsdp_pa = 0; /* unknown here: only the copy is seen */
	return 0;
}

/* Handles one tag whose header was checked; unknown types are skipped.
 * Returns 0 or -EINVAL. */
static int parse_tag(struct mb2_ctx *c, uint32_t type, uint32_t off, uint32_t size)
{
	struct boot_info *bi = c->bi;

	switch (type) {
	case TAG_CMDLINE:
		return tag_string(c, type, off, size, bi->cmdline, sizeof(bi->cmdline));
	case TAG_LOADER:
		return tag_string(c, type, off, size, bi->loader, sizeof(bi->loader));
	case TAG_MMAP:
	case TAG_EFI_MMAP:
		return tag_map(c, type, off, size);
	case TAG_EFI64:
		if (size < MB2_HDR + 8)
			return fail(c,
				    "tag %u at offset 0x%x: size %u too small for a 64-bit pointer",
				    type, off, size);
		bi->uefi = true;
		return 0;
	case TAG_ACPI_OLD:
	case TAG_ACPI_NEW:
		return tag_rsdp(c, type, off, size);
	default:
		return 0;
	}
}

/* Walks the tags from offset 8 up to the end tag, checking every header against
 * total_size before reading the tag. Returns 0 or -EINVAL. */
static int walk_tags(struct mb2_ctx *c)
{
	uint32_t off = MB2_HDR, type, size;
	int ret;

	for (;;) {
		if (off > c->total || c->total - off < MB2_HDR)
			return fail(c, "offset 0x%x: no end tag before the end of the MBI (0x%x)",
				    off, c->total);
		type = load_u32(c->mbi + off);
		size = load_u32(c->mbi + off + 4);
		if (size < MB2_HDR)
			return fail(c,
				    "tag %u at offset 0x%x: size %u is smaller than the 8-byte tag "
				    "header",
				    type, off, size);
		if (size > c->total - off)
			return fail(c,
				    "tag %u at offset 0x%x: size 0x%x runs past the end of the MBI "
				    "(0x%x)",
				    type, off, size, c->total);
		if (type == TAG_END)
			return 0;
		ret = parse_tag(c, type, off, size);
		if (ret)
			return ret;
		off += (uint32_t)ALIGN_UP(size, 8);
	}
}

/* The sweep's events, sorted by position: entry i starts at event 2i and ends at
 * event 2i+1. Sized for the most entries an MBI can hold; mb2_parse is not reentrant
 * (it runs at boot and in the tests, one caller at a time). */
static uint32_t sweep_ev[2 * (MB2_MAX_SIZE / MMAP_ENTRY_MIN)];

/* Position of event ev of src (its entry's base or end), its entry's type in *type. */
static uint64_t ev_pos(const struct map_src *src, uint32_t ev, uint32_t *type)
{
	uint64_t base, len;

	map_entry(src, ev / 2, &base, &len, type);
	return ev & 1 ? base + len : base;
}

/* Heap sift-down of a[root] within a[0..n), by position. */
static void sift_down(const struct map_src *src, uint32_t *a, uint32_t root, uint32_t n)
{
	uint32_t t, child, tmp;

	while ((child = 2 * root + 1) < n) {
		if (child + 1 < n && ev_pos(src, a[child + 1], &t) > ev_pos(src, a[child], &t))
			child++;
		if (ev_pos(src, a[root], &t) >= ev_pos(src, a[child], &t))
			return;
		tmp = a[root];
		a[root] = a[child];
		a[child] = tmp;
		root = child;
	}
}

/* Fills sweep_ev with the events of src's non-empty entries, sorted by position
 * (heapsort: O(n log n), no allocation); returns how many. */
static uint32_t sort_events(const struct map_src *src)
{
	uint32_t n = 0, t, tmp;
	uint64_t base, len;

	for (uint32_t i = 0; i < src->count; i++) {
		map_entry(src, i, &base, &len, &t);
		if (len) {
			sweep_ev[n++] = 2 * i;
			sweep_ev[n++] = 2 * i + 1;
		}
	}
	for (uint32_t i = n / 2; i-- > 0;)
		sift_down(src, sweep_ev, i, n);
	for (uint32_t end = n; end-- > 1;) {
		tmp = sweep_ev[0];
		sweep_ev[0] = sweep_ev[end];
		sweep_ev[end] = tmp;
		sift_down(src, sweep_ev, 0, end);
	}
	return n;
}

/* The highest (most restrictive) type with an entry open, 0 if none. */
static uint32_t open_type(const uint32_t *open)
{
	for (uint32_t t = MEM_BAD; t >= MEM_USABLE; t--)
		if (open[t])
			return t;
	return 0;
}

/* True for the types the direct map maps as RAM. */
static bool ram_type(uint32_t type)
{
	return type == MEM_USABLE || type == MEM_ACPI_RECLAIM;
}

/* Makes room in the full bi->mem by folding a non-RAM range into a non-RAM one
 * before it (the gap between them joins it: nothing there is mapped either way),
 * else by forgetting one non-RAM range (it reads as a hole: also unmapped). Returns
 * false when every kept range is RAM. */
static bool evict_non_ram(struct boot_info *bi)
{
	int n = bi->nr_mem, i, victim = -1;

	for (i = 1; i < n && victim < 0; i++)
		if (!ram_type(bi->mem[i].type) && !ram_type(bi->mem[i - 1].type))
			victim = i;
	if (victim > 0) {
		struct mem_range *prev = &bi->mem[victim - 1];

		prev->len = bi->mem[victim].base + bi->mem[victim].len - prev->base;
		prev->type = MAX(prev->type, bi->mem[victim].type);
	}
	for (i = 0; i < n && victim < 0; i++)
		if (!ram_type(bi->mem[i].type))
			victim = i;
	if (victim < 0)
		return false;
	memmove(&bi->mem[victim], &bi->mem[victim + 1],
		(size_t)(n - victim - 1) * sizeof(bi->mem[0]));
	bi->nr_mem--;
	bi->mem_folded++;
	return true;
}

/* Counts [base, base+len) of RAM as left out. */
static void drop_ram(struct boot_info *bi, uint64_t base, uint64_t len)
{
	if (!bi->mem_dropped++ || base < bi->mem_dropped_from)
		bi->mem_dropped_from = base;
	bi->mem_dropped_ram += len;
}

/* bi->mem is full and [base, end) of type does not merge: a non-RAM range is
 * folded into a non-RAM last range or forgotten; a RAM range takes the slot of a
 * non-RAM range, else of the smallest RAM range if it is larger, else it is left
 * out. Nothing is rejected, RAM is given up smallest first, and the header says
 * what was folded and what RAM was left out. Returns true when a slot was freed. */
static bool overflow_range(struct boot_info *bi, uint64_t base, uint64_t end, uint32_t type)
{
	struct mem_range *last = &bi->mem[bi->nr_mem - 1];
	int small = -1;

	if (!ram_type(type)) {
		if (!ram_type(last->type)) {
			last->len = end - last->base;
			last->type = MAX(last->type, type);
		}
		bi->mem_folded++;
		return false;
	}
	if (evict_non_ram(bi))
		return true;
	for (int i = 0; i < bi->nr_mem; i++)
		if (small < 0 || bi->mem[i].len < bi->mem[small].len)
			small = i;
	if (bi->mem[small].len >= end - base) {
		drop_ram(bi, base, end - base);
		return false;
	}
	drop_ram(bi, bi->mem[small].base, bi->mem[small].len);
	memmove(&bi->mem[small], &bi->mem[small + 1],
		(size_t)(bi->nr_mem - small - 1) * sizeof(bi->mem[0]));
	bi->nr_mem--;
	return true;
}

/* Appends [base, end) of type to bi->mem, merging with an adjacent last range of the
 * same type; when the table is full, see overflow_range(). Needs base >= the end of
 * the last range (the sweep emits in ascending order, so the table stays sorted). */
static void emit_range(struct mb2_ctx *c, uint64_t base, uint64_t end, uint32_t type)
{
	struct boot_info *bi = c->bi;
	struct mem_range *last = bi->nr_mem ? &bi->mem[bi->nr_mem - 1] : NULL;

	if (last && last->type == type && last->base + last->len == base) {
		last->len += end - base;
		return;
	}
	if (bi->nr_mem == BOOT_MAX_RANGES && !overflow_range(bi, base, end, type))
		return;
	last = &bi->mem[bi->nr_mem++];
	last->base = base;
	last->len = end - base;
	last->type = type;
}

/* Fills bi->mem from src: sweeps the entry boundaries in ascending order, so the
 * result is sorted, overlap-free (most restrictive type wins) and merged.
 * O(n log n) in the entries. Returns 0 or -EINVAL (no range). */
static int build_ranges(struct mb2_ctx *c, const struct map_src *src, uint32_t tag)
{
	uint32_t n = sort_events(src), open[MEM_BAD + 1] = { 0 }, t, type;
	uint64_t pos;

	for (uint32_t k = 0; k < n;) {
		pos = ev_pos(src, sweep_ev[k], &t);
		for (; k < n && ev_pos(src, sweep_ev[k], &t) == pos; k++)
			open[t] += sweep_ev[k] & 1 ? -1u : 1u;
		type = open_type(open);
		if (k < n && type)
			emit_range(c, pos, ev_pos(src, sweep_ev[k], &t), type);
	}
	if (!c->bi->nr_mem)
		return fail(c, "tag %u at offset 0x%x: memory map has no non-empty entry", tag,
			    src->tag_off);
	return 0;
}

/* Chooses the memory map: tag 6 when present, else tag 17 converted. */
static int build_map(struct mb2_ctx *c)
{
	if (c->mmap.first)
		return build_ranges(c, &c->mmap, TAG_MMAP);
	if (!c->efi.first)
		return fail(c, "no memory map: neither a memory-map tag (6) nor an EFI memory-map "
			       "tag (17)");
	c->bi->mem_from_efi = true;
	return build_ranges(c, &c->efi, TAG_EFI_MMAP);
}

/* See multiboot2.h. Reads only [mbi, mbi + min(len, total_size)); keeps no state.
 * Sets mbi_size to total_size; mbi_pa and rsdp_pa stay 0 (the caller knows them). */
int mb2_parse(const void *mbi, size_t len, struct boot_info *out, char *err, size_t errlen)
{
	struct mb2_ctx c = { .mbi = mbi, .bi = out, .err = err, .errlen = errlen };
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!mbi || !out)
		return fail(&c, "no MBI or no boot_info given");
	memset(out, 0, sizeof(*out));
	if (len < MB2_HDR)
		return fail(&c, "offset 0x0: %zu bytes, too few for the MBI header", len);
	c.total = load_u32(c.mbi);
	if (c.total < 2 * MB2_HDR)
		return fail(&c, "offset 0x0: total_size 0x%x is below the 0x10-byte minimum",
			    c.total);
	if (c.total > len)
		return fail(&c,
			    "offset 0x0: total_size 0x%x is larger than the 0x%zx bytes available",
			    c.total, len);
	if (c.total > MB2_MAX_SIZE)
		return fail(&c, "offset 0x0: total_size 0x%x is above the 0x%x-byte limit", c.total,
			    MB2_MAX_SIZE);
	out->mbi_size = c.total;
	ret = walk_tags(&c);
	if (!ret)
		ret = build_map(&c);
	return ret;
}

/* See multiboot2.h. */
const char *mem_type_name(uint32_t type)
{
	switch (type) {
	case MEM_USABLE:
		return "usable";
	case MEM_RESERVED:
		return "reserved";
	case MEM_ACPI_RECLAIM:
		return "ACPI reclaimable";
	case MEM_ACPI_NVS:
		return "ACPI NVS";
	case MEM_BAD:
		return "bad";
	default:
		return "unknown";
	}
}

/* See multiboot2.h. */
uint64_t boot_mem_total(const struct boot_info *bi, uint32_t type)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < bi->nr_mem; i++)
		if (bi->mem[i].type == type)
			sum += bi->mem[i].len;
	return sum;
}
