#!/usr/bin/env bash
# Experiment 1 of issue 6, after Kong et al. (ICML 2021), "Consensus Control for
# Decentralized Deep Learning": a ring of agents with a step-decay schedule; centralized
# SGD vs plain D-PSGD vs consensus control in phase 1 only vs in all phases. Reports the
# final accuracy and bytes of each run (results.json, last line on stdout) and plots the
# consensus distance per epoch (consensus.png, meshdl plot).
#
# Usage: examples/experiments/consensus-control/run.sh [--quick] [OUT_DIR]
#   default: 16 agents, 6 epochs, decay x0.1 at epochs 3 and 5 (about 20 minutes on 2 cores)
#   --quick: 8 agents, 2 epochs on 16000 rows, decay at epoch 1 (about 3 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/consensus-control}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  agents=8 epochs=2 sched=step:0.1:1 data=(--train-subset 16000 --test-subset 5000)
else
  agents=16 epochs=6 sched=step:0.1:3,5 data=()
fi
batch=8 lr=0.05
common=(--epochs $epochs --lr $lr --schedule "$sched" --threads 1 --quiet "${data[@]}")
summary() { tail -n 1 "$1"; }

echo "centralized (global batch $((agents * batch)))" >&2
"$bin" train "${common[@]}" --batch $((agents * batch)) > "$out/central.out"
for run in plain phase1 all; do
  extra=()
  case $run in
    phase1) extra=(--consensus-control lr:0.5) ;;
    all)    extra=(--consensus-control lr:0.5,all) ;;
  esac
  echo "D-PSGD ring of $agents, $run" >&2
  rm -f "$out/$run.jsonl"
  "$bin" sim --agents $agents --topology ring --batch $batch "${common[@]}" "${extra[@]}" \
      --evals-per-epoch 4 --metrics "$out/$run.jsonl" > "$out/$run.out"
done

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = {}
for run in ("central", "plain", "phase1", "all"):
    s = json.loads(open(os.path.join(out, run + ".out")).read().strip().splitlines()[-1])["summary"]
    rows[run] = {k: s.get(k) for k in ("test_acc", "test_acc_min", "bytes_sent", "gossip_rounds_per_step", "wall_s")}
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY

"$bin" plot "$out/plain.jsonl=D-PSGD" "$out/phase1.jsonl=control, phase 1" "$out/all.jsonl=control, all phases" \
  --average --panel consensus:epoch --size 800,500 \
  --title "Consensus distance (1/n) sum ||x_i - xbar||^2, ring of $agents (Kong et al. consensus control)" \
  -o "$out/consensus.png"
echo "plot: $out/consensus.png" >&2
