#!/usr/bin/env bash
# Integration test of `meshdl sim` through its command line: 4 agents on a ring learn
# Fashion-MNIST well above chance and reach consensus; metrics lines are complete; async
# mode, lossy codecs with error feedback and CHOCO-SGD train; injected loss, link delay and
# stragglers have the effect they claim; --stop-at-target stops early; bad input exits 2
# with one line. Small subsets and one BLAS thread keep it well under 90 s on 2 cores.
set -uo pipefail
bin=${1:?usage: sim_cli.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/lib/simcheck.sh"

small=(--agents 4 --topology ring --train-subset 8000 --test-subset 2000 --threads 1 --quiet)

# 1. The reference run: synchronous D-PSGD, fp32, 2 epochs (250 steps per epoch at batch 8).
run full --epochs 2 --metrics "$tmp/m.jsonl" --target-acc 0.5
check "averaged model test_acc {test_acc} >= 0.7 (chance 0.1)" 's["test_acc"] >= 0.7' full
check "every agent's own test_acc >= 0.6 (min {test_acc_min})" 's["test_acc_min"] >= 0.6' full
check "all agents ran all {steps} steps and saw their peers" \
    's["steps"] == s["steps_min"] == 500 and s["peers_seen"] == 3 and s["status"] == "done"' full
python3 - "$tmp/m.jsonl" <<'PY' && ok "metrics: one line per agent per evaluation with every key" || no "metrics lines"
import json, sys
keys = ("time", "step", "train_loss", "test_acc", "consensus_distance", "bytes_sent", "bytes_received",
        "updates_applied", "updates_stale", "updates_dropped", "live_peers")
evals = {}
for line in open(sys.argv[1]):
    o = json.loads(line)
    miss = [k for k in keys if not isinstance(o.get(k), (int, float))]
    assert not miss, "missing or non-numeric %s in %s" % (miss, line)
    evals.setdefault(o["elapsed_s"], []).append(o["agent"])
assert len(evals) >= 2, "only %d evaluation(s)" % len(evals)
for t, who in evals.items():
    assert sorted(who) == [0, 1, 2, 3], "evaluation at %s has agents %s" % (t, who)
PY
msg=$(python3 - "$tmp/m.jsonl" <<'PY' 2>&1
import json, sys, time
now = time.time()
ts = [json.loads(line)["time"] for line in open(sys.argv[1])]
bad = [t for t in ts if abs(t - now) > 300]
print("time %.0f but the clock said %.0f" % (bad[0], now) if bad else "")
sys.exit(1 if bad else 0)
PY
) && ok "metrics: time is the wall clock (seconds since 1970, to the second)" || no "metrics time: $msg"
python3 - "$tmp/m.jsonl" <<'PY' && ok "consensus distance falls: $(cat "$tmp/cd")" || no "consensus distance: $(cat "$tmp/cd")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
first, last = lines[0]["consensus_distance"], lines[-1]["consensus_distance"]
open(sys.argv[1][:-len("m.jsonl")] + "cd", "w").write("first %g, last %g" % (first, last))
sys.exit(0 if last < first else 1)
PY
check "--target-acc without --stop-at-target: time_to_target_s {time_to_target_s} reported, run goes on" \
    'isinstance(s["time_to_target_s"], (int, float)) and s["steps"] == 500' full

# 2. --stop-at-target stops the run once the averaged model reaches the target.
run target --epochs 2 --target-acc 0.5 --stop-at-target
check "--stop-at-target: time_to_target_s {time_to_target_s}, stopped at step {steps} of 500" \
    'isinstance(s["time_to_target_s"], (int, float)) and s["steps"] < full["steps"] and s["test_acc"] >= 0.5' target full

# 3. Asynchronous gossip and lossy codecs with error feedback.
run asyn --epochs 1 --mode async
check "async mode trains: test_acc {test_acc}, min {test_acc_min}, sync_wait_s {sync_wait_s}" \
    's["test_acc"] > 0.6 and s["test_acc_min"] > 0.6 and s["sync_wait_s"] == 0 and s["mode"] == "async"' asyn
run q8 --epochs 1 --codec q8 --error-feedback
check "q8 + error feedback trains: test_acc {test_acc}" 's["test_acc"] > 0.6 and s["test_acc_min"] > 0.6' q8
run topk --epochs 2 --codec topk:0.05 --error-feedback
check "topk:0.05 + error feedback trains: test_acc {test_acc}" 's["test_acc"] > 0.6 and s["test_acc_min"] > 0.6' topk
check "topk:0.05 sends >= 10x fewer bytes than fp32 in the same run ({bytes_sent} bytes)" \
    'full["bytes_sent"] >= 10 * s["bytes_sent"] > 0' topk full

# 4. Injections.
# Injected loss: async, so a lost update costs nothing but its information. At least a
# tenth of the received updates must be counted as dropped (the injection drops a fifth).
run drop --epochs 1 --mode async --drop 0.2
check "--drop 0.2: {updates_dropped} updates dropped, still trains (test_acc {test_acc})" \
    's["updates_dropped"] > 0 and s["updates_dropped"] >= 0.1 * s["bytes_received"] / (4 * s["params"]) and s["updates_dropped"] > asyn["updates_dropped"] and s["test_acc"] > 0.6' drop asyn
# Link delay: in sync mode a round cannot end before the neighbours' states of the previous
# one arrived, so the run lasts at least steps x delay. A small model keeps the step much
# shorter than the delay, so the bound tells a delayed run from an undelayed one.
run delay --epochs 1 --model mlp:784-32-10 --delay-ms 5
check "--delay-ms 5 (sync): wall_s {wall_s} >= 250 steps x 5 ms, trains (test_acc {test_acc})" \
    's["wall_s"] >= s["steps"] * 0.005 and s["steps"] == 250 and s["test_acc"] > 0.6' delay
# Straggler: agent 0 takes 3 x 4 ms per step; in sync mode everyone goes at its pace
# (wall_s >= 250 x 12 ms) and the other agents wait for it (about 8 ms a step, 3 of 4).
run slow --epochs 1 --slow 0:3 --step-ms 4
check "--slow 0:3 (sync): the straggler sets the pace (wall_s {wall_s} >= 3 s) and the others wait (sync_wait_s {sync_wait_s})" \
    's["wall_s"] >= s["steps"] * 0.012 and s["sync_wait_s"] >= 0.25 * s["steps"] * 0.008' slow
# CHOCO-SGD over top-k differences with loss: a gap invalidates the receiver's replica of
# the sender, which asks for a keyframe. With --keyframe-every 0 only the first keyframe to
# each neighbour (4 agents x 2) is sent unless gaps are resynchronised.
run choco --epochs 1 --mode async --algo choco --codec topk:0.05 --gamma 0.05 --drop 0.1 --keyframe-every 0
check "choco + topk:0.05 + --drop 0.1: {keyframes_sent} keyframes (> 8 initial: gaps resynced), test_acc {test_acc}" \
    's["keyframes_sent"] > 8 and s["test_acc"] > 0.5 and s["algo"] == "choco"' choco

# Final merge (Zhu et al.): one exact average over all live peers at the end, retried until
# acknowledged, so it is exact even with a fifth of the messages lost: every agent ends with
# the same vector (consensus distance exactly 0) and all report a merge with the 3 others.
run merge --epochs 1 --mode async --final-merge --drop 0.2
check "--final-merge --drop 0.2: consensus distance {consensus_distance}, {merged_agents} of 4 agents merged with all peers" \
    's["consensus_distance"] == 0 and s["merged_agents"] == 4 and s["test_acc"] == s["test_acc_min"]' merge
# --gossip-steps 2 doubles the gossip traffic of a run.
run base --epochs 1
run gs2 --epochs 1 --gossip-steps 2
check "--gossip-steps 2: {bytes_sent} bytes, twice the single-round run's" \
    'abs(s["bytes_sent"] / base["bytes_sent"] - 2.0) < 0.05' gs2 base

# --dense-window: the complete graph (3 neighbours of 4) for a quarter epoch instead of the
# ring (2): 1 + 0.25 x (3/2 - 1) = 1.125 times the bytes of the plain run.
run dense --epochs 1 --dense-window 0.5:0.25
check "--dense-window 0.5:0.25: {bytes_sent} bytes, 1.125 times the ring-only run's" \
    'abs(s["bytes_sent"] / base["bytes_sent"] - 1.125) < 0.02' dense base

# Consensus control (Kong et al.): extra gossip rounds, up to 4 per step, while an agent's
# disagreement estimate is above the target, by default only before the first lr decay
# (the first half of a cosine schedule). A target no estimate reaches adds nothing; one
# every estimate exceeds adds 3 rounds per step in phase 1 (4 in all phases with ,all), and
# then the agents stay closer together than without control.
run cchigh --epochs 1 --consensus-control 1e9
check "--consensus-control 1e9: {gossip_rounds_per_step} rounds per step (no extra round)" \
    's["gossip_rounds_per_step"] == 1' cchigh
run cclow --epochs 1 --consensus-control 1e-9
check "--consensus-control 1e-9: {gossip_rounds_per_step} rounds per step (4 in phase 1, 1 after)" \
    '2.2 <= s["gossip_rounds_per_step"] <= 2.8' cclow
run ccall --epochs 1 --consensus-control 1e-9,all --metrics "$tmp/cc.jsonl"
check "--consensus-control 1e-9,all: {gossip_rounds_per_step} rounds per step" \
    's["gossip_rounds_per_step"] > 3.9' ccall
run ccoff --epochs 1 --metrics "$tmp/nocc.jsonl"
python3 - "$tmp/cc.jsonl" "$tmp/nocc.jsonl" <<'PY' && ok "consensus control lowers the mid-training consensus distance" || no "consensus control did not lower the consensus distance"
import json, sys
first = lambda f: json.loads(open(f).readline())["consensus_distance"]
cc, nocc = first(sys.argv[1]), first(sys.argv[2])
print("  consensus distance at the first evaluation: %.3g with control (,all), %.3g without" % (cc, nocc))
sys.exit(0 if cc < 0.9 * nocc else 1)  # CI saw 0.80 of it (one run), earlier runs < 0.7
PY

# 5. Bad input: exit 2 and one line on stderr, before any data is loaded or thread started.
for args in "--agents 0" "--topology bogus" "--algo bogus" "--mode maybe" "--codec topk:zz" "--partition dirichlet:-1" \
            "--slow 9:2" "--slow 0:0.5" "--gamma 0" "--drop 2" "--delay-ms -1" "--no-such-option" "--gossip-steps 0" \
            "--consensus-scale 2" "--consensus-scale lr:0" "--consensus-control 0" "--consensus-control x" \
            "--consensus-control 1,some" "--dense-window 1" "--dense-window 0:0" "--delta -1" "--check-every 0" \
            "--algo dynavg --codec q8" "--algo dynavg --gossip-steps 2" "--degree-target 1" \
            "--adaptive-degree --degree-target 0" "--adaptive-degree --algo dynavg" "--gamma-max 0" "--gamma-max 1.5" "--adaptive-degree --verify-replicas" \
            "--consensus-control 1 --adaptive-degree"; do
    err=$("$bin" sim --agents 4 --quiet $args 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] && [ -n "$err" ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && ok "'$args' refused: $err" || no "'$args' -> rc=$rc '$err'"
done
err=$(MESHDL_MODE=bogus "$bin" sim --agents 4 --quiet 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && echo "$err" | grep -q bogus && ok "MESHDL_MODE=bogus refused: $err" || no "MESHDL_MODE=bogus -> rc=$rc '$err'"
# --config: a zconfig file of options; the command line wins over it; bad files refused.
printf 'agents = 3\ntopology = complete\nepochs = 1\ntrain-subset = 3000\ntest-subset = 1000\nthreads = 1\nquiet = true\n' > "$tmp/run.cfg"
out=$("$bin" sim --config "$tmp/run.cfg" --topology ring 2>/dev/null | tail -1)
python3 -c 'import json,sys; s=json.loads(sys.argv[1])["summary"]; sys.exit(0 if s["agents"]==3 and s["topology"]=="ring" else 1)' "$out" 2>/dev/null \
    && ok "--config sets options (3 agents from the file, ring from the command line)" || no "--config: $out"
printf 'no-such-key = 1\n' > "$tmp/bad.cfg"
for cfg in "$tmp/bad.cfg" "$tmp/missing.cfg"; do
    err=$("$bin" sim --config "$cfg" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && ok "--config $(basename "$cfg") refused: $err" || no "--config $cfg -> rc=$rc '$err'"
done
# an agent that fails under --quiet: its own log lines are hidden, the last line says why
err=$("$bin" sim --agents 2 --epochs 1 --train-subset 500 --test-subset 100 --lr 1000 --quiet 2>&1 >/dev/null); rc=$?
[ $rc -eq 3 ] && grep -q "stopped on an error (agent [0-9]* at step [0-9]*: .*NaN" <<<"$err" \
    && ok "a failed agent under --quiet: rc 3, $err" || no "failed agent under --quiet: rc=$rc '$err'"
help=$("$bin" sim --help 2>&1)
grep -q -- "--slow" <<<"$help" && grep -q -- "--drop" <<<"$help" && ok "sim --help lists the injections" || no "sim --help"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
