/* kernel/console_plan.c - which ports the console uses, decided from the probes,
 * console= and the SPCR (kernel/console.h, "Which ports"). Pure: no I/O, no state. */
#include "kernel/console.h"
#include "kernel/cmdline.h"
#include "kernel/printf.h"

/* COM1-COM4 by PC convention; firmware setup screens name them the same way. */
static const uint16_t legacy_io[CON_LEGACY] = { 0x3f8, 0x2f8, 0x3e8, 0x2e8 };

/* SPCR interface types that are 16550s (DBG2 specification, Table 3, serial port
 * subtypes): 0x00 full 16550, 0x01 16550 subset, 0x12 16550 described by the GAS. */
#define SPCR_16550	  0x00
#define SPCR_16550_SUBSET 0x01
#define SPCR_16550_GAS	  0x12
/* Generic Address Structure address spaces (ACPI 6.5, 5.2.3.2). */
#define GAS_MEMORY	  0
#define GAS_IO		  1

uint16_t con_legacy_io(int tty)
{
	return tty >= 0 && tty < CON_LEGACY ? legacy_io[tty] : 0;
}

const char *con_spcr_unusable(const struct acpi_spcr *s, char *buf, size_t size)
{
	unsigned long long a = s->address;
	uint8_t t = s->interface_type;

	if (!a)
		ksnprintf(buf, size, "base address 0 (console redirection off)");
	else if (t != SPCR_16550 && t != SPCR_16550_SUBSET && t != SPCR_16550_GAS)
		ksnprintf(buf, size, "interface type 0x%02x is not a 16550", t);
	else if (s->space_id == GAS_MEMORY)
		ksnprintf(buf, size,
			  "an MMIO UART at 0x%llx (the console drives I/O-port UARTs only)", a);
	else if (s->space_id != GAS_IO)
		ksnprintf(buf, size, "address space %u is neither memory nor I/O", s->space_id);
	else if (a > 0xfff8)
		ksnprintf(buf, size, "I/O port 0x%llx is beyond 0xfff8", a);
	else if (s->bit_width && s->bit_width != 8)
		ksnprintf(buf, size, "registers %u bits wide at I/O port 0x%llx", s->bit_width, a);
	else
		return NULL;
	return buf;
}

bool con_port_waited(struct con_port *p, bool ready)
{
	if (ready) {
		p->room = p->fifo;
		p->timeouts = 0;
		return false;
	}
	p->room = 1; /* the byte goes out anyway: at worst it is lost */
	return ++p->timeouts >= CON_MAX_TIMEOUTS;
}

static const struct con_port *find(const struct con_port *probed, int n, uint64_t io)
{
	for (int i = 0; i < n; i++)
		if (probed[i].io == io)
			return &probed[i];
	return NULL;
}

static __printf(2, 3) void note(struct con_plan *p, const char *fmt, ...)
{
	va_list ap;

	if (p->nr_notes == CON_MAX_PLAN_NOTES)
		return;
	va_start(ap, fmt);
	kvsnprintf(p->notes[p->nr_notes++], CON_NOTE_LEN, fmt, ap);
	va_end(ap);
}

static void use(struct con_plan *p, uint16_t io, uint16_t divisor)
{
	p->io[p->nr] = io;
	p->divisor[p->nr++] = divisor;
}

/* console=ttySn[,baud] (cmdline.c checked the syntax): true when it decides. */
static bool plan_cmdline(const struct con_port *probed, int n, const char *arg, struct con_plan *p)
{
	const struct con_port *port;
	uint64_t baud = UART_BASE_BAUD;
	uint32_t div = 1;
	uint16_t io;

	if (strncmp(arg, "ttyS", 4) != 0 || arg[4] < '0' || arg[4] > '3') {
		note(p, "console=%.40s: not ttyS0..ttyS3: ignored", arg);
		return false;
	}
	if (arg[5] == ',' && (parse_u64(arg + 6, &baud) || !(div = uart_divisor(baud)))) {
		note(p,
		     "console=%.40s: %.20s baud is not 115200/n for a whole n from 1 to 65535: "
		     "ignored, 115200 baud kept",
		     arg, arg + 6);
		div = 1;
	}
	io = legacy_io[arg[4] - '0'];
	port = find(probed, n, io);
	if (!port || port->probe != UART_FOUND) {
		note(p, "console=%.40s: no 16550 at 0x%x (%s): ignored", arg, io,
		     port ? uart_probe_text(port->probe) : "not probed");
		return false;
	}
	use(p, io, (uint16_t)div);
	p->source = CON_CMDLINE;
	return true;
}

/* The SPCR port's divisor: from its baud; the firmware's when the SPCR says "as
 * configured" or names a UART clock other than the PC's 1.8432 MHz. */
static uint16_t spcr_divisor(const struct acpi_spcr *s, const struct con_port *port,
			     struct con_plan *p)
{
	uint16_t fw = port->fw_divisor ? port->fw_divisor : 1;
	uint32_t div;

	if (s->uart_clock && s->uart_clock != UART_CLOCK_HZ) {
		note(p, "SPCR: UART clock %u Hz, not %u: the firmware's divisor %u is kept",
		     s->uart_clock, UART_CLOCK_HZ, fw);
		return fw;
	}
	if (!s->baud && !s->baud_code)
		return fw; /* "as configured" */
	if (!s->baud) {
		note(p, "SPCR: unknown baud rate code %u: 115200 baud", s->baud_code);
		return 1;
	}
	div = uart_divisor(s->baud);
	if (!div)
		note(p, "SPCR: %u baud is not 115200/n for a whole n from 1 to 65535: 115200 baud",
		     s->baud);
	return div ? (uint16_t)div : 1;
}

/* The SPCR's UART: true when it decides. */
static bool plan_spcr(const struct con_port *probed, int n, const struct acpi_spcr *s,
		      struct con_plan *p)
{
	const struct con_port *port;
	char why[CON_NOTE_LEN - 40];

	if (con_spcr_unusable(s, why, sizeof(why))) {
		note(p, "SPCR: %s: not used", why);
		return false;
	}
	port = find(probed, n, s->address);
	if (!port || port->probe != UART_FOUND) {
		note(p, "SPCR: no 16550 at I/O port 0x%llx (%s): not used",
		     (unsigned long long)s->address,
		     port ? uart_probe_text(port->probe) : "not probed");
		return false;
	}
	use(p, port->io, spcr_divisor(s, port, p));
	p->source = CON_SPCR;
	return true;
}

void con_plan(const struct con_port *probed, int n, const char *arg, const struct acpi_spcr *spcr,
	      struct con_plan *plan)
{
	*plan = (struct con_plan){ 0 };
	if (arg && plan_cmdline(probed, n, arg, plan))
		return;
	if (spcr && plan_spcr(probed, n, spcr, plan))
		return;
	for (int i = 0; i < n; i++)
		if (probed[i].tty >= 0 && probed[i].probe == UART_FOUND)
			use(plan, probed[i].io, 1);
	plan->source = plan->nr ? CON_LEGACY_ALL : CON_NONE;
}

const char *con_name(uint16_t io, char *buf, size_t size)
{
	for (int t = 0; t < CON_LEGACY; t++)
		if (legacy_io[t] == io) {
			ksnprintf(buf, size, "ttyS%d (0x%x)", t, io);
			return buf;
		}
	ksnprintf(buf, size, "I/O port 0x%x", io);
	return buf;
}
