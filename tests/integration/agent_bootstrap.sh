#!/usr/bin/env bash
# A newcomer starts from the cluster, not from scratch (issue 15), on loopback (no root):
#   1. two agents train; a third, started fresh while they are well into the run, fetches
#      the snapshot of the live peer with the highest step (--bootstrap peer, the
#      default): its summary, its metrics and its log say start_from "peer:<id>" with a
#      start_step > 0, a peer counts the snapshot it served, and 40 steps later the
#      newcomer is as good as they are (a fresh model would be far behind);
#   2. the same newcomer with --shard auto (a scale-up) starts from a peer too;
#   3. with --bootstrap none it starts from its initial model (start_from "init"), says so
#      on stderr, and still trains with the others.
set -uo pipefail
bin=${1:?usage: agent_bootstrap.sh path/to/meshdl}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset ZSYS_INTERFACE
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent_bootstrap.XXXXXX")
pids=()
trap "for p in \"\${pids[@]}\"; do kill -9 \$p 2>/dev/null; done; wait 2>/dev/null; [ -n \"\${KEEP:-}\" ] || rm -rf \"\$tmp\"" EXIT
. "$(dirname "$0")/lib/agentnet.sh"
field() { summary_field "$@"; }
# The agents are given far more epochs than they take: each scenario ends with SIGTERM
# (a clean stop: summary, exit 0) once the newcomer has trained 40 steps past its start,
# so nothing depends on how fast this machine is.
small=(--model mlp:784-64-10 --train-subset 3000 --test-subset 500 --batch 8 --epochs 100 --threads 1 --quiet
       --schedule constant --min-peers-timeout 60)
# wait_for SECONDS COMMAND...: polls COMMAND every 0.25 s; false when it never held
at_least() { [ "$(step_of "$1")" -ge "$2" ]; }

# scenario NAME NEWCOMER-OPTIONS...: agents 0 and 1 train; at step 80 agent 2 starts with
# the options; 40 steps after its first step all three are stopped
scenario() {
  local name=$1; shift
  read -r -a ports <<<"$(free_ports 3)"
  pids=(); mkdir -p "$tmp/$name/res"
  for i in 0 1; do
    timeout --foreground -k 5 300 "$bin" agent --port "${ports[$i]}" --peers "$(peers_of $i "${ports[@]}")" --shard $i/3 \
      --min-peers 1 --status "$tmp/$name/s$i.json" "${small[@]}" >"$tmp/$name/o$i" 2>"$tmp/$name/e$i" &
    pids+=($!)
  done
  wait_for 120 at_least "$tmp/$name/s0.json" 80 || echo "# agent 0 did not reach step 80"
  timeout --foreground -k 5 300 "$bin" agent --port "${ports[2]}" --peers "$(peers_of 2 "${ports[@]}")" \
    --results "$tmp/$name/res" --status "$tmp/$name/s2.json" "${small[@]}" "$@" >"$tmp/$name/o2" 2>"$tmp/$name/e2" &
  pids+=($!)
  wait_for 120 grep -q "bootstrap" "$tmp/$name/e2" || echo "# the newcomer never got to its bootstrap"
  wait_for 30 at_least "$tmp/$name/s2.json" 1
  local first; first=$(step_of "$tmp/$name/s2.json")
  wait_for 120 at_least "$tmp/$name/s2.json" $(( first + 40 )) || echo "# the newcomer did not take 40 steps"
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  rcs=""; for p in "${pids[@]}"; do wait "$p"; rcs="$rcs $?"; done
  pids=()
}

# --- 1: a fresh newcomer starts from the peer with the highest step ----------------------
scenario peer --shard 2/3
d=$tmp/peer
from=$(field "$d/o2" start_from); st=$(field "$d/o2" start_step)
[ "$rcs" = " 0 0 0" ] && ok "all three exit 0" || no "exit codes:$rcs ($(tail -1 "$d/e2"))"
case "$from" in
  peer:*) [ "${st:-0}" -gt 0 ] && ok "the newcomer says start_from $from, start_step $st" \
            || no "start_step '$st' with start_from $from" ;;
  *) no "the newcomer's start_from is '$from' (start_step '$st'): $(grep bootstrap "$d/e2")" ;;
esac
peer_id=${from#peer:}
ids="$(field "$d/o0" agent) $(field "$d/o1" agent)"
case " $ids " in *" $peer_id "*) ok "the snapshot came from one of the two training agents" ;; *) no "snapshot of '$peer_id', not of $ids" ;; esac
served=$(( $(field "$d/o0" snapshots_served || echo 0) + $(field "$d/o1" snapshots_served || echo 0) ))
[ $served -ge 1 ] && ok "the peers served $served snapshot(s)" || no "the peers count no snapshot served"
grep -q "bootstrap: starting from the snapshot of peer $peer_id at step $st" "$d/e2" \
  && ok "the log says it: $(grep -o 'bootstrap: starting.*' "$d/e2" | cut -c1-120)" || no "no bootstrap line in the log: $(grep bootstrap "$d/e2")"
m=$(ls "$d"/res/*/metrics.jsonl 2>/dev/null | head -1)
[ -n "$m" ] && grep -q "\"start_from\": \"$from\", \"start_step\": $st" "$m" \
  && ok "its metrics say start_from $from" || no "metrics: $(head -c 300 "${m:-/dev/null}")"
a0=$(field "$d/o0" test_acc); a2=$(field "$d/o2" test_acc)
awk -v a="$a2" -v b="$a0" 'BEGIN { exit !(a != "" && b != "" && a + 0 >= b - 0.03) }' \
  && ok "40 steps after its start the newcomer is within 3 pt of a peer that trained from the start ($a2 vs $a0)" \
  || no "the newcomer ends at $a2, the peer at $a0"

# --- 2: a --shard auto scale-up does the same ------------------------------------------
scenario auto --shard auto --min-peers 2
from=$(field "$tmp/auto/o2" start_from)
[ "$rcs" = " 0 0 0" ] && [[ "$from" == peer:* ]] && [ "$(field "$tmp/auto/o2" start_step)" -gt 0 ] \
  && ok "a --shard auto scale-up starts from $from at step $(field "$tmp/auto/o2" start_step)" \
  || no "--shard auto newcomer: rc$rcs, start_from '$from': $(grep -E 'bootstrap|shard auto' "$tmp/auto/e2" | head -3)"

# --- 3: --bootstrap none ----------------------------------------------------------------
scenario none --shard 2/3 --bootstrap none
[ "$rcs" = " 0 0 0" ] && [ "$(field "$tmp/none/o2" start_from)" = init ] && [ "$(field "$tmp/none/o2" start_step)" = 0 ] \
  && grep -q -- "--bootstrap none: starting from the initial model" "$tmp/none/e2" \
  && ok "--bootstrap none: start_from init, start_step 0, said on stderr" \
  || no "--bootstrap none: rc$rcs, start_from '$(field "$tmp/none/o2" start_from)'"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
