/* kernel/console.c - the serial console behind kernel/console.h: the ports, the lock,
 * the output to every port in use, and the header lines. The choice of ports itself is
 * con_plan() (kernel/console_plan.c). */
#include "kernel/console.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

#define MAX_NOTES 4

static struct con_port ports[CON_MAX_PORTS]; /* COM1-COM4, then the SPCR's if elsewhere */
static int nr_ports;
static struct con_lock lock;

/* The choice, for the header: written once by console_choose(). */
static struct {
	bool made;
	struct con_plan plan;
	bool have_spcr;
	struct acpi_spcr spcr;
	char spcr_why[CON_NOTE_LEN];
} choice;

/* Protected by lock: "# console:" lines waiting for the start of a line; printed from
 * the header on (open), so that none comes before the report's version line. */
static struct {
	bool open;
	int nr, lost;
	char text[MAX_NOTES][CON_NOTE_LEN];
} notes;

/* --- the lock ---------------------------------------------------------------------- */

/* CPUID leaf 0BH is there when the highest basic leaf is >= 0BH and its EBX[15:0] is
 * not 0; EDX is then the x2APIC ID (SDM Vol. 2A, CPUID, leaf 0BH). Else the initial
 * APIC ID of leaf 01H, EBX[31:24]. */
uint64_t con_cpu_token(void)
{
	static uint32_t max_leaf;
	struct cpuid_regs r;

	if (!max_leaf)
		max_leaf = cpuid(0, 0).eax;
	if (max_leaf >= 0xb && ((r = cpuid(0xb, 0)).ebx & 0xffff))
		return (uint64_t)r.edx + 1;
	return (cpuid(1, 0).ebx >> 24) + 1;
}

static bool try_own(struct con_lock *l, uint64_t from, uint64_t me)
{
	return __atomic_compare_exchange_n(&l->owner, &from, me, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

/* True when the line is free for me: nobody's, or mine. */
static bool line_free(struct con_lock *l, uint64_t me)
{
	uint64_t line = __atomic_load_n(&l->line_owner, __ATOMIC_ACQUIRE);

	return !line || line == me;
}

enum con_take con_lock_take(struct con_lock *l, uint64_t me, uint64_t stall_ticks)
{
	uint64_t holder, last = 0, seen = ~0ULL, since = 0, now;

	if (__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE) == me)
		return CON_NESTED;
	for (;;) {
		holder = __atomic_load_n(&l->owner, __ATOMIC_ACQUIRE);
		if (!holder && line_free(l, me) && try_own(l, 0, me)) {
			if (line_free(l, me)) /* a line may have been left open meanwhile */
				return CON_TAKEN;
			__atomic_store_n(&l->owner, 0, __ATOMIC_RELEASE);
			continue;
		}
		now = rdtsc();
		if (holder != last || __atomic_load_n(&l->progress, __ATOMIC_RELAXED) != seen) {
			last = holder;
			seen = __atomic_load_n(&l->progress, __ATOMIC_RELAXED);
			since = now;
		} else if (now - since >= stall_ticks && try_own(l, holder, me)) {
			l->taken_from =
				holder ? holder : __atomic_load_n(&l->line_owner, __ATOMIC_RELAXED);
			__atomic_store_n(&l->line_owner, 0, __ATOMIC_RELEASE);
			return CON_TAKEN_OVER;
		}
		cpu_relax();
	}
}

void con_lock_drop(struct con_lock *l, uint64_t me, bool at_line_start)
{
	if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) != me)
		return; /* taken over meanwhile: no longer ours */
	__atomic_store_n(&l->line_owner, at_line_start ? 0 : me, __ATOMIC_RELEASE);
	__atomic_store_n(&l->owner, 0, __ATOMIC_RELEASE);
}

/* --- output -------------------------------------------------------------------------- */

/* Queues a "# console:" line for the next line start. Lock held (or one CPU only). */
static __printf(1, 2) void queue_note(const char *fmt, ...)
{
	va_list ap;

	if (notes.nr == MAX_NOTES) {
		notes.lost++;
		return;
	}
	va_start(ap, fmt);
	kvsnprintf(notes.text[notes.nr++], CON_NOTE_LEN, fmt, ap);
	va_end(ap);
}

/* The names of the ports still in use, comma-separated, into buf. */
static const char *names_in_use(char *buf, size_t size)
{
	char name[24];
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < nr_ports; i++)
		if (ports[i].used && !ports[i].dropped && len < size)
			len += ksnprintf(buf + len, size - len, "%s%s", len ? ", " : "",
					 con_name(ports[i].io, name, sizeof(name)));
	return len ? buf : "no other port";
}

static void drop(struct con_port *p)
{
	char name[24], rest[80];

	p->dropped = true;
	queue_note("console: %s dropped: no transmit room within %u us, %d times in a row; "
		   "the report goes on on %s",
		   con_name(p->io, name, sizeof(name)), p->wait_us, CON_MAX_TIMEOUTS,
		   names_in_use(rest, sizeof(rest)));
}

/* How many ports carry the report now. */
static int ports_in_use(void)
{
	int n = 0;

	for (int i = 0; i < nr_ports; i++)
		n += ports[i].used && !ports[i].dropped;
	return n;
}

/* Sends b to p, waiting (bounded) for room in its transmitter first when needed. */
static void port_tx(struct con_port *p, uint8_t b)
{
	bool ready;

	if (!p->room) {
		ready = uart_wait(p->io, UART_LSR, UART_LSR_THRE, UART_LSR_THRE,
				  tsc_us_to_ticks(p->wait_us));
		/* The last port in use is kept (each byte after a bounded wait): dropping
		 * it would lose the rest of the report without a word. */
		if (con_port_waited(p, ready) && ports_in_use() > 1) {
			drop(p);
			return;
		}
	}
	uart_tx(p->io, b);
	p->room--;
}

void console_tx(char c)
{
	for (int i = 0; i < nr_ports; i++)
		if (ports[i].used && !ports[i].dropped)
			port_tx(&ports[i], (uint8_t)c);
	__atomic_add_fetch(&lock.progress, 1, __ATOMIC_RELAXED);
}

/* The time without progress after which a waiter takes the lock over. */
static uint64_t stall_ticks(void)
{
	uint32_t longest = 0;

	for (int i = 0; i < nr_ports; i++)
		if (ports[i].used)
			longest = MAX(longest, ports[i].wait_us);
	return tsc_us_to_ticks(CON_STALL_MIN_US + 2ULL * longest);
}

struct console_hold console_hold(void)
{
	struct console_hold h = { .flags = irq_save(), .me = con_cpu_token() };

	h.how = con_lock_take(&lock, h.me, stall_ticks());
	if (h.how == CON_TAKEN_OVER)
		queue_note("console: taken over from the CPU with APIC ID %llu, which made no "
			   "progress for %llu ms",
			   (unsigned long long)(lock.taken_from - 1),
			   (unsigned long long)(stall_ticks() / tsc_us_to_ticks(1000)));
	return h;
}

/* Prints the queued notes (lock held, at a line start); they may queue more. */
static void flush_notes(void)
{
	char text[CON_NOTE_LEN];

	for (int round = 0; notes.nr && round < CON_MAX_PORTS + MAX_NOTES; round++) {
		strncpy_z(text, notes.text[0], sizeof(text));
		memmove(notes.text[0], notes.text[1], sizeof(notes.text[0]) * --notes.nr);
		kprintf("# %s\n", text);
	}
	if (notes.lost)
		kprintf("# console: %d more notes lost\n", notes.lost);
	notes.lost = 0;
}

void console_release(struct console_hold h, bool at_line_start)
{
	if (h.how != CON_NESTED) {
		if (at_line_start && notes.open && (notes.nr || notes.lost))
			flush_notes();
		con_lock_drop(&lock, h.me, at_line_start);
	}
	irq_restore(h.flags);
}

/* --- the ports ------------------------------------------------------------------------- */

/* Waits (bounded) until p has sent everything, e.g. before its divisor changes. */
static void port_drain(struct con_port *p)
{
	uart_wait(p->io, UART_LSR, UART_LSR_TEMT, UART_LSR_TEMT,
		  tsc_us_to_ticks(2ULL * p->wait_us));
}

/* Programs p at divisor and makes it carry output. */
static void port_start(struct con_port *p, uint16_t divisor)
{
	if (p->used && !p->dropped)
		port_drain(p);
	p->divisor = divisor;
	p->fifo = (uint8_t)uart_setup(p->io, divisor);
	p->room = 0;
	p->timeouts = 0;
	p->wait_us = MAX(CON_WAIT_MIN_US, 4 * p->fifo * uart_char_us(UART_BASE_BAUD / divisor));
	p->used = true;
	p->dropped = false;
}

void console_init_early(void)
{
	for (int t = 0; t < CON_LEGACY; t++) {
		struct con_port *p = &ports[t];

		p->io = con_legacy_io(t);
		p->tty = (int8_t)t;
		p->probe = uart_probe(p->io, &p->fw_divisor);
		if (p->probe == UART_FOUND)
			port_start(p, 1);
	}
	nr_ports = CON_LEGACY;
}

const struct con_port *console_ports(int *n)
{
	*n = nr_ports;
	return ports;
}

/* --- the choice ------------------------------------------------------------------------ */

static struct con_port *port_at(uint64_t io)
{
	for (int i = 0; i < nr_ports; i++)
		if (ports[i].io == io)
			return &ports[i];
	return NULL;
}

static bool in_plan(const struct con_plan *p, uint16_t io)
{
	for (int i = 0; i < p->nr; i++)
		if (p->io[i] == io)
			return true;
	return false;
}

/* "ttyS1 (0x2f8) at 57600 baud, ..." for the ports of p, into buf. */
static const char *plan_text(const struct con_plan *p, char *buf, size_t size)
{
	char name[24];
	size_t len = 0;

	for (int i = 0; i < p->nr && len < size; i++)
		len += ksnprintf(buf + len, size - len, "%s%s at %u baud", i ? ", " : "",
				 con_name(p->io[i], name, sizeof(name)),
				 UART_BASE_BAUD / p->divisor[i]);
	return p->nr ? buf : "no port";
}

static const char *source_text(enum con_source s)
{
	switch (s) {
	case CON_CMDLINE:
		return "console= names it";
	case CON_SPCR:
		return "the firmware's SPCR names it";
	case CON_LEGACY_ALL:
		return "every legacy UART found";
	default:
		return "no UART found";
	}
}

/* The last line on a port that the choice leaves out; then the port stops. */
static void hand_off(struct con_port *p, const char *where, enum con_source why)
{
	char line[CON_NOTE_LEN + 80];
	int n = ksnprintf(line, sizeof(line),
			  "\r\nwarden: console: the report goes to %s (%s); nothing more on "
			  "this port\r\n",
			  where, source_text(why));

	for (int i = 0; i < n && i < (int)sizeof(line) - 1 && !p->dropped; i++)
		port_tx(p, (uint8_t)line[i]);
	port_drain(p);
	p->used = false;
}

/* Probes the SPCR's I/O port when it is none of COM1-COM4. */
static void probe_spcr_port(const struct acpi_spcr *s)
{
	char why[CON_NOTE_LEN];
	struct con_port *p;

	if (con_spcr_unusable(s, why, sizeof(why)) || port_at(s->address) ||
	    nr_ports == CON_MAX_PORTS)
		return;
	p = &ports[nr_ports++];
	p->io = (uint16_t)s->address;
	p->tty = -1;
	p->probe = uart_probe(p->io, &p->fw_divisor);
}

void console_choose(const char *arg, const struct acpi_spcr *spcr, const char *spcr_why)
{
	struct con_plan *plan = &choice.plan;
	char where[160];

	choice.have_spcr = spcr != NULL;
	if (spcr) {
		choice.spcr = *spcr;
		probe_spcr_port(spcr);
	}
	strncpy_z(choice.spcr_why, spcr_why ? spcr_why : "not read", sizeof(choice.spcr_why));
	con_plan(ports, nr_ports, arg, spcr, plan);
	plan_text(plan, where, sizeof(where));
	for (int i = 0; i < nr_ports; i++)
		if (ports[i].used && !in_plan(plan, ports[i].io))
			hand_off(&ports[i], where, plan->source);
	for (int i = 0; i < plan->nr; i++) {
		struct con_port *p = port_at(plan->io[i]);

		if (!p->used || p->dropped || p->divisor != plan->divisor[i])
			port_start(p, plan->divisor[i]);
	}
	choice.made = true;
}

/* --- the header ------------------------------------------------------------------------ */

static void print_probes(void)
{
	char line[360], name[24];
	size_t len = 0;

	for (int i = 0; i < nr_ports && len < sizeof(line); i++)
		len += ksnprintf(line + len, sizeof(line) - len, "%s%s: %s", i ? "; " : "",
				 con_name(ports[i].io, name, sizeof(name)),
				 uart_probe_text(ports[i].probe));
	kprintf("# console: probed %s\n", line);
}

static void print_spcr(void)
{
	const struct acpi_spcr *s = &choice.spcr;
	static const char *const space[] = { "MMIO address", "I/O port" };

	if (!choice.have_spcr) {
		kprintf("# console: SPCR: none (%s)\n", choice.spcr_why);
		return;
	}
	kprintf("# console: SPCR revision %u: interface type 0x%02x, %s 0x%llx, ", s->revision,
		s->interface_type, s->space_id < 2 ? space[s->space_id] : "address space ?",
		(unsigned long long)s->address);
	if (s->baud)
		kprintf("%u baud\n", s->baud);
	else if (s->baud_code)
		kprintf("unknown baud rate code %u\n", s->baud_code);
	else
		kprintf("baud rate as the firmware configured it\n");
}

void console_print_header(void)
{
	const struct con_plan *p = &choice.plan;
	char where[160];

	print_probes();
	print_spcr();
	if (choice.made)
		kprintf("# console: report on %s: %s\n", plan_text(p, where, sizeof(where)),
			source_text(p->source));
	else
		kprintf("# console: no choice made: every legacy UART found carries the report\n");
	for (int i = 0; i < p->nr_notes; i++)
		kprintf("# console: %s\n", p->notes[i]);
	notes.open = true;
	console_fresh_line(); /* its release prints what happened to a port so far */
}
