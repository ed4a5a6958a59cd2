#!/usr/bin/env bash
# Integration test of `meshdl agent --shard auto --results DIR` and `meshdl status`, on
# loopback only (static discovery, no root): 3 identical agents rank themselves by id
# into distinct shards of 3 once --min-peers 2 is met, become healthy (meshdl status),
# one that finishes its run is reported finished (exit 0),
# stop cleanly on SIGTERM with summary, checkpoint, status and a metrics file (empty if
# no evaluation came before the signal) under DIR/<id>/; an agent
# whose --min-peers never come gives up naming both numbers and its status says so; bad
# input exits 2 with one line and writes nothing into DIR; a stale status is unhealthy.
set -uo pipefail
bin=${1:?usage: agent_auto.sh path/to/meshdl}
. "$(dirname "$0")/lib/agentcheck.sh"
field() { python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); [d := d[k] for k in sys.argv[2:]]; print(d)' "$@" 2>/dev/null; }
small=(--train-subset 3000 --test-subset 500 --batch 16 --threads 1 --quiet)

# --- 3 identical agents: --shard auto, healthy, SIGTERM ---------------------------------
R=$tmp/results; mkdir -p "$R"
read -r -a ports <<<"$(free_ports 3)"
for i in 0 1 2; do
  timeout --foreground -k 5 90 "$bin" agent --port "${ports[$i]}" --peers "$(peers_of $i "${ports[@]}")" --shard auto \
    --min-peers 2 --min-peers-timeout 30 --epochs 1000 --results "$R" "${small[@]}" >"$tmp/a$i.out" 2>"$tmp/a$i.err" &
  pids+=($!)
done
healthy=""
for _ in $(seq 150); do
  if line=$("$bin" status "$R" 2>&1) && [ "$(echo "$line" | grep -c '^healthy')" = 3 ]; then healthy=1; break; fi
  sleep 0.2
done
[ -n "$healthy" ] && ok "meshdl status DIR: all 3 healthy ($(echo "$line" | head -1))" || no "not all healthy within 30 s: $line"
for p in "${pids[@]}"; do kill -TERM $p 2>/dev/null; done
shards=""
for i in 0 1 2; do
  wait "${pids[$i]}"; rc=$?
  id=$(field "$tmp/a$i.out" summary agent); d="$R/$id"
  st=$(field "$d/summary.json" summary status); sh=$(field "$d/summary.json" summary shard); n=$(field "$d/summary.json" summary shards)
  [ $rc -eq 0 ] && [ "$st" = interrupted ] && [ -s "$d/checkpoint.ckpt" ] && [ -e "$d/metrics.jsonl" ] \
    && [ "$(field "$d/status.json" state)" = stopped ] \
    && ok "agent $id: SIGTERM -> exit 0; summary, checkpoint, metrics and status (stopped) in DIR/$id" \
    || no "agent $i: exit $rc, status '$st', state '$(field "$d/status.json" state)', files: $(ls -s "$d" 2>&1 | tr '\n' ' ') $(tail -2 "$tmp/a$i.err")"
  grep -q -- "--shard auto: rank [0-2] of 3 members by id: shard $sh/3" "$tmp/a$i.err" && ok "agent $id logs its rank and shard $sh/$n" \
    || no "agent $i: no rank line: $(grep -- --shard "$tmp/a$i.err")"
  shards="$shards $sh/$n"
done
[ "$(echo $shards | tr ' ' '\n' | sort -u | tr '\n' ' ')" = "0/3 1/3 2/3 " ] && ok "distinct shards:$shards" || no "shards:$shards"
line=$("$bin" status "$R"); rc=$?
[ $rc -eq 1 ] && echo "$line" | grep -q "unhealthy: agent [0-9a-f]* stopped" && ok "after the stop, meshdl status exits 1: $(echo "$line" | head -1)" \
  || no "meshdl status after the stop: rc $rc '$line'"
pids=()

# --- --min-peers never met -----------------------------------------------------------------
R2=$tmp/r2; mkdir -p "$R2"
read -r -a ports <<<"$(free_ports 2)"
timeout --foreground -k 5 30 "$bin" agent --port "${ports[0]}" --peers "tcp://127.0.0.1:${ports[1]}" --shard auto \
  --min-peers 2 --min-peers-timeout 2 --epochs 1 --results "$R2" "${small[@]}" >"$tmp/w.out" 2>"$tmp/w.err"; rc=$?
msg=$(grep -- "--min-peers" "$tmp/w.err" | head -1)
[ $rc -eq 3 ] && echo "$msg" | grep -q "only 0 of the 2 peers" && ok "--min-peers 2, nobody there: exit 3, '${msg#*: }'" \
  || no "--min-peers 2, nobody there: exit $rc, '$msg'"
line=$("$bin" status "$R2"); src=$?
[ $src -eq 1 ] && echo "$line" | grep -q "failed: only 0 of the 2" && ok "its status: $line" || no "its status: rc $src '$line'"
[ "$(field "$tmp/w.out" summary status)" = ETIMEOUT ] && ok "its summary says ETIMEOUT" || no "summary: $(tail -1 "$tmp/w.out")"

# --- a run that finishes: its status is "finished", exit 0 (not "unhealthy ... done") -------
R4=$tmp/r4; mkdir -p "$R4"
read -r -a ports <<<"$(free_ports 2)"
timeout --foreground -k 5 60 "$bin" agent --port "${ports[0]}" --peers "tcp://127.0.0.1:${ports[1]}" --shard 0/1 \
  --epochs 1 --results "$R4" --train-subset 300 --test-subset 100 --batch 16 --threads 1 --quiet >"$tmp/f.out" 2>"$tmp/f.err"; rc=$?
line=$("$bin" status "$R4"); src=$?
[ $rc -eq 0 ] && [ $src -eq 0 ] && echo "$line" | grep -q "^finished: agent [0-9a-f]* done at step 18" \
  && ok "after a normal finish, meshdl status DIR exits 0: $line" || no "status after a finish: run rc $rc, status rc $src '$line'"

# --- meshdl status on stale, missing and bad input -----------------------------------------
f=$(ls "$R"/*/status.json | head -1)
sed -e 's/"state": "[a-z]*"/"state": "training"/' -e 's/"time": [0-9.e+]*/"time": 1000/' "$f" >"$tmp/stale.json"
line=$("$bin" status "$tmp/stale.json"); rc=$?
[ $rc -eq 1 ] && echo "$line" | grep -q "s old" && ok "a stale status is unhealthy: $line" || no "stale status: rc $rc '$line'"
line=$("$bin" status "$tmp/none.json"); rc=$?
[ $rc -eq 1 ] && echo "$line" | grep -q "no status file" && ok "a missing status file is unhealthy" || no "missing status: rc $rc '$line'"
line=$(MESHDL_STATUS="$tmp/stale.json" "$bin" status); rc=$?
[ $rc -eq 1 ] && echo "$line" | grep -q "s old" && ok "meshdl status reads \$MESHDL_STATUS without PATH" || no "MESHDL_STATUS: rc $rc '$line'"
R3=$tmp/r3; mkdir -p "$R3"
check() {  # check DESCRIPTION ARGS...: exit 2, one line, nothing in R3
  local what=$1; shift
  err=$(timeout 30 "$@" 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] && [ "$(echo "$err" | wc -l)" -eq 1 ] && [ -z "$(ls -A "$R3")" ] && ok "$what refused: $err" \
    || no "$what -> rc=$rc '$err' $(ls -A "$R3")"
}
peer=(--peers tcp://127.0.0.1:9 --results "$R3")
check "--shard auto without --min-peers" "$bin" agent "${peer[@]}" --shard auto
check "--results in a missing directory" "$bin" agent --peers tcp://127.0.0.1:9 --results "$tmp/missing" --shard 0/3
check "MESHDL_TOPOLOGY=bogus" env MESHDL_TOPOLOGY=bogus "$bin" agent "${peer[@]}" --shard auto --min-peers 2
check "--data in a missing directory" "$bin" agent "${peer[@]}" --shard auto --min-peers 2 --data "$tmp/nodata"
check "meshdl status --max-age x" "$bin" status --max-age x "$R3"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
