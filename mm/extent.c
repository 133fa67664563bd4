/* mm/extent.c - sorted sets of [start, end) extents behind mm/extent.h. */
#include "mm/extent.h"

/* Index of the first extent of s that ends above pa; s->nr if there is none. */
int ext_find(const struct extent_set *s, phys_addr_t pa)
{
	int lo = 0, hi = s->nr;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (s->e[mid].end > pa)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* True when the set is full, so an operation needing a new extent must be refused. */
bool ext_full(const struct extent_set *s)
{
	return s->nr == s->max;
}

/* Lowest address of [start, end) that s does not cover; end if s covers it all.
 * Extents are merged, so the end of the extent holding start is not covered. */
phys_addr_t ext_first_uncovered(const struct extent_set *s, phys_addr_t start, phys_addr_t end)
{
	int i = ext_find(s, start);

	if (i < s->nr && s->e[i].start <= start)
		start = s->e[i].end;
	return MIN(start, end);
}

/* Lowest address of [start, end) that s covers; end if it covers none of it. */
phys_addr_t ext_first_covered(const struct extent_set *s, phys_addr_t start, phys_addr_t end)
{
	int i = ext_find(s, start);

	if (i == s->nr)
		return end;
	return MIN(MAX(s->e[i].start, start), end);
}

/* True when one extent of s holds all of [start, end). */
bool ext_covers(const struct extent_set *s, phys_addr_t start, phys_addr_t end)
{
	return ext_first_uncovered(s, start, end) == end;
}

/* True when adding [start, end) (disjoint from s) touches no extent, so it needs a slot. */
bool ext_insert_needs_slot(const struct extent_set *s, phys_addr_t start, phys_addr_t end)
{
	int i = ext_find(s, start);

	return !(i > 0 && s->e[i - 1].end == start) && !(i < s->nr && s->e[i].start == end);
}

/* Adds [start, end), merging with touching neighbours. Needs the range disjoint from
 * s (else -EEXIST) and a free slot when ext_insert_needs_slot() (else -ENOMEM). */
int ext_insert(struct extent_set *s, phys_addr_t start, phys_addr_t end)
{
	int i = ext_find(s, start);
	bool left = i > 0 && s->e[i - 1].end == start;
	bool right = i < s->nr && s->e[i].start == end;

	if (i < s->nr && s->e[i].start < end)
		return -EEXIST;
	if (left && right) {
		s->e[i - 1].end = s->e[i].end;
		memmove(&s->e[i], &s->e[i + 1], (size_t)(s->nr - i - 1) * sizeof(s->e[0]));
		s->nr--;
	} else if (left) {
		s->e[i - 1].end = end;
	} else if (right) {
		s->e[i].start = start;
	} else {
		if (ext_full(s))
			return -ENOMEM;
		memmove(&s->e[i + 1], &s->e[i], (size_t)(s->nr - i) * sizeof(s->e[0]));
		s->e[i] = (struct extent){ start, end };
		s->nr++;
	}
	return 0;
}

/* True when removing [start, end) from s would split one extent in two. */
bool ext_remove_needs_slot(const struct extent_set *s, phys_addr_t start, phys_addr_t end)
{
	int i = ext_find(s, start);

	return i < s->nr && s->e[i].start < start && s->e[i].end > end;
}

/* Removes whatever s holds of [start, end); returns the bytes removed. Needs a free
 * slot when ext_remove_needs_slot() (the caller checks). */
uint64_t ext_remove(struct extent_set *s, phys_addr_t start, phys_addr_t end)
{
	int i = ext_find(s, start), j;
	uint64_t removed = 0;
	struct extent *x = &s->e[i];

	if (i < s->nr && x->start < start && x->end > end) {
		memmove(x + 2, x + 1, (size_t)(s->nr - i - 1) * sizeof(*x));
		x[1] = (struct extent){ end, x->end };
		x->end = start;
		s->nr++;
		return end - start;
	}
	if (i < s->nr && x->start < start) { /* cut the tail of e[i] */
		removed += x->end - start;
		x->end = start;
		i++;
	}
	for (j = i; j < s->nr && s->e[j].end <= end; j++)
		removed += s->e[j].end - s->e[j].start;
	memmove(&s->e[i], &s->e[j], (size_t)(s->nr - j) * sizeof(*x));
	s->nr -= j - i;
	if (i < s->nr && s->e[i].start < end) { /* cut the head of e[i] */
		removed += end - s->e[i].start;
		s->e[i].start = end;
	}
	return removed;
}
