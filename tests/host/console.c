/* tests/host/console.c - the host's stand-in for the serial console (kernel/console.h):
 * kernel/printf.c's console output goes to stderr, and there is no lock to take. */
#include "kernel/console.h"

#include <stdio.h>

struct console_hold console_hold(void)
{
	return (struct console_hold){ .how = CON_TAKEN };
}

void console_tx(char c)
{
	fputc(c, stderr);
}

void console_release(struct console_hold h, bool at_line_start)
{
	(void)h;
	(void)at_line_start;
}
