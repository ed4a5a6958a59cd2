#!/usr/bin/env bash
# lan_curve.sh MESHDL: a peer whose CURVE handshake fails is not waited for (issue 15).
# 4 `meshdl agent --curve` processes, one per network namespace on a bridge
# (examples/lan/netns.sh), find each other by beacon. Agents 1-3 hold key pairs whose
# public certificates are in the cluster's allow-list; agent 4 has a key pair of its own
# that is not (an outsider on the LAN: its beacons are heard, its handshakes fail both
# ways). Sync D-PSGD on a ring, --sync-timeout 4. Holds when:
#   - agents 1-3 train together to the end (exit 0, status done, test_acc >= 0.75), each
#     having mixed updates of the other two and received nothing from agent 4;
#   - their rounds do not wait for agent 4: each agent's total sync wait stays under
#     3 x --sync-timeout over ~190 rounds (a round that waited for it would cost 4 s);
#   - each of them logs the refusal (subscriptions refused, key not allowed) and drops
#     agent 4 as not live;
#   - agent 4 gets no peer: exit 3 after --min-peers-timeout, 0 bytes received.
# Bounded: every agent by `timeout`, the whole test ~1 min. Without root / CAP_NET_ADMIN
# or ip it prints SKIP and exits 0. Everything it creates (namespaces curve-p<pid>-*,
# its temp dir) is removed on exit, failure included.
set -u

bin=${1:-}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "usage: lan_curve.sh path/to/meshdl" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
HERE=$(cd "$(dirname "$0")" && pwd)
NETNS="$HERE/../../examples/lan/netns.sh"
P="curve-p$$"
SUBNET=10.213.17
SYNC_TIMEOUT=4

. "$HERE/lanlib.sh"
lan_prelude lan_curve

mkdir -p "$T/keys" "$T/allow"
for i in 1 2 3 4; do
    "$bin" keygen --out "$T/keys/a$i" --name "a$i" >/dev/null || { no "meshdl keygen a$i failed"; finish; }
done
cp "$T/keys/a1" "$T/keys/a2" "$T/keys/a3" "$T/allow/"
ok "4 key pairs (meshdl keygen); the allow-list holds agents 1-3"

bash "$NETNS" up "$P" 4 $SUBNET || { no "could not build the namespaces"; finish; }
ok "LAN of 4 namespaces on a bridge ($P-n1..4, $SUBNET.0/24)"

common=(--curve --allow "$T/allow" --sync-timeout $SYNC_TIMEOUT --epochs 1 --train-subset 9000
        --test-subset 1000 --batch 16 --peer-timeout 2 --quiet)
t0=$(now)
for i in 1 2 3; do
    lan_start a$i $i 120 "${common[@]}" --cert "$T/keys/a${i}_secret" --shard $((i - 1))/3 \
        --min-peers 2 --min-peers-timeout 30
done
lan_start a4 4 60 "${common[@]}" --cert "$T/keys/a4_secret" --shard 0/3 \
    --min-peers 1 --min-peers-timeout 15
all_exited () { for i in 1 2 3 4; do exited a$i || return 1; done; }
wait_until 125 all_exited || no "agents still running after 125 s"

for i in 1 2 3; do
    n=a$i
    reap $n; rc=$?
    o="$T/$n.out"
    acc=$(summary "$o" test_acc); seen=$(summary "$o" peers_seen); st=$(summary "$o" status)
    app=$(summary "$o" updates_applied); steps=$(summary "$o" steps); wait_s=$(summary "$o" sync_wait_s)
    if [ $rc -eq 0 ] && [ "$st" = done ]; then ok "$n exits 0, status done ($steps steps)"; else
        no "$n: exit $rc, status '$st'"; dump "$T/$n.err" "$o"; fi
    ge "$acc" 0.75 && ok "$n test_acc $acc >= 0.75" || no "$n: test_acc '$acc' < 0.75"
    # two neighbours on the ring of the three allowed agents, each round
    ge "$app" $(( ${steps:-0} * 2 * 9 / 10 )) && ok "$n mixed $app updates in $steps steps (its 2 allowed neighbours)" \
        || no "$n: updates_applied '$app' for $steps steps"
    awk -v w="$wait_s" -v t=$SYNC_TIMEOUT 'BEGIN { exit !(w != "" && w + 0 < 3 * t) }' \
        && ok "$n waited $wait_s s in sync rounds in all (< 3 x --sync-timeout $SYNC_TIMEOUT s: agent 4 not waited for)" \
        || { no "$n: sync_wait_s '$wait_s' (agent 4 waited for?)"; grep -iE 'curve|drop|join|leave' "$T/$n.err" | head -8; }
    grep -qE 'CURVE: [1-9][0-9]* subscriptions refused \(key not allowed\)' "$T/$n.err" \
        && ok "$n logged the refusal of agent 4's key" \
        || { no "$n: no 'subscriptions refused (key not allowed)' line"; dump "$T/$n.err"; }
    [ "$seen" = 2 ] && ok "$n saw exactly its 2 allowed peers" || no "$n: peers_seen '$seen' (want 2)"
done
reap a4; rc=$?
rx=$(summary "$T/a4.out" bytes_received)
[ $rc -eq 3 ] && ok "agent 4 (key not allowed) exits 3: $(grep -m1 -iE 'peers? .*appeared|min-peers' "$T/a4.err")" \
    || { no "agent 4: exit $rc (want 3, no peers)"; dump "$T/a4.err" "$T/a4.out"; }
[ "${rx:-0}" = 0 ] && ok "agent 4 received nothing" || no "agent 4 received '$rx' bytes"
echo "# took $(since "$t0") s"
finish
