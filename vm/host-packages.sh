#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages the lab needs on the host (list: host-packages.txt, or the
# list given as the first argument, e.g. test-packages.txt for `make test`).
# Returns at once when all are installed; otherwise runs apt-get update once and
# apt-get install, through sudo when not root.
set -eu

list="${1:-$(dirname "$0")/host-packages.txt}"
pkgs=$(sed -e 's/#.*//' "$list" | tr -s ' \t' '\n\n' | sed '/^$/d')

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "host-packages: this host has no dpkg/apt (the lab supports Debian 12)." >&2
    echo "host-packages: install the equivalents of:" $pkgs >&2
    echo "host-packages: or skip this step with: make setup HOST_PACKAGES=no" >&2
    exit 1
fi

missing=""
for p in $pkgs; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $p"
done
# The bundle is built from apt's lists: refresh them when they do not know the kernel.
lists_ok=yes
if ! apt-cache policy linux-image-amd64 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    lists_ok=no
fi
[ -z "$missing" ] && [ "$lists_ok" = yes ] && exit 0

install_cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing"
[ -n "$missing" ] && echo "host-packages: missing:$missing"
[ "$lists_ok" = no ] && echo "host-packages: apt's package lists do not know the kernel yet"
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    echo "host-packages: not root, installing them with sudo"
    sudo="sudo"
else
    echo "host-packages: not root and no sudo; as root, run:" >&2
    echo "    $install_cmd" >&2
    exit 1
fi

$sudo apt-get update
if [ -n "$missing" ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout=300 $missing
fi
