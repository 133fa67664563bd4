#!/usr/bin/env bash
# tests/lava/deps.sh DIR - makes sure the host can run LAVA jobs standalone (make lava):
#   - lava-dispatcher (lava-run) and tftpd-hpa (LAVA validates a PXE job against the
#     TFTP directory of /etc/default/tftpd-hpa), installed with apt-get when missing
#     (as root, or with sudo), like tests/runner/deps.sh does;
#   - lava-server's device-type templates, which lava-dispatcher does not ship: taken
#     from the lava-server package without installing it (apt-get download, then
#     dpkg-deb -x into DIR/lava-server); skipped when lava-server is installed.
# Prints the device-type folder on standard output. Exit status 1 with a message when
# something is missing and cannot be installed.
set -euo pipefail
dir=${1:?usage: $0 DIR}

sudo=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 && sudo=sudo
fi

# apt PACKAGE...: installs the packages, or explains what to install.
apt() {
	if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; }; then
		echo "warden: make lava needs the Debian packages $* (run as root: apt-get install $*)" >&2
		exit 1
	fi
	echo "warden: installing host packages: $*" >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

missing=()
command -v lava-run >/dev/null 2>&1 || missing+=(lava-dispatcher)
[ -e /etc/default/tftpd-hpa ] || missing+=(tftpd-hpa)
[ ${#missing[@]} -eq 0 ] || apt "${missing[@]}"

for d in /etc/lava-server/dispatcher-config/device-types /usr/share/lava-server/device-types \
	"$dir/lava-server/usr/share/lava-server/device-types"; do
	[ -e "$d/base-grub.jinja2" ] && [ -e "$d/qemu.jinja2" ] && { echo "$d"; exit 0; }
done
mkdir -p "$dir"
rm -f "$dir"/lava-server_*.deb
if ! (cd "$dir" && apt-get download lava-server >&2 2>/dev/null); then
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	(cd "$dir" && apt-get download lava-server >&2) ||
		{ echo "warden: apt-get download lava-server failed (its device types are needed)" >&2; exit 1; }
fi
dpkg-deb -x "$dir"/lava-server_*.deb "$dir/lava-server"
echo "$dir/lava-server/usr/share/lava-server/device-types"
