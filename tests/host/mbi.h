/* tests/host/mbi.h - builds multiboot2 information blocks for the tests.
 *
 *   struct mbi m; mbi_init(&m);
 *   mbi_tag(&m, 1, "console=ttyS1", 14);     any tag: type, payload, payload size
 *   mbi_mmap(&m, 24, ranges, n);              tag 6 with this entry size
 *   mbi_end(&m);                              end tag, total_size written
 *   mb2_parse(m.b, m.len, &bi, err, sizeof(err));
 * Tags are 8-byte aligned as the specification requires; a payload whose size is not
 * a multiple of 8 is padded with zeros.
 */
#ifndef TESTS_HOST_MBI_H
#define TESTS_HOST_MBI_H

#include "kernel/multiboot2.h"

#include <stddef.h>
#include <stdint.h>

#define MBI_CAP (MB2_MAX_SIZE + 16 * 1024) /* room for MBIs above the limit */

struct mbi {
	uint8_t b[MBI_CAP] __attribute__((aligned(8)));
	uint32_t len;
};

/* One entry of a memory-map tag (6) or, with mbi_efi_map, an EFI descriptor
 * (type = EFI memory type, len in bytes, a multiple of 4 KiB). */
struct mbi_range {
	uint64_t base, len;
	uint32_t type;
};

void mbi_init(struct mbi *m);
/* Appends a tag: header (type, 8 + size) and size bytes of payload. */
void mbi_tag(struct mbi *m, uint32_t type, const void *payload, uint32_t size);
/* Appends tag 6 with entries of entry_size bytes (>= 24; the rest zero). */
void mbi_mmap(struct mbi *m, uint32_t entry_size, const struct mbi_range *r, int n);
/* Appends tag 17 with descriptors of desc_size bytes (>= 40). */
void mbi_efi_map(struct mbi *m, uint32_t desc_size, const struct mbi_range *r, int n);
/* Appends the end tag and writes total_size. */
void mbi_end(struct mbi *m);
/* Stores a little-endian u32 at off. */
void mbi_put32(struct mbi *m, uint32_t off, uint32_t v);

#endif
