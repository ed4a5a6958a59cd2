#!/usr/bin/env bash
# Integration test of `meshdl top` on a real terminal (tmux): 2 agents over loopback
# serve --http; top, given one by HOST:PORT and one by http://HOST:PORT, shows both
# training (id, state, step) in a table redrawn in place (one header however many
# refreshes), and 'q' quits it with exit 0. Without a terminal it prints plain lines
# (one header per refresh) and --count ends it; --once exits 1 when no agent answers;
# bad --peers entries get one line and exit 2.
set -uo pipefail
bin=${1:?usage: top_tmux.sh path/to/meshdl}
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
. "$(dirname "$0")/lib/agentcheck.sh"
command -v tmux >/dev/null || { echo "SKIP: no tmux (apt-get install tmux)"; exit 0; }
sess="ops-top-$$"
trap 'tmux kill-session -t "$sess" 2>/dev/null; for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
url_of() { sed -n 's/.*serving \/metrics and \/status on \(http:[^ ]*\).*/\1/p' "$1" | head -1; }

read -r p0 p1 <<<"$(free_ports 2)"
for i in 0 1; do
  me=$([ $i = 0 ] && echo $p0 || echo $p1); other=$([ $i = 0 ] && echo $p1 || echo $p0)
  "$bin" agent --port "$me" --peers "tcp://127.0.0.1:$other" --shard $i/2 --min-peers 1 --epochs 50 --train-subset 4000 \
    --test-subset 300 --batch 16 --threads 1 --quiet --http 127.0.0.1:0 >"$tmp/a$i.out" 2>"$tmp/a$i.err" & pids+=($!)
done
for _ in $(seq 1 300); do [ -n "$(url_of "$tmp/a0.err")" ] && [ -n "$(url_of "$tmp/a1.err")" ] && break; sleep 0.1; done
u0=$(url_of "$tmp/a0.err"); u1=$(url_of "$tmp/a1.err")
id0=$(sed -n 's/^agent \([0-9a-f]*\): serving.*/\1/p' "$tmp/a0.err"); id1=$(sed -n 's/^agent \([0-9a-f]*\): serving.*/\1/p' "$tmp/a1.err")
[ -n "$u0" ] && [ -n "$u1" ] || { no "agents did not start: $(tail -2 "$tmp/a0.err")"; echo "$pass passed, $fail failed"; exit 1; }

# --- on a terminal ---------------------------------------------------------------------------
tmux new-session -d -s "$sess" -x 160 -y 20 \
  "'$bin' top --peers ${u0#http://} --peers $u1 --interval 0.3; echo rc=\$? > '$tmp/rc'; sleep 30"
shown=0
for _ in $(seq 1 200); do
  tmux capture-pane -p -t "$sess" >"$tmp/pane" 2>/dev/null
  grep -q "^$id0  training" "$tmp/pane" && grep -q "^$id1  training" "$tmp/pane" && grep -q "2 answering" "$tmp/pane" && { shown=1; break; }
  sleep 0.1
done
[ $shown = 1 ] && ok "top shows both agents training: $(grep "^$id0" "$tmp/pane" | tr -s ' ' | cut -c1-60)" \
  || { no "top did not show both agents training"; cat "$tmp/pane"; }
sleep 1.5  # several refreshes
tmux capture-pane -p -t "$sess" >"$tmp/pane"
[ "$(grep -c '^AGENT' "$tmp/pane")" = 1 ] && [ "$(grep -c "^$id0" "$tmp/pane")" = 1 ] \
  && ok "redrawn in place: one header and one row per agent after several refreshes" || { no "the view scrolls:"; cat "$tmp/pane"; }
tmux send-keys -t "$sess" q
for _ in $(seq 1 100); do [ -s "$tmp/rc" ] && break; sleep 0.1; done
[ "$(cat "$tmp/rc" 2>/dev/null)" = rc=0 ] && ok "q quits, exit 0" || no "after q: '$(cat "$tmp/rc" 2>/dev/null)'"

# --- without a terminal -------------------------------------------------------------------------
"$bin" top --peers "dns:localhost:${u0##*:}" --count 2 --interval 0.3 >"$tmp/plain" 2>&1 </dev/null; rc=$?
[ $rc = 0 ] && [ "$(grep -c 'AGENT' "$tmp/plain")" = 2 ] && grep -q "$id0  training" "$tmp/plain" && ! grep -q $'\033' "$tmp/plain" \
  && grep "$id0  training" "$tmp/plain" | tail -1 | grep -Eq ' [0-9]+$' && grep -q 'WAIT REFUSED$' "$tmp/plain" \
  && ok "in a pipe: plain lines, 2 refreshes, the agent found through dns:localhost, its refusals counted" || { no "plain mode: exit $rc"; cat "$tmp/plain"; }
"$bin" top --peers 127.0.0.1:1 --once >/dev/null 2>&1; rc=$?
[ $rc = 1 ] && ok "--once with no agent answering: exit 1" || no "--once, nobody there: exit $rc"
for p in 127.0.0.1 127.0.0.1:0 "a:1,,b:2" dns:agents; do
  out=$("$bin" top --peers "$p" --once 2>&1 >/dev/null); rc=$?
  [ $rc = 2 ] && [ "$(echo "$out" | wc -l)" = 1 ] && ok "--peers '$p': exit 2, '$out'" || no "--peers '$p': exit $rc, '$out'"
done
out=$("$bin" top --interface lo --once 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] && ok "--interface without --http-port: exit 2, '$out'" || no "--interface alone: exit $rc, '$out'"
echo "$pass passed, $fail failed"
[ $fail = 0 ]
