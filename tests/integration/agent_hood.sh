#!/usr/bin/env bash
# Integration test: with --peers (static endpoints, and likewise dns:), an agent learns
# that a peer lives only from the hellos it hears on its SUB connection to that peer's
# endpoint. Its links follow the neighbourhood (one-peer-exp among 6: offsets 1, 2, 4, so
# agent i+3 is no neighbour; while the agents join, every smaller view makes it one, and
# its link is released as the view grows), but the connection
# to a listed endpoint must outlive the link: were it closed with the link, the peer's
# hellos would stop, it would be declared gone after --peer-timeout and never heard of
# again (nothing reconnects a static endpoint). 6 agents on loopback, each listing the
# other 5: while all train, every agent sees 5 live peers, none leaves for silence, each
# ends with 5 connections, 5 peers seen and no readmission.
set -uo pipefail
bin=${1:?usage: agent_hood.sh path/to/meshdl}
. "$(dirname "$0")/lib/agentcheck.sh"
n=6
# status_of FILE: "STATE PEERS" of an agent's --status file ("- -" while unreadable)
status_of() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s.get("state","-"), s.get("peers","-"))' "$1" 2>/dev/null || echo "- -"; }

read -r -a ports <<<"$(free_ports $n)"
for i in $(seq 0 $((n - 1))); do
  timeout --foreground -k 5 240 "$bin" agent --port "${ports[$i]}" --peers "$(peers_of $i "${ports[@]}")" --shard $i/$n \
    --min-peers $((n - 1)) --min-peers-timeout 60 --topology one-peer-exp --peer-timeout 8 --epochs 8 --train-subset 60000 \
    --test-subset 500 --batch 16 --threads 1 --quiet --status "$tmp/s$i.json" >"$tmp/a$i.out" 2>"$tmp/a$i.err" &
  pids+=($!)
done
# sample the agents' views while all of them train (once one is done, the others see it leave)
samples=0; low=""
while :; do
  alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  row=(); all=1
  for i in $(seq 0 $((n - 1))); do
    read -r st pe <<<"$(status_of "$tmp/s$i.json")"
    [ "$st" = training ] || all=0
    row+=("$pe")
  done
  if [ $all = 1 ]; then
    samples=$((samples + 1))
    for i in $(seq 0 $((n - 1))); do [ "${row[$i]}" = $((n - 1)) ] || low="$low agent $i: ${row[$i]} peers (sample $samples);"; done
  fi
  sleep 0.1
done
for i in $(seq 0 $((n - 1))); do wait "${pids[$i]}" || echo "# agent $i exit $?"; done
pids=()
ge "$samples" 1 && ok "$samples samples taken while all $n agents trained" || no "no sample taken while all $n agents trained"
[ -z "$low" ] && ok "every agent saw $((n - 1)) live peers in every sample" || no "peers lost:$(echo "$low" | cut -c1-300)"
silent=$(grep -h "(silent for" "$tmp"/a?.err | head -3)
[ -z "$silent" ] && ok "no agent declared a peer gone for silence" || no "peers declared gone: $silent"
for i in $(seq 0 $((n - 1))); do
  o="$tmp/a$i.out"
  st=$(summary_field "$o" status); seen=$(summary_field "$o" peers_seen); re=$(summary_field "$o" readmissions)
  co=$(summary_field "$o" connections); acc=$(summary_field "$o" test_acc)
  [ "$st" = done ] && [ "$seen" = $((n - 1)) ] && [ "$re" = 0 ] && [ "$co" = $((n - 1)) ] && ge "$acc" 0.70 \
    && ok "agent $i: done, $seen peers seen, $re readmissions, $co connections, test_acc $acc" \
    || no "agent $i: status '$st', peers_seen '$seen', readmissions '$re', connections '$co', test_acc '$acc': $(tail -2 "$tmp/a$i.err")"
done
echo "$pass passed, $fail failed"
[ $fail = 0 ]
