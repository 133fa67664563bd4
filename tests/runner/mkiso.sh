#!/usr/bin/env bash
# tests/runner/mkiso.sh OUT.iso KERNEL.elf CMDLINE TIMEOUT [PRE]
# Builds a GRUB rescue ISO (BIOS i386-pc and UEFI x86_64-efi in one image) from the
# tree under iso/, with grub.cfg generated for CMDLINE and a menu TIMEOUT in seconds;
# PRE (optional) is a GRUB command run in each menu entry before the kernel loads.
set -euo pipefail
out=$1 kernel=$2 cmdline=$3 timeout=$4 pre=${5:-}
top=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

cp -r "$top/iso/." "$stage/"
rm -f "$stage/boot/grub/grub.cfg.in"
mkdir -p "$stage/boot"
cp "$kernel" "$stage/boot/kernel.elf"
# Escape characters that sed would interpret in the replacement.
esc=$(printf '%s' "$cmdline" | sed -e 's/[\/&|]/\\&/g')
pre_esc=$(printf '%s' "$pre" | sed -e 's/[\/&|]/\\&/g')
sed -e "s|@CMDLINE@|$esc|g" -e "s|@TIMEOUT@|$timeout|g" -e "s|@PRE@|$pre_esc|g" \
	"$top/iso/boot/grub/grub.cfg.in" > "$stage/boot/grub/grub.cfg"
grub-mkrescue -o "$out" "$stage" >"$stage.log" 2>&1 || { cat "$stage.log"; rm -f "$stage.log"; exit 1; }
rm -f "$stage.log"
