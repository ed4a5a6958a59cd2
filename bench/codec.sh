#!/usr/bin/env bash
# Runs the codec benchmark and torch.topk on the same sizes in one go and prints the
# goal ratios of issue 3:
#   top-1% of 10^7 floats: encode time / one memcpy   (goal <= 5)
#                          torch.topk time / ours      (goal >= 3)
#   q8 encode bandwidth / memcpy bandwidth             (goal >= 0.5)
# Usage: bench/codec.sh [d ...]      (default 1e4 1e6 1e7; builds build-compress-rel)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-compress-rel}
dims=("$@")
[ ${#dims[@]} -gt 0 ] || dims=(1e4 1e6 1e7)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_codec >/dev/null
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; single thread"
OPENBLAS_NUM_THREADS=1 "$build/bench/bench_codec" "${dims[@]}" | tee -a "$out" | grep -v '^RESULT'
echo
/usr/bin/python3 "$root/bench/torch_topk.py" --threads 1 "${dims[@]}" | tee -a "$out" | grep -v '^RESULT'
echo
awk '
  $1 == "RESULT" && $2 == "memcpy"         { mc[$3] = $4 }
  $1 == "RESULT" && $2 == "topk:0.01"      { tk[$3] = $4 }
  $1 == "RESULT" && $2 == "q8"             { q8[$3] = $4 }
  $1 == "RESULT" && $2 == "torch_topk_abs" { ta[$3] = $4 }
  $1 == "RESULT" && $2 == "torch_topk_raw" { tr[$3] = $4 }
  END {
    printf "%-10s %16s %18s %18s %16s\n", "d", "topk/memcpy", "torch|x|/ours", "torch(x)/ours", "q8 bw/memcpy"
    for (d in mc) {
      printf "%-10s %16.2f %18.2f %18.2f %16.2f\n", d, tk[d] / mc[d],
             (d in ta) ? ta[d] / tk[d] : 0, (d in tr) ? tr[d] / tk[d] : 0, mc[d] / q8[d]
    }
  }' "$out" | sort -n
