#!/usr/bin/env bash
# Experiment 4 of issue 6: sparse gossip plus one final global merge (Zhu et al., ICLR 2026)
# under strong heterogeneity (Dirichlet alpha = 0.1). Every agent averages with one random
# peer every H steps (local SGD, random 1-regular graph); variants add a dense window
# (complete graph) early or late in training at equal bytes, drop communication entirely,
# or gossip every step. For each run: the merged model's accuracy (the exact average of the
# agents' models, what --final-merge produces) against the mean accuracy of the agents'
# own models, and bytes. One run does the real --final-merge, to show it lands on the same
# average (consensus distance 0 afterwards).
# Writes results.json (last stdout line: {"summary": ...}) and merged-vs-local.png.
#
# Usage: examples/experiments/final-merge/run.sh [--quick] [OUT_DIR]
#   default: 16 agents, 4 epochs, gossip every 20 steps (about 15 minutes on 2 cores)
#   --quick: 8 agents, 2 epochs on 16000 rows, gossip every 10 steps (about 2 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/final-merge}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  agents=8 epochs=2 H=10 rows=16000 data=(--train-subset 16000 --test-subset 5000)
else
  agents=16 epochs=4 H=20 rows=60000 data=()
fi
# Dense windows of two gossip rounds (2H steps: any window of that length holds exactly two
# rounds, so early and late cost the same bytes), starting at 10% (early) and at 85% (late)
# of training; in epochs of the sim's steps per epoch (rows / agents / batch 16).
win=$(python3 -c "print(2 * $H / ($rows // $agents // 16))")
early=$(python3 -c "print($epochs * 0.1)"); late=$(python3 -c "print($epochs * 0.85)")
common=(--agents $agents --epochs $epochs --batch 16 --threads 1 --quiet --partition dirichlet:0.1 --step-ms 4 "${data[@]}")
sparse=(--algo localsgd --local-steps $H --topology random:1)
runs=("sparse gossip|${sparse[*]}"
      "sparse + early dense window|${sparse[*]} --dense-window $early:$win"
      "sparse + late dense window|${sparse[*]} --dense-window $late:$win"
      "no communication|--algo dynavg --delta 1e30"
      "gossip every step|--algo dpsgd --topology random:1"
      "sparse + final merge|${sparse[*]} --final-merge")
: > "$out/runs.txt"
for r in "${runs[@]}"; do
  name=${r%%|*}; args=${r#*|}; file=$(echo "$name" | tr ' :+.=-' '______')
  echo "$name" >&2
  # shellcheck disable=SC2086
  "$bin" sim "${common[@]}" $args > "$out/$file.out" 2>"$out/$file.err" || true
  echo "$name|$file" >> "$out/runs.txt"
done
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = {}
with open(os.path.join(out, "points.jsonl"), "w") as pts:
    for i, line in enumerate(open(os.path.join(out, "runs.txt"))):
        name, f = line.strip().split("|")
        try:
            s = json.loads(open(os.path.join(out, f + ".out")).read().strip().splitlines()[-1])["summary"]
        except Exception:
            rows[name] = None; continue
        rows[name] = {"merged_acc": s["test_acc"], "mean_local_acc": s["test_acc_mean"],
                      "mergeability": s["test_acc"] - s["test_acc_mean"], "worst_local_acc": s["test_acc_min"],
                      "bytes_sent": s["bytes_sent"], "consensus_distance": s["consensus_distance"],
                      "merged_agents": s.get("merged_agents"), "status": s.get("status")}
        pts.write(json.dumps({"configuration": name, "agents' own models (mean)": s["test_acc_mean"],
                              "merged (exact average)": s["test_acc"]}) + "\n")
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
"$bin" plot "$out/points.jsonl=" --panel "agents' own models (mean)+merged (exact average):configuration" \
  --yrange 0:1 --ylabel "test accuracy" --legend --size 900,500 --title "Sparse gossip + final merge, $agents agents, Dirichlet 0.1: test accuracy" \
  -o "$out/merged-vs-local.png"
echo "plot: $out/merged-vs-local.png" >&2
