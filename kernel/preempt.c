/* kernel/preempt.c - timer ticks and preemption behind kernel/preempt.h. */
#include "kernel/preempt.h"
#include "kernel/cmdline.h"
#include "kernel/percpu.h"
#include "kernel/thread.h"
#include "arch/apic.h"
#include "arch/trap.h"

static uint32_t slice_ticks;
static const char *off_reason = "preempt_init() has not run";
static uint64_t switches;

/* Every tick: counted, acknowledged, and a preemption point on its CPU. While it
 * is handled, a round this CPU polls (spinning for its ring lock) edits the
 * interrupted PKRS in f, which the trap exit loads, not the handler's. */
static bool on_tick(struct trap_frame *f)
{
	struct percpu *me = this_cpu();

	me->timer_ticks++;
	apic_eoi();
	me->tick_frame = f;
	if (!off_reason && thread_preempt(f))
		__atomic_fetch_add(&switches, 1, __ATOMIC_RELAXED);
	this_cpu()->tick_frame = NULL;
	return true;
}

void preempt_init(void)
{
	trap_register(VEC_TIMER, on_tick);
	if (cmdline_is("preempt", "off")) {
		off_reason = "preemption disabled by preempt=off";
		return;
	}
	slice_ticks = (uint32_t)(apic_timer_ticks_per_ms() * PREEMPT_SLICE_MS);
	if (!slice_ticks) {
		off_reason = "no usable local APIC timer";
		return;
	}
	off_reason = NULL;
	preempt_timer_start_here();
}

const char *preempt_off_reason(void)
{
	return off_reason;
}

uint64_t preempt_switches(void)
{
	return switches;
}

int preempt_timer_start_here(void)
{
	int rc = slice_ticks ? apic_timer_periodic(VEC_TIMER, slice_ticks) : -EINVAL;

	this_cpu()->timer_on = !rc;
	return rc;
}

void preempt_timer_stop_here(void)
{
	apic_timer_stop();
	this_cpu()->timer_on = false;
}

void preempt_timer_busy(bool busy)
{
	struct percpu *me = this_cpu();

	if (busy && !me->timer_on && !off_reason)
		preempt_timer_start_here();
	else if (!busy && me->timer_on && me->cpu)
		preempt_timer_stop_here();
}
