#!/usr/bin/env bash
# Issue 7, experiment (c): local steps, FedAvg without a server (McMahan et al., PAPERS.md
# §5): --algo localsgd on the complete graph (each gossip round is the exact average of
# all agents) with H in {1, 5, 20} local steps per round, on IID shards and on the
# pathological non-IID split (--partition shards:2: two label-sorted shards per agent).
# Reports, per run, the gossip rounds and the bytes until the averaged model first reaches
# 85% test accuracy (null if it never does), and the final accuracy (results.json, last
# line on stdout); plots accuracy against rounds (local-steps.png, meshdl plot).
#
# Usage: examples/experiments/local-steps/run.sh [--quick] [OUT_DIR]
#   default: 10 agents, 5 epochs (about 20 minutes on 2 cores)
#   --quick: 4 agents, 2 epochs (about 3 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/local-steps}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then agents=4 epochs=2; else agents=10 epochs=5; fi
target=0.85
common=(--agents $agents --topology complete --algo localsgd --model mlp:784-128-10 --epochs $epochs --batch 16
        --lr 0.05 --threads 1 --quiet --evals-per-epoch 8 --target-acc $target)
: > "$out/runs.txt"
for part in iid shards:2; do
  for H in 1 5 20; do
    name="$part H=$H"; file=$(echo "${part}_H$H" | tr ':' '_')
    echo "$name" >&2
    rm -f "$out/$file.jsonl"
    "$bin" sim "${common[@]}" --partition $part --local-steps $H --metrics "$out/$file.jsonl" \
        > "$out/$file.out" 2>"$out/$file.err" || true
    echo "$name|$file|$H" >> "$out/runs.txt"
  done
done
python3 - "$out" $target <<'PY'
import json, os, sys
out, target = sys.argv[1], float(sys.argv[2])
rows = {}
for line in open(os.path.join(out, "runs.txt")):
    name, f, H = line.strip().split("|"); H = int(H)
    try:
        s = json.loads(open(os.path.join(out, f + ".out")).read().strip().splitlines()[-1])["summary"]
    except Exception:
        rows[name] = None; continue
    evals = {}   # elapsed -> (mean step, total bytes, averaged-model accuracy)
    for l in open(os.path.join(out, f + ".jsonl")):
        o = json.loads(l)
        e = evals.setdefault(o["elapsed_s"], [0, 0, 0, o["avg_test_acc"]])
        e[0] += o["step"]; e[1] += o["bytes_sent"]; e[2] += 1
    pts = sorted((v[0] / v[2] / H, v[1], v[3]) for v in evals.values())
    with open(os.path.join(out, f + ".rounds.jsonl"), "w") as d:
        for r, b, a in pts:
            d.write(json.dumps({"gossip rounds": r, "bytes_sent": b, "test_acc": a}) + "\n")
    hit = next((p for p in pts if p[2] >= target), None)
    rows[name] = {"rounds_to_target": round(hit[0]) if hit else None, "bytes_to_target": hit[1] if hit else None,
                  "test_acc": s["test_acc"], "bytes_sent": s["bytes_sent"], "wall_s": s["wall_s"]}
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
plots=(); while IFS='|' read -r name f H; do [ -f "$out/$f.rounds.jsonl" ] && plots+=("$out/$f.rounds.jsonl=$name"); done < "$out/runs.txt"
"$bin" plot "${plots[@]}" --panel "test_acc:gossip rounds:logx" --yrange 0.5:0.9 --size 900,500 -o "$out/local-steps.png" \
  --ylabel "test accuracy of the averaged model" \
  --title "Local SGD on the complete graph ($agents agents): averaged model against gossip rounds (steps / H)"
echo "plot: $out/local-steps.png" >&2
