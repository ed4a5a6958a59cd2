#!/usr/bin/env bash
# Issue 18, codistillation (Lacaille 2019, PAPERS.md §8): 8 agents on a ring, on IID
# shards and on label-sorted shards (--partition shards:2, two classes per agent):
# agents alone (--isolated), codistillation (predictions on a shared public batch of the
# first 1000 training rows, --distill-weight 0.5) and D-PSGD (parameter gossip), all at
# lr 0.01. The agents' own models are what codistillation trains (it never averages
# parameters), so the figure is the mean of the agents' test accuracies, against the
# bytes they sent and against epochs. Writes results.json (last line on stdout:
# {"summary": ...}) and accuracy-vs-bytes.png (meshdl plot).
#
# Usage: examples/experiments/codistillation/run.sh [--quick] [OUT_DIR]
#   default: all 60 000 training rows, 3 epochs (about 20 minutes on 2 cores)
#   --quick: 16 000 training rows, 2 epochs (about 3 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/codistillation}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  epochs=2 data=(--train-subset 16000 --test-subset 2000)
else
  epochs=3 data=(--test-subset 5000)
fi
# lr 0.01 (momentum 0.9): at the default 0.02 a lone agent with two classes diverges
# (loss NaN within 250 steps), which would leave the isolated baseline without a figure.
# --eval-rows 0: every evaluation on all the test rows (by default those while training use
# a subset, and the curves would jump at the final evaluation, which uses all).
common=(--agents 8 --topology ring --epochs $epochs --batch 8 --lr 0.01 --threads 1 --quiet --evals-per-epoch 4 --eval-rows 0
        "${data[@]}")
runs=("isolated|--isolated"
      "codistill|--algo codistill --public-rows 1000"
      "dpsgd|--algo dpsgd")
: > "$out/runs.txt"
for part in iid shards:2; do
  for r in "${runs[@]}"; do
    name="${r%%|*} $part"; args=${r#*|}; file=$(echo "$name" | tr ' :' '__')
    echo "$name" >&2
    rm -f "$out/$file.jsonl"
    # shellcheck disable=SC2086
    "$bin" sim "${common[@]}" --partition $part $args --metrics "$out/$file.jsonl" > "$out/$file.out" 2>"$out/$file.err" || true
    echo "$name|$file" >> "$out/runs.txt"
  done
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
    rows[name] = {"test_acc_mean": s["test_acc_mean"], "test_acc_min": s["test_acc_min"],
                  "averaged_model_acc": s["test_acc"], "bytes_sent": s["bytes_sent"],
                  "updates_applied": s["updates_applied"], "wall_s": s["wall_s"], "status": s["status"]}
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
# --average with Y test_acc: the mean of the agents' own models (not the averaged model,
# which codistillation never has). The isolated runs' few kB are discovery hellos.
plots=(); while IFS='|' read -r name f; do [ -s "$out/$f.jsonl" ] && plots+=("$out/$f.jsonl=$name"); done < "$out/runs.txt"
"$bin" plot "${plots[@]}" --average --panel test_acc:bytes:logx --panel test_acc:epoch --size 1100,480 --yrange 0:0.9 \
  --ylabel "test accuracy, mean of the agents' own models" -o "$out/accuracy-vs-bytes.png" \
  --title "Codistillation, 8 agents on a ring, IID and shards:2 (two classes per agent): agents alone, codistill, D-PSGD"
echo "plot: $out/accuracy-vs-bytes.png" >&2
