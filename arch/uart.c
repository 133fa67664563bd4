/* arch/uart.c - the 16550 mechanism behind arch/uart.h. Section numbers are those of
 * the PC16550D data sheet. */
#include "arch/uart.h"
#include "arch/cpu.h"
#include "arch/io.h"
#include "arch/tsc.h"

#define LCR_DLAB 0x80 /* divisor latch access (8.1) */
#define LCR_8N1	 0x03 /* 8 data bits, no parity, 1 stop bit (8.1) */
#define FCR_INIT 0xc7 /* FIFOs on, both cleared, receive trigger 14 (8.5) */
#define IIR_FIFO 0xc0 /* bits 7:6 set: FIFOs enabled and working (8.6) */

/* MCR outputs and the MSR inputs that loopback wires them to (8.8, 8.9). */
#define MCR_DTR	  0x01
#define MCR_RTS	  0x02
#define MCR_OUT1  0x04
#define MCR_OUT2  0x08
#define MCR_LOOP  0x10
#define MSR_CTS	  0x10 /* <- RTS */
#define MSR_DSR	  0x20 /* <- DTR */
#define MSR_RI	  0x40 /* <- OUT1 */
#define MSR_DCD	  0x80 /* <- OUT2 */
#define MSR_LINES 0xf0

#define ECHO_BYTE 0xa5

uint32_t uart_divisor(uint64_t baud)
{
	if (!baud || baud > UART_BASE_BAUD || UART_BASE_BAUD % baud)
		return 0;
	if (UART_BASE_BAUD / baud > 0xffff)
		return 0;
	return (uint32_t)(UART_BASE_BAUD / baud);
}

uint32_t uart_char_us(uint32_t baud)
{
	return (UART_CHAR_BITS * 1000000u + baud - 1) / baud;
}

bool uart_scratch_works(uint16_t port)
{
	uint8_t saved = inb(port + UART_SCR);
	bool ok;

	outb(port + UART_SCR, 0x55);
	ok = inb(port + UART_SCR) == 0x55;
	outb(port + UART_SCR, 0xaa);
	ok = ok && inb(port + UART_SCR) == 0xaa;
	outb(port + UART_SCR, saved);
	return ok;
}

/* The divisor in DLL/DLM, LCR left as it was (8.1: DLAB selects the latch). */
static uint16_t read_divisor(uint16_t port)
{
	uint8_t lcr = inb(port + UART_LCR);
	uint16_t div;

	outb(port + UART_LCR, lcr | LCR_DLAB);
	div = inb(port + UART_DATA) | (uint16_t)inb(port + UART_IER) << 8;
	outb(port + UART_LCR, lcr);
	return div;
}

/* True when loopback mode routes two MCR patterns to the MSR lines (8.8: "the four
 * modem control inputs are internally connected to the four modem control outputs"). */
static bool loopback_lines_work(uint16_t port)
{
	bool ok;

	outb(port + UART_MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS);
	ok = (inb(port + UART_MSR) & MSR_LINES) == (MSR_DCD | MSR_CTS);
	outb(port + UART_MCR, MCR_LOOP | MCR_OUT1 | MCR_DTR);
	ok = ok && (inb(port + UART_MSR) & MSR_LINES) == (MSR_RI | MSR_DSR);
	return ok;
}

/* Sends ECHO_BYTE in loopback at the current divisor and waits for it in RBR, bounded
 * in TSC time: the receiver gets it one character time later on real hardware. */
static bool echo_works(uint16_t port)
{
	bool ok;

	outb(port + UART_MCR, MCR_LOOP | MCR_RTS | MCR_DTR);
	for (int i = 0; i < 2 * UART_FIFO_DEPTH && (inb(port + UART_LSR) & UART_LSR_DR); i++)
		inb(port + UART_DATA);
	outb(port + UART_DATA, ECHO_BYTE);
	ok = uart_wait(port, UART_LSR, UART_LSR_DR, UART_LSR_DR,
		       tsc_us_to_ticks(UART_ECHO_WAIT_US)) &&
	     inb(port + UART_DATA) == ECHO_BYTE;
	outb(port + UART_MCR, MCR_RTS | MCR_DTR);
	outb(port + UART_FCR, FCR_INIT);
	return ok;
}

enum uart_probe uart_probe(uint16_t port, uint16_t *fw_divisor)
{
	uint8_t mcr;

	*fw_divisor = 0;
	if (inb(port + UART_LSR) == 0xff || !uart_scratch_works(port))
		return UART_ABSENT;
	*fw_divisor = read_divisor(port);
	mcr = inb(port + UART_MCR);
	if (!loopback_lines_work(port)) {
		outb(port + UART_MCR, mcr);
		return UART_NO_LOOPBACK;
	}
	uart_setup(port, 1);
	return echo_works(port) ? UART_FOUND : UART_NO_ECHO;
}

const char *uart_probe_text(enum uart_probe r)
{
	switch (r) {
	case UART_FOUND:
		return "a 16550";
	case UART_ABSENT:
		return "nothing answers";
	case UART_NO_LOOPBACK:
		return "scratch register works, loopback does not";
	default:
		return "no loopback echo in time";
	}
}

int uart_setup(uint16_t port, uint16_t divisor)
{
	outb(port + UART_IER, 0);
	outb(port + UART_LCR, LCR_DLAB);
	outb(port + UART_DATA, divisor & 0xff);
	outb(port + UART_IER, divisor >> 8);
	outb(port + UART_LCR, LCR_8N1);
	outb(port + UART_FCR, FCR_INIT);
	outb(port + UART_MCR, MCR_RTS | MCR_DTR);
	return (inb(port + UART_IIR) & IIR_FIFO) == IIR_FIFO ? UART_FIFO_DEPTH : 1;
}

bool uart_wait(uint16_t port, enum uart_reg reg, uint8_t mask, uint8_t want, uint64_t ticks)
{
	uint64_t start = rdtsc();

	for (;;) {
		if ((inb(port + reg) & mask) == want)
			return true;
		if (rdtsc() - start >= ticks)
			return false;
		cpu_relax();
	}
}

void uart_tx(uint16_t port, uint8_t byte)
{
	outb(port + UART_DATA, byte);
}
