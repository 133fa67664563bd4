#!/usr/bin/env bash
# tests/runner/deps.sh - makes sure the host has what building the ISO, booting it and the
# host tests (tests/host/: sanitizers, libFuzzer) need.
# On Debian/Ubuntu it installs what is missing with apt-get (as root, or with sudo);
# elsewhere it prints the exact list and fails.
set -euo pipefail

packages=()
need() { # need PACKAGE TEST...
	local pkg=$1; shift
	"$@" >/dev/null 2>&1 || packages+=("$pkg")
}
need nasm             command -v nasm
need xorriso          command -v xorriso
need mtools           command -v mformat
need grub-common      command -v grub-mkrescue
need grub-pc-bin      test -d /usr/lib/grub/i386-pc
need grub-efi-amd64-bin test -d /usr/lib/grub/x86_64-efi
need qemu-system-x86  command -v qemu-system-x86_64
# OVMF for pflash (UEFI=1) and the whole-image build for -bios (UEFI=bios): one package.
need ovmf             test \( -e /usr/share/OVMF/OVMF_CODE_4M.fd -o -e /usr/share/OVMF/OVMF_CODE.fd \) \
	-a -e /usr/share/ovmf/OVMF.fd
# The host tests (tests/host/): gcc's ASan/UBSan runtimes come with gcc (libgcc-12-dev);
# the libFuzzer targets need clang and its runtimes, which Debian 12 ships apart from
# clang-14 in libclang-rt-14-dev (libFuzzer, ASan, UBSan for clang).
need clang            command -v clang
need libclang-rt-14-dev sh -c 'test -e "$(clang --print-runtime-dir)/libclang_rt.fuzzer-x86_64.a"'

[ ${#packages[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
	sudo=
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo=sudo
		else
			echo "warden: missing host packages: ${packages[*]}" >&2
			echo "warden: run as root: apt-get install ${packages[*]}" >&2
			exit 1
		fi
	fi
	echo "warden: installing host packages: ${packages[*]}" >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${packages[@]}" >&2
	exit 0
fi

echo "warden: missing host packages (Debian names): ${packages[*]}" >&2
echo "warden: install NASM, GRUB 2 with the i386-pc and x86_64-efi platforms (grub-mkrescue)," >&2
echo "warden: xorriso, mtools, qemu-system-x86_64, OVMF, and clang with its libFuzzer and" >&2
echo "warden: sanitizer runtimes (for tests/host/), then run make again." >&2
exit 1
