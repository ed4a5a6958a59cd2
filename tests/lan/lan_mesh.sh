#!/usr/bin/env bash
# lan_mesh.sh NODE_MESH [MESHDL]: the real-LAN test of discovery, liveness and the mesh.
#
# Builds a LAN of its own (examples/lan/netns.sh: 5 network namespaces on a bridge that
# lives in a 6th, addresses 10.213.1.0/24), runs one node_mesh agent per namespace and
# checks, from their logs:
#   1. 4 agents discover each other by beacon within 5 s;
#   2. every pair exchanges targeted and broadcast messages over PUB/SUB;
#   3. junk beacons, beacons of another cluster and a beacon advertising a port where
#      nothing listens are ignored, counted and logged (the last one as MUTE);
#   4. an agent killed with SIGKILL is declared dead by the others within the timeout,
#      and after a restart (new incarnation) it is re-admitted as a REJOIN;
#   5. with CURVE on, an agent whose key is not on the allow-list gets no data and is
#      heard by no one, and that is logged on both sides.
# Everything it creates is removed on exit, failure included. Without root /
# CAP_NET_ADMIN or without `ip`, it prints SKIP and why, and exits 0.
set -u

NODE=${1:-}
MESHDL=${2:-}
[ -n "$NODE" ] && [ -x "$NODE" ] || { echo "usage: lan_mesh.sh NODE_MESH [MESHDL]" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
NETNS="$HERE/../../examples/lan/netns.sh"
P="mdl$$"                  # namespace prefix, unique per run
TIMEOUT=2.0                # silence timeout of the agents (s); beacons every 250 ms
T=$(mktemp -d "${TMPDIR:-/tmp}/lan_mesh.XXXXXX")
declare -A PIDS=()

if ! command -v ip >/dev/null 2>&1; then
    echo "SKIP: lan_mesh: the 'ip' command (iproute2) is not installed"; rm -rf "$T"; exit 0
fi
if ! ip netns add "$P-probe" 2>"$T/probe.err"; then
    echo "SKIP: lan_mesh: cannot create network namespaces (needs root or CAP_NET_ADMIN): $(head -1 "$T/probe.err")"
    rm -rf "$T"; exit 0
fi
ip netns del "$P-probe"

cleanup () {
    local rc=$?
    for k in "${!PIDS[@]}"; do kill -9 "${PIDS[$k]}" 2>/dev/null; done
    wait 2>/dev/null
    bash "$NETNS" down "$P"
    if [ -n "${KEEP_LOGS:-}" ]; then echo "logs kept in $T"; else rm -rf "$T"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now () { date +%s.%N; }
since () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
hex () { printf "%016x" "$1"; }
fail () {
    echo "FAIL: $*"
    for f in "$T"/*.log; do echo "--- $(basename "$f") (last 15 lines)"; tail -15 "$f"; done
    exit 1
}
ok () { echo "ok: $*"; }

# start NAME NODE_NUMBER ARGS...: runs node_mesh in namespace P-nNUMBER
start () {
    local name=$1 i=$2; shift 2
    bash "$NETNS" exec "$P" "$i" "$NODE" --iface mdl0 --timeout "$TIMEOUT" "$@" \
        >"$T/$name.log" 2>&1 &
    PIDS[$name]=$!
}
stop () {
    local name=$1
    kill -TERM "${PIDS[$name]}" 2>/dev/null
    wait "${PIDS[$name]}"; local rc=$?
    unset "PIDS[$name]"
    return $rc
}

# wait_until SECONDS FUNCTION: polls FUNCTION every 0.1 s; 0 if it held in time
wait_until () {
    local deadline
    deadline=$(awk -v a="$(now)" -v s="$1" 'BEGIN { printf "%.3f", a + s }')
    while :; do
        "$2" && return 0
        awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n > d) }' && return 1
        sleep 0.1
    done
}

has () { grep -q -- "$2" "$T/$1.log" 2>/dev/null; }

bash "$NETNS" up "$P" 5 10.213.1 || fail "could not build the namespaces"
ok "LAN of 5 namespaces on a bridge ($P-n1..5, 10.213.1.0/24)"

# --- 1-4: discovery, messages, bad beacons, kill and restart -----------------------
t0=$(now)
for i in 1 2 3 4; do start "a$i" "$i" --id "$i" --cluster lan-plain --duration 100; done
start junk 5 --junk --cluster lan-plain --duration 100

all_started () { for i in 1 2 3 4; do has "a$i" "^START" || return 1; done; }
wait_until 20 all_started || fail "the agents did not start"
ts=$(now)
all_joined () {
    for i in 1 2 3 4; do for j in 1 2 3 4; do
        [ $i = $j ] || has "a$i" "^JOIN $(hex $j) " || return 1
    done; done
}
wait_until 5 all_joined || fail "the 4 agents did not all discover each other within 5 s"
ok "4 agents discovered each other by beacon in $(since "$ts") s after the last one started (limit 5 s; $(since "$t0") s since launch)"

all_talked () {
    for i in 1 2 3 4; do for j in 1 2 3 4; do
        [ $i = $j ] || { has "a$i" "^GOT T $(hex $j)" && has "a$i" "^GOT U $(hex $j)"; } || return 1
    done; done
}
wait_until 5 all_talked || fail "not every pair exchanged targeted and broadcast messages"
ok "all 12 ordered pairs exchanged targeted (T<id>) and broadcast (U) messages"

junk_seen () {
    for i in 1 2 3 4; do
        grep -Eq "^BEACONS .*other_cluster=[1-9].*malformed=[1-9]" "$T/a$i.log" || return 1
        has "a$i" "^MUTE $(hex 0xdead)" || return 1
    done
}
wait_until 6 junk_seen || fail "junk / foreign / dead-port beacons were not all counted and logged"
ok "junk and other-cluster beacons ignored and counted; the dead-port peer logged as MUTE"

victim=$(awk '/^START/ { for (i = 1; i <= NF; i++) if ($i ~ /^pid=/) print substr($i, 5) }' "$T/a4.log")
[ -n "$victim" ] || fail "no pid in a4's START line"
tk=$(now)
kill -9 "$victim"
wait "${PIDS[a4]}" 2>/dev/null; unset "PIDS[a4]"
all_left () { for i in 1 2 3; do has "a$i" "^LEAVE $(hex 4)" || return 1; done; }
limit=$(awk -v t="$TIMEOUT" 'BEGIN { print t + 1.0 }')
wait_until "$limit" all_left || fail "agent 4 (SIGKILL) was not declared dead within $limit s"
ok "agent 4 killed with SIGKILL: declared dead by the 3 others after $(since "$tk") s (timeout $TIMEOUT s)"

tr=$(now)
start a4b 4 --id 4 --cluster lan-plain --duration 100
all_rejoined () {
    for i in 1 2 3; do
        has "a$i" "^REJOIN $(hex 4) " || return 1
        [ "$(grep -c "^GOT T $(hex 4)" "$T/a$i.log")" -ge 2 ] || return 1
        has a4b "^JOIN $(hex $i) " || return 1
        has a4b "^GOT T $(hex $i)" || return 1
    done
}
wait_until 5 all_rejoined || fail "restarted agent 4 was not re-admitted"
for i in 1 2 3; do
    [ "$(grep -c "^JOIN $(hex 4) " "$T/a$i.log")" = 1 ] || fail "a$i counted agent 4 twice (JOIN instead of REJOIN)"
done
ok "agent 4 restarted (new incarnation): REJOIN on all 3 others, messages flow again, in $(since "$tr") s"

for n in a1 a2 a3 a4b junk; do
    stop "$n" || fail "$n did not exit cleanly on SIGTERM"
    has "$n" "^EXIT" || fail "$n has no EXIT line"
done
ok "all agents stopped cleanly on SIGTERM"

# --- 5: CURVE with an allow-list that holds 3 of the 4 keys ------------------------
mkdir -p "$T/keys" "$T/allow"
use_meshdl=0
if [ -n "$MESHDL" ] && "$MESHDL" keygen --help >/dev/null 2>&1; then use_meshdl=1; fi
for i in 1 2 3 4; do
    if [ $use_meshdl = 1 ]; then
        "$MESHDL" keygen --out "$T/keys/agent$i" --name "agent$i" >/dev/null || fail "meshdl keygen failed"
    else
        "$NODE" --keygen "$T/keys/agent$i" || fail "node_mesh --keygen failed"
    fi
done
cp "$T/keys/agent1" "$T/keys/agent2" "$T/keys/agent3" "$T/allow/"
ok "4 key pairs made with $([ $use_meshdl = 1 ] && echo 'meshdl keygen' || echo 'node_mesh --keygen'); allow-list holds agents 1-3"

for i in 1 2 3 4; do
    start "c$i" "$i" --id "$i" --cluster lan-curve --duration 100 \
        --curve --cert "$T/keys/agent${i}_secret" --allow "$T/allow"
done
allowed_talk () {
    for i in 1 2 3; do for j in 1 2 3; do
        [ $i = $j ] || has "c$i" "^GOT T $(hex $j)" || return 1
    done; done
}
wait_until 8 allowed_talk || fail "allowed agents did not exchange messages under CURVE"
ok "CURVE: agents 1-3 (allowed) exchange messages"
refusals () {
    for i in 1 2 3; do has "c$i" "^REFUSED $(hex 4)" || return 1; done
    has c4 "^AUTH_FAILED" || return 1
    has c1 "^AUTH_DENIED" || has c2 "^AUTH_DENIED" || has c3 "^AUTH_DENIED" || return 1
}
wait_until 5 refusals || fail "the refusal of agent 4's key was not logged on both sides"
sleep 2   # let agents 1-3 keep publishing: agent 4 must still have heard nothing
for n in c1 c2 c3 c4; do stop "$n" || fail "$n did not exit cleanly"; done
has c4 "^GOT " && fail "agent 4 (key not allowed) received data"
for i in 1 2 3; do has "c$i" "^GOT . $(hex 4)" && fail "c$i heard agent 4"; done
ok "CURVE: agent 4 (key not allowed) received nothing and was heard by no one; logged as REFUSED / AUTH_DENIED / AUTH_FAILED"

echo "PASS: lan_mesh ($(since "$t0") s)"
