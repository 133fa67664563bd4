# tests/host/host.mk - the host build of Warden's firmware-data parsers.
#
#   make -f tests/host/host.mk HOST_BUILD=build/host      (from the top of the tree)
#
# builds HOST_BUILD/host-unit (the unit tests, host compiler, AddressSanitizer and
# UndefinedBehaviorSanitizer) and HOST_BUILD/fuzz-TARGET (libFuzzer targets, clang,
# the same sanitizers). tests/host/run.sh builds and runs them; `make hosttest` and
# `make test` call it.
#
# The kernel sources are compiled unchanged. kernel/string.c's routines are renamed
# (memcpy -> kernel_memcpy, ...) in the kernel objects only, so the parsers run the
# kernel's own string code while libc keeps its own. The unit tests are linked with
# --gc-sections: only what they reach is kept, so mm/pool.c's allocator (which calls
# the frame allocator) needs no stubs. kernel/printf.c's console writes to stderr
# (tests/host/console.c).

HOST_BUILD ?= build/host
HOSTCC ?= cc
FUZZCC ?= clang

# The parsers (also fuzzed) and, for the unit tests only, the pool arithmetic.
PARSER_SRCS := \
	kernel/acpi_parse.c \
	kernel/cmdline.c \
	kernel/multiboot2.c \
	kernel/printf.c \
	kernel/string.c
HOST_KERNEL_SRCS := $(PARSER_SRCS) mm/pool.c mm/extent.c

HOST_UNIT_SRCS := \
	tests/host/harness.c \
	tests/host/console.c \
	tests/host/mbi.c \
	tests/host/check.c \
	tests/host/test_acpi.c \
	tests/host/test_cmdline.c \
	tests/host/test_frame.c \
	tests/host/test_mb2.c \
	tests/host/test_pool.c \
	tests/host/test_seeds.c

FUZZ_TARGETS := mb2 cmdline rsdp sdt

SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
HOST_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -I. -ffunction-sections \
	-fdata-sections -MMD -MP $(SANITIZE)
KERNEL_RENAMES := $(foreach f,memset memcpy memmove memcmp strlen strnlen strcmp strncmp, \
	-D$(f)=kernel_$(f))
KERNEL_HOST_CFLAGS := -fno-builtin $(KERNEL_RENAMES) -DWARDEN_GIT='"host"'
HOST_LDFLAGS := $(SANITIZE)

UNIT_OBJS := $(HOST_KERNEL_SRCS:%.c=$(HOST_BUILD)/unit/%.o) \
	$(HOST_UNIT_SRCS:%.c=$(HOST_BUILD)/unit/%.o)
FUZZ_KERNEL_OBJS := $(PARSER_SRCS:%.c=$(HOST_BUILD)/fuzz/%.o) \
	$(HOST_BUILD)/fuzz/tests/host/check.o $(HOST_BUILD)/fuzz/tests/host/console.o
FUZZ_BINS := $(FUZZ_TARGETS:%=$(HOST_BUILD)/fuzz-%)

Q := $(if $(V),,@)

.PHONY: all unit fuzz
all: unit fuzz
unit: $(HOST_BUILD)/host-unit
fuzz: $(FUZZ_BINS)

$(HOST_BUILD)/unit/kernel/%.o $(HOST_BUILD)/unit/mm/%.o: HOST_EXTRA = $(KERNEL_HOST_CFLAGS)
$(HOST_BUILD)/fuzz/kernel/%.o $(HOST_BUILD)/fuzz/mm/%.o: HOST_EXTRA = $(KERNEL_HOST_CFLAGS)

$(HOST_BUILD)/unit/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  HOSTCC  $<")
	$(Q)$(HOSTCC) $(HOST_CFLAGS) $(HOST_EXTRA) -c $< -o $@

$(HOST_BUILD)/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZCC) $(HOST_CFLAGS) -fsanitize=fuzzer-no-link $(HOST_EXTRA) -c $< -o $@

$(HOST_BUILD)/host-unit: $(UNIT_OBJS)
	@$(if $(Q),echo "  HOSTLD  $@")
	$(Q)$(HOSTCC) $(HOST_LDFLAGS) -Wl,--gc-sections -o $@ $^

$(HOST_BUILD)/fuzz-%: $(HOST_BUILD)/fuzz/tests/host/fuzz_%.o $(FUZZ_KERNEL_OBJS)
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZCC) $(HOST_LDFLAGS) -fsanitize=fuzzer -o $@ $^

-include $(UNIT_OBJS:.o=.d) $(FUZZ_KERNEL_OBJS:.o=.d) \
	$(FUZZ_TARGETS:%=$(HOST_BUILD)/fuzz/tests/host/fuzz_%.d)
