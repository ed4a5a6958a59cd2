#!/usr/bin/env bash
# Issue 18, Plexus (de Vos et al., PAPERS.md §17): 16 agents; rounds of a sample of
# S in {2, 4, 8} agents (--algo plexus --sample S, one local step per round) against
# D-PSGD on a ring. Twice: without faults, and with 20% of the agents offline in each
# round (--offline 0.2, a trace every agent knows) and agent 0 a straggler four times
# slower (--slow 0:4); every step paced to at least 25 ms (the straggler's 100 ms), as on
# one machine per agent. Reports the wall time
# and the bytes until the model reaches 80% test accuracy (D-PSGD: the agents' average;
# Plexus: the newest aggregate), and the final accuracy. Writes results.json (last line
# on stdout: {"summary": ...}), plexus.png (no faults) and plexus-faults.png (offline agents
# and a straggler): accuracy against time and against bytes (meshdl plot).
#
# Usage: examples/experiments/plexus/run.sh [--quick] [--faults-only | --no-faults] [OUT_DIR]
#   default: all 60 000 training rows, 2 epochs (about 8 minutes on the 2 shared cores:
#            194 s without faults, 249 s with them, load average 12-27)
#   --quick: 32 000 training rows, 2 epochs (the faulty half: 138 s)
#   --faults-only: only the four runs with offline agents and the straggler (results.json
#                  and plexus-faults.png; no plexus.png)
#   --no-faults: only the four runs without faults (results.json and plexus.png)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
fault_sets=(none offline+straggler)
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --faults-only) fault_sets=(offline+straggler); shift ;;
    --no-faults) fault_sets=(none); shift ;;
    *) break ;;
  esac
done
out=${1:-$root/results/plexus}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  data=(--train-subset 32000 --test-subset 2000)
else
  data=(--test-subset 5000)
fi
target=0.8
common=(--agents 16 --epochs 2 --batch 8 --threads 1 --quiet --evals-per-epoch 10 --target-acc "$target" "${data[@]}")
# Pacing for every run (also without the straggler): each step takes at least 25 ms, as
# if each agent had a machine of its own. 16 agents of D-PSGD on 2 cores need about
# 12 ms of CPU per round on a quiet machine (bench/README.md: 1.5 ms per agent-step), so
# 25 ms leaves the pace, not the CPU, setting the time, and the straggler's 100 ms shows.
pace=(--step-ms 25)
runs=("dpsgd ring|--algo dpsgd --topology ring" "plexus S=2|--algo plexus --sample 2"
      "plexus S=4|--algo plexus --sample 4" "plexus S=8|--algo plexus --sample 8")
: > "$out/runs.txt"
for faults in "${fault_sets[@]}"; do
  if [ "$faults" = none ]; then fa=(); else fa=(--offline 0.2 --slow 0:4); fi
  for r in "${runs[@]}"; do
    name="${r%%|*}, $faults"; file=$(echo "${r%%|*}_$faults" | tr ' =+,' '____')
    echo "$name" >&2
    rm -f "$out/$file.jsonl"
    # shellcheck disable=SC2086
    "$bin" sim "${common[@]}" "${pace[@]}" "${fa[@]}" ${r#*|} --metrics "$out/$file.jsonl" > "$out/$file.out" 2>"$out/$file.err" || true
    echo "$name|$file" >> "$out/runs.txt"
  done
done
python3 - "$out" $target <<'PY'
import json, os, sys
out, target = sys.argv[1], float(sys.argv[2])
rows = {}
for line in open(os.path.join(out, "runs.txt")):
    name, f = line.strip().split("|")
    try:
        s = json.loads(open(os.path.join(out, f + ".out")).read().strip().splitlines()[-1])["summary"]
    except Exception:
        rows[name] = None; continue
    evals = {}   # elapsed -> [total bytes, accuracy of the run's model]
    for l in open(os.path.join(out, f + ".jsonl")):
        o = json.loads(l)
        e = evals.setdefault(o["elapsed_s"], [0, o["avg_test_acc"]])
        e[0] += o["bytes_sent"]
    pts = sorted((t, b, a) for t, (b, a) in evals.items())
    hit = next((p for p in pts if p[2] >= target), None)
    rows[name] = {"time_to_target_s": round(hit[0], 1) if hit else None, "bytes_to_target": hit[1] if hit else None,
                  "test_acc": s["test_acc"], "bytes_sent": s["bytes_sent"], "wall_s": s["wall_s"],
                  "rounds_offline_per_agent": s.get("rounds_offline_per_agent", 0), "status": s["status"]}
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
for faults in "${fault_sets[@]}"; do
  plots=()
  for r in "${runs[@]}"; do
    f=$(echo "${r%%|*}_$faults" | tr ' =+,' '____')
    [ -s "$out/$f.jsonl" ] && plots+=("$out/$f.jsonl=${r%%|*}")
  done
  if [ "$faults" = none ]; then png=plexus.png what="no faults"; else png=plexus-faults.png what="20% offline per round, agent 0 a 4x straggler"; fi
  "$bin" plot "${plots[@]}" --average --panel acc:time --panel acc:bytes:logx --yrange 0.5:0.9 --size 1100,450 \
    --ylabel "test accuracy" -o "$out/$png" \
    --title "16 agents, Plexus against D-PSGD on a ring, $what (D-PSGD: the agents' average; Plexus: the newest aggregate)"
  echo "plot: $out/$png" >&2
done
