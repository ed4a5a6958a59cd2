#!/usr/bin/env bash
# Issue 7, experiment (b): topology. Synchronous D-PSGD on a ring, a 2-D torus, the static
# exponential graph, the one-peer exponential graph (one neighbour per round, Wang et al.
# PAPERS.md §14) and the Base-(K+1) graph (base:K): accuracy of the averaged model against
# gossip rounds and against bytes sent. Reports final accuracy, bytes and the consensus
# distance (results.json, last line on stdout); plots both curves (topology.png).
#
# Usage: examples/experiments/topology/run.sh [--quick] [OUT_DIR]
#   default: 16 agents, 3 epochs on all 60 000 rows (about 25 minutes on 2 cores)
#   --quick: 8 agents, 2 epochs (about 3 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/topology}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  agents=8 epochs=2 data=(--test-subset 5000)
else
  agents=16 epochs=3 data=()
fi
common=(--agents $agents --model mlp:784-128-10 --epochs $epochs --batch 16 --lr 0.05 --threads 1 --quiet
        --evals-per-epoch 6 "${data[@]}")
topos=(ring torus exp one-peer-exp base:1)
: > "$out/runs.txt"
for t in "${topos[@]}"; do
  file=$(echo "$t" | tr ':-' '__')
  echo "$t" >&2
  rm -f "$out/$file.jsonl"
  "$bin" sim "${common[@]}" --topology $t --metrics "$out/$file.jsonl" > "$out/$file.out" 2>"$out/$file.err" || true
  echo "$t|$file" >> "$out/runs.txt"
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
    evals = {}
    for l in open(os.path.join(out, f + ".jsonl")):
        o = json.loads(l)
        e = evals.setdefault(o["elapsed_s"], [0, 0, 0, o["avg_test_acc"], o["consensus_distance"]])
        e[0] += o["step"]; e[1] += o["bytes_sent"]; e[2] += 1
    pts = sorted((v[0] / v[2], v[1], v[3], v[4]) for v in evals.values())
    half = pts[len(pts) // 2] if pts else None
    rows[name] = {"test_acc": s["test_acc"], "test_acc_min": s["test_acc_min"], "bytes_sent": s["bytes_sent"],
                  "consensus_distance_mid": half[3] if half else None, "wall_s": s["wall_s"]}
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
plots=(); while IFS='|' read -r name f; do plots+=("$out/$f.jsonl=$name"); done < "$out/runs.txt"
"$bin" plot "${plots[@]}" --average --panel acc:step --panel acc:bytes:logx --size 1200,500 \
  --title "D-PSGD, $agents agents: topologies (averaged model)" -o "$out/topology.png"
echo "plot: $out/topology.png" >&2
