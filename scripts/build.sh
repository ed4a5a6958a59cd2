#!/usr/bin/env bash
# Configures and builds meshdl into DIR (default build/) when needed; extra args go to cmake.
# Usage: scripts/build.sh [DIR] [cmake -D options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}; shift || true
# Configure a new directory (Release unless told otherwise); options given to an existing
# one are applied to it too.
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
elif [ $# -gt 0 ]; then
  cmake -S "$root" -B "$dir" "$@" >/dev/null
fi
cmake --build "$dir" -j"$(nproc)" >/dev/null
echo "$dir/meshdl"
