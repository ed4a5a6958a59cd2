#!/usr/bin/env bash
# eval.sh: what evaluation costs a short `meshdl sim` run. The same run three times, side
# by side (CPU time of the whole process, user + system, from /usr/bin/time; wall time
# too, but on a shared machine only the CPU time means something):
#   train   the training alone, near enough: evaluations on 100 test rows
#   auto    the defaults: --eval-rows automatic while training, the final on every row
#   all     --eval-rows 0: every evaluation on every test row
# and prints a markdown table with each run's CPU time and its excess over "train" (the
# evaluations' share). It measures, it does not assert.
#
# usage: bench/eval.sh [MESHDL] [sim options...]     e.g. bench/eval.sh build/meshdl --model cnn
#   default run: --agents 4 --epochs 1 --train-subset 4000 (the issue's short run), test set
#   all 10 000 rows; extra options are appended to every run.
# environment: ROUNDS (interleaved repetitions; medians are reported) [3]
set -u
meshdl=${1:-build/meshdl}; shift || true
rounds=${ROUNDS:-3}
[ -x "$meshdl" ] || { echo "eval.sh: $meshdl not found (scripts/build.sh build)" >&2; exit 1; }
export OPENBLAS_NUM_THREADS=1
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
base=(sim --agents 4 --epochs 1 --train-subset 4000 --threads 1 --quiet "$@")
declare -A args=([train]="--test-subset 100 --eval-rows 100" [auto]="" [all]="--eval-rows 0")
for r in $(seq "$rounds"); do
    for k in train auto all; do
        # shellcheck disable=SC2086
        /usr/bin/time -f "%U %S %e" -o "$out/$k.$r.time" "$meshdl" "${base[@]}" ${args[$k]} >"$out/$k.$r.out" 2>/dev/null \
            || { echo "eval.sh: run $k failed" >&2; exit 1; }
    done
done
python3 - "$out" "$rounds" "$*" <<'PY'
import json, statistics, sys
out, rounds, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3]
med = {}
for k in ("train", "auto", "all"):
    cpu, wall = [], []
    for r in range(1, rounds + 1):
        u, s, e = map(float, open("%s/%s.%d.time" % (out, k, r)).read().split()[-3:])
        cpu.append(u + s); wall.append(e)
    summ = json.loads(open("%s/%s.1.out" % (out, k)).read().strip().splitlines()[-1])["summary"]
    med[k] = (statistics.median(cpu), statistics.median(wall), summ["test_acc"])
print("| run (sim --agents 4 --epochs 1 --train-subset 4000 %s) | CPU s | wall s | evaluations' CPU s | test_acc |" % extra)
print("|---|---:|---:|---:|---:|")
for k in ("train", "auto", "all"):
    c, w, a = med[k]
    print("| %s | %.1f | %.1f | %s | %.4f |" % (k, c, w, "–" if k == "train" else "%.1f" % (c - med["train"][0]), a))
PY
