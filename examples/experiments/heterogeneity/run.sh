#!/usr/bin/env bash
# Experiment (a) of issue 7, after Lin et al. (ICML 2021, QGM) and gradient tracking: how
# decentralized momentum methods lose accuracy as the agents' data grow apart. 8 agents on
# a ring, Fashion-MNIST split by Dirichlet(alpha) over the labels, alpha in {10, 1, 0.1};
# DmSGD vs QGM (both heavy ball, mu 0.9, lr 0.02) vs DSGT (gradient tracking, sgd, lr 0.1:
# each algorithm's default) vs centralized momentum SGD on the global batch. Reports
# every run's final accuracy (results.json, last line on stdout) and plots accuracy
# against alpha and the accuracy curves at alpha 0.1 (heterogeneity.png, meshdl plot).
#
# Usage: examples/experiments/heterogeneity/run.sh [--quick] [OUT_DIR]
#   default: all 60 000 training rows, 5 epochs (about 15 minutes on 2 cores)
#   --quick: 16 000 training rows, 5 000 test rows, 3 epochs (about 2 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/heterogeneity}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  epochs=3 data=(--train-subset 16000 --test-subset 5000)
else
  epochs=5 data=()
fi
agents=8 batch=16
common=(--epochs $epochs --threads 1 --quiet "${data[@]}")

echo "centralized momentum SGD (global batch $((agents * batch)), lr 0.02)" >&2
"$bin" train "${common[@]}" --batch $((agents * batch)) --lr 0.02 > "$out/central.out"
for alpha in 10 1 0.1; do
  for algo in dmsgd qgm dsgt; do
    echo "$algo, ring of $agents, dirichlet:$alpha" >&2
    rm -f "$out/$algo-$alpha.jsonl"
    "$bin" sim --agents $agents --topology ring --algo $algo --batch $batch --partition dirichlet:$alpha \
        "${common[@]}" --evals-per-epoch 4 --metrics "$out/$algo-$alpha.jsonl" > "$out/$algo-$alpha.out"
  done
done

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
last = lambda name: json.loads(open(os.path.join(out, name + ".out")).read().strip().splitlines()[-1])["summary"]
central = last("central")["test_acc"]
rows = {"central": {"test_acc": central}}
alphas, algos = ("10", "1", "0.1"), ("dmsgd", "qgm", "dsgt")
for algo in algos:
    with open(os.path.join(out, algo + ".alpha.jsonl"), "w") as f:
        for alpha in alphas:
            s = last("%s-%s" % (algo, alpha))
            rows["%s alpha=%s" % (algo, alpha)] = {
                "test_acc": s["test_acc"], "test_acc_min": s["test_acc_min"],
                "gap_to_central": round(central - s["test_acc"], 4),
                "consensus_distance": s["consensus_distance"], "bytes_sent": s["bytes_sent"], "wall_s": s["wall_s"]}
            f.write(json.dumps({"alpha": float(alpha), "test_acc": s["test_acc"], "test_acc_min": s["test_acc_min"]}) + "\n")
    # the averaged model's accuracy per evaluation at alpha 0.1 (the same on every agent's
    # line), against agent 0's epoch: Dirichlet shards differ in size, and so do epochs
    with open(os.path.join(out, algo + "-curve.jsonl"), "w") as f:
        for line in open(os.path.join(out, "%s-0.1.jsonl" % algo)):
            o = json.loads(line)
            if o["agent"] == 0:
                f.write(json.dumps({"epoch": o["epoch"], "test_acc": o["avg_test_acc"]}) + "\n")
with open(os.path.join(out, "central.alpha.jsonl"), "w") as f:  # a level line across the plot
    for alpha in alphas:
        f.write(json.dumps({"alpha": float(alpha), "test_acc": central}) + "\n")
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY

# one figure, two panels: the alpha files have no epoch, the curves no alpha
"$bin" plot "$out/dmsgd.alpha.jsonl=DmSGD" "$out/qgm.alpha.jsonl=QGM" "$out/dsgt.alpha.jsonl=DSGT" \
  "$out/central.alpha.jsonl=centralized" "$out/dmsgd-curve.jsonl=DmSGD" "$out/qgm-curve.jsonl=QGM" \
  "$out/dsgt-curve.jsonl=DSGT" --panel test_acc:alpha:logx --panel test_acc:epoch --size 1100,450 \
  -o "$out/heterogeneity.png" \
  --title "Ring of $agents, Dirichlet(alpha) split, $epochs epochs: averaged model against alpha; at alpha 0.1 against agent 0's epoch"
echo "plot: $out/heterogeneity.png" >&2
