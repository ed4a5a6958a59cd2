#!/usr/bin/env bash
# A finished agent stays for its peers (--linger), on loopback (no root):
#   1. three agents train; one is killed mid-run. The two survivors finish, say FIN and
#      stay (a peer vanished without a goodbye: it may come back). The killed one restarts
#      fresh: it finds its --min-peers among them, starts from the snapshot of a finished
#      peer at its last step (start_from "peer:<id>"), and once it has finished too the
#      survivors leave well before --linger ran out; `meshdl status` calls a lingering
#      agent healthy. With --linger 0 the survivors are gone and the restart exits 3.
#   2. an agent that finishes first (1 epoch against 12) stays while its neighbour trains on,
#      out of that neighbour's rounds: the neighbour takes its remaining steps without
#      waiting for a state that will not come (it would wait --sync-timeout per round).
#   3. a clean run: both agents finish together and leave at once (linger_s < 2).
set -uo pipefail
bin=${1:?usage: agent_linger.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset ZSYS_INTERFACE
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent_linger.XXXXXX")
pids=()
trap "for p in \"\${pids[@]}\"; do kill -9 \$p 2>/dev/null; done; wait 2>/dev/null; [ -n \"\${KEEP:-}\" ] || rm -rf \"\$tmp\"" EXIT
. "$(dirname "$0")/lib/agentnet.sh"
field() { summary_field "$@"; }
at_least() { [ "$(step_of "$1")" -ge "$2" ]; }
state_is() { python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])).get("state") != sys.argv[2])' "$1" "$2" 2>/dev/null; }
small=(--model mlp:784-64-10 --train-subset 30000 --test-subset 500 --batch 8 --threads 1 --quiet --schedule constant)
# 10000 rows (a third each) of batch 8: 1250 steps an epoch, 1-2 ms each in a pair

# --- 1: a killed agent restarts after the others finished ---------------------------------
# killed LINGER: agents 0-2 train; 2 is killed at step 1000 and restarted fresh once 0 has
# finished (with --linger 0, once 0 has exited)
killed() {
  local name=$1 linger=$2 d=$tmp/$1
  read -r -a ports <<<"$(free_ports 3)"
  pids=(); mkdir -p "$d"
  for i in 0 1 2; do
    timeout --foreground -k 5 300 "$bin" agent --port "${ports[$i]}" --peers "$(peers_of $i "${ports[@]}")" --shard $i/3 \
      --min-peers 2 --epochs 6 --linger "$linger" --status "$d/s$i.json" "${small[@]}" >"$d/o$i" 2>"$d/e$i" &
    pids+=($!)
  done
  wait_for 120 at_least "$d/s0.json" 1000 || echo "# agent 0 did not reach step 1000"
  pkill -9 -P "${pids[2]}"; wait "${pids[2]}" 2>/dev/null # the agent under timeout(1): no goodbye
  if [ "$linger" = 0 ]; then
    wait "${pids[0]}"; wait "${pids[1]}"
  else
    wait_for 120 state_is "$d/s0.json" lingering || echo "# agent 0 never said it lingers"
    "$bin" status "$d/s0.json" >"$d/status0" 2>&1; echo "rc=$?" >>"$d/status0"
  fi
  timeout --foreground -k 5 300 "$bin" agent --port "${ports[2]}" --peers "$(peers_of 2 "${ports[@]}")" --shard 2/3 \
    --min-peers 2 --min-peers-timeout 8 --epochs 6 --linger "$linger" --status "$d/s2.json" "${small[@]}" \
    >"$d/o2b" 2>"$d/e2b" &
  pids[2]=$!
  rcs=""; for p in "${pids[@]}"; do wait "$p"; rcs="$rcs $?"; done
  pids=()
}

killed linger 30
d=$tmp/linger
[ "$rcs" = " 0 0 0" ] && ok "all three exit 0 (the restart among them)" || no "exit codes:$rcs ($(tail -1 "$d/e2b"))"
from=$(field "$d/o2b" start_from); st=$(field "$d/o2b" start_step); total=$(field "$d/o0" steps)
case "$from" in
  peer:*) [ "${st:-0}" = "$total" ] && ok "the restart started from a finished peer's snapshot: $from at step $st" \
            || no "start_step $st, the peers ended at $total" ;;
  *) no "the restart's start_from is '$from': $(grep bootstrap "$d/e2b")" ;;
esac
grep -q "finished training: staying up to 30 s (--linger) while a peer that vanished may come back" "$d/e0" \
  && ok "the survivor says why it stays: $(grep -o 'finished training: staying.*' "$d/e0")" || no "no linger line: $(grep -i linger "$d/e0")"
grep -q "^healthy: agent .* finished training at step $total, staying for its peers" "$d/status0" \
  && grep -q "rc=0" "$d/status0" && ok "meshdl status: $(head -1 "$d/status0" | cut -c1-100)" || no "status: $(cat "$d/status0")"
for i in 0 1; do
  l=$(field "$d/o$i" linger_s)
  awk -v l="$l" 'BEGIN { exit !(l != "" && l + 0 > 0 && l + 0 < 25) }' \
    && grep -q "leaving after .* every live peer finished" "$d/e$i" \
    && ok "agent $i left $l s after its last step, once the restart had finished" \
    || no "agent $i linger_s '$l': $(grep -i "leaving" "$d/e$i")"
done
a0=$(field "$d/o0" test_acc); a2=$(field "$d/o2b" test_acc)
awk -v a="$a2" -v b="$a0" 'BEGIN { exit !(a != "" && b != "" && a + 0 >= b - 0.01) }' \
  && ok "the restart ends within 1 pt of a survivor ($a2 vs $a0)" || no "the restart ends at $a2, a survivor at $a0"

killed gone 0
d=$tmp/gone
case "$rcs" in
  " 0 0 3") ok "with --linger 0 the survivors are gone and the restart exits 3: $(grep -o 'only .*' "$d/e2b" | head -1)" ;;
  *) no "with --linger 0: exit codes$rcs" ;;
esac

# --- 2: one finishes first; its neighbour trains on without waiting for it ---------------
read -r -a ports <<<"$(free_ports 2)"
d=$tmp/first; mkdir -p "$d"; pids=()
for i in 0 1; do
  timeout --foreground -k 5 300 "$bin" agent --port "${ports[$i]}" --peers "$(peers_of $i "${ports[@]}")" --shard $i/3 \
    --min-peers 1 --epochs $((1 + 11 * i)) --linger 60 --sync-timeout 5 "${small[@]}" >"$d/o$i" 2>"$d/e$i" &
  pids+=($!)
done
rcs=""; for p in "${pids[@]}"; do wait "$p"; rcs="$rcs $?"; done; pids=()
[ "$rcs" = " 0 0" ] && ok "both exit 0" || no "exit codes:$rcs"
s0=$(field "$d/o0" steps); s1=$(field "$d/o1" steps); w1=$(field "$d/o1" sync_wait_s); l0=$(field "$d/o0" linger_s)
[ -n "$s0" ] && [ "${s1:-0}" -eq $((12 * s0)) ] && ok "agent 1 took all its $s1 steps, agent 0 its $s0" || no "steps $s0 and $s1"
# waiting out --sync-timeout once per remaining round would take 11 x s0 x 5 s
awk -v w="$w1" 'BEGIN { exit !(w != "" && w + 0 < 5) }' \
  && ok "agent 1 waited $w1 s in all for its rounds (not once per round for a finished peer)" \
  || no "agent 1 waited $w1 s in its rounds"
grep -q "finished training: staying up to 60 s (--linger) while peers still train" "$d/e0" \
  && awk -v l="$l0" 'BEGIN { exit !(l + 0 > 0.3 && l + 0 < 55) }' \
  && ok "agent 0 stayed $l0 s, until agent 1 finished" || no "agent 0 linger_s '$l0': $(grep -i linger "$d/e0")"

# --- 3: a clean run ends at once ---------------------------------------------------------
read -r -a ports <<<"$(free_ports 2)"
d=$tmp/clean; mkdir -p "$d"; pids=()
for i in 0 1; do
  timeout --foreground -k 5 300 "$bin" agent --port "${ports[$i]}" --peers "$(peers_of $i "${ports[@]}")" --shard $i/2 \
    --min-peers 1 --epochs 1 "${small[@]}" >"$d/o$i" 2>"$d/e$i" &
  pids+=($!)
done
rcs=""; for p in "${pids[@]}"; do wait "$p"; rcs="$rcs $?"; done; pids=()
l0=$(field "$d/o0" linger_s); l1=$(field "$d/o1" linger_s)
[ "$rcs" = " 0 0" ] && awk -v a="$l0" -v b="$l1" 'BEGIN { exit !(a != "" && b != "" && a + 0 < 2 && b + 0 < 2) }' \
  && ok "a clean run: both leave at once (linger_s $l0, $l1; default --linger 10)" || no "exit codes$rcs, linger_s $l0 $l1"

echo "# $pass passed, $fail failed"
[ $fail -eq 0 ]
