/* arch/trap_pkrs.c - the trap exit's PKRS guard behind arch/trap_pkrs.h. */
#include "arch/trap_pkrs.h"
#include "arch/pkrs.h"

volatile uint8_t trap_pkrs_managed __ro_after_init;
volatile uint32_t trap_pkrs_default __pt_keyed;
uint32_t trap_pkrs_guard __ro_after_init;
uint32_t trap_pkrs_guard_closed __ro_after_init;

/* Frames that may resume with the guarded bits open; NULL = free slot. */
static const struct trap_frame *open_frames[TRAP_PKRS_OPEN_MAX] __pt_keyed;
volatile uint32_t trap_pkrs_open_count __pt_keyed;
static volatile uint32_t dropped __pt_keyed;

void trap_pkrs_set_guard(uint32_t mask, uint32_t closed)
{
	trap_pkrs_guard = mask;
	trap_pkrs_guard_closed = closed & mask;
}

/* Claims a slot for f; false when every slot is taken. The caller has the guarded
 * key writable: the stores land. */
static bool list_frame(const struct trap_frame *f)
{
	for (int i = 0; i < TRAP_PKRS_OPEN_MAX; i++) {
		const struct trap_frame *free = NULL;

		if (__atomic_compare_exchange_n(&open_frames[i], &free, f, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			__atomic_fetch_add(&trap_pkrs_open_count, 1, __ATOMIC_RELEASE);
			return true;
		}
	}
	return false;
}

void trap_pkrs_enter_open(const struct trap_frame *f)
{
	if (!list_frame(f))
		__atomic_fetch_add(&dropped, 1, __ATOMIC_RELAXED);
}

int trap_pkrs_allow_open(const struct trap_frame *f)
{
	if (pkrs_read() & trap_pkrs_guard)
		return -EPERM; /* only code inside a write window may list a frame */
	return list_frame(f) ? 0 : -ENOSPC;
}

uint32_t trap_pkrs_exit(const struct trap_frame *f)
{
	for (int i = 0; i < TRAP_PKRS_OPEN_MAX; i++) {
		if (open_frames[i] != f)
			continue;
		/* The handler runs with the default: open the window to drop the entry; the
		 * exit then loads frame->pkrs as it is. */
		pkrs_write(pkrs_read() & ~trap_pkrs_guard);
		open_frames[i] = NULL;
		__atomic_fetch_sub(&trap_pkrs_open_count, 1, __ATOMIC_RELEASE);
		return (uint32_t)f->pkrs;
	}
	return (uint32_t)f->pkrs | trap_pkrs_guard_closed;
}

uint32_t trap_pkrs_closed(uint32_t pkrs)
{
	return (pkrs & ~trap_pkrs_guard) | trap_pkrs_guard_closed;
}

uint32_t trap_pkrs_listed(void)
{
	return trap_pkrs_open_count;
}

uint32_t trap_pkrs_dropped(void)
{
	return dropped;
}
