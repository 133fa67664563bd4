/* kernel/printf.h - printf-style formatting and console output.
 * Conversions: %d %i %u %x %X %p %s %c %%; sizes l, ll, z; flags '-' and '0';
 * a width and, for %s, a precision (both may be '*'). */
#ifndef KERNEL_PRINTF_H
#define KERNEL_PRINTF_H

#include "kernel/types.h"

/* Formats into buf (always NUL-terminated when size > 0); returns the length the
 * whole output would have had, like C99 vsnprintf. */
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

/* Prints to the console (the serial port chosen at boot); returns characters written. */
int kprintf(const char *fmt, ...) __printf(1, 2);
int kvprintf(const char *fmt, va_list ap);
void console_write(const char *s, size_t n);

#endif
