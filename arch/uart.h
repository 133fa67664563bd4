/* arch/uart.h - 16550 UART on a legacy COM port, polled, 8N1. */
#ifndef ARCH_UART_H
#define ARCH_UART_H

#include "kernel/types.h"

#define COM1_PORT 0x3f8

/* Programs the UART at `port` for `baud` 8N1 with FIFOs; returns false when no UART
 * answers there (loopback self-test fails), in which case output is dropped. */
bool uart_init(uint16_t port, uint32_t baud);
void uart_putc(char c);
/* Waits until the transmitter has sent everything. */
void uart_flush(void);

#endif
