#!/usr/bin/env bash
# Integration test of `meshdl sim --checkpoint/--resume` (and `agent --resume` refused):
# sim writes the averaged model at the end and on SIGINT; `train --resume` of it
# evaluates to exactly sim's averaged-model accuracy; `sim --resume` starts every agent
# from it (with nothing left to train the agents agree exactly, and the accuracy is the
# same) and trains on from its step; bad checkpoints exit 2 with one line.
set -uo pipefail
bin=${1:?usage: sim_checkpoint.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
tmp=$(mktemp -d); pid=""; trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/simcheck.sh"
# 4 agents x batch 8 = a global batch of 32: 125 steps per epoch over 4000 rows, as train
# with --batch 32 on the same rows
small=(--agents 4 --topology ring --train-subset 4000 --test-subset 1000 --threads 1 --quiet)
ck=$tmp/avg.ckpt

run first --epochs 1 --checkpoint "$ck"
[ -s "$ck" ] && ok "sim --checkpoint wrote $(stat -c %s "$ck") bytes at the end" || no "no checkpoint file"
check "the summary names the checkpoint and the run ({steps} steps, test_acc {test_acc})" \
    's["checkpoint"].endswith("avg.ckpt") and s["steps"] == 125 and len(s["run"]) == 16' first

# train --resume of the averaged model, nothing left to train at --epochs 1: its evaluation
# is sim's averaged model's, float for float
"$bin" train --resume "$ck" --epochs 1 --batch 32 --train-subset 4000 --test-subset 1000 --threads 1 --quiet \
    >"$tmp/tr.out" 2>"$tmp/tr.err"; rc=$?
[ $rc -eq 0 ] && ok "train --resume of sim's checkpoint exits 0" || no "train --resume: exit $rc $(tail -2 "$tmp/tr.err")"
check "train --resume evaluates the averaged model: test_acc {test_acc} == sim's, at step {steps}" \
    's["test_acc"] == first["test_acc"] and s["test_loss"] == first["test_loss"] and s["steps"] == 125' tr first

# sim --resume with nothing left: every agent holds the checkpoint's model
run again --epochs 1 --resume "$ck"
check "sim --resume, no step left: consensus distance {consensus_distance}, test_acc {test_acc} == the checkpoint's" \
    's["consensus_distance"] == 0 and s["test_acc"] == first["test_acc"] == s["test_acc_min"] and s["resumed_step"] == 125' again first
# and it trains on from there: 125 more steps (a second epoch), better than at the start
run more --epochs 2 --resume "$ck" --checkpoint "$tmp/more.ckpt"
check "sim --resume --epochs 2 trains steps 125..250 (steps {steps}, test_acc {test_acc})" \
    's["steps"] == 250 and s["resumed_step"] == 125 and s["test_acc"] > 0.7' more

# SIGINT: the run stops, the averaged model of the moment is written, exit 130
"$bin" sim "${small[@]}" --epochs 200 --checkpoint "$tmp/int.ckpt" --metrics "$tmp/int.jsonl" >"$tmp/int.out" 2>"$tmp/int.err" &
pid=$!
for _ in $(seq 600); do [ -s "$tmp/int.jsonl" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -INT $pid; wait $pid; rc=$?; pid=""
[ $rc -eq 130 ] && [ -s "$tmp/int.ckpt" ] && ok "SIGINT: exit 130 and a checkpoint" || no "SIGINT: exit $rc, checkpoint $(ls -s "$tmp/int.ckpt" 2>&1)"
check "SIGINT: summary status {status}, stopped at step {steps}" 's["status"] == "interrupted" and 0 < s["steps"] < 125 * 200' int
"$bin" train --resume "$tmp/int.ckpt" --epochs 1 --batch 32 --train-subset 4000 --test-subset 1000 --threads 1 --quiet \
    >"$tmp/tri.out" 2>/dev/null && ok "train --resume loads the checkpoint written on SIGINT" || no "train --resume of the SIGINT checkpoint"

# Bad input: one line, exit 2.
one_line() {  # one_line DESCRIPTION PATTERN ARGS...
    local what=$1 pat=$2; shift 2
    err=$("$@" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q -- "$pat" && ok "$what refused: $err" \
        || no "$what -> rc=$rc '$err'"
}
one_line "sim --resume of a missing file" "cannot resume" "$bin" sim "${small[@]}" --resume "$tmp/none.ckpt"
one_line "sim --resume with another --model" "use the --model" "$bin" sim "${small[@]}" --resume "$ck" --model mlp:784-32-10
one_line "agent --resume (not for agents yet)" "resume" "$bin" agent --peers tcp://127.0.0.1:9 --resume "$ck"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
