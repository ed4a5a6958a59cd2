#!/usr/bin/env bash
# Issue 18, multi-datacenter averaging (Xu, Mi et al. 2020, PAPERS.md §9): 4 agents ("data
# centres") train the LeNet-style CNN alone, plain SGD at batch 16, and meet only in an
# exact average over all of them weighted by shard size (--algo localsgd --local-epochs E)
# every E in {1, 5} epochs; the learning rate is constant (0.0275) or the triangular
# cyclical rate clr:0.005:0.05:1 (mean 0.0275, its minimum at the end of every epoch, so
# at every average). Against centralized training (`meshdl train`, all the rows, batch 16,
# the same two schedules). Writes results.json (last line on stdout: {"summary": ...}) and
# multi-datacenter.png (accuracy of the averaged model against epochs).
#
# Usage: examples/experiments/multi-datacenter/run.sh [--quick] [OUT_DIR]
#   default: all 60 000 training rows, 10 epochs (about 90 minutes on 2 cores)
#   --quick: 12 000 training rows, 5 epochs (about 10 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/multi-datacenter}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  epochs=5 data=(--train-subset 12000 --test-subset 5000)
else
  epochs=10 data=(--test-subset 10000)
fi
common=(--model cnn --epochs $epochs --batch 16 --optimizer sgd --threads 1 --quiet "${data[@]}")
schedules=("constant|--schedule constant --lr 0.0275" "clr|--schedule clr:0.005:0.05:1")
: > "$out/runs.txt"
for E in 1 5; do
  for sc in "${schedules[@]}"; do
    name="E=$E ${sc%%|*}"; file="E${E}_${sc%%|*}"
    echo "$name" >&2
    rm -f "$out/$file.jsonl"
    # shellcheck disable=SC2086
    "$bin" sim --agents 4 "${common[@]}" --algo localsgd --local-epochs $E ${sc#*|} --evals-per-epoch 2 --eval-rows 0 \
        --metrics "$out/$file.jsonl" > "$out/$file.out" 2>"$out/$file.err" || true
    echo "$name|$file|sim" >> "$out/runs.txt"
  done
done
for sc in "${schedules[@]}"; do
  name="centralized ${sc%%|*}"; file="central_${sc%%|*}"
  echo "$name" >&2
  rm -f "$out/$file.jsonl"
  # shellcheck disable=SC2086
  "$bin" train "${common[@]}" ${sc#*|} --metrics "$out/$file.jsonl" > "$out/$file.out" 2>"$out/$file.err" || true
  echo "$name|$file|train" >> "$out/runs.txt"
done
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = {}
for line in open(os.path.join(out, "runs.txt")):
    name, f, kind = line.strip().split("|")
    try:
        s = json.loads(open(os.path.join(out, f + ".out")).read().strip().splitlines()[-1])["summary"]
    except Exception:
        rows[name] = None; continue
    pts = {}
    for l in open(os.path.join(out, f + ".jsonl")):
        o = json.loads(l)
        pts[round(o["epoch"], 3)] = o["avg_test_acc"] if kind == "sim" else o["test_acc"]
    with open(os.path.join(out, f + ".dat"), "w") as d:
        for e in sorted(pts):
            d.write("%g %g\n" % (e, pts[e]))
    rows[name] = {"test_acc": s["test_acc"], "wall_s": s["wall_s"]}
    if kind == "sim":
        rows[name].update({k: s[k] for k in ("global_averages", "bytes_sent", "consensus_distance")})
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
gnuplot <<GP
set terminal pngcairo noenhanced size 900,500
set output "$out/multi-datacenter.png"
set title "4 data centres, CNN: exact weighted average every E epochs, constant vs cyclical rate"
set xlabel "epoch"; set ylabel "test accuracy (averaged model; centralized: its model)"
set key bottom right
plot for [f in "E1_constant E1_clr E5_constant E5_clr central_constant central_clr"] "$out/".f.".dat" using 1:2 w lp t f
GP
echo "plot: $out/multi-datacenter.png" >&2
