#!/usr/bin/env bash
# Issue 18, codistillation (Lacaille 2019, PAPERS.md §8): 8 agents on a ring, on IID
# shards and on label-sorted shards (--partition shards:2, two classes per agent):
# agents alone (--isolated), codistillation (predictions on a shared public batch of the
# first 1000 training rows, --distill-weight 0.5) and D-PSGD (parameter gossip), all at
# lr 0.01. The agents' own models are what codistillation trains (it never averages
# parameters), so the figure is the mean and the worst of the agents' test accuracies,
# against the bytes they sent. Writes results.json (last line on stdout: {"summary": ...}) and
# accuracy-vs-bytes.png.
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
    # one point per evaluation: total bytes so far, mean and worst agent accuracy
    evals = {}
    for l in open(os.path.join(out, f + ".jsonl")):
        o = json.loads(l)
        e = evals.setdefault(o["elapsed_s"], [0, []])
        e[0] += o["bytes_sent"]; e[1].append(o["test_acc"])
    with open(os.path.join(out, f + ".dat"), "w") as d:
        for t in sorted(evals):
            b, accs = evals[t]
            d.write("%g %g %g\n" % (max(b, 1), sum(accs) / len(accs), min(accs)))
    if name.startswith("isolated"):
        open(os.path.join(out, f + ".final"), "w").write("%g\n" % s["test_acc_mean"])
    rows[name] = {"test_acc_mean": s["test_acc_mean"], "test_acc_min": s["test_acc_min"],
                  "averaged_model_acc": s["test_acc"], "bytes_sent": s["bytes_sent"],
                  "updates_applied": s["updates_applied"], "wall_s": s["wall_s"], "status": s["status"]}
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
gnuplot <<GP
set terminal pngcairo noenhanced size 1100,480
set output "$out/accuracy-vs-bytes.png"
set multiplot layout 1,2 title "Codistillation, 8 agents on a ring: mean agent accuracy against bytes sent"
set xlabel "bytes sent (all agents)"; set ylabel "test accuracy, mean of the agents"
set logscale x; set key bottom right; set format x "%.0e"; set xrange [1e5:*]
set title "IID shards"
plot for [f in "codistill_iid dpsgd_iid"] "$out/".f.".dat" using 1:2 w lp t f, \
     real(system("cat $out/isolated_iid.final")) dt 2 lw 2 t "isolated (no messages), final"
set title "shards:2 (two classes per agent)"
plot for [f in "codistill_shards_2 dpsgd_shards_2"] "$out/".f.".dat" using 1:2 w lp t f, \
     real(system("cat $out/isolated_shards_2.final")) dt 2 lw 2 t "isolated (no messages), final"
unset multiplot
GP
echo "plot: $out/accuracy-vs-bytes.png" >&2
