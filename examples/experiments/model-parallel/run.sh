#!/usr/bin/env bash
# Issue 18, model-parallel least squares (Hellkvist, Özçelikkale & Ahlén 2021, PAPERS.md
# §20): synthetic:linreg:100:400:0.1 (100 observations, 400 unknowns, noise 0.1; 20 test
# rows), the unknowns split over K agents (--algo mp-linreg --blocks ...), run to
# convergence (40 epochs: 480 iterations). Three families of partitions:
#   equal    K in {4, ..., 10} equal blocks (p_k/n from 1.0 down to 0.4)
#   K=4      one block of p in {25, ..., 300} unknowns, the rest split equally over 3
#   K=8      one block of p, the rest split equally over 7
# Each on several data seeds; the train and test MSE (medians over the seeds) against
# p/n for the block being varied (equal: every block), next to the centralized
# minimum-norm solution's test MSE on the same data. Writes results.json (last line on
# stdout: {"summary": ...}) and model-parallel.png (meshdl plot).
#
# Usage: examples/experiments/model-parallel/run.sh [--quick] [OUT_DIR]
#   default: 20 seeds, 17 block sizes (about 10 minutes on 2 cores)
#   --quick: 5 seeds, 9 block sizes (about 2 minutes)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
out=${1:-$root/results/model-parallel}
mkdir -p "$out"
bin=${MESHDL:-$("$root/scripts/build.sh" "$root/build")}
if [ $quick -eq 1 ]; then
  seeds=$(seq 1 5) probes="25 50 75 90 100 110 150 200 300"
else
  seeds=$(seq 1 20) probes="25 40 50 60 70 80 90 95 100 105 110 120 130 150 200 250 300"
fi
common=(--algo mp-linreg --model linreg:400 --data synthetic:linreg:100:400:0.1 --epochs 40 --threads 1 --quiet)
# blocks TOTAL K [P]: K blocks adding up to TOTAL, the first P (default: as equal as possible)
blocks() {
  python3 -c '
import sys
total, k = int(sys.argv[1]), int(sys.argv[2])
first = [int(sys.argv[3])] if len(sys.argv) > 3 else []
rest, m = total - sum(first), k - len(first)
print(",".join(str(b) for b in first + [rest // m + (i < rest % m) for i in range(m)]))' "$@"
}
: > "$out/runs.txt"; : > "$out/summaries.txt"
for K in 4 5 6 7 8 9 10; do echo "equal|$K|$(blocks 400 $K)|$((400 / K))" >> "$out/runs.txt"; done
for K in 4 8; do
  for p in $probes; do
    [ $((400 - p)) -ge $((K - 1)) ] && echo "K=$K|$K|$(blocks 400 $K $p)|$p" >> "$out/runs.txt"
  done
done
while IFS='|' read -r family K b p; do
  echo "$family blocks $b" >&2
  for s in $seeds; do
    "$bin" sim --agents "$K" "${common[@]}" --blocks "$b" --seed "$s" 2>/dev/null | tail -1 \
      | sed "s/^/$family|$p|$s|/" >> "$out/summaries.txt" || true
  done
done < "$out/runs.txt"
python3 - "$out" <<'PY'
import json, os, statistics, sys
out = sys.argv[1]
rows, runs = {}, {}
for line in open(os.path.join(out, "summaries.txt")):
    family, p, seed, js = line.rstrip("\n").split("|", 3)
    try:
        s = json.loads(js)["summary"]
    except Exception:
        continue
    runs.setdefault((family, int(p)), []).append(s)
for (family, p), ss in sorted(runs.items()):
    med = lambda k: statistics.median(x[k] for x in ss)
    rows.setdefault(family, []).append({"p": p, "p_over_n": p / 100, "seeds": len(ss), "train_mse": med("train_mse"),
        "test_mse": med("test_mse"), "minnorm_test_mse": med("minnorm_test_mse"), "y2_mean": med("y2_mean"),
        "x_norm": med("x_norm"), "minnorm_x_norm": med("minnorm_x_norm")})
# the plot's points: one file per family, and the references (the centralized
# minimum-norm solution's test MSE, the mean of y^2 = the training MSE of x = 0) under the
# same keys, so that each panel has one Y
for family, pts in rows.items():
    with open(os.path.join(out, family.replace("=", "") + ".points.jsonl"), "w") as d:
        for r in pts:
            d.write(json.dumps({"p_over_n": r["p_over_n"], "test_mse": r["test_mse"], "train_mse": r["train_mse"]}) + "\n")
with open(os.path.join(out, "reference.points.jsonl"), "w") as d:
    for r in rows.get("K=4", []):
        d.write(json.dumps({"p_over_n": r["p_over_n"], "test_mse": r["minnorm_test_mse"], "train_mse": r["y2_mean"]}) + "\n")
json.dump(rows, open(os.path.join(out, "results.json"), "w"), indent=1)
print(json.dumps({"summary": rows}))
PY
"$bin" plot "$out/equal.points.jsonl=K = 4..10, equal blocks" "$out/K4.points.jsonl=K = 4, one block of p" \
  "$out/K8.points.jsonl=K = 8, one block of p" "$out/reference.points.jsonl=min-norm solution (left), mean of y^2 (right)" \
  --average --panel "test_mse:p_over_n:logy" --panel "train_mse:p_over_n:logy" --size 1100,480 \
  --xlabel "p_k / n_obs (the block varied; equal blocks: every block)" -o "$out/model-parallel.png" \
  --title "Model-parallel least squares, 100 observations, 400 unknowns, medians over seeds: test MSE (left), training MSE (right)"
echo "plot: $out/model-parallel.png" >&2
