/* arch/uart.h - a 16550 UART at an I/O port base: probe, program, poll. Mechanism only:
 * which ports carry the report, and what happens to one that stops, is kernel/console.c.
 *
 * Registers (PC16550D data sheet, section 8, "Registers"), offsets from the base:
 *   +0 RBR (read) / THR (write); DLL while LCR.DLAB = 1
 *   +1 IER;                      DLM while LCR.DLAB = 1
 *   +2 IIR (read) / FCR (write)  +3 LCR  +4 MCR  +5 LSR  +6 MSR  +7 SCR (scratch)
 * The baud rate is the 1.8432 MHz reference clock / 16 / divisor = 115200 / divisor
 * (8.3 "Programmable Baud Generator"), so only bauds that divide 115200 are exact.
 */
#ifndef ARCH_UART_H
#define ARCH_UART_H

#include "kernel/types.h"

#define UART_CLOCK_HZ	  1843200 /* the PC's reference clock */
#define UART_BASE_BAUD	  115200  /* UART_CLOCK_HZ / 16: divisor 1 */
#define UART_FIFO_DEPTH	  16	  /* transmit FIFO of a 16550A (8.5, FCR) */
#define UART_CHAR_BITS	  10	  /* 8N1: start, 8 data, stop */
#define UART_ECHO_WAIT_US 5000	  /* loopback echo: ~57 characters at 115200 */

enum uart_reg {
	UART_DATA = 0,
	UART_IER = 1,
	UART_IIR = 2, /* read */
	UART_FCR = 2, /* write */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

/* LSR bits (8.4 "Line Status Register"). */
#define UART_LSR_DR   0x01 /* a received byte waits in RBR / the receive FIFO */
#define UART_LSR_THRE 0x20 /* THR empty; in FIFO mode: the transmit FIFO is empty */
#define UART_LSR_TEMT 0x40 /* THR (or FIFO) and the shift register are both empty */

/* What uart_probe() found at a port. */
enum uart_probe {
	UART_FOUND,	  /* a 16550: scratch, modem-line loopback and a byte's echo work */
	UART_ABSENT,	  /* the scratch register holds nothing: no device decodes the port */
	UART_NO_LOOPBACK, /* loopback does not route MCR's outputs to MSR's inputs */
	UART_NO_ECHO,	  /* loopback did not echo a byte within UART_ECHO_WAIT_US */
};

/* Returns 115200 / baud when that is a whole number from 1 to 65535 (a divisor the
 * DLL/DLM latch holds), else 0: the baud cannot be made exactly. */
uint32_t uart_divisor(uint64_t baud);
/* Microseconds one 8N1 character takes at `baud` (> 0), rounded up. */
uint32_t uart_char_us(uint32_t baud);

/* True when the scratch register at port keeps two test patterns (restored after). */
bool uart_scratch_works(uint16_t port);
/* Probes the port: scratch register, modem-line loopback, then a byte sent in
 * loopback at 115200 must come back within UART_ECHO_WAIT_US (TSC time, a real
 * character time, not an emulator's instant echo). *fw_divisor gets the divisor
 * the firmware had left (0: none). Leaves a found UART at 115200 8N1, loopback off;
 * what it sent was looped back, never put on the line. */
enum uart_probe uart_probe(uint16_t port, uint16_t *fw_divisor);
const char *uart_probe_text(enum uart_probe r);

/* Programs 8N1 at `divisor` (1..65535), interrupts off, FIFOs on and cleared, DTR
 * and RTS asserted. Returns the bytes the transmitter takes after THRE: 16 with
 * working FIFOs (IIR bits 7:6 = 11, 8.6), else 1. */
int uart_setup(uint16_t port, uint16_t divisor);
/* Polls register `reg` until (value & mask) == want, for at most `ticks` TSC ticks.
 * True when it did; false on timeout. Never waits longer than `ticks` plus one read. */
bool uart_wait(uint16_t port, enum uart_reg reg, uint8_t mask, uint8_t want, uint64_t ticks);
/* Writes one byte to THR; the caller has seen room for it. */
void uart_tx(uint16_t port, uint8_t byte);

#endif
