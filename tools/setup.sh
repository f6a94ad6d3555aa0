#!/bin/sh
# Prepares a Debian 12 machine and this source tree: installs the Debian
# packages wengert needs (only those missing; with sudo unless root),
# then configures (once) and builds. Safe to run again.
# With --deps it stops after installing and bootstrapping (autoreconf).
set -e
cd "$(dirname "$0")/.."

pkgs="build-essential autoconf automake libtool pkg-config
      libopenblas-openmp-dev libhdf5-dev zlib1g-dev libsleef-dev libpng-dev
      gnuplot-nox dataset-fashion-mnist"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

[ -x configure ] || autoreconf -fi
[ "${1:-}" = --deps ] && exit 0
[ -f Makefile ] || ./configure
make -j"$(nproc)"
