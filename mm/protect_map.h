/* mm/protect_map.h - the one table of physical regions only the table code may
 * touch, and the queries every mapping path asks of it.
 *
 *   row                    holds                                   kind      from
 *   "kernel text+rodata"   the image's code and constants          READONLY  boot
 *   "ro_after_init"        protection settings fixed at boot       READONLY  seal
 *   "split pool"           direct-map tables (mm/pool.h)            TABLE     boot
 *   "table cache"          every other table (mm/ptcache.h)         TABLE     boot
 *   "pt_keyed state"       protection state changed at run time    CONTROL   seal
 *   "pool bookkeeping"     the pool's chunk array                  CONTROL   seal
 *
 *   READONLY  no mapping may make it writable
 *   TABLE     writable only in the direct map, with the table key
 *   CONTROL   writable only with the table key
 * "from": a row guards from boot, or from the seal (pgprot_enable) on. The direct
 * map's leaves (mm/dmap.c), set_memory's refusal (mm/set_memory.c), every store of
 * a leaf (mm/pgtable.c, mm/vmap.c) and the checker's key checks (mm/checker.c) all
 * read this table, and each names the row in its message.
 */
#ifndef MM_PROTECT_MAP_H
#define MM_PROTECT_MAP_H

#include "kernel/types.h"
#include "mm/dmap.h"

enum protect_kind {
	PROTECT_READONLY,
	PROTECT_TABLE,
	PROTECT_CONTROL,
};

struct protect_row;

/* Records where the image's guarded parts lie physically (before dmap_init); the
 * rows do not follow a kernel_load_delta that a stray store changed later. */
void protect_map_init(void);

/* Rows of the table, live or not, for tests and the checker: 0 <= i < count. */
int protect_nr_rows(void);
const struct protect_row *protect_row(int i);
const char *protect_row_name(const struct protect_row *row);
enum protect_kind protect_row_kind(const struct protect_row *row);
/* True when the row guards now (a "seal" row only once pgprot_sealed()). */
bool protect_row_live(const struct protect_row *row);
/* The row's i-th physical range; false past its last. */
bool protect_row_range(const struct protect_row *row, uint64_t i, struct pa_range *out);
/* The kernel-image address of the row's range r, or 0 when the row is not in the
 * image (its only other mapping is the direct map). */
uint64_t protect_row_image_va(const struct protect_row *row, const struct pa_range *r);
/* The row's rule in words, e.g. "table pages: writable only in the direct map,
 * with key 1", into buf; returns buf. */
const char *protect_row_rule(const struct protect_row *row, char *buf, size_t size);

/* The first live row any byte of [pa, pa+len) lies in, or NULL; *hit (optional)
 * gets that row's range. */
const struct protect_row *protect_region_of(phys_addr_t pa, uint64_t len, struct pa_range *hit);
/* The live row whose rule the leaf entry e (size bytes, mapping [pa, pa+size), at a
 * direct-map address when dmap) breaks, or NULL when e may map it: a read-only leaf
 * always may. The answer depends on e's PROTECT_RULE_BITS only, so a run of leaves
 * that map contiguous memory alike is answered by one call for the whole run. */
#define PROTECT_RULE_BITS (PTE_W | PTE_PKEY_MASK)
const struct protect_row *protect_leaf_refused(bool dmap, phys_addr_t pa, uint64_t size,
					       uint64_t e);
/* protect_leaf_refused() == NULL. */
bool protect_leaf_allowed(bool dmap, phys_addr_t pa, uint64_t size, uint64_t e);
/* The direct-map leaf attributes for [pa, pa+size) by the live rows: read-only,
 * keyed with the table key, or PAGE_KERNEL_RW; 0 when the range is not uniform (it
 * straddles the edge of a row's range). */
uint64_t protect_dmap_leaf(phys_addr_t pa, uint64_t size);

#endif
