#!/usr/bin/env bash
# Experiment (a) of issue 7, after Lin et al. (ICML 2021, QGM) and gradient tracking: how
# decentralized momentum methods lose accuracy as the agents' data grow apart. 8 agents on
# a ring, Fashion-MNIST split by Dirichlet(alpha) over the labels, alpha in {10, 1, 0.1};
# DmSGD vs QGM (both heavy ball, mu 0.9, lr 0.02) vs DSGT (gradient tracking, sgd, lr 0.1:
# each algorithm's default) vs centralized momentum SGD on the global batch. Reports
# every run's final accuracy (results.json, last line on stdout) and plots accuracy
# against alpha and the accuracy curves at alpha 0.1 (heterogeneity.png, gnuplot).
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
    with open(os.path.join(out, algo + ".dat"), "w") as f:
        for alpha in alphas:
            s = last("%s-%s" % (algo, alpha))
            rows["%s alpha=%s" % (algo, alpha)] = {
                "test_acc": s["test_acc"], "test_acc_min": s["test_acc_min"],
                "gap_to_central": round(central - s["test_acc"], 4),
                "consensus_distance": s["consensus_distance"], "bytes_sent": s["bytes_sent"], "wall_s": s["wall_s"]}
            f.write("%s %g %g\n" % (alpha, s["test_acc"], s["test_acc_min"]))
    # the averaged model's accuracy per evaluation at alpha 0.1 (the same on every agent's
    # line), against agent 0's epoch: Dirichlet shards differ in size, and so do epochs
    seen = {}
    for line in open(os.path.join(out, "%s-0.1.jsonl" % algo)):
        o = json.loads(line)
        if o["agent"] == 0:
            seen[o["epoch"]] = o["avg_test_acc"]
    with open(os.path.join(out, algo + "-curve.dat"), "w") as f:
        for e in sorted(seen):
            f.write("%g %g\n" % (e, seen[e]))
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY

central=$(python3 -c "import json; print(json.load(open('$out/results.json'))['central']['test_acc'])")
gnuplot <<GP
set terminal pngcairo size 1100,450
set output "$out/heterogeneity.png"
set multiplot layout 1,2 title "Ring of $agents, Fashion-MNIST MLP, Dirichlet(alpha) split, $epochs epochs"
set xlabel "Dirichlet alpha (smaller = more heterogeneous)"; set ylabel "test accuracy (averaged model)"
set logscale x; set xrange [0.05:20]; set key bottom right
plot "$out/dmsgd.dat" u 1:2 w lp t "DmSGD", "$out/qgm.dat" u 1:2 w lp t "QGM", "$out/dsgt.dat" u 1:2 w lp t "DSGT", \
     $central w l dt 2 t "centralized"
unset logscale x; set xrange [*:*]
set xlabel "epoch (of agent 0)"; set title "alpha = 0.1"
plot "$out/dmsgd-curve.dat" w lp t "DmSGD", "$out/qgm-curve.dat" w lp t "QGM", "$out/dsgt-curve.dat" w lp t "DSGT", \
     $central w l dt 2 t "centralized (final)"
unset multiplot
GP
echo "plot: $out/heterogeneity.png" >&2
