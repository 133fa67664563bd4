#!/usr/bin/env bash
# tests/runner/mkiso.sh OUT.iso KERNEL.elf CMDLINE TIMEOUT [PRE]
# Builds a GRUB rescue ISO (BIOS i386-pc and UEFI x86_64-efi in one image) from the
# tree under iso/, with grub.cfg generated for CMDLINE and a menu TIMEOUT in seconds;
# PRE (optional) is a GRUB command run in each menu entry before the kernel loads.
# GRUB's serial terminal uses the port and baud of CMDLINE's console=ttySn[,baud] (the
# last one; a baud GRUB lacks becomes 115200), else COM1 at 115200.
set -euo pipefail
out=$1 kernel=$2 cmdline=$3 timeout=$4 pre=${5:-}
top=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

cp -r "$top/iso/." "$stage/"
rm -f "$stage/boot/grub/grub.cfg.in"
mkdir -p "$stage/boot"
# Without its DWARF: GRUB's multiboot2 loader reads every section into memory (for the
# ELF-sections tag), and 1.5 MiB of debug info cost about 0.2 s of every boot under
# TCG. The symbols stay; build/kernel.elf keeps everything for gdb.
"${OBJCOPY:-objcopy}" --strip-debug "$kernel" "$stage/boot/kernel.elf"
# Escape characters that sed would interpret in the replacement.
esc=$(printf '%s' "$cmdline" | sed -e 's/[\/&|]/\\&/g')
pre_esc=$(printf '%s' "$pre" | sed -e 's/[\/&|]/\\&/g')
# console=ttySn[,baud] as GRUB's "serial --unit=n --speed=baud".
unit=0 speed=115200
read -ra words <<<"$cmdline"
for word in ${words[@]+"${words[@]}"}; do
	case $word in
	console=ttyS[0-3]) unit=${word#console=ttyS} speed=115200 ;;
	console=ttyS[0-3],[1-9]*) unit=${word:12:1} speed=${word#*,} ;;
	esac
done
# GRUB's UART driver knows these speeds only; Warden keeps 115200 for a baud it refuses.
case $speed in 2400 | 4800 | 9600 | 19200 | 38400 | 57600 | 115200) ;; *) speed=115200 ;; esac
sed -e "s|@CMDLINE@|$esc|g" -e "s|@TIMEOUT@|$timeout|g" -e "s|@PRE@|$pre_esc|g" \
	-e "s|@SERIAL_UNIT@|$unit|g" -e "s|@SERIAL_SPEED@|$speed|g" \
	"$top/iso/boot/grub/grub.cfg.in" > "$stage/boot/grub/grub.cfg"
grub-mkrescue -o "$out" "$stage" >"$stage.log" 2>&1 || { cat "$stage.log"; rm -f "$stage.log"; exit 1; }
rm -f "$stage.log"
