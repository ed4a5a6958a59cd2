#!/usr/bin/env bash
# lan_dns.sh MESHDL: `meshdl agent --peers dns:NAME:PORT` on a LAN of network namespaces
# (examples/lan/netns.sh, 10.213.9.0/24) where a name lists several addresses: each
# namespace's /etc/hosts (/etc/netns/NS/hosts, which `ip netns exec` mounts over
# /etc/hosts) gives the name meshdl-agents one line per agent, and the test rewrites it
# as a name server's answers would change:
#   1. the name lists 3 agents: the 3 find each other by it (each skips its own
#      address), 2 peers each;
#   2. a 4th agent appears in the name and starts: the 3 see the new address within the
#      --dns-interval and the 4th joins everyone: 3 peers each;
#   3. agent 2 leaves the name (and stops): the others log that they no longer listen to
#      its address;
#   4. `meshdl top --peers dns:NAME:9100` in a namespace shows the agents training
#      (they serve --http 0.0.0.0:9100);
#   5. the others stop on SIGTERM and exit 0; agents 1 and 3 ended above 70% test
#      accuracy (agent 4, a late joiner in sync mode, starts from scratch rounds behind
#      the others: catching up is the reliability issue's newcomer bootstrap, not DNS's).
#   6. `meshdl top --interface mdl0 --http-port 9100` finds 2 beacon agents by listening
#      to their beacons, and announces nothing (the agents see only each other).
# Everything it creates (namespaces, /etc/netns entries) is removed on exit. Without
# root / CAP_NET_ADMIN or `ip`, it prints SKIP and exits 0.
set -u
bin=${1:-}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "usage: lan_dns.sh path/to/meshdl" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
HERE=$(cd "$(dirname "$0")" && pwd)
NETNS="$HERE/../../examples/lan/netns.sh"
data=/usr/share/datasets/fashion-mnist
P="opsdns$$"
SUBNET=10.213.9
NAME=meshdl-agents
if [ ! -f $data/train-images-idx3-ubyte.gz ]; then echo "SKIP: lan_dns: Fashion-MNIST not installed"; exit 0; fi
command -v ip >/dev/null 2>&1 || { echo "SKIP: lan_dns: the 'ip' command (iproute2) is not installed"; exit 0; }
T=$(mktemp -d "${TMPDIR:-/tmp}/lan_dns_ops.XXXXXX")
if ! ip netns add "$P-probe" 2>"$T/probe.err"; then
    echo "SKIP: lan_dns: cannot create network namespaces (needs root or CAP_NET_ADMIN): $(head -1 "$T/probe.err")"
    rm -rf "$T"; exit 0
fi
ip netns del "$P-probe"
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset ZSYS_INTERFACE
export OPENBLAS_NUM_THREADS=1

declare -A PIDS=()
cleanup () {
    local rc=$?
    for k in "${!PIDS[@]}"; do kill -9 "${PIDS[$k]}" 2>/dev/null; done
    wait 2>/dev/null
    bash "$NETNS" down "$P"
    rm -rf /etc/netns/"$P"-n*
    if [ -n "${KEEP_LOGS:-}" ]; then echo "logs kept in $T"; else rm -rf "$T"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0; fail=0
ok () { pass=$((pass+1)); echo "ok - $1"; }
no () { fail=$((fail+1)); echo "FAIL - $1"; }
finish () { echo "$pass passed, $fail failed"; [ $fail -eq 0 ]; exit $?; }
summary () { python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["summary"][sys.argv[2]])' "$1" "$2" 2>/dev/null; }
ge () { awk -v a="${1:-}" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
wait_until () {  # SECONDS FUNCTION ARGS...
    local end=$(( $(date +%s) + $1 )); shift
    until "$@"; do [ "$(date +%s)" -ge "$end" ] && return 1; sleep 0.2; done
}
# name_lists I...: every namespace's hosts file now gives NAME the addresses of agents I...
# (written in place: the bind mount of a running `ip netns exec` sees the new content)
name_lists () {
    local ns i
    for ns in 1 2 3 4; do
        { echo "127.0.0.1 localhost"; for i in "$@"; do echo "$SUBNET.$i $NAME"; done; } >/etc/netns/"$P-n$ns"/hosts
    done
}
joins () { grep -c ": join [0-9a-f]*" "$T/a$1.err" 2>/dev/null; }
has_bjoins () { grep -q ": join " "$T/b1.err" 2>/dev/null && grep -q ": join " "$T/b2.err" 2>/dev/null; }
has_joins () { local i; local k=$1; shift; for i in "$@"; do [ "$(joins "$i")" -ge "$k" ] || return 1; done; }
start () {  # I MIN_PEERS
    timeout --foreground -k 5 240 bash "$NETNS" exec "$P" "$1" "$bin" agent --port 7000 --peers "dns:$NAME:7000" \
        --dns-interval 1 --shard $(($1 - 1))/4 --min-peers "$2" --min-peers-timeout 60 --epochs 1000 --progress 1 \
        --http 0.0.0.0:9100 \
        --train-subset 12000 --test-subset 1000 --batch 16 --threads 1 >"$T/a$1.out" 2>"$T/a$1.err" &
    PIDS[a$1]=$!
}

bash "$NETNS" up "$P" 4 $SUBNET || { no "could not build the namespaces"; finish; }
for i in 1 2 3 4; do mkdir -p /etc/netns/"$P-n$i"; done
name_lists 1 2 3
ip netns exec "$P-n1" getent ahostsv4 $NAME | awk '{print $1}' | sort -u | tr '\n' ' ' >"$T/answer"
[ "$(wc -w <"$T/answer")" = 3 ] && ok "inside the namespaces, $NAME resolves to 3 addresses: $(cat "$T/answer")" \
    || no "$NAME resolves to '$(cat "$T/answer")' inside a namespace"

# --- 1: three agents by name ------------------------------------------------------------
for i in 1 2 3; do start $i 2; done
if wait_until 90 has_joins 2 1 2 3; then ok "agents 1-3 found each other by the name: 2 joins each"
else no "agents 1-3: joins $(joins 1) $(joins 2) $(joins 3)"; for i in 1 2 3; do tail -5 "$T/a$i.err"; done; finish; fi
for i in 1 2 3; do
    grep -q "dns:$NAME:7000 resolves to 2 addresses besides this agent's own" "$T/a$i.err" \
        && ok "agent $i skipped its own address $SUBNET.$i" || no "agent $i: $(grep -m1 "dns:$NAME" "$T/a$i.err")"
done

# --- 2: a fourth appears in the name ------------------------------------------------------
name_lists 1 2 3 4
start 4 3
if wait_until 90 has_joins 3 1 2 3 4; then ok "agent 4 appeared in the name: every agent has 3 joins"
else no "after agent 4: joins $(joins 1) $(joins 2) $(joins 3) $(joins 4)"; fi
for i in 1 2 3; do
    grep -q "dns:$NAME:7000 now lists 3 addresses (1 new, 0 gone)" "$T/a$i.err" && grep -q "listening to static peer tcp://$SUBNET.4:7000" "$T/a$i.err" \
        && ok "agent $i saw the new address and connected to tcp://$SUBNET.4:7000" || no "agent $i did not log the new address"
done

# --- 3: agent 2 leaves the name and stops ------------------------------------------------
name_lists 1 3 4
kill -TERM "${PIDS[a2]}"
gone () { local i; for i in 1 3 4; do grep -q "not listening to tcp://$SUBNET.2:7000 any more" "$T/a$i.err" || return 1; done; }
wait_until 30 gone && ok "agents 1, 3 and 4 stopped listening to $SUBNET.2 once the name no longer listed it" \
    || no "no withdrawal of $SUBNET.2 logged: $(grep -h "not listening" "$T"/a?.err | head -3)"
wait "${PIDS[a2]}"; rc=$?; unset "PIDS[a2]"
[ $rc = 0 ] && ok "agent 2: SIGTERM -> exit 0" || no "agent 2: exit $rc"

# --- 4: meshdl top through the name -----------------------------------------------------------
ip netns exec "$P-n1" "$bin" top --peers "dns:$NAME:9100" --once >"$T/top" 2>&1; rc=$?
n=$(grep -cE "  (training|waiting) " "$T/top")  # a sync agent between rounds shows "waiting"
[ $rc = 0 ] && [ "$n" = 3 ] && ok "meshdl top --peers dns:$NAME:9100 shows the 3 agents the name lists, training" \
    || { no "top through the name: exit $rc, $n training rows"; cat "$T/top"; }

# --- 5: the rest stop -----------------------------------------------------------------------
sleep 2  # a few more steps among the three
for i in 1 3 4; do kill -TERM "${PIDS[a$i]}"; done
for i in 1 3 4; do
    wait "${PIDS[a$i]}"; rc=$?; unset "PIDS[a$i]"
    acc=$(summary "$T/a$i.out" test_acc); seen=$(summary "$T/a$i.out" peers_seen)
    min=0.70; [ $i = 4 ] && min=0
    [ $rc = 0 ] && [ "$seen" = 3 ] && ge "$acc" $min && ok "agent $i: exit 0, saw 3 peers, test_acc $acc" \
        || { no "agent $i: exit $rc, peers_seen '$seen', test_acc '$acc'"; tail -4 "$T/a$i.err"; }
done

# --- 6: meshdl top by beacon ---------------------------------------------------------------------
for i in 1 2; do
    timeout --foreground -k 5 120 bash "$NETNS" exec "$P" "$i" "$bin" agent --interface mdl0 --min-peers 1 --epochs 1000 \
        --train-subset 4000 --test-subset 300 --batch 16 --threads 1 --quiet --http 0.0.0.0:9100 >"$T/b$i.out" 2>"$T/b$i.err" &
    PIDS[b$i]=$!
done
wait_until 60 has_bjoins || true
ip netns exec "$P-n3" "$bin" top --interface mdl0 --http-port 9100 --count 2 --interval 0.5 >"$T/btop" 2>&1; rc=$?
ids=$(sed -n 's/^agent \([0-9a-f]*\): PUB at.*/\1/p' "$T"/b?.err | sort | tr '\n' ' ')
seen=$(awk '$3 == "training" { print $2 }' "$T/btop" | sort -u | tr '\n' ' ')
[ $rc = 0 ] && [ -n "$ids" ] && [ "$seen" = "$ids" ] && ok "meshdl top --interface mdl0 finds both beacon agents: $seen" \
    || { no "top by beacon: exit $rc, saw '$seen' of '$ids'"; cat "$T/btop"; }
for i in 1 2; do kill -TERM "${PIDS[b$i]}"; done
for i in 1 2; do wait "${PIDS[b$i]}"; unset "PIDS[b$i]"; done
[ "$(grep -c ": join " "$T/b1.err")" = 1 ] && [ "$(grep -c ": join " "$T/b2.err")" = 1 ] \
    && ok "top announced nothing: each beacon agent joined only the other" || no "joins: $(grep -h ": join " "$T"/b?.err)"
finish
