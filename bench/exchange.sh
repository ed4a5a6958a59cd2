#!/usr/bin/env bash
# exchange.sh: what mdl_agent_exchange (bring your own model) costs per call, against the
# floor of moving the same bytes (bench_exchange.c says how both are measured). 4 agents
# on a ring, sync, for two vector sizes (logistic regression 7850, the MLP 235146) and
# several codecs. Prints a markdown table. It builds nothing.
# usage: bench/exchange.sh [BUILD_DIR]          environment: ROUNDS (exchanges per run) [200]
set -u
build=${1:-build}
bench="$build/bench/bench_exchange"
[ -x "$bench" ] || { echo "exchange.sh: $bench not found: cmake --build $build --target bench_exchange" >&2; exit 1; }
rounds=${ROUNDS:-200}
echo "| d | codec | CPU µs per exchange | floor µs | overhead | bytes sent per exchange | wall µs per round |"
echo "|---|---|---|---|---|---|---|"
status=0
for dim in 7850 235146; do
  for codec in fp32 fp16 q8 "topk:0.01 --error-feedback"; do
    line=$(OPENBLAS_NUM_THREADS=1 "$bench" --agents 4 --dim $dim --rounds "$rounds" --codec $codec) || { status=1; continue; }
    python3 - "$line" <<'PY'
import sys
kv = dict(f.split("=", 1) for f in sys.argv[1].split()[1:])
print(f"| {kv['dim']} | {kv['codec']} | {float(kv['cpu_us_per_exchange']):.0f} | {float(kv['floor_cpu_us']):.0f} | "
      f"{float(kv['overhead']):.2f} | {float(kv['bytes_per_exchange']):.0f} | {float(kv['wall_us_per_round']):.0f} |")
PY
  done
done
exit $status
