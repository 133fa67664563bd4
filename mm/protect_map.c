/* mm/protect_map.c - the table of protected physical regions (mm/protect_map.h) and
 * the queries on it. Only reads: safe inside the checker and every table store. */
#include "mm/protect_map.h"
#include "mm/dmap.h"
#include "mm/pgprot.h"
#include "mm/pgtable.h"
#include "mm/pool.h"
#include "mm/ptcache.h"
#include "kernel/printf.h"
#include "arch/pkrs.h"

extern char __kernel_start[], __rodata_end[];
extern char __ro_after_init_start[], __ro_after_init_end[];
extern char __pt_keyed_start[], __pt_keyed_end[];

/* The image's guarded parts: linked address and physical range, fixed at init. */
enum { IMAGE_RO, IMAGE_RO_AFTER_INIT, IMAGE_KEYED, NR_IMAGE_PARTS, NO_IMAGE = -1 };
static struct {
	uint64_t va;
	struct pa_range pa;
} image[NR_IMAGE_PARTS] __ro_after_init;

struct protect_row {
	const char *name;
	enum protect_kind kind;
	bool from_seal; /* guards only once the protection state is sealed */
	int image;	/* IMAGE_*: the row is that part of the kernel image */
	/* The i-th range; false past the last. */
	bool (*range)(uint64_t i, struct pa_range *out);
	/* The first range overlapping [pa, pa+len), into *hit (NULL for image rows). */
	bool (*find)(phys_addr_t pa, uint64_t len, struct pa_range *hit);
};

/* True when [a, a+alen) and the non-empty range r overlap. */
static bool overlaps(phys_addr_t a, uint64_t alen, const struct pa_range *r)
{
	return r->len && a < r->base + r->len && r->base < a + alen;
}

static bool image_range(int part, uint64_t i, struct pa_range *out)
{
	*out = image[part].pa;
	return i == 0 && out->len;
}
static bool ro_range(uint64_t i, struct pa_range *out)
{
	return image_range(IMAGE_RO, i, out);
}
static bool ro_after_init_range(uint64_t i, struct pa_range *out)
{
	return image_range(IMAGE_RO_AFTER_INIT, i, out);
}
static bool keyed_range(uint64_t i, struct pa_range *out)
{
	return image_range(IMAGE_KEYED, i, out);
}
static bool pool_range(uint64_t i, struct pa_range *out)
{
	*out = (struct pa_range){ i < pool_nr_chunks() ? pool_chunk(i) : 0, POOL_CHUNK_SIZE };
	return i < pool_nr_chunks();
}
static bool pool_find(phys_addr_t pa, uint64_t len, struct pa_range *hit)
{
	phys_addr_t chunk;

	if (!pool_overlaps(pa, len, &chunk))
		return false;
	*hit = (struct pa_range){ chunk, POOL_CHUNK_SIZE };
	return true;
}
static bool cache_range(uint64_t i, struct pa_range *out)
{
	*out = (struct pa_range){ i < ptcache_nr_blocks() ? ptcache_block(i) : 0, 2 * MiB };
	return i < ptcache_nr_blocks();
}
static bool cache_find(phys_addr_t pa, uint64_t len, struct pa_range *hit)
{
	if (!ptcache_overlaps(pa, len))
		return false;
	for (uint64_t i = 0; cache_range(i, hit); i++)
		if (overlaps(pa, len, hit))
			return true;
	return false;
}
static bool meta_range(uint64_t i, struct pa_range *out)
{
	pool_meta(&out->base, &out->len);
	return i == 0 && out->len;
}
static bool meta_find(phys_addr_t pa, uint64_t len, struct pa_range *hit)
{
	pool_meta(&hit->base, &hit->len);
	return overlaps(pa, len, hit);
}

/* The regions only the table code may touch, strongest rule first. */
static const struct protect_row rows[] = {
	/* .text and .rodata: code and constants, never writable (W^X) */
	{ "kernel text+rodata", PROTECT_READONLY, false, IMAGE_RO, ro_range, NULL },
	/* the protection's settings (table key, enforcement, trap guard) */
	{ "ro_after_init", PROTECT_READONLY, true, IMAGE_RO_AFTER_INIT, ro_after_init_range, NULL },
	/* every direct-map table: keyed 2 MiB leaves from birth, never split */
	{ "split pool", PROTECT_TABLE, false, NO_IMAGE, pool_range, pool_find },
	/* every other table (image, vmap, roots): keyed 2 MiB blocks */
	{ "table cache", PROTECT_TABLE, false, NO_IMAGE, cache_range, cache_find },
	/* state changed at run time inside a window (mode, table levels, checker) */
	{ "pt_keyed state", PROTECT_CONTROL, true, IMAGE_KEYED, keyed_range, NULL },
	/* which pool frames are free: a stray store could hand out a live table */
	{ "pool bookkeeping", PROTECT_CONTROL, true, NO_IMAGE, meta_range, meta_find },
};

void protect_map_init(void)
{
	static char *const bounds[NR_IMAGE_PARTS][2] = {
		[IMAGE_RO] = { __kernel_start, __rodata_end },
		[IMAGE_RO_AFTER_INIT] = { __ro_after_init_start, __ro_after_init_end },
		[IMAGE_KEYED] = { __pt_keyed_start, __pt_keyed_end },
	};

	for (int i = 0; i < NR_IMAGE_PARTS; i++) {
		image[i].va = (uint64_t)bounds[i][0];
		image[i].pa = (struct pa_range){ kernel_image_pa(image[i].va),
						 (uint64_t)(bounds[i][1] - bounds[i][0]) };
	}
}

int protect_nr_rows(void)
{
	return (int)ARRAY_SIZE(rows);
}

const struct protect_row *protect_row(int i)
{
	return i >= 0 && i < protect_nr_rows() ? &rows[i] : NULL;
}

const char *protect_row_name(const struct protect_row *row)
{
	return row->name;
}

enum protect_kind protect_row_kind(const struct protect_row *row)
{
	return row->kind;
}

/* protect_row_live() with pgprot_sealed() read once by the caller. */
static bool live(const struct protect_row *row, bool sealed)
{
	return !row->from_seal || sealed;
}

bool protect_row_live(const struct protect_row *row)
{
	return live(row, pgprot_sealed());
}

bool protect_row_range(const struct protect_row *row, uint64_t i, struct pa_range *out)
{
	return row->range(i, out);
}

uint64_t protect_row_image_va(const struct protect_row *row, const struct pa_range *r)
{
	if (row->image == NO_IMAGE)
		return 0;
	return image[row->image].va + (r->base - image[row->image].pa.base);
}

const char *protect_row_rule(const struct protect_row *row, char *buf, size_t size)
{
	if (row->kind == PROTECT_READONLY)
		ksnprintf(buf, size, "read-only in every mapping");
	else if (row->kind == PROTECT_TABLE)
		ksnprintf(buf, size, "table pages: writable only in the direct map, with key %d",
			  pgprot_key());
	else
		ksnprintf(buf, size, "protection state: writable only with key %d", pgprot_key());
	return buf;
}

/* The first range of row overlapping [pa, pa+len), into *hit. Hot: every leaf store
 * and every leaf the checker walks asks it. */
static bool find(const struct protect_row *row, phys_addr_t pa, uint64_t len, struct pa_range *hit)
{
	if (row->image == NO_IMAGE)
		return row->find(pa, len, hit);
	*hit = image[row->image].pa;
	return overlaps(pa, len, hit);
}

const struct protect_row *protect_region_of(phys_addr_t pa, uint64_t len, struct pa_range *hit)
{
	bool sealed = pgprot_sealed();
	struct pa_range r;

	for (int i = 0; i < protect_nr_rows(); i++) {
		if (!live(&rows[i], sealed) || !find(&rows[i], pa, len, &r))
			continue;
		if (hit)
			*hit = r;
		return &rows[i];
	}
	return NULL;
}

/* True when a writable leaf (in the direct map when dmap, with the table key when
 * keyed) keeps row's rule. */
static bool rule_allows(const struct protect_row *row, bool dmap, bool keyed)
{
	if (row->kind == PROTECT_READONLY || !keyed)
		return false;
	return row->kind == PROTECT_CONTROL || dmap;
}

const struct protect_row *protect_leaf_refused(bool dmap, phys_addr_t pa, uint64_t size, uint64_t e)
{
	struct pa_range r;
	bool sealed, keyed;

	if (!(e & PTE_W))
		return NULL;
	sealed = pgprot_sealed();
	keyed = pt_entry_pkey(e) == pgprot_key();
	for (int i = 0; i < protect_nr_rows(); i++)
		if (live(&rows[i], sealed) && !rule_allows(&rows[i], dmap, keyed) &&
		    find(&rows[i], pa, size, &r))
			return &rows[i];
	return NULL;
}

bool protect_leaf_allowed(bool dmap, phys_addr_t pa, uint64_t size, uint64_t e)
{
	return !protect_leaf_refused(dmap, pa, size, e);
}

uint64_t protect_dmap_leaf(phys_addr_t pa, uint64_t size)
{
	struct pa_range hit;
	const struct protect_row *row = protect_region_of(pa, size, &hit);

	if (!row)
		return PAGE_KERNEL_RW;
	if (pa < hit.base || pa + size > hit.base + hit.len)
		return 0; /* straddles the edge of the row's range: go smaller */
	if (row->kind == PROTECT_READONLY)
		return PAGE_KERNEL_RO;
	return PAGE_KERNEL_RW | PTE_PKEY(pgprot_key());
}
