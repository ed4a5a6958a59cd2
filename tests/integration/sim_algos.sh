#!/usr/bin/env bash
# Integration test of the communication-efficient algorithms of `meshdl sim` (issue 6),
# each through its defining property: CHOCO's and AdaGossip's replicas stay bit-identical
# to the senders' copies under injected loss (--verify-replicas: every update carries the
# sender's digest); dynamic averaging sends nothing while models agree, stays exact and
# keeps identical references under loss, and is periodic averaging at delta 0; random
# graphs agree between agents; adaptive degree follows its vote. Bad input is in sim_cli.
set -uo pipefail
bin=${1:?usage: sim_algos.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/simcheck.sh"
small=(--agents 4 --topology ring --train-subset 8000 --test-subset 2000 --threads 1 --quiet)

# Replicas under loss: a gap (seen on any message of the link) invalidates the copy until a
# keyframe; a copy that were applied out of order would differ from the sender's digest.
for mode in sync async; do
  for algo in choco adagossip; do
    run "rep_${algo}_$mode" --epochs 1 --mode $mode --algo $algo --codec topk:0.05 --drop 0.2 --keyframe-every 20 --verify-replicas
    check "$algo $mode --drop 0.2: {replicas_verified} replica updates verified bit for bit, {replica_mismatches} mismatches, {resyncs} resyncs, acc {test_acc}" \
        's["replica_mismatches"] == 0 and s["replicas_verified"] > 300 and s["resyncs"] > 0 and s["test_acc"] > 0.6' "rep_${algo}_$mode"
  done
done
run dense --epochs 1

# Dynamic averaging (Kamp et al.): agents that agree send nothing; with drops the
# synchronisations stay exact and the references identical; delta 0 is periodic averaging.
run dyn0 --epochs 1 --algo dynavg --lr 0
check "dynavg with lr 0 (models agree): {global_averages} synchronisations, {bytes_sent} bytes sent (no model: {params} parameters)" \
    's["global_averages"] == 0 and s["bytes_sent"] < 4 * s["params"]' dyn0
run dyn --epochs 1 --algo dynavg --delta 1 --drop 0.2 --log "$tmp/dyn.log"
check "dynavg --delta 1 --drop 0.2: acc {test_acc} after {global_averages} synchronisations, {bytes_sent} bytes (dense gossip: more than 3x)" \
    's["test_acc"] > 0.7 and s["global_averages"] >= 2 and 3 * s["bytes_sent"] < dense["bytes_sent"]' dyn dense
grep -q "another reference\|incomplete" "$tmp/dyn.log" && no "dynavg references differed: $(grep -m1 'another reference\|incomplete' "$tmp/dyn.log")" \
    || ok "dynavg: references identical at every synchronisation (no hash mismatch, none incomplete)"
run dynp --epochs 1 --algo dynavg --delta 0 --check-every 25 --step-ms 4
# (--step-ms paces the agents to one step time; still not in lock step: one that joins a
# synchronisation early counts its next check from there, so a few more than steps / 25)
check "dynavg --delta 0 --check-every 25 is periodic averaging: {global_averages} synchronisations in {steps} steps" \
    '10 <= s["global_averages"] <= 15' dynp
# random:D is re-drawn every round from a seed all agents share: were it per agent, the
# graphs would differ and synchronous rounds would wait for messages never sent.
run rnd --epochs 1 --topology random:2 --sync-timeout 0.5
check "random:2 in sync mode: {sync_wait_s} s of waiting per agent, acc {test_acc}" \
    's["sync_wait_s"] < 20 and s["test_acc"] > 0.7' rnd
# Adaptive degree: the vote decides each period's graph the same way on every agent.
run adhi --epochs 1 --adaptive-degree --degree-target 1e-9
run adlo --epochs 1 --adaptive-degree --degree-target 1e9
check "--adaptive-degree: dense fraction {dense_round_fraction} with a target below any disagreement, acc {test_acc}" \
    's["dense_round_fraction"] == 1 and s["test_acc"] > 0.7' adhi
check "--adaptive-degree: dense fraction {dense_round_fraction} with a target above any (the first two periods only)" \
    's["dense_round_fraction"] < 0.1 and s["test_acc"] > 0.7' adlo

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
