#!/usr/bin/env bash
# lan_partition.sh MESHDL: partitions heal (issue 15). 6 `meshdl agent` processes, one
# per network namespace on a bridge (examples/lan/netns.sh), find each other by beacon
# and train (ring, sync D-PSGD, the default MLP, a checkpoint every 300 steps). Then nftables rules on the bridge cut them
# in two halves of 3 for CUT_S seconds (25), and the rules go. Holds when:
#   - while cut, each half declares the other gone and both halves keep training (every
#     agent's step advances);
#   - after the heal every agent sees the 5 others again (the halves re-merge);
#   - the exact consensus distance (ckptdist.py over the agents' --checkpoint-every
#     files, copied at one instant) rose while cut and comes back to its level before
#     the cut (at most twice it, or the level it would have without the cut is not back);
#   - SIGTERM ends every agent with exit 0 and a summary.
# Bounded: each agent by `timeout`, the whole test by the phases' waits (~2-3 min).
# Without root / CAP_NET_ADMIN, ip or nft, it prints SKIP and exits 0. Everything it
# creates (namespaces reliability-p<pid>-*, the nft table on the bridge, its temp dir) is
# removed on exit, failure included.
set -u

bin=${1:-}
[ -n "$bin" ] && [ -x "$bin" ] || { echo "usage: lan_partition.sh path/to/meshdl" >&2; exit 2; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
HERE=$(cd "$(dirname "$0")" && pwd)
NETNS="$HERE/../../examples/lan/netns.sh"
P="reliability-p$$"
SUBNET=10.213.15
N=6
CUT_S=${CUT_S:-25}

. "$HERE/lanlib.sh"
lan_prelude lan_partition

bash "$NETNS" up "$P" $N $SUBNET || { no "could not build the namespaces"; finish; }
ok "LAN of $N namespaces on a bridge ($P-n1..$N, $SUBNET.0/24)"

for i in $(seq 1 $N); do
    lan_start a$i $i 400 --shard $((i - 1))/$N --min-peers $((N - 1)) --epochs 1000 \
        --train-subset 12000 --test-subset 1000 --batch 16 --checkpoint-every 300
done
all_steps_ge () { for i in $(seq 1 $N); do ge "$(lan_step a$i)" "$1" || return 1; done; }
if ! wait_until 90 all_steps_ge 40; then
    no "the $N agents did not all reach step 40 within 90 s"; dump "$T"/a?.err; finish
fi
ok "$N agents found each other by beacon and train (step >= 40 each)"
sleep 8 # warm-up: the distance settles to its level for the learning rate
d0=$(lan_distance_settled a 1 $N) || { no "no consistent checkpoints before the cut: $d0"; finish; }
ok "consensus distance before the cut: $d0"

# --- the cut: nftables on the bridge, halves {1,2,3} and {4,5,6} ----------------------
declare -A at_cut=() # read before the cut: python is slow on a loaded machine
for i in $(seq 1 $N); do at_cut[a$i]=$(lan_step a$i); done
half1="v1, v2, v3"; half2="v4, v5, v6"
ip netns exec "$P-br" nft -f - <<EOF || { no "nft rules on the bridge failed"; finish; }
table bridge reliability_cut {
  chain drops { type filter hook forward priority 0; policy accept;
    iifname { $half1 } oifname { $half2 } drop
    iifname { $half2 } oifname { $half1 } drop
  }
}
EOF
tc=$(now)
ok "cut: nftables table reliability_cut on the bridge drops every frame between {n1,n2,n3} and {n4,n5,n6}"
sleep "$CUT_S"
# what the cut did, copied at once (the heal must not wait for python on a loaded machine)
cuts=$(lan_ckpt_copies a 1 $N cut)
for i in $(seq 1 $N); do cp "$T/a$i.status" "$T/a$i.cut.status" 2>/dev/null; done
ip netns exec "$P-br" nft delete table bridge reliability_cut || no "could not delete the nft table"
th=$(now)
ok "healed after $(since "$tc") s cut"
# the re-merge first: measured from the heal, before anything slow (python) runs
all_see_all () { for i in $(seq 1 $N); do [ "$(lan_peers a$i)" = $((N - 1)) ] || return 1; done; }
if wait_until 60 all_see_all; then
    ok "re-merged: every agent sees the $((N - 1)) others again ($(since "$th") s after the heal)"
else
    no "not re-merged 60 s after the heal: peers $(for i in $(seq 1 $N); do printf '%s ' "$(lan_peers a$i)"; done)"
    dump "$T"/a?.err
fi
dcut=$(python3 "$HERE/ckptdist.py" $cuts 2>&1 | jq_distance)
for i in $(seq 1 $N); do
    s=$(lan_status a$i.cut step)
    ge "$s" "$(( ${at_cut[a$i]} + 20 ))" && ok "a$i trained while cut (step ${at_cut[a$i]} -> $s)" \
        || no "a$i: step ${at_cut[a$i]} -> $s while cut: it stalled"
done
gone_other_half () { # every agent logged the leave of the 3 agents of the other half
    for i in $(seq 1 $N); do
        [ "$(grep -c ': leave [0-9a-f]*' "$T/a$i.err")" -ge 3 ] || return 1
    done
}
gone_other_half && ok "each agent declared the 3 agents of the other half gone" \
    || no "not every agent logged 3 leaves while cut"
echo "# consensus distance at the end of the cut: $dcut"
awk -v c="$dcut" -v z="$d0" 'BEGIN { exit !(c > 2 * z) }' && ok "the distance rose while cut ($d0 -> $dcut)" \
    || no "the distance did not rise while cut ($d0 -> $dcut): was the cluster cut?"
back () { # the distance back to at most twice its level before the cut
    d1=$(lan_distance_settled a 1 $N) || return 1
    awk -v a="$d1" -v z="$d0" 'BEGIN { exit !(a <= 2 * z) }'
}
d1=""
if wait_until 60 back; then
    ok "consensus distance back to its level: $d1 (before the cut $d0, cut $dcut; $(since "$th") s after the heal)"
else
    no "consensus distance not back within 60 s of the heal: $d1 (before the cut $d0, cut $dcut)"
fi
for i in $(seq 1 $N); do kill -TERM "${PIDS[a$i]}" 2>/dev/null; done
for i in $(seq 1 $N); do
    n=a$i
    if wait_until 20 exited $n; then
        reap $n; rc=$?
        st=$(summary "$T/$n.out" status); acc=$(summary "$T/$n.out" test_acc)
        [ $rc -eq 0 ] && [ -n "$st" ] && ok "$n exits 0 on SIGTERM (status $st, test_acc $acc)" \
            || { no "$n: exit $rc, status '$st'"; dump "$T/$n.err" "$T/$n.out"; }
    else
        no "$n still running 20 s after SIGTERM"
    fi
done
finish
