#!/usr/bin/env bash
# Issue 18, multi-datacenter averaging (Xu, Mi et al. 2020, PAPERS.md §9): 4 agents ("data
# centres") train the LeNet-style CNN alone, plain SGD at batch 16, and meet only in an
# exact average over all of them weighted by shard size (--algo localsgd --local-epochs E)
# every E in {1, 5} epochs; the learning rate is constant (0.0275) or the triangular
# cyclical rate clr:0.005:0.05:1 (mean 0.0275, its minimum at the end of every epoch, so
# at every average). Against centralized training (`meshdl train`, all the rows, batch 16,
# the same two schedules). Writes results.json (last line on stdout: {"summary": ...}) and
# multi-datacenter.png (accuracy of the averaged model against epochs, meshdl plot).
# One evaluation per epoch, every one on all the test rows (so that the curves do not
# jump at the last): sim's evaluator scores five CNNs per point (the average and each
# agent's own) on one thread while four agents train, so it keeps up only if an
# evaluation costs under a quarter of an epoch's training; with 5 000 test rows against
# 12 000 training rows it fell four epochs behind (the earlier quick run's curves had
# points near epochs 0.5 and 4.5 only), hence the quick setting's 1 500 test rows.
#
# Usage: examples/experiments/multi-datacenter/run.sh [--quick] [OUT_DIR]
#   default: all 60 000 training rows, 10 000 test rows, 10 epochs (about 30 minutes on
#            2 quiet cores: 10x the quick run's work)
#   --quick: 12 000 training rows, 1 500 test rows, 5 epochs (about 3 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/multi-datacenter}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  epochs=5 data=(--train-subset 12000 --test-subset 1500)
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
    "$bin" sim --agents 4 "${common[@]}" --algo localsgd --local-epochs $E ${sc#*|} --evals-per-epoch 1 --eval-rows 0 \
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
    evals = {}   # one evaluation (all agents' lines share its elapsed_s): epochs, accuracy
    for l in open(os.path.join(out, f + ".jsonl")):
        o = json.loads(l)
        e = evals.setdefault(o["elapsed_s"], [[], o["avg_test_acc"] if kind == "sim" else o["test_acc"]])
        e[0].append(o["epoch"])
    curve = [[round(sum(ep) / len(ep), 3), a] for ep, a in (evals[t] for t in sorted(evals))]
    rows[name] = {"test_acc": s["test_acc"], "wall_s": s["wall_s"], "curve": curve}
    if kind == "sim":
        rows[name].update({k: s[k] for k in ("global_averages", "bytes_sent", "consensus_distance")})
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
"$bin" plot "$out/E1_constant.jsonl=E=1, constant rate" "$out/E1_clr.jsonl=E=1, CLR" \
  "$out/E5_constant.jsonl=E=5, constant rate" "$out/E5_clr.jsonl=E=5, CLR" \
  "$out/central_constant.jsonl=centralized, constant rate" "$out/central_clr.jsonl=centralized, CLR" \
  --average --panel acc:epoch --size 900,500 \
  --ylabel "test accuracy" \
  --title "4 data centres, CNN: exact weighted average every E epochs, constant vs cyclical rate (distributed: the agents' average)" \
  -o "$out/multi-datacenter.png"
echo "plot: $out/multi-datacenter.png" >&2
