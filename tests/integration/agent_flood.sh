#!/usr/bin/env bash
# Integration test of an honest `meshdl agent` under a flood (issue 16), on loopback only:
# agents A and B train together (static peers); A also lists the flood tool
# (tests/flood/flood.c) as a peer, which floods it for a bounded time and count with
# fresh random ids, its own leave/rejoin churn, oversize frames, random topics, garbage,
# far-future states and replays. Checks what holds whatever the machine's speed (no
# timing assertions; bench/flood.sh measures the step rate and memory):
#   - fresh ids never join: A has seen 2 peers (B and the flooder), not hundreds;
#   - the churn is held back: a handful of rejoins of the flooder, not one per goodbye;
#   - each kind of lie is refused under its own reason, and logged at most once per
#     (peer, reason) and then once per 10 s, so the flood cannot fill the log either;
#   - A suspends its connection to the flooder (its messages no honest peer sends), never
#     the one to B; B suspends nothing;
#   - both agents keep training and stop cleanly with their summaries, well above chance.
set -uo pipefail
bin=${1:?usage: agent_flood.sh path/to/meshdl}
flood=${FLOOD:-$(dirname "$bin")/tests/flood}
data=/usr/share/datasets/fashion-mnist
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0; fi
[ -x "$flood" ] || { echo "FAIL - flood tool not found at $flood (cmake --build BUILD --target flood)"; exit 1; }
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d -t adversaries-agent-flood.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
fail=0; pass=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "FAIL - $1"; }
summary() { python3 -c 'import json,sys; print(json.dumps(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["summary"]))' "$1" 2>/dev/null; }
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); [v := v.get(k, "") if isinstance(v, dict) else "" for k in sys.argv[2:]]; print(v)' "$1" "${@:2}"; }
ge() { awk -v a="${1:-}" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
le() { awk -v a="${1:-}" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }
source "$(dirname "$0")/lib/agentlib.sh"
step_of() { status_step "$tmp/$1.status"; }
d=$(python3 -c 'print(784*256+256+256*128+128+128*10+10)') # the default mlp's parameters
common=(--train-subset 6000 --test-subset 1000 --batch 16 --threads 1 --epochs 1000 --quiet --cluster advflood
        --min-peers 1 --min-peers-timeout 60)
read -r pa pb pf <<<"$(free_ports 3)"
"$bin" agent --id 11 --port "$pa" --peers "tcp://127.0.0.1:$pb,tcp://127.0.0.1:$pf" --shard 0/2 "${common[@]}" \
  --status "$tmp/A.status" >"$tmp/A.out" 2>"$tmp/A.err" &
pids+=($!)
"$bin" agent --id 12 --port "$pb" --peers "tcp://127.0.0.1:$pa" --shard 1/2 "${common[@]}" \
  --status "$tmp/B.status" >"$tmp/B.out" 2>"$tmp/B.err" &
pids+=($!)
for i in $(seq 1 600); do
  [ "$(step_of A)" -gt 0 ] && [ "$(step_of B)" -gt 0 ] && break
  kill -0 "${pids[0]}" 2>/dev/null && kill -0 "${pids[1]}" 2>/dev/null || break
  sleep 0.2
done
[ "$(step_of A)" -gt 0 ] && [ "$(step_of B)" -gt 0 ] && ok "A and B train" || no "A and B do not train: $(tail -2 "$tmp/A.err" "$tmp/B.err")"

secs=8
"$flood" --port "$pf" --to 11 --d "$d" --cluster advflood --seconds $secs --count 300000 >"$tmp/flood.out" 2>"$tmp/flood.err"
rc=$?
sent=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())["flood"]["messages"])' "$tmp/flood.out" 2>/dev/null)
[ $rc -eq 0 ] && ge "$sent" 1000 && ok "the flood sent $sent messages in at most $secs s" || no "flood: exit $rc, '$sent' messages: $(cat "$tmp/flood.err")"
sA=$(step_of A); sB=$(step_of B)
sleep 4 # the flooder is gone: A notices after its peer timeout (3 s) and goes on with B
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for n in 0 1; do wait "${pids[$n]}"; eval "rc$n=$?"; done
pids=()
A=$(summary "$tmp/A.out"); B=$(summary "$tmp/B.out")
[ "$rc0" -eq 0 ] && [ "$rc1" -eq 0 ] && [ -n "$A" ] && [ -n "$B" ] && ok "A and B stop on SIGTERM, exit 0, with their summaries" \
  || no "exits $rc0 $rc1: $(tail -3 "$tmp/A.err")"
tA=$(step_of A); tB=$(step_of B)
[ "$tA" -gt "$sA" ] && [ "$tB" -gt "$sB" ] && ok "both kept training after the flood (A step $sA -> $tA, B $sB -> $tB)" \
  || no "training stopped: A $sA -> $tA, B $sB -> $tB"

seen=$(field "$A" peers_seen)
# The churning identity is heard only if its phase reaches A before A suspends the flooder's
# connection (its earlier lies can get it suspended first on a fast run: CI saw 2 peers and
# no rejoin_backoff refusal); either way no fresh id joins.
[ "$seen" = 3 ] || [ "$seen" = 2 ] && ok "A saw $seen peers (B, the flooder[, its churning second identity]): none of the fresh ids joined" \
  || no "A peers_seen '$seen' (fresh ids joined)"
reasons="header step_ahead replay"
# churn: the flooder's second identity says goodbye and rejoins with a new incarnation thousands of times;
# the back-off admits rejoins at 0, 0.1, 0.6, 1.6, 3.6, 7.6 s of its churn. Its attempts between two
# admitted rejoins are refused (rejoin_backoff): certain once a second rejoin was admitted. With one,
# the connection may have been suspended right after it (CI saw 3 peers, 1 rejoin, no refusal).
rejoins=$(grep -c 'rejoin 00000000000f100e' "$tmp/A.err")
if [ "$seen" = 3 ] && [ "$rejoins" -ge 2 ]; then reasons+=" rejoin_backoff"
elif [ "$seen" = 3 ]; then ok "the churn reached A but was cut after $rejoins rejoin(s) (the flooder's connection suspended): back-off refusals not required in this run"
else ok "the churn never reached A (the flooder's connection was suspended before it): back-off not exercised in this run"; fi
for r in $reasons; do
  v=$(field "$A" rejected_by_reason $r)
  ge "$v" 1 && ok "A refused $v messages as $r" || no "A rejected_by_reason.$r '$v': $(field "$A" rejected_by_reason)"
done
rej=$(field "$A" updates_rejected)
sum=$(python3 -c 'import json,sys; print(sum(json.loads(sys.argv[1])["rejected_by_reason"].values()))' "$A")
[ "$rej" = "$sum" ] && ok "updates_rejected $rej is the sum of rejected_by_reason" || no "updates_rejected '$rej' != sum of reasons '$sum'"
[ "$(field "$B" updates_rejected)" = 0 ] || [ "$(field "$B" updates_rejected)" = 1 ] \
  && ok "B, not flooded, refused (next to) nothing" || no "B updates_rejected $(field "$B" updates_rejected)"
le "$rejoins" 8 && ok "the churning flooder rejoined $rejoins times (back-off), not once per goodbye" \
  || no "the flooder rejoined $rejoins times"
# the flooder's connection is suspended (mdl_mesh_blame), the honest ones never
grep -q "suspended our connection to tcp://127.0.0.1:$pf " "$tmp/A.err" && ok "A suspended its connection to the flooder" \
  || no "A did not suspend the flooder: $(grep -c refused "$tmp/A.err") refusal lines"
! grep -q "suspended our connection to tcp://127.0.0.1:$pb " "$tmp/A.err" && ! grep -q "suspended" "$tmp/B.err" \
  && ok "no honest connection was suspended" || no "an honest connection was suspended: $(grep suspended "$tmp/A.err" "$tmp/B.err")"
# refusal lines: the first per (peer, reason), then at most one per 10 s with a count
lines=$(grep -c 'refused' "$tmp/A.err")
keys=$(grep 'refused' "$tmp/A.err" | sed -E 's/refused (a message|[0-9]+ more messages) from //; s/: ([a-z_]+).*/ \1/' | sort -u | wc -l)
le "$lines" $((keys * 3)) && ok "$lines refusal lines for $keys (peer, reason) pairs (rate limited)" \
  || no "$lines refusal lines for $keys (peer, reason) pairs: $(grep refused "$tmp/A.err" | head -5)"
for n in A B; do
  acc=$(field "${!n}" test_acc)
  ge "$acc" 0.70 && ok "$n test_acc $acc well above chance" || no "$n test_acc '$acc'"
done
echo "# $pass passed, $fail failed"
[ $fail -eq 0 ]
