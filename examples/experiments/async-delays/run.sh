#!/usr/bin/env bash
# Issue 7, experiment (a): asynchrony and delays.
#  1. One straggler (agent 0 computes 4x slower, --slow 0:4; the other agents' steps are
#     paced to emulate one machine each) and 20 ms on every link (--delay-ms): synchronous
#     D-PSGD against asynchronous gossip (--mode async), AD-PSGD (pairwise averages, Lian
#     et al.) and D-PSGD with overlapped mixing (--overlap, Decent-DP); wall time until the
#     averaged model first reaches 85% (--target-acc), and the final accuracy. A fault-free
#     synchronous run is the reference.
#  2. Delayed DGD (after Sirb & Ye, PAPERS.md §15): logistic regression (mlp:784-10, plain
#     SGD) on a ring, asynchronous, where neighbour states arrive D ms late at 2 ms per step
#     (tau ~ D/2 steps stale, no staleness discount), D in {0, 4, 16, 64}, with a constant
#     and a decaying (cosine) step. Our delays are on the exchanged states, not on the
#     gradients themselves: the staleness asynchronous gossip actually has.
# Results: results.json (last line on stdout) and async.png (accuracy against wall time).
#
# Usage: examples/experiments/async-delays/run.sh [--quick] [OUT_DIR]
#   default: 8 agents, 3 epochs (about 25 minutes on 2 cores)
#   --quick: 4 agents, 2 epochs (about 5 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/async-delays}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then agents=4 epochs=2; else agents=8 epochs=3; fi
target=0.85
common=(--agents $agents --topology ring --model mlp:784-128-10 --epochs $epochs --batch 16 --lr 0.05 --threads 1
        --quiet --evals-per-epoch 8 --target-acc $target)
faults=(--slow 0:4 --delay-ms 20 --step-ms 4)
runs=("sync, no faults|--step-ms 4"
      "sync D-PSGD|${faults[*]}"
      "async D-PSGD|${faults[*]} --mode async"
      "AD-PSGD|${faults[*]} --algo adpsgd"
      "overlap D-PSGD|${faults[*]} --overlap")
: > "$out/runs.txt"
for r in "${runs[@]}"; do
  name=${r%%|*}; args=${r#*|}; file=$(echo "$name" | tr ' ,-' '___')
  echo "$name" >&2
  rm -f "$out/$file.jsonl"
  # shellcheck disable=SC2086
  "$bin" sim "${common[@]}" $args --metrics "$out/$file.jsonl" > "$out/$file.out" 2>"$out/$file.err" || true
  echo "$name|$file" >> "$out/runs.txt"
done
dgd=(--agents $agents --topology ring --model mlp:784-10 --optimizer sgd --lr 0.2 --epochs 2 --batch 16 --threads 1
     --quiet --mode async --step-ms 2 --staleness-decay 1 --max-staleness 100000)
: > "$out/dgd.txt"
for sched in constant cosine; do
  for D in 0 4 16 64; do
    file="dgd_${sched}_$D"
    echo "DGD $sched, delay $D ms" >&2
    "$bin" sim "${dgd[@]}" --schedule $sched --delay-ms $D > "$out/$file.out" 2>"$out/$file.err" || true
    echo "$sched|$D|$file" >> "$out/dgd.txt"
  done
done
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def summary(f):
    try:
        return json.loads(open(os.path.join(out, f + ".out")).read().strip().splitlines()[-1])["summary"]
    except Exception:
        return None
rows, dgd = {}, {}
for line in open(os.path.join(out, "runs.txt")):
    name, f = line.strip().split("|")
    s = summary(f)
    if not s:
        rows[name] = None; continue
    rows[name] = {k: s.get(k) for k in ("time_to_target_s", "test_acc", "test_acc_min", "wall_s", "sync_wait_s",
                                         "bytes_sent", "pair_averages")}
for line in open(os.path.join(out, "dgd.txt")):
    sched, D, f = line.strip().split("|")
    s = summary(f)
    dgd["%s, %s ms" % (sched, D)] = {k: s.get(k) for k in ("test_acc", "test_loss", "consensus_distance", "updates_stale")} if s else None
res = {"stragglers_and_delays": rows, "delayed_dgd": dgd}
json.dump(res, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": res}))
PY
plots=(); while IFS='|' read -r name f; do plots+=("$out/$f.jsonl=$name"); done < "$out/runs.txt"
"$bin" plot "${plots[@]}" --average --panel acc:time --yrange 0.6:0.9 --size 900,500 \
  --title "Ring of $agents, one 4x straggler and 20 ms links: accuracy of the averaged model against wall time" \
  -o "$out/async.png"
echo "plot: $out/async.png" >&2
