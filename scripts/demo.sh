#!/usr/bin/env bash
# The main job: install what is missing, build, and train on Fashion-MNIST.
# Extra arguments go to meshdl (e.g. --epochs 1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/deps.sh" build
bin=$("$root/scripts/build.sh" "$root/build")
exec "$bin" train --model mlp:784-256-128-10 --epochs 5 "$@"
