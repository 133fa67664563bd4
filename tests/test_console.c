/* tests/test_console.c - the serial console (suite console): baud divisors, the UART
 * probe against an independent check, bounded waits, the choice of ports from
 * console= and the SPCR (on synthetic tables), dropping a stuck port, and the lock.
 * Which ports a boot really found and used is checked from the header by the runner
 * (tests/runner/matrix.cfg), where the QEMU devices are known.
 */
#include "kernel/console.h"
#include "kernel/ktest.h"
#include "kernel/printf.h"
#include "arch/cpu.h"
#include "arch/tsc.h"

KTEST_SUITE(07, console, NULL);

KTEST(console, divisor_is_115200_over_the_baud)
{
	static const struct {
		uint64_t baud;
		uint32_t divisor;
	} rows[] = { { 115200, 1 }, { 57600, 2 }, { 38400, 3 }, { 19200, 6 },
		     { 9600, 12 },  { 300, 384 }, { 50, 2304 }, { 2, 57600 } };

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		KEXPECT_EQ(uart_divisor(rows[i].baud), rows[i].divisor);
}

/* 0 and above 115200 (divisor 0), not a divisor of 115200, or a divisor above 16 bits. */
KTEST(console, bauds_that_do_not_divide_115200_are_refused)
{
	static const uint64_t refused[] = {
		0, 12345, 230400, 921600, 110, 56000, 1, 4294967295ULL
	};

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		KEXPECT_EQ(uart_divisor(refused[i]), 0);
}

KTEST(console, character_time_is_ten_bits_rounded_up)
{
	KEXPECT_EQ(uart_char_us(115200), 87);
	KEXPECT_EQ(uart_char_us(9600), 1042);
	KEXPECT_EQ(uart_char_us(100000), 100);
}

/* The probe (scratch, loopback lines, an echo in TSC time) finds a legacy UART exactly
 * where the scratch register alone, checked again now, says a device decodes the port. */
KTEST(console, probe_finds_a_uart_where_the_scratch_register_works)
{
	int n;
	const struct con_port *p = console_ports(&n);
	char name[24];

	KASSERT_TRUE(n >= CON_LEGACY);
	for (int t = 0; t < CON_LEGACY; t++) {
		KEXPECT_EQ(p[t].io, con_legacy_io(t));
		KEXPECT_EQ(p[t].probe == UART_FOUND, uart_scratch_works(p[t].io));
		ktest_note("%s: %s", con_name(p[t].io, name, sizeof(name)),
			   uart_probe_text(p[t].probe));
	}
}

KTEST(console, ports_in_use_answered_their_probe)
{
	int n, used = 0;
	const struct con_port *p = console_ports(&n);

	for (int i = 0; i < n; i++) {
		if (!p[i].used)
			continue;
		used++;
		KEXPECT_EQ(p[i].probe, UART_FOUND);
		KEXPECT_FALSE(p[i].dropped);
		KEXPECT_GE(p[i].wait_us, CON_WAIT_MIN_US);
		KEXPECT_GE(p[i].wait_us,
			   4 * p[i].fifo * uart_char_us(UART_BASE_BAUD / p[i].divisor));
	}
	ktest_note("%d ports carry the report", used);
}

/* TEMT set with THRE clear cannot happen on a 16550 (TEMT includes THRE), nor on an
 * absent port (0xff): the wait must give up after its ticks, and soon after. */
KTEST(console, wait_for_a_state_that_never_comes_ends_in_time)
{
	uint64_t ticks = tsc_us_to_ticks(2000), start = rdtsc(), took;
	bool ok = uart_wait(con_legacy_io(0), UART_LSR, UART_LSR_THRE | UART_LSR_TEMT,
			    UART_LSR_TEMT, ticks);

	took = rdtsc() - start;
	KEXPECT_FALSE(ok);
	KEXPECT_GE(took, ticks);
	KEXPECT_LT(took, ticks + tsc_us_to_ticks(200000)); /* TCG may stall a few ms */
}

KTEST(console, port_is_dropped_after_max_timeouts_in_a_row_only)
{
	struct con_port p = { .fifo = UART_FIFO_DEPTH };

	for (int i = 1; i < CON_MAX_TIMEOUTS; i++)
		KEXPECT_FALSE(con_port_waited(&p, false));
	KEXPECT_EQ(p.room, 1); /* the byte is written anyway */
	KEXPECT_FALSE(con_port_waited(&p, true));
	KEXPECT_EQ(p.room, UART_FIFO_DEPTH);
	KEXPECT_EQ(p.timeouts, 0);
	for (int i = 1; i < CON_MAX_TIMEOUTS; i++)
		KEXPECT_FALSE(con_port_waited(&p, false));
	KEXPECT_TRUE(con_port_waited(&p, false));
}

/* --- SPCR tables ------------------------------------------------------------------ */

/* An SPCR of `len` bytes: revision rev, interface type, GAS space/width/address and a
 * baud rate code (SPCR specification field offsets). */
static void spcr_table(uint8_t *t, size_t len, uint8_t rev, uint8_t type, uint8_t space,
		       uint64_t addr, uint8_t baud_code)
{
	uint32_t l = (uint32_t)len;

	memset(t, 0, len);
	memcpy(t, "SPCR", 4);
	memcpy(t + 4, &l, 4);
	t[8] = rev;
	t[36] = type;
	t[40] = space;
	t[41] = 8;
	t[43] = 1; /* byte access */
	memcpy(t + 44, &addr, 8);
	t[58] = baud_code;
	t[60] = 1; /* one stop bit */
}

KTEST(console, spcr_of_an_io_16550_is_parsed)
{
	uint8_t t[80];
	struct acpi_spcr s;
	char why[CON_NOTE_LEN];

	spcr_table(t, sizeof(t), 2, 0, 1, 0x2f8, 6);
	KASSERT_EQ(acpi_parse_spcr(t, sizeof(t), &s, why, sizeof(why)), 0);
	KEXPECT_EQ(s.revision, 2);
	KEXPECT_EQ(s.space_id, 1);
	KEXPECT_EQ(s.bit_width, 8);
	KEXPECT_EQ(s.address, 0x2f8);
	KEXPECT_EQ(s.baud, 57600);
	KEXPECT_TRUE(con_spcr_unusable(&s, why, sizeof(why)) == NULL);
}

KTEST(console, spcr_revision_4_precise_baud_rate_wins)
{
	uint8_t t[88];
	uint32_t precise = 38400, clock = UART_CLOCK_HZ;
	struct acpi_spcr s;

	spcr_table(t, sizeof(t), 4, 0x12, 1, 0x3f8, 7);
	memcpy(t + 76, &clock, 4);
	memcpy(t + 80, &precise, 4);
	KASSERT_EQ(acpi_parse_spcr(t, sizeof(t), &s, NULL, 0), 0);
	KEXPECT_EQ(s.baud, 38400);
	KEXPECT_EQ(s.uart_clock, UART_CLOCK_HZ);
}

KTEST(console, spcr_shorter_than_80_bytes_is_refused)
{
	uint8_t t[80];
	struct acpi_spcr s;
	char why[CON_NOTE_LEN];

	spcr_table(t, sizeof(t), 2, 0, 1, 0x3f8, 7);
	KEXPECT_NE(acpi_parse_spcr(t, 79, &s, why, sizeof(why)), 0);
	t[4] = 60; /* its own length field */
	KEXPECT_NE(acpi_parse_spcr(t, sizeof(t), &s, why, sizeof(why)), 0);
	KEXPECT_TRUE(ktest_contains(why, "shorter than 80"));
}

/* --- the choice of ports ------------------------------------------------------------ */

/* Parsed SPCRs: revision, interface type, GAS space (1 = I/O, 0 = memory) and register
 * width, address, baud rate code, baud, UART clock (struct acpi_spcr's order). */
enum { NO_SPCR = -1, COM2_57600, COM2_AS_IS, COM2_24MHZ, MMIO, PL011 };
static const struct acpi_spcr spcrs[] = {
	[COM2_57600] = { 2, 0, 1, 8, 0x2f8, 6, 57600, 0 },
	[COM2_AS_IS] = { 2, 0, 1, 8, 0x2f8, 0, 0, 0 },
	[COM2_24MHZ] = { 3, 0, 1, 8, 0x2f8, 7, 115200, 24000000 },
	[MMIO] = { 2, 0, 0, 32, 0xfe030000, 7, 115200, 0 },
	[PL011] = { 2, 3, 0, 32, 0x9000000, 7, 115200, 0 },
};

/* One scenario: which of COM1-COM4 answer (bit t = ttySt), the divisor the firmware
 * left on them, console= and the SPCR; then what the console must do. */
static const struct {
	unsigned int present;
	uint16_t fw_divisor;
	const char *arg;
	int spcr; /* in spcrs[] */
	enum con_source source;
	int nr;
	uint16_t io[2], divisor[2];
	const char *note; /* NULL: no note */
} plans[] = {
	{ 0x1, 0, NULL, NO_SPCR, CON_LEGACY_ALL, 1, { 0x3f8 }, { 1 }, NULL },
	{ 0xf, 0, NULL, NO_SPCR, CON_LEGACY_ALL, 4, { 0x3f8, 0x2f8 }, { 1, 1 }, NULL },
	{ 0x2, 0, NULL, NO_SPCR, CON_LEGACY_ALL, 1, { 0x2f8 }, { 1 }, NULL },
	{ 0x0, 0, NULL, NO_SPCR, CON_NONE, 0, { 0 }, { 0 }, NULL },
	{ 0x3, 0, "ttyS1,57600", NO_SPCR, CON_CMDLINE, 1, { 0x2f8 }, { 2 }, NULL },
	{ 0x1, 0, "ttyS0,12345", NO_SPCR, CON_CMDLINE, 1, { 0x3f8 }, { 1 }, "12345 baud is not" },
	{ 0x1, 0, "ttyS0,230400", NO_SPCR, CON_CMDLINE, 1, { 0x3f8 }, { 1 }, "230400 baud is not" },
	{ 0x1, 0, "ttyS2", NO_SPCR, CON_LEGACY_ALL, 1, { 0x3f8 }, { 1 }, "no 16550 at 0x3e8" },
	{ 0x3, 0, NULL, COM2_57600, CON_SPCR, 1, { 0x2f8 }, { 2 }, NULL },
	{ 0x3, 0, "ttyS0", COM2_57600, CON_CMDLINE, 1, { 0x3f8 }, { 1 }, NULL },
	{ 0x1, 0, NULL, COM2_57600, CON_LEGACY_ALL, 1, { 0x3f8 }, { 1 }, "no 16550 at I/O" },
	{ 0x3, 12, NULL, COM2_AS_IS, CON_SPCR, 1, { 0x2f8 }, { 12 }, NULL },
	{ 0x3, 0, NULL, COM2_AS_IS, CON_SPCR, 1, { 0x2f8 }, { 1 }, NULL },
	{ 0x3, 12, NULL, COM2_24MHZ, CON_SPCR, 1, { 0x2f8 }, { 12 }, "UART clock 24000000" },
	{ 0x3, 0, NULL, MMIO, CON_LEGACY_ALL, 2, { 0x3f8, 0x2f8 }, { 1, 1 }, "MMIO" },
	{ 0x1, 0, NULL, PL011, CON_LEGACY_ALL, 1, { 0x3f8 }, { 1 }, "not a 16550" },
};

KTEST(console, choice_follows_console_then_spcr_then_every_legacy_uart)
{
	struct con_port probed[CON_LEGACY];
	struct con_plan p;

	for (size_t i = 0; i < ARRAY_SIZE(plans); i++) {
		for (int t = 0; t < CON_LEGACY; t++)
			probed[t] = (struct con_port){
				.io = con_legacy_io(t),
				.tty = (int8_t)t,
				.probe = (plans[i].present >> t) & 1 ? UART_FOUND : UART_ABSENT,
				.fw_divisor = plans[i].fw_divisor,
			};
		con_plan(probed, CON_LEGACY, plans[i].arg,
			 plans[i].spcr == NO_SPCR ? NULL : &spcrs[plans[i].spcr], &p);
		KEXPECT_EQ(p.source, plans[i].source);
		KEXPECT_EQ(p.nr, plans[i].nr);
		for (int k = 0; k < MIN(p.nr, 2); k++) {
			KEXPECT_EQ(p.io[k], plans[i].io[k]);
			KEXPECT_EQ(p.divisor[k], plans[i].divisor[k]);
		}
		if (plans[i].note)
			KEXPECT_TRUE(p.nr_notes == 1 && ktest_contains(p.notes[0], plans[i].note));
		else
			KEXPECT_EQ(p.nr_notes, 0);
		if (ktest_failed()) {
			ktest_note("scenario %zu: %s", i, p.nr_notes ? p.notes[0] : "(no note)");
			return;
		}
	}
}

/* --- the lock --------------------------------------------------------------------- */

#define ME    5 /* tokens of two CPUs that need not exist */
#define OTHER 9

KTEST(console, lock_taken_again_by_its_holder_is_nested)
{
	struct con_lock l = { 0 };

	KEXPECT_EQ(con_lock_take(&l, ME, ~0ULL), CON_TAKEN);
	KEXPECT_EQ(con_lock_take(&l, ME, ~0ULL), CON_NESTED);
	con_lock_drop(&l, ME, true);
	KEXPECT_EQ(l.owner, 0);
	KEXPECT_EQ(l.line_owner, 0);
}

KTEST(console, unfinished_line_keeps_the_lock_for_its_cpu)
{
	struct con_lock l = { 0 };

	con_lock_take(&l, ME, ~0ULL);
	con_lock_drop(&l, ME, false);
	KEXPECT_EQ(l.owner, 0);
	KEXPECT_EQ(l.line_owner, ME);
	KEXPECT_EQ(con_lock_take(&l, ME, ~0ULL), CON_TAKEN);
	con_lock_drop(&l, ME, true);
	KEXPECT_EQ(l.line_owner, 0);
}

/* A holder (or the owner of an unfinished line) that makes no progress is taken over
 * once the stall time has passed, not before. */
KTEST(console, stalled_holder_is_taken_over_after_the_stall_time)
{
	uint64_t stall = tsc_us_to_ticks(3000), start, took;
	struct con_lock held = { .owner = OTHER }, line = { .line_owner = OTHER };

	start = rdtsc();
	KEXPECT_EQ(con_lock_take(&held, ME, stall), CON_TAKEN_OVER);
	took = rdtsc() - start;
	KEXPECT_GE(took, stall);
	KEXPECT_EQ(held.owner, ME);
	KEXPECT_EQ(held.taken_from, OTHER);
	start = rdtsc();
	KEXPECT_EQ(con_lock_take(&line, ME, stall), CON_TAKEN_OVER);
	KEXPECT_GE(rdtsc() - start, stall);
	KEXPECT_EQ(line.line_owner, 0);
	KEXPECT_EQ(line.taken_from, OTHER);
}

KTEST(console, drop_by_a_cpu_taken_over_changes_nothing)
{
	struct con_lock l = { .owner = OTHER };

	con_lock_drop(&l, ME, false);
	KEXPECT_EQ(l.owner, OTHER);
	KEXPECT_EQ(l.line_owner, 0);
}

/* What an NMI or a fault while printing does: print again on the CPU that holds the
 * console lock. It must come out at once, not after the stall time of a take-over. */
KTEST(console, printing_while_holding_the_console_does_not_wait)
{
	struct console_hold h;
	uint64_t start;

	KEXPECT_NE(con_cpu_token(), 0);
	h = console_hold();
	start = rdtsc();
	kprintf("# printed with the console lock held by this CPU\n");
	KEXPECT_LT(rdtsc() - start, tsc_us_to_ticks(CON_STALL_MIN_US / 2));
	console_release(h, true);
	KEXPECT_EQ(h.how, CON_TAKEN);
}
