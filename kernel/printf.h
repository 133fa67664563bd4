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

/* Prints to the console (the serial ports chosen at boot, kernel/console.h); returns
 * characters written. */
int kprintf(const char *fmt, ...) __printf(1, 2);
int kvprintf(const char *fmt, va_list ap);
/* Writes n bytes to the console ("\n" goes out as "\r\n"), through the line hook. */
void console_write(const char *s, size_t n);

/* Line-start hook (NULL = none): called with the first character of every line that
 * is not a blank; the blanks before it are held back. A non-NULL return is printed
 * first, then, unless the line starts with '#', the held blanks, then the line; NULL
 * prints the line unchanged. While a hook is set, blank lines are dropped. The test
 * harness uses it to keep every line of the report KTAP. */
void console_set_line_hook(const char *(*hook)(char first));
/* Ends a partial line: prints "\n" unless the cursor is at the start of a line. */
void console_fresh_line(void);

#endif
