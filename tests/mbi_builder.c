/* tests/mbi_builder.c - crafted multiboot2 boot information for the multiboot2 suite
 * (tests/test_multiboot2.c), behind tests/mbi_builder.h. */
#include "tests/mbi_builder.h"
#include "kernel/ktest.h"

#define FILL 0xa5 /* bytes the parser must skip (entry padding) */

uint8_t mbi[MBI_BUF_SIZE] __aligned(8);
uint32_t mbi_len;
struct boot_info mbi_bi;
char mbi_err[MBI_ERR_SIZE];

void mbi_put32(uint32_t off, uint32_t v)
{
	memcpy(mbi + off, &v, sizeof(v));
}

static void put64(uint32_t off, uint64_t v)
{
	memcpy(mbi + off, &v, sizeof(v));
}

/* Starts an MBI holding only its 8-byte header. */
void mbi_begin(void)
{
	memset(mbi, 0, sizeof(mbi));
	memset(&mbi_bi, 0, sizeof(mbi_bi));
	memset(mbi_err, 0, sizeof(mbi_err));
	mbi_len = 8;
}

/* Appends a tag header declaring `size` bytes; returns the payload's offset. */
uint32_t mbi_tag(uint32_t type, uint32_t size)
{
	uint32_t off = mbi_len;

	mbi_put32(off, type);
	mbi_put32(off + 4, size);
	mbi_len = off + (uint32_t)ALIGN_UP(MAX(size, 8u), 8);
	return off + 8;
}

/* Sets total_size to the bytes written so far (no end tag). */
void mbi_close(void)
{
	mbi_put32(0, mbi_len);
}

/* Appends the end tag and sets total_size. */
void mbi_end(void)
{
	mbi_tag(0, 8);
	mbi_close();
}

/* Appends a string tag (1 = command line, 2 = boot loader name), NUL included. */
void mbi_string(uint32_t type, const char *s)
{
	uint32_t n = (uint32_t)strlen(s) + 1;

	memcpy(mbi + mbi_tag(type, 8 + n), s, n);
}

/* Appends a memory-map tag (6) of n entries, entry_size bytes apart; the bytes past
 * the 24 of an entry are FILL. */
void mbi_mmap(uint32_t entry_size, const struct mem_range *r, uint32_t n)
{
	uint32_t off = mbi_tag(6, 16 + n * entry_size), e, i;

	mbi_put32(off, entry_size);
	mbi_put32(off + 4, 0);
	for (i = 0; i < n; i++) {
		e = off + 8 + i * entry_size;
		memset(mbi + e, FILL, entry_size);
		put64(e, r[i].base);
		put64(e + 8, r[i].len);
		if (entry_size >= 24) {
			mbi_put32(e + 16, r[i].type);
			mbi_put32(e + 20, 0);
		}
	}
}

/* Appends an EFI memory-map tag (17) of n descriptors, desc_size bytes apart; the
 * bytes past the 40 of a descriptor are FILL, virt_start and attribute are junk. */
void mbi_efi_mmap(uint32_t desc_size, const struct efi_desc *d, uint32_t n)
{
	uint32_t off = mbi_tag(17, 16 + n * desc_size), e, i;

	mbi_put32(off, desc_size);
	mbi_put32(off + 4, 1);
	for (i = 0; i < n; i++) {
		e = off + 8 + i * desc_size;
		memset(mbi + e, FILL, desc_size);
		mbi_put32(e, d[i].type);
		mbi_put32(e + 4, 0);
		put64(e + 8, d[i].phys);
		if (desc_size >= 40) {
			put64(e + 16, 0xdead0000ULL + i);
			put64(e + 24, d[i].pages);
			put64(e + 32, 0xf);
		}
	}
}

/* Appends an RSDP tag (14: 20 bytes, 15: 36 bytes) whose bytes after the signature
 * are all `mark`. */
void mbi_rsdp(uint32_t type, uint8_t mark)
{
	uint32_t n = type == 15 ? 36 : 20;
	uint32_t off = mbi_tag(type, 8 + n);

	memset(mbi + off, mark, n);
	memcpy(mbi + off, "RSD PTR ", 8);
}

/* Parses the MBI as built, with len = the bytes written. */
int mbi_parse(void)
{
	return mb2_parse(mbi, mbi_len, &mbi_bi, mbi_err, sizeof(mbi_err));
}

/* Builds an MBI holding only a 24-byte-entry memory map of r[0..n) and parses it. */
int mbi_parse_map(const struct mem_range *r, uint32_t n)
{
	mbi_begin();
	mbi_mmap(24, r, n);
	mbi_end();
	return mbi_parse();
}

/* Index of the first range of mbi_bi that differs from want[], n if the count differs,
 * -1 when all match; notes the difference. */
int mbi_map_mismatch(const struct mem_range *want, int n)
{
	const struct mem_range *got;
	int i;

	for (i = 0; i < n && i < mbi_bi.nr_mem; i++) {
		got = &mbi_bi.mem[i];
		if (got->base != want[i].base || got->len != want[i].len ||
		    got->type != want[i].type) {
			ktest_note(
				"range %d: got 0x%llx+0x%llx type %u, want 0x%llx+0x%llx type %u",
				i, (unsigned long long)got->base, (unsigned long long)got->len,
				got->type, (unsigned long long)want[i].base,
				(unsigned long long)want[i].len, want[i].type);
			return i;
		}
	}
	if (mbi_bi.nr_mem != n) {
		ktest_note("%d ranges, want %d", mbi_bi.nr_mem, n);
		return n;
	}
	return -1;
}
