/* arch/uart.c - polled 16550 driver. Register offsets from the 16550 data sheet. */
#include "arch/uart.h"
#include "arch/io.h"

enum {
	UART_DATA = 0,
	UART_IER = 1,
	UART_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
};
#define LSR_THRE 0x20 /* transmit holding register empty */
#define LSR_TEMT 0x40 /* transmitter empty */
#define LCR_DLAB 0x80
#define LCR_8N1	 0x03

static uint16_t uart_port;

/* Returns true when the UART at port echoes a byte in loopback mode. */
static bool uart_selftest(uint16_t port)
{
	bool ok;

	outb(port + UART_MCR, 0x1e); /* loopback, OUT1, OUT2, RTS */
	outb(port + UART_DATA, 0xa5);
	ok = inb(port + UART_DATA) == 0xa5;
	outb(port + UART_MCR, 0x0b); /* normal: DTR, RTS, OUT2 */
	return ok;
}

bool uart_init(uint16_t port, uint32_t baud)
{
	uint16_t div = baud ? (uint16_t)(115200 / baud) : 1;

	outb(port + UART_IER, 0);
	outb(port + UART_LCR, LCR_DLAB);
	outb(port + UART_DATA, div & 0xff);
	outb(port + UART_IER, div >> 8);
	outb(port + UART_LCR, LCR_8N1);
	outb(port + UART_FCR, 0xc7); /* FIFO on, cleared, 14-byte trigger */
	if (!uart_selftest(port)) {
		uart_port = 0;
		return false;
	}
	uart_port = port;
	return true;
}

void uart_putc(char c)
{
	if (!uart_port)
		return;
	for (int spin = 0; spin < 1000000; spin++)
		if (inb(uart_port + UART_LSR) & LSR_THRE)
			break;
	outb(uart_port + UART_DATA, (uint8_t)c);
}

void uart_flush(void)
{
	if (!uart_port)
		return;
	for (int spin = 0; spin < 1000000; spin++)
		if (inb(uart_port + UART_LSR) & LSR_TEMT)
			return;
}
