#!/usr/bin/env bash
# Integration test of `meshdl agent --peers dns:NAME:PORT` on loopback (no root; the
# namespace test with several addresses per name is tests/lan/lan_dns.sh):
#   1. 3 agents find each other through the name "localhost" (127.0.0.1 here): two are
#      given the same list naming all three ports, as identical replicas would be, and
#      skip their own address; the third mixes a tcp:// entry and a dns: entry (repeated
#      --peers). Each sees 2 peers, trains well above chance, and exits 0.
#   2. a name that never resolves ends the run after --min-peers-timeout with one line
#      naming it and why, exit 3: with --min-peers (the wait says it) and without.
#   3. bad entries (dns: without a port, a port out of range, an empty entry; dns: with
#      --curve) get one line and exit 2.
set -uo pipefail
bin=${1:?usage: agent_dns.sh path/to/meshdl}
. "$(dirname "$0")/lib/agentcheck.sh"
field() { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["summary"][sys.argv[2]])' "$1" "$2" 2>/dev/null; }
getent hosts localhost | grep -q '127.0.0.1' || { echo "SKIP: 'localhost' does not resolve to 127.0.0.1 here"; exit 0; }
small=(--train-subset 6000 --test-subset 1000 --batch 16 --threads 1 --quiet)

# --- 1: three agents by name --------------------------------------------------------------
for attempt in 1 2 3; do
  read -r pa pb pc <<<"$(free_ports 3)"
  all="dns:localhost:$pa,dns:localhost:$pb,dns:localhost:$pc"
  pids=(); rm -f "$tmp"/d?.*
  "$bin" agent --port "$pa" --peers "$all" --dns-interval 0.5 --shard 0/3 --min-peers 2 --min-peers-timeout 30 --epochs 1 \
    "${small[@]}" >"$tmp/d0.out" 2>"$tmp/d0.err" & pids+=($!)
  MESHDL_PEERS="$all" "$bin" agent --port "$pb" --dns-interval 0.5 --shard 1/3 --min-peers 2 --min-peers-timeout 30 --epochs 1 \
    "${small[@]}" >"$tmp/d1.out" 2>"$tmp/d1.err" & pids+=($!)
  "$bin" agent --port "$pc" --peers "tcp://127.0.0.1:$pa" --peers "dns:localhost:$pb" --shard 2/3 --min-peers 2 \
    --min-peers-timeout 30 --epochs 1 "${small[@]}" >"$tmp/d2.out" 2>"$tmp/d2.err" & pids+=($!)
  rcs=(); for p in "${pids[@]}"; do wait "$p"; rcs+=($?); done; pids=()
  grep -qs "cannot start" "$tmp"/d?.err && [ $attempt -lt 3 ] && { echo "# a port was taken; retrying"; continue; }
  break
done
for i in 0 1 2; do
  acc=$(field "$tmp/d$i.out" test_acc); seen=$(field "$tmp/d$i.out" peers_seen)
  [ "${rcs[$i]}" = 0 ] && [ "$seen" = 2 ] && ge "$acc" 0.70 && ok "agent $i: exit 0, 2 peers by name, test_acc $acc" \
    || { no "agent $i: exit ${rcs[$i]}, peers_seen '$seen', test_acc '$acc'"; tail -5 "$tmp/d$i.err"; }
done
grep -q "dns:localhost:$pa resolves to 0 addresses besides this agent's own" "$tmp/d0.err" \
  && ok "agent 0 skips its own address: '$(grep -m1 "dns:localhost:$pa resolves" "$tmp/d0.err" | sed 's/^agent [0-9a-f]*: //')'" \
  || no "agent 0 does not say it skipped itself: $(grep -m1 "dns:localhost:$pa" "$tmp/d0.err")"
grep -q "listening to static peer tcp://127.0.0.1:$pb" "$tmp/d0.err" && grep -q "listening to static peer tcp://127.0.0.1:$pa" "$tmp/d2.err" \
  && ok "names become endpoints tcp://ADDR:PORT, beside tcp:// entries" || no "no 'listening to static peer' lines for the names"
if grep -q "listening to static peer tcp://127.0.0.1:$pa$" "$tmp/d0.err"; then no "agent 0 connected to itself"; else ok "agent 0 never connects to itself"; fi

# --- 2: a name that never resolves ----------------------------------------------------------
read -r p <<<"$(free_ports 1)"
out=$("$bin" agent --port "$p" --peers dns:no-such-agents.invalid:7000 --min-peers 1 --min-peers-timeout 2 --epochs 1 \
      "${small[@]}" 2>&1 >/dev/null); rc=$?
line=$(echo "$out" | grep -c "never resolved")
[ $rc = 3 ] && [ "$line" = 1 ] && echo "$out" | grep -q "never resolved: dns:no-such-agents.invalid:7000 (" \
  && ok "--min-peers 1, a name that never resolves: exit 3, '$(echo "$out" | grep "never resolved" | sed 's/^agent [0-9a-f]*: //')'" \
  || no "never-resolving name with --min-peers: exit $rc, '$out'"
out=$("$bin" agent --port "$p" --peers dns:no-such-agents.invalid:7000 --min-peers-timeout 2 --epochs 50 \
      "${small[@]}" 2>&1 >"$tmp/n.out"); rc=$?
[ $rc = 3 ] && [ "$(echo "$out" | grep -c "never resolved")" = 1 ] && [ "$(field "$tmp/n.out" status)" = ETIMEOUT ] \
  && ok "no --min-peers, a name that never resolves: exit 3 after the timeout, '$(echo "$out" | grep "never resolved" | sed 's/^agent [0-9a-f]*: //')'" \
  || no "never-resolving name without --min-peers: exit $rc, '$out'"

# --- 3: bad input -------------------------------------------------------------------------
mkdir -p "$tmp/res"
for spec in dns:localhost dns:localhost: dns:localhost:0 dns:localhost:65536 "dns:localhost:7000,," "dns:local host:7000"; do
  out=$("$bin" agent --peers "$spec" --epochs 1 --results "$tmp/res" "${small[@]}" 2>&1 >/dev/null); rc=$?
  [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && [ -z "$(ls -A "$tmp/res")" ] && ok "--peers '$spec': exit 2, '$out'" \
    || no "--peers '$spec': exit $rc, '$out'"
done
out=$("$bin" agent --peers dns:agents:7000 --curve --cert x --allow y --epochs 1 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && ok "--curve with dns: exit 2, '$out'" || no "--curve with dns: exit $rc, '$out'"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
