#!/usr/bin/env bash
# Installs the Debian 12 packages meshdl needs that are missing; safe to run again.
# Usage: scripts/deps.sh [build|test|bench]   (each level includes the ones before it)
set -euo pipefail
level=${1:-build}
pkgs=(build-essential cmake pkg-config libzmq3-dev libczmq-dev libmsgpack-dev libopenblas-dev
      zlib1g-dev libmicrohttpd-dev libcmocka-dev dataset-fashion-mnist)
# test: promtool (prometheus) checks /metrics, curl scrapes it, tmux drives `meshdl top`,
# gnuplot draws `meshdl plot`, python3-yaml reads the Kubernetes manifests; bench adds
# python3-zmq (the Python side of bench/proc4.sh) and nftables for the hand-run fault
# scripts (tests/lan/faults.sh, lan_partition.sh).
case "$level" in
  test)  pkgs+=(iproute2 clang clang-format python3 python3-yaml prometheus curl tmux gnuplot-nox) ;;
  bench) pkgs+=(iproute2 clang clang-format python3 python3-yaml prometheus curl tmux gnuplot-nox python3-torch python3-zmq valgrind nftables) ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "meshdl: installing missing Debian packages: ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
# Update the package lists only when they are absent or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  $SUDO apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
