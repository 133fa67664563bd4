# Warden - build, ISO, QEMU runs and the test matrix.
#
#   make            build/kernel.elf (multiboot2 ELF)
#   make iso        build/kernel.iso (GRUB, BIOS + UEFI)
#   make run        boot the ISO in QEMU, serial report on this terminal
#   make test       the KTAP checker's self-test, the host tests, then the boots of
#                   tests/runner/matrix.cfg headless: a line per boot, the failed ones'
#                   "not ok" lines, then "N passed, N failed, N skipped" (all included);
#                   ONLY=boot[,boot] or GROUP=group boots a subset (no host tests)
#   make hosttest   the parsers' host unit tests (ASan/UBSan) and fuzz runs (tests/host/);
#                   make test runs them too, before the matrix
#   make lava       Warden's report through LAVA's lava-run: the monitor pattern test, the
#                   server templates validated, a QEMU job and a simulated-server job whose
#                   counts must equal Warden's closing line (tests/lava/run.sh, README
#                   "Running in a lab (LAVA)"); make test runs it too
#   make bench      the bench suite alone in one boot, printed as a table (BENCH_REPS;
#                   README "Benchmarks")
#   make debug      QEMU halted with a gdb stub on :1234
#   make bochs      optional, not part of make test: the suites in Bochs (BOCHS=/path/to/bochs),
#                   x2APIC forced on 4 CPUs; tests/runner/bochs.sh, README "Bochs"
#   make clean
#
# Variables: CPU, MEM, SMP, UEFI=1, CMDLINE, QEMU_ARGS, ACCEL, TIMEOUT, ONLY, GROUP,
# MATRIX, JOBS (see README.md).
# Any of CPU MEM SMP UEFI CMDLINE QEMU_ARGS given to `make test` boots just that one
# configuration instead of the whole matrix.

CROSS_COMPILE ?=
ifeq ($(origin CC),default)
CC := $(CROSS_COMPILE)gcc
endif
ifeq ($(origin LD),default)
LD := $(CROSS_COMPILE)ld
endif
OBJCOPY ?= $(CROSS_COMPILE)objcopy
export OBJCOPY
NASM ?= nasm

BUILD ?= build
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-ffreestanding -fno-builtin -mno-red-zone -mcmodel=kernel -fno-pic -fno-pie \
	-fno-stack-protector -mgeneral-regs-only -fno-omit-frame-pointer \
	-fno-asynchronous-unwind-tables -I. -DWARDEN_GIT='"$(GIT_REV)"' -MMD -MP
LDFLAGS := -nostdlib -static -no-pie -z max-page-size=0x1000 -z noexecstack -T linker.ld
NASMFLAGS := -f elf64 -g

ASM_SRCS := \
	boot/multiboot_entry.asm \
	arch/trap_entry.asm \
	arch/context.asm \
	arch/ap_boot.asm

C_SRCS := \
	arch/apic.c \
	arch/cpu.c \
	arch/gdt.c \
	arch/mce.c \
	arch/pkrs.c \
	arch/trap.c \
	arch/trap_pkrs.c \
	arch/tsc.c \
	arch/uart.c \
	kernel/acpi.c \
	kernel/acpi_parse.c \
	kernel/bootdump.c \
	kernel/catch.c \
	kernel/cmdline.c \
	kernel/console.c \
	kernel/console_plan.c \
	kernel/ktest.c \
	kernel/ktest_filter.c \
	kernel/main.c \
	kernel/mce_report.c \
	kernel/multiboot2.c \
	kernel/nmi.c \
	kernel/panic.c \
	kernel/percpu.c \
	kernel/pks.c \
	kernel/preempt.c \
	kernel/printf.c \
	kernel/smp.c \
	kernel/smp_header.c \
	kernel/smp_ipi.c \
	kernel/spinlock.c \
	kernel/smp_tramp.c \
	kernel/string.c \
	kernel/thread.c \
	mm/checker.c \
	mm/dmap.c \
	mm/dmap_hotplug.c \
	mm/extent.c \
	mm/frame.c \
	mm/guard.c \
	mm/pgprot.c \
	mm/pgprot_fault.c \
	mm/pgtable.c \
	mm/pool.c \
	mm/protect_map.c \
	mm/pt_door.c \
	mm/pt_flush.c \
	mm/pt_lock.c \
	mm/ptcache.c \
	mm/set_memory.c \
	mm/vmap.c \
	tests/mbi_builder.c \
	tests/mm_check.c \
	tests/pks_fixture.c \
	tests/test_bench.c \
	tests/test_bench_figures.c \
	tests/test_bench_ops.c \
	tests/test_catch.c \
	tests/test_checker.c \
	tests/test_cmdline.c \
	tests/test_console.c \
	tests/test_dmap.c \
	tests/test_dmap_bits.c \
	tests/test_dmap_hotadd.c \
	tests/test_frame.c \
	tests/test_guard.c \
	tests/test_guard_checker.c \
	tests/test_guard_nomem.c \
	tests/test_mce.c \
	tests/test_multiboot2.c \
	tests/test_nmi.c \
	tests/test_pgprot.c \
	tests/test_pgprot_fatal.c \
	tests/test_pgtable.c \
	tests/test_pks.c \
	tests/test_pks_nmi.c \
	tests/test_pks_state.c \
	tests/test_pool.c \
	tests/test_printf.c \
	tests/test_redteam.c \
	tests/test_redteam_batch.c \
	tests/test_redteam_checker.c \
	tests/test_redteam_harden.c \
	tests/test_redteam_review.c \
	tests/test_redteam_state.c \
	tests/test_set_memory.c \
	tests/test_set_memory_errors.c \
	tests/test_smp.c \
	tests/test_smp_acpi.c \
	tests/test_smp_lock_fatal.c \
	tests/test_smp_preempt.c \
	tests/test_smp_stress.c \
	tests/test_smp_tlb.c \
	tests/test_smp_tlb_bench.c \
	tests/test_smp_work.c \
	tests/test_thread.c \
	tests/test_tsc.c \
	tests/test_windows.c

OBJS := $(ASM_SRCS:%.asm=$(BUILD)/%.o) $(C_SRCS:%.c=$(BUILD)/%.o)

CPU ?= max,vendor=GenuineIntel
MEM ?= 512M
SMP ?= 1
UEFI ?=
CMDLINE ?=
QEMU_ARGS ?=
ACCEL ?= tcg
TIMEOUT ?= 240
export CPU MEM SMP UEFI CMDLINE QEMU_ARGS ACCEL TIMEOUT

.PHONY: all iso run test bench hosttest lava debug bochs clean deps format format-check
all: $(BUILD)/kernel.elf

# V=1 shows the full commands.
Q := $(if $(V),,@)

$(BUILD)/%.o: %.asm
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NASM    $<")
	$(Q)$(NASM) $(NASMFLAGS) $< -o $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/kernel.elf: $(OBJS) linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(LDFLAGS) -o $@ $(OBJS)

# The same kernel whose multiboot2 header asks GRUB to load it at 256 MiB or above
# (relocatable tag min_addr), far from its link address: the matrix boots it to
# prove that the image runs wherever it is put. (Preference "highest" would do too
# under SeaBIOS, but GRUB 2.06's EFI loader then fails with "premature end of file".)
$(BUILD)/boot/multiboot_entry-loadhigh.o: boot/multiboot_entry.asm
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  NASM    $< (LOAD_MIN=256 MiB)")
	$(Q)$(NASM) $(NASMFLAGS) -DLOAD_MIN=0x10000000 $< -o $@

$(BUILD)/kernel-loadhigh.elf: $(filter-out $(BUILD)/boot/multiboot_entry.o,$(OBJS)) \
		$(BUILD)/boot/multiboot_entry-loadhigh.o linker.ld
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(LD) $(LDFLAGS) -o $@ $(BUILD)/boot/multiboot_entry-loadhigh.o \
		$(filter-out $(BUILD)/boot/multiboot_entry.o,$(OBJS))

# The ISO's grub.cfg carries CMDLINE; rebuild when it changes.
$(BUILD)/cmdline.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(CMDLINE)' | cmp -s - $@ || echo '$(CMDLINE)' > $@

$(BUILD)/kernel.iso: $(BUILD)/kernel.elf $(BUILD)/cmdline.stamp iso/boot/grub/grub.cfg.in tests/runner/mkiso.sh
	@tests/runner/deps.sh
	@$(if $(Q),echo "  ISO     $@")
	$(Q)tests/runner/mkiso.sh $@ $(BUILD)/kernel.elf '$(CMDLINE)' 3

iso:
	@tests/runner/deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/kernel.iso

# run, debug and test first install missing host packages (tests/runner/deps.sh), so that
# they work from a fresh clone.
run: iso
	tests/runner/run.sh run $(BUILD)/kernel.iso

debug: iso
	tests/runner/run.sh debug $(BUILD)/kernel.iso

TEST_SELECTED := $(strip $(filter command line environment,$(origin CPU) $(origin MEM) \
	$(origin SMP) $(origin UEFI) $(origin CMDLINE) $(origin QEMU_ARGS)))
# ONLY=boot[,boot] or GROUP=group: a subset of the matrix, without the host tests.
TEST_SUBSET := $(strip $(ONLY)$(GROUP))
NO_HOST_TESTS := $(TEST_SELECTED)$(TEST_SUBSET)

test:
	@tests/runner/deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/kernel.elf $(BUILD)/kernel-loadhigh.elf
	-tests/runner/ktap-check.sh --self-test
	$(if $(NO_HOST_TESTS),,-BUILD=$(BUILD) tests/host/run.sh --no-summary)
	$(if $(NO_HOST_TESTS),,-tests/capture/test-sol-capture.sh $(BUILD)/kernel.elf)
	$(if $(NO_HOST_TESTS),,-BUILD=$(BUILD) tests/lava/run.sh $(BUILD)/kernel.elf)
	$(if $(NO_HOST_TESTS),,HOST_RESULTS="host-unit host-fuzz sol-capture lava") tests/runner/run.sh \
		$(if $(TEST_SELECTED),single,matrix) $(BUILD)/kernel.elf

# The bench suite alone (README "Benchmarks"): one boot with ktest=bench and
# ktest.bench_reps=BENCH_REPS (default 101) on BENCH_SMP CPUs (default 4: the TLB
# shootdown figures need other CPUs; a 1-CPU boot prints them as skipped) with
# BENCH_MEM of RAM (default 4G: a 1 GiB direct-map leaf for merge_2m_1g and a run of
# 262144 pages for set_memory), in the configuration CPU/UEFI/QEMU_ARGS give, printed
# as a table by
# tests/bench/bench-table.sh; the report stays in $(BUILD)/test/single.log (compare
# two with tests/bench/bench-table.sh A B).
BENCH_REPS ?= 101
BENCH_SMP ?= 4
BENCH_MEM ?= 4G
bench:
	@$(MAKE) --no-print-directory test SMP=$(BENCH_SMP) MEM=$(BENCH_MEM) \
		CMDLINE='ktest=bench ktest.bench_reps=$(BENCH_REPS)'
	@tests/bench/bench-table.sh $(BUILD)/test/single.log

# The host tests alone (tests/host/run.sh): the firmware-data parsers and the pool
# arithmetic under ASan/UBSan, then bounded libFuzzer runs (HOST_FUZZ_TIME seconds per
# target, default 12). `make test` runs them before the matrix (not for a single
# configuration) and counts them in its closing line.
hosttest:
	@tests/runner/deps.sh
	@BUILD=$(BUILD) tests/host/run.sh

# Warden under LAVA, the test-lab engine (tests/lava/run.sh): installs lava-dispatcher
# and tftpd-hpa if missing and takes lava-server's device types from its package, then
# the checks above; LAVA_KTEST picks the suites the two jobs boot. Needs root (or sudo).
lava:
	@tests/runner/deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/kernel.elf
	BUILD=$(BUILD) tests/lava/run.sh $(BUILD)/kernel.elf

# Optional (README, "Bochs"): the report in a Bochs built from source, which has what QEMU
# TCG lacks (x2APIC, with PKS and LA57 on the sapphire_rapids model). Not part of `make test`.
# Variables: BOCHS, BXSHARE, CMDLINE (default x2apic=on ktest.wake_absent=on), BOCHS_SMP,
# BOCHS_MEM, BOCHS_CPU, BOCHS_IPS, BOCHS_KNOWN (see tests/runner/bochs.sh).
BOCHS ?= bochs
bochs:
	@tests/runner/deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/kernel.elf
	BOCHS='$(BOCHS)' tests/runner/bochs.sh $(BUILD)/kernel.elf

deps:
	tests/runner/deps.sh

# The C sources follow .clang-format (clang-format 14).
FORMAT_SRCS = $(C_SRCS) $(wildcard arch/*.h kernel/*.h mm/*.h tests/*.h tests/host/*.[ch])
format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRCS) && echo "format: clean"

clean:
	rm -rf $(BUILD)

FORCE:

-include $(OBJS:.o=.d)
