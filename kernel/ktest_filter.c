/* kernel/ktest_filter.c - the ktest= suite filter behind kernel/ktest_filter.h. */
#include "kernel/ktest_filter.h"

extern const struct ktest_suite *const __ktest_suites_start[];
extern const struct ktest_suite *const __ktest_suites_end[];

/* ktest= (a copy: the cmdline tests re-parse the line). */
static char filter[1024];

void ktest_select(const char *f)
{
	strncpy_z(filter, f ? f : "", sizeof(filter));
}

const char *ktest_filter(void)
{
	return filter;
}

/* The next comma-separated word of the filter at *p (its length in *n; it may be
 * empty); advances *p past it. NULL at the end. */
static const char *next_word(const char **p, size_t *n)
{
	const char *w = *p, *end = w;

	if (!*w)
		return NULL;
	while (*end && *end != ',')
		end++;
	*n = end - w;
	*p = *end ? end + 1 : end;
	return w;
}

/* True when the n bytes at w are `name`. */
static bool word_is(const char *w, size_t n, const char *name)
{
	return strlen(name) == n && strncmp(w, name, n) == 0;
}

bool ktest_filter_selects(const struct ktest_suite *s)
{
	const char *p = filter, *w;
	size_t n;

	if (!*p)
		return !s->explicit_only;
	while ((w = next_word(&p, &n)))
		if (word_is(w, n, s->name))
			return true;
	return false;
}

/* True when the n bytes at w name a registered suite. */
static bool is_suite_name(const char *w, size_t n)
{
	for (const struct ktest_suite *const *s = __ktest_suites_start; s < __ktest_suites_end; s++)
		if (word_is(w, n, (*s)->name))
			return true;
	return false;
}

bool ktest_filter_unknown(int k, char *word, size_t len)
{
	const char *p = filter, *w;
	size_t n;

	while ((w = next_word(&p, &n))) {
		if (!n || is_suite_name(w, n) || k-- > 0)
			continue;
		strncpy_z(word, w, MIN(n + 1, len));
		return true;
	}
	return false;
}

int ktest_filter_nr_selected(void)
{
	int n = 0;

	for (const struct ktest_suite *const *s = __ktest_suites_start; s < __ktest_suites_end; s++)
		n += ktest_filter_selects(*s);
	return n;
}
