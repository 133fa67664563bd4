/* tests/mbi_builder.h - builds a multiboot2 information structure (MBI) for the
 * multiboot2 suite and parses it with mb2_parse().
 *
 * One MBI at a time, in a static 8-aligned buffer (an MBI and a boot_info are too big
 * for a stack): mbi_begin(), then tags, then mbi_end() (or mbi_close() for none);
 * total_size is patched last. mbi_parse() leaves the result in mbi_bi and the message in mbi_err.
 */
#ifndef TESTS_MBI_BUILDER_H
#define TESTS_MBI_BUILDER_H

#include "kernel/multiboot2.h"
#include "kernel/types.h"

#define MBI_BUF_SIZE 32768 /* room for a map past BOOT_MAX_RANGES */
#define MBI_ERR_SIZE 192

/* An EFI memory descriptor as the tests describe it; mbi_efi_mmap() lays it out. */
struct efi_desc {
	uint32_t type;
	uint64_t phys;
	uint64_t pages;
};

/* The MBI being built, its length so far, and what the last mbi_parse produced. */
extern uint8_t mbi[MBI_BUF_SIZE];
extern uint32_t mbi_len;
extern struct boot_info mbi_bi;
extern char mbi_err[MBI_ERR_SIZE];

/* Stores v at byte off of the MBI (off + 4 <= MBI_BUF_SIZE). */
void mbi_put32(uint32_t off, uint32_t v);
/* Starts an MBI holding only its 8-byte header; clears mbi_bi and mbi_err. */
void mbi_begin(void);
/* Appends a tag header declaring `size` bytes; returns the payload's offset. */
uint32_t mbi_tag(uint32_t type, uint32_t size);
/* Sets total_size to the bytes written so far (no end tag). */
void mbi_close(void);
/* Appends the end tag and sets total_size. */
void mbi_end(void);
/* Appends a string tag (1 = command line, 2 = boot loader name), NUL included. */
void mbi_string(uint32_t type, const char *s);
/* Appends a memory-map tag (6) of n entries, entry_size bytes apart. */
void mbi_mmap(uint32_t entry_size, const struct mem_range *r, uint32_t n);
/* Appends an EFI memory-map tag (17) of n descriptors, desc_size bytes apart. */
void mbi_efi_mmap(uint32_t desc_size, const struct efi_desc *d, uint32_t n);
/* Appends an RSDP tag (14: 20 bytes, 15: 36 bytes) filled with `mark` after the
 * signature. */
void mbi_rsdp(uint32_t type, uint8_t mark);
/* Parses the MBI as built (len = the bytes written): mb2_parse()'s result. */
int mbi_parse(void);
/* Builds an MBI holding only a 24-byte-entry memory map of r[0..n) and parses it. */
int mbi_parse_map(const struct mem_range *r, uint32_t n);
/* Index of the first range of mbi_bi that differs from want[], n if the count differs,
 * -1 when all match; notes the difference. */
int mbi_map_mismatch(const struct mem_range *want, int n);

/* The call parses to -EINVAL with a message containing `word`. */
#define KEXPECT_REJECTED(call, word)                         \
	do {                                                 \
		KEXPECT_EQ(call, -EINVAL);                   \
		KEXPECT_NE(mbi_err[0], '\0');                \
		KEXPECT_TRUE(ktest_contains(mbi_err, word)); \
		ktest_note("message: %s", mbi_err);          \
	} while (0)

#endif
