#!/usr/bin/env bash
# The main job: install what is missing, build, and train 8 decentralized agents on
# Fashion-MNIST (meshdl sim: 8 agents gossiping on a ring over inproc PUB/SUB sockets).
# Extra arguments go to meshdl sim (e.g. --epochs 1, --codec topk:0.01 --error-feedback).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh" build
bin=$("$root/scripts/build.sh" "$root/build")
mkdir -p "$root/results"
echo "== meshdl sim: 8 agents, ring, D-PSGD, per-agent batch 8 (metrics: results/demo-sim.jsonl)" >&2
"$bin" sim --agents 8 --topology ring --algo dpsgd --epochs 5 --batch 8 --metrics "$root/results/demo-sim.jsonl" "$@"
