#!/usr/bin/env bash
# tests/host/capture-seeds.sh [KERNEL.elf] - captures the host tests' seeds from real boots.
#
# Boots the kernel (default build/kernel.elf) in QEMU through GRUB with
# `bootdump=all ktest=printf`, under SeaBIOS and under OVMF (pflash), in the
# configurations below, and turns the "# bootdump:" hex lines of each serial log back
# into binary files:
#   seeds/mb2/CONFIG.bin          the multiboot2 information as GRUB built it
#   seeds/rsdp/CONFIG.bin         the RSDP GRUB copied into it
#   seeds/sdt/CONFIG-NAME.bin     every ACPI table: RSDT/XSDT, the tables it lists, DSDT
#   seeds/cmdline/CONFIG.txt      the command line as the kernel received it
# plus seeds/cmdline/matrix-N.txt, the command lines of tests/runner/matrix.cfg.
# Existing files of the same names are replaced; commit the result.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
kernel=${1:-$top/build/kernel.elf}
seeds=$top/tests/host/seeds
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name|uefi|mem|smp: "2,maxcpus=4" adds two hot-pluggable CPUs, disabled in the MADT.
configs="seabios-4G-smp4||4G|4
seabios-512M-smp2of4||512M|2,maxcpus=4
ovmf-512M-smp2|1|512M|2
ovmf-4G-smp2of4|1|4G|2,maxcpus=4"

[ -e "$kernel" ] || { echo "capture-seeds: no kernel at $kernel (run make first)" >&2; exit 1; }
"$top/tests/runner/deps.sh"
mkdir -p "$seeds/mb2" "$seeds/rsdp" "$seeds/sdt" "$seeds/cmdline"

# unhex LOG CONFIG: writes the dumped objects of LOG as seed files; fails on a gap.
unhex() {
	tr -d '\r' < "$1" | perl -e '
		my ($config, $seeds) = @ARGV; my (%len, %data, @order);
		while (<STDIN>) {
			next unless s/^\s*# bootdump: //;
			if (/^begin (\S+) (\d+) at/) { $len{$1} = $2; $data{$1} = ""; push @order, $1; }
			elsif (/^(\S+) ([0-9a-f]+) ([0-9a-f]*)$/ && exists $data{$1}) {
				die "$config: $1: offset $2 out of order\n" if hex($2) != length $data{$1};
				$data{$1} .= pack("H*", $3);
			}
		}
		die "$config: no bootdump lines\n" unless @order;
		for my $n (@order) {
			die "$config: $n: $len{$n} bytes announced, ", length $data{$n}, " dumped\n"
				if $len{$n} != length $data{$n};
			my $f = $n eq "mbi" ? "mb2/$config.bin" : $n eq "rsdp" ? "rsdp/$config.bin"
				: "sdt/$config-$n.bin";
			open(my $fh, ">:raw", "$seeds/$f") or die "$f: $!\n";
			print $fh $data{$n}; close $fh;
			printf "  %-40s %6d bytes\n", $f, $len{$n};
		}' "$2" "$seeds"
}

while IFS='|' read -r name uefi mem smp; do
	echo "capture-seeds: booting $name"
	rm -f "$seeds/sdt/$name-"*.bin
	out=$work/$name
	mkdir -p "$out"
	# The dump comes before the test suites: the boot's verdict does not matter here,
	# only that the dumps are complete (unhex checks every length).
	WARDEN_TEST_OUT=$out UEFI=$uefi MEM=$mem SMP=$smp CMDLINE="bootdump=all ktest=printf" \
		"$top/tests/runner/run.sh" single "$kernel" > "$out/run.txt" 2>&1 ||
		echo "capture-seeds: note: $(tail -n 2 "$out/run.txt" | head -n 1)" >&2
	unhex "$out/single.log" "$name"
	tr -d '\r' < "$out/single.log" | sed -n 's/^# cmdline: //p' | head -n 1 | tr -d '\n' \
		> "$seeds/cmdline/$name.txt"
done <<< "$configs"

n=0
# Each boot's cmdline (empty if it gives none), in the matrix's order.
awk '/^\[/ { if (n++) print c; c = "" } /^cmdline *=/ { sub(/^cmdline *= */, ""); c = $0 }
	END { print c }' "$top/tests/runner/matrix.cfg" | while read -r line; do
	n=$((n + 1))
	[ -n "$line" ] && printf '%s' "$line" > "$seeds/cmdline/matrix-$n.txt"
done
echo "capture-seeds: seeds written under tests/host/seeds/"
