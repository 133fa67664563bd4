/* kernel/string.c - the few string and memory routines a freestanding kernel needs.
 * GCC may emit calls to memset/memcpy/memmove/memcmp on its own, so they keep those names. */
#include "kernel/types.h"

/* memset and memcpy move 8 bytes per step with REP STOSQ / REP MOVSQ, then the tail
 * with REP STOSB / REP MOVSB: a table page is cleared in 512 stores, not 4096. The
 * direction flag is clear in every C function (SysV ABI; the trap and boot entries
 * clear it before calling C). */
void *memset(void *dst, int c, size_t n)
{
	uint64_t pattern = 0x0101010101010101ULL * (unsigned char)c;
	void *d = dst;
	size_t words = n / 8, bytes = n % 8;

	__asm__ volatile("rep stosq" : "+D"(d), "+c"(words) : "a"(pattern) : "memory");
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(bytes) : "a"(pattern) : "memory");
	return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	const void *s = src;
	size_t words = n / 8, bytes = n % 8;

	__asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(words) : : "memory");
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(bytes) : : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s)
		return memcpy(dst, src, n);
	while (n--)
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			return 0;
	}
	return 0;
}

char *strncpy_z(char *dst, const char *src, size_t size)
{
	size_t n = strnlen(src, size ? size - 1 : 0);

	if (!size)
		return dst;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return dst;
}
