/* kernel/console.h - the serial console: which 16550s carry the report, and its lock.
 *
 * Which ports. The choice is made once, before the report's first line (kmain step 3):
 *   1. console=ttySn[,baud]: exactly that port, when a UART answers there;
 *   2. else the UART of the firmware's SPCR table, when it is an I/O-port 16550 that
 *      answers (the SPCR is read through the entry code's map, before memory
 *      management; an MMIO UART is reported, not used);
 *   3. else every legacy UART that answers: COM1-COM4 at 0x3f8, 0x2f8, 0x3e8, 0x2e8.
 * Until then (console_init_early, the first thing kmain does) every legacy UART that
 * answers gets the output at 115200 8N1, so that an early panic is seen anywhere; a
 * port the choice leaves out gets one last line naming the port the report went to.
 * So the report is complete, from its first line, on every port that carries it.
 *
 * Output. Every byte goes to every port in use. A wait for transmit room is bounded
 * in TSC time (never a loop count); a port that times out CON_MAX_TIMEOUTS times in a
 * row is dropped, and the ports left get a "# console:" line saying so. A baud must
 * divide 115200 (arch/uart.h); any other is reported and 115200 is kept.
 *
 * The lock. kernel/printf.c holds it for each write, interrupts off, so that lines of
 * two CPUs never interleave; a CPU that leaves a line unfinished keeps the console
 * until it ends it. A CPU that finds itself holding the lock (an NMI or a fault while
 * printing) prints anyway; a CPU that sees the holder make no progress for the stall
 * time (the longest transmit wait twice, plus CON_STALL_MIN_US) takes the lock over,
 * starts a fresh line and says so.
 */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include "kernel/types.h"
#include "kernel/acpi_parse.h"
#include "arch/uart.h"

#define CON_LEGACY	   4	  /* COM1-COM4 */
#define CON_MAX_PORTS	   5	  /* and one SPCR port elsewhere */
#define CON_MAX_TIMEOUTS   8	  /* transmit waits in a row before a port is dropped */
#define CON_WAIT_MIN_US	   1000	  /* the shortest transmit wait */
#define CON_STALL_MIN_US   100000 /* see "The lock" above */
#define CON_NOTE_LEN	   160
#define CON_MAX_PLAN_NOTES 3

/* One UART the console knows. After the choice, fields change only under the lock. */
struct con_port {
	uint16_t io;
	int8_t tty;	       /* 0-3 for COM1-COM4, -1 for an SPCR port elsewhere */
	enum uart_probe probe; /* what the probe found */
	uint16_t fw_divisor;   /* the divisor the firmware had left (0: none) */
	bool used, dropped;    /* carries output / stopped for good */
	uint16_t divisor;      /* while used */
	uint8_t fifo, room;    /* bytes after THRE; bytes left before the next wait */
	uint8_t timeouts;      /* transmit waits timed out in a row */
	uint32_t wait_us;      /* the bound of one transmit wait */
};

enum con_source { CON_NONE, CON_CMDLINE, CON_SPCR, CON_LEGACY_ALL };

/* What the console does: con_plan()'s answer. */
struct con_plan {
	enum con_source source;
	int nr;
	uint16_t io[CON_LEGACY];
	uint16_t divisor[CON_LEGACY];
	int nr_notes; /* why console= or the SPCR was not followed as given */
	char notes[CON_MAX_PLAN_NOTES][CON_NOTE_LEN];
};

/* Probes COM1-COM4 and sends output to each one found, at 115200 8N1. First in kmain:
 * the TSC rate may be unknown yet, so waits use TSC_KHZ_BOUND and only get longer. */
void console_init_early(void);
/* Fixes the ports for the rest of the run (see above): arg is console='s value or
 * NULL; spcr the firmware's SPCR or NULL, and then spcr_why says why there is none.
 * Before the report begins, on the boot CPU only. */
void console_choose(const char *arg, const struct acpi_spcr *spcr, const char *spcr_why);
/* The "# console:" lines of the report header. */
void console_print_header(void);

/* kernel/printf.c's output path. console_hold() takes the lock (interrupts off);
 * console_tx() sends one byte to every port in use, lock held; console_release()
 * gives the lock back, printing any pending "# console:" note first when the
 * cursor is at a line start. */
struct console_hold {
	uint64_t flags, me;
	int how; /* enum con_take */
};
struct console_hold console_hold(void);
void console_tx(char c);
void console_release(struct console_hold h, bool at_line_start);

/* --- the pieces below are pure or take their state as an argument: for the tests -- */

/* Chooses the ports from the probes (n of them, COM1-COM4 first), console= (arg, or
 * NULL) and the SPCR (or NULL). Pure. */
void con_plan(const struct con_port *probed, int n, const char *arg, const struct acpi_spcr *spcr,
	      struct con_plan *plan);
/* NULL when the SPCR describes an I/O-port 16550 that the console can drive, else
 * why not (written into buf). Pure. */
const char *con_spcr_unusable(const struct acpi_spcr *s, char *buf, size_t size);
/* The port's state after a transmit wait that ended ready or timed out; returns true
 * when the port must now be dropped (CON_MAX_TIMEOUTS timeouts in a row). */
bool con_port_waited(struct con_port *p, bool ready);

/* A console lock: tokens are the APIC ID + 1, 0 = nobody. */
struct con_lock {
	uint64_t owner;	     /* the CPU holding it */
	uint64_t line_owner; /* a CPU whose last line is unfinished */
	uint64_t progress;   /* bytes sent: a waiter sees that the holder lives */
	uint64_t taken_from; /* the token of the last CPU it was taken over from */
};
enum con_take { CON_TAKEN, CON_NESTED, CON_TAKEN_OVER };
/* Takes l for CPU token me: CON_NESTED when me holds it already (taken nothing),
 * CON_TAKEN_OVER after stall_ticks TSC ticks without progress from the holder or the
 * owner of an unfinished line. Interrupts must be off. */
enum con_take con_lock_take(struct con_lock *l, uint64_t me, uint64_t stall_ticks);
/* Gives l back (not after CON_NESTED); me keeps the line when it is unfinished. */
void con_lock_drop(struct con_lock *l, uint64_t me, bool at_line_start);
/* This CPU's token: its x2APIC ID (CPUID 0xB) or initial APIC ID (CPUID 1), + 1. */
uint64_t con_cpu_token(void);

/* The console's ports as probed (COM1-COM4 first) and their number. */
const struct con_port *console_ports(int *n);
/* The legacy I/O base of ttyS`tty` (0-3), or 0. */
uint16_t con_legacy_io(int tty);
/* "ttyS1 (0x2f8)" for a legacy port, else "I/O port 0xe000"; returns buf. */
const char *con_name(uint16_t io, char *buf, size_t size);

#endif
