#!/usr/bin/env bash
# lan_agents.sh MESHDL: end-to-end LAN test of `meshdl agent`.
#
# Builds a LAN of its own (examples/lan/netns.sh: 4 network namespaces on a bridge,
# 10.213.7.0/24) and runs one `meshdl agent --interface mdl0` per namespace:
#   1. the 4 agents find each other by beacon and train together on a Fashion-MNIST
#      subset (shard i/4 each) to >= 80% test accuracy; each saw 3 peers, received and
#      mixed updates, exits 0 with a summary line and writes its checkpoint; a final
#      merge leaves them one model, each merge state sent about once per peer;
#   2. in a long run, one agent gets SIGTERM mid-run: it exits 0 within a few seconds
#      with its summary and checkpoint; the other 3 log its leave and keep training;
#      then they are stopped with SIGTERM too, each exiting 0 with a summary.
# Beacons never leave the namespaces. Everything it creates is removed on exit, failure
# included. Without root / CAP_NET_ADMIN or without `ip`, it prints SKIP and exits 0.
set -u

bin=${1:-}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "usage: lan_agents.sh path/to/meshdl" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
HERE=$(cd "$(dirname "$0")" && pwd)
NETNS="$HERE/../../examples/lan/netns.sh"
data=/usr/share/datasets/fashion-mnist
P="mdla$$"                 # namespace prefix, unique per run
SUBNET=10.213.7

if [ ! -f $data/train-images-idx3-ubyte.gz ]; then
    echo "SKIP: lan_agents: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"; exit 0
fi
if ! command -v ip >/dev/null 2>&1; then
    echo "SKIP: lan_agents: the 'ip' command (iproute2) is not installed"; exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/lan_agents.XXXXXX")
if ! ip netns add "$P-probe" 2>"$T/probe.err"; then
    echo "SKIP: lan_agents: cannot create network namespaces (needs root or CAP_NET_ADMIN): $(head -1 "$T/probe.err")"
    rm -rf "$T"; exit 0
fi
ip netns del "$P-probe"

# Options from the environment would change what the agents do.
for v in $(env | grep -o '^MESHDL_[A-Za-z0-9_]*'); do unset "$v"; done
unset ZSYS_INTERFACE
export OPENBLAS_NUM_THREADS=1

declare -A PIDS=()         # name -> pid of the agent (timeout --foreground, which execs nothing)
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

. "$HERE/lanlib.sh" # ok, no, dump, finish, now, since, summary, ge, wait_until, running, exited, reap
# last_epoch NAME: the newest epoch count in the agent's progress and evaluation lines
last_epoch () { grep -oE 'epoch [0-9]+\.[0-9]+' "$T/$1.err" 2>/dev/null | tail -1 | awk '{ print $2 }'; }
# plus A B: A + B
plus () { awk -v a="${1:-0}" -v b="$2" 'BEGIN { print a + b }'; }

# start NAME NODE LIMIT ARGS...: one agent in namespace P-nNODE, bounded by LIMIT seconds.
# --foreground: a SIGTERM to the wrapper reaches the agent once (without it, timeout
# signals its whole process group too, and the agent's second-signal handler kills it).
start () {
    local name=$1 i=$2 limit=$3; shift 3
    timeout --foreground -k 5 "$limit" bash "$NETNS" exec "$P" "$i" "$bin" agent --interface mdl0 \
        --shard $((i - 1))/4 --min-peers 3 --min-peers-timeout 30 --train-subset 12000 --test-subset 2000 \
        --batch 16 --threads 1 --checkpoint "$T/$name.ckpt" "$@" >"$T/$name.out" 2>"$T/$name.err" &
    PIDS[$name]=$!
}

bash "$NETNS" up "$P" 4 $SUBNET || { no "could not build the namespaces"; finish; }
ok "LAN of 4 namespaces on a bridge ($P-n1..4, $SUBNET.0/24)"

# --- 1: 4 agents discover each other by beacon and train to >= 80% --------------------
t0=$(now)
for i in 1 2 3 4; do start "a$i" $i 120 --epochs 2 --final-merge --metrics "$T/a$i.jsonl" --quiet; done
all_exited () { for i in 1 2 3 4; do exited "a$i" || return 1; done; }
wait_until 125 all_exited || no "phase 1: agents still running after 125 s"
for i in 1 2 3 4; do
    n=a$i
    reap $n; rc=$?
    o="$T/$n.out"
    acc=$(summary "$o" test_acc); seen=$(summary "$o" peers_seen); rx=$(summary "$o" bytes_received)
    app=$(summary "$o" updates_applied); st=$(summary "$o" status)
    joins=$(grep -c ": join [0-9a-f]* at tcp://$SUBNET\." "$T/$n.err")
    if [ $rc -eq 0 ] && [ "$st" = "done" ]; then ok "$n exits 0, status done"; else no "$n: exit $rc, status '$st'"; dump "$T/$n.err" "$o"; fi
    [ "$seen" = 3 ] && [ "$joins" = 3 ] && ok "$n saw 3 peers (peers_seen 3, 3 beacon joins on $SUBNET.0/24)" \
        || no "$n: peers_seen '$seen', $joins joins on $SUBNET.0/24"
    ge "$acc" 0.80 && ok "$n test_acc $acc >= 0.80" || no "$n: test_acc '$acc' < 0.80"
    ge "$rx" 1 && ge "$app" 1 && ok "$n received $rx bytes, applied $app updates" \
        || no "$n: bytes_received '$rx', updates_applied '$app'"
    [ -s "$T/$n.ckpt" ] && [ -s "$T/$n.jsonl" ] && ok "$n wrote its checkpoint and metrics" \
        || no "$n: checkpoint or metrics missing"
done
# The final merge over beacons: on the ring each agent has one peer it connects to only
# for the merge; its state goes to that peer once it heard from it, not before (lost)
# and again half a second after the peer asked. Exact: the four end with one model.
accs=$(for i in 1 2 3 4; do summary "$T/a$i.out" test_acc; done | sort -u | wc -l)
sent=$(for i in 1 2 3 4; do python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["summary"]["msgs_sent_by_kind"].get("global_state", 0))' "$T/a$i.out" 2>/dev/null; done | tr '\n' ' ')
[ "$accs" = 1 ] && ok "the final merge left the 4 agents one model (one test_acc); merge states sent: $sent" \
    || no "the final merge: $accs different test_acc among the 4 agents; merge states sent: $sent"
for k in $sent; do [ "$k" -ge 3 ] && [ "$k" -le 6 ] || no "an agent sent its merge state $k times to 3 peers ($sent)"; done
echo "# phase 1 took $(since "$t0") s"

# --- 2: SIGTERM to one agent mid-run; the others log its leave and go on ---------------
t0=$(now)
for i in 1 2 3 4; do start "b$i" $i 150 --epochs 1000 --progress 1; done
training () { for i in 1 2 3 4; do ge "$(last_epoch b$i)" 0.15 || return 1; done; }
if ! wait_until 60 training; then
    no "phase 2: the 4 agents did not all start training within 60 s"
    dump "$T"/b?.err; finish
fi
victim=b2
vid=$(sed -n 's/^agent \([0-9a-f]*\): PUB at .*/\1/p' "$T/$victim.err" | head -1)
[ -e "$T/$victim.ckpt" ] && no "$victim wrote a checkpoint before it was stopped"
tk=$(now)
kill -TERM "${PIDS[$victim]}"
if wait_until 5 exited $victim; then
    dt=$(since "$tk"); reap $victim; rc=$?
    st=$(summary "$T/$victim.out" status)
    [ $rc -eq 0 ] && [ "$st" = interrupted ] && ok "$victim (agent $vid) exits 0 ${dt} s after SIGTERM, summary status interrupted" \
        || { no "$victim: exit $rc after SIGTERM, status '$st'"; dump "$T/$victim.err" "$T/$victim.out"; }
    [ -s "$T/$victim.ckpt" ] && ok "$victim wrote its checkpoint on SIGTERM" || no "$victim: no checkpoint after SIGTERM"
else
    no "$victim still running 5 s after SIGTERM"
fi
others="b1 b3 b4"
left () { for n in $others; do grep -q ": leave $vid" "$T/$n.err" || return 1; done; }
if wait_until 10 left; then
    ok "b1, b3, b4 logged the leave of $vid ($(since "$tk") s after SIGTERM)"
else
    no "the others did not log the leave of $vid within 10 s"; dump "$T"/b[134].err
fi
declare -A at_leave=()
for n in $others; do at_leave[$n]=$(last_epoch $n); done
tl=$(now)
# 0.15 epoch = 28 steps of 16 on a shard of 3000 rows
going () { for n in $others; do running $n && ge "$(last_epoch $n)" "$(plus "${at_leave[$n]}" 0.15)" || return 1; done; }
# Known: in sync mode a round that waits for the leaver runs out its --sync-timeout (10 s).
if wait_until 30 going; then
    ok "b1, b3, b4 keep training without it (0.15+ epoch more $(since "$tl") s after the leave)"
else
    no "the others did not go on training within 30 s of the leave"; dump "$T"/b[134].err
fi
for n in $others; do kill -TERM "${PIDS[$n]}" 2>/dev/null; done
for n in $others; do
    if wait_until 10 exited $n; then
        reap $n; rc=$?
        st=$(summary "$T/$n.out" status); steps=$(summary "$T/$n.out" steps)
        [ $rc -eq 0 ] && [ "$st" = interrupted ] && [ -s "$T/$n.ckpt" ] \
            && ok "$n exits 0 on SIGTERM after $steps steps, with summary and checkpoint" \
            || { no "$n: exit $rc on SIGTERM, status '$st'"; dump "$T/$n.err" "$T/$n.out"; }
    else
        no "$n still running 10 s after SIGTERM"
    fi
done
echo "# phase 2 took $(since "$t0") s"
finish
