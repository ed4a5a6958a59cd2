#!/usr/bin/env bash
# Integration test of --byzantine and --robust in `meshdl sim` (issue 16), on a small model
# so that it fits CI: 8 agents on the exponential graph, mlp:784-32-10, 2 epochs over 8000
# rows. For each attack mode of agent 0: plain gossip fails (the worst honest agent loses
# a lot against the clean run), a robust rule holds (within 5 pt of it); a state stamped
# in the future is refused by the claim checks whatever the rule; robust mixing composes
# with compression (on replicas) and costs little without an attack; bad values get one
# line and exit 2. The 2-pt goals on the full-size run are ../shared/acceptance/byzantine.
set -uo pipefail
bin=${1:?usage: sim_byzantine.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
tmp=$(mktemp -d -t adversaries-sim.XXXXXX); trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/simcheck.sh"
small=(--agents 8 --topology exp --model mlp:784-32-10 --epochs 2 --batch 8 --train-subset 8000 --test-subset 1000
       --threads 1 --quiet)

run clean
# attack: the plain run must fail (lose more than the margin), the robust one hold
attack() {
    local mode=$1 rule=$2 margin=$3
    local n=${mode//[:.-]/_}
    run "p_$n" --byzantine "0:$mode"
    run "r_$n" --byzantine "0:$mode" --robust "$rule"
    check "$mode: plain gossip, worst honest agent {test_acc_honest_min} (clean: more than $margin above)" \
        "s['test_acc_honest_min'] < clean['test_acc_min'] - $margin and s['byzantine_agents'] == 1" "p_$n" clean
    check "$mode: --robust $rule, worst honest agent {test_acc_honest_min} (within 5 pt of clean)" \
        "s['test_acc_honest_min'] >= clean['test_acc_min'] - 0.05" "r_$n" clean
}
attack scale:-10 clip 0.15
attack noise:1 clip 0.15
attack zero clip 0.15
attack stale:100 median 0.06
attack alie:10 clip 0.15

# far in the future: refused by the claim checks (every state agent 0 sends to its 3
# out-neighbours, 250 rounds: 750, less those that come after their receiver finished,
# as no round waits on agent 0: 633-750 seen, the fewer the more loaded the machine), so
# plain gossip holds. Counted over the honest agents:
# agent 0 falls more than --max-lead behind them and refuses their states in turn
run fut --byzantine 0:future:1000000 --sync-timeout 2
check "future:1000000: {rejected_by_honest} refused by honest agents, worst honest agent {test_acc_honest_min}, sync wait {sync_wait_s} s" \
    "400 <= s['rejected_by_honest'].get('step_ahead', 0) <= 750 and s['test_acc_honest_min'] >= clean['test_acc_min'] - 0.05 and s['sync_wait_s'] < 10" fut clean

# the same lie on a ring (two in-neighbours each): agent 0's neighbours must not take its
# claim for the cluster's round and jump ahead (catching up needs a majority of the
# in-neighbours; with the claim of one enough, agents 1 and 7 skipped to the end of training)
run ring_clean --topology ring
run ring_fut --topology ring --byzantine 0:future:1000
check "ring, future:1000: {steps_skipped_honest} rounds skipped by honest agents, worst honest agent {test_acc_honest_min}, {rejected_by_reason}" \
    "s['steps_skipped_honest'] == 0 and s['steps_min'] == ring_clean['steps_min'] and s['test_acc_honest_min'] >= ring_clean['test_acc_min'] - 0.03 and s['rejected_by_reason'].get('step_ahead', 0) > 0" ring_fut ring_clean

# async: the same lie on a ring is refused (the two in-neighbours' majority vouches only for
# the honest one's round), while an honest agent 8 times slower than its neighbour still
# mixes the neighbour's states however far ahead it ran (before: every state more than
# --max-staleness ahead of the straggler's own round was refused, ~225 of them here)
run ring_fut_async --topology ring --mode async --byzantine 0:future:1000
# (asynchronous runs without pacing vary by 10 pt between clean runs: the count is the check:
# agent 0 sends 250 states to each of its 2 out-neighbours, all refused, less the few that
# come after their receiver finished)
check "async ring, future:1000: worst honest agent {test_acc_honest_min}, {rejected_by_reason}" \
    "450 <= s['rejected_by_reason'].get('step_ahead', 0) <= 500 and s['test_acc_honest_min'] >= 0.5" ring_fut_async
run async_slow --agents 2 --mode async --epochs 1 --train-subset 4000 --step-ms 2 --slow 1:8 --max-staleness 20
check "async, agent 1 8x slower, --max-staleness 20: {updates_applied} states mixed, refused {rejected_by_reason}" \
    "s['rejected_by_reason'].get('step_ahead', 0) == 0 and s['updates_applied'] > 150" async_slow

# no attack: each rule costs little; with compression (replicas, top-k + error feedback)
for rule in clip trimmed:1 median; do
  run "noatt_${rule%%:*}" --robust $rule
  check "--robust $rule without an attack: worst agent {test_acc_min}" \
      "s['test_acc_min'] >= clean['test_acc_min'] - 0.03" "noatt_${rule%%:*}" clean
done
run ef_plain --codec topk:0.1 --error-feedback --byzantine 0:scale:-10
run ef_clip --codec topk:0.1 --error-feedback --byzantine 0:scale:-10 --robust clip
check "top-k 10% + error feedback, scale:-10: clip on the replicas {test_acc_honest_min} ({robust_clipped} states clipped; plain fails)" \
    "ef_plain['test_acc_honest_min'] < clean['test_acc_min'] - 0.15 and ef_clip['test_acc_honest_min'] >= clean['test_acc_min'] - 0.06 and ef_clip['robust_clipped'] > 0" ef_clip ef_plain clean
run choco_med --algo choco --codec topk:0.1 --byzantine 0:scale:-10 --robust median
check "choco top-k 10%, scale:-10, median on the public copies: worst honest agent {test_acc_honest_min}" \
    "s['test_acc_honest_min'] > 0.6" choco_med

# bad values: one line, exit 2
bad() {
    local want=$1; shift
    "$bin" sim "${small[@]}" "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"; local rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/bad.err")" -eq 1 ] && grep -q -- "$want" "$tmp/bad.err" && [ ! -s "$tmp/bad.out" ]; then
        ok "refused with one line: $*: $(cat "$tmp/bad.err")"
    else
        no "$* should exit 2 with one line naming '$want' (rc $rc): $(head -3 "$tmp/bad.err")"
    fi
}
bad "--robust 'mean'" --robust mean
bad "clip:TAU" --robust clip:-1
bad "B must be at most 1" --robust trimmed:2 --topology ring
bad "must be I:MODE" --byzantine 8:zero
bad "not one of" --byzantine 0:lie
bad "only clip" --algo adpsgd --robust median
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
