/* tests/host/mbi.c - the MBI builder behind mbi.h. */
#include "tests/host/mbi.h"

#include <stdlib.h>
#include <string.h>

void mbi_init(struct mbi *m)
{
	memset(m->b, 0, sizeof(m->b));
	m->len = 8;
}

void mbi_put32(struct mbi *m, uint32_t off, uint32_t v)
{
	memcpy(m->b + off, &v, 4);
}

void mbi_tag(struct mbi *m, uint32_t type, const void *payload, uint32_t size)
{
	if (m->len + 8 + size + 7 > MBI_CAP)
		abort();
	mbi_put32(m, m->len, type);
	mbi_put32(m, m->len + 4, 8 + size);
	if (size)
		memcpy(m->b + m->len + 8, payload, size);
	m->len = (m->len + 8 + size + 7) & ~7u;
}

/* Appends a map tag: u32 entry size, u32 version 0, then n entries built by put. */
static void map_tag(struct mbi *m, uint32_t type, uint32_t esize, const struct mbi_range *r, int n,
		    void (*put)(uint8_t *e, const struct mbi_range *r))
{
	uint32_t size = 8 + esize * (uint32_t)n;
	uint8_t *p = calloc(1, size);

	memcpy(p, &esize, 4);
	for (int i = 0; i < n; i++)
		put(p + 8 + (size_t)i * esize, &r[i]);
	mbi_tag(m, type, p, size);
	free(p);
}

static void put_mmap(uint8_t *e, const struct mbi_range *r)
{
	memcpy(e, &r->base, 8);
	memcpy(e + 8, &r->len, 8);
	memcpy(e + 16, &r->type, 4);
}

static void put_efi(uint8_t *e, const struct mbi_range *r)
{
	uint64_t pages = r->len >> 12;

	memcpy(e, &r->type, 4);
	memcpy(e + 8, &r->base, 8);
	memcpy(e + 24, &pages, 8);
}

void mbi_mmap(struct mbi *m, uint32_t entry_size, const struct mbi_range *r, int n)
{
	map_tag(m, 6, entry_size, r, n, put_mmap);
}

void mbi_efi_map(struct mbi *m, uint32_t desc_size, const struct mbi_range *r, int n)
{
	map_tag(m, 17, desc_size, r, n, put_efi);
}

void mbi_end(struct mbi *m)
{
	mbi_tag(m, 0, NULL, 0);
	mbi_put32(m, 0, m->len);
}
