#!/usr/bin/env bash
# `meshdl agent --checkpoint-every` and `--resume` (issue 15), one agent on loopback:
#   1. for each algorithm with a state of its own (momentum buffers, trackers, a
#      reference), an agent stopped after one epoch and resumed from its checkpoint ends
#      with the same checkpoint, byte for byte, as one that trained straight through: the
#      parameters, the optimizer, the data position and the algorithm's state all came back;
#   2. --checkpoint-every N leaves a checkpoint at step N, 2N, ... while training, and the
#      summary and the metrics say where a run started (start_from, start_step);
#   3. a checkpoint of another model or algorithm, or a damaged one, is refused with one
#      line and exit 2, before anything is written.
set -uo pipefail
bin=${1:?usage: agent_resume.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent_resume.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/agentnet.sh"
field() { summary_field "$@"; }
# An agent alone (its static peer never answers): training is then deterministic. No
# peer can give it a snapshot either (--bootstrap none: no wait for one to appear).
run() { "$bin" agent --peers tcp://127.0.0.1:9 --bootstrap none --shard 0/4 --train-subset 2000 --test-subset 200 --batch 16 --threads 1 \
          --schedule constant --quiet "$@"; }

# --- 1: resumed == straight through, byte for byte ---------------------------------------
for algo in qgm decentlam "dsgt --optimizer sgd" adagossip "dynavg --delta 0.5 --check-every 5"; do
  name=${algo%% *}
  run --algo $algo --epochs 2 --checkpoint "$tmp/$name.straight" >"$tmp/$name.o1" 2>"$tmp/$name.e1" || no "$name: straight run failed: $(tail -1 "$tmp/$name.e1")"
  run --algo $algo --epochs 1 --checkpoint "$tmp/$name.half" >/dev/null 2>"$tmp/$name.e2" || no "$name: first half failed"
  run --algo $algo --epochs 2 --checkpoint "$tmp/$name.resumed" --resume "$tmp/$name.half" >"$tmp/$name.o3" 2>"$tmp/$name.e3" \
    || no "$name: resumed run failed: $(tail -1 "$tmp/$name.e3")"
  if cmp -s "$tmp/$name.straight" "$tmp/$name.resumed"; then
    ok "$name: stopped after an epoch and resumed, its final checkpoint is byte for byte the straight run's"
  else
    no "$name: the resumed run's checkpoint differs from the straight run's ($(cmp "$tmp/$name.straight" "$tmp/$name.resumed" 2>&1 | head -1))"
  fi
  [ "$(field "$tmp/$name.o3" start_from)" = checkpoint ] && [ "$(field "$tmp/$name.o3" start_step)" = 31 ] \
    && ok "$name: the resumed summary says start_from checkpoint, start_step 31" \
    || no "$name: resumed summary: start_from '$(field "$tmp/$name.o3" start_from)', start_step '$(field "$tmp/$name.o3" start_step)'"
done

# --- 2: periodic checkpoints, start_from in summary and metrics ---------------------------
mkdir -p "$tmp/res"
run --epochs 2 --results "$tmp/res" --checkpoint-every 10 >"$tmp/p.out" 2>"$tmp/p.err"; rc=$?
d=$(ls -d "$tmp"/res/*/ | head -1)
# (a slow disk or a loaded machine may drop a waiting image for a newer one: counted)
nw=$(field "$tmp/p.out" checkpoints); nr=$(field "$tmp/p.out" checkpoints_replaced)
[ $rc = 0 ] && [ "$(( ${nw:-0} + ${nr:-0} ))" = 7 ] && [ "${nw:-0}" -ge 1 ] && [ -s "$d/checkpoint.ckpt" ] \
  && ok "--checkpoint-every 10 over 62 steps: 6 periodic checkpoints and the final one ($nw written, $nr replaced by a newer one)" \
  || no "--checkpoint-every: rc $rc, checkpoints '$nw' written + '$nr' replaced, not 7"
[ "$(field "$tmp/p.out" start_from)" = init ] && grep -q '"start_from": "init", "start_step": 0' "$d/metrics.jsonl" \
  && ok "a fresh run says start_from init in its summary and metrics" || no "start_from of a fresh run: $(tail -1 "$tmp/p.out" | cut -c1-200)"
ls "$d" | grep -q '\.tmp\.' && no "a temporary checkpoint file was left behind" || ok "no temporary files left"

# --- 3: refusals -------------------------------------------------------------------------
ck=$tmp/qgm.half
refuse() { # refuse WHAT PATTERN ARGS...
  local what=$1 pat=$2; shift 2
  mkdir -p "$tmp/r3"; rm -rf "$tmp/r3"/*
  run --epochs 1 --results "$tmp/r3" "$@" >"$tmp/r.out" 2>"$tmp/r.err"; local rc=$?
  if [ $rc = 2 ] && [ "$(wc -l <"$tmp/r.err")" = 1 ] && grep -q "$pat" "$tmp/r.err" && [ -z "$(ls "$tmp/r3")" ]; then
    ok "$what: exit 2, one line: $(cat "$tmp/r.err")"
  else
    no "$what: rc $rc, $(wc -l <"$tmp/r.err") lines: $(head -3 "$tmp/r.err")"
  fi
}
refuse "a checkpoint of another algorithm" "written for --algo qgm, not --algo dpsgd" --resume "$ck"
refuse "a checkpoint of another model" "written for model mlp:784-256-128-10, not mlp:784-64-10" --algo qgm --model mlp:784-64-10 --resume "$ck"
refuse "a checkpoint of another optimizer's state" "optimizer state" --optimizer adam --resume "$d/checkpoint.ckpt"
head -c 5000 "$ck" > "$tmp/trunc"
refuse "a truncated checkpoint" "truncated or corrupted" --algo qgm --resume "$tmp/trunc"
refuse "a missing checkpoint" "no such file" --algo qgm --resume "$tmp/nothing"
run --epochs 1 --checkpoint-every 5 >"$tmp/r.out" 2>"$tmp/r.err"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$tmp/r.err")" = 1 ] && grep -q "needs a place" "$tmp/r.err" \
  && ok "--checkpoint-every without --results or --checkpoint: exit 2, one line: $(cat "$tmp/r.err")" \
  || no "--checkpoint-every without a place: rc $rc: $(head -2 "$tmp/r.err")"
refuse "--bootstrap with a bad value" "peer or none" --bootstrap maybe

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
