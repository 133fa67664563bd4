/* tests/pks_fixture.c - test keys and keyed test leaves in the vmap area, for the
 * `pks` and `pgprot` suites. */
#include "tests/pks_fixture.h"
#include "kernel/ktest.h"
#include "kernel/pks.h"
#include "mm/frame.h"
#include "mm/pgtable.h"
#include "mm/vmap.h"

const char pks_test_owner;

int pks_page_map(struct pks_page *p, int level, uint64_t prot, int key)
{
	uint64_t size = pt_size(level);
	int rc;

	*p = (struct pks_page){ .size = size, .level = level };
	p->pa = level == PT_LEVEL_PTE ? frame_alloc() : frame_alloc_run(size / PAGE_SIZE, size);
	if (!p->pa)
		return -ENOMEM;
	p->va = vmap_reserve(size, size);
	rc = p->va ? vmap_map(p->va, p->pa, size, level, prot, key) : -ENOMEM;
	if (rc) {
		if (level == PT_LEVEL_PTE)
			frame_free(p->pa);
		else
			frame_free_run(p->pa, size / PAGE_SIZE);
	}
	return rc;
}

void pks_page_unmap(struct pks_page *p)
{
	vmap_unmap(p->va, p->size);
	if (p->level == PT_LEVEL_PTE)
		frame_free(p->pa);
	else
		frame_free_run(p->pa, p->size / PAGE_SIZE);
}

bool pks_data_page(struct pks_page *p, int key)
{
	int rc = pks_page_map(p, PT_LEVEL_PTE, PTE_W | PTE_NX, key);

	if (rc) {
		ktest_fail(__FILE__, __LINE__, "cannot map a test page: %d", rc);
		pks_key_free(&pks_test_owner, key);
	}
	return rc == 0;
}

int pks_test_key(const char *name)
{
	int key = pks_key_alloc(name, &pks_test_owner);

	if (key <= 0)
		ktest_fail(__FILE__, __LINE__, "pks_key_alloc(\"%s\") = %d", name, key);
	return key;
}
