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

/* Every tick: counted, acknowledged, and on the boot CPU a preemption point. */
static bool on_tick(struct trap_frame *f)
{
	(void)f;
	this_cpu()->timer_ticks++;
	apic_eoi();
	if (this_cpu_id() == 0 && !off_reason && thread_preempt())
		switches++;
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
	return slice_ticks ? apic_timer_periodic(VEC_TIMER, slice_ticks) : -EINVAL;
}

void preempt_timer_stop_here(void)
{
	apic_timer_stop();
}
