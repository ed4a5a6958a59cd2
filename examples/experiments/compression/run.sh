#!/usr/bin/env bash
# Experiment 2 of issue 6: compressed gossip. Dense D-PSGD against CHOCO-SGD and AdaGossip
# with top-1%, random-1% and 4-bit codecs, on a ring: test accuracy against bytes sent.
# Writes results.json (last line on stdout: {"summary": ...}) and accuracy-vs-bytes.png.
#
# Usage: examples/experiments/compression/run.sh [--quick] [OUT_DIR]
#   default: 8 agents, 5 epochs (about 15 minutes on 2 cores)
#   --quick: 4 agents, 1 epoch on 12000 rows (about 2 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/compression}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  agents=4 epochs=1 data=(--train-subset 12000 --test-subset 5000)
else
  agents=8 epochs=5 data=()
fi
common=(--agents $agents --topology ring --epochs $epochs --batch 8 --threads 1 --quiet "${data[@]}")
runs=("dense|--algo dpsgd --codec fp32"
      "dpsgd topk:0.01+EF|--algo dpsgd --codec topk:0.01 --error-feedback"
      "choco topk:0.01|--algo choco --codec topk:0.01 --gamma 0.05"
      "choco randk:0.01|--algo choco --codec randk:0.01 --gamma 0.05"
      "choco q4|--algo choco --codec q4 --gamma 0.5"
      "adagossip topk:0.01|--algo adagossip --codec topk:0.01"
      "adagossip q4|--algo adagossip --codec q4")
: > "$out/runs.txt"
for r in "${runs[@]}"; do
  name=${r%%|*}; args=${r#*|}; file=$(echo "$name" | tr ' :+.' '____')
  echo "$name" >&2
  # shellcheck disable=SC2086
  "$bin" sim "${common[@]}" $args > "$out/$file.out" 2>"$out/$file.err" || true
  echo "$name|$file" >> "$out/runs.txt"
done
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = {}
for line in open(os.path.join(out, "runs.txt")):
    name, f = line.strip().split("|")
    try:
        s = json.loads(open(os.path.join(out, f + ".out")).read().strip().splitlines()[-1])["summary"]
    except Exception:
        rows[name] = None; continue
    rows[name] = {k: s.get(k) for k in ("test_acc", "test_acc_min", "bytes_sent", "consensus_distance", "status")}
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
plots=(); while IFS='|' read -r name f; do [ -s "$out/$f.out" ] && plots+=("$out/$f.out=$name"); done < "$out/runs.txt"
# a key rather than labels beside the points: the three top-1% runs land within 1 MB and
# half a point of each other, and the two q4 runs on one spot
"$bin" plot "${plots[@]}" --panel test_acc:bytes:logx --size 900,500 --legend \
  --xlabel "MB sent, all $agents agents" --ylabel "test accuracy of the averaged model" \
  --title "Compressed gossip, ring of $agents: final accuracy against bytes sent" -o "$out/accuracy-vs-bytes.png"
echo "plot: $out/accuracy-vs-bytes.png" >&2
