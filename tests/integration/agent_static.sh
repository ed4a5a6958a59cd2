#!/usr/bin/env bash
# Integration test of `meshdl agent` with static discovery, on loopback only (no root):
# 3 agents given each other's endpoints (--peers tcp://127.0.0.1:P,...) find each other
# and train together well above chance; bad input exits 2 with one line; an agent that
# cannot get its --min-peers within --min-peers-timeout exits non-zero and says how
# many it got of how many; an agent waiting for peers stops cleanly on SIGTERM.
set -uo pipefail
bin=${1:?usage: agent_static.sh path/to/meshdl}
. "$(dirname "$0")/lib/agentcheck.sh"
field() { summary_field "$@"; }
small=(--train-subset 6000 --test-subset 1000 --batch 16 --threads 1 --quiet)

# --- 3 agents, static discovery over loopback -----------------------------------------
# A port taken between free_ports and the bind makes an agent fail with "address in use";
# then all 3 are stopped and started again on new ports.
for attempt in 1 2 3; do
  read -r -a ports <<<"$(free_ports 3)"
  pids=(); rm -f "$tmp"/s?.*
  for i in 0 1 2; do
    timeout --foreground -k 5 60 "$bin" agent --port "${ports[$i]}" --peers "$(peers_of $i "${ports[@]}")" --shard $i/3 \
      --min-peers 2 --min-peers-timeout 20 --epochs 1 --metrics "$tmp/s$i.jsonl" "${small[@]}" >"$tmp/s$i.out" 2>"$tmp/s$i.err" &
    pids+=($!)
  done
  retry=0
  while :; do
    alive=0; for p in "${pids[@]}"; do kill -0 $p 2>/dev/null && alive=1; done
    grep -qs "cannot start\|address in use" "$tmp"/s?.err && { retry=1; break; }
    [ $alive = 0 ] && break
    sleep 0.2
  done
  if [ $retry = 1 ] && [ $attempt -lt 3 ]; then
    for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; wait 2>/dev/null
    echo "# a port was taken ($(grep -h "cannot start\|address in use" "$tmp"/s?.err | head -1)); retrying"
    continue
  fi
  break
done
for i in 0 1 2; do
  wait "${pids[$i]}"; rc=$?
  o="$tmp/s$i.out"
  acc=$(field "$o" test_acc); seen=$(field "$o" peers_seen); rx=$(field "$o" bytes_received); st=$(field "$o" status)
  [ $rc -eq 0 ] && [ "$st" = "done" ] && ok "agent $i/3 on port ${ports[$i]} exits 0" || no "agent $i/3: exit $rc, status '$st': $(tail -3 "$tmp/s$i.err")"
  [ "$seen" = 2 ] && ok "agent $i/3 saw its 2 static peers" || no "agent $i/3: peers_seen '$seen'"
  ge "$acc" 0.70 && ok "agent $i/3 test_acc $acc well above chance (0.1)" || no "agent $i/3: test_acc '$acc' < 0.70"
  ge "$rx" 1 && ok "agent $i/3 received $rx bytes" || no "agent $i/3: bytes_received '$rx'"
  # exec to ready (startup_s) and ready to the first step (discovery_s) are reported apart
  su=$(field "$o" startup_s); di=$(field "$o" discovery_s); wa=$(field "$o" wall_s)
  awk -v s="$su" -v d="$di" -v w="$wa" 'BEGIN { exit !(s != "" && s + 0 > 0 && s + 0 < 60 && d != "" && d + 0 >= 0 && d + 0 <= w + 0) }' \
    && ok "agent $i/3 reports startup_s $su and discovery_s $di (of wall_s $wa)" \
    || no "agent $i/3: startup_s '$su', discovery_s '$di', wall_s '$wa'"
  # the CPU of the start-up, the training phase and the transport's busy time (states were
  # sent: the time some of them were on the wire), each within the run's wall time
  sc=$(field "$o" startup_cpu_s); ts=$(field "$o" train_s); wb=$(field "$o" wire_busy_s)
  awk -v c="$sc" -v t="$ts" -v b="$wb" -v w="$wa" 'BEGIN { exit !(c != "" && c + 0 > 0 && c + 0 < 60 && t != "" && t + 0 > 0 && t + 0 <= w + 0 && b != "" && b + 0 > 0 && b + 0 <= w + 0) }' \
    && ok "agent $i/3 reports startup_cpu_s $sc, train_s $ts and wire_busy_s $wb (of wall_s $wa)" \
    || no "agent $i/3: startup_cpu_s '$sc', train_s '$ts', wire_busy_s '$wb', wall_s '$wa'"
  # 2000 rows at batch 16: 125 steps; an evaluation at half an epoch (step 63) and the
  # final one, each labelled with the step it evaluated, both with the summary's run id
  msg=$(python3 - "$tmp/s$i.jsonl" "$o" <<'PY' 2>&1
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
s = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])["summary"]
got = [(o["step"], o["epoch"], o.get("final")) for o in lines]
want = [(63, 0.504, False), (125, 1.0, True)]
bad = []
if got != want: bad.append("evaluations %s, want %s" % (got, want))
if any(o.get("run") != s.get("run") for o in lines): bad.append("run ids differ from the summary's")
if lines and lines[-1]["test_acc"] != s["test_acc"]: bad.append("summary test_acc is not the final evaluation's")
missing = [k for k in ("model", "algo", "mode", "topology", "codec", "error_feedback", "batch", "run") if k not in s]
if missing: bad.append("summary lacks %s" % missing)
print("; ".join(bad) if bad else "steps %s, run %s, %s/%s/%s" % ([g[0] for g in got], s["run"], s["model"], s["algo"], s["codec"]))
sys.exit(1 if bad else 0)
PY
)
  [ $? -eq 0 ] && ok "agent $i/3 metrics: $msg" || no "agent $i/3 metrics: $msg"
done
pids=()

# --- --min-peers that cannot be met ----------------------------------------------------
# Two agents that wait for 3 peers (and never get them) are reachable; a third wants 5
# within 5 s: it must give up, non-zero, naming both numbers (2 of 5). The waits are
# generous: on a 2-core machine under a load of 30 the two took over 10 s to load their
# data, and the third saw none of them within 2 s.
read -r -a ports <<<"$(free_ports 3)"
for i in 1 2; do
  timeout --foreground -k 5 150 "$bin" agent --port "${ports[$i]}" --peers "$(peers_of $i "${ports[@]}")" --shard $i/3 \
    --min-peers 3 --min-peers-timeout 120 --epochs 1 "${small[@]}" >"$tmp/w$i.out" 2>"$tmp/w$i.err" &
  pids+=($!)
done
up() { grep -q "PUB at" "$tmp/w1.err" && grep -q "PUB at" "$tmp/w2.err"; }
for _ in $(seq 600); do up && break; sleep 0.1; done
timeout --foreground -k 5 90 "$bin" agent --port "${ports[0]}" --peers "$(peers_of 0 "${ports[@]}")" --shard 0/3 \
  --min-peers 5 --min-peers-timeout 5 --epochs 1 "${small[@]}" >"$tmp/w0.out" 2>"$tmp/w0.err"; rc=$?
msg=$(grep -- "--min-peers" "$tmp/w0.err" | head -1)
[ $rc -ne 0 ] && [ $rc -ne 124 ] && echo "$msg" | grep -Eq '\b2\b.*\b5\b' \
  && ok "--min-peers 5 with 2 reachable peers: exit $rc, '${msg#*: }'" \
  || no "--min-peers 5 with 2 reachable peers: exit $rc, message '$msg' $(tail -2 "$tmp/w0.err")"
# The two still waiting stop cleanly on SIGTERM (the summary is the last stdout line).
# (timeout --foreground passes one SIGTERM to the agent; without it, timeout signals its
# process group as well, and the agent's second signal is a hard stop by design.)
for p in "${pids[@]}"; do kill -TERM $p; done
for i in 1 2; do
  wait "${pids[$((i-1))]}"; rc=$?
  st=$(field "$tmp/w$i.out" status)
  [ $rc -eq 0 ] && [ "$st" = interrupted ] && ok "agent waiting for peers exits 0 on SIGTERM with a summary" \
    || no "agent waiting for peers: SIGTERM -> exit $rc, status '$st': $(tail -2 "$tmp/w$i.err")"
done
pids=()

# --- async pair, one agent far ahead ---------------------------------------------------
# Agent a trains alone (--min-peers 0) and b starts once a is 800 steps on, more than the
# lead b takes from a stranger (--max-staleness 500). a's first state is a jump and
# refused; its next ones come as a stream and b mixes them. Before, b refused every one of
# a's states (855 step_ahead, 0 mixed) and trained alone beside a live neighbour.
read -r -a ports <<<"$(free_ports 2)"
apair=(--mode async --bootstrap none --train-subset 6000 --test-subset 500 --batch 16 --threads 1 --quiet)
timeout --foreground -k 5 90 "$bin" agent --port "${ports[0]}" --peers "$(peers_of 0 "${ports[@]}")" --shard 0/2 \
  --min-peers 0 --epochs 80 --status "$tmp/pa.json" "${apair[@]}" >"$tmp/pa.out" 2>"$tmp/pa.err" &
pids+=($!)
ahead() { [ "$(step_of "$tmp/pa.json")" -ge 800 ]; }
if wait_for 60 ahead; then
  timeout --foreground -k 5 90 "$bin" agent --port "${ports[1]}" --peers "$(peers_of 1 "${ports[@]}")" --shard 1/2 \
    --min-peers 1 --epochs 8 "${apair[@]}" >"$tmp/pb.out" 2>"$tmp/pb.err"; rc=$?
  refused=$(python3 -c 'import json,sys; s=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["summary"]; print(s["rejected_by_reason"].get("step_ahead", 0), s["updates_applied"])' "$tmp/pb.out" 2>/dev/null)
  read -r nref napp <<<"${refused:-x x}"
  [ $rc -eq 0 ] && ge "$nref" 1 && ! ge "$nref" 4 && ge "$napp" 100 \
    && ok "async, a neighbour 800 steps ahead: $nref state(s) refused as a jump, $napp mixed" \
    || no "async, a neighbour 800 steps ahead: exit $rc, refused step_ahead ${nref:-?}, mixed ${napp:-?} (want 1-3 and >= 100): $(tail -2 "$tmp/pb.err")"
else
  no "async pair: agent a never reached step 800: $(tail -2 "$tmp/pa.err")"
fi
kill "${pids[-1]}" 2>/dev/null; wait "${pids[-1]}" 2>/dev/null; pids=()

# --- bad input: exit 2 and one line ---------------------------------------------------
peer=(--peers tcp://127.0.0.1:9)
check() {  # check DESCRIPTION [env VAR=VALUE] ARGS...
  local what=$1; shift
  err=$(timeout 30 "$@" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] && [ -n "$err" ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && ok "$what refused: $err" || no "$what -> rc=$rc '$err'"
}
check "--shard 3/3" "$bin" agent "${peer[@]}" --shard 3/3
check "--shard x" "$bin" agent "${peer[@]}" --shard x
check "no --interface or --peers" "$bin" agent --shard 0/3
check "--codec bogus" "$bin" agent "${peer[@]}" --shard 0/3 --codec bogus
check "--topology bogus" "$bin" agent "${peer[@]}" --shard 0/3 --topology bogus
check "--algo bogus" "$bin" agent "${peer[@]}" --shard 0/3 --algo bogus
check "--curve without --cert" "$bin" agent "${peer[@]}" --shard 0/3 --curve --allow "$tmp"
check "MESHDL_TOPOLOGY=bogus" env MESHDL_TOPOLOGY=bogus "$bin" agent "${peer[@]}" --shard 0/3
check "unknown MESHDL_FOO=1" env MESHDL_FOO=1 "$bin" agent "${peer[@]}" --shard 0/3
help=$("$bin" agent --help); rc=$?
[ $rc -eq 0 ] && grep -q -- "--min-peers" <<<"$help" && ok "agent --help lists its options" || no "agent --help"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
