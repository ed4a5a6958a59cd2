#!/usr/bin/env bash
# netns.sh: simulate a LAN on one Linux box with network namespaces, for meshdl agents
# that discover each other by UDP broadcast (zbeacon). Needs root or CAP_NET_ADMIN.
#
#   netns.sh up   PREFIX N [SUBNET]   namespaces PREFIX-n1..PREFIX-nN, each with one
#                                     interface "mdl0" at SUBNET.i/24 (default SUBNET
#                                     10.213.1), all plugged into a bridge "br0" that
#                                     lives in a namespace of its own, PREFIX-br
#   netns.sh exec PREFIX I CMD...     run CMD inside PREFIX-nI (use --interface mdl0)
#   netns.sh down PREFIX              delete every PREFIX-* namespace (and so every
#                                     veth and the bridge)
#
# Nothing is created in, or sent from, the machine's own namespace: the veth pairs are
# created inside PREFIX-br, and broadcasts stay on the bridge. Example:
#
#   sudo examples/lan/netns.sh up demo 3
#   for i in 1 2 3; do
#     sudo examples/lan/netns.sh exec demo $i build/tests/node_mesh --id $i --iface mdl0 &
#   done
#   wait; sudo examples/lan/netns.sh down demo
set -euo pipefail

die () { echo "netns.sh: $*" >&2; exit 2; }

cmd=${1:-}
prefix=${2:-}
[ -n "$cmd" ] && [ -n "$prefix" ] || die "usage: netns.sh up|exec|down PREFIX ..."
# interface names are limited to 15 characters; namespace names are not, but keep
# prefixes short and free of surprises
[[ "$prefix" =~ ^[A-Za-z0-9_-]{1,20}$ ]] || die "PREFIX must be 1-20 characters [A-Za-z0-9_-]"

case "$cmd" in
up)
    n=${3:-}
    subnet=${4:-10.213.1}
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 250 ] || die "N must be 1..250"
    [[ "$subnet" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "SUBNET must look like 10.213.1"
    br="$prefix-br"
    [ "$(id -u)" = 0 ] || die "up needs root (or CAP_NET_ADMIN): sudo $0 up $prefix $n"
    if ip netns list | awk '{print $1}' | grep -Eq "^$prefix-(br|n[0-9]+)$"; then
        die "namespaces $prefix-* exist already (from an earlier 'up'): use them, or remove them with: $0 down $prefix"
    fi
    ip netns add "$br"
    ip -n "$br" link set lo up
    ip -n "$br" link add br0 type bridge
    ip -n "$br" link set br0 up
    for i in $(seq 1 "$n"); do
        ns="$prefix-n$i"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # the pair is born inside the bridge's namespace; one end moves to the node's
        ip -n "$br" link add "v$i" type veth peer name mdl0 netns "$ns"
        ip -n "$br" link set "v$i" master br0
        ip -n "$br" link set "v$i" up
        ip -n "$ns" addr add "$subnet.$i/24" broadcast "$subnet.255" dev mdl0
        ip -n "$ns" link set mdl0 up
    done
    ;;
exec)
    i=${3:-}
    [[ "$i" =~ ^[0-9]+$ ]] || die "exec needs a node number"
    shift 3
    exec ip netns exec "$prefix-n$i" "$@"
    ;;
down)
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-(br|n[0-9]+)$" || true); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    ;;
*)
    die "unknown command '$cmd' (up, exec, down)"
    ;;
esac
