#!/usr/bin/env bash
# sim_pairs.sh: the ring's cost against no gossip, of two builds in interleaved pairs (issue
# 14, "gossip near its limit"). On a shared machine the load drifts by more than a change
# moves the figures; alternating the builds run by run lets the drift hit both. Each pair:
# bench_sim --isolated and --topology ring --codec fp32 of build A, then of build B, at 8
# agents of the benchmark MLP (bench/sim.sh's configuration). Prints every run's CPU µs per
# agent-step and, per build, the medians, the gossip's share (ring - no gossip) and the
# ratio. It builds nothing: build bench_sim in both first (see bench/README.md).
#
# usage: bench/sim_pairs.sh BUILD_A BUILD_B          e.g. bench/sim_pairs.sh build-main build
# environment: PAIRS (pairs of runs) [8], AGENTS [8], SUBSET (training rows) [20000]
# Exit status: 0 when every run succeeded, 1 otherwise.
set -u
if [ $# -ne 2 ]; then
    sed -n '10p' "$0" >&2
    exit 1
fi
pairs=${PAIRS:-8}
agents=${AGENTS:-8}
subset=${SUBSET:-20000}
for b in "$1" "$2"; do
    if [ ! -x "$b/bench/bench_sim" ]; then
        echo "sim_pairs.sh: $b/bench/bench_sim not found; build it first" >&2
        exit 1
    fi
done
export OPENBLAS_NUM_THREADS=1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(--agents "$agents" --model mlp:784-256-128-10 --train-subset "$subset" --test-subset 1000 --epochs 1 --threads 1)
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
status=0
for ((i = 0; i < pairs; i++)); do
    for k in 1 2; do
        build=${!k}
        for cfg in iso ring; do
            opts=(--isolated)
            [ "$cfg" = ring ] && opts=(--topology ring --codec fp32)
            if ! "$build/bench/bench_sim" "${common[@]}" "${opts[@]}" >"$out/run" 2>"$out/err"; then
                echo "sim_pairs.sh: $build/bench/bench_sim ${opts[*]} failed:" >&2
                cat "$out/err" >&2
                status=1
                continue
            fi
            tr ' ' '\n' <"$out/run" | sed -n 's/^cpu_us_per_agent_step=//p' >>"$out/$k.$cfg"
        done
    done
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end"
median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
echo "| build | no gossip, CPU µs / agent-step (runs) | ring fp32 (runs) | no gossip median | ring median | gossip | × no gossip |"
echo "|---|---|---|---:|---:|---:|---:|"
for k in 1 2; do
    if [ ! -s "$out/$k.iso" ] || [ ! -s "$out/$k.ring" ]; then
        continue
    fi
    iso=$(median "$out/$k.iso")
    ring=$(median "$out/$k.ring")
    awk -v b="${!k}" -v i="$iso" -v r="$ring" -v li="$(tr '\n' ' ' <"$out/$k.iso")" -v lr="$(tr '\n' ' ' <"$out/$k.ring")" \
        'BEGIN { printf "| %s | %s | %s | %.0f | %.0f | %.0f | %.2f |\n", b, li, lr, i, r, r - i, r / i }'
done
exit $status
