#!/usr/bin/env bash
# Builds the libFuzzer target for the wire decoder with clang (in build-fuzz/) and runs
# it on a copy of the seed corpus for N seconds (default 60).
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
# New inputs found go to build-fuzz/corpus/, crashes to build-fuzz/crash-*.
set -euo pipefail
secs=${1:-60}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang)" >&2; exit 2; }
CC=clang cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMDL_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_wire
mkdir -p "$build/corpus"
cp -n "$root"/tests/fuzz/corpus/* "$build/corpus/" 2>/dev/null || true
cd "$build"
exec ./tests/fuzz/fuzz_wire -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -artifact_prefix="$build/" "$@" "$build/corpus"
