#!/usr/bin/env bash
# Integration test of what `meshdl sim` reports while it trains: a metrics file plotted as
# it is gives the curve the progress line showed. Every evaluation's metrics lines carry
# the step and epoch of the snapshot evaluated (the progress line's epoch is their mean, its
# accuracy their avg_test_acc); evaluations come at k/2 of an epoch and once at the end
# (no duplicate), all lines carry the run id of the summary; no "loss 0.0000" before the
# first step. Error feedback: on by default with a lossy codec (topk:0.01 trains), off on
# request (with a note), and the summary says which.
set -uo pipefail
bin=${1:?usage: sim_metrics.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/simcheck.sh"
small=(--agents 4 --topology ring --train-subset 4000 --test-subset 1000 --threads 1)

# 125 steps per epoch; 2 epochs; evaluations due at steps 63, 125, 188, then the final at 250
run m --epochs 2 --metrics "$tmp/m.jsonl" --progress 1000
python3 - "$tmp/m.jsonl" "$tmp/m.err" "$tmp/m.out" <<'PY' && ok "metrics and progress lines agree: $(cat "$tmp/said")" || no "metrics vs progress: $(cat "$tmp/said")"
import json, re, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
err = open(sys.argv[2]).read()
summary = json.loads(open(sys.argv[3]).read().strip().splitlines()[-1])["summary"]
said = open(sys.argv[1][:-len("m.jsonl")] + "said", "w")
shown = re.findall(r"^epoch ([0-9.]+)  avg-model acc ([0-9.]+)", err, re.M)
groups = {}
for o in lines:
    groups.setdefault(o["elapsed_s"], []).append(o)
evals = [groups[k] for k in sorted(groups)]
problems = []
if len(evals) != len(shown):
    problems.append("%d evaluations in metrics, %d progress lines" % (len(evals), len(shown)))
for g, (ep, acc) in zip(evals, shown):
    mean_epoch = sum(o["step"] for o in g) / len(g) / 125
    if "%.2f" % mean_epoch != ep:
        problems.append("progress says epoch %s, metrics steps %s" % (ep, [o["step"] for o in g]))
    if "%.4f" % g[0]["avg_test_acc"] != acc:
        problems.append("progress says acc %s, metrics %s" % (acc, g[0]["avg_test_acc"]))
    for o in g:
        if abs(o["epoch"] - o["step"] / 125) > 1e-9:
            problems.append("step %d labelled epoch %s" % (o["step"], o["epoch"]))
due = [63, 125, 188]
for g, d in zip(evals, due):
    if not all(d <= o["step"] < d + 63 for o in g):
        problems.append("evaluation due at step %d made at steps %s" % (d, [o["step"] for o in g]))
finals = [g for g in evals if any(o.get("final") for o in g)]
if len(finals) != 1 or finals[0] is not evals[-1] or any(o["step"] != 250 for o in finals[0]):
    problems.append("final evaluations: %s" % [[(o["step"], o.get("final")) for o in g] for g in finals])
epochs = ["%.2f" % (sum(o["step"] for o in g) / len(g) / 125) for g in evals]
if len(set(epochs)) != len(epochs):
    problems.append("duplicate evaluations at epochs %s" % epochs)
if {o.get("run") for o in lines} != {summary.get("run")} or not summary.get("run"):
    problems.append("run ids %s, summary %s" % ({o.get("run") for o in lines}, summary.get("run")))
if any(o.get("eval_rows") != 1000 for o in lines if o.get("final")):
    problems.append("the final evaluation is not on every test row")
if summary["test_acc"] != evals[-1][0]["avg_test_acc"]:
    problems.append("summary test_acc %s is not the final evaluation's" % summary["test_acc"])
if re.search(r"loss 0\.0000", err):
    problems.append("a progress line shows loss 0.0000")
said.write("; ".join(problems) if problems else "%d evaluations at epochs %s, final once, run %s" % (len(evals), epochs, summary["run"]))
sys.exit(1 if problems else 0)
PY

# Error feedback: the safe choice is the default with a lossy codec.
run topk --epochs 1 --codec topk:0.01 --quiet
check "topk:0.01 without asking: error feedback on ({error_feedback}), test_acc {test_acc}" \
    's["error_feedback"] is True and s["test_acc"] > 0.6' topk
run noef --epochs 1 --codec topk:0.01 --error-feedback=false --quiet
check "topk:0.01 --error-feedback=false: off ({error_feedback}) and said so" 's["error_feedback"] is False' noef
grep -q "without error feedback" "$tmp/noef.err" && ok "--error-feedback=false with a lossy codec: a note on stderr" \
    || no "no note: $(cat "$tmp/noef.err")"
run fp32 --epochs 1 --quiet
check "fp32: no error feedback ({error_feedback})" 's["error_feedback"] is False' fp32
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
