/* kernel/cmdline.h - the boot command line: space-separated `key=value` words.
 *
 * Known keys and what they accept (anything else is reported, then ignored):
 *   pks=on|off                   PKS itself (default on when the CPU has it)
 *   pks_tables=on|soft|off       page-table protection mode
 *   la57=on|off|auto             5-level paging (the entry code reads la57=off itself)
 *   smp=on|off                   start the other CPUs of the MADT (default on)
 *   x2apic=on|off|auto           x2APIC mode: forced, never entered, or when an APIC
 *                                ID needs it (default auto; kernel/smp.h)
 *   preempt=on|off               timer ticks preempt threads (default on; kernel/preempt.h)
 *   console=ttyS0..ttyS3[,baud]  serial port of the report
 *   ktest=suite[,suite...]       which test suites run (default: all)
 *   ktest.seed=N                 seed for randomized tests (decimal or 0x hex)
 *   ktest.fail_early=on|off      panic before memory management (checks the report)
 *   ktest.wake_absent=on|off     smp cases may send INIT/SIPI to an APIC ID the MADT
 *                                lacks (default: only under a hypervisor)
 *   ktest.bench_reps=N           repetitions per bench figure (default 3; 3..255)
 *   smp_stress.iters=N           iterations per CPU of the smp_stress suite
 *   set_memory.steps=N           steps of the set_memory random walk (default 1000)
 *   mem=SIZE                     use RAM only below SIZE (K, M, G, T suffixes)
 *   bootdump=mbi|acpi|all        hex dumps of the MBI / ACPI tables (kernel/bootdump.h)
 */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include "kernel/types.h"

#define CMDLINE_MAX	  1024
#define CMDLINE_MAX_WORDS 32
#define CMDLINE_MAX_WORD  256 /* longer words are reported and ignored */

/* Parses `s` (copied; s may go away). Words with unknown keys or invalid values are
 * remembered as problems and otherwise ignored. Returns the number of problems. */
int cmdline_parse(const char *s);

/* Parses again the first string ever given to cmdline_parse() (the boot command
 * line, once kmain has parsed it); tests that parse their own lines call it last. */
void cmdline_restore_boot(void);

/* The value of a known key that was given with a valid value, or NULL. */
const char *cmdline_get(const char *key);
/* True when key was given with exactly this value. */
bool cmdline_is(const char *key, const char *value);

/* Problems found by the last parse: i-th message ("unknown parameter 'x=y'",
 * "invalid value 'maybe' for la57 (expected on|off|auto)"), NULL past the end. */
const char *cmdline_problem(int i);

/* "512M" / "4G" / "1048576" / "0x1000" -> bytes. Returns 0 or -EINVAL (value unchanged)
 * on a malformed or overflowing string. */
int parse_size(const char *s, uint64_t *out);
/* Decimal or 0x-prefixed hex unsigned number. Returns 0 or -EINVAL. */
int parse_u64(const char *s, uint64_t *out);

#endif
