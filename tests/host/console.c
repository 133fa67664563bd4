/* tests/host/console.c - the host's stand-in for the serial port (arch/uart.h):
 * kernel/printf.c's console output goes to stderr. */
#include "arch/uart.h"

#include <stdio.h>

void uart_putc(char c)
{
	fputc(c, stderr);
}
