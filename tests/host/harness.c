/* tests/host/harness.c - runs the registered host unit tests (see harness.h).
 *
 *   host-unit [FILTER]     runs the tests whose "suite.name" contains FILTER
 * Seeds are read from $HOST_SEEDS, else tests/host/seeds (run from the top of the tree).
 * Exit status 0 only when every test passed.
 */
#include "tests/host/harness.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct htest *first, **tail = &first;
static int failed_checks;

void htest_register(struct htest *t)
{
	t->next = NULL;
	*tail = t;
	tail = &t->next;
}

void htest_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("    # %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed_checks++;
}

/* tests/host/seeds/<rel>, or $HOST_SEEDS/<rel>, in a static buffer. */
static const char *seed_path(const char *rel)
{
	static char path[1024];
	const char *dir = getenv("HOST_SEEDS");

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/host/seeds", rel);
	return path;
}

uint8_t *htest_seed(const char *rel, size_t *len)
{
	FILE *f = fopen(seed_path(rel), "rb");
	uint8_t *buf = NULL;
	long n;

	if (f && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	if (f)
		fclose(f);
	if (!buf)
		htest_fail(__FILE__, __LINE__, "cannot read seed %s", seed_path(rel));
	return buf;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **htest_seed_list(const char *dir, const char *suffix, int *n)
{
	DIR *d = opendir(seed_path(dir));
	char **names = NULL;
	struct dirent *e;
	size_t sl = strlen(suffix);

	*n = 0;
	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix) != 0)
			continue;
		names = realloc(names, sizeof(*names) * (size_t)(*n + 1));
		names[(*n)++] = strdup(e->d_name);
	}
	if (d)
		closedir(d);
	if (*n)
		qsort(names, (size_t)*n, sizeof(*names), by_name);
	return names;
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : "";
	int passed = 0, failed = 0, idx = 0;
	char full[256];

	for (struct htest *t = first; t; t = t->next) {
		int before = failed_checks;

		snprintf(full, sizeof(full), "%s.%s", t->suite, t->name);
		if (!strstr(full, filter))
			continue;
		t->fn();
		if (failed_checks == before) {
			printf("ok %d %s\n", ++idx, full);
			passed++;
		} else {
			printf("not ok %d %s\n", ++idx, full);
			failed++;
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed, 0 skipped\n", passed, failed);
	return failed || !passed;
}
