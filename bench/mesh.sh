#!/usr/bin/env bash
# Benchmarks of issue 4 (discovery and mesh), inside a network namespace of their own:
#   - time until all agents see all others by beacon, for 4, 16 and 64 agents
#     (one process, one thread per agent, all on one bridge interface);
#   - large-message PUB/SUB goodput through the mesh against raw libzmq PUSH/PULL,
#     same sizes, HWMs, ZeroMQ context and transport (tcp over the namespace's
#     loopback): ROUNDS rounds, each running raw and the mesh (send_wait_ms 10 and 1000)
#     once in a rotating order; the ratio is taken within each round, median and range
#     printed (see bench/README.md).
# Needs root or CAP_NET_ADMIN (beacons must never go out on the machine's interfaces).
# Usage: [ROUNDS=7] [BUILD=dir] bench/mesh.sh [SECONDS_PER_RUN]
#   (default 1 s per sender and round; builds bench_mesh in BUILD, default build-mesh-rel;
#   about 4 sizes x ROUNDS x 3 x (SECONDS + 0.5) s for the throughput part)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-mesh-rel}
seconds=${1:-1}
rounds=${ROUNDS:-7}
if ! command -v ip >/dev/null; then echo "SKIP: bench/mesh.sh needs iproute2 (ip)"; exit 0; fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_mesh >/dev/null
ns="mdlb$$"
if ! ip netns add "$ns" 2>/dev/null; then
    echo "SKIP: bench/mesh.sh needs root or CAP_NET_ADMIN to create a network namespace"; exit 0
fi
trap 'ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; ip netns del "$ns" 2>/dev/null || true' EXIT
ip -n "$ns" link set lo up
# a bridge with no ports carries broadcast to every socket of the namespace
ip -n "$ns" link add br0 type bridge
ip -n "$ns" addr add 10.213.250.1/24 broadcast 10.213.250.255 dev br0
ip -n "$ns" link set br0 up
bench="$build/bench/bench_mesh"
echo "# $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo "# discovery: beacons every 250 ms on br0 (10.213.250.1/24) in namespace $ns"
for n in 4 16 64; do
    timeout 90 ip netns exec "$ns" "$bench" discover --n "$n" --iface br0 --timeout 30
done
echo
echo "# throughput: tcp://127.0.0.1 inside $ns, zero-copy sends, SNDHWM 100 / RCVHWM 1000"
timeout 900 ip netns exec "$ns" "$bench" throughput --host 127.0.0.1 --seconds "$seconds" \
    --rounds "$rounds" --sizes 1024,65536,1048576,4194304
