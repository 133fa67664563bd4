#!/usr/bin/env bash
# tests/runner/mkspcr.sh OUT ADDRESS [BAUD [SPACE]]
# Writes an ACPI SPCR table (revision 2, 80 bytes, checksum set) to OUT, for QEMU's
# `-acpitable file=OUT`: a 16550 (interface type 0) at ADDRESS (e.g. 0x2f8) in SPACE
# `io` (system I/O, the default) or `mem` (system memory), at BAUD 9600, 19200, 57600,
# 115200 (the default) or 0 ("as configured"); any other BAUD is written as its SPCR
# code if it is one (0-7). Field offsets: Microsoft's "Serial Port Console Redirection
# Table" specification; the base address is a Generic Address Structure (ACPI 6.5
# 5.2.3.2). Plain bash: no python on CI.
set -euo pipefail
out=$1 addr=$(($2)) baud=${3:-115200} space=${4:-io}

case $baud in
9600) code=3 ;; 19200) code=4 ;; 57600) code=6 ;; 115200) code=7 ;;
[0-7]) code=$baud ;;
*) echo "mkspcr: baud $baud has no SPCR code" >&2; exit 2 ;;
esac
case $space in
io) space_id=1 width=8 access=1 ;;
mem) space_id=0 width=32 access=3 ;;
*) echo "mkspcr: space $space is neither io nor mem" >&2; exit 2 ;;
esac

b=()
for ((i = 0; i < 80; i++)); do b[i]=0; done
# put OFFSET STRING: ASCII bytes;  le OFFSET SIZE VALUE: a little-endian number.
put() { local k; for ((k = 0; k < ${#2}; k++)); do b[$1 + k]=$(printf '%d' "'${2:k:1}"); done; }
le() { local k; for ((k = 0; k < $2; k++)); do b[$1 + k]=$((($3 >> (8 * k)) & 255)); done; }

put 0 SPCR
le 4 4 80              # length
le 8 1 2               # revision
put 10 WARDEN          # OEM ID
put 16 SPCRTEST        # OEM table ID
le 24 4 1              # OEM revision
put 28 WRDN            # creator ID
le 32 4 1              # creator revision
le 36 1 0              # interface type: full 16550
le 40 1 "$space_id"    # GAS: address space
le 41 1 "$width"       # GAS: register bit width
le 43 1 "$access"      # GAS: access size (1 = byte, 3 = dword)
le 44 8 "$addr"        # GAS: address
le 58 1 "$code"        # configured baud rate
le 60 1 1              # stop bits: 1
le 64 2 0xffff         # PCI device ID: not a PCI device
le 66 2 0xffff         # PCI vendor ID

sum=0
for v in "${b[@]}"; do sum=$((sum + v)); done
b[9]=$(((256 - sum % 256) % 256)) # checksum: all bytes sum to 0
for v in "${b[@]}"; do printf '%b' "\\0$(printf '%03o' "$v")"; done > "$out"
