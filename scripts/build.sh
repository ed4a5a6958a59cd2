#!/usr/bin/env bash
# Configures and builds meshdl into DIR (default build/) when needed; extra args go to cmake.
# Usage: scripts/build.sh [DIR] [cmake -D options...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/build}; shift || true
[ -f "$dir/CMakeCache.txt" ] || cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" >/dev/null
echo "$dir/meshdl"
