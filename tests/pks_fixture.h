/* tests/pks_fixture.h - fixtures of the `pks` suite (tests/test_pks.c: page
 * scenarios; tests/test_pks_state.c: PKRS across traps and threads, the allocator,
 * the fault report; tests/test_pks_nmi.c) and of tests/test_pgprot.c: test keys
 * and keyed test pages. */
#ifndef TESTS_PKS_FIXTURE_H
#define TESTS_PKS_FIXTURE_H

#include "kernel/types.h"
#include "kernel/catch.h"

/* The owner token (kernel/pks.h) of every key the tests allocate. */
extern const char pks_test_owner;

/* One test leaf in the vmap area and the frames behind it. */
struct pks_page {
	uint64_t va;
	phys_addr_t pa;
	uint64_t size; /* 4 KiB, 2 MiB or 1 GiB */
	int level;     /* 0, 1, 2 */
};

/* Maps fresh frames as one leaf of `level` with attribute bits prot (PTE_W, PTE_NX,
 * PTE_U) and protection key `key`. 0, or -ENOMEM when no suitable frames (p->pa is
 * then 0) or address space are left (nothing mapped), or vmap_map()'s error. */
int pks_page_map(struct pks_page *p, int level, uint64_t prot, int key);
/* Unmaps the leaf (flushing it) and frees its frames. */
void pks_page_unmap(struct pks_page *p);

/* Maps a 4 KiB read-write NX page with `key`. On failure fails the case, frees
 * the key and returns false. */
bool pks_data_page(struct pks_page *p, int key);

/* Allocates a test key (default access: none). Fails the case and returns a
 * negative value when no key is left. */
int pks_test_key(const char *name);

#endif
