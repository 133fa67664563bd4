/* arch/trap_pkrs.h - IA32_PKRS across a trap, and the one way a trap can return into
 * a page-table write window.
 *
 * Entry (arch/trap_entry.asm) saves the interrupted PKRS in frame->pkrs and loads
 * trap_pkrs_default, so every handler runs with the tables write-disabled. Exit loads
 * frame->pkrs again, except that the guarded bits (the page-table key's AD|WD,
 * trap_pkrs_guard) are forced on (trap_pkrs_guard_closed) unless this very frame is
 * on the open list:
 *   - the entry lists a frame whose interrupted code had the guarded key writable
 *     (it was inside a window): that code gets its window back, and nothing else;
 *   - trap_pkrs_allow_open() lists one on purpose (the pks_tables=soft re-arm).
 * So a handler, or a stray store into a frame on a stack at a known address (the
 * NMI, #DF and #MC stacks), that clears the bits in frame->pkrs opens nothing.
 * The list is kept by frame address, off the stack, in page-table-keyed memory;
 * the guard is read-only after boot (arch/pkrs.h: __pt_keyed, __ro_after_init).
 * The entry value is per trap, and so per CPU: every CPU has stacks of its own.
 */
#ifndef ARCH_TRAP_PKRS_H
#define ARCH_TRAP_PKRS_H

#include "kernel/types.h"
#include "arch/trap.h"

/* Frames listed at once: two per CPU of kernel/percpu.h's 256 (a thread a tick switched
 * out inside a window, and a trap nested in one). A full list drops the frame's window
 * (it resumes with the key closed: fails safe, counted by trap_pkrs_dropped). */
#define TRAP_PKRS_OPEN_MAX 512

/* Read by trap_entry.asm. Set once at boot by trap_pkrs_set_guard(): the bits a trap exit
 * checks (0 = no guard), and the value they get back when the frame is not listed. */
extern uint32_t trap_pkrs_guard, trap_pkrs_guard_closed;
/* Frames listed now (trap_entry.asm calls trap_pkrs_exit only when this is not 0). */
extern volatile uint32_t trap_pkrs_open_count;

/* Boot only, before the state is sealed: guard `mask`, restored to `closed`. */
void trap_pkrs_set_guard(uint32_t mask, uint32_t closed);

/* Called by trap_entry.asm while the interrupted PKRS (guarded bits writable) is still
 * loaded: lists f. A full list drops f (its exit closes the window; counted). */
void trap_pkrs_enter_open(const struct trap_frame *f);
/* Called by trap_entry.asm at exit while frames are listed: the PKRS to load, which is
 * frame->pkrs when f is listed (f leaves the list) and frame->pkrs with the guarded
 * bits closed otherwise. */
uint32_t trap_pkrs_exit(const struct trap_frame *f);

/* Lets f resume with frame->pkrs as the handler sets it, guarded bits included.
 * Needs the guarded key writable (a write window): 0, -EPERM (it is not) or
 * -ENOSPC (list full). */
int trap_pkrs_allow_open(const struct trap_frame *f);

/* pkrs with the guarded bits closed (trap_pkrs_guard_closed): what a handler puts in
 * frame->pkrs when the frame resumes anywhere but the interrupted instruction (the
 * fault catcher, kernel/catch.c), since the window the frame may have interrupted
 * does not go on there. pkrs itself when nothing is guarded. Loads nothing. */
uint32_t trap_pkrs_closed(uint32_t pkrs);

/* Frames listed now, and frames the list had no room for since boot. */
uint32_t trap_pkrs_listed(void);
uint32_t trap_pkrs_dropped(void);

#endif
