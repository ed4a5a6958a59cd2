#!/usr/bin/env bash
# Byzantine agents against robust gossip: 16 agents of synchronous D-PSGD on the
# exponential graph and on the ring, with 0, 1 or 2 Byzantine agents in each attack mode
# (scale, noise, zero, stale, alie, future), mixed plainly or with --robust clip, trimmed:1
# or median. Reports the honest agents' test accuracy (mean and worst) and the bytes sent,
# one row per run (results.json, results.md), and plots the worst honest agent's accuracy
# per attack and rule (byzantine.png, meshdl plot).
#
# Usage: examples/experiments/byzantine/run.sh [--quick] [OUT_DIR]
#   default: mlp:784-32-10, 2 epochs over the first 16 000 training rows (1 000 per agent),
#            evaluated on 2 000 test rows: 104 runs, about 20 minutes on 2 heavily loaded
#            cores (trimmed and median sort every coordinate: they take the most time)
#   --quick: 1 epoch (about half of that)
# The Byzantine agents are 0 (one) and 0 and 8 (two): on the ring they are far apart, on
# the exponential graph (neighbours at +-1, 2, 4, 8) they are neighbours and agent 4 hears
# both. Attack arguments: scale:-10, noise:1, zero, stale:100, alie:10, future:1000.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/byzantine}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  common=(--model mlp:784-32-10 --epochs 1 --train-subset 16000)
else
  common=(--model mlp:784-32-10 --epochs 2 --train-subset 16000)
fi
common+=(--agents 16 --algo dpsgd --mode sync --batch 8 --lr 0.02 --test-subset 2000 --threads 1 --quiet --seed 1)
# (in this order the plot's lowest points, plain under scale, noise and alie, stay left of its key)
attacks=(scale:-10 noise:1 alie:10 stale:100 zero future:1000)
rules=(plain clip trimmed:1 median)
: > "$out/runs.txt"
one() { # topology nbyz attack rule
  local topo=$1 nb=$2 att=$3 rule=$4 args=() name
  name=$(echo "${topo}_${nb}_${att}_${rule}" | tr ':.-' '___')
  [ "$rule" != plain ] && args+=(--robust "$rule")
  if [ "$nb" -ge 1 ]; then args+=(--byzantine "0:$att"); fi
  if [ "$nb" -ge 2 ]; then args+=(--byzantine "8:$att"); fi
  echo "$topo byzantine=$nb $att $rule" >&2
  "$bin" sim "${common[@]}" --topology "$topo" "${args[@]}" > "$out/$name.out" 2>"$out/$name.err" || true
  echo "$topo|$nb|$att|$rule|$name" >> "$out/runs.txt"
}
for topo in exp ring; do
  for rule in "${rules[@]}"; do one $topo 0 none "$rule"; done
  for nb in 1 2; do
    for att in "${attacks[@]}"; do
      for rule in "${rules[@]}"; do one $topo $nb "$att" "$rule"; done
    done
  done
done
python3 - "$out" "${common[*]}" "${attacks[@]}" <<'PY'
import json, os, sys
out, settings, attacks_order = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = []
for line in open(os.path.join(out, "runs.txt")):
    topo, nb, att, rule, f = line.strip().split("|")
    try:
        s = json.loads(open(os.path.join(out, f + ".out")).read().strip().splitlines()[-1])["summary"]
    except Exception:
        s = None
    r = {"topology": topo, "byzantine": int(nb), "attack": att, "rule": rule}
    if s:
        r.update({"honest_mean": s.get("test_acc_honest_mean", s["test_acc_mean"]),
                  "honest_min": s.get("test_acc_honest_min", s["test_acc_min"]),
                  "bytes_sent": s["bytes_sent"], "rejected": s.get("updates_rejected", 0),
                  "steps_skipped": s.get("steps_skipped", 0), "wall_s": s["wall_s"]})
    rows.append(r)
json.dump({"settings": settings, "runs": rows}, open(os.path.join(out, "results.json"), "w"), indent=1)
clean = {(r["topology"], r["rule"]): r for r in rows if r["byzantine"] == 0}
ref = {t: clean[(t, "plain")].get("honest_min") for t in ("exp", "ring")}
rules = ["plain", "clip", "trimmed:1", "median"]
md = ["Worst honest agent's test accuracy (honest mean in brackets); `*` = within 2 pt of the clean"
      " plain run's worst agent on that graph. Bytes: all agents, MB.", ""]
md.append("| graph | Byzantine | attack | " + " | ".join(rules) + " | MB sent (plain / clip / trimmed / median) |")
md.append("|---|---|---|" + "---|" * (len(rules) + 1))
keys = sorted({(r["topology"], r["byzantine"], r["attack"]) for r in rows},
              key=lambda k: (k[0] != "exp", k[1], k[2] != "none", k[2]))
get = {(r["topology"], r["byzantine"], r["attack"], r["rule"]): r for r in rows}
for k in keys:
    cells, mb = [], []
    for rule in rules:
        r = get.get(k + (rule,), {})
        if "honest_min" not in r:
            cells.append("failed"); mb.append("-"); continue
        ok = ref[k[0]] is not None and r["honest_min"] >= ref[k[0]] - 0.02
        cells.append(f"{r['honest_min']:.3f} ({r['honest_mean']:.3f}){' *' if ok else ''}")
        mb.append(f"{r['bytes_sent'] / 1e6:.0f}")
    md.append(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(cells) + " | " + " / ".join(mb) + " |")
open(os.path.join(out, "results.md"), "w").write("\n".join(md) + "\n")
# meshdl plot data: a file per rule (a series), a line per attack (a category, clean
# first), the worst honest agent's accuracy under one key per (graph, Byzantine count),
# a panel each
panels = [(t, nb) for t in ("exp", "ring") for nb in (1, 2)]
open(os.path.join(out, "panels"), "w").write("\n".join(f"{t} graph, {nb} Byzantine" for t, nb in panels) + "\n")
for rule in rules:
    with open(os.path.join(out, "plot_" + rule.replace(":", "") + ".jsonl"), "w") as f:
        for att in ["none"] + sorted({k[2] for k in keys if k[1] > 0}, key=attacks_order.index):
            line = {"attack": "clean" if att == "none" else att.split(":")[0]}
            for t, nb in panels:
                v = get.get((t, 0 if att == "none" else nb, att, rule), {}).get("honest_min")
                if v is not None:
                    line[f"{t} graph, {nb} Byzantine"] = v
            f.write(json.dumps(line) + "\n")
print("\n".join(md))
PY
panels=()
while read -r p; do panels+=(--panel "$p:attack"); done < "$out/panels"
"$bin" plot "$out/plot_plain.jsonl=plain" "$out/plot_clip.jsonl=clip" "$out/plot_trimmed1.jsonl=trimmed:1" \
  "$out/plot_median.jsonl=median" "${panels[@]}" --yrange 0:1 --legend --size 1800,520 --xlabel "attack" \
  --title "16 agents, D-PSGD (sync): worst honest agent's test accuracy by attack and mixing rule" -o "$out/byzantine.png"
echo "plot: $out/byzantine.png" >&2
