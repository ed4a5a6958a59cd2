#!/usr/bin/env bash
# Integration test of `meshdl train` through its command line: a short real run on a
# Fashion-MNIST subset learns well above chance; metrics, checkpoint and resume work;
# bad input exits 2 with a message; a diverging run exits 3 and keeps the last good
# checkpoint untouched.
set -uo pipefail
bin=${1:?usage: train_cli.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["summary"][sys.argv[1]])' "$1"; }

small=(--train-subset 6000 --test-subset 2000 --threads 1 --quiet)
out=$("$bin" train "${small[@]}" --epochs 2 --metrics "$tmp/m.jsonl" --checkpoint "$tmp/ck" 2>"$tmp/err"); rc=$?
[ $rc -eq 0 ] && ok "short run exits 0" || { no "short run exit $rc: $(cat "$tmp/err")"; }
acc=$(echo "$out" | field test_acc 2>/dev/null)
python3 -c "import sys; sys.exit(0 if float('${acc:-0}') > 0.70 else 1)" && ok "test_acc $acc well above chance (0.1)" || no "test_acc '$acc' <= 0.70"
[ "$(wc -l < "$tmp/m.jsonl")" -eq 2 ] && ok "one metrics line per epoch" || no "metrics lines: $(wc -l < "$tmp/m.jsonl")"
python3 - "$tmp/m.jsonl" <<'PY' && ok "metrics lines carry time, step, epoch, losses, accuracy" || no "metrics keys missing"
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert all(k in o for k in ("time", "step", "epoch", "train_loss", "test_loss", "test_acc")), o
PY
[ -s "$tmp/ck" ] && ok "checkpoint written" || no "no checkpoint"
ls "$tmp" | grep -q '\.tmp\.' && no "temporary checkpoint file left behind" || ok "no temporary files left"

# Resume: continues from the saved step (2 epochs done, ask for 3).
out=$("$bin" train "${small[@]}" --epochs 3 --resume "$tmp/ck" 2>"$tmp/err"); rc=$?
steps=$(echo "$out" | field steps 2>/dev/null)
[ $rc -eq 0 ] && [ "${steps:-0}" -eq $((3 * (6000 / 64))) ] && ok "resume continues to step $steps" || no "resume: rc=$rc steps=$steps $(cat "$tmp/err")"
# Resume with another model is refused.
"$bin" train "${small[@]}" --model mlp:784-64-10 --resume "$tmp/ck" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -q "different model" "$tmp/err" && ok "resume with another model refused" || no "resume other model: rc=$rc $(cat "$tmp/err")"
# A corrupted checkpoint is refused with a clear message.
cp "$tmp/ck" "$tmp/bad"; printf '\x55' | dd of="$tmp/bad" bs=1 seek=200 conv=notrunc 2>/dev/null
"$bin" train "${small[@]}" --resume "$tmp/bad" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && grep -qi "corrupt" "$tmp/err" && ok "corrupted checkpoint refused" || no "corrupt ckpt: rc=$rc $(cat "$tmp/err")"
head -c 100 "$tmp/ck" > "$tmp/short"
"$bin" train "${small[@]}" --resume "$tmp/short" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && ok "truncated checkpoint refused: $(head -1 "$tmp/err")" || no "truncated ckpt: rc=$rc"

# Divergence: a huge learning rate makes the loss non-finite; exit 3, checkpoint kept.
sum=$(md5sum < "$tmp/ck")
"$bin" train "${small[@]}" --lr 1000 --schedule constant --epochs 2 --checkpoint "$tmp/ck" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 3 ] && grep -q "diverged" "$tmp/err" && ok "divergence stops with exit 3" || no "divergence: rc=$rc $(cat "$tmp/err")"
[ "$(md5sum < "$tmp/ck")" = "$sum" ] && ok "last good checkpoint kept" || no "checkpoint changed by a diverged run"

# Bad input: exit 2 and one message.
mkdir -p "$tmp/trunc"; head -c 1000 $data/train-images-idx3-ubyte.gz > "$tmp/trunc/train-images-idx3-ubyte.gz"
cp $data/train-labels-idx1-ubyte.gz $data/t10k-* "$tmp/trunc/"
for args in "--model bogus:1-2" "--model mlp:100-10" "--epochs -3" "--epochs 0" "--lr abc" "--lr -1" "--batch 0" \
            "--optimizer foo" "--schedule step:2" "--data $tmp/nowhere" "--data $tmp/trunc" "--no-such-option" "--momentum 1.5"; do
  err=$("$bin" train --quiet $args 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] && [ -n "$err" ] && [ "$(echo "$err" | wc -l)" -le 2 ] && ok "'$args' refused: $err" || no "'$args' -> rc=$rc '$err'"
done
"$bin" --help | grep -q train && "$bin" train --help | grep -q -- "--checkpoint" && ok "help lists commands and options" || no "help"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
