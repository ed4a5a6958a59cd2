#!/usr/bin/env bash
# Experiment 3 of issue 6: dynamic averaging under concept drift (Kamp et al., ECML PKDD
# 2018). Agents train on Fashion-MNIST; half-way the labels are rotated (--drift-at).
# Periodic averaging (delta 0, every b steps) against dynamic averaging (synchronise only
# when a model drifted more than delta from the common reference), local training only,
# and D-PSGD on a ring as the every-step reference: accuracy against bytes sent, and the
# burst of synchronisations right after the drift.
# Writes results.json (last stdout line: {"summary": ...}), accuracy-vs-bytes.png and
# synchronisations.png (cumulative synchronisations over training; drift marked).
#
# Usage: examples/experiments/dynamic-averaging/run.sh [--quick] [OUT_DIR]
#   default: 8 agents, 4 epochs, drift at epoch 2 (about 10 minutes on 2 cores)
#   --quick: 8 agents, 2 epochs on 16000 rows, drift at epoch 1 (about 2 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/dynamic-averaging}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  epochs=2 drift=1 data=(--train-subset 16000 --test-subset 5000)
else
  epochs=4 drift=2 data=()
fi
# --step-ms paces every agent to the same step time: 8 compute threads on 2 cores are
# otherwise scheduled unevenly, and the fastest agent would trigger most synchronisations.
common=(--agents 8 --topology ring --epochs $epochs --batch 16 --threads 1 --quiet --drift-at $drift --step-ms 6 "${data[@]}")
runs=("local only|--algo dynavg --delta 1e30"
      "periodic b=10|--algo dynavg --delta 0 --check-every 10"
      "periodic b=50|--algo dynavg --delta 0 --check-every 50"
      "dynamic delta=1|--algo dynavg --delta 1"
      "dynamic delta=3|--algo dynavg --delta 3"
      "D-PSGD ring|--algo dpsgd")
: > "$out/runs.txt"
for r in "${runs[@]}"; do
  name=${r%%|*}; args=${r#*|}; file=$(echo "$name" | tr ' :+.=-' '______')
  echo "$name" >&2
  rm -f "$out/$file.syncs.jsonl"
  # shellcheck disable=SC2086
  "$bin" sim "${common[@]}" $args --log "$out/$file.log" > "$out/$file.out" 2>"$out/$file.err" || true
  echo "$name|$file" >> "$out/runs.txt"
done
python3 - "$out" "$drift" "$epochs" <<'PY'
import json, os, re, sys
out, drift, epochs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
rows, most = {}, 1
for line in open(os.path.join(out, "runs.txt")):
    name, f = line.strip().split("|")
    try:
        s = json.loads(open(os.path.join(out, f + ".out")).read().strip().splitlines()[-1])["summary"]
    except Exception:
        rows[name] = None; continue
    spe = s["steps"] / epochs
    # agent 0's synchronisations, from its event log ("dynavg: synchronisation K at step S")
    steps = [int(m.group(1)) for m in re.finditer(r"agent 0: dynavg: synchronisation \d+ at step (\d+)",
                                                     open(os.path.join(out, f + ".log")).read())]
    d0, w = drift * spe, 0.25 * spe
    row = {k: s.get(k) for k in ("test_acc", "test_acc_mean", "bytes_sent", "global_averages", "status")}
    # the burst: synchronisations in the quarter epoch after the drift vs the one before
    row["syncs_quarter_epoch_before_drift"] = sum(d0 - w <= t < d0 for t in steps)
    row["syncs_quarter_epoch_after_drift"] = sum(d0 <= t < d0 + w for t in steps)
    rows[name] = row
    # cumulative synchronisations against epochs, for meshdl plot, to the end of the run
    # (a flat tail is the point: dynamic averaging stops synchronising as models settle);
    # D-PSGD gossips every step and has no synchronisations to draw
    if s.get("algo") != "dynavg":
        continue
    with open(os.path.join(out, f + ".syncs.jsonl"), "w") as g:
        g.write('{"epoch": 0, "synchronisations": 0}\n')
        for k, t in enumerate(steps):
            g.write('{"epoch": %g, "synchronisations": %d}\n' % (t / spe, k + 1))
        g.write('{"epoch": %g, "synchronisations": %d}\n' % (epochs, len(steps)))
    most = max(most, len(steps))
# the drift as a vertical line
with open(os.path.join(out, "drift.jsonl"), "w") as g:
    g.write('{"epoch": %g, "synchronisations": 0}\n{"epoch": %g, "synchronisations": %d}\n' % (drift, drift, most))
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
plots=(); syncs=()
while IFS='|' read -r name f; do
  [ -s "$out/$f.out" ] && plots+=("$out/$f.out=$name"); [ -f "$out/$f.syncs.jsonl" ] && syncs+=("$out/$f.syncs.jsonl=$name")
done < "$out/runs.txt"
# bytes on a linear axis: on a log one local training's few kB of hellos stretch it over
# six decades and the other five runs' labels pile up in one
"$bin" plot "${plots[@]}" --panel test_acc:bytes --size 800,500 -o "$out/accuracy-vs-bytes.png" \
  --xlabel "MB sent, all 8 agents" --ylabel "test accuracy of the averaged model" \
  --title "Dynamic vs periodic averaging, 8 agents, labels rotated at epoch $drift: final accuracy against bytes"
"$bin" plot "${syncs[@]}" "$out/drift.jsonl=labels rotated (drift)" --panel synchronisations:epoch --size 800,500 \
  -o "$out/synchronisations.png" --ylabel "synchronisations of agent 0 (cumulative)" \
  --title "Synchronisations of agent 0 over training (labels rotated at epoch $drift)"
echo "plots: $out/accuracy-vs-bytes.png $out/synchronisations.png" >&2
